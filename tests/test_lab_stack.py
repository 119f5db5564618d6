"""`lab/lab up`'s last step (lab/lib/stack.sh): the host keys into Pulumi.lab.yaml and the lab's
secrets into the stack with `pulumi config set --secret`, each on stdin. Run on a copy of the lab
scripts with a stand-in `pulumi` that records what it was asked; needs no root and no lab."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

HARNESS = """
set -euo pipefail
LAB_HOME=$1
. "$LAB_HOME/lib/common.sh"
. "$LAB_HOME/lib/hosts.sh"
. "$LAB_HOME/lib/stack.sh"
SYSTEM_PYTHON=$2
write_stack_config 2
"""

FAKE_PULUMI = """#!{python}
import json, os, sys
record = {{"argv": sys.argv[1:], "stdin": sys.stdin.read(), "cwd": os.getcwd(),
          "passphrase_file": os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")}}
with open({log!r}, "a") as f:
    f.write(json.dumps(record) + "\\n")
"""

SECRET_SOURCES = {  # stack key -> where the lab keeps its value
    "novalab:rabbitPassword": "secrets/rabbit",
    "novalab:novaServicePassword": "secrets/svc-nova",
    "novalab:neutronServicePassword": "secrets/svc-neutron",
    "novalab:sshPrivateKey": "ssh/id_ed25519",
    "openstack:password": "secrets/admin",
}


@pytest.fixture
def lab_copy(tmp_path):
    """The lab scripts and Pulumi.lab.yaml copied into tmp, a lab state dir with stand-in keys."""
    project = tmp_path / "project"
    (project / "lab" / "lib").mkdir(parents=True)
    for name in ("common.sh", "hosts.sh", "stack.sh", "set_host_keys.py"):
        shutil.copy(ROOT / "lab" / "lib" / name, project / "lab" / "lib" / name)
    shutil.copy(ROOT / "Pulumi.lab.yaml", project / "Pulumi.lab.yaml")
    state = tmp_path / "state"
    keys = {"controller": state / "controller" / "ssh_host_ed25519_key.pub"}
    for n in (1, 2):
        keys[f"compute-{n}"] = state / "hosts" / f"compute-{n}" / "root" / "etc" / "ssh" / "ssh_host_ed25519_key.pub"
    for name, path in keys.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{name.replace('-', '')} root@{name}\n")
    (state / "ssh").mkdir()
    (state / "ssh" / "id_ed25519").write_text("stand-in private key for " + str(tmp_path) + "\n")
    return project, state


def lab_host_address(n: int) -> str:
    """compute-n's address as the lab makes it (lab/lib/common.sh, its one place)."""
    return subprocess.run(["bash", "-c", f". {ROOT}/lab/lib/common.sh && host_address {n}"],
                          capture_output=True, text=True, check=True).stdout.strip()


def path_without_pulumi() -> str:
    """This PATH minus any directory holding a `pulumi` (./novalab test puts the engine's there):
    the step must meet only the stand-in, or no CLI at all."""
    return os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "pulumi").exists())


def run_stack_step(project: Path, state: Path, bindir: Path | None):
    path = path_without_pulumi() if bindir is None else f"{bindir}{os.pathsep}{path_without_pulumi()}"
    env = dict(os.environ, PATH=path, NOVALAB_LAB_DIR=str(state))
    return subprocess.run(["bash", "-c", HARNESS, "harness", str(project / "lab"), sys.executable],
                          input="", capture_output=True, text=True, env=env, timeout=60)


def test_host_keys_go_into_the_stack_file_and_the_rest_is_kept(lab_copy):
    project, state = lab_copy
    result = run_stack_step(project, state, None)
    assert result.returncode == 0, result.stderr
    before = yaml.safe_load((ROOT / "Pulumi.lab.yaml").read_text())["config"]
    after = yaml.safe_load((project / "Pulumi.lab.yaml").read_text())["config"]
    assert after["novalab:controller"]["hostKey"] == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIcontroller"
    assert [(h["name"], h["address"], h["hostKey"]) for h in after["novalab:computeHosts"]] == [
        ("compute-1", lab_host_address(1), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIcompute1"),
        ("compute-2", lab_host_address(2), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIcompute2"),
    ]
    assert lab_host_address(1) != lab_host_address(2)
    assert after["novalab:servers"] == before["novalab:servers"]
    assert not any("assword" in key or "PrivateKey" in key for key in after)  # nothing secret in the file
    assert "secrets stay in" in result.stderr  # no pulumi CLI here: says where they are


def test_secrets_are_set_as_pulumi_secrets_on_stdin_never_in_arguments(lab_copy, tmp_path):
    project, state = lab_copy
    bindir, log = tmp_path / "bin", tmp_path / "pulumi-calls.jsonl"
    bindir.mkdir()
    (bindir / "pulumi").write_text(FAKE_PULUMI.format(python=sys.executable, log=str(log)))
    (bindir / "pulumi").chmod(0o755)
    result = run_stack_step(project, state, bindir)
    assert result.returncode == 0, result.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0]["argv"] == ["stack", "select", "-c", "lab"]
    sets = {c["argv"][-1]: c for c in calls[1:]}
    assert set(sets) == set(SECRET_SOURCES)
    for key, source in SECRET_SOURCES.items():
        call = sets[key]
        assert call["argv"] == ["config", "set", "--secret", key]
        assert call["stdin"].strip() == (state / source).read_text().strip() != ""
    secrets = [(state / source).read_text().strip() for source in SECRET_SOURCES.values()]
    assert not [c["argv"] for c in calls for s in secrets if any(s in a for a in c["argv"])]
    assert all(Path(c["cwd"]) == project for c in calls)
    passphrase = Path(calls[0]["passphrase_file"])
    assert passphrase.parent == state / "secrets" and passphrase.stat().st_mode & 0o077 == 0
