"""Network backends: each is one unit of everything a compute host's networking needs.

A backend names its packages, its "Network configuration" step(s) (rows of the step table, with their
scripts), the agent services it runs with the files each reads (a change restarts only that agent),
the neutron agent types the gate waits for, and what stops when the host leaves the stack. The stack
picks one with `network.backend`; Linux bridge (the tutorial's br100) is the default.

Adding a backend is one module here (its NetworkBackend and renderers) plus its scripts in
components/scripts/, and one entry in BACKENDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from ..releases import Release
from ..render import ManagedFile, SectionOverrides
from ..steps import Run, Step


@dataclass(frozen=True)
class Agent:
    """A network agent service on the host and the step that restarts it."""

    service: str  # e.g. neutron-linuxbridge-agent
    restart_step: str  # its restart row, "<host>-<restart_step>"


@dataclass(frozen=True)
class FileInputs:
    """What a backend's files are rendered from (plain values, inside an Output.apply)."""

    host_name: str  # the agents' `host`: the gate and the removal find them by it
    address: str  # management address
    tunnel_ip: str  # the tunnel endpoint: computeHosts[].tunnelAddress without its prefix, else address
    transport_url: str  # the message bus, with its password
    rabbit_options: tuple[tuple[str, str], ...]  # [oslo_messaging_rabbit] (messaging.py)
    network: Any  # the stack's NetworkConfig (physnet, bridge, tunnel_overlay, datapath_type, ...)
    services: Any  # the stack's ServicesConfig (ovnSouthbound, novaMetadataHost, ...)
    metadata_secret: Optional[str]  # metadataProxySharedSecret, when the stack has one
    overrides_for: Callable[[str], SectionOverrides]  # the operator's overrides of the file at a path
    facts: Mapping[str, str]  # `novalab-facts` of the row named by NetworkBackend.facts_from


@dataclass(frozen=True)
class Unavailable:
    """Where a backend cannot run: from RELEASE on, told on the host by PACKAGE's candidate version
    (before anything is installed) and on the controller by its compute API's microversion."""

    release: Release
    package: str
    why: str  # names network.backend and the fix


@dataclass(frozen=True)
class NetworkBackend:
    name: str  # the value of network.backend
    packages: tuple[str, ...]  # installed with nova's by the packages step
    steps: tuple[Step, ...]  # rows between the packages and the config step: the "Network configuration"
    agents: tuple[Agent, ...]  # restarted when their files change; stopped when the host leaves
    # Neutron agent types (as `openstack network agent list` shows them) the gate waits to see alive.
    gate_agent_types: tuple[str, ...]
    config_files: tuple[str, ...]  # the paths render_files writes (configOverrides may name them)
    # Files by the agent service that reads them (each Agent's service, in that order).
    render_files: Callable[[FileInputs], Mapping[str, tuple[ManagedFile, ...]]]
    removal: tuple[Run, ...] = ()  # on the host when it leaves, after its agents stopped
    facts_from: Optional[str] = None  # a row whose last `novalab-facts` line the files depend on
    unavailable: Optional[Unavailable] = None  # releases where it no longer exists


def _backends() -> dict[str, NetworkBackend]:
    from . import linuxbridge, openvswitch, ovn

    return {b.name: b for b in (linuxbridge.BACKEND, ovn.BACKEND, openvswitch.BACKEND)}


BACKENDS = _backends()
DEFAULT = "linuxbridge"


def backend_of(network) -> NetworkBackend:
    """The backend a NetworkConfig names (linuxbridge when it names none)."""
    name = getattr(network, "backend", None) or DEFAULT
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"network.backend: {name} is not implemented in this novalab; one of {', '.join(BACKENDS)}"
        ) from None
