#!/usr/bin/env bash
# Prechecks, as kolla runs them before a deploy: the packages step runs this first, so a host that
# cannot work is refused before anything on it is touched. Reads only; reports every failed check,
# each with the host and the fix, then exits 1.
# Usage: precheck_host.sh HOST VIRT_TYPE BRIDGE_INTERFACE MANAGEMENT_ADDRESS RABBIT_HOST RABBIT_PORT
set -euo pipefail

[ "$#" -eq 6 ] || {
  echo "usage: $0 HOST VIRT_TYPE BRIDGE_INTERFACE MANAGEMENT_ADDRESS RABBIT_HOST RABBIT_PORT" >&2
  exit 2
}
host=$1 virt_type=$2 iface=$3 mgmt=$4 rabbit_host=$5 rabbit_port=$6
kvm_device=${NOVALAB_KVM_DEVICE:-/dev/kvm}  # overridable for tests only
connect_timeout=${NOVALAB_PRECHECK_TIMEOUT:-5}

failed=0
fail() { echo "precheck failed on $host: $*" >&2; failed=1; }

# 1. virtType kvm needs a usable /dev/kvm (nova-compute would start, and every server fail to spawn).
if [ "$virt_type" = kvm ]; then
  if [ ! -c "$kvm_device" ]; then
    fail "virtType is kvm but $kvm_device does not exist (no hardware virtualization, or kvm_intel/kvm_amd not loaded); fix: enable VT-x/AMD-V and load the module, or set computeHosts[].virtType: qemu"
  elif ! { : 3<>"$kvm_device"; } 2>/dev/null; then
    fail "virtType is kvm but $kvm_device cannot be opened read-write; fix its permissions, or set computeHosts[].virtType: qemu"
  fi
fi

# 2. The bridge interface must exist, and 3. must not be the management NIC: the bridge step flushes
# its addresses, which would cut the host off. awk reads the whole address list (a `grep -q` that
# quits early kills the writer with SIGPIPE, which pipefail reads as "no match").
if ! ip link show dev "$iface" >/dev/null 2>&1; then
  names=$(ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); printf "%s ", $2}')
  fail "the bridge interface $iface does not exist (interfaces here: ${names% }); fix computeHosts[].bridgeInterface"
elif ip -o addr show dev "$iface" | awk -v a="$mgmt" '{split($4, p, "/")} p[1] == a {found = 1} END {exit !found}'; then
  fail "the bridge interface $iface holds the management address $mgmt, and bridging it would cut the host off; fix computeHosts[].bridgeInterface: the VM-network NIC (the tutorial's eth2)"
fi

# 4. nova-compute and the L2 agent talk to the controller over RabbitMQ: without it they never report.
# shellcheck disable=SC2016 # $0/$1 expand in the inner bash
if ! timeout "$connect_timeout" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$rabbit_host" "$rabbit_port" 2>/dev/null; then
  fail "RabbitMQ at $rabbit_host:$rabbit_port does not answer within ${connect_timeout}s; fix: let this host reach the controller on that port (firewall, route), or correct services.rabbitHost/rabbitPort"
fi

[ "$failed" -eq 0 ] || exit 1
echo "prechecks passed on $host"
