#!/usr/bin/env bash
# What a host holds of what novalab manages there, for a refresh (`pulumi refresh`, `preview --refresh`):
# read-only, it changes nothing. Parsing the lines is the program's (components/drift.py).
# Usage: read_host_state.sh PATH... --services SERVICE...
# Prints, per PATH:    file PATH SHA256 OWNER:GROUP MODE     (MODE as stat prints it: 640)
#                      file PATH missing | file PATH other  (absent, or not a regular file)
#         per SERVICE: service SERVICE running|stopped       (lib/service.sh, as restart_service.sh judges it)
set -euo pipefail
# shellcheck source=lib/service.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/service.sh"

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

for service in "${services[@]}"; do
  if running "$service"; then echo "service $service running"; else echo "service $service stopped"; fi
done
