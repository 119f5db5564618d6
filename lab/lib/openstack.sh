# shellcheck shell=bash
# The library the controller's services share (each service is a file in controller/): running in
# the controller (its own root, lib/controller-init.sh), writing a config file there, one-time setup
# steps, the URLs and auth sections services put in their files, uwsgi apps, the admin's openstack
# CLI and registering a service in keystone.

KEYSTONE_URL=http://$CTL_IP:5000/v3

# in_ctl COMMAND...: COMMAND in the controller (its namespaces and root), as root.
in_ctl() { ctl_enter; "${CTL_ENTER[@]}" "$@"; }
# as_user USER COMMAND...: COMMAND in the controller as USER (a user of the controller's root).
as_user() { local u=$1; shift; in_ctl setpriv "--reuid=$u" "--regid=$u" --init-groups "$@"; }
port_open() { bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# ctl_conf PATH GROUP [MODE] < content: write_conf for a file in the controller's root (GROUP is
# one of its groups); the content goes on stdin, never on a command line.
ctl_conf() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  in_ctl bash -c 'set -e; umask 077; mkdir -p "$(dirname "$0")"; t=$(mktemp "$0.XXXXXX"); cat > "$t"
    chown "root:$1" "$t"; chmod "$2" "$t"; mv -f "$t" "$0"' "$1" "$2" "${3:-0640}"
}

# ctl_dirs OWNER DIR...: the directories in the controller's root, owned (recursively) by OWNER.
ctl_dirs() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  in_ctl bash -c 'mkdir -p "$@" && chown -R "$0:" "$@"' "$@"
}

# write_conf PATH GROUP [MODE] < content: the whole file, owner root:GROUP, MODE (default 0640),
# written beside it and moved into place.
write_conf() {
  local path=$1 group=$2 mode=${3:-0640} tmp
  mkdir -p "$(dirname "$path")"
  tmp=$(mktemp "$path.XXXXXX")
  cat > "$tmp"
  chown "root:$group" "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
}

# once MARKER LOG WHAT COMMAND...: run COMMAND (a db sync, a bootstrap) until it has succeeded once;
# its output goes to $LAB_LOGS/LOG, and a failure shows that log's tail and stops the bring-up.
# COMMAND runs where `set -e` does not reach (left of ||): chain its steps with &&.
once() {
  local marker=$CLOUD_STATE/$1 logfile=$LAB_LOGS/$2 what=$3
  shift 3
  [ -e "$marker" ] && return 0
  log "controller: $what"
  "$@" >>"$logfile" 2>&1 || { tail -n 20 "$logfile" >&2; die "$what failed"; }
  touch "$marker"
}

db_url() { echo "mysql+pymysql://$1:$(secret "db-$1")@$CTL_IP/$2"; }  # db_url USER DATABASE
transport_url() { echo "rabbit://openstack:$(secret rabbit)@$CTL_IP:5672/"; }

# [oslo_messaging_rabbit] of every service on the lab's vhost: they must all declare the same queue
# type (RABBIT_QUEUES, lab/releases.txt). quorum: RabbitMQ 4.0 deprecates the transient non-exclusive
# (classic) queues oslo.messaging declares for replies and fanouts otherwise, and 4.3 refuses them.
rabbit_section() {
  echo "[oslo_messaging_rabbit]"
  # The options are the program's own (components/messaging.py), so the lab's services and the
  # compute hosts novalab provisions declare the same queues.
  # shellcheck disable=SC2016 # $1 expands in Python's argv
  (cd "$LAB_HOME/.." && "$SYSTEM_PYTHON" -c 'import sys; from components.messaging import rabbit_queue_options as o
for k, v in o(sys.argv[1]): print(f"{k} = {v}")' "$RABBIT_QUEUES")
}

authtoken() {  # authtoken USER: the options of a [keystone_authtoken]-style section for service USER
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

uwsgi_app() {  # uwsgi_app NAME USER PORT WSGI_FILE: an API under uwsgi, a daemon like the others
  write_conf "$LAB_DIR/controller/$1-uwsgi.ini" root 0644 <<INI
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
  write_conf "$LAB_DIR/admin-openrc" root 0600 <<RC
export OS_AUTH_URL=$KEYSTONE_URL
export OS_USERNAME=admin
export OS_PASSWORD=$(secret admin)
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_IDENTITY_API_VERSION=3
RC
}

# as_admin PROGRAM ARGS...: PROGRAM with admin-openrc's environment (and nothing else of ours),
# in the controller, with its Debian's python.
as_admin() {
  ctl_enter
  # shellcheck disable=SC2016 # $0/$@ expand in the inner bash
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin bash -c '. "$0"; exec "$@"' "$LAB_DIR/admin-openrc" "${CTL_ENTER[@]}" "$@"
}

# openstack CLI as admin.
os_admin() { as_admin /usr/bin/openstack "$@"; }

# lib/cloud.py as admin: one process per step on openstacksdk (the CLI's start-up costs seconds a
# call): readiness checks, the admin's setup, forgetting a host or an earlier stack.
os_cloud() { as_admin "$SYSTEM_PYTHON" "$LAB_HOME/lib/cloud.py" "$@"; }

# service_user NAME: create or update keystone user NAME with the password on stdin (the openstack
# CLI only takes one on its command line).
service_user() { as_admin "$SYSTEM_PYTHON" "$LAB_HOME/lib/service_user.py" "$1"; }

# register_service USER TYPE URL [SERVICE_NAME]: the service user (admin and service in project
# service), the service and its three endpoints.
register_service() {
  local name=$1 type=$2 url=$3 service=${4:-$1}
  local done_marker=$CLOUD_STATE/service-$name-$type.done
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
