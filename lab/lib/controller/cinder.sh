# shellcheck shell=bash
# cinder: api, scheduler and volume, with the RBD driver on the lab's Ceph.

cinder_db_sync() { as_user cinder cinder-manage db sync; }

cinder_up() {
  ctl_conf /etc/cinder/cinder.conf cinder <<CONF
[DEFAULT]
my_ip = $CTL_IP
osapi_volume_listen = $CTL_IP
transport_url = $(transport_url)
auth_strategy = keystone
log_dir = $LAB_LOGS
enabled_backends = ceph
glance_api_servers = http://$CTL_IP:9292
$(rabbit_section)
[database]
connection = $(db_url cinder cinder)
$(service_auth_sections cinder)
[nova]
$(authtoken nova)
[oslo_concurrency]
lock_path = /var/lib/cinder/tmp
[ceph]
volume_driver = cinder.volume.drivers.rbd.RBDDriver
volume_backend_name = ceph
rbd_pool = volumes
rbd_ceph_conf = /etc/ceph/ceph.conf
CONF
  ctl_dirs cinder /var/lib/cinder/tmp
  register_service cinder volumev3 "http://$CTL_IP:8776/v3/%(project_id)s" cinderv3
  once cinder.synced cinder-manage.out "cinder db sync" cinder_db_sync
  daemon cinder-api cinder "$CTL_NS" /usr/bin/cinder-api --config-file /etc/cinder/cinder.conf
  daemon cinder-scheduler cinder "$CTL_NS" /usr/bin/cinder-scheduler --config-file /etc/cinder/cinder.conf
  # cinder-volume's `ceph` runs again when the monitor refuses it in Ceph 16's race (bin/ceph-retry.sh).
  install -D -m 0755 "$LAB_HOME/lib/controller/bin/ceph-retry.sh" "$LAB_DIR/controller/bin/ceph"
  CTL_PATH=$LAB_DIR/controller/bin:$CTL_PATH daemon cinder-volume cinder "$CTL_NS" /usr/bin/cinder-volume --config-file /etc/cinder/cinder.conf
  wait_for cinder 90 "$LAB_LOGS/cinder-volume.log" os_cloud ready cinder-volume
}
