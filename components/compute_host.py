"""ComputeHost: the tutorial's compute-node chapter, done over SSH on one host.

The component walks the step table (steps.py: `host_steps` of the stack's network backend) and makes
one pulumi-command `remote.Command` per row, child of the component, in the table's order: the
controller check, the packages (after the prechecks), the backend's "Network configuration", the
config files, the restarts (in parallel), nova-compute's reload after its restart (SIGHUP, for the
options it re-reads then), and the gate ("Final check", on the controller); and, no command,
`<host>-files`: the records of the host's files and services a refresh reads (host_record.py).

A host removed from the stack leaves nova as operators take one out, by the steps' deletes in reverse
order: the gate drains it (refusing while servers run there), the config step stops nova-compute and
the network agents, the controller step deletes its service record and agents. Packages and files stay.

Everything that can be pure (rendering files, choosing packages, batching) is a plain function in
host_files.py, render.py and components/network/; the component only wires those to resources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Optional, Sequence

import pulumi
from pulumi_command import remote

from .config import NetworkConfig, RolloutConfig, ServicesConfig
from .host_files import HostFiles, HostSpec, Passwords, host_packages, nova_service_auth, render_host_files
from .host_record import config_repair, host_record, restart_trigger
from .network import NetworkBackend, backend_of
from .overrides import Overrides
from .reload import RELOADABLE, reload_hash, split_reloadable
from .render import file_bundle, render_clouds_yaml
from .scripts import script_command
from .steps import (
    CONTROLLER, DEPENDENCY_IDS, NOVA_COMPUTE, PREVIOUS_BATCH, Computed, Ref, Run, Step, dependencies, host_steps,
)

_DEFAULT_TABLE = host_steps(backend_of(None))
# The command steps of one host with the default (Linux bridge) backend, in order; each is a
# remote.Command named "<host>-<step>" (the record row, "<host>-files", is not one).
STEPS = tuple(s.name for s in _DEFAULT_TABLE if not s.record)
CONTROLLER_STEPS = tuple(s.name for s in _DEFAULT_TABLE if s.where == CONTROLLER)

_FACT = re.compile(r"^novalab-facts (.*)$", re.M)


def parse_fact_words(stdout: Optional[str]) -> dict[str, str]:
    """The last `novalab-facts key=value ...` line a step printed, as text."""
    match = None
    for match in _FACT.finditer(stdout or ""):
        pass
    if match is None:
        return {}
    return dict(item.partition("=")[::2] for item in match.group(1).split() if "=" in item)


def parse_facts(stdout: Optional[str]) -> dict[str, int]:
    """The `novalab-facts ram_mb=.. vcpus=.. disk_gb=..` line install_packages.sh prints last."""
    return {k: int(v) for k, v in parse_fact_words(stdout).items() if v.isdigit()}


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

    # How hard a step tries to reach its host: the provider retries a failed dial with backoff, and
    # one dial (TCP connect and SSH handshake) may take this many seconds.
    DIAL_ERROR_LIMIT = 20
    PER_DIAL_TIMEOUT = 10

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
            dial_error_limit=self.DIAL_ERROR_LIMIT,
            per_dial_timeout=self.PER_DIAL_TIMEOUT,
        )


@dataclass
class ComputeHostArgs:
    """One compute host. `address` and `host_key` (and the controller's) may be Outputs, e.g. of
    hosts that are VMs another stack made (StackReference); the rest is plain config."""

    host_name: str  # nova's `host`: the gate finds the compute service and the network agents by it
    address: pulumi.Input[str]  # management address: SSH target, my_ip, the tunnel endpoint
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
    metadata_secret: Optional[pulumi.Input[str]] = None  # a secret Output: the OVN metadata agent's
    tunnel_address: Optional[str] = None  # "IP/PREFIX" on the provider bridge (Open vSwitch backends)
    host_key: Optional[pulumi.Input[str]] = None
    controller_host_key: Optional[pulumi.Input[str]] = None
    # {<file>: {<section>: {<key>: <value>}}} (overrides.py); a secret Output when set as a secret.
    config_overrides: pulumi.Input[Overrides] = field(default_factory=dict)
    gate_timeout_seconds: int = RolloutConfig.model_fields["gate_timeout_seconds"].default
    after: Sequence[pulumi.Resource] = field(default_factory=list)


def unavailable_options(option: str, backend: NetworkBackend, values) -> tuple[str, ...]:
    """OPTION, VALUES..., WHY for a script that refuses the backend where it no longer exists."""
    u = backend.unavailable
    return (option, *values(u), u.why) if u else ()


class StepContext:
    """The values the table's rows name (`V.<name>`), for one host. `steps` fills as rows are made,
    so a value read from a step's output (the files, from the backend's facts) is built on first use."""

    def __init__(self, args: ComputeHostArgs, backend: NetworkBackend, address: pulumi.Output[str]):
        self.args = args
        self.backend = backend
        self.steps: dict[str, pulumi.Resource] = {}
        self.host_name = args.host_name
        self.virt_type = args.virt_type
        self.bridge_interface = args.bridge_interface
        self.bridge = args.network.bridge
        self.address = address
        self.rabbit_host = args.services.rabbit_host
        self.rabbit_port = args.services.rabbit_port
        self.gate_timeout = args.gate_timeout_seconds
        self.packages = tuple(host_packages(args.virt_type, backend))
        self.services = (NOVA_COMPUTE, *(a.service for a in backend.agents))
        self.stopped_services = self.services
        self.network_removal = backend.removal
        self.gate_agent_args = tuple(arg for t in backend.gate_agent_types for arg in ("--agent-type", t))
        self.package_checks = unavailable_options("--refuse-from", backend, lambda u: (u.package, u.release.neutron_version))
        self.controller_checks = (
            *unavailable_options("--refuse-from-microversion", backend, lambda u: (u.release.compute_microversion,)),
            "--rabbit-queues", args.services.rabbit_queues,
        )

    @cached_property
    def clouds_yaml(self) -> pulumi.Output[str]:
        """nova's service user's credentials for the controller's steps (a secret)."""
        return pulumi.Output.secret(
            pulumi.Output.from_input(self.args.nova_password).apply(
                lambda pw: render_clouds_yaml(nova_service_auth(self.args.services, pw))
            )
        )

    def render(self, address: str, pw: Passwords, overrides: Overrides, facts_stdout: Optional[str] = None) -> HostFiles:
        a = self.args
        return render_host_files(HostSpec(a.host_name, address, a.virt_type, a.tunnel_address), a.services, a.network,
                                 pw, overrides, parse_fact_words(facts_stdout))

    @property
    def facts_stdout(self) -> Optional[pulumi.Output[str]]:  # what the backend's `facts_from` row printed
        return self.steps[self.backend.facts_from].stdout if self.backend.facts_from else None

    def rendered(self, make) -> pulumi.Output:
        """make(address, passwords, overrides, overrides are a secret, facts) over the resolved inputs."""
        a = self.args
        overrides = pulumi.Output.from_input(a.config_overrides)
        return pulumi.Output.all(
            self.address, overrides, pulumi.Output.from_input(overrides.is_secret()), a.rabbit_password, a.nova_password,
            a.neutron_password, a.nova_migration_key, a.metadata_secret, self.facts_stdout,
        ).apply(lambda v: make(v[0], Passwords(*v[3:8]), v[1], v[2], v[8]))

    @cached_property
    def files(self) -> pulumi.Output[HostFiles]:
        """Rendered from secrets, so the bundle and its hashes are secrets too."""
        return self.rendered(lambda addr, pw, overrides, _, facts: self.render(addr, pw, overrides, facts))

    @property
    def config_repair(self) -> pulumi.Input:
        return config_repair(self.steps.get("files"))

    @cached_property
    def file_bundle(self) -> pulumi.Output[str]:
        return pulumi.Output.secret(self.files.apply(lambda f: file_bundle(f.all)))

    @cached_property
    def restart_files(self) -> pulumi.Output[HostFiles]:
        """The files as the restarts see them: without the options a reload applies (reload.py)."""
        def without_reloadable(addr, pw, overrides, _, facts) -> Optional[HostFiles]:
            rest, reloads = split_reloadable(overrides)
            return self.render(addr, pw, rest, facts) if reloads else None

        return pulumi.Output.all(self.files, self.rendered(without_reloadable)).apply(lambda v: v[1] or v[0])

    def restart_trigger(self, service: str) -> pulumi.Output[str]:
        return restart_trigger(self.restart_files, self.steps.get("files"), service)

    def reload_trigger(self, service: str) -> pulumi.Output[str]:
        """A hash of the values of the options SERVICE re-reads on SIGHUP (a secret, as the overrides
        may be)."""
        overrides = pulumi.Output.from_input(self.args.config_overrides)
        return pulumi.Output.secret(overrides.apply(lambda o: reload_hash(split_reloadable(o)[1].get(service, {}))))

    def reload_files(self, service: str) -> tuple[str, ...]:
        """The files whose options SERVICE re-reads on SIGHUP (reload_service.sh compares their last
        write with the process's start)."""
        return RELOADABLE[service][0]

    def trigger(self, step: Step) -> Optional[list[pulumi.Output[str]]]:
        """A row's triggers: a restart's or a reload's hash; none for the other rows."""
        if step.restart:
            return [self.restart_trigger(step.restart)]
        return [self.reload_trigger(step.reload)] if step.reload else None

    def value(self, arg: Any, deps: Sequence[pulumi.Resource]) -> list:
        """A row's argument as the values it stands for (a sequence is spread)."""
        if arg == DEPENDENCY_IDS:
            value: Any = pulumi.Output.all(*(d.id for d in deps)).apply(",".join)
        elif isinstance(arg, Ref):
            value = getattr(self, arg.name)
        elif isinstance(arg, Computed):
            value = arg.fn(self)
        else:
            value = arg
        return list(value) if isinstance(value, (list, tuple)) else [value]

    def command(self, runs: Sequence[Run | Ref], deps: Sequence[pulumi.Resource]) -> Optional[pulumi.Input[str]]:
        """The command line of a row's runs, chained with &&: plain text unless an argument is an Output."""
        runs = [r for item in runs for r in ((item,) if isinstance(item, Run) else getattr(self, item.name))]
        if not runs:
            return None
        parts = [(run.script, [v for arg in run.args for v in self.value(arg, deps)]) for run in runs]
        sudo = self.args.ssh.sudo

        def line(parts: list) -> str:
            return " && ".join(script_command(script, *args, sudo=sudo) for script, args in parts)

        flat = [v for _, args in parts for v in args]
        if not any(isinstance(v, pulumi.Output) for v in flat):
            return line(parts)

        def fill(values: list) -> str:
            it = iter(values)
            spread = lambda v: list(v) if isinstance(v, (list, tuple)) else [v]  # noqa: E731 (an Output of a sequence)
            return line([(script, [w for _ in args for w in spread(next(it))]) for script, args in parts])

        return pulumi.Output.all(*flat).apply(fill)


def make_row(parent: pulumi.Resource, name: str, step: Step, ctx: StepContext, deps: list, connection) -> pulumi.Resource:
    """The resource of one row of the table for host `name`: a remote.Command, or the host's records."""
    opts = pulumi.ResourceOptions(parent=parent, depends_on=deps)
    if step.record:
        return host_record(ctx, f"{name}-{step.name}", opts)
    return remote.Command(
        f"{name}-{step.name}",
        connection=connection,
        create=ctx.command(step.create, deps),
        delete=ctx.command(step.delete, deps),
        stdin=ctx.value(step.stdin, deps)[0] if step.stdin is not None else None,
        triggers=ctx.trigger(step),
        logging=remote.Logging(step.logging) if step.logging else None,
        add_previous_output_in_env=False,
        opts=opts,
    )


class ComputeHost(pulumi.ComponentResource):
    """One compute node, provisioned as the tutorial does by hand; `gate` proves it is up."""

    steps: dict[str, pulumi.Resource]

    def __init__(self, name: str, args: ComputeHostArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("novalab:index:ComputeHost", name, None, opts)
        backend = backend_of(args.network)
        address = pulumi.Output.from_input(args.address)
        ctx = StepContext(args, backend, address)
        connections = {
            CONTROLLER: args.ssh.connection(args.controller_address, args.controller_host_key),
        }
        host_connection = args.ssh.connection(address, args.host_key)
        table = host_steps(backend)
        for step, names in zip(table, dependencies(table).values()):
            deps = [d for n in names for d in (list(args.after) if n == PREVIOUS_BATCH else [ctx.steps[n]])]
            ctx.steps[step.name] = make_row(self, name, step, ctx, deps, connections.get(step.where, host_connection))
        self.steps = ctx.steps
        # What the next rollout batch waits for: the gate, and the reloads (a reload re-runs no gate).
        self.rollout_done = [ctx.steps[s.name] for s in table if s.reload] + [self.gate]

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

    @property
    def packages(self) -> remote.Command:
        return self.steps["packages"]

    @property
    def config(self) -> remote.Command:
        return self.steps["config"]

    @property
    def gate(self) -> remote.Command:
        return self.steps["gate"]


def packages_command(args: ComputeHostArgs, address: str) -> str:
    """The packages step's command line for one host (prechecks, then the packages)."""
    ctx = StepContext(args, backend_of(args.network), address)
    return ctx.command(next(s for s in host_steps(ctx.backend) if s.name == "packages").create, [])

