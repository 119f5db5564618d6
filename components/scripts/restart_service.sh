#!/usr/bin/env bash
# Tutorial "Final check": `service nova-compute restart` (and the neutron L2 agent).
# Usage: restart_service.sh SERVICE [TIMEOUT_SECONDS]
#        restart_service.sh --stop SERVICE...    (a host leaving the stack: its services stop)
# Uses systemd when it runs, else the package's init script. nova-compute needs libvirtd, so it is
# started (and waited for) first. Fails when SERVICE is not running afterwards, or dies right away;
# --stop fails when one is still running after NOVALAB_STOP_TIMEOUT seconds (60).
set -euo pipefail

[ "$#" -ge 1 ] || { echo "usage: $0 SERVICE [TIMEOUT_SECONDS] | --stop SERVICE..." >&2; exit 2; }
stop_mode=""
if [ "$1" = --stop ]; then stop_mode=yes; shift; fi
service=${1:-} timeout=${2:-60}
# shellcheck source=lib/service.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/service.sh"

svc() {  # svc ACTION NAME
  if have_systemd; then systemctl "$1" "$2"; else service "$2" "$1"; fi
}

start_libvirt() {
  if have_systemd; then
    systemctl start libvirtd
  elif [ -e /etc/init.d/libvirtd ]; then
    # qemu's domains log through virtlogd (qemu.conf stdio_handler "logd"): without it none starts.
    if [ -e /etc/init.d/virtlogd ]; then running virtlogd || service virtlogd start; fi
    running libvirtd || service libvirtd start
  else
    # Debian 12 ships libvirt's systemd units only: without systemd, run the daemons directly.
    pidof virtlogd >/dev/null || virtlogd -d
    pidof libvirtd >/dev/null || libvirtd -d
  fi
  # The first start probes qemu's capabilities (about a minute under TCG): wait for the socket.
  local deadline=$((SECONDS + ${LIBVIRT_TIMEOUT:-180}))
  until virsh -c qemu:///system version >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "libvirtd does not answer on $(hostname); nova-compute cannot start without it" >&2
      exit 1
    fi
    sleep 2
  done
}

if [ -n "$stop_mode" ]; then
  for service in "$@"; do
    if running "$service"; then svc stop "$service" || true; fi
    deadline=$((SECONDS + ${NOVALAB_STOP_TIMEOUT:-60}))
    while running "$service"; do
      [ "$SECONDS" -lt "$deadline" ] || { echo "$service still runs on $(hostname) ${NOVALAB_STOP_TIMEOUT:-60}s after stop" >&2; exit 1; }
      sleep 1
    done
    echo "$service stopped"
  done
  exit 0
fi

[ "$service" = nova-compute ] && start_libvirt

svc restart "$service"

fail() {
  echo "$service $1 on $(hostname); last log lines:" >&2
  tail -n 20 "/var/log/${service%%-*}/$service.log" >&2 2>/dev/null || true
  exit 1
}

deadline=$((SECONDS + timeout))
until running "$service"; do
  [ "$SECONDS" -lt "$deadline" ] || fail "is not running ${timeout}s after restart"
  sleep 1
done
# A service that dies while initialising (no message bus, no hypervisor) must not pass.
sleep "${SETTLE_SECONDS:-5}"
running "$service" || fail "stopped right after starting"
echo "$service restarted"
