# shellcheck shell=bash
# nova's control plane: api and metadata under uwsgi, conductor, scheduler, novncproxy; cells once.
# The compute hosts are not here: provisioning them is novalab's job.

nova_db_sync() {
  as_user nova nova-manage api_db sync \
    && as_user nova nova-manage cell_v2 map_cell0 \
    && { as_user nova nova-manage cell_v2 list_cells | has ' cell1 ' || as_user nova nova-manage cell_v2 create_cell --name=cell1; } \
    && as_user nova nova-manage db sync
}

nova_up() {
  ctl_conf /etc/nova/nova.conf nova <<CONF
[DEFAULT]
my_ip = $CTL_IP
transport_url = $(transport_url)
log_dir = $LAB_LOGS
state_path = /var/lib/nova
$(rabbit_section)
[api]
auth_strategy = keystone
[api_database]
connection = $(db_url nova nova_api)
[database]
connection = $(db_url nova nova)
$(service_auth_sections nova)
[glance]
api_servers = http://$CTL_IP:9292
[placement]
$(authtoken placement)
[neutron]
$(authtoken neutron)
service_metadata_proxy = true
metadata_proxy_shared_secret = $(secret metadata)
[vnc]
enabled = true
server_listen = $CTL_IP
server_proxyclient_address = $CTL_IP
novncproxy_host = $CTL_IP
[scheduler]
discover_hosts_in_cells_interval = -1
[oslo_concurrency]
lock_path = /var/lib/nova/tmp
[cinder]
os_region_name = RegionOne
CONF
  ctl_dirs nova /var/lib/nova/tmp
  register_service nova compute "http://$CTL_IP:8774/v2.1"
  once nova.synced nova-manage.out "nova db sync + cells" nova_db_sync
  uwsgi_app nova-api nova 8774 /usr/bin/nova-api-wsgi
  uwsgi_app nova-metadata nova 8775 /usr/bin/nova-metadata-wsgi
  daemon nova-conductor nova "$CTL_NS" /usr/bin/nova-conductor --config-file /etc/nova/nova.conf
  daemon nova-scheduler nova "$CTL_NS" /usr/bin/nova-scheduler --config-file /etc/nova/nova.conf
  daemon nova-novncproxy nova "$CTL_NS" /usr/bin/nova-novncproxy --config-file /etc/nova/nova.conf --web /usr/share/novnc
  wait_for nova-api 90 "$LAB_LOGS/nova-api.log" os_cloud ready nova
}
