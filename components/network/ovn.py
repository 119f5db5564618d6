"""OVN, what neutron recommends since it removed the Linux bridge driver (2025.1) and
OpenStack-Ansible's default: the host is an OVN chassis. ovn-controller (package ovn-host) programs
Open vSwitch from the southbound database; the OVN metadata agent serves 169.254.169.254 to the
host's servers. As kolla-ansible's ovn-controller role and OpenStack-Ansible's os_neutron set it up:

- packages: openvswitch-switch, ovn-host, neutron-ovn-metadata-agent (+ haproxy, its proxy);
- the "bridge" step: configure_ovs.sh, plus the chassis' external_ids (ovn-remote, geneve from the
  tunnel endpoint, the physnet on the provider bridge, hostname = nova's host) and ovn-controller
  started; ovn-controller reads them live, so a change needs no restart;
- files: neutron.conf and neutron_ovn_metadata_agent.ini, read by the metadata agent;
- gate: "OVN Controller agent" and "OVN Metadata agent" alive; removal: ovn-controller exits
  gracefully (which deletes its chassis from the southbound database) after the agents stopped.
"""

from __future__ import annotations

from ..render import HEADER, ManagedFile, render_ini
from ..steps import Computed, Run
from . import Agent, FileInputs, NetworkBackend
from .neutron import NEUTRON_CONF, render_neutron_conf
from .ovs import OVSDB_CONNECTION, PACKAGES, bridge_step

METADATA_AGENT = "neutron-ovn-metadata-agent"
METADATA_AGENT_INI = "/etc/neutron/neutron_ovn_metadata_agent.ini"


def render_metadata_agent_ini(i: FileInputs) -> str:
    if not i.metadata_secret:
        raise ValueError("network.backend ovn needs metadataProxySharedSecret")
    return HEADER + render_ini(
        [
            (
                "DEFAULT",
                [
                    ("nova_metadata_host", i.services.nova_metadata_host),
                    ("metadata_proxy_shared_secret", i.metadata_secret),
                ],
            ),
            ("ovs", [("ovsdb_connection", OVSDB_CONNECTION)]),
            ("ovn", [("ovn_sb_connection", i.services.ovn_southbound)]),
        ],
        i.overrides_for(METADATA_AGENT_INI),
    )


def render_files(i: FileInputs) -> dict[str, tuple[ManagedFile, ...]]:
    neutron_conf = render_neutron_conf(i.host_name, i.transport_url, i.overrides_for(NEUTRON_CONF), i.rabbit_options)
    return {
        METADATA_AGENT: (
            ManagedFile(NEUTRON_CONF, neutron_conf, "root", "neutron", "0640"),
            ManagedFile(METADATA_AGENT_INI, render_metadata_agent_ini(i), "root", "neutron", "0640"),
        )
    }


def chassis_options(c) -> list[str]:
    """configure_ovs.sh's OVN options: the southbound DB and the physnet on the provider bridge."""
    return ["--ovn-remote", c.args.services.ovn_southbound, "--physnet", c.args.network.physnet]


BACKEND = NetworkBackend(
    name="ovn",
    packages=(*PACKAGES, "ovn-host", METADATA_AGENT, "haproxy"),
    steps=(bridge_step(Computed(chassis_options)),),
    agents=(Agent(METADATA_AGENT, "restart-metadata-agent"),),
    gate_agent_types=("OVN Controller agent", "OVN Metadata agent"),
    config_files=(NEUTRON_CONF, METADATA_AGENT_INI),
    render_files=render_files,
    removal=(Run("stop_ovn_controller.sh"),),
)
