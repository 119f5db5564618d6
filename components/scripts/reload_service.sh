#!/usr/bin/env bash
# nova-compute re-reads its mutable options on SIGHUP and keeps running (components/reload.py):
# https://docs.openstack.org/oslo.config/latest/reference/mutable.html
# Usage: reload_service.sh SERVICE
# Sends SIGHUP to SERVICE's main process (systemd's MainPID, else the init script's PID file), then
# fails when that process is gone after NOVALAB_RELOAD_SETTLE seconds (2). A service that is not
# running has nothing to reload: it reads its files when it starts.
set -euo pipefail

[ "$#" -eq 1 ] || { echo "usage: $0 SERVICE" >&2; exit 2; }
service=$1
# shellcheck source=lib/service.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/service.sh"

# The PID of the service's main process, or nothing. (Here, not in lib/service.sh: a change there
# changes restart_service.sh's text, which re-runs every host's restarts once.)
main_pid() {
  local pid="" pidfile=$run_dir/${1%%-*}/$1.pid
  if have_systemd; then
    pid=$(systemctl show --property MainPID --value "$1")
  elif [ -r "$pidfile" ]; then
    read -r pid < "$pidfile" || true
  fi
  if [ -n "$pid" ] && [ "$pid" != 0 ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

pid=$(main_pid "$service")
if [ -z "$pid" ]; then
  if running "$service"; then
    echo "$service runs on $(hostname) but its process ID is unknown (no systemd, no $run_dir/${service%%-*}/$service.pid): cannot send it SIGHUP" >&2
    exit 1
  fi
  echo "$service is not running on $(hostname): nothing to reload (it reads its files when it starts)"
  exit 0
fi
kill -HUP "$pid"
# A process that does not handle SIGHUP dies of it: a reload must not leave the service down.
sleep "${NOVALAB_RELOAD_SETTLE:-2}"
if ! kill -0 "$pid" 2>/dev/null; then
  echo "$service (PID $pid) stopped on SIGHUP on $(hostname); last log lines:" >&2
  tail -n 20 "/var/log/${service%%-*}/$service.log" >&2 2>/dev/null || true
  exit 1
fi
echo "$service reloaded (SIGHUP to PID $pid)"
