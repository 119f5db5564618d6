# shellcheck shell=bash
# Helpers of the scripts that run on the controller with nova's service credentials on stdin
# (precheck_controller.sh, gate_compute_host.sh, decommission_compute_host.sh). A script sources this
# file from its folder; script_command (scripts/__init__.py) puts this text in place of that line, so
# the controller needs nothing of novalab installed.

# The clouds.yaml on stdin, in a 0600 file of a temp dir ($workdir, removed on exit): the openstack
# CLI finds it by OS_CLIENT_CONFIG_FILE, so the password is never in argv or the environment.
read_clouds_yaml() {
  workdir=$(mktemp -d)
  trap 'rm -rf "$workdir"' EXIT
  (umask 077 && cat > "$workdir/clouds.yaml")
  export OS_CLIENT_CONFIG_FILE="$workdir/clouds.yaml" OS_CLOUD=novalab
}

nova_manage() {
  # As the nova user when there is one, so root does not take over nova's log files.
  if id nova >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    runuser -u nova -- nova-manage "$@"
  else
    nova-manage "$@"
  fi
}

# One at a time on this controller: with_lock NAME SECONDS COMMAND... runs COMMAND holding
# $lock_dir/NAME.lock, waiting at most SECONDS for it (then exit 3).
lock_dir=${NOVALAB_LOCK_DIR:-/run/lock}
[ -d "$lock_dir" ] && [ -w "$lock_dir" ] || lock_dir=${TMPDIR:-/tmp}
with_lock() {
  local lock=$lock_dir/$1.lock wait=$2
  shift 2
  (
    flock -w "$wait" 9 || { echo "waited ${wait}s for $lock" >&2; exit 3; }
    "$@"
  ) 9>"$lock"
}
