#!/usr/bin/env bash
# `ceph` as cinder-volume runs it (installed first on its PATH): the real CLI, run again when the
# monitor refused it with EPERM "problem getting command descriptions from mon". Ceph 16's CLI now and
# then sends its first command before it knows the cluster's fsid (the mon logs "handle_command on
# fsid 00000000-..."); cinder's RBD driver runs `ceph mon dump` on every volume attach, and one such
# refusal failed an attach in the lab's end-to-end run (nova rolled it back, the volume stayed
# available). Any other failure is passed on at once, with the CLI's own output and exit status.
set -euo pipefail

out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
rc=0
for _ in 1 2 3; do
  rc=0
  "${NOVALAB_REAL_CEPH:-/usr/bin/ceph}" "$@" >"$out" 2>"$err" || rc=$?
  if [ "$rc" -eq 0 ] || ! grep -q 'problem getting command descriptions' "$err"; then
    break
  fi
  sleep 1
done
cat "$out"
cat "$err" >&2
exit "$rc"
