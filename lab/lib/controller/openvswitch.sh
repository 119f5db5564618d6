# shellcheck shell=bash
# Open vSwitch on the controller, for the ovn and openvswitch backends. No openvswitch kernel module
# on these machines: every bridge uses the userspace datapath (datapath_type=netdev), run by this
# ovs-vswitchd inside the controller's namespaces.
#
# The provider bridge br-ex (physnet1) holds eth3, the controller's NIC on the public network, and
# the controller's tunnel endpoint $CTL_TUN_IP: OVS's userspace datapath encapsulates geneve/vxlan
# only towards an address routed through one of its own bridges (it looks the route up in its copy of
# the kernel's table and resolves ARP on that bridge), so the endpoint cannot stay on a kernel NIC.
# https://docs.openvswitch.org/en/latest/howto/userspace-tunneling/

ovs_vsctl() { in_ctl ovs-vsctl --timeout=30 "$@"; }

openvswitch_up() {
  ctl_dirs root /run/openvswitch /var/log/openvswitch
  in_ctl test -s /etc/openvswitch/conf.db \
    || in_ctl ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
  daemon ovsdb-server root "$CTL_NS" ovsdb-server /etc/openvswitch/conf.db \
    --remote=punix:/run/openvswitch/db.sock --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
    --pidfile=/run/openvswitch/ovsdb-server.pid --log-file="$LAB_LOGS/ovsdb-server.log"
  wait_for ovsdb-server 30 "$LAB_LOGS/ovsdb-server.log" in_ctl ovs-vsctl --timeout=2 show
  ovs_vsctl --no-wait init
  # Read when ovs-vswitchd starts. Without it the userspace datapath's conntrack takes the partially
  # checksummed packets of veths and virtio (checksum offload) for invalid and drops them: ping to a
  # floating IP answers, TCP to it times out (seen in the lab; with it, TCP is refused by the guest).
  ovs_vsctl --no-wait set open . other_config:userspace-tso-enable=true
  daemon ovs-vswitchd root "$CTL_NS" ovs-vswitchd unix:/run/openvswitch/db.sock \
    --pidfile=/run/openvswitch/ovs-vswitchd.pid --log-file="$LAB_LOGS/ovs-vswitchd.log"
  ovs_vsctl --may-exist add-br br-ex -- set bridge br-ex datapath_type=netdev
  ovs_vsctl --may-exist add-port br-ex eth3
  # A bridge already in the database (a warm start) is no change to wait for: ovs-vsctl returns before
  # the new ovs-vswitchd has made br-ex's device.
  wait_for br-ex 30 "$LAB_LOGS/ovs-vswitchd.log" in_ctl ip link show dev br-ex
  if ! in_ctl ip -o addr show dev br-ex | has -F " $CTL_TUN_IP/24 "; then
    in_ctl ip addr add "$CTL_TUN_IP/24" dev br-ex
  fi
  in_ctl ip link set br-ex up
}
