"""The steps of one compute host, as one table: what each runs, where, on what stdin, and after what.

Each row becomes one pulumi-command `remote.Command` named `<host>-<name>`, child of the ComputeHost
component (compute_host.py builds them by walking the table). A row is data: a script in
components/scripts/ with its arguments, the stdin, the delete (what runs when the host leaves the
stack), the rows it follows and, for a restart or a reload, the service whose files trigger it. Values
that differ per host (its name, its address, the rendered files) are named with `V.<field>` and looked
up in the host's StepContext (compute_host.py) when the row is built.

The network backend (components/network/) brings its own rows (the "Network configuration" step),
its agents' restarts and its removal; `host_steps(backend)` puts them in their place. The README's
"How a host is provisioned" table lists these rows (a test checks it against `host_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from .network import NetworkBackend

HOST = "host"  # over SSH on the compute host
CONTROLLER = "controller"  # over SSH on the controller (the api-node), with nova's credentials on stdin

# Logging modes of remote.Command (pulumi_command.remote.Logging values): what is streamed to the engine.
STDOUT = "stdout"
STDOUT_AND_STDERR = "stdoutAndStderr"


@dataclass(frozen=True)
class Ref:
    """A value of the host's StepContext, by field name; a sequence is spread into the arguments."""

    name: str


class _Values:
    def __getattr__(self, name: str) -> Ref:
        if name.startswith("_"):
            raise AttributeError(name)
        return Ref(name)


V = _Values()

# The ids of the rows this row follows, comma-separated: in a command line, it makes a new run of
# any of them (a restart) re-run this row as an update.
DEPENDENCY_IDS = Ref("dependency_ids")
# The gate's option that carries them (gate_compute_host.sh only echoes it).
AFTER = "--after"


@dataclass(frozen=True)
class Computed:
    """A value computed from the host's StepContext (for what no one field holds)."""

    fn: Callable[[Any], Any]


Arg = Any  # a literal (str, int), a Ref or a Computed


@dataclass(frozen=True)
class Run:
    """One script of components/scripts/ and its arguments; a row's runs are chained with &&."""

    script: str
    args: tuple[Arg, ...] = ()

    def __init__(self, script: str, *args: Arg):
        object.__setattr__(self, "script", script)
        object.__setattr__(self, "args", args)


# depends_on markers: the previous batch's gates (the rollout), and every restart row of the host.
PREVIOUS_BATCH = "<previous batch>"
RESTARTS = "<restarts>"


@dataclass(frozen=True)
class Step:
    name: str  # the resource is "<host>-<name>"
    where: str  # HOST or CONTROLLER
    create: tuple[Run, ...]
    stdin: Optional[Arg] = None
    delete: tuple[Run | Ref, ...] = ()  # a Ref names Runs of the StepContext (the backend's)
    # Row names (or PREVIOUS_BATCH / RESTARTS); empty: the row before it in the table.
    depends_on: tuple[str, ...] = ()
    # A service: this row restarts it, triggered by a hash of the files that service reads.
    restart: Optional[str] = None
    # A service: this row reloads it (SIGHUP), triggered by the options it re-reads then (reload.py).
    reload: Optional[str] = None
    logging: Optional[str] = None
    # Not a command: the host's record (host_state.py), whose only script runs when a refresh reads it.
    record: bool = False

    @property
    def scripts(self) -> tuple[str, ...]:
        return (READ_SCRIPT,) if self.record else tuple(r.script for r in self.create)


def restart_step(name: str, service: str) -> Step:
    """A restart: triggered by a hash of the service's own files, so an unchanged file never restarts
    anything and a changed one (an override too) restarts only its service. The options the service
    re-reads on SIGHUP are left out of the hash: a change of only those reloads it (`reload_step`)."""
    return Step(name, HOST, create=(Run("restart_service.sh", service),), depends_on=("config",), restart=service)


def reload_step(name: str, service: str, restart: Step) -> Step:
    """A reload: SIGHUP to the running service, triggered by the values of the options it re-reads
    then (reload.py). It follows the service's restart, and sends nothing to a process that started
    after the files were written (a restart in the same run, a first converge): that one read them.
    The next rollout batch waits for it as for the gate (compute_host.py)."""
    return Step(name, HOST, create=(Run("reload_service.sh", service, Computed(lambda ctx: ctx.reload_files(service))),),
                depends_on=(restart.name,), reload=service, logging=STDOUT)


NOVA_COMPUTE = "nova-compute"
READ_SCRIPT = "read_host_state.sh"  # what the records row runs, on a refresh only

RESTART_NOVA_COMPUTE = restart_step("restart-nova-compute", NOVA_COMPUTE)

# Where the network backend's rows go: its "Network configuration" rows, and one restart per agent.
NETWORK_STEPS = Step("<network steps>", HOST, create=())
AGENT_RESTARTS = Step("<agent restarts>", HOST, create=())

# The rows, in order: the order the steps run in (restarts in parallel) and the reverse of the order
# their deletes run in when the host leaves the stack.
TABLE = (
    # Checked before the host is touched (the nova service user can do what the gate needs). Deleted
    # last, after the host stopped its services: forgets the host in nova (decommission, forget).
    Step(
        "controller",
        CONTROLLER,
        create=(Run("precheck_controller.sh", V.host_name, V.controller_checks),),
        stdin=V.clouds_yaml,
        delete=(Run("decommission_compute_host.sh", "forget", V.host_name),),
        depends_on=(PREVIOUS_BATCH,),
    ),
    # "Software installation", after the prechecks (nothing is touched when one fails).
    Step(
        "packages",
        HOST,
        create=(
            Run("precheck_host.sh", V.host_name, V.virt_type, V.bridge_interface, V.address, V.rabbit_host,
                V.rabbit_port),
            Run("install_packages.sh", V.package_checks, V.packages),
        ),
        logging=STDOUT_AND_STDERR,
    ),
    NETWORK_STEPS,
    # No command: the records of the host's files and services (host_record.py). Nothing runs when they
    # are made or updated, so they wait for nothing of the host (only the rollout). A refresh reads the
    # host (one session); what drifted there makes the next up write the files again (V.config_repair)
    # and restart the service concerned (the restarts' triggers): through those the steps follow them.
    Step("files", HOST, create=(), depends_on=(PREVIOUS_BATCH,), record=True),
    # "nova configuration" + "nova-compute configuration" + the network agents' files. Deleted after
    # the gate took the host out of nova: stops its services (and whatever the backend stops beyond
    # them); the files and packages stay.
    Step(
        "config",
        HOST,
        create=(Run("write_files.sh", V.config_repair),),
        stdin=V.file_bundle,
        delete=(Run("restart_service.sh", "--stop", V.stopped_services), V.network_removal),
        logging=STDOUT,  # paths only; stderr could echo input
    ),
    RESTART_NOVA_COMPUTE,
    AGENT_RESTARTS,
    reload_step("reload-nova-compute", NOVA_COMPUTE, RESTART_NOVA_COMPUTE),
    # "Final check", on the controller. A restart changes its command line (--after), which re-runs it
    # as an update: the gate is never replaced. A reload does not: the service never stopped. Deleted
    # first when the host leaves the stack: drains it in nova (refusing while servers run there).
    Step(
        "gate",
        CONTROLLER,
        create=(
            Run("gate_compute_host.sh", V.host_name, V.gate_timeout, V.gate_agent_args, "--address", V.address,
                AFTER, DEPENDENCY_IDS),
        ),
        stdin=V.clouds_yaml,
        delete=(Run("decommission_compute_host.sh", "drain", V.host_name),),
        depends_on=(RESTARTS,),
    ),
)


def host_steps(backend: "NetworkBackend") -> tuple[Step, ...]:
    """The table for one network backend: its rows in their places."""
    rows: list[Step] = []
    for row in TABLE:
        if row is NETWORK_STEPS:
            rows.extend(backend.steps)
        elif row is AGENT_RESTARTS:
            rows.extend(restart_step(a.restart_step, a.service) for a in backend.agents)
        else:
            rows.append(row)
    return tuple(rows)


def dependencies(table: tuple[Step, ...]) -> dict[str, tuple[str, ...]]:
    """Each row's predecessors by name (PREVIOUS_BATCH stays a marker): an empty depends_on is the
    command row before it (a record row is no step of the chain), RESTARTS every restart row."""
    restarts = tuple(s.name for s in table if s.restart)
    out: dict[str, tuple[str, ...]] = {}
    for i, step in enumerate(table):
        before = [s.name for s in table[:i] if not s.record]
        names = step.depends_on or ((before[-1],) if before else (PREVIOUS_BATCH,))
        out[step.name] = tuple(n for name in names for n in (restarts if name == RESTARTS else (name,)))
    known = {s.name for s in table} | {PREVIOUS_BATCH}
    for name, deps in out.items():
        unknown = [d for d in deps if d not in known]
        if unknown:
            raise ValueError(f"step {name} follows {unknown}, which are not rows of the table")
    return out
