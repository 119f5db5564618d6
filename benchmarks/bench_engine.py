"""Benchmark: `pulumi preview` of the novalab program in the real engine (novalab's CLI build, language
host and plugins) against the same program evaluated under mocks (bench_program.py), same sizes.

The stack is the benchmark's grown dev config with every address moved to loopback, so the preview
opens no SSH session and calls no cloud API. Goal: the engine's preview within 2x the mocks run.

Each repetition runs, back to back: the preview as `./novalab preview` runs it, the same with the
language host's SDK speedups off (NOVALAB_SDK_SPEEDUPS=off, engine/language-host/novalab_langhost/
sdk_speedups.py), the same with the CLI's defaults (its checkpoints and its automatic log in
~/.pulumi/logs, which ./novalab turns off), and the mocks run. Ratios are taken
within a repetition; the table shows medians and [min-max] over the repetitions. The CPU ratio
(all processes of the preview against the mocks process) shows the work the engine adds; a busy
machine moves it far less than the wall clock.

    ./novalab benchmark --engine                      # 1 host x 10 servers, 10 hosts x 100 servers
    ./novalab benchmark --engine --repeat 5 --sdk 3.272.0   # also another Pulumi SDK (a cached venv),
                                                            # taking turns with the pinned one
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
SIZES = [(1, 10), (10, 100)]
SPEEDUPS_SWITCH = "NOVALAB_SDK_SPEEDUPS"  # sdk_speedups.SWITCH (that file runs inside program venvs)
SDK_CACHE = Path.home() / ".cache" / "novalab" / "bench-sdk"


def loopback(config: dict) -> dict:
    """Every IPv4 address in the config moved into 127.0.0.0/8 (same last octets)."""
    text = re.sub(r"\b10\.(\d+)\.(\d+)\.(\d+)\b", r"127.\1.\2.\3", json.dumps(config))
    return json.loads(text)


def bench_stack(directory: Path, hosts: int, servers: int, venv: Optional[Path] = None):
    """The novalab program at that size in a scratch project and file backend, loopback addresses
    and a loopback cloud, secrets set as secrets: a `Pulumi` ready to preview."""
    import bench_program
    from support.engine import VENV, Pulumi, copy_novalab

    cfg = loopback(bench_program.bench_config(hosts, servers))
    cfg.update({"openstack:authUrl": "http://127.0.0.1:9/v3", "openstack:userName": "admin",
                "openstack:tenantName": "admin", "openstack:password": "bench-password"})
    secrets = {k: v for k, v in cfg.items() if k.endswith(("Password", "password", "PrivateKey"))}
    plain = {k: v for k, v in cfg.items() if k not in secrets}
    project = copy_novalab(directory / "project", plain, "bench", venv=venv or VENV)
    pulumi = Pulumi(project, directory / "state", stack="bench").init()
    for key, value in secrets.items():
        pulumi.config(key, value, secret=True)
    return pulumi


def children_cpu() -> float:
    """CPU seconds of this process's finished descendants (the CLI reaps its plugins, the language
    host its program): the work a run did, whatever else the machine was doing."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_preview(pulumi, cli_defaults: bool = False, speedups: bool = True) -> tuple[float, float]:
    """Seconds and CPU seconds of `pulumi preview`: as ./novalab preview runs it (no checkpoints, no
    automatic log), or with the CLI's defaults."""
    pulumi.extra_env.update({SPEEDUPS_SWITCH: "on" if speedups else "off",
                             "PULUMI_SKIP_CHECKPOINTS": "false" if cli_defaults else "true",
                             "PULUMI_DISABLE_AUTOMATIC_LOGS": "false" if cli_defaults else "true"})
    cpu, start = children_cpu(), time.perf_counter()
    result = pulumi.preview(check=False)
    seconds, cpu = time.perf_counter() - start, children_cpu() - cpu
    if result.returncode != 0:
        sys.exit(f"preview failed:\n{result.output[-3000:]}")
    return seconds, cpu


def mocks_run(python: Path, hosts: int, servers: int) -> tuple[float, float]:
    """The program's own seconds under mocks, and the CPU seconds of the whole process."""
    cpu = children_cpu()
    out = subprocess.run([str(python), str(ROOT / "benchmarks" / "bench_program.py"), "--one", "program",
                          str(hosts), str(servers)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"], children_cpu() - cpu


def sdk_venv(version: str) -> Path:
    """A venv with requirements.txt but Pulumi SDK VERSION (cached): the program's and the mocks'."""
    if version == metadata.version("pulumi"):
        return ROOT / "venv"
    pins = re.sub(r"(?m)^pulumi==.*$", f"pulumi=={version}", (ROOT / "requirements.txt").read_text())
    # Named by its pins too: requirements.txt changes (a new dependency) make a new one.
    venv = SDK_CACHE / f"pulumi-{version}-{hashlib.sha256(pins.encode()).hexdigest()[:12]}"
    if not (venv / ".complete").exists():
        print(f"==> a venv with pulumi {version} in {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        (venv / "requirements.txt").write_text(pins)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-r",
                        str(venv / "requirements.txt")], check=True)
        (venv / ".complete").touch()
    return venv


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


COLUMNS = ["preview s", "SDK as is s", "CLI defaults s", "mocks s", "ratio", "ratio as is", "CPU ratio",
           "CPU ratio as is"]


def measure(versions: list[str], hosts: int, servers: int, repeat: int) -> dict[str, dict[str, list[float]]]:
    """Per SDK version, the columns' values of each repetition; the versions take turns within a
    repetition, so a busy spell of the machine falls on all of them alike."""
    venvs = {v: sdk_venv(v) for v in versions}
    runs = {v: {c: [] for c in COLUMNS} for v in versions}
    with tempfile.TemporaryDirectory() as tmp:
        stacks = {v: bench_stack(Path(tmp) / v, hosts, servers, venv=venvs[v]) for v in versions}
        for pulumi in stacks.values():
            timed_preview(pulumi)  # warm: bytecode compiled, plugins read from disk once
        for _ in range(repeat):
            for v, pulumi in stacks.items():
                fast, fast_cpu = timed_preview(pulumi)
                as_is, as_is_cpu = timed_preview(pulumi, speedups=False)
                cli_defaults, _ = timed_preview(pulumi, cli_defaults=True)
                mocks, mocks_cpu = mocks_run(venvs[v] / "bin" / "python", hosts, servers)
                values = (fast, as_is, cli_defaults, mocks, fast / mocks, as_is / mocks, fast_cpu / mocks_cpu,
                          as_is_cpu / mocks_cpu)
                for column, value in zip(COLUMNS, values):
                    runs[v][column].append(value)
    return runs


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="bench_engine", description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="repetitions per size (default 3)")
    ap.add_argument("--sdk", action="append", default=[], metavar="VERSION",
                    help="also measure this Pulumi SDK version (its own cached venv); repeatable")
    args = ap.parse_args(argv)
    versions = [metadata.version("pulumi"), *[v for v in args.sdk if v != metadata.version("pulumi")]]
    print(f"median [min-max] of {args.repeat} runs; ratio = preview / mocks within a run; "
          "CPU ratio = CPU seconds of the preview (CLI, language host, program, plugins) / of the mocks process")
    print(f"{'sdk':>8} {'hosts':>5} {'servers':>7} " + " ".join(f"{c:>19}" for c in COLUMNS))
    for hosts, servers in SIZES:
        runs = measure(versions, hosts, servers, args.repeat)
        for v in versions:
            print(f"{v:>8} {hosts:>5} {servers:>7} " + " ".join(f"{spread(runs[v][c]):>19}" for c in COLUMNS),
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
