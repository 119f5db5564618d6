"""ML2/OVS, kolla-ansible's default: the neutron Open vSwitch agent plugs ports into br-int, tunnels
tenant networks over VXLAN to the other hosts and reaches provider networks through the provider
bridge (the tutorial's br100). Routers, DHCP and metadata live on the network nodes.

- packages: openvswitch-switch, neutron-openvswitch-agent;
- the "bridge" step: configure_ovs.sh (the agent makes br-int and br-tun itself);
- files: neutron.conf and openvswitch_agent.ini, read by the agent. Its datapath_type is what the
  bridge step runs (netdev without the kernel module), and its firewall is the `openvswitch` driver:
  the hybrid iptables driver needs kernel bridges (qbr) that the userspace datapath cannot use;
- gate: "Open vSwitch agent" alive; removal: the agent stops with nova-compute.
"""

from __future__ import annotations

from ..render import HEADER, ManagedFile, render_ini
from ..steps import Computed
from . import Agent, FileInputs, NetworkBackend
from .neutron import NEUTRON_CONF, render_neutron_conf
from .ovs import OVSDB_CONNECTION, PACKAGES, bridge_step, datapath

AGENT = "neutron-openvswitch-agent"
OPENVSWITCH_AGENT_INI = "/etc/neutron/plugins/ml2/openvswitch_agent.ini"


def render_openvswitch_agent_ini(i: FileInputs) -> str:
    net = i.network
    tunnels = net.tunnel_overlay != "none"
    return HEADER + render_ini(
        [
            (
                "ovs",
                [
                    ("bridge_mappings", f"{net.physnet}:{net.bridge}"),
                    ("datapath_type", datapath(i.facts, net)),
                    ("ovsdb_connection", OVSDB_CONNECTION),
                    *([("local_ip", i.tunnel_ip)] if tunnels else []),
                ],
            ),
            (
                "agent",
                [("tunnel_types", net.tunnel_overlay), ("l2_population", "true")] if tunnels else [],
            ),
            ("securitygroup", [("enable_security_group", "true"), ("firewall_driver", "openvswitch")]),
        ],
        i.overrides_for(OPENVSWITCH_AGENT_INI),
    )


def render_files(i: FileInputs) -> dict[str, tuple[ManagedFile, ...]]:
    neutron_conf = render_neutron_conf(i.host_name, i.transport_url, i.overrides_for(NEUTRON_CONF), i.rabbit_options)
    return {
        AGENT: (
            ManagedFile(NEUTRON_CONF, neutron_conf, "root", "neutron", "0640"),
            ManagedFile(OPENVSWITCH_AGENT_INI, render_openvswitch_agent_ini(i), "root", "neutron", "0640"),
        )
    }


BACKEND = NetworkBackend(
    name="openvswitch",
    packages=(*PACKAGES, AGENT),
    steps=(bridge_step(Computed(lambda c: [])),),
    agents=(Agent(AGENT, "restart-l2-agent"),),
    gate_agent_types=("Open vSwitch agent",),
    config_files=(NEUTRON_CONF, OPENVSWITCH_AGENT_INI),
    render_files=render_files,
    facts_from="bridge",
)
