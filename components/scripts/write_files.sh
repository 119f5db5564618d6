#!/usr/bin/env bash
# Tutorial "nova configuration" / "nova-compute configuration": put config files in place.
# stdin: one line per file, "PATH OWNER GROUP MODE BASE64-CONTENT" (content may hold secrets, so it
# never appears in argv or the environment). Every file is first written to a temp file beside its
# target; only when all are ready are they moved into place, so a failure leaves no half-done config.
# Unchanged files are left alone. Prints one line per file: "updated PATH" or "unchanged PATH".
set -euo pipefail

declare -a targets=() temps=()
cleanup() { for t in "${temps[@]}"; do rm -f "$t"; done; }
trap cleanup EXIT

while read -r path owner group mode data; do
  [ -n "$path" ] || continue
  case "$path" in /*) ;; *) echo "not an absolute path: $path" >&2; exit 2 ;; esac
  dir=$(dirname "$path")
  mkdir -p "$dir"
  tmp=$(mktemp "$dir/.$(basename "$path").XXXXXX")
  temps+=("$tmp")
  printf '%s' "$data" | base64 -d > "$tmp"
  chown "$owner:$group" "$tmp"
  chmod "$mode" "$tmp"
  targets+=("$path")
done

for i in "${!targets[@]}"; do
  path=${targets[$i]} tmp=${temps[$i]}
  if cmp -s "$tmp" "$path" && [ "$(stat -c '%U:%G %a' "$tmp")" = "$(stat -c '%U:%G %a' "$path")" ]; then
    rm -f "$tmp"
    echo "unchanged $path"
  else
    mv -f "$tmp" "$path"
    echo "updated $path"
  fi
done
temps=()
