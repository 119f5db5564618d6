# shellcheck shell=bash
# placement: resource inventories, under uwsgi.

placement_up() {
  ctl_conf /etc/placement/placement.conf placement <<CONF
[DEFAULT]
log_dir = $LAB_LOGS
[api]
auth_strategy = keystone
[keystone_authtoken]
$(authtoken placement)
[placement_database]
connection = $(db_url placement placement)
CONF
  register_service placement placement "http://$CTL_IP:8778"
  once placement.synced placement-manage.out "placement db sync" as_user placement placement-manage db sync
  uwsgi_app placement placement 8778 /usr/bin/placement-api
  wait_for placement 60 "$LAB_LOGS/placement.log" port_open "$CTL_IP" 8778
}
