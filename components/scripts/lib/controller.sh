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
# the step for ever. A call gets $api_timeout seconds, and no more than is left until $deadline when
# the script set one (set_deadline), but at least 2 s: a call cut after a few milliseconds would only
# report a false "absent", so a script checks the deadline between its calls (past_deadline). At the
# limit the call is killed with its children (`timeout` signals its whole process group), says so on
# stderr and returns 124.
api_timeout=${NOVALAB_API_TIMEOUT:-60}
deadline=""  # in now_ms's milliseconds

# Milliseconds (bash >= 5.0's EPOCHREALTIME, else date): $SECONDS counts whole seconds of the wall
# clock, so a one-second deadline could come after a millisecond.
now_ms() {
  local t=${EPOCHREALTIME:-}
  if [ -n "$t" ]; then echo $((${t/[.,]/} / 1000)); else date +%s%3N; fi
}
set_deadline() { deadline=$(($(now_ms) + $1 * 1000)); }  # set_deadline SECONDS
past_deadline() { [ -n "$deadline" ] && [ "$(now_ms)" -ge "$deadline" ]; }

# allowed MAX [FLOOR]: the seconds a call or a wait may take: MAX, no more than is left until the
# deadline, but at least FLOOR (when MAX allows it).
allowed() {
  local ms=$(($1 * 1000)) floor=$((${2:-0} * 1000)) left
  [ "$floor" -le "$ms" ] || floor=$ms
  if [ -n "$deadline" ]; then
    left=$((deadline - $(now_ms)))
    [ "$left" -ge "$ms" ] || ms=$((left > floor ? left : floor))
  fi
  if ((ms % 1000)); then printf '%d.%03d\n' $((ms / 1000)) $((ms % 1000)); else echo $((ms / 1000)); fi
}

bounded() {  # bounded COMMAND...
  local limit rc=0
  limit=$(allowed "$api_timeout" 2)
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
  local lock=$lock_dir/$1.lock wait
  wait=$(allowed "$2")
  shift 2
  (
    flock -w "$wait" 9 || { echo "waited ${wait}s for $lock" >&2; exit 3; }
    "$@"
  ) 9>"$lock"
}
