# shellcheck shell=bash
# The lab's wiring: two bridges on this machine and a network namespace per host.
#   $MGMT_BRIDGE $MGMT_NET.0/24  management (the tutorial's eth1 network); this machine is .1
#   $PUB_BRIDGE  $PUB_NET.0/24   provider network physnet1 / "public" (the tutorial's eth2/eth3 L2)

bridge_up() {  # bridge_up NAME [ADDRESS/PREFIX]
  ip link show dev "$1" >/dev/null 2>&1 || ip link add name "$1" type bridge
  ip link set dev "$1" type bridge stp_state 0 forward_delay 0
  if [ -n "${2:-}" ] && ! ip -o addr show dev "$1" | has -F " ${2} "; then
    ip addr add "$2" dev "$1" 2>/dev/null || true
  fi
  ip link set dev "$1" up
}

# The namespaces' names. `ip netns list` also complains "Peer netns reference is invalid" about
# neutron's namespaces (it lists them all the same): not worth showing.
netns_names() { ip netns list 2>/dev/null | awk '{print $1}'; }

netns_up() {
  netns_names | has -xF "$1" || ip netns add "$1"
  ip -n "$1" link set lo up
}

# nic NETNS OUTER INNER BRIDGE [ADDRESS/PREFIX [MAC]]: a veth whose INNER end is NETNS's NIC (with
# MAC, else a random one), OUTER in BRIDGE.
nic() {
  local ns=$1 outer=$2 inner=$3 bridge=$4 addr=${5:-} mac=${6:-}
  if ! ip -n "$ns" link show dev "$inner" >/dev/null 2>&1; then
    ip link del "$outer" 2>/dev/null || true
    ip link add "$outer" type veth peer name "$inner" ${mac:+address "$mac"} netns "$ns"
  fi
  ip link set "$outer" master "$bridge" up
  if [ -n "$addr" ] && ! ip -n "$ns" -o addr show dev "$inner" 2>/dev/null | has -F " $addr "; then
    ip -n "$ns" addr add "$addr" dev "$inner"
  fi
  ip -n "$ns" link set "$inner" up
}

network_up() {
  log "network: bridges $MGMT_BRIDGE ($MGMT_NET.0/24), $PUB_BRIDGE ($PUB_NET.0/24)"
  bridge_up "$MGMT_BRIDGE" "$HOST_IP/24"
  bridge_up "$PUB_BRIDGE"
  # The bridges must not be filtered by the machine's iptables (br_netfilter), if loaded.
  sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
  netns_up "$CTL_NS"
  nic "$CTL_NS" nl-ctl-m eth1 "$MGMT_BRIDGE" "$CTL_IP/24"
  nic "$CTL_NS" nl-ctl-p eth3 "$PUB_BRIDGE"
  # "outside": a host on the public network, to ping floating IPs from.
  netns_up "$OUT_NS"
  nic "$OUT_NS" nl-out-p eth0 "$PUB_BRIDGE" "$PUB_NET.1/24"
}

host_network_up() {  # host_network_up N
  local n=$1 ns=novalab-compute-$1
  netns_up "$ns"
  nic "$ns" "nl-c$n-m" eth1 "$MGMT_BRIDGE" "$(host_address "$n")/24" "$(host_mac 1 "$n")"
  nic "$ns" "nl-c$n-p" eth2 "$PUB_BRIDGE" "" "$(host_mac 2 "$n")"
}

# netns_del NS: every process the lab started is gone by now (PID files): one still in a lab
# namespace is a leak of the lab's, named here so it gets a PID file, and killed so the namespace can go.
netns_del() {
  local pid
  for pid in $(ip netns pids "$1" 2>/dev/null || true); do
    printf 'lab: pid %s (%s) outlived its PID file in netns %s: killed\n' \
      "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null || echo gone)" "$1" >&2
    kill -9 "$pid" 2>/dev/null || true
  done
  ip netns del "$1" 2>/dev/null || true
}

# host_network_down N: the host's namespace and its links, with whatever its software made there
# (an Open vSwitch bridge's tap device outlives ovs-vswitchd): a new machine gets a new one.
host_network_down() {
  netns_del "novalab-compute-$1"
  ip link del "nl-c$1-m" 2>/dev/null || true
  ip link del "nl-c$1-p" 2>/dev/null || true
}

network_down() {
  local ns
  # The controller's neutron agents make qdhcp-/qrouter- namespaces; /run/netns is this machine's.
  for ns in $(netns_names | grep -E '^(novalab-|qdhcp-|qrouter-)' || true); do
    netns_del "$ns"
  done
  for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^nl-' || true); do
    ip link del "$link" 2>/dev/null || true
  done
  ip link del "$MGMT_BRIDGE" 2>/dev/null || true
  ip link del "$PUB_BRIDGE" 2>/dev/null || true
}
