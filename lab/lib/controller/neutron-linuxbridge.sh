# shellcheck shell=bash
# neutron with the Linux bridge agent (Zed; the tutorial's own bridge): VXLAN tenant networks with
# l2population, and the network node's linuxbridge, dhcp, l3 and metadata agents.

neutron_linuxbridge_service_plugins() { echo router; }
# Zed calls the driver experimental (neutron 26, 2025.1, removed it).
neutron_linuxbridge_server_conf() { printf '[experimental]\nlinuxbridge = true\n'; }
neutron_linuxbridge_ml2() {
  printf 'type_drivers = flat,vxlan\ntenant_network_types = vxlan\nmechanism_drivers = linuxbridge,l2population\n'
  printf '[ml2_type_vxlan]\nvni_ranges = 1:1000\n'
}

neutron_linuxbridge_files() {
  ctl_conf /etc/neutron/plugins/ml2/linuxbridge_agent.ini neutron <<CONF
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
  neutron_network_node_files linuxbridge
}

neutron_linuxbridge_before_server() { :; }

neutron_linuxbridge_agents() {
  neutron_agent neutron-linuxbridge-agent /etc/neutron/plugins/ml2/linuxbridge_agent.ini
  neutron_network_node_agents
}

# The dhcp, l3 and metadata agents of a network node (Linux bridge or Open vSwitch).
neutron_network_node_files() {  # neutron_network_node_files INTERFACE_DRIVER
  ctl_conf /etc/neutron/l3_agent.ini neutron <<CONF
[DEFAULT]
interface_driver = $1
CONF
  ctl_conf /etc/neutron/dhcp_agent.ini neutron <<CONF
[DEFAULT]
interface_driver = $1
dhcp_driver = neutron.agent.linux.dhcp.Dnsmasq
enable_isolated_metadata = true
force_metadata = true
CONF
  ctl_conf /etc/neutron/metadata_agent.ini neutron <<CONF
[DEFAULT]
nova_metadata_host = $CTL_IP
metadata_proxy_shared_secret = $(secret metadata)
CONF
}

neutron_network_node_agents() {
  neutron_agent neutron-dhcp-agent /etc/neutron/dhcp_agent.ini
  neutron_agent neutron-l3-agent /etc/neutron/l3_agent.ini
  neutron_agent neutron-metadata-agent /etc/neutron/metadata_agent.ini
}
