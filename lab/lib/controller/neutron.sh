# shellcheck shell=bash
# neutron: the server (ml2 with the lab's network backend, flat physnet1 for `public`) and the network
# node's side of that backend (lib/controller/neutron-BACKEND.sh: its ml2 options, service plugins,
# agents). What the agents spawn for networks and routers (dnsmasq, haproxy) is stopped by the PID
# files neutron writes for it.

neutron_db_sync() {
  as_user neutron neutron-db-manage --config-file /etc/neutron/neutron.conf \
    --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head
}

# neutron_agent NAME CONFIG_FILE...: a neutron agent on the controller; they need root
# (rootwrap/privsep), which in a lab namespace is what they get.
neutron_agent() {
  local name=$1 file
  shift
  local -a args=(--config-file /etc/neutron/neutron.conf)
  for file in "$@"; do args+=(--config-file "$file"); done
  daemon "$name" root "$CTL_NS" "/usr/bin/$name" "${args[@]}"
}

neutron_up() {
  ctl_conf /etc/neutron/neutron.conf neutron <<CONF
[DEFAULT]
bind_host = $CTL_IP
core_plugin = ml2
service_plugins = $("neutron_${LAB_NETWORK}_service_plugins")
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
$(rabbit_section)
$("neutron_${LAB_NETWORK}_server_conf")
CONF
  ctl_conf /etc/neutron/plugins/ml2/ml2_conf.ini neutron <<CONF
[ml2]
extension_drivers = port_security
$("neutron_${LAB_NETWORK}_ml2")
[ml2_type_flat]
flat_networks = physnet1
CONF
  "neutron_${LAB_NETWORK}_files"
  ctl_dirs neutron /var/lib/neutron/tmp
  register_service neutron network "http://$CTL_IP:9696"
  "neutron_${LAB_NETWORK}_before_server"
  once neutron.synced neutron-manage.out "neutron db sync" neutron_db_sync
  # neutron-server first: the agents back off for minutes when it is not there yet.
  daemon neutron-server neutron "$CTL_NS" /usr/bin/neutron-server --config-file /etc/neutron/neutron.conf \
    --config-file /etc/neutron/plugins/ml2/ml2_conf.ini
  wait_for neutron-server 90 "$LAB_LOGS/neutron-server.log" os_cloud ready neutron
  "neutron_${LAB_NETWORK}_agents"
  wait_for "neutron agents" 120 "$LAB_LOGS/neutron-server.log" os_cloud ready "neutron-agents-$LAB_NETWORK"
}

# After the agents stopped (they would start them again): dnsmasq per network (dhcp/<net>/pid) and
# haproxy per network and router (external/pids/<id>.pid.haproxy, the metadata proxy), each by the
# PID file the agent gave it (in the controller's root).
neutron_spawned_down() {
  local pidfile pid
  for pidfile in $(in_ctl bash -c 'ls -d /var/lib/neutron/dhcp/*/pid /var/lib/neutron/external/pids/* 2>/dev/null' || true); do
    pid=$(in_ctl cat "$pidfile" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      within 5 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
    fi
    in_ctl rm -f "$pidfile"
  done
}
