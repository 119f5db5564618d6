"""Benchmark: novalab beside Ansible doing the same compute-host steps on the same hosts.

The peer is benchmarks/ansible/ (ansible-core, pinned in requirements-dev.txt), laid out as
kolla-ansible lays out a role: a task file per step, templates, a handler that restarts only what
changed and then waits for the compute service. Its inventory comes from the same stack config
(benchmarks/ansible_peer.py), so both run the same scripts with the same arguments and leave the same
files (compared here after every first converge, and in tests/test_peer_ansible.py).

The hosts are the lab's (`--on lab`, the default: a real OpenStack, lab/) or the scale benchmark's
fleet (`--on fleet`, tests/support/fleet.py: network namespaces with a real sshd, novalab's real
scripts, and stand-ins with a fixed time for the package manager, the service manager and the
controller's `openstack` / `nova-manage`). Each tool gets the same hosts, empty again for its first
converge (`lab/lab new-hosts`; a fleet brought up afresh); the tools alternate which goes first,
round by round. Four cases per tool:

  - the first converge of N hosts (default 2);
  - a no-op run (nothing changed);
  - one nova.conf value changed, `[DEFAULT] debug`: an option nova-compute re-reads on SIGHUP, so
    novalab reloads it (components/reload.py) and the peer restarts it, as kolla-ansible's and
    openstack-ansible's handlers do;
  - one more nova.conf value, `[DEFAULT] instance_build_timeout`, which nova-compute reads only when
    it starts: both tools restart it, and wait for it to be up.

Measured per case: wall time, SSH logins (from the machines' sshd logs) and the controller's API
requests, side by side with the ratio. On the lab, the API requests are those nova's service user
made from the controller (the precheck and the gate run there) in the nova, neutron and placement
API logs; on a fleet, the `openstack` and `nova-manage` runs its stand-ins logged.

    ./novalab benchmark --peers [--on lab|fleet] [--hosts N] [--rounds R]

Goal (issue 23): novalab at or below 1.0x Ansible on the first converge, 0.3x on the no-op and on the
one-value change (the reload case).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ansible_peer  # noqa: E402
import bench_scale  # noqa: E402
from support import lab  # noqa: E402
from support.engine import VENV, Pulumi, copy_novalab  # noqa: E402
from support.fleet import Fleet, Timings, running_fleet  # noqa: E402
from support.proctree import run_measured  # noqa: E402

LAB_STACK = "lab"  # `lab/lab stack` writes the lab stack's config; here in a backend of the benchmark's own

# The one-value changes, as an operator makes them (options the tutorial never sets): the overrides
# after each.
CHANGES = {
    "one value: reload": {"nova.conf": {"DEFAULT": {"debug": "true"}}},
    "one value: restart": {"nova.conf": {"DEFAULT": {"debug": "true", "instance_build_timeout": "0"}}},
}
CASES = ("first converge", "no-op", *CHANGES)
TOOLS = ("novalab", "Ansible")


@dataclass
class Run:
    wall: float
    cpu: float
    sessions: int  # SSH logins on the hosts and the controller
    api_calls: int  # the controller's API requests (lab) or openstack / nova-manage runs (fleet)


@dataclass
class ToolResult:
    runs: dict[str, list[Run]] = field(default_factory=lambda: {c: [] for c in CASES})
    files: dict[str, dict[str, Optional[str]]] = field(default_factory=dict)  # host -> path -> content


def described(path: Path) -> Optional[str]:
    """A file as the comparison sees it: its and its directory's owner, group and mode, then its text."""
    if not path.exists():
        return None
    return " ".join(f"{st.st_uid}:{st.st_gid} {st.st_mode:o}" for st in (path.stat(), path.parent.stat())) \
        + "\n" + path.read_text()


class FleetTarget:
    """A fleet of N hosts (tests/support/fleet.py), brought up afresh for each tool."""

    def __init__(self, size: int, timings: Timings):
        self.size = size
        self.timings = timings
        self.fleet: Optional[Fleet] = None

    @contextlib.contextmanager
    def fresh(self, workdir: Path) -> Iterator["FleetTarget"]:
        with running_fleet(self.size, self.timings, workdir / "fleet") as fleet:
            self.fleet = fleet
            yield self

    @property
    def hosts(self) -> list:
        return self.fleet.hosts

    def sessions(self) -> int:
        return self.fleet.sessions()

    def api_calls(self) -> int:
        return len(self.fleet.controller.calls())

    def files(self, paths: list[str]) -> dict[str, dict[str, Optional[str]]]:
        """What each host holds at PATHS under /etc (the machines' own overlay; the rest is shared)."""
        return {h.name: {p: described(h.directory / "etc.upper" / p.removeprefix("/etc/"))
                         for p in paths if p.startswith("/etc/")} for h in self.fleet.hosts}

    def novalab_stack(self, workdir: Path) -> Pulumi:
        return bench_scale.make_stack(self.fleet, workdir)

    def config(self) -> tuple[dict, dict]:
        """The stack's plain config and its secrets."""
        return self.fleet.stack_config(), self.fleet.secrets()


class LabTarget:
    """The lab's compute hosts on its running cloud; `lab/lab new-hosts` empties them for each tool."""

    # What the benchmark leaves out of the lab's stack: the cloud's resources (the peer provisions hosts).
    CLOUD_KEYS = ("novalab:keypair", "novalab:flavors", "novalab:adoptFlavors", "novalab:servers", "novalab:ec2Credentials")

    def __init__(self, size: int):
        self.size = size
        self.nova_user = ""
        self.pulumi: Optional[Pulumi] = None

    @contextlib.contextmanager
    def fresh(self, workdir: Path) -> Iterator["LabTarget"]:
        """Empty hosts, and the stack of them (new host keys) that both tools take their config from."""
        if len(self.hosts) != self.size:
            raise RuntimeError(f"the lab has {len(self.hosts)} compute hosts, not {self.size}: lab/lab up --hosts {self.size}")
        lab.sh(str(lab.LAB), "new-hosts", timeout=1200)
        self.nova_user = lab.openstack("user", "show", "nova", "-f", "value", "-c", "id").strip()
        self.pulumi = self._stack(workdir)
        yield self

    @property
    def hosts(self) -> list[str]:
        return [h["name"] for h in lab.lab_stack()["novalab:computeHosts"]]

    def sessions(self) -> int:
        return sum(lab.ssh_sessions().values())

    def api_calls(self) -> int:
        controller = lab.lab_stack()["novalab:controller"]["address"]
        needle = f"{self.nova_user} "
        total = 0
        for name in ("nova-api-wsgi.log", "neutron-server.log", "placement-api.log"):
            path = lab.LOGS / name
            if path.exists():
                total += sum(1 for line in path.read_text(errors="replace").splitlines()
                             if needle in line and f"] {controller} \"" in line)
        return total

    def files(self, paths: list[str]) -> dict[str, dict[str, Optional[str]]]:
        return {h: {p: described(lab.LAB_DIR / "hosts" / h / "root" / p.lstrip("/")) for p in paths} for h in self.hosts}

    def _stack(self, workdir: Path) -> Pulumi:
        """A stack of the lab's hosts in WORKDIR (its own file backend): `lab/lab stack` writes its
        config with the lab's secrets, less the cloud's resources."""
        project = copy_novalab(workdir / "project", {}, LAB_STACK)
        pulumi = Pulumi(project, workdir / "state", stack=LAB_STACK)
        pulumi.bin = bench_scale.private_engine(pulumi.bin, workdir)
        config_file = project / f"Pulumi.{LAB_STACK}.yaml"
        config_file.unlink()
        # `lab/lab stack` makes the stack in this backend (the encryption salt its secrets need).
        lab.sh(str(lab.LAB), "stack", str(config_file), timeout=300, env=pulumi.env)  # the passphrase: not an argument
        pulumi.init()
        doc = yaml.safe_load(config_file.read_text())
        doc["config"] = {k: v for k, v in doc["config"].items() if k not in self.CLOUD_KEYS}
        config_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        return pulumi

    def novalab_stack(self, workdir: Path) -> Pulumi:
        return self.pulumi

    def config(self) -> tuple[dict, dict]:
        """The stack's plain config and its secrets, as the program reads them."""
        shown = json.loads(self.pulumi.run("config", "-s", self.pulumi.stack, "--show-secrets", "--json").stdout)
        raw = {k: v["objectValue"] if "objectValue" in v else v["value"] for k, v in shown.items() if not v.get("secret")}
        return raw, {k: v["value"] for k, v in shown.items() if v.get("secret")}


Target = FleetTarget | LabTarget


class Novalab:
    """novalab's program through the real engine, as ./novalab up runs it (bench_scale.up)."""

    name = "novalab"

    def __init__(self, target: Target, workdir: Path):
        self.target = target
        self.workdir = workdir
        self.pulumi = target.novalab_stack(workdir)
        self.config, self.secrets = target.config()

    def change(self, overrides: dict) -> None:
        self.pulumi.config("configOverrides", json.dumps(overrides))

    def run(self, case: str) -> Run:
        calls = self.target.api_calls()
        up = bench_scale.up(self.pulumi, self.target, self.workdir / f"{case.replace(' ', '-')}.log")
        if case == CASES[0] and bench_scale.passed_gates(self.pulumi) != len(self.target.hosts):
            raise RuntimeError("novalab: not every host passed its gate on the first converge")
        if case == CASES[1] and (up.sessions or set(up.summary) != {"unchanged"}):
            raise RuntimeError(f"novalab's no-op was none: {up.summary}, {up.sessions} SSH sessions")
        return Run(up.measured.wall, up.measured.cpu, up.sessions, self.target.api_calls() - calls)


class Ansible:
    """ansible-playbook benchmarks/ansible/site.yml on the peer's inventory of the same stack."""

    name = "Ansible"

    def __init__(self, target: Target, workdir: Path):
        self.target = target
        self.workdir = workdir
        self.config, self.secrets = target.config()
        self.inventory = ansible_peer.write_inventory(self.config, self.secrets, workdir / "inventory")
        self.runs = 0

    def change(self, overrides: dict) -> None:
        self.config = {**self.config, "novalab:configOverrides": overrides}
        self.inventory = ansible_peer.write_inventory(self.config, self.secrets, self.workdir / "inventory")

    def run(self, case: str) -> Run:
        self.runs += 1
        # A connection-reuse directory of its own per run: a master another run left open would save
        # this run its logins.
        control = self.workdir / f"cp-{self.runs}"
        control.mkdir()
        env = {**os.environ, "ANSIBLE_CONFIG": str(ansible_peer.PLAYBOOK.parent / "ansible.cfg"),
               "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control), "ANSIBLE_LOCAL_TEMP": str(self.workdir / "tmp"),
               "ANSIBLE_HOME": str(self.workdir / "home"), "ANSIBLE_NOCOLOR": "1"}
        argv = [str(VENV / "bin" / "ansible-playbook"), "-i", str(self.inventory), str(ansible_peer.PLAYBOOK)]
        sessions, calls = self.target.sessions(), self.target.api_calls()
        measured = run_measured(argv, env=env, cwd=self.workdir, log=self.workdir / f"ansible-{self.runs}.log")
        if measured.returncode != 0:
            raise RuntimeError(f"ansible-playbook failed ({measured.returncode}):\n{measured.output[-4000:]}")
        return Run(measured.wall, measured.cpu, self.target.sessions() - sessions, self.target.api_calls() - calls)


def one_tool(tool_class, target: Target, workdir: Path, result: ToolResult) -> None:
    """The cases of one tool on empty hosts; the files it left after its first converge."""
    with target.fresh(workdir):
        tool = tool_class(target, workdir)
        paths = ansible_peer.managed_paths(tool.config, tool.secrets)
        for case in CASES:
            if case in CHANGES:
                tool.change(CHANGES[case])
            run = tool.run(case)
            result.runs[case].append(run)
            print(f"  {tool.name:8} {case:20} {run.wall:6.1f} s, {run.sessions} SSH logins, {run.api_calls} API calls",
                  flush=True)
            if case == CASES[0]:
                result.files = target.files(paths)


def differences(a: dict, b: dict) -> list[str]:
    """Where the two tools' files differ, or where either has none."""
    where = {(host, path) for side in (a, b) for host in side for path in side[host]}
    return sorted(f"{host} {path}" for host, path in where
                  if a.get(host, {}).get(path) is None or a.get(host, {}).get(path) != b.get(host, {}).get(path))


def print_table(results: dict[str, ToolResult], rounds: int) -> None:
    nl, an = results["novalab"], results["Ansible"]
    print(f"\nMedian of {rounds} round(s); ratio = novalab / Ansible, measured in this run.")
    print("| case | novalab s | Ansible s | ratio | SSH logins novalab / Ansible | API requests novalab / Ansible "
          "| CPU s novalab / Ansible |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for case in CASES:
        med = lambda runs, attr: statistics.median(getattr(r, attr) for r in runs)  # noqa: E731
        n, a = nl.runs[case], an.runs[case]
        print(f"| {case} | {med(n, 'wall'):.1f} | {med(a, 'wall'):.1f} | {med(n, 'wall') / med(a, 'wall'):.2f} | "
              f"{med(n, 'sessions'):g} / {med(a, 'sessions'):g} | {med(n, 'api_calls'):g} / {med(a, 'api_calls'):g} | "
              f"{med(n, 'cpu'):.1f} / {med(a, 'cpu'):.1f} |")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--on", choices=("lab", "fleet"), default="lab", help="the lab's hosts (default) or a fleet")
    parser.add_argument("--hosts", type=int, default=2, help="compute hosts (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, alternating which tool goes first (default 1)")
    args = parser.parse_args(argv)
    if args.hosts < 1 or args.rounds < 1:
        parser.error("--hosts and --rounds must be at least 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.on == "lab":
        if lab.sh(str(lab.LAB), "status", check=False).returncode != 0:
            parser.error("the lab is not up (lab/lab up --hosts N first), or use --on fleet")
        target: Target = LabTarget(args.hosts)
        release, network = lab.lab_cloud()
        print(f"the lab: {release} with {network}; {args.hosts} hosts; cores: {os.cpu_count()}")
    else:
        timings = Timings()
        target = FleetTarget(args.hosts, timings)
        print(f"a fleet; stand-ins: {timings.describe()}; {args.hosts} hosts; cores: {os.cpu_count()}")
    results = {name: ToolResult() for name in TOOLS}
    tools = {"novalab": Novalab, "Ansible": Ansible}
    for r in range(args.rounds):
        order = TOOLS if r % 2 == 0 else TOOLS[::-1]
        print(f"round {r + 1}: {' then '.join(order)}", flush=True)
        for name in order:
            workdir = Path(tempfile.mkdtemp(prefix="nlpeer-", dir="/var/tmp"))
            workdir.chmod(0o755)
            try:
                started = time.monotonic()
                one_tool(tools[name], target, workdir, results[name])
                print(f"  ({name}: {time.monotonic() - started:.0f} s with its empty hosts)", flush=True)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        diff = differences(results["novalab"].files, results["Ansible"].files)
        if diff:
            raise RuntimeError(f"the two tools left different files: {', '.join(diff)}")
    print("files the two left on each host after the first converge: the same")
    print_table(results, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
