# shellcheck shell=bash
# neutron: the server (ml2: flat physnet1 + VXLAN, linuxbridge, l2population) and the network node's
# agents (linuxbridge, dhcp, l3, metadata). What the agents spawn for networks and routers (dnsmasq,
# haproxy) is stopped by the PID files neutron writes for it.

neutron_db_sync() {
  as_user neutron neutron-db-manage --config-file /etc/neutron/neutron.conf \
    --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head
}

neutron_up() {
  write_conf /etc/neutron/neutron.conf neutron <<CONF
[DEFAULT]
bind_host = $CTL_IP
core_plugin = ml2
service_plugins = router
transport_url = $(transport_url)
auth_strategy = keystone
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
log_dir = $LAB_LOGS
[database]
connection = $(db_url neutron neutron)
[keystone_authtoken]
$(authtoken neutron)
[nova]
$(authtoken nova)
[oslo_concurrency]
lock_path = /var/lib/neutron/tmp
[experimental]
linuxbridge = true
CONF
  write_conf /etc/neutron/plugins/ml2/ml2_conf.ini neutron <<CONF
[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers = linuxbridge,l2population
extension_drivers = port_security
[ml2_type_flat]
flat_networks = physnet1
[ml2_type_vxlan]
vni_ranges = 1:1000
CONF
  write_conf /etc/neutron/plugins/ml2/linuxbridge_agent.ini neutron <<CONF
[linux_bridge]
physical_interface_mappings = physnet1:eth3
[vxlan]
enable_vxlan = true
local_ip = $CTL_IP
l2_population = true
[securitygroup]
enable_security_group = true
firewall_driver = iptables
CONF
  write_conf /etc/neutron/l3_agent.ini neutron <<CONF
[DEFAULT]
interface_driver = linuxbridge
CONF
  write_conf /etc/neutron/dhcp_agent.ini neutron <<CONF
[DEFAULT]
interface_driver = linuxbridge
dhcp_driver = neutron.agent.linux.dhcp.Dnsmasq
enable_isolated_metadata = true
force_metadata = true
CONF
  write_conf /etc/neutron/metadata_agent.ini neutron <<CONF
[DEFAULT]
nova_metadata_host = $CTL_IP
metadata_proxy_shared_secret = $(secret metadata)
CONF
  mkdir -p /var/lib/neutron/tmp && chown -R neutron: /var/lib/neutron
  register_service neutron network "http://$CTL_IP:9696"
  once neutron.synced neutron-manage.out "neutron db sync" neutron_db_sync
  # neutron-server first: the agents back off for minutes when it is not there yet.
  daemon neutron-server neutron "$CTL_NS" /usr/bin/neutron-server --config-file /etc/neutron/neutron.conf \
    --config-file /etc/neutron/plugins/ml2/ml2_conf.ini
  wait_for neutron-server 90 "$LAB_LOGS/neutron-server.log" os_cloud ready neutron
  # The agents need root (rootwrap/privsep); in a lab namespace that is what they get.
  daemon neutron-linuxbridge-agent root "$CTL_NS" /usr/bin/neutron-linuxbridge-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/linuxbridge_agent.ini
  daemon neutron-dhcp-agent root "$CTL_NS" /usr/bin/neutron-dhcp-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/dhcp_agent.ini
  daemon neutron-l3-agent root "$CTL_NS" /usr/bin/neutron-l3-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/l3_agent.ini
  daemon neutron-metadata-agent root "$CTL_NS" /usr/bin/neutron-metadata-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/metadata_agent.ini
  wait_for "neutron agents" 120 "$LAB_LOGS/neutron-linuxbridge-agent.log" os_cloud ready neutron-agents
}

# After the agents stopped (they would start them again): dnsmasq per network (dhcp/<net>/pid) and
# haproxy per network and router (external/pids/<id>.pid.haproxy, the metadata proxy), each by the
# PID file the agent gave it.
neutron_spawned_down() {
  local pidfile
  for pidfile in /var/lib/neutron/dhcp/*/pid /var/lib/neutron/external/pids/*; do
    if [ -e "$pidfile" ]; then stop_pidfile "$pidfile"; fi
  done
}
