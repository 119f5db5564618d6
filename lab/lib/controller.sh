# shellcheck shell=bash
# The controller: the tutorial's api-node, network node, db/rabbit, keystone and glance roles on one
# host (network namespace novalab-ctl, this machine's filesystem), from Debian 12's packages. No
# systemd here: every daemon is started by hand, with a PID file and a log under $LAB_DIR.

KEYSTONE_URL=http://$CTL_IP:5000/v3

# write_conf PATH OWNER_GROUP < content: whole file, temp + mv, mode 0640.
write_conf() {
  local path=$1 group=$2 tmp
  mkdir -p "$(dirname "$path")"
  tmp=$(mktemp "$path.XXXXXX")
  cat > "$tmp"
  chown "root:$group" "$tmp"
  chmod 0640 "$tmp"
  mv -f "$tmp" "$path"
}

in_ctl() { ip netns exec "$CTL_NS" "$@"; }
as_user() { local u=$1; shift; setpriv "--reuid=$u" "--regid=$u" --init-groups "$@"; }

controller_packages() {
  local missing
  missing=$(grep -v '^#' "$LAB_HOME/controller-packages.txt" | while read -r p; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || echo "$p"; done)
  if [ -n "$missing" ]; then
    log "controller: installing Debian's OpenStack packages (~5 min cold)"
    apt-get update -q >>"$LAB_LOGS/apt.log" 2>&1 || { tail -n 20 "$LAB_LOGS/apt.log" >&2; die "apt-get update failed"; }
    # shellcheck disable=SC2086 # one package per word
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confdef \
      -o Dpkg::Options::=--force-confold $missing >>"$LAB_LOGS/apt.log" 2>&1 \
      || { tail -n 20 "$LAB_LOGS/apt.log" >&2; die "apt-get install failed"; }
  fi
}

apt_cache_up() {
  # Its own minimal config: no mirror remapping, so requests go to the host the client named
  # (the archive of this machine's own apt sources) and are cached for the next host.
  local conf=$LAB_DIR/acng
  mkdir -p "$conf/run" "$LAB_CACHE/acng" "$LAB_LOGS/acng"
  chown apt-cacher-ng: "$conf/run" "$LAB_CACHE/acng" "$LAB_LOGS/acng"
  cat > "$conf/acng.conf" <<CONF
CacheDir: $LAB_CACHE/acng
LogDir: $LAB_LOGS/acng
SupportDir: /usr/lib/apt-cacher-ng
Port: 3142
BindAddress: $HOST_IP
PidFile: $conf/run/acng.pid
SocketPath: $conf/run/acng.socket
ExThreshold: 4
CONF
  daemon apt-cacher-ng apt-cacher-ng "" /usr/sbin/apt-cacher-ng -c "$conf" ForeGround=1
  wait_for apt-cacher-ng 30 "$LAB_LOGS/apt-cacher-ng.log" port_open "$HOST_IP" 3142
}

# --- mariadb, rabbitmq --------------------------------------------------------------------------

mariadb_up() {
  mkdir -p /run/mysqld && chown mysql: /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LAB_LOGS/mariadb.log" 2>&1
  daemon mariadb mysql "$CTL_NS" /usr/sbin/mariadbd --user=mysql --bind-address="$CTL_IP" \
    --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock --max-connections=500
  wait_for mariadb 60 "$LAB_LOGS/mariadb.log" mariadb -e 'select 1'
  local db
  for db in keystone glance placement nova_api nova nova_cell0 neutron cinder; do
    local user=${db%%_*}
    # On stdin: a password in `mariadb -e` would show in the process list.
    mariadb <<SQL
CREATE DATABASE IF NOT EXISTS $db;
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$(secret "db-$user")';
ALTER USER '$user'@'%' IDENTIFIED BY '$(secret "db-$user")';
GRANT ALL PRIVILEGES ON $db.* TO '$user'@'%';
SQL
  done
}

db_url() { echo "mysql+pymysql://$1:$(secret "db-$1")@$CTL_IP/$2"; }

# The namespace isolates rabbit's ports (5672, 25672, epmd 4369): only lo and $CTL_IP exist there.
RABBIT_ENV=(env HOME=/var/lib/rabbitmq RABBITMQ_NODENAME=rabbit@localhost "RABBITMQ_NODE_IP_ADDRESS=$CTL_IP"
  "RABBITMQ_LOG_BASE=$LAB_LOGS/rabbitmq" RABBITMQ_MNESIA_BASE=/var/lib/rabbitmq/mnesia)
rabbitmqctl() { in_ctl setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "${RABBIT_ENV[@]}" /usr/sbin/rabbitmqctl -q "$@"; }

rabbitmq_up() {
  mkdir -p "$LAB_LOGS/rabbitmq" && chown rabbitmq: "$LAB_LOGS/rabbitmq"
  daemon rabbitmq rabbitmq "$CTL_NS" "${RABBIT_ENV[@]}" /usr/sbin/rabbitmq-server
  wait_for rabbitmq 90 "$LAB_LOGS/rabbitmq.log" rabbitmqctl await_startup
  # Without a password argument rabbitmqctl reads it from stdin (kept out of the process list).
  secret rabbit | rabbitmqctl add_user openstack >/dev/null 2>&1 \
    || secret rabbit | rabbitmqctl change_password openstack >/dev/null
  rabbitmqctl set_permissions openstack '.*' '.*' '.*' >/dev/null
}

transport_url() { echo "rabbit://openstack:$(secret rabbit)@$CTL_IP:5672/"; }

# --- keystone, glance, placement -------------------------------------------------------------------

authtoken() {  # authtoken USER: a [keystone_authtoken]-style block for service USER
  cat <<CONF
www_authenticate_uri = http://$CTL_IP:5000
auth_url = http://$CTL_IP:5000
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $(secret "svc-$1")
region_name = RegionOne
CONF
}

# [keystone_authtoken] and [service_user] of a service that both checks tokens and sends its own.
service_auth_sections() {
  printf '[keystone_authtoken]\n%s\n[service_user]\nsend_service_user_token = true\n%s\n' "$(authtoken "$1")" "$(authtoken "$1")"
}

uwsgi_app() {  # uwsgi_app NAME USER PORT WSGI_FILE
  cat > "$LAB_DIR/controller/$1-uwsgi.ini" <<INI
[uwsgi]
master = true
processes = 2
threads = 1
http-socket = $CTL_IP:$3
wsgi-file = $4
buffer-size = 65535
add-header = Connection: close
die-on-term = true
lazy-apps = true
INI
  daemon "$1" "$2" "$CTL_NS" /usr/bin/uwsgi_python3 --ini "$LAB_DIR/controller/$1-uwsgi.ini"
}

admin_openrc() {
  (umask 077 && cat > "$LAB_DIR/admin-openrc" <<RC
export OS_AUTH_URL=$KEYSTONE_URL
export OS_USERNAME=admin
export OS_PASSWORD=$(secret admin)
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_IDENTITY_API_VERSION=3
RC
)
}

port_open() { bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# openstack CLI as admin, inside the controller namespace, with Debian's python.
os_admin() {
  # shellcheck disable=SC2016 # $0/$@ expand in the inner bash
  in_ctl env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin bash -c '. "$0"; exec /usr/bin/openstack "$@"' \
    "$LAB_DIR/admin-openrc" "$@"
}

keystone_up() {
  write_conf /etc/keystone/keystone.conf keystone <<CONF
[DEFAULT]
log_dir = $LAB_LOGS
[database]
connection = $(db_url keystone keystone)
[token]
provider = fernet
CONF
  if [ ! -e "$LAB_DIR/controller/keystone.bootstrapped" ]; then
    log "controller: keystone db sync + bootstrap"
    as_user keystone keystone-manage db_sync >>"$LAB_LOGS/keystone-manage.out" 2>&1
    {
      keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone
      keystone-manage credential_setup --keystone-user keystone --keystone-group keystone
      # The admin password from the environment, not the command line.
      OS_BOOTSTRAP_PASSWORD=$(secret admin) in_ctl keystone-manage bootstrap \
        --bootstrap-admin-url "$KEYSTONE_URL" --bootstrap-internal-url "$KEYSTONE_URL" \
        --bootstrap-public-url "$KEYSTONE_URL" --bootstrap-region-id RegionOne
    } >>"$LAB_LOGS/keystone-manage.out" 2>&1 || { tail -n 20 "$LAB_LOGS/keystone-manage.out" >&2; die "keystone bootstrap failed"; }
    touch "$LAB_DIR/controller/keystone.bootstrapped"
  fi
  uwsgi_app keystone keystone 5000 /usr/bin/keystone-wsgi-public
  admin_openrc
  wait_for keystone 60 "$LAB_LOGS/keystone.log" os_admin token issue
}

# service_user NAME: create or update keystone user NAME with the password on stdin (the openstack
# CLI only takes one on its command line).
service_user() {
  # shellcheck disable=SC2016 # $0/$@ expand in the inner bash
  in_ctl env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin bash -c '. "$0"; exec "$1" "$2" "$3"' \
    "$LAB_DIR/admin-openrc" "$SYSTEM_PYTHON" "$LAB_HOME/lib/service_user.py" "$1"
}

# register_service USER TYPE URL [SERVICE_NAME]: the service user (admin and service in project
# service), the service and its three endpoints.
register_service() {
  local name=$1 type=$2 url=$3 service=${4:-$1}
  local done_marker=$LAB_DIR/controller/service-$name-$type.done
  [ -e "$done_marker" ] && return 0
  os_admin project show service >/dev/null 2>&1 || os_admin project create --domain default service >/dev/null
  os_admin role show service >/dev/null 2>&1 || os_admin role create service >/dev/null
  secret "svc-$name" | service_user "$name"
  os_admin role add --project service --user "$name" admin
  # Since OSSA-2023-003 cinder lets nova delete a volume attachment (detach, server delete) only
  # with a service token of a user that has the `service` role; without it the volume stays in-use.
  os_admin role add --project service --user "$name" service
  if ! os_admin service show "$type" >/dev/null 2>&1; then
    os_admin service create --name "$service" "$type" >/dev/null
    local iface
    for iface in public internal admin; do
      os_admin endpoint create --region RegionOne "$type" "$iface" "$url" >/dev/null
    done
  fi
  touch "$done_marker"
}

glance_up() {
  write_conf /etc/glance/glance-api.conf glance <<CONF
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
  mkdir -p /var/lib/glance/images /var/lib/glance/tmp && chown -R glance: /var/lib/glance
  register_service glance image "http://$CTL_IP:9292"
  as_user glance glance-manage db_sync >>"$LAB_LOGS/glance-manage.out" 2>&1
  daemon glance-api glance "$CTL_NS" /usr/bin/glance-api --config-file /etc/glance/glance-api.conf
  wait_for glance-api 60 "$LAB_LOGS/glance-api.log" os_admin image list
}

placement_up() {
  write_conf /etc/placement/placement.conf placement <<CONF
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
  as_user placement placement-manage db sync >>"$LAB_LOGS/placement-manage.out" 2>&1
  uwsgi_app placement placement 8778 /usr/bin/placement-api
  wait_for placement 60 "$LAB_LOGS/placement.log" port_open "$CTL_IP" 8778
}

nova_controller_up() {
  write_conf /etc/nova/nova.conf nova <<CONF
[DEFAULT]
my_ip = $CTL_IP
transport_url = $(transport_url)
log_dir = $LAB_LOGS
state_path = /var/lib/nova
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
  mkdir -p /var/lib/nova/tmp && chown -R nova: /var/lib/nova
  register_service nova compute "http://$CTL_IP:8774/v2.1"
  if [ ! -e "$LAB_DIR/controller/nova.synced" ]; then
    log "controller: nova db sync + cells"
    {
      as_user nova nova-manage api_db sync
      as_user nova nova-manage cell_v2 map_cell0
      as_user nova nova-manage cell_v2 list_cells | has ' cell1 ' || as_user nova nova-manage cell_v2 create_cell --name=cell1
      as_user nova nova-manage db sync
    } >>"$LAB_LOGS/nova-manage.out" 2>&1 || { tail -n 20 "$LAB_LOGS/nova-manage.out" >&2; die "nova db sync failed"; }
    touch "$LAB_DIR/controller/nova.synced"
  fi
  uwsgi_app nova-api nova 8774 /usr/bin/nova-api-wsgi
  uwsgi_app nova-metadata nova 8775 /usr/bin/nova-metadata-wsgi
  daemon nova-conductor nova "$CTL_NS" /usr/bin/nova-conductor --config-file /etc/nova/nova.conf
  daemon nova-scheduler nova "$CTL_NS" /usr/bin/nova-scheduler --config-file /etc/nova/nova.conf
  daemon nova-novncproxy nova "$CTL_NS" /usr/bin/nova-novncproxy --config-file /etc/nova/nova.conf --web /usr/share/novnc
  wait_for nova-api 90 "$LAB_LOGS/nova-api.log" os_admin compute service list
}

controller_agents_alive() { [ "$(os_admin network agent list -f value -c Alive | grep -c True)" -ge 4 ]; }

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
  if [ ! -e "$LAB_DIR/controller/neutron.synced" ]; then
    as_user neutron neutron-db-manage --config-file /etc/neutron/neutron.conf \
      --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head >>"$LAB_LOGS/neutron-manage.out" 2>&1 \
      || { tail -n 20 "$LAB_LOGS/neutron-manage.out" >&2; die "neutron db sync failed"; }
    touch "$LAB_DIR/controller/neutron.synced"
  fi
  # neutron-server first: the agents back off for minutes when it is not there yet.
  daemon neutron-server neutron "$CTL_NS" /usr/bin/neutron-server --config-file /etc/neutron/neutron.conf \
    --config-file /etc/neutron/plugins/ml2/ml2_conf.ini
  wait_for neutron-server 90 "$LAB_LOGS/neutron-server.log" os_admin network list
  # The agents need root (rootwrap/privsep); in a lab namespace that is what they get.
  daemon neutron-linuxbridge-agent root "$CTL_NS" /usr/bin/neutron-linuxbridge-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/linuxbridge_agent.ini
  daemon neutron-dhcp-agent root "$CTL_NS" /usr/bin/neutron-dhcp-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/dhcp_agent.ini
  daemon neutron-l3-agent root "$CTL_NS" /usr/bin/neutron-l3-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/l3_agent.ini
  daemon neutron-metadata-agent root "$CTL_NS" /usr/bin/neutron-metadata-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/metadata_agent.ini
  wait_for "neutron agents" 120 "$LAB_LOGS/neutron-linuxbridge-agent.log" controller_agents_alive
}

# --- cinder on a one-node Ceph (RBD is the only volume transport this kernel has) ------------------

# ceph_retry ARGS...: `ceph ARGS` in the controller, retried while a freshly started mon settles
# (it answers EPERM "problem getting command descriptions" for a moment after its quorum).
ceph_retry() {
  local try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    in_ctl ceph "$@" 2>>"$LAB_LOGS/ceph-setup.out" && return 0
    sleep 2
  done
  die "ceph $* keeps failing (see $LAB_LOGS/ceph-setup.out)"
}

osd_up() { in_ctl ceph osd stat | has '1 up'; }
osd_up_or_dead() { ! pid_alive "$LAB_RUN/ceph-osd.pid" || osd_up; }

# osd_start_empty: a new memstore osd.0 under the uuid the monitor knows.
osd_start_empty() {
  local uuid_file=$LAB_DIR/controller/osd-uuid
  if [ ! -s "$uuid_file" ]; then
    local existing
    existing=$(ceph_retry osd dump | awk '$1 == "osd.0" {print $NF}')
    echo "${existing:-$(cat /proc/sys/kernel/random/uuid)}" > "$uuid_file"
  fi
  ceph_retry osd create "$(cat "$uuid_file")" >/dev/null
  rm -rf /var/lib/ceph/osd/ceph-0 && mkdir -p /var/lib/ceph/osd/ceph-0 && chown ceph: /var/lib/ceph/osd/ceph-0
  as_user ceph ceph-osd -i 0 --mkfs --osd-uuid "$(cat "$uuid_file")" >>"$LAB_LOGS/ceph-setup.out" 2>&1
  daemon ceph-osd ceph "$CTL_NS" /usr/bin/ceph-osd -f -i 0
}

ceph_up() {
  local fsid
  if [ ! -s "$LAB_DIR/controller/ceph-fsid" ]; then
    cat /proc/sys/kernel/random/uuid > "$LAB_DIR/controller/ceph-fsid"
  fi
  fsid=$(cat "$LAB_DIR/controller/ceph-fsid")
  cat > /etc/ceph/ceph.conf <<CONF
[global]
fsid = $fsid
mon_host = $CTL_IP
public_network = $MGMT_NET.0/24
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_allow_pool_delete = true
osd_objectstore = memstore
memstore_device_bytes = 4294967296
osd_crush_chooseleaf_type = 0
log_file = $LAB_LOGS/ceph-\$name.log
[mon.a]
mon_data = /var/lib/ceph/mon/ceph-a
[osd.0]
osd_data = /var/lib/ceph/osd/ceph-0
CONF
  chmod 0644 /etc/ceph/ceph.conf
  mkdir -p /var/lib/ceph/mon /var/lib/ceph/osd /run/ceph
  chown -R ceph: /var/lib/ceph /run/ceph
  if [ ! -e /var/lib/ceph/mon/ceph-a/done ]; then
    log "controller: one-node Ceph (mon, mgr, memstore osd)"
    rm -rf /var/lib/ceph/mon/ceph-a
    monmaptool --create --clobber --add a "$CTL_IP" --fsid "$fsid" "$LAB_DIR/controller/monmap" >/dev/null
    as_user ceph ceph-mon --mkfs -i a --monmap "$LAB_DIR/controller/monmap" >>"$LAB_LOGS/ceph-setup.out" 2>&1
    touch /var/lib/ceph/mon/ceph-a/done
  fi
  daemon ceph-mon ceph "$CTL_NS" /usr/bin/ceph-mon -f -i a
  wait_for ceph-mon 60 "$LAB_LOGS/ceph-mon.a.log" in_ctl ceph quorum_status --connect-timeout 3
  mkdir -p /var/lib/ceph/mgr/ceph-a && chown ceph: /var/lib/ceph/mgr/ceph-a
  daemon ceph-mgr ceph "$CTL_NS" /usr/bin/ceph-mgr -f -i a
  # memstore keeps data in RAM: a restarted OSD starts empty, so it is recreated each time, under
  # the same uuid (the monitor ignores an osd.0 with another one), and the pool is made anew.
  # An OSD process that runs while the monitor has it down (seen once on a second `up`) is replaced.
  local fresh_osd=""
  if pid_alive "$LAB_RUN/ceph-osd.pid" && ! within 30 osd_up; then
    info "ceph: osd.0 runs but the monitor has it down: starting it afresh"
    stop_pidfile "$LAB_RUN/ceph-osd.pid"
  fi
  if ! pid_alive "$LAB_RUN/ceph-osd.pid"; then
    local attempt
    for attempt in 1 2 3; do
      osd_start_empty
      within 60 osd_up_or_dead && osd_up && break
      # Seen: an OSD started a moment after its monitor restarted sent its first command with a
      # zero fsid ("wrong fsid"), failed its init and exited. The next start gets past it.
      [ "$attempt" -lt 3 ] || break
      info "ceph: osd.0 did not come up (attempt $attempt, see $LAB_LOGS/ceph-osd.0.log): starting it afresh"
      stop_pidfile "$LAB_RUN/ceph-osd.pid"
    done
    fresh_osd=yes
  fi
  wait_for ceph-osd 120 "$LAB_LOGS/ceph-osd.0.log" osd_up
  if [ -n "$fresh_osd" ] && ceph_retry osd pool ls | has -x volumes; then
    info "ceph: the OSD started empty (memstore): recreating the volumes pool"
    local try
    for try in 1 2 3 4 5 6 7 8 9 10; do
      in_ctl ceph osd pool delete volumes volumes --yes-i-really-really-mean-it >/dev/null 2>&1 && break
      [ "$try" -lt 10 ] || die "could not delete the stale volumes pool (see ceph -s)"
      sleep 2
    done
  fi
  if ! ceph_retry osd pool ls | has -x volumes; then
    ceph_retry osd pool create volumes 16 >/dev/null
    ceph_retry osd pool set volumes size 1 --yes-i-really-mean-it >/dev/null
    in_ctl rbd pool init volumes
  fi
}

cinder_volume_up() { os_admin volume service list -f value -c Binary -c State | has 'cinder-volume up'; }

cinder_up() {
  write_conf /etc/cinder/cinder.conf cinder <<CONF
[DEFAULT]
my_ip = $CTL_IP
osapi_volume_listen = $CTL_IP
transport_url = $(transport_url)
auth_strategy = keystone
log_dir = $LAB_LOGS
enabled_backends = ceph
glance_api_servers = http://$CTL_IP:9292
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
  mkdir -p /var/lib/cinder/tmp && chown -R cinder: /var/lib/cinder
  register_service cinder volumev3 "http://$CTL_IP:8776/v3/%(project_id)s" cinderv3
  if [ ! -e "$LAB_DIR/controller/cinder.synced" ]; then
    as_user cinder cinder-manage db sync >>"$LAB_LOGS/cinder-manage.out" 2>&1 \
      || { tail -n 20 "$LAB_LOGS/cinder-manage.out" >&2; die "cinder db sync failed"; }
    touch "$LAB_DIR/controller/cinder.synced"
  fi
  daemon cinder-api cinder "$CTL_NS" /usr/bin/cinder-api --config-file /etc/cinder/cinder.conf
  daemon cinder-scheduler cinder "$CTL_NS" /usr/bin/cinder-scheduler --config-file /etc/cinder/cinder.conf
  daemon cinder-volume cinder "$CTL_NS" /usr/bin/cinder-volume --config-file /etc/cinder/cinder.conf
  wait_for cinder 90 "$LAB_LOGS/cinder-volume.log" cinder_volume_up
}

controller_ssh_up() {
  # The gate runs on the controller over SSH, as it would on a real api-node.
  local dir=$LAB_DIR/controller
  [ -s "$dir/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C controller -f "$dir/ssh_host_ed25519_key"
  install -m 0600 "$LAB_DIR/ssh/id_ed25519.pub" "$dir/authorized_keys"
  cat > "$dir/sshd_config" <<CONF
ListenAddress $CTL_IP
HostKey $dir/ssh_host_ed25519_key
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PidFile $LAB_RUN/controller-sshd-internal.pid
Subsystem sftp internal-sftp
CONF
  mkdir -p /run/sshd
  daemon controller-sshd root "$CTL_NS" /usr/sbin/sshd -D -e -f "$dir/sshd_config"
  wait_for controller-sshd 20 "$LAB_LOGS/controller-sshd.log" host_ssh "$CTL_IP" true
}

controller_up() {
  mkdir -p "$LAB_DIR/controller"
  mariadb_up
  rabbitmq_up
  keystone_up
  glance_up
  placement_up
  register_service neutron network "http://$CTL_IP:9696"
  nova_controller_up
  neutron_up
  ceph_up
  cinder_up
  controller_ssh_up
}

controller_down() {
  local svc
  for svc in cinder-volume cinder-scheduler cinder-api ceph-osd ceph-mgr ceph-mon \
    neutron-metadata-agent neutron-l3-agent neutron-dhcp-agent neutron-linuxbridge-agent neutron-server \
    nova-novncproxy nova-scheduler nova-conductor nova-metadata nova-api placement glance-api keystone \
    rabbitmq mariadb controller-sshd apt-cacher-ng; do
    stop_pidfile "$LAB_RUN/$svc.pid"
  done
  # What the agents spawned for networks and routers (dnsmasq, haproxy) outlives them.
  pkill -f -- '/var/lib/neutron/(dhcp|ns-metadata-proxy|external)/' 2>/dev/null || true
  # rabbitmq's port mapper detaches from its parent.
  pkill -x epmd 2>/dev/null || true
}
