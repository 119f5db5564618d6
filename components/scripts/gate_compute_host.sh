#!/usr/bin/env bash
# Tutorial "Final check", on the controller (the api-node): map the compute host into its cell and
# wait until it is `up` in the compute service list. Nothing is booted on a host that fails this.
# Usage: gate_compute_host.sh HOST TIMEOUT_SECONDS [--agent-type TYPE]... [--address IP] [--after IDS]
#   --agent-type TYPE  a neutron agent of this type on the host must be alive too (a server needs its
#                      port plugged); TYPE as `openstack network agent list` shows it, e.g.
#                      "Linux bridge agent" or "OVN Controller agent"
#   --address IP       the host's resource provider must have inventory in placement: found as the
#                      hypervisor at IP whose service host is HOST (a stale record of an earlier host
#                      on the same machine takes the provider's name, and the new one gets none)
#   --after IDS        the restarts this run follows; only there so that a restart re-runs the gate
# Every API call is cut at the deadline (lib/controller.sh), at 2 s at the least: the gate ends within
# TIMEOUT_SECONDS, plus the call under way and NOVALAB_GATE_REPORT_SECONDS (5) for its report.
# stdin: a clouds.yaml with the nova service user's credentials (kept in a 0600 temp file, removed
# on exit; never in argv or the environment).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/controller.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/controller.sh"

usage="usage: $0 HOST TIMEOUT_SECONDS [--agent-type TYPE]... [--address IP] [--after IDS] < clouds.yaml"
[ "$#" -ge 2 ] || { echo "$usage" >&2; exit 2; }
host=$1 timeout=$2 address=""
agent_types=()
shift 2
while [ "$#" -gt 0 ]; do
  case "$1" in
    --agent-type) agent_types+=("$2"); shift 2 ;;
    --address) address=$2; shift 2 ;;
    --after) echo "gate after restarts: $2"; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
poll=${NOVALAB_GATE_POLL_SECONDS:-5}
set_deadline "$timeout"

read_clouds_yaml

# nova-manage must not map hosts in parallel ("Duplicate host mapping", exit 2), yet the gates of
# one batch run at once: one discover at a time on this controller. A discover maps every host that
# is up when it starts, so a gate leaves it to one that started after its host was up: the gates
# count the discovers started here, and a gate that finds the count moved once it holds the lock
# runs none (one each kept N gates in line for N discovers). A failed discover is retried at the
# next poll (its output is shown if the gate times out).
discovers=$lock_dir/novalab-discover-hosts.started
discovers_started() { cat "$discovers" 2>/dev/null || echo 0; }
discover_unless_started_since() {  # COUNT (under the lock)
  local now
  now=$(discovers_started)
  if [ "$now" != "$1" ]; then
    echo "a discover started after $host was up"
    return 0
  fi
  echo $((now + 1)) > "$discovers"
  nova_manage cell_v2 discover_hosts --by-service
}
discover_hosts() {  # called once the host is up
  local seen
  seen=$(discovers_started)
  with_lock novalab-discover-hosts 120 discover_unless_started_since "$seen" >"$workdir/discover.out" 2>&1
}

# The hypervisor (= resource provider) at $address whose service host is $host has inventory.
# Without the placement CLI plugin (osc-placement) this cannot be seen: said once, then not checked.
placement_cli=""  # yes | no, once known (a --help that got no answer in time tells neither)
inventory_ok() {
  if [ -z "$placement_cli" ]; then
    local rc=0
    openstack resource provider inventory list --help >/dev/null 2>&1 || rc=$?
    case "$rc" in
      0) placement_cli=yes ;;
      124) return 1 ;;
      *) placement_cli=no
         echo "note: no osc-placement on $(hostname): the placement inventory of $host is not checked" ;;
    esac
  fi
  [ "$placement_cli" = yes ] || return 0
  local id
  for id in $(openstack --os-compute-api-version 2.53 hypervisor list -f value -c ID -c "Host IP" 2>/dev/null | awk -v a="$address" '$2 == a {print $1}'); do
    [ "$(openstack --os-compute-api-version 2.53 hypervisor show "$id" -f value -c service_host 2>/dev/null)" = "$host" ] || continue
    openstack resource provider inventory list "$id" -f value -c resource_class 2>/dev/null |
      awk '$1 == "MEMORY_MB" {found = 1} END {exit !found}' && return 0
  done
  return 1
}

# Every --agent-type has an alive agent on the host. $agents says what was seen, for the report.
agents_alive() {
  local listing type dead=()
  if ! listing=$(openstack network agent list --host "$host" -f value -c "Agent Type" -c Alive 2>/dev/null); then
    agents=${agents:-"not listed"}  # what an earlier listing saw stays the news
    return 1
  fi
  for type in "${agent_types[@]}"; do
    # A line is "TYPE ALIVE": the last word is Alive (True, or ":-)" from older clients).
    awk -v t="$type" '{alive = $NF; sub(/ +[^ ]+$/, "")} $0 == t && (alive == "True" || alive == ":-)") {found = 1} END {exit !found}' \
      <<<"$listing" || dead+=("$type")
  done
  if [ "${#dead[@]}" -gt 0 ]; then
    agents="none alive of type $(printf "'%s' " "${dead[@]}")"
    agents=${agents% }
    return 1
  fi
  agents=alive
}

# `up` only counts with a heartbeat from after the gate started: right after a restart the service
# still shows `up` from its last report before it (for service_down_time, a minute), even when the
# restarted process cannot reach the message bus.
started=$(date -u +%s)
fresh_up() {  # fresh_up "STATE UPDATED_AT"
  local state=${1%% *} updated=${1#* } at
  [ "$state" = up ] || return 1
  at=$(TZ=UTC date -d "$updated" +%s 2>/dev/null) || return 0  # no usable time: the state alone
  [ "$at" -ge $((started - 2)) ]
}

give_up() {
  {
    echo "compute host $host did not pass the gate within ${timeout}s (state: '${state:-absent}', cell mapping: ${mapped:-no}${agent_types[0]:+, network agents: ${agents:-not checked yet}}${address:+, placement inventory: ${inventory:-not checked yet}})."
    if [ "$inventory" = no ]; then
      echo "its resource provider has no inventory: an earlier compute service on this machine may still hold the provider's name (openstack compute service list; delete the stale one)"
    fi
    echo "compute service list on the controller:"
    deadline="" api_timeout=${NOVALAB_GATE_REPORT_SECONDS:-5} openstack compute service list 2>&1 || true
    if [ -z "$mapped" ] && [ -s "$workdir/discover.out" ]; then
      echo "last nova-manage cell_v2 discover_hosts:"
      tail -n 5 "$workdir/discover.out"
    fi
  } >&2
  exit 1
}

# Between calls: a poll under way when the deadline comes stops there, so the report says what the
# calls that ran saw.
in_time() { ! past_deadline || give_up; }

state="" mapped="" agents="" inventory=""
while :; do
  if service=$(openstack compute service list --service nova-compute --host "$host" -f value -c State -c "Updated At" 2>/dev/null); then
    state=${service%% *}
    if [ "$state" = up ] && ! fresh_up "$service"; then state="up, last heartbeat before the gate started"; fi
  else
    state="no listing"
  fi
  if [ "$state" = up ]; then
    if [ -z "$mapped" ]; then
      in_time
      discover_hosts || true
      in_time
      if nova_manage cell_v2 list_hosts 2>/dev/null | awk -F'|' -v h="$host" '{gsub(/ /, "", $4)} $4 == h {found = 1} END {exit !found}'; then
        mapped=yes
      fi
    fi
    in_time
    if [ -n "$mapped" ] && { [ "${#agent_types[@]}" -eq 0 ] || agents_alive; }; then
      in_time
      if [ -z "$address" ] || inventory_ok; then inventory=yes; break; fi
      inventory=no
    fi
  fi
  in_time
  sleep "$poll"
  in_time
done
echo "compute host $host is up and mapped to its cell"
