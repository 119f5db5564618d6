# shellcheck shell=bash
# The controller: the tutorial's api-node, network node, db/rabbit, keystone and glance roles on one
# host: network namespace novalab-ctl, and a Debian root of the release's own suite (lib/roots.sh),
# mounted in a mount namespace of its own (lib/controller-init.sh). One file per service in
# controller/ (as kolla has a role per service), their shared library in openstack.sh. No systemd
# here: every daemon is started by hand, with a PID file and a log under $LAB_DIR, and stopped by that
# PID file.

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
# shellcheck source=lib/controller/openvswitch.sh
. "$LAB_HOME/lib/controller/openvswitch.sh"
# shellcheck source=lib/controller/neutron.sh
. "$LAB_HOME/lib/controller/neutron.sh"
# shellcheck source=lib/controller/neutron-linuxbridge.sh
. "$LAB_HOME/lib/controller/neutron-linuxbridge.sh"
# shellcheck source=lib/controller/neutron-ovn.sh
. "$LAB_HOME/lib/controller/neutron-ovn.sh"
# shellcheck source=lib/controller/neutron-openvswitch.sh
. "$LAB_HOME/lib/controller/neutron-openvswitch.sh"
# shellcheck source=lib/controller/ceph.sh
. "$LAB_HOME/lib/controller/ceph.sh"
# shellcheck source=lib/controller/cinder.sh
. "$LAB_HOME/lib/controller/cinder.sh"
# shellcheck source=lib/controller/sshd.sh
. "$LAB_HOME/lib/controller/sshd.sh"

# The controller's root: the release's packages (built once, lib/roots.sh) under this cloud's own
# files. A cloud whose packages were rebuilt since starts afresh: its databases belong to the old ones.
controller_root_up() {
  local lower
  lower=$(controller_lower "$LAB_RELEASE")
  # Its lower layer is rebuilt only while no controller runs on it.
  if ! lab_running; then build_controller_lower "$LAB_RELEASE"; fi
  if [ -d "$CLOUD_DIR" ] && [ "$(cat "$CLOUD_DIR/recipe" 2>/dev/null)" != "$(cat "$lower/.novalab-recipe")" ]; then
    info "$LAB_RELEASE + $LAB_NETWORK: the controller's packages changed; its cloud starts afresh"
    rm -rf "$CLOUD_DIR"
  fi
  mkdir -p "$CLOUD_DIR/upper" "$CLOUD_DIR/work" "$CTL_ROOT" "$CLOUD_STATE"
  cp "$lower/.novalab-recipe" "$CLOUD_DIR/recipe"
  local repo
  repo=$(cd "$LAB_HOME/.." && pwd)
  daemon controller root "" ip netns exec "$CTL_NS" unshare --mount --propagation private \
    bash "$LAB_HOME/lib/controller-init.sh" "$lower" "$CLOUD_DIR/upper" "$CLOUD_DIR/work" "$CTL_ROOT" \
    "rw:$LAB_LOGS" "rw:$LAB_RUN" "rw:$LAB_DIR/controller" "ro:$repo" "ro:$IMAGE_DIR"
  wait_for controller 30 "$LAB_LOGS/controller.out" in_ctl test -e /run/novalab-controller-ready
  printf '127.0.0.1 localhost\n%s %s controller\n' "$CTL_IP" "$(hostname)" | ctl_conf /etc/hosts root 0644
}

controller_up() {
  mkdir -p "$LAB_DIR/controller" "$IMAGE_DIR"
  controller_root_up
  mariadb_up       # every service's database
  rabbitmq_up      # the message bus
  keystone_up      # identity; admin-openrc
  glance_up        # images
  placement_up
  # nova talks to neutron as the neutron user: it exists before nova starts.
  register_service neutron network "http://$CTL_IP:9696"
  nova_up          # nova's control plane (the compute hosts are novalab's job)
  neutron_up       # server + the network node's side of the backend
  ceph_up          # cinder's storage
  cinder_up
  sshd_up          # where the gate runs
}

# Every controller daemon by its PID file, the last started first; then what neutron's agents
# spawned, by neutron's own PID files; the controller's namespaces last (its mounts go with them).
controller_down() {
  local pidfile name mntns="" proc
  local -a daemons=()
  if lab_running; then mntns=$(readlink "/proc/$(cat "$LAB_RUN/controller.pid")/ns/mnt" || true); fi
  while read -r pidfile; do
    name=$(basename "$pidfile" .pid)
    case "$name" in compute-* | apt-cacher-ng | controller | *-internal) continue ;; esac
    daemons+=("$pidfile")
  done < <(newest_first "$LAB_RUN"/*.pid)
  stop_pidfiles "${daemons[@]}"
  if lab_running; then neutron_spawned_down; fi
  stop_pidfile "$LAB_RUN/controller.pid"
  # Whatever still runs in the controller's mount namespace (in one of neutron's namespaces, say)
  # would keep its mounts alive: a leak of the lab's, named and killed.
  [ -n "$mntns" ] || return 0
  for proc in /proc/[0-9]*; do
    if [ "$(readlink "$proc/ns/mnt" 2>/dev/null)" = "$mntns" ]; then
      printf 'lab: down: pid %s (%s) outlived its PID file in the controller: killed\n' \
        "${proc#/proc/}" "$(cat "$proc/comm" 2>/dev/null || echo gone)" >&2
      kill -9 "${proc#/proc/}" 2>/dev/null || true
    fi
  done
}
