"""The lab's helpers without a lab (quick, no root): common.sh, the controller's ceph-retry.sh, the `lab` command's
help, choosing a release and network backend (release.sh), the lab stack's generated config (stack_config.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

COMMON = Path(__file__).resolve().parent.parent / "lab" / "lib" / "common.sh"


def strict_bash(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n. {COMMON}\n{script}"], capture_output=True, text=True, timeout=60
    )


def test_has_finds_an_early_line_in_a_long_output_under_pipefail():
    # The plain `| grep -q` this replaced reports "no match" here: seq dies of SIGPIPE after the match.
    plain = strict_bash("if seq 1 200000 | grep -qx 1; then echo found; else echo missed; fi")
    assert plain.stdout.strip() == "missed"  # the failure mode is real on this machine
    result = strict_bash("if seq 1 200000 | has -x 1; then echo found; else echo missed; fi")
    assert result.stdout.strip() == "found", result.stderr


def test_has_is_false_when_nothing_matches():
    result = strict_bash("if seq 1 1000 | has -x 1001; then echo found; else echo missed; fi")
    assert result.stdout.strip() == "missed", result.stderr


CEPH_RETRY = COMMON.parent / "controller" / "bin" / "ceph-retry.sh"
REFUSED = "Error EPERM: problem getting command descriptions from mon."


def fake_ceph(tmp_path: Path, answers: list[tuple[int, str, str]]) -> Path:
    """A stand-in `ceph` that gives ANSWERS (exit status, stdout, stderr) in turn and logs each call."""
    calls = tmp_path / "calls"
    script = tmp_path / "ceph"
    cases = "\n".join(f"  {n}) printf '%s' {out!r}; printf '%s\\n' {err!r} >&2; exit {rc} ;;"
                      for n, (rc, out, err) in enumerate(answers, 1))
    script.write_text(f"#!/bin/bash\necho \"$*\" >> {calls}\nn=$(wc -l < {calls})\ncase $n in\n{cases}\nesac\n")
    script.chmod(0o755)
    return script


def run_ceph_retry(tmp_path: Path, answers) -> tuple[subprocess.CompletedProcess, list[str]]:
    ceph = fake_ceph(tmp_path, answers)
    result = subprocess.run([str(CEPH_RETRY), "mon", "dump", "--format=json"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "NOVALAB_REAL_CEPH": str(ceph)}, timeout=60)
    return result, (tmp_path / "calls").read_text().splitlines()


def test_cinders_ceph_runs_again_when_the_monitor_refuses_it_in_cephs_fsid_race(tmp_path):
    result, calls = run_ceph_retry(tmp_path, [(1, "\n", REFUSED), (0, '{"epoch":1}', "dumped monmap epoch 1")])
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"epoch":1}'  # what cinder parses: nothing of the refused try
    assert calls == ["mon dump --format=json"] * 2


def test_cinders_ceph_passes_any_other_failure_on_at_once(tmp_path):
    result, calls = run_ceph_retry(tmp_path, [(13, "", "Error EACCES: access denied")])
    assert (result.returncode, calls) == (13, ["mon dump --format=json"])
    assert "access denied" in result.stderr


def test_cinders_ceph_gives_up_after_three_refusals(tmp_path):
    result, calls = run_ceph_retry(tmp_path, [(1, "", REFUSED)] * 4)
    assert result.returncode == 1 and len(calls) == 3
    assert "problem getting command descriptions" in result.stderr


LAB = COMMON.parent.parent / "lab"


def test_lab_without_arguments_prints_its_help_from_any_directory(tmp_path):
    result = subprocess.run([str(LAB)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "lab/lab up [--release epoxy|zed] [--network ovn|openvswitch|linuxbridge] [--hosts N]" in result.stdout
    unknown = subprocess.run([str(LAB), "frobnicate"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert unknown.returncode == 2 and "lab/lab down" in unknown.stdout


def choose(tmp_path: Path, *args: str, running: str = "") -> subprocess.CompletedProcess:
    """release.sh's choose_cloud RELEASE NETWORK on a stand-in lab state; RUNNING="RELEASE NETWORK" makes
    that cloud the one up (its controller's PID file names a live process: this test's shell)."""
    lab_dir = tmp_path / "lab"
    (lab_dir / "run").mkdir(parents=True, exist_ok=True)
    setup = ""
    if running:
        (lab_dir / "cloud").write_text(running + "\n")
        setup = f'echo $$ > "{lab_dir}/run/controller.pid"\n'
    script = (f"export NOVALAB_LAB_DIR={lab_dir}\nLAB_HOME={LAB.parent}\n. {COMMON}\n. {LAB.parent}/lib/release.sh\n{setup}"
              f'choose_cloud {" ".join(repr(a) for a in args)}\necho "$LAB_RELEASE $LAB_NETWORK $LAB_SUITE $RABBIT_QUEUES"')
    return subprocess.run(["bash", "-c", f"set -euo pipefail\n{script}"], capture_output=True, text=True, timeout=60)


def test_the_default_cloud_is_epoxy_with_ovn_and_zed_keeps_the_linux_bridge(tmp_path):
    assert choose(tmp_path, "", "").stdout.split() == ["epoxy", "ovn", "trixie", "quorum"]
    assert choose(tmp_path, "zed", "").stdout.split() == ["zed", "linuxbridge", "bookworm", "classic"]
    assert choose(tmp_path, "epoxy", "openvswitch").stdout.split() == ["epoxy", "openvswitch", "trixie", "quorum"]


def test_epoxy_with_the_linux_bridge_is_refused_with_the_reason(tmp_path):
    result = choose(tmp_path, "epoxy", "linuxbridge")
    assert result.returncode == 1 and result.stdout == ""
    assert "neutron removed the Linux bridge driver in 2025.1" in result.stderr
    assert "--network ovn|openvswitch" in result.stderr and "--release zed" in result.stderr
    unknown = choose(tmp_path, "havana", "")
    assert unknown.returncode == 1 and "--release havana: the lab knows epoxy|zed" in unknown.stderr


def test_a_running_cloud_is_the_default_and_another_is_refused_until_down(tmp_path):
    assert choose(tmp_path, "", "", running="zed linuxbridge").stdout.split()[:2] == ["zed", "linuxbridge"]
    switch = choose(tmp_path, "epoxy", "", running="zed linuxbridge")
    assert switch.returncode == 1
    assert "the lab is up as zed + linuxbridge; run lab/lab down first to switch to epoxy + ovn" in switch.stderr
    # Once down (no live controller), any cloud may come up.
    (tmp_path / "lab" / "run" / "controller.pid").write_text("999999999\n")
    assert choose(tmp_path, "epoxy", "").stdout.split()[:2] == ["epoxy", "ovn"]


STACK_CONFIG = LAB.parent / "lib" / "stack_config.py"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIstandin"


def lab_facts(tmp_path: Path, hosts: list[dict], *args: str) -> dict:
    committed = tmp_path / "Pulumi.lab.yaml"
    committed.write_text(yaml.safe_dump({"config": {
        "novalab:controller": {"name": "controller", "address": "10.77.0.10"},
        "novalab:network": {"physnet": "physnet1"},
        "novalab:computeHosts": hosts,
    }}))
    out = tmp_path / "facts.yaml"
    result = subprocess.run(["python3", str(STACK_CONFIG), "facts", str(committed), str(out), "--controller-key", KEY,
                             *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(out.read_text())["config"]


def test_the_lab_stack_keeps_each_declared_hosts_own_settings(tmp_path):
    declared = [
        {"name": "compute-1", "address": "10.77.0.21", "bridgeInterface": "eth2", "virtType": "qemu"},
        {"name": "compute-2", "address": "10.77.0.22", "bridgeInterface": "eth9", "virtType": "kvm",
         "configOverrides": {"nova.conf": {"DEFAULT": {"debug": "true"}}}},
    ]
    cfg = lab_facts(tmp_path, declared, "--network", "linuxbridge", "--rabbit-queues", "classic",
                    *[a for n in (1, 2, 3) for a in ("--host", f"compute-{n}", f"10.77.0.2{n}", KEY, "-")])
    hosts = cfg["novalab:computeHosts"]
    assert hosts[1] == dict(declared[1], hostKey=KEY)  # compute-2's kvm, eth9 and overrides survive
    assert hosts[0] == dict(declared[0], hostKey=KEY)
    # A host beyond those declared gets what the lab's machines share, not compute-2's own overrides.
    assert hosts[2] == {"bridgeInterface": "eth2", "virtType": "qemu", "name": "compute-3", "address": "10.77.0.23",
                        "hostKey": KEY}
    assert cfg["novalab:network"] == {"physnet": "physnet1", "backend": "linuxbridge", "tunnelOverlay": "vxlan"}
    assert cfg["novalab:services"] == {"rabbitQueues": "classic"}


def test_an_ovn_lab_stack_names_its_backend_queues_and_tunnel_addresses(tmp_path):
    declared = [{"name": "compute-1", "address": "10.77.0.21", "bridgeInterface": "eth2", "virtType": "qemu"}]
    cfg = lab_facts(tmp_path, declared, "--network", "ovn", "--rabbit-queues", "quorum",
                    "--host", "compute-1", "10.77.0.21", KEY, "10.77.2.21/24")
    assert cfg["novalab:network"] == {"physnet": "physnet1", "backend": "ovn"}
    assert cfg["novalab:services"]["rabbitQueues"] == "quorum"
    assert cfg["novalab:computeHosts"][0]["tunnelAddress"] == "10.77.2.21/24"
