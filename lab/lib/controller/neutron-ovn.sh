# shellcheck shell=bash
# neutron with OVN (ML2/OVN): the northbound and southbound databases and ovn-northd on the controller
# (TCP 6641/6642 on its management address), neutron-server's ovn mechanism driver and ovn-router
# plugin, geneve tenant networks, and the controller as the gateway chassis: its ovn-controller
# (enable-chassis-as-gw) with physnet1 on br-ex (lib/controller/openvswitch.sh), where floating IPs
# and router gateways answer the public network. DHCP is OVN's own; metadata is served on the compute
# hosts (their OVN metadata agent, novalab's job).

OVN_NB=tcp:$CTL_IP:6641
OVN_SB=tcp:$CTL_IP:6642

neutron_ovn_service_plugins() { echo ovn-router; }
neutron_ovn_server_conf() { :; }
neutron_ovn_ml2() {
  printf 'type_drivers = flat,geneve\ntenant_network_types = geneve\nmechanism_drivers = ovn\noverlay_ip_version = 4\n'
  printf '[ml2_type_geneve]\nvni_ranges = 1:65536\nmax_header_size = 38\n'
  printf '[ovn]\novn_nb_connection = %s\novn_sb_connection = %s\novn_metadata_enabled = true\n' "$OVN_NB" "$OVN_SB"
}
neutron_ovn_files() { :; }

# ovn_db nb|sb PORT: one of OVN's databases, created once, served on its unix socket and on TCP.
ovn_db() {
  local db=$1 port=$2
  in_ctl test -s "/var/lib/ovn/ovn${db}_db.db" \
    || in_ctl ovsdb-tool create "/var/lib/ovn/ovn${db}_db.db" "/usr/share/ovn/ovn-$db.ovsschema"
  daemon "ovn-$db-db" root "$CTL_NS" ovsdb-server "/var/lib/ovn/ovn${db}_db.db" \
    --remote="punix:/run/ovn/ovn${db}_db.sock" --remote="ptcp:$port:$CTL_IP" \
    --pidfile="/run/ovn/ovn${db}_db.pid" --unixctl="/run/ovn/ovn${db}_db.ctl" --log-file="$LAB_LOGS/ovn-$db-db.log"
  wait_for "ovn-$db-db" 30 "$LAB_LOGS/ovn-$db-db.log" port_open "$CTL_IP" "$port"
}

# The databases and northd come before neutron-server, which connects to both.
neutron_ovn_before_server() {
  ctl_dirs root /var/lib/ovn /run/ovn
  ovn_db nb 6641
  ovn_db sb 6642
  daemon ovn-northd root "$CTL_NS" ovn-northd --ovnnb-db=unix:/run/ovn/ovnnb_db.sock \
    --ovnsb-db=unix:/run/ovn/ovnsb_db.sock --pidfile=/run/ovn/ovn-northd.pid \
    --unixctl=/run/ovn/ovn-northd.ctl --log-file="$LAB_LOGS/ovn-northd.log"
}

# The gateway chassis: the same external_ids as a compute host's chassis, plus enable-chassis-as-gw.
neutron_ovn_agents() {
  openvswitch_up
  ovs_vsctl set open . "external_ids:system-id=$(hostname)" "external_ids:hostname=$(hostname)" \
    "external_ids:ovn-remote=$OVN_SB" external_ids:ovn-encap-type=geneve "external_ids:ovn-encap-ip=$CTL_TUN_IP" \
    external_ids:ovn-bridge-mappings=physnet1:br-ex external_ids:ovn-cms-options=enable-chassis-as-gw \
    external_ids:ovn-bridge-datapath-type=netdev
  daemon ovn-controller root "$CTL_NS" ovn-controller unix:/run/openvswitch/db.sock \
    --pidfile=/run/ovn/ovn-controller.pid --unixctl=/run/ovn/ovn-controller.ctl --log-file="$LAB_LOGS/ovn-controller.log"
}
