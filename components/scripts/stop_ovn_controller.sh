#!/usr/bin/env bash
# A host leaving the stack (network.backend ovn), after nova-compute and the metadata agent stopped:
# ovn-controller exits gracefully, which deletes the host's chassis from OVN's southbound database
# (`ovn-appctl exit` without --restart; ovn-controller(8)). The controller step then forgets the host's
# agents in neutron. Safe to re-run: an ovn-controller that is not running is left alone.
# Usage: stop_ovn_controller.sh
set -euo pipefail

[ "$#" -eq 0 ] || { echo "usage: $0" >&2; exit 2; }
if ! ovn-appctl -t ovn-controller version >/dev/null 2>&1; then
  echo "ovn-controller is not running"
  exit 0
fi
timeout "${NOVALAB_STOP_TIMEOUT:-60}" ovn-appctl -t ovn-controller exit || {
  echo "ovn-controller on $(hostname) did not exit within ${NOVALAB_STOP_TIMEOUT:-60}s; its chassis may remain in the southbound database (openstack network agent delete removes it)" >&2
  exit 1
}
# Without systemd, nothing would start it again; with systemd, keep the unit from doing so.
if [ -d /run/systemd/system ]; then systemctl stop ovn-controller || true; fi
echo "ovn-controller stopped: chassis $(hostname) removed from the southbound database"
