"""Benchmark: novalab's own overhead from 1 compute host to N, through the real engine.

For each size N a fleet of N hosts and a controller comes up on this machine (tests/support/fleet.py:
network namespaces with a real sshd each, novalab's real scripts; only the slow host programs are
stand-ins with a fixed time), and novalab's program runs on it as `./novalab up` runs it (`pulumi up
--yes --skip-preview` with the policy pack, a file backend in a temp dir), twice: the first converge,
then the no-op. Measured: wall time, the ratio to the smallest size, the engine's CPU and peak memory
(the CLI, language host, program, plugins and policy pack: tests/support/proctree.py), SSH sessions
(from the machines' sshd logs) and the checkpoint's size per host. Everything is removed after each
size, also on failure or Ctrl-C.

    ./novalab benchmark --scale [N ...]      # default 1 10 30 60; run it `nice`d on a shared machine

Goal (issue 23): T(60)/T(1) at or below 1.5 for the first converge, and the no-op at 60 hosts under 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.engine import Pulumi, Result, change_summary, copy_novalab  # noqa: E402
from support.fleet import Fleet, Timings, running_fleet  # noqa: E402
from support.proctree import Measured, run_measured  # noqa: E402

STACK = "scale"
SIZES = (1, 10, 30, 60)
MB = 1024 * 1024


def process_kind(cmdline: list[str]) -> str:
    """Which part of the engine a process of the CLI's tree is."""
    text = " ".join(cmdline)
    name = Path(cmdline[0]).name if cmdline and cmdline[0] else "?"
    if name == "pulumi":
        return "CLI"
    if "run_program.py" in text:
        return "program"
    if "novalab_langhost" in text or name == "pulumi-language-python":
        return "language host"
    if "policies" in text:
        return "policy pack"
    return name.removeprefix("pulumi-resource-") if name.startswith("pulumi-resource-") else name


def private_engine(shared: Path, workdir: Path) -> Path:
    """The CLI of ./novalab setup beside this worktree's language host, in WORKDIR/engine. The CLI
    takes the language host from beside itself, and the shared build's link there follows whichever
    worktree ran `engine.sh setup` last: the benchmark measures this checkout's."""
    private = workdir / "engine"
    private.mkdir()
    try:
        os.link(shared / "pulumi", private / "pulumi")
    except OSError:
        shutil.copy2(shared / "pulumi", private / "pulumi")
    (private / "pulumi-language-python").symlink_to(ROOT / "engine" / "language-host" / "pulumi-language-python")
    return private


def make_stack(fleet: Fleet, workdir: Path) -> Pulumi:
    """novalab's program in WORKDIR/project with a stack for the fleet; state in WORKDIR/state."""
    project = copy_novalab(workdir / "project", fleet.stack_config(), STACK)
    pulumi = Pulumi(project, workdir / "state", stack=STACK)
    pulumi.bin = private_engine(pulumi.bin, workdir)
    pulumi.init()
    for key, value in fleet.secrets().items():
        pulumi.config(key, value, secret=True)
    return pulumi


@dataclass
class Up:
    measured: Measured
    sessions: int  # SSH logins on the fleet's machines during the run
    summary: dict[str, int]  # the CLI's "Resources:" block
    load: float  # the 1-minute load average when it started


class Profiler:
    """--profile DIR: the CLI's own CPU profile (`--profiling`, read with `go tool pprof`), its event
    log (when each step started and ended) and py-spy on the program (py-spy on PATH), per run."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.spies: list[subprocess.Popen] = []

    def cli_args(self, name: str) -> list[str]:
        return ["--profiling", str(self.directory / f"cli-{name}")]

    def attach(self, name: str) -> Callable[[int, str], None]:
        def on_start(pid: int, kind: str) -> None:
            if kind == "program" and shutil.which("py-spy"):
                self.spies.append(subprocess.Popen(
                    ["py-spy", "record", "--pid", str(pid), "--rate", "50", "--format", "raw",
                     "--output", str(self.directory / f"program-{name}.txt")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return on_start

    def wait(self) -> None:
        for spy in self.spies:
            spy.wait(timeout=60)
        self.spies.clear()


def up(pulumi: Pulumi, fleet: Fleet, log: Path, profiler: Optional[Profiler] = None) -> Up:
    """`pulumi up` as ./novalab up runs it (with the policy pack), measured."""
    argv = [str(pulumi.bin / "pulumi"), "up", "-s", pulumi.stack, "--yes", "--skip-preview",
            "--policy-pack", str(pulumi.project_dir / "policies")]
    name = f"{len(fleet.hosts)}-{log.stem}"
    env = pulumi.env
    if profiler:
        argv += profiler.cli_args(name)
        # Each step's start and end (the CLI offers --event-log only with PULUMI_DEBUG_COMMANDS).
        argv += ["--event-log", str(profiler.directory / f"events-{name}.jsonl")]
        env = {**env, "PULUMI_DEBUG_COMMANDS": "true"}
    before, load = fleet.sessions(), os.getloadavg()[0]
    measured = run_measured(argv, env=env, cwd=pulumi.project_dir, kind=process_kind, log=log,
                            on_start=profiler.attach(name) if profiler else lambda pid, kind: None)
    if profiler:
        profiler.wait()
    if measured.returncode != 0:
        raise RuntimeError(f"pulumi up failed ({measured.returncode}); the end of its output:\n{measured.output[-4000:]}")
    summary = change_summary(Result(argv, 0, measured.output, ""))
    return Up(measured, fleet.sessions() - before, summary, load)


def checkpoint_bytes(pulumi: Pulumi) -> int:
    files = list((pulumi.state_dir / ".pulumi" / "stacks").rglob(f"{pulumi.stack}.json"))
    return files[0].stat().st_size if files else 0


def passed_gates(pulumi: Pulumi) -> int:
    hosts = json.loads(pulumi.run("stack", "output", "-s", pulumi.stack, "--json", "computeHosts").stdout)
    return sum("is up and mapped" in (h.get("gate") or "") for h in hosts.values())


@dataclass
class SizeResult:
    size: int
    first: Up
    noop: Up
    state_bytes: int


def converge_twice(size: int, timings: Timings, workdir: Path, profiler: Optional[Profiler] = None) -> SizeResult:
    with running_fleet(size, timings, workdir / "fleet") as fleet:
        pulumi = make_stack(fleet, workdir)
        first = up(pulumi, fleet, workdir / "first-up.log", profiler)
        gates = passed_gates(pulumi)
        if gates != size:
            raise RuntimeError(f"{gates} of {size} hosts passed the gate after the first up")
        noop = up(pulumi, fleet, workdir / "noop-up.log", profiler)
        changed = {k: v for k, v in noop.summary.items() if k != "unchanged"}
        if changed or noop.sessions:
            raise RuntimeError(f"the second up was no no-op: {noop.summary}, {noop.sessions} SSH sessions")
        return SizeResult(size, first, noop, checkpoint_bytes(pulumi))


def kinds(by_kind: dict, unit: float = 1, digits: int = 1) -> str:
    top = sorted(by_kind.items(), key=lambda kv: -kv[1])[:4]
    return ", ".join(f"{k} {v / unit:.{digits}f}" for k, v in top)


def print_table(results: list[SizeResult]) -> None:
    base = results[0]
    print(f"\nT(N)/T({base.size}): ratio to the smallest size of this run. CPU and memory: the engine's process tree "
          "(CLI, language host, program, plugins, policy pack).")
    print("| hosts | first converge s | ratio | no-op s | ratio | CPU s first / no-op | peak RSS MB first / no-op "
          "| state KB per host | SSH sessions first / no-op | load at start |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        f, n = r.first.measured, r.noop.measured
        print(f"| {r.size} | {f.wall:.1f} | {f.wall / base.first.measured.wall:.2f} | {n.wall:.1f} | "
              f"{n.wall / base.noop.measured.wall:.2f} | {f.cpu:.1f} / {n.cpu:.1f} | "
              f"{f.peak_rss / MB:.0f} / {n.peak_rss / MB:.0f} | {r.state_bytes / 1024 / r.size:.1f} | "
              f"{r.first.sessions} / {r.noop.sessions} | {r.first.load:.1f} / {r.noop.load:.1f} |")
    print("\nCPU s by process (sampled), first converge | no-op:")
    for r in results:
        print(f"  {r.size:>3} hosts: {kinds(r.first.measured.cpu_by_kind)} | {kinds(r.noop.measured.cpu_by_kind)}")
    print("Peak RSS MB by process, first converge | no-op:")
    for r in results:
        print(f"  {r.size:>3} hosts: {kinds(r.first.measured.peak_rss_by_kind, MB, 0)} | "
              f"{kinds(r.noop.measured.peak_rss_by_kind, MB, 0)}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES), help="numbers of hosts (default 1 10 30 60)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory of the last size (logs, state)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="CPU profiles of the CLI and the program, and the CLI's event log, into DIR")
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.sizes):
        parser.error("sizes must be at least 1")
    # SIGTERM unwinds like Ctrl-C, so every size's fleet and work directory are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    timings = Timings()
    print(f"stand-ins: {timings.describe()}")
    print(f"cores: {os.cpu_count()}, nice: {os.nice(0)}, PULUMI_PARALLEL: {os.environ.get('PULUMI_PARALLEL', 'unset (the CLI: 4 x cores)')}")
    results = []
    for size in args.sizes:
        # Not in /tmp: each machine has its own. Traversable: the controller runs nova-manage as nova.
        workdir = Path(tempfile.mkdtemp(prefix="nlbench-", dir="/var/tmp"))
        workdir.chmod(0o755)
        try:
            started = time.monotonic()
            result = converge_twice(size, timings, workdir, Profiler(args.profile) if args.profile else None)
            results.append(result)
            print(f"{size} hosts: first converge {result.first.measured.wall:.1f} s, no-op {result.noop.measured.wall:.1f} s "
                  f"(whole size {time.monotonic() - started:.0f} s)", flush=True)
        finally:
            if args.keep and size == args.sizes[-1]:
                print(f"kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
