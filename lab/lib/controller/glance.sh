# shellcheck shell=bash
# glance: images, in a file store.

glance_up() {
  ctl_conf /etc/glance/glance-api.conf glance <<CONF
[DEFAULT]
bind_host = $CTL_IP
bind_port = 9292
log_dir = $LAB_LOGS
enabled_backends = fs:file
[database]
connection = $(db_url glance glance)
[keystone_authtoken]
$(authtoken glance)
[paste_deploy]
flavor = keystone
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = /var/lib/glance/images/
[oslo_concurrency]
lock_path = /var/lib/glance/tmp
CONF
  ctl_dirs glance /var/lib/glance/images /var/lib/glance/tmp
  register_service glance image "http://$CTL_IP:9292"
  once glance.synced glance-manage.out "glance db sync" as_user glance glance-manage db_sync
  daemon glance-api glance "$CTL_NS" /usr/bin/glance-api --config-file /etc/glance/glance-api.conf
  wait_for glance-api 60 "$LAB_LOGS/glance-api.log" os_cloud ready glance
}
