"""The scale benchmark's harness (benchmarks/bench_scale.py on tests/support/fleet.py) at 2 hosts:
the real engine converges a fleet of network namespaces through novalab's real scripts over real
sshd, each host keeps what the scripts wrote to itself, a second `up` is a no-op with no SSH session,
and nothing of the fleet outlives the run. Times are printed, never asserted.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.engine import ROOT
from support.fleet import BRIDGE, PREFIX, QUICK, running_fleet
from support.numbers import record

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_scale  # noqa: E402

pytestmark = pytest.mark.engine





def ours() -> list[str]:
    """Namespaces and links of the fleet left on this machine."""
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names += [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
    return [n for n in names if n.startswith(PREFIX)]


def bridge_ports(netns: str) -> list[str]:
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show", "master", "br100"], capture_output=True, text=True)
    return [link["ifname"] for link in json.loads(out.stdout or "[]")]


def test_two_hosts_converge_with_the_real_scripts_then_a_second_up_does_nothing(fleet_workdir):
    with running_fleet(2, QUICK, fleet_workdir / "fleet") as fleet:
        pulumi = bench_scale.make_stack(fleet, fleet_workdir)
        first = bench_scale.up(pulumi, fleet, fleet_workdir / "first.log")
        record("scale harness, 2 hosts: first up, seconds", first.measured.wall)
        assert bench_scale.passed_gates(pulumi) == 2
        assert first.sessions == 3  # one login per machine: each host's five steps, the controller's for both
        for host in fleet.hosts:
            calls = host.calls()
            assert any(c.startswith("apt-get install") and "nova-compute-qemu" in c for c in calls), calls
            assert "service nova-compute restart" in calls and "service neutron-linuxbridge-agent restart" in calls
            assert bridge_ports(host.netns) == ["eth2"]
            # What the scripts wrote stays on that host: its own name and address in its nova.conf.
            nova_conf = host.file("/etc/nova/nova.conf")
            assert nova_conf is not None and f"host = {host.name}" in nova_conf and f"my_ip = {host.address}" in nova_conf
        assert any(c.startswith("nova-manage cell_v2 discover_hosts") for c in fleet.controller.calls())
        assert not Path("/etc/nova/nova.conf").exists() or "nlbench" not in Path("/etc/nova/nova.conf").read_text()

        calls_before = [len(m.calls()) for m in fleet.machines]
        second = bench_scale.up(pulumi, fleet, fleet_workdir / "second.log")
        record("scale harness, 2 hosts: no-op up, seconds", second.measured.wall)
        assert second.sessions == 0
        assert set(second.summary) == {"unchanged"}, second.summary
        assert [len(m.calls()) for m in fleet.machines] == calls_before
    assert ours() == []
    assert not subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0


def test_the_fleet_is_removed_when_the_run_fails_inside_it(fleet_workdir):
    with pytest.raises(RuntimeError, match="a step failed"):
        with running_fleet(1, QUICK, fleet_workdir / "fleet") as fleet:
            assert ours() != [] and fleet.hosts[0].process.poll() is None
            raise RuntimeError("a step failed")
    assert ours() == []
    assert fleet.hosts[0].process.poll() is not None


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_an_interrupted_benchmark_removes_its_fleet_and_work_directory(fleet_workdir, signal_name):
    before = set(Path("/var/tmp").glob("nlbench-*"))
    bench = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "bench_scale.py"), "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(n.startswith(f"{PREFIX}-") for n in ours()):  # the fleet is up: interrupt the run
            assert bench.poll() is None and time.monotonic() < deadline, bench.stdout.read()
            time.sleep(0.2)
        time.sleep(3)  # into the first up
        bench.send_signal(getattr(signal, signal_name))
        bench.wait(timeout=120)
    finally:
        if bench.poll() is None:
            bench.kill()
    assert ours() == []
    assert set(Path("/var/tmp").glob("nlbench-*")) - before == set()
