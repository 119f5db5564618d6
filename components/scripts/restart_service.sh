#!/usr/bin/env bash
# Tutorial "Final check": `service nova-compute restart` (and the neutron L2 agent).
# Usage: restart_service.sh SERVICE [TIMEOUT_SECONDS]
# Uses systemd when it runs, else the package's init script. nova-compute needs libvirtd, so it is
# started first when it is not running. Fails when SERVICE is not running afterwards.
set -euo pipefail

[ "$#" -ge 1 ] || { echo "usage: $0 SERVICE [TIMEOUT_SECONDS]" >&2; exit 2; }
service=$1 timeout=${2:-60}

have_systemd() { [ -d /run/systemd/system ]; }

svc() {  # svc ACTION NAME
  if have_systemd; then systemctl "$1" "$2"; else service "$2" "$1"; fi
}

running() {
  if have_systemd; then systemctl is-active --quiet "$1"; else service "$1" status >/dev/null 2>&1; fi
}

if [ "$service" = nova-compute ]; then
  for libvirt in libvirtd virtqemud; do
    if [ -e "/etc/init.d/$libvirt" ] || { have_systemd && systemctl cat "$libvirt" >/dev/null 2>&1; }; then
      running "$libvirt" || svc start "$libvirt"
      break
    fi
  done
fi

svc restart "$service"

deadline=$((SECONDS + timeout))
until running "$service"; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "$service is not running ${timeout}s after restart on $(hostname); last log lines:" >&2
    tail -n 20 "/var/log/${service%%-*}/$service.log" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 1
done
echo "$service restarted"
