"""Linux bridge, the tutorial's network: `br100` on the VM-network NIC, and the neutron Linux bridge
agent (neutron-linuxbridge-agent) plugging ports into it, with VXLAN tenant networks on my_ip.

- packages: the agent, bridge-utils + ifupdown (the interfaces.d stanza's `bridge_ports`);
- the "bridge" step: configure_bridge.sh writes the stanza to interfaces.d and brings br100 up now;
- files: neutron.conf and linuxbridge_agent.ini, read by the agent (a change restarts only it);
- gate: the host's "Linux bridge agent" is alive; removal: the agent stops with nova-compute.
"""

from __future__ import annotations

from typing import Optional

from ..render import HEADER, ManagedFile, SectionOverrides, render_ini
from ..steps import HOST, STDOUT_AND_STDERR, Computed, Run, Step, V
from ..releases import release
from . import Agent, FileInputs, NetworkBackend, Unavailable
from .neutron import NEUTRON_CONF, render_neutron_conf

AGENT = "neutron-linuxbridge-agent"
LINUXBRIDGE_AGENT_INI = "/etc/neutron/plugins/ml2/linuxbridge_agent.ini"


def render_linuxbridge_agent_ini(
    physnet: str,
    bridge: str,
    local_ip: str,
    tunnel_overlay: str = "vxlan",
    overrides: Optional[SectionOverrides] = None,
) -> str:
    """linuxbridge_agent.ini: the provider physnet is the tutorial's br100; VXLAN rides on my_ip."""
    vxlan = (
        [("enable_vxlan", "true"), ("local_ip", local_ip), ("l2_population", "true")]
        if tunnel_overlay == "vxlan"
        else [("enable_vxlan", "false")]
    )
    return HEADER + render_ini(
        [
            ("linux_bridge", [("bridge_mappings", f"{physnet}:{bridge}")]),
            ("vxlan", vxlan),
            (
                "securitygroup",
                [
                    ("enable_security_group", "true"),
                    ("firewall_driver", "iptables"),
                ],
            ),
        ],
        overrides,
    )


def render_bridge_stanza(bridge: str, interface: str) -> str:
    """The tutorial's /etc/network/interfaces stanza, for interfaces.d (ifupdown + bridge-utils)."""
    return (
        HEADER
        + f"auto {bridge}\n"
        + f"iface {bridge} inet manual\n"
        + f"    pre-up ip addr flush dev {interface}\n"
        + f"    bridge_ports {interface}\n"
        + "    bridge_stp off\n"
        + "    bridge_fd 0\n"
    )


def render_files(i: FileInputs) -> dict[str, tuple[ManagedFile, ...]]:
    neutron_conf = render_neutron_conf(i.host_name, i.transport_url, i.overrides_for(NEUTRON_CONF), i.rabbit_options)
    net = i.network
    agent_ini = render_linuxbridge_agent_ini(
        net.physnet, net.bridge, i.address, net.tunnel_overlay, i.overrides_for(LINUXBRIDGE_AGENT_INI)
    )
    return {
        AGENT: (
            ManagedFile(NEUTRON_CONF, neutron_conf, "root", "neutron", "0640"),
            ManagedFile(LINUXBRIDGE_AGENT_INI, agent_ini, "root", "neutron", "0640"),
        )
    }


# "Network configuration" (the interface is config: the tutorial's text says eth2, its stanza eth1).
BRIDGE = Step(
    "bridge",
    HOST,
    create=(Run("configure_bridge.sh", V.bridge, V.bridge_interface, V.address),),
    stdin=Computed(lambda c: render_bridge_stanza(c.bridge, c.bridge_interface)),
    logging=STDOUT_AND_STDERR,
)

BACKEND = NetworkBackend(
    name="linuxbridge",
    packages=(AGENT, "bridge-utils", "ifupdown"),
    steps=(BRIDGE,),
    agents=(Agent(AGENT, "restart-l2-agent"),),
    gate_agent_types=("Linux bridge agent",),
    config_files=(NEUTRON_CONF, LINUXBRIDGE_AGENT_INI),
    render_files=render_files,
    # https://docs.openstack.org/releasenotes/neutron/2025.1.html ("linuxbridge ... removed"): Debian 13's
    # neutron 26 still ships the agent's package, but not the code it runs.
    unavailable=Unavailable(
        release("epoxy"),
        AGENT,
        "network.backend linuxbridge: neutron 26 (OpenStack 2025.1) removed the Linux bridge agent; "
        "set network.backend to ovn or openvswitch, whichever the cloud's neutron runs",
    ),
)
