#!/usr/bin/env bash
# Tutorial "Final check", on the controller (the api-node): map the compute host into its cell and
# wait until it is `up` in the compute service list. Nothing is booted on a host that fails this.
# Usage: gate_compute_host.sh HOST TIMEOUT_SECONDS [--with-l2-agent]
# stdin: a clouds.yaml with the nova service user's credentials (kept in a 0600 temp file, removed
# on exit; never in argv or the environment).
set -euo pipefail

[ "$#" -ge 2 ] || { echo "usage: $0 HOST TIMEOUT_SECONDS [--with-l2-agent] < clouds.yaml" >&2; exit 2; }
host=$1 timeout=$2 check_agent=${3:-}
poll=${NOVALAB_GATE_POLL_SECONDS:-5}

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
(umask 077 && cat > "$workdir/clouds.yaml")
export OS_CLIENT_CONFIG_FILE="$workdir/clouds.yaml" OS_CLOUD=novalab

nova_manage() {
  # As the nova user when there is one, so root does not take over nova's log files.
  if id nova >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    runuser -u nova -- nova-manage "$@"
  else
    nova-manage "$@"
  fi
}

# nova-manage must not map hosts in parallel ("Duplicate host mapping", exit 2), yet the gates of
# one batch run at once: one discover at a time on this controller, and a failed one is retried at
# the next poll (its output is shown if the gate times out).
lock_dir=${NOVALAB_LOCK_DIR:-/run/lock}
[ -d "$lock_dir" ] && [ -w "$lock_dir" ] || lock_dir=${TMPDIR:-/tmp}
discover_hosts() {
  (
    flock -w 120 9 || { echo "waited 120s for $lock_dir/novalab-discover-hosts.lock" >&2; exit 1; }
    nova_manage cell_v2 discover_hosts --by-service
  ) 9>"$lock_dir/novalab-discover-hosts.lock" >"$workdir/discover.out" 2>&1
}

state="" mapped="" agent=""
deadline=$((SECONDS + timeout))
while :; do
  state=$(openstack compute service list --service nova-compute --host "$host" -f value -c State 2>/dev/null || true)
  if [ "$state" = up ]; then
    if [ -z "$mapped" ]; then
      discover_hosts || true
      if nova_manage cell_v2 list_hosts 2>/dev/null | awk -F'|' -v h="$host" '{gsub(/ /, "", $4)} $4 == h {found = 1} END {exit !found}'; then
        mapped=yes
      fi
    fi
    if [ -n "$mapped" ]; then
      [ "$check_agent" = --with-l2-agent ] || break
      agent=$(openstack network agent list --host "$host" --agent-type linux-bridge -f value -c Alive 2>/dev/null || true)
      case "$agent" in True|":-)") break ;; esac
    fi
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    {
      echo "compute host $host did not pass the gate within ${timeout}s (state: '${state:-absent}', cell mapping: ${mapped:-no}${check_agent:+, l2 agent alive: ${agent:-absent}})."
      echo "compute service list on the controller:"
      openstack compute service list 2>&1 || true
      if [ -z "$mapped" ] && [ -s "$workdir/discover.out" ]; then
        echo "last nova-manage cell_v2 discover_hosts:"
        tail -n 5 "$workdir/discover.out"
      fi
    } >&2
    exit 1
  fi
  sleep "$poll"
done
echo "compute host $host is up and mapped to its cell"
