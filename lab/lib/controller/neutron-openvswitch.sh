# shellcheck shell=bash
# neutron with the Open vSwitch agent (ML2/OVS, kolla-ansible's default): VXLAN tenant networks with
# l2population, and the controller as network node: its openvswitch agent (userspace datapath,
# physnet1 on br-ex, the tunnel endpoint on br-ex: lib/controller/openvswitch.sh) with the dhcp, l3 and
# metadata agents.

neutron_openvswitch_service_plugins() { echo router; }
neutron_openvswitch_server_conf() { :; }
neutron_openvswitch_ml2() {
  printf 'type_drivers = flat,vxlan\ntenant_network_types = vxlan\nmechanism_drivers = openvswitch,l2population\n'
  printf '[ml2_type_vxlan]\nvni_ranges = 1:1000\n'
}

neutron_openvswitch_files() {
  # The openvswitch firewall driver: the hybrid iptables one needs kernel bridges between VM and OVS.
  ctl_conf /etc/neutron/plugins/ml2/openvswitch_agent.ini neutron <<CONF
[ovs]
bridge_mappings = physnet1:br-ex
local_ip = $CTL_TUN_IP
datapath_type = netdev
[agent]
tunnel_types = vxlan
l2_population = true
[securitygroup]
enable_security_group = true
firewall_driver = openvswitch
CONF
  neutron_network_node_files openvswitch
}

neutron_openvswitch_before_server() { :; }

neutron_openvswitch_agents() {
  openvswitch_up
  neutron_agent neutron-openvswitch-agent /etc/neutron/plugins/ml2/openvswitch_agent.ini
  neutron_network_node_agents
}
