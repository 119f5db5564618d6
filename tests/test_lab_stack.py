"""The lab stack's machine-specific config (lab/lib/stack.sh): `lab/lab up` writes this lab's hosts and
host keys beside the lab, `lab/lab stack FILE` adds the stack's encryption salt and the lab's
secrets (as Pulumi secrets, each value on stdin) in FILE, and the committed Pulumi.lab.yaml is never
rewritten. Run with the real engine on stand-in lab state; needs no root and no lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.engine import PASSPHRASE, ROOT, engine_bin

pytestmark = pytest.mark.engine

HARNESS = """
set -euo pipefail
LAB_HOME=$1
. "$LAB_HOME/lib/common.sh"
. "$LAB_HOME/lib/hosts.sh"
. "$LAB_HOME/lib/stack.sh"
. "$LAB_HOME/lib/release.sh"
use_cloud epoxy ovn
SYSTEM_PYTHON=$2
shift 2
"$@"
"""

SECRET_SOURCES = {  # stack key -> where the lab keeps its value
    "novalab:rabbitPassword": "secrets/rabbit",
    "novalab:novaServicePassword": "secrets/svc-nova",
    "novalab:neutronServicePassword": "secrets/svc-neutron",
    "novalab:sshPrivateKey": "ssh/id_ed25519",
    "novalab:novaMigrationSshKey": "ssh/nova_migration",
    "openstack:password": "secrets/admin",
}


@pytest.fixture
def lab_state(tmp_path):
    """A lab state directory with stand-in host keys and secrets (what `lab/lab up` leaves)."""
    state = tmp_path / "lab"
    keys = {"controller": state / "controller" / "ssh_host_ed25519_key.pub"}
    for n in (1, 2):
        keys[f"compute-{n}"] = state / "hosts" / f"compute-{n}" / "root" / "etc" / "ssh" / "ssh_host_ed25519_key.pub"
    for name, path in keys.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{name.replace('-', '')} root@{name}\n")
    for key, source in SECRET_SOURCES.items():
        path = state / source
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"stand-in {key} {tmp_path.name}\n")
    return state


def engine_env(tmp_path: Path) -> dict[str, str]:
    """The engine's environment: a file backend in TMP_PATH, the tests' passphrase, and (as
    ./novalab's engine_defaults) no update check and nothing in ~/.pulumi/logs."""
    env = dict(os.environ, PULUMI_BACKEND_URL=f"file://{tmp_path / 'backend'}", PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
               PULUMI_SKIP_UPDATE_CHECK="true", PULUMI_DISABLE_AUTOMATIC_LOGS="true")
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    return env


def lab_step(state: Path, tmp_path: Path, *step: str) -> subprocess.CompletedProcess:
    env = dict(engine_env(tmp_path), NOVALAB_LAB_DIR=str(state), PATH=f"{engine_bin()}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "backend").mkdir(exist_ok=True)
    return subprocess.run(["bash", "-c", HARNESS, "harness", str(ROOT / "lab"), sys.executable, *step],
                          capture_output=True, text=True, env=env, timeout=300)


def lab_address(function: str, n: int) -> str:
    """An address of compute-n as the lab makes it (lab/lib/common.sh, its one place)."""
    return subprocess.run(["bash", "-c", f". {ROOT}/lab/lib/common.sh && {function} {n}"],
                          capture_output=True, text=True, check=True).stdout.strip()


def lab_host_address(n: int) -> str:
    return lab_address("host_address", n)


def lab_tunnel_address(n: int) -> str:
    return lab_address("tunnel_address", n)


def test_lab_facts_hold_the_hosts_and_keys_and_nothing_secret(lab_state, tmp_path):
    committed = (ROOT / "Pulumi.lab.yaml").read_bytes()
    result = lab_step(lab_state, tmp_path, "write_lab_facts", "2")
    assert result.returncode == 0, result.stderr
    assert (ROOT / "Pulumi.lab.yaml").read_bytes() == committed
    facts = yaml.safe_load((lab_state / "Pulumi.lab.yaml").read_text())["config"]
    assert facts["novalab:controller"]["hostKey"] == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIcontroller"
    assert [(h["name"], h["address"], h["hostKey"]) for h in facts["novalab:computeHosts"]] == [
        ("compute-1", lab_host_address(1), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIcompute1"),
        ("compute-2", lab_host_address(2), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIcompute2"),
    ]
    assert facts["novalab:servers"] == yaml.safe_load(committed)["config"]["novalab:servers"]
    # The running cloud's backend and queue type; each host's tunnel address on its provider bridge.
    assert facts["novalab:network"]["backend"] == "ovn" and facts["novalab:services"]["rabbitQueues"] == "quorum"
    assert [h["tunnelAddress"] for h in facts["novalab:computeHosts"]] == [f"{lab_tunnel_address(n)}/24" for n in (1, 2)]
    assert not any("assword" in key or "PrivateKey" in key for key in facts)


def test_the_stack_config_file_gets_the_secrets_as_pulumi_secrets_and_the_repo_stays_clean(lab_state, tmp_path):
    committed = (ROOT / "Pulumi.lab.yaml").read_bytes()
    config = tmp_path / "state" / "Pulumi.lab.yaml"
    assert lab_step(lab_state, tmp_path, "write_lab_facts", "2").returncode == 0
    result = lab_step(lab_state, tmp_path, "write_stack_config", str(config))
    assert result.returncode == 0, result.stderr
    assert (ROOT / "Pulumi.lab.yaml").read_bytes() == committed  # no salt, no secret written there
    text = config.read_text()
    doc = yaml.safe_load(text)
    assert doc["encryptionsalt"].startswith("v1:")
    for key, source in SECRET_SOURCES.items():
        assert set(doc["config"][key]) == {"secure"}, key
        assert (lab_state / source).read_text().strip() not in text
    # The engine decrypts them back to the lab's values.
    shown = subprocess.run(
        [str(engine_bin() / "pulumi"), "config", "-s", "lab", "--config-file", str(config), "--show-secrets", "--json"],
        cwd=ROOT, capture_output=True, text=True,
        env=engine_env(tmp_path),
    )
    assert shown.returncode == 0, shown.stderr
    values = {k: v["value"] for k, v in json.loads(shown.stdout).items()}
    for key, source in SECRET_SOURCES.items():
        assert values[key].strip() == (lab_state / source).read_text().strip()

    # Again (every ./novalab up does this): the same salt, so what the stack encrypted stays readable.
    again = lab_step(lab_state, tmp_path, "write_stack_config", str(config))
    assert again.returncode == 0, again.stderr
    assert yaml.safe_load(config.read_text())["encryptionsalt"] == doc["encryptionsalt"]
    assert (ROOT / "Pulumi.lab.yaml").read_bytes() == committed
