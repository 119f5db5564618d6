#!/usr/bin/env bash
# nova-compute re-reads its mutable options on SIGHUP and keeps running (components/reload.py):
# https://docs.openstack.org/oslo.config/latest/reference/mutable.html
# Usage: reload_service.sh SERVICE FILE...   (FILE: what SERVICE reads)
# Sends SIGHUP to SERVICE's main process (systemd's MainPID, else the init script's PID file) unless
# it started after FILEs were last written (it runs with them already: a restart came first, or
# this is the host's first converge), then fails when that process is gone after
# RELOAD_SETTLE_SECONDS (2). Fails when SERVICE is not running: a refresh repairs that.
set -euo pipefail

[ "$#" -ge 2 ] || { echo "usage: $0 SERVICE FILE..." >&2; exit 2; }
service=$1
shift
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

# Whether process PID started after every FILE was last written. Its start is field 22 of
# /proc/PID/stat, in clock ticks after boot (proc(5)); /proc/uptime is the time since boot.
started_after() {  # started_after PID FILE...
  python3 - "$@" <<'PY'
import os, sys, time
pid, files = sys.argv[1], sys.argv[2:]
with open(f"/proc/{pid}/stat") as f:
    ticks = int(f.read().rsplit(")", 1)[1].split()[19])
with open("/proc/uptime") as f:
    started = time.time() - float(f.read().split()[0]) + ticks / os.sysconf("SC_CLK_TCK")
sys.exit(0 if started > max(os.stat(p).st_mtime for p in files) else 1)
PY
}

repair="\`pulumi up --refresh\` finds it stopped, restarts it and runs its gate again"
pid=$(main_pid "$service")
if [ -z "$pid" ]; then
  if running "$service"; then
    echo "$service runs on $(hostname) but its process ID is unknown (no systemd, no $run_dir/${service%%-*}/$service.pid): cannot send it SIGHUP" >&2
  else
    echo "$service is not running on $(hostname), so it cannot reload its files: $repair" >&2
  fi
  exit 1
fi
if started_after "$pid" "$@"; then
  echo "$service (PID $pid) started after its files were written: it runs with them already"
  exit 0
fi
kill -HUP "$pid"
# A process that does not handle SIGHUP dies of it. (No log lines here: oslo.config logs each
# changed option's old and new value, which may be a secret.)
sleep "${RELOAD_SETTLE_SECONDS:-2}"
if ! kill -0 "$pid" 2>/dev/null; then
  echo "$service (PID $pid) stopped on SIGHUP on $(hostname) (its log: /var/log/${service%%-*}/$service.log): $repair" >&2
  exit 1
fi
echo "$service reloaded (SIGHUP to PID $pid)"
