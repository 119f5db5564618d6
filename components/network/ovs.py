"""What the two Open vSwitch backends (ovn, openvswitch) share on a compute host: Open vSwitch, the
provider bridge on the VM-network NIC (the tutorial's br100, now an OVS bridge), the tunnel endpoint,
and the datapath. configure_ovs.sh does it in the "bridge" step and prints the datapath it runs
(`novalab-facts datapath_type=...`), which the agents' files then name.

Without the openvswitch kernel module (containers, some clouds' VMs) OVS runs on its userspace
datapath (netdev), which tunnels only from an address on one of its own bridges: the "br-phy"
pattern of https://docs.openvswitch.org/en/latest/howto/userspace-tunneling/. So a host's
`tunnelAddress` goes on the provider bridge, persisted in interfaces.d as Debian's openvswitch-switch
reads it (`allow-ovs`, README.Debian).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

from ..render import HEADER
from ..steps import HOST, STDOUT_AND_STDERR, Computed, Run, Step, V

PACKAGES = ("openvswitch-switch", "ifupdown")
DATAPATH_FACT = "datapath_type"
# os-vif and the agents reach ovsdb-server here (os-vif's own default, [os_vif_ovs] ovsdb_connection):
# the manager configure_ovs.sh adds listens where the agents' files connect.
OVSDB_ADDRESS, OVSDB_PORT = "127.0.0.1", 6640
OVSDB_MANAGER = f"ptcp:{OVSDB_PORT}:{OVSDB_ADDRESS}"
OVSDB_CONNECTION = f"tcp:{OVSDB_ADDRESS}:{OVSDB_PORT}"


def tunnel_ip(tunnel_address: Optional[str], address: str) -> str:
    """The tunnel endpoint: the tunnel address without its prefix, else the management address."""
    return str(ipaddress.ip_interface(tunnel_address).ip) if tunnel_address else address


def datapath(facts: dict, network: Any) -> str:
    """The datapath the bridge step runs (it prints it); before it ran, what the stack asks for."""
    return facts.get(DATAPATH_FACT) or network.datapath_type or "system"


def render_bridge_stanza(bridge: str, tunnel_address: Optional[str]) -> str:
    """/etc/network/interfaces.d/<bridge>: the tunnel address on the provider bridge at boot (OVS keeps
    the bridge and its ports in its own database; openvswitch-switch brings `allow-ovs` stanzas up)."""
    if not tunnel_address:
        return ""
    return (
        HEADER
        + f"allow-ovs {bridge}\n"
        + f"iface {bridge} inet static\n"
        + f"    address {tunnel_address}\n"
        + "    ovs_type OVSBridge\n"
    )


def bridge_options(c: Any) -> list[str]:
    """configure_ovs.sh's options from the host's StepContext (the backend adds its own)."""
    net = c.args.network
    opts = ["--manager", OVSDB_MANAGER, "--overlay", net.tunnel_overlay]
    if net.datapath_type:
        opts += ["--datapath", net.datapath_type]
    if c.args.tunnel_address:
        opts += ["--tunnel-address", c.args.tunnel_address]
    return opts


def bridge_step(backend_options: Computed) -> Step:
    """The "Network configuration" step of an OVS backend: OVS up, the provider bridge on the VM NIC,
    the tunnel endpoint, and what the backend adds (OVN's chassis settings)."""
    return Step(
        "bridge",
        HOST,
        create=(
            Run("configure_ovs.sh", V.host_name, V.bridge, V.bridge_interface, V.address,
                Computed(bridge_options), backend_options),
        ),
        stdin=Computed(lambda c: render_bridge_stanza(c.bridge, c.args.tunnel_address)),
        logging=STDOUT_AND_STDERR,
    )
