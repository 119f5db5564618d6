#!/usr/bin/env bash
# Tutorial "Software installation": apt-get install nova-compute-qemu (+ the neutron L2 agent and
# what the br100 bridge needs). Usage: install_packages.sh PACKAGE...
# Idempotent: when every package is already installed, apt is not touched at all.
# Prints the host's facts last (novalab-facts ...), which the component exports for the policy pack.
set -euo pipefail

[ "$#" -gt 0 ] || { echo "usage: $0 PACKAGE..." >&2; exit 2; }

missing=()
for pkg in "$@"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep existing config files: novalab writes its own afterwards. No Recommends (as kolla's
  # images): with them nova-compute-qemu brings qemu's GTK/SDL front ends, a C toolchain and media
  # codecs, about 380 packages a compute node never uses (841 packages instead of 463 on a minimal
  # Debian 12, and twice the install time); what a compute node needs is a Depends.
  apt_opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  apt-get update -q
  apt-get install "${apt_opts[@]}" "${missing[@]}"
else
  echo "already installed: $*"
fi

ram_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
vcpus=$(nproc)
disk_gb=$(df -P -B1G /var/lib 2>/dev/null | awk 'NR == 2 {print $2}')
echo "novalab-facts ram_mb=${ram_mb} vcpus=${vcpus} disk_gb=${disk_gb:-0}"
