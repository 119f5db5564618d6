"""Benchmark: novalab beside Ansible doing the same compute-host steps on the same hosts.

The peer is benchmarks/ansible/ (ansible-core, pinned in requirements-dev.txt), laid out as
kolla-ansible lays out a role: a task file per step, templates, a handler that restarts only what
changed and then waits for the compute service. Its inventory comes from the same stack config
(benchmarks/ansible_peer.py), so both run the same scripts with the same arguments and leave the same
files (compared here after every first converge, and in tests/test_peer_ansible.py).

The hosts are the scale benchmark's fleet (tests/support/fleet.py): network namespaces with a real
sshd, novalab's real scripts, and stand-ins with a fixed time for the package manager, the service
manager and the controller's `openstack` / `nova-manage`. Each tool gets the same fleet, brought up
fresh (same names, addresses and keys of its kind) for its first converge; the tools alternate which
goes first, round by round. Three cases per tool:

  - the first converge of N hosts (default 2);
  - a no-op run (nothing changed);
  - one nova.conf value changed (configOverrides [DEFAULT] debug), which restarts nova-compute.

Measured per case: wall time, SSH logins (from the machines' sshd logs), and the controller's API
calls (the `openstack` and `nova-manage` runs its stand-ins logged), side by side with the ratio.

    ./novalab benchmark --peers [--hosts N] [--rounds R]

Goal (issue 23): novalab at or below 1.0x Ansible on the first converge, 0.3x on the no-op and on the
one-value change.
"""

from __future__ import annotations

import argparse
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
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ansible_peer  # noqa: E402
import bench_scale  # noqa: E402
from support.engine import VENV  # noqa: E402
from support.fleet import Fleet, Timings, running_fleet  # noqa: E402
from support.proctree import run_measured  # noqa: E402

CASES = ("first converge", "no-op", "one nova.conf value")
# The one-value change: an option the tutorial never sets, as an operator adds it.
CHANGE = {"nova.conf": {"DEFAULT": {"debug": "true"}}}
TOOLS = ("novalab", "Ansible")


@dataclass
class Run:
    wall: float
    cpu: float
    sessions: int  # SSH logins on the fleet's machines
    api_calls: int  # openstack / nova-manage runs on the controller


@dataclass
class ToolResult:
    runs: dict[str, list[Run]] = field(default_factory=lambda: {c: [] for c in CASES})
    files: dict[str, dict[str, Optional[str]]] = field(default_factory=dict)  # host -> path -> content


def api_calls(fleet: Fleet) -> int:
    return len(fleet.controller.calls())


def host_files(fleet: Fleet, paths: list[str]) -> dict[str, dict[str, Optional[str]]]:
    """What each host holds at PATHS (under /etc, the machines' own overlay)."""
    return {h.name: {p: h.file(p) for p in paths} for h in fleet.hosts}


def managed_paths(fleet: Fleet, workdir: Path) -> list[str]:
    """The /etc files novalab writes on the fleet's first host, as the peer's inventory lists them."""
    inv = ansible_peer.read_inventory(ansible_peer.write_inventory(fleet.stack_config(), fleet.secrets(), workdir / "paths"))
    hosts = inv["all"]["children"]["compute"]["hosts"]
    return [f["path"] for f in next(iter(hosts.values()))["novalab_files"] if f["path"].startswith("/etc/")]


class Novalab:
    """novalab's program through the real engine, as ./novalab up runs it (bench_scale.up)."""

    name = "novalab"

    def __init__(self, fleet: Fleet, workdir: Path):
        self.fleet = fleet
        self.workdir = workdir
        self.pulumi = bench_scale.make_stack(fleet, workdir)

    def change(self) -> None:
        self.pulumi.config("configOverrides", json.dumps(CHANGE))

    def run(self, case: str) -> Run:
        calls = api_calls(self.fleet)
        up = bench_scale.up(self.pulumi, self.fleet, self.workdir / f"{case.replace(' ', '-')}.log")
        if case == CASES[0] and bench_scale.passed_gates(self.pulumi) != len(self.fleet.hosts):
            raise RuntimeError("novalab: not every host passed its gate on the first converge")
        if case == CASES[1] and (up.sessions or set(up.summary) != {"unchanged"}):
            raise RuntimeError(f"novalab's no-op was none: {up.summary}, {up.sessions} SSH sessions")
        return Run(up.measured.wall, up.measured.cpu, up.sessions, api_calls(self.fleet) - calls)


class Ansible:
    """ansible-playbook benchmarks/ansible/site.yml on the peer's inventory of the same stack."""

    name = "Ansible"

    def __init__(self, fleet: Fleet, workdir: Path):
        self.fleet = fleet
        self.workdir = workdir
        self.config = fleet.stack_config()
        self.inventory = ansible_peer.write_inventory(self.config, fleet.secrets(), workdir / "inventory")
        self.runs = 0

    def change(self) -> None:
        self.config = {**self.config, "novalab:configOverrides": CHANGE}
        self.inventory = ansible_peer.write_inventory(self.config, self.fleet.secrets(), self.workdir / "inventory")

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
        sessions, calls = self.fleet.sessions(), api_calls(self.fleet)
        measured = run_measured(argv, env=env, cwd=self.workdir, log=self.workdir / f"ansible-{self.runs}.log")
        if measured.returncode != 0:
            raise RuntimeError(f"ansible-playbook failed ({measured.returncode}):\n{measured.output[-4000:]}")
        return Run(measured.wall, measured.cpu, self.fleet.sessions() - sessions, api_calls(self.fleet) - calls)


def one_tool(tool_class, size: int, timings: Timings, workdir: Path, result: ToolResult) -> None:
    """The three cases of one tool on a fresh fleet; the files it left after its first converge."""
    with running_fleet(size, timings, workdir / "fleet") as fleet:
        tool = tool_class(fleet, workdir)
        paths = managed_paths(fleet, workdir)
        for case in CASES:
            if case == CASES[2]:
                tool.change()
            run = tool.run(case)
            result.runs[case].append(run)
            print(f"  {tool.name:8} {case:20} {run.wall:6.1f} s, {run.sessions} SSH logins, {run.api_calls} API calls",
                  flush=True)
            if case == CASES[0]:
                result.files = host_files(fleet, paths)


def differences(a: dict, b: dict) -> list[str]:
    return [f"{host} {path}" for host in a for path in a[host] if a[host][path] != b.get(host, {}).get(path)]


def print_table(results: dict[str, ToolResult], rounds: int) -> None:
    nl, an = results["novalab"], results["Ansible"]
    print(f"\nMedian of {rounds} round(s); ratio = novalab / Ansible, measured in this run.")
    print("| case | novalab s | Ansible s | ratio | SSH logins novalab / Ansible | controller API calls novalab / Ansible "
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
    parser.add_argument("--hosts", type=int, default=2, help="compute hosts (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, alternating which tool goes first (default 1)")
    args = parser.parse_args(argv)
    if args.hosts < 1 or args.rounds < 1:
        parser.error("--hosts and --rounds must be at least 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    timings = Timings()
    print(f"stand-ins: {timings.describe()}; {args.hosts} hosts; cores: {os.cpu_count()}")
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
                one_tool(tools[name], args.hosts, timings, workdir, results[name])
                print(f"  ({name}: {time.monotonic() - started:.0f} s with the fleet)", flush=True)
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
