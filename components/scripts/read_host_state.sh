#!/usr/bin/env bash
# What a host holds of what novalab manages there, for a refresh (`pulumi refresh`, `preview --refresh`):
# read-only, it changes nothing. Parsing the lines is the program's (components/drift.py).
# Usage: read_host_state.sh PATH... --services SERVICE...
# Prints, per PATH:    file PATH SHA256 OWNER:GROUP MODE     (MODE as stat prints it: 640)
#                      file PATH missing | file PATH other  (absent, or not a regular file)
#         per SERVICE: service SERVICE running|stopped       (restart_service.sh's notion of running)
set -euo pipefail

paths=() services=()
while [ "$#" -gt 0 ]; do
  if [ "$1" = --services ]; then shift; services=("$@"); break; fi
  paths+=("$1"); shift
done

for path in "${paths[@]}"; do
  if [ -L "$path" ] || { [ -e "$path" ] && [ ! -f "$path" ]; }; then
    echo "file $path other"
  elif [ ! -e "$path" ]; then
    echo "file $path missing"
  else
    sum=$(sha256sum < "$path")
    echo "file $path ${sum%% *} $(stat -c '%U:%G %a' -- "$path")"
  fi
done

have_systemd() { [ -d /run/systemd/system ]; }
# As restart_service.sh: Debian's init scripts write /run/<project>/<service>.pid, and their `status`
# misses agents that renamed themselves, so the PID file answers first.
run_dir=${NOVALAB_RUN_DIR:-/run}
running() {
  if have_systemd; then systemctl is-active --quiet "$1"; return; fi
  local pidfile=$run_dir/${1%%-*}/$1.pid pid=""
  if [ -r "$pidfile" ]; then
    read -r pid < "$pidfile" || true
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
    return
  fi
  service "$1" status >/dev/null 2>&1
}

for service in "${services[@]}"; do
  if running "$service"; then echo "service $service running"; else echo "service $service stopped"; fi
done
