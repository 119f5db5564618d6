"""Every file of one compute host, rendered (pure): nova's own (render.py) and the network backend's
(components/network/), grouped by the service that reads them, so a change restarts only that
service. Also what the host installs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from .config import NetworkConfig, ServicesConfig
from .messaging import rabbit_queue_options
from .network import FileInputs, NetworkBackend, backend_of
from .network.ovs import tunnel_ip
from .overrides import Overrides, for_file
from .render import (
    NOVA_COMPUTE_CONF,
    NOVA_CONF,
    ManagedFile,
    NovaComputeSettings,
    ServiceAuth,
    nova_migration_files,
    render_nova_compute_conf,
    render_nova_conf,
    service_auth_url,
    transport_url,
)
from .steps import NOVA_COMPUTE

HYPERVISOR_PACKAGES = {"qemu": "nova-compute-qemu", "kvm": "nova-compute-kvm"}


def host_packages(virt_type: str, backend: Optional[NetworkBackend] = None) -> list[str]:
    """What the tutorial installs, plus what today's compute node needs to plug ports and disks."""
    backend = backend or backend_of(None)
    # qemu-block-extra: RBD volumes.
    return [HYPERVISOR_PACKAGES[virt_type], *backend.packages, "qemu-block-extra"]


@dataclass(frozen=True)
class Passwords:
    """Plain values, only ever handled inside an Output.apply of secret Outputs."""

    rabbit: str
    nova: str
    neutron: Optional[str] = None
    migration_key: Optional[str] = None  # nova's SSH key between compute hosts
    metadata: Optional[str] = None  # metadataProxySharedSecret (the OVN metadata agent signs with it)


@dataclass(frozen=True)
class HostFiles:
    # (service, the files it reads), nova-compute first, then the network backend's agents.
    services: tuple[tuple[str, tuple[ManagedFile, ...]], ...]
    # Read by ssh when nova copies a disk, not by a service: no restart when they change.
    nova_ssh: tuple[ManagedFile, ...] = ()

    def of(self, service: str) -> tuple[ManagedFile, ...]:
        return dict(self.services)[service]

    @property
    def nova(self) -> tuple[ManagedFile, ...]:
        return self.of(NOVA_COMPUTE)

    @property
    def agent(self) -> tuple[ManagedFile, ...]:
        """The network agents' files."""
        return tuple(f for service, files in self.services if service != NOVA_COMPUTE for f in files)

    @property
    def all(self) -> tuple[ManagedFile, ...]:
        return self.nova + self.agent + self.nova_ssh


def nova_service_auth(services: ServicesConfig, password: str) -> ServiceAuth:
    return ServiceAuth(
        auth_url=service_auth_url(services.keystone_url),
        username=services.nova_user,
        password=password,
        project_name=services.service_project,
        region=services.region,
    )


@dataclass(frozen=True)
class HostSpec:
    """What the rendered files say about the host itself (plain values: an address that was an
    Output is resolved by the time files are rendered)."""

    name: str
    address: str
    virt_type: str
    tunnel_address: Optional[str] = None  # "IP/PREFIX" (computeHosts[].tunnelAddress)


def render_host_files(
    host: HostSpec,
    services: ServicesConfig,
    network: NetworkConfig,
    pw: Passwords,
    overrides: Optional[Overrides] = None,
    facts: Optional[Mapping[str, str]] = None,
) -> HostFiles:
    """Every config file of one compute host, rendered with the operator's overrides (pure).
    `facts`: what the backend's `facts_from` row printed, when it has one."""
    overrides = overrides or {}
    backend = backend_of(network)
    nova_auth = nova_service_auth(services, pw.nova)
    # Without a neutron service password, nova talks to neutron as itself (it holds admin in the
    # service project, as the install guides set it up).
    neutron_auth = (
        ServiceAuth(
            auth_url=nova_auth.auth_url,
            username=services.neutron_user,
            password=pw.neutron,
            project_name=services.service_project,
            region=services.region,
        )
        if pw.neutron
        else nova_auth
    )
    transport = transport_url(services.rabbit_user, pw.rabbit, services.rabbit_host, services.rabbit_port)
    rabbit_options = tuple(rabbit_queue_options(services.rabbit_queues))
    nova_conf = render_nova_conf(
        NovaComputeSettings(
            host=host.name,
            my_ip=host.address,
            transport_url=transport,
            glance_api_servers=tuple(services.glance_api_servers),
            novncproxy_base_url=services.novncproxy_base_url,
            keystone=nova_auth,
            neutron=neutron_auth,
            neutron_url=services.neutron_url,
            region=services.region,
            rabbit_options=rabbit_options,
        ),
        for_file(overrides, NOVA_CONF),
    )
    nova_compute_conf = render_nova_compute_conf(host.virt_type, for_file(overrides, NOVA_COMPUTE_CONF))
    nova = (
        ManagedFile(NOVA_CONF, nova_conf, "root", "nova", "0640"),
        ManagedFile(NOVA_COMPUTE_CONF, nova_compute_conf, "root", "nova", "0640"),
    )
    agents = backend.render_files(
        FileInputs(
            host_name=host.name,
            address=host.address,
            tunnel_ip=tunnel_ip(host.tunnel_address, host.address),
            transport_url=transport,
            rabbit_options=rabbit_options,
            network=network,
            services=services,
            metadata_secret=pw.metadata,
            overrides_for=lambda path: for_file(overrides, path),
            facts=dict(facts or {}),
        )
    )
    nova_ssh = nova_migration_files(pw.migration_key) if pw.migration_key else ()
    return HostFiles(
        services=((NOVA_COMPUTE, nova), *((a.service, agents[a.service]) for a in backend.agents)),
        nova_ssh=nova_ssh,
    )
