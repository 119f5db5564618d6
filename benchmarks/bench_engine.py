"""Benchmark: `pulumi preview` of the novalab program in the real engine (novalab's CLI build, language
host and plugins) against the same program evaluated under mocks (bench_program.py), same sizes.

The stack is the benchmark's grown dev config with every address moved to loopback, so the preview
opens no SSH session and calls no cloud API. Goal: the engine's preview within 2x the mocks run.

    ./novalab benchmark --engine            # 1 host x 10 servers, 10 hosts x 100 servers
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
SIZES = [(1, 10), (10, 100)]


def loopback(config: dict) -> dict:
    """Every IPv4 address in the config moved into 127.0.0.0/8 (same last octets)."""
    text = re.sub(r"\b10\.(\d+)\.(\d+)\.(\d+)\b", r"127.\1.\2.\3", json.dumps(config))
    return json.loads(text)


def engine_preview(hosts: int, servers: int, checkpoints: bool = False) -> float:
    """Seconds of `pulumi preview`; without checkpoints as ./novalab preview runs it."""
    import bench_program
    from support.engine import Pulumi, copy_novalab

    cfg = loopback(bench_program.bench_config(hosts, servers))
    cfg.update({"openstack:authUrl": "http://127.0.0.1:9/v3", "openstack:userName": "admin",
                "openstack:tenantName": "admin", "openstack:password": "bench-password"})
    secrets = {k: v for k, v in cfg.items() if k.endswith(("Password", "password", "PrivateKey"))}
    plain = {k: v for k, v in cfg.items() if k not in secrets}
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_novalab(Path(tmp) / "project", plain, "bench")
        env = {} if checkpoints else {"PULUMI_SKIP_CHECKPOINTS": "true"}
        pulumi = Pulumi(project, Path(tmp) / "state", stack="bench", env=env).init()
        for key, value in secrets.items():
            pulumi.config(key, value, secret=True)
        start = time.perf_counter()
        result = pulumi.preview(check=False)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            sys.exit(f"preview failed ({hosts} hosts, {servers} servers):\n{result.output[-3000:]}")
    return seconds


def mocks_run(hosts: int, servers: int) -> float:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_program.py"), "--one", "program",
                          str(hosts), str(servers)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    print(f"{'hosts':>5} {'servers':>7} {'./novalab preview s':>19} {'with checkpoints s':>18} {'mocks s':>8} {'ratio':>6}")
    for hosts, servers in SIZES:
        engine = engine_preview(hosts, servers)
        with_checkpoints = engine_preview(hosts, servers, checkpoints=True)
        mocks = mocks_run(hosts, servers)
        print(f"{hosts:>5} {servers:>7} {engine:>19.2f} {with_checkpoints:>18.2f} {mocks:>8.2f} {engine / mocks:>6.2f}",
              flush=True)


if __name__ == "__main__":
    main()
