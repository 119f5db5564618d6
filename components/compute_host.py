"""ComputeHost: the tutorial's compute-node chapter, done over SSH on one host.

Steps (each a pulumi-command `remote.Command`, child of the component, chained in this order):

0. controller - on the controller: the nova service user can do what the gate needs (before the host
               is touched)
1. packages  - prechecks (precheck_host.sh: /dev/kvm for kvm, the bridge NIC, RabbitMQ reachable), then
               "Software installation": nova-compute-qemu (or -kvm), the neutron L2 agent, bridge tools
2. bridge    - "Network configuration": br100 on the host's VM-network NIC, persisted and up now
3. config    - "nova configuration" + "nova-compute configuration" + the L2 agent's files
4. restart   - `service nova-compute restart` (and the agent), only when their files changed
5. gate      - "Final check", on the controller: map the host into its cell, wait until it is `up`

A host removed from the stack leaves nova as operators take one out, by the steps' deletes in reverse
order: the gate drains it (refusing while servers run there), the config step stops nova-compute and
the L2 agent, the controller step deletes its service record and agents. Packages and files stay.

Everything that can be pure (rendering files, choosing packages, batching) is a plain function here
or in render.py; the component only wires those to resources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
from pulumi_command import remote

from .config import NetworkConfig, ServicesConfig
from .overrides import Overrides, for_file
from .render import (
    LINUXBRIDGE_AGENT_INI,
    NEUTRON_CONF,
    NOVA_COMPUTE_CONF,
    NOVA_CONF,
    ManagedFile,
    NovaComputeSettings,
    ServiceAuth,
    content_hash,
    file_bundle,
    nova_migration_files,
    render_bridge_stanza,
    render_clouds_yaml,
    render_linuxbridge_agent_ini,
    render_neutron_conf,
    render_nova_compute_conf,
    render_nova_conf,
    service_auth_url,
    transport_url,
)
from .scripts import script_command

L2_AGENT = "neutron-linuxbridge-agent"

# The steps of one host, in order; each is a remote.Command named "<host>-<step>". "controller" and
# "gate" run on the controller, the rest on the host.
STEPS = ("controller", "packages", "bridge", "config", "restart-nova-compute", "restart-l2-agent", "gate")
CONTROLLER_STEPS = ("controller", "gate")


def host_packages(virt_type: str) -> list[str]:
    """What the tutorial installs, plus what today's compute node needs to plug ports and disks."""
    hypervisor = {"qemu": "nova-compute-qemu", "kvm": "nova-compute-kvm"}[virt_type]
    # bridge-utils + ifupdown: the interfaces.d stanza (bridge_ports); qemu-block-extra: RBD volumes.
    return [hypervisor, L2_AGENT, "bridge-utils", "ifupdown", "qemu-block-extra"]


@dataclass(frozen=True)
class Passwords:
    """Plain values, only ever handled inside an Output.apply of secret Outputs."""

    rabbit: str
    nova: str
    neutron: Optional[str] = None
    migration_key: Optional[str] = None  # nova's SSH key between compute hosts


@dataclass(frozen=True)
class HostFiles:
    nova: tuple[ManagedFile, ...]
    agent: tuple[ManagedFile, ...]
    # Read by ssh when nova copies a disk, not by a service: no restart when they change.
    nova_ssh: tuple[ManagedFile, ...] = ()

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


def render_host_files(
    host: HostSpec,
    services: ServicesConfig,
    network: NetworkConfig,
    pw: Passwords,
    overrides: Optional[Overrides] = None,
) -> HostFiles:
    """Every config file of one compute host, rendered with the operator's overrides (pure)."""
    overrides = overrides or {}
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
        ),
        for_file(overrides, NOVA_CONF),
    )
    nova_compute_conf = render_nova_compute_conf(host.virt_type, for_file(overrides, NOVA_COMPUTE_CONF))
    neutron_conf = render_neutron_conf(host.name, transport, for_file(overrides, NEUTRON_CONF))
    agent_ini = render_linuxbridge_agent_ini(
        network.physnet, network.bridge, host.address, network.tunnel_overlay, for_file(overrides, LINUXBRIDGE_AGENT_INI)
    )
    # Grouped by the service that reads them: a change restarts only that service.
    nova = (
        ManagedFile(NOVA_CONF, nova_conf, "root", "nova", "0640"),
        ManagedFile(NOVA_COMPUTE_CONF, nova_compute_conf, "root", "nova", "0640"),
    )
    agent = (
        ManagedFile(NEUTRON_CONF, neutron_conf, "root", "neutron", "0640"),
        ManagedFile(LINUXBRIDGE_AGENT_INI, agent_ini, "root", "neutron", "0640"),
    )
    nova_ssh = nova_migration_files(pw.migration_key) if pw.migration_key else ()
    return HostFiles(nova=nova, agent=agent, nova_ssh=nova_ssh)


_FACT = re.compile(r"^novalab-facts (.*)$", re.M)


def parse_facts(stdout: Optional[str]) -> dict[str, int]:
    """The `novalab-facts ram_mb=.. vcpus=.. disk_gb=..` line install_packages.sh prints last."""
    match = None
    for match in _FACT.finditer(stdout or ""):
        pass
    if match is None:
        return {}
    facts: dict[str, int] = {}
    for item in match.group(1).split():
        key, _, value = item.partition("=")
        if value.isdigit():
            facts[key] = int(value)
    return facts


def plan_batches(names: Sequence[str], batch_size: int) -> list[list[str]]:
    """Rollout order: all hosts at once (batch_size 0), else batch k waits for batch k-1's gates."""
    if batch_size < 0:
        raise ValueError("batch_size must be >= 0")
    if batch_size == 0 or batch_size >= len(names):
        return [list(names)] if names else []
    return [list(names[i : i + batch_size]) for i in range(0, len(names), batch_size)]


@dataclass
class SshAccess:
    user: str
    port: int
    private_key: pulumi.Input[str]  # a secret Output

    @property
    def sudo(self) -> bool:
        return self.user != "root"

    def connection(self, address: pulumi.Input[str], host_key: Optional[pulumi.Input[str]]) -> remote.ConnectionArgs:
        return remote.ConnectionArgs(
            host=address,
            port=self.port,
            user=self.user,
            private_key=self.private_key,
            host_key=host_key,
            dial_error_limit=20,
            per_dial_timeout=10,
        )


@dataclass
class ComputeHostArgs:
    """One compute host. `address` and `host_key` (and the controller's) may be Outputs, e.g. of
    hosts that are VMs another stack made (StackReference); the rest is plain config."""

    host_name: str  # nova's `host`: the gate finds the compute service and the L2 agent by it
    address: pulumi.Input[str]  # management address: SSH target, my_ip, the VXLAN endpoint
    bridge_interface: str
    virt_type: str
    controller_address: pulumi.Input[str]
    services: ServicesConfig
    network: NetworkConfig
    ssh: SshAccess
    rabbit_password: pulumi.Input[str]
    nova_password: pulumi.Input[str]
    neutron_password: Optional[pulumi.Input[str]] = None
    nova_migration_key: Optional[pulumi.Input[str]] = None  # a secret Output (render.nova_migration_files)
    host_key: Optional[pulumi.Input[str]] = None
    controller_host_key: Optional[pulumi.Input[str]] = None
    # {<file>: {<section>: {<key>: <value>}}} (overrides.py); a secret Output when set as a secret.
    config_overrides: pulumi.Input[Overrides] = field(default_factory=dict)
    gate_timeout_seconds: int = 300
    after: Sequence[pulumi.Resource] = field(default_factory=list)


def packages_command(args: ComputeHostArgs, address: str) -> str:
    """Prechecks (nothing is touched when one fails), then the packages."""
    sudo = args.ssh.sudo
    precheck = script_command(
        "precheck_host.sh",
        args.host_name,
        args.virt_type,
        args.bridge_interface,
        address,
        args.services.rabbit_host,
        args.services.rabbit_port,
        sudo=sudo,
    )
    return f"{precheck} && {script_command('install_packages.sh', *host_packages(args.virt_type), sudo=sudo)}"


class ComputeHost(pulumi.ComponentResource):
    """One compute node, provisioned as the tutorial does by hand; `gate` proves it is up."""

    controller: remote.Command
    packages: remote.Command
    bridge: remote.Command
    config: remote.Command
    restart_nova: remote.Command
    restart_agent: remote.Command
    gate: remote.Command

    def __init__(self, name: str, args: ComputeHostArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("novalab:index:ComputeHost", name, None, opts)
        ssh = args.ssh
        address = pulumi.Output.from_input(args.address)
        conn = ssh.connection(address, args.host_key)

        def step(suffix: str, depends_on: Sequence[pulumi.Resource], **kw) -> remote.Command:
            return remote.Command(
                f"{name}-{suffix}",
                connection=kw.pop("connection", conn),
                add_previous_output_in_env=False,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
                **kw,
            )

        # 0. the controller's part: checked before the host is touched (the nova service user can
        #    do what the gate needs); when the host leaves the stack this is deleted last, after the
        #    host stopped its services, and then forgets the host in nova (decommission, forget).
        clouds = pulumi.Output.secret(
            pulumi.Output.from_input(args.nova_password).apply(
                lambda pw: render_clouds_yaml(nova_service_auth(args.services, pw))
            )
        )
        controller = ssh.connection(args.controller_address, args.controller_host_key)
        self.controller = step(
            "controller",
            args.after,
            connection=controller,
            create=script_command("precheck_controller.sh", args.host_name, sudo=ssh.sudo),
            delete=script_command("decommission_compute_host.sh", "forget", args.host_name, sudo=ssh.sudo),
            stdin=clouds,
        )

        # 1. packages, after the prechecks
        self.packages = step(
            "packages",
            [self.controller],
            create=address.apply(lambda a: packages_command(args, a)),
            logging=remote.Logging.STDOUT_AND_STDERR,
        )

        # 2. bridge (the interface is config: the tutorial's text says eth2, its stanza eth1)
        self.bridge = step(
            "bridge",
            [self.packages],
            create=address.apply(
                lambda a: script_command("configure_bridge.sh", args.network.bridge, args.bridge_interface, a, sudo=ssh.sudo)
            ),
            stdin=render_bridge_stanza(args.network.bridge, args.bridge_interface),
            logging=remote.Logging.STDOUT_AND_STDERR,
        )

        # 3. config files: rendered from secrets, so the bundle and its hashes are secrets too.
        def render(values: list) -> HostFiles:
            addr, overrides, rabbit, nova, neutron, migration_key = values
            spec = HostSpec(args.host_name, addr, args.virt_type)
            pw = Passwords(rabbit, nova, neutron, migration_key)
            return render_host_files(spec, args.services, args.network, pw, overrides)

        files = pulumi.Output.all(
            address, args.config_overrides, args.rabbit_password, args.nova_password, args.neutron_password,
            args.nova_migration_key,
        ).apply(render)
        # When the host leaves the stack, this step's delete stops its services (after the gate's
        # delete took it out of nova); the files and packages stay.
        self.config = step(
            "config",
            [self.bridge],
            create=script_command("write_files.sh", sudo=ssh.sudo),
            delete=script_command("restart_service.sh", "--stop", "nova-compute", L2_AGENT, sudo=ssh.sudo),
            stdin=pulumi.Output.secret(files.apply(lambda f: file_bundle(f.all))),
            logging=remote.Logging.STDOUT,  # paths only; stderr could echo input
        )

        # 4. restarts: a trigger is the hash of the service's own files, so an unchanged file
        #    never restarts anything and a changed one (an override too) restarts only its service.
        self.restart_nova = step(
            "restart-nova-compute",
            [self.config],
            create=script_command("restart_service.sh", "nova-compute", sudo=ssh.sudo),
            triggers=[pulumi.Output.secret(files.apply(lambda f: content_hash(f.nova)))],
        )
        self.restart_agent = step(
            "restart-l2-agent",
            [self.config],
            create=script_command("restart_service.sh", L2_AGENT, sudo=ssh.sudo),
            triggers=[pulumi.Output.secret(files.apply(lambda f: content_hash(f.agent)))],
        )

        # 5. gate, on the controller. A restart changes its command line (--after), which re-runs it
        #    as an update: the gate is never replaced. Its delete runs only when the host leaves the
        #    stack: it drains the host in nova first (refusing while servers run there).
        gate_command = pulumi.Output.all(address, self.restart_nova.id, self.restart_agent.id).apply(
            lambda v: script_command(
                "gate_compute_host.sh", args.host_name, args.gate_timeout_seconds, "--with-l2-agent",
                "--address", v[0], "--after", f"{v[1]},{v[2]}", sudo=ssh.sudo,
            )
        )
        self.gate = step(
            "gate",
            [self.restart_nova, self.restart_agent],
            connection=controller,
            create=gate_command,
            delete=script_command("decommission_compute_host.sh", "drain", args.host_name, sudo=ssh.sudo),
            stdin=clouds,
        )

        facts = self.packages.stdout.apply(parse_facts)
        self.host_name = args.host_name
        self.address = address
        self.ram_mb = facts.apply(lambda f: f.get("ram_mb"))
        self.vcpus = facts.apply(lambda f: f.get("vcpus"))
        self.disk_gb = facts.apply(lambda f: f.get("disk_gb"))
        self.register_outputs(
            {
                "hostName": args.host_name,
                "address": address,
                "virtType": args.virt_type,
                "ramMb": self.ram_mb,
                "vcpus": self.vcpus,
                "diskGb": self.disk_gb,
                "gate": self.gate.stdout,
            }
        )
