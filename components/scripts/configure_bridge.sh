#!/usr/bin/env bash
# Tutorial "Network configuration": the br100 bridge on the host's VM-network NIC.
# Usage: configure_bridge.sh BRIDGE INTERFACE MANAGEMENT_ADDRESS   (stdin: the interfaces.d stanza)
# Persists the stanza in /etc/network/interfaces.d/BRIDGE (temp file + mv) and brings the bridge up
# now with iproute2, so it works with or without ifupdown/systemd. Safe to re-run.
set -euo pipefail
# shellcheck source=lib/ifupdown.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/ifupdown.sh"

[ "$#" -eq 3 ] || { echo "usage: $0 BRIDGE INTERFACE MANAGEMENT_ADDRESS < stanza" >&2; exit 2; }
bridge=$1 iface=$2 mgmt=$3
netdir=${NOVALAB_NETWORK_DIR:-/etc/network}  # overridable for tests only

if ! ip link show dev "$iface" >/dev/null 2>&1; then
  echo "interface $iface does not exist on $(hostname); fix computeHosts[].bridgeInterface" >&2
  ip -brief link >&2 || true
  exit 1
fi
# Flushing the NIC that carries our own SSH session would cut the host off: refuse. awk reads the
# whole list: a consumer that quits at the first match (grep -q) kills the writer with SIGPIPE,
# which pipefail turns into "no match".
if ip -o addr show dev "$iface" | awk -v a="$mgmt" '{split($4, p, "/")} p[1] == a {found = 1} END {exit !found}'; then
  echo "interface $iface holds the management address $mgmt; bridgeInterface must be the VM-network NIC (the tutorial's eth2)" >&2
  exit 1
fi

# network.bridge must be a bridge, or not exist yet: were it an existing NIC (the management one,
# say), the stanza written below would turn it into a bridge at the next boot, and bringing it up
# now would fail half-way.
if ip link show dev "$bridge" >/dev/null 2>&1 && [ ! -d "/sys/class/net/$bridge/bridge" ]; then
  echo "$bridge exists on $(hostname) and is not a bridge; network.bridge must name a bridge for the VM network (the tutorial's br100), not an interface such as the management NIC" >&2
  exit 1
fi

# Persist for reboots.
persist_stanza "$netdir" "$bridge"

# Bring it up now: the same result as `ifup br100`, idempotently.
ip link show dev "$bridge" >/dev/null 2>&1 || ip link add name "$bridge" type bridge
ip link set dev "$bridge" type bridge stp_state 0 forward_delay 0
ip addr flush dev "$iface"
ip link set dev "$iface" master "$bridge"
ip link set dev "$iface" up
ip link set dev "$bridge" up

master=$(ip -o link show dev "$iface" | sed -n 's/.* master \([^ ]*\) .*/\1/p')
[ "$master" = "$bridge" ] || { echo "$iface is not in $bridge (master: ${master:-none})" >&2; exit 1; }
echo "bridge $bridge up with $iface"
