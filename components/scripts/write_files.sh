#!/usr/bin/env bash
# Tutorial "nova configuration" / "nova-compute configuration": put config files in place.
# stdin: one line per file, "PATH OWNER GROUP MODE BASE64-CONTENT" (content may hold secrets, so it
# never appears in argv or the environment). Every file is first written to a temp file beside its
# target; only when all are ready are they moved into place, so a failure leaves no half-done config.
# Unchanged files are left alone. Prints one line per file: "updated PATH" or "unchanged PATH".
set -euo pipefail

dir_mode() {  # dir_mode FILE_MODE: the file's mode with x wherever it has r
  local m=$((8#$1)) d=0
  (( m & 8#400 )) && d=$((d | 8#700))
  (( m & 8#040 )) && d=$((d | 8#050))
  (( m & 8#004 )) && d=$((d | 8#005))
  printf '0%o' "$d"
}

declare -a targets=() temps=()
cleanup() { for t in "${temps[@]}"; do rm -f "$t"; done; }
trap cleanup EXIT

while read -r path owner group mode data; do
  [ -n "$path" ] || continue
  case "$path" in /*) ;; *) echo "not an absolute path: $path" >&2; exit 2 ;; esac
  dir=$(dirname "$path")
  # A missing directory is made for its file: same owner, and traversable only where the file is
  # readable (0600 -> 0700, as ssh requires of ~/.ssh; 0640 -> 0750).
  if [ ! -d "$dir" ]; then
    mkdir -p "$(dirname "$dir")"
    install -d -o "$owner" -g "$group" -m "$(dir_mode "$mode")" "$dir"
  fi
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
