#!/usr/bin/env bash
# Tutorial "Network configuration" for the Open vSwitch backends (ovn, openvswitch): the tutorial's br100
# becomes an OVS provider bridge on the host's VM-network NIC.
# Usage: configure_ovs.sh HOST BRIDGE INTERFACE MANAGEMENT_ADDRESS --manager TARGET
#          [--overlay vxlan|geneve|none] [--datapath system|netdev] [--tunnel-address IP/PREFIX]
#          [--ovn-remote REMOTE --physnet NAME]
#   (stdin: the interfaces.d stanza that puts the tunnel address on the bridge at boot, or nothing)
# - Open vSwitch runs, with HOST as its system-id (kept in system-id.conf: Debian's init script
#   otherwise sets a random one at every start, and OVN would see a second chassis) and the OVSDB
#   manager TARGET os-vif and the agents connect to;
# - the datapath: --datapath, else `system` where the openvswitch kernel module loads and `netdev`
#   (userspace) where it does not, said on stdout. netdev tunnels only from an address on one of its
#   bridges (docs.openvswitch.org howto/userspace-tunneling), so with an overlay it needs
#   --tunnel-address, which goes on BRIDGE; it also needs userspace TSO, or its conntrack drops TCP
#   from guests and veths whose checksums are left to offload;
# - with --ovn-remote: the OVN chassis settings (ovn-controller reads them live) and ovn-controller.
# Idempotent: what is already so is left alone. Prints `novalab-facts datapath_type=...` last.
set -euo pipefail
# shellcheck source=lib/ifupdown.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/ifupdown.sh"

usage="usage: $0 HOST BRIDGE INTERFACE MANAGEMENT_ADDRESS --manager TARGET [--overlay O] [--datapath D] [--tunnel-address IP/PREFIX] [--ovn-remote R --physnet P]"
[ "$#" -ge 4 ] || { echo "$usage" >&2; exit 2; }
host=$1 bridge=$2 iface=$3 mgmt=$4
shift 4
manager="" overlay=none datapath="" tunnel="" ovn_remote="" physnet=""
while [ "$#" -gt 0 ]; do
  [ "$#" -ge 2 ] || { echo "$usage" >&2; exit 2; }
  case "$1" in
    --manager) manager=$2 ;;
    --overlay) overlay=$2 ;;
    --datapath) datapath=$2 ;;
    --tunnel-address) tunnel=$2 ;;
    --ovn-remote) ovn_remote=$2 ;;
    --physnet) physnet=$2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift 2
done
[ -n "$manager" ] || { echo "$usage" >&2; exit 2; }
etc=${NOVALAB_ETC:-/etc}  # overridable for tests only
ovn_ctl=${NOVALAB_OVN_CTL:-/usr/share/ovn/scripts/ovn-ctl}

# The VM-network NIC: it must exist, and not carry our own SSH session (its addresses are flushed).
if ! ip link show dev "$iface" >/dev/null 2>&1; then
  echo "interface $iface does not exist on $(hostname); fix computeHosts[].bridgeInterface" >&2
  exit 1
fi
# awk reads the whole list: a consumer that quits early kills the writer (SIGPIPE under pipefail).
if ip -o addr show dev "$iface" | awk -v a="$mgmt" '{split($4, p, "/")} p[1] == a {found = 1} END {exit !found}'; then
  echo "interface $iface holds the management address $mgmt; bridgeInterface must be the VM-network NIC (the tutorial's eth2)" >&2
  exit 1
fi

# On the provider bridge, the management address would sit on a second interface of its network,
# and the host's own SSH session could leave that way.
if [ -n "$tunnel" ] && [ "${tunnel%/*}" = "$mgmt" ]; then
  echo "computeHosts[].tunnelAddress $tunnel is the management address of $(hostname); it goes on $bridge and needs one of its own on the VM network (or leave it unset: the kernel datapath tunnels from the management address)" >&2
  exit 1
fi

if [ -z "$datapath" ]; then
  if [ -d /sys/module/openvswitch ] || modprobe -q openvswitch 2>/dev/null; then
    datapath=system
    echo "datapath: system (the openvswitch kernel module is loaded; network.datapathType overrides)"
  else
    datapath=netdev
    echo "datapath: netdev (no openvswitch kernel module here: Open vSwitch's userspace datapath; network.datapathType overrides)"
  fi
fi
if [ "$datapath" = netdev ] && [ "$overlay" != none ] && [ -z "$tunnel" ]; then
  echo "Open vSwitch runs on its userspace datapath on $(hostname), which tunnels ($overlay) only from an address on one of its bridges: set computeHosts[].tunnelAddress (an address with its prefix on the VM network, e.g. 10.0.1.20/24), which novalab puts on $bridge" >&2
  exit 1
fi

# Open vSwitch up, with a stable system-id.
mkdir -p "$etc/openvswitch"
if [ "$(cat "$etc/openvswitch/system-id.conf" 2>/dev/null)" != "$host" ]; then
  echo "$host" > "$etc/openvswitch/system-id.conf"
  echo "system-id: $host"
fi
ovs_up() { ovs-vsctl --timeout=5 show >/dev/null 2>&1; }
wait_ovs() {
  local until=$((SECONDS + 60))
  until ovs_up; do
    [ "$SECONDS" -lt "$until" ] || { echo "Open vSwitch does not answer on $(hostname) 60s after its start" >&2; exit 1; }
    sleep 1
  done
}
ovs_up || { service openvswitch-switch start; wait_ovs; }
if [ -n "$(ip link show dev "$bridge" 2>/dev/null)" ] && ! ovs-vsctl br-exists "$bridge"; then
  echo "network.bridge $bridge exists on $(hostname) and is not an Open vSwitch bridge (a Linux bridge of the linuxbridge backend?); remove it (ip link del $bridge) or set another network.bridge" >&2
  exit 1
fi
if [ "$datapath" = netdev ] && [ "$(ovs-vsctl get open . other_config:userspace-tso-enable 2>/dev/null)" != '"true"' ]; then
  # Read when ovs-vswitchd starts.
  ovs-vsctl set open . other_config:userspace-tso-enable=true
  service openvswitch-switch restart
  wait_ovs
  echo "userspace TSO enabled (netdev datapath)"
fi
ovs-vsctl set open . external_ids:system-id="$host" external_ids:hostname="$host"
if ! ovs-vsctl get-manager | awk -v m="$manager" '$0 == m {found = 1} END {exit !found}'; then
  # The value is ovsdb data, where an unquoted ':' ends a string: the quotes go to ovs-vsctl.
  ovs-vsctl -- --id=@m create Manager "target=\"$manager\"" -- add Open_vSwitch . manager_options @m >/dev/null
  echo "OVSDB manager $manager"
fi

# The provider bridge on the VM-network NIC.
ovs-vsctl --may-exist add-br "$bridge" -- set bridge "$bridge" datapath_type="$datapath"
if ! ovs-vsctl list-ports "$bridge" | awk -v p="$iface" '$0 == p {found = 1} END {exit !found}'; then
  ip addr flush dev "$iface"
  ovs-vsctl --may-exist add-port "$bridge" "$iface"
  echo "bridge $bridge: port $iface"
fi
ip link set dev "$iface" up
ip link set dev "$bridge" up
tunnel_ip=$mgmt
if [ -n "$tunnel" ]; then
  tunnel_ip=${tunnel%/*}
  ip addr replace "$tunnel" dev "$bridge"
fi
# The tunnel address at boot (OVS keeps the bridge and its ports in its own database), and the one
# novalab put on the bridge before: it goes when it changed.
previous=$(stanza_value "$etc/network" "$bridge" address)
persist_stanza "$etc/network" "$bridge"
if [ -n "$previous" ] && [ "$previous" != "$tunnel" ] && ip addr del "$previous" dev "$bridge" 2>/dev/null; then
  echo "removed the former tunnel address $previous from $bridge"
fi

if [ -n "$ovn_remote" ]; then
  ovs-vsctl set open . external_ids:ovn-remote="$ovn_remote" external_ids:ovn-encap-type=geneve \
    external_ids:ovn-encap-ip="$tunnel_ip" external_ids:ovn-bridge-mappings="$physnet:$bridge" \
    external_ids:ovn-bridge-datapath-type="$datapath"
  if ! ovn-appctl -t ovn-controller version >/dev/null 2>&1; then
    # Debian's ovn-host has a systemd unit only; elsewhere ovn-ctl starts the daemon (--detach --monitor).
    if [ -d /run/systemd/system ]; then systemctl start ovn-controller; else "$ovn_ctl" start_controller; fi
    echo "ovn-controller started: chassis $host, tunnels from $tunnel_ip"
  fi
fi
echo "Open vSwitch bridge $bridge up with $iface ($datapath datapath)"
echo "novalab-facts datapath_type=$datapath"
