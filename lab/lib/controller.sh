# shellcheck shell=bash
# The controller: the tutorial's api-node, network node, db/rabbit, keystone and glance roles on one
# host (network namespace novalab-ctl, this machine's filesystem), from Debian 12's packages. One
# file per service in controller/ (as kolla has a role per service), their shared library in
# openstack.sh. No systemd here: every daemon is started by hand, with a PID file and a log under
# $LAB_DIR, and stopped by that PID file.

# shellcheck source=lib/openstack.sh
. "$LAB_HOME/lib/openstack.sh"
# shellcheck source=lib/controller/mariadb.sh
. "$LAB_HOME/lib/controller/mariadb.sh"
# shellcheck source=lib/controller/rabbitmq.sh
. "$LAB_HOME/lib/controller/rabbitmq.sh"
# shellcheck source=lib/controller/keystone.sh
. "$LAB_HOME/lib/controller/keystone.sh"
# shellcheck source=lib/controller/glance.sh
. "$LAB_HOME/lib/controller/glance.sh"
# shellcheck source=lib/controller/placement.sh
. "$LAB_HOME/lib/controller/placement.sh"
# shellcheck source=lib/controller/nova.sh
. "$LAB_HOME/lib/controller/nova.sh"
# shellcheck source=lib/controller/neutron.sh
. "$LAB_HOME/lib/controller/neutron.sh"
# shellcheck source=lib/controller/ceph.sh
. "$LAB_HOME/lib/controller/ceph.sh"
# shellcheck source=lib/controller/cinder.sh
. "$LAB_HOME/lib/controller/cinder.sh"
# shellcheck source=lib/controller/sshd.sh
. "$LAB_HOME/lib/controller/sshd.sh"

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

controller_up() {
  mkdir -p "$LAB_DIR/controller"
  mariadb_up       # every service's database
  rabbitmq_up      # the message bus
  keystone_up      # identity; admin-openrc
  glance_up        # images
  placement_up
  # nova talks to neutron as the neutron user: it exists before nova starts.
  register_service neutron network "http://$CTL_IP:9696"
  nova_up          # nova's control plane (the compute hosts are novalab's job)
  neutron_up       # server + the network node's agents
  ceph_up          # cinder's storage
  cinder_up
  sshd_up          # where the gate runs
}

# Every controller daemon by its PID file, the last started first; then what neutron's agents
# spawned, by neutron's own PID files. Nothing is looked up by name.
controller_down() {
  local pidfile name
  while read -r pidfile; do
    name=$(basename "$pidfile" .pid)
    case "$name" in compute-* | apt-cacher-ng | *-internal) continue ;; esac
    stop_pidfile "$pidfile"
  done < <(newest_first "$LAB_RUN"/*.pid)
  neutron_spawned_down
}
