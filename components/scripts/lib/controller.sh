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

# Every call to an API is bounded: one that accepts the connection and never answers must not hold
# the step for ever. A call gets $api_timeout seconds, and no more than is left until $deadline (in
# bash's $SECONDS) when the script set one, none once it passed; at the limit it is killed with its
# children (`timeout` signals its whole process group), says so on stderr and returns 124.
api_timeout=${NOVALAB_API_TIMEOUT:-60}
deadline=""
bounded() {  # bounded COMMAND...
  local limit=$api_timeout rc=0
  if [ -n "$deadline" ] && [ $((deadline - SECONDS)) -lt "$limit" ]; then
    limit=$((deadline - SECONDS))
    if [ "$limit" -le 0 ]; then  # (`timeout 0` would mean no limit at all)
      echo "no time left for: $*" >&2
      return 124
    fi
  fi
  timeout -k 5 "$limit" "$@" || rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "no answer within ${limit}s: $*" >&2
    rc=124
  fi
  return "$rc"
}

# The openstack CLI, bounded (`timeout` runs the program, not this function).
openstack() { bounded openstack "$@"; }

nova_manage() {
  # As the nova user when there is one, so root does not take over nova's log files.
  if id nova >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    bounded runuser -u nova -- nova-manage "$@"
  else
    bounded nova-manage "$@"
  fi
}

# One at a time on this controller: with_lock NAME SECONDS COMMAND... runs COMMAND holding
# $lock_dir/NAME.lock, waiting at most SECONDS (and not past $deadline) for it, then exit 3.
lock_dir=${NOVALAB_LOCK_DIR:-/run/lock}
[ -d "$lock_dir" ] && [ -w "$lock_dir" ] || lock_dir=${TMPDIR:-/tmp}
with_lock() {
  local lock=$lock_dir/$1.lock wait=$2
  shift 2
  if [ -n "$deadline" ] && [ $((deadline - SECONDS)) -lt "$wait" ]; then
    wait=$((deadline - SECONDS))
    [ "$wait" -ge 0 ] || wait=0
  fi
  (
    flock -w "$wait" 9 || { echo "waited ${wait}s for $lock" >&2; exit 3; }
    "$@"
  ) 9>"$lock"
}
