"""The novalab program inside the real Pulumi engine (CLI, novalab's language host, the command and
openstack plugins), with a stack whose every address is on loopback: nothing leaves this machine.

Preview only: no SSH session is opened and no OpenStack API is called in a preview, so this needs no
lab (the lab runs `up` for real in tests/test_e2e_lab.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from components.compute_host import STEPS
from support.engine import ROOT, Pulumi, assert_nowhere, closed_port, copy_novalab, diagnostics

pytestmark = pytest.mark.engine

SECRETS = {
    "novalab:rabbitPassword": "rabbit-engine-s3cret",
    "novalab:novaServicePassword": "nova-engine-s3cret",
    "novalab:neutronServicePassword": "neutron-engine-s3cret",
    "openstack:password": "admin-engine-s3cret",
}
# A key in the shape the program checks; it is never used: a preview opens no SSH session.
SSH_KEY_MARKER = "engine-test-key-material-0123456789"




def loopback_stack() -> dict:
    """Pulumi.dev.yaml with the tutorial's 10.0.0.x moved to 127.0.0.x, and no key files."""
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    text = re.sub(r"\b10\.0\.0\.(\d+)\b", r"127.0.0.\1", text)
    cfg = yaml.safe_load(text)["config"]
    cfg["novalab:ssh"] = {"user": "root"}
    cfg["novalab:keypair"] = {
        "name": "gridka-api-node",
        "publicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5vdmFsYWItdGVzdC1rZXktbWF0ZXJpYWwtMDAwMDAw engine-test",
    }
    cfg.update(
        {
            "openstack:authUrl": f"http://127.0.0.1:{closed_port()}/v3",
            "openstack:userName": "admin",
            "openstack:tenantName": "admin",
            "openstack:userDomainName": "Default",
            "openstack:projectDomainName": "Default",
            "openstack:region": "RegionOne",
        }
    )
    return cfg


def private_key() -> str:
    dashes = "-" * 5
    return f"{dashes}BEGIN OPENSSH PRIVATE KEY{dashes}\n{SSH_KEY_MARKER}\n{dashes}END OPENSSH PRIVATE KEY{dashes}\n"


def make_stack(tmp_path: Path, cfg: dict, stack: str = "loopback") -> Pulumi:
    project = copy_novalab(tmp_path / "project", cfg, stack)
    pulumi = Pulumi(project, tmp_path / "state", stack=stack).init()
    for key, value in SECRETS.items():
        pulumi.config(key, value, secret=True)
    pulumi.config("novalab:sshPrivateKey", private_key(), secret=True)
    return pulumi


def policy_args(project: Path, config: dict) -> list[str]:
    path = project / "policy-config.json"
    path.write_text(json.dumps(config))
    return ["--policy-pack", str(project / "policies"), "--policy-pack-config", str(path)]


def dev_policy_config() -> dict:
    return json.loads((ROOT / "policies" / "config" / "dev.json").read_text())


@pytest.fixture(scope="module")
def previewed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("engine-preview")
    pulumi = make_stack(tmp, loopback_stack())
    result = pulumi.preview(*policy_args(pulumi.project_dir, dev_policy_config()))
    return pulumi, result


def planned(out: str, token: str, name: str) -> bool:
    """Whether the preview's table plans to create NAME of TOKEN (shown as `pkg:module:Type`)."""
    pkg, mod, typ = token.split(":")
    shown = f"{pkg}:{mod.split('/')[0]}:{typ}"
    return re.search(rf"^ \+\s+{re.escape(shown)}\s+{re.escape(name)}\s+create\b", out, re.M) is not None


def test_preview_of_a_loopback_stack_plans_every_host_step_and_cloud_resource(previewed):
    _, result = previewed
    assert result.returncode == 0
    out = result.stdout
    for step in STEPS:
        assert planned(out, "command:remote:Command", f"compute-1-{step}"), step
    for token, name in [
        ("openstack:compute/flavor:Flavor", "x1.tiny"),
        ("openstack:compute/keypair:Keypair", "gridka-api-node"),
        ("openstack:compute/instance:Instance", "server-1-instance"),
        ("openstack:networking/floatingIp:FloatingIp", "server-1-fip"),
        ("openstack:networking/floatingIpAssociate:FloatingIpAssociate", "server-1-fip-assoc"),
        ("openstack:blockstorage/volume:Volume", "test2"),
        ("openstack:compute/volumeAttach:VolumeAttach", "server-1-test2-attach"),
        ("openstack:identity/ec2CredentialV3:Ec2CredentialV3", "ec2-credentials"),
    ]:
        assert planned(out, token, name), f"{token} {name} not in the plan"


def test_preview_shows_no_secret_of_the_stack(previewed):
    pulumi, result = previewed
    assert_nowhere([*SECRETS.values(), SSH_KEY_MARKER], result.stdout, result.stderr, where="preview output")


def test_the_policy_pack_ran_inside_the_engine_and_passed(previewed):
    _, result = previewed
    assert re.search(r"Policies:\s*\n\s*✅ novalab@v\S+ \(local: .*policies\)", result.stdout), result.stdout


def test_a_64_gb_flavor_fails_the_up_by_policy_in_its_preview_and_creates_nothing(tmp_path):
    cfg = loopback_stack()
    cfg["novalab:flavors"] = cfg["novalab:flavors"] + [{"name": "x1.huge", "ramMb": 65536, "diskGb": 20, "vcpus": 4}]
    pulumi = make_stack(tmp_path, cfg)
    # An `up` (a preview never writes state, so "nothing created" after one proves nothing): the
    # mandatory policy fails its preview, and no step runs.
    result = pulumi.run("up", "-s", pulumi.stack, *pulumi.config_args, "--yes",
                        *policy_args(pulumi.project_dir, dev_policy_config()), check=False)
    assert result.returncode != 0
    assert "flavor-size-bounds" in result.stdout and "x1.huge" in result.stdout
    assert "65536" in result.stdout
    assert pulumi.resources() == []


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda cfg: cfg["novalab:flavors"][0].update(ramMb=-5), "flavors[0].ramMb"),
        (lambda cfg: cfg["novalab:network"].update(bridgeName="br9"), "network.bridgeName"),
    ],
    ids=["negative-ram", "unknown-key"],
)
def test_bad_config_fails_naming_the_field_with_no_traceback_and_no_resource(tmp_path, change, field):
    cfg = loopback_stack()
    change(cfg)
    pulumi = make_stack(tmp_path, cfg)
    result = pulumi.preview(check=False)
    assert result.returncode != 0
    assert field in result.output
    assert "Traceback" not in result.output
    # Shown once: the language host reports "already shown", so the CLI adds no second error line.
    assert diagnostics(result).count(field) == 1, result.output
    assert diagnostics(result).count("error:") == 1
    assert "exited with non-zero exit code" not in result.output
    assert re.search(r"^ \+\s+(command:remote|openstack:)", result.stdout, re.M) is None


def test_the_pack_counts_with_the_allocation_ratio_the_program_renders(tmp_path):
    """HostPlacement carries what nova will use on each host from the program to the pack, inside
    the engine: nine 4-vCPU servers do not fit one 8-core host at nova's default ratio 4.0, and do at
    the 16.0 a configOverrides sets. (The host's size comes from the policy config: in a preview the
    ComputeHost facts are not known yet.)"""
    cfg = loopback_stack()
    cfg["novalab:servers"] = [
        {"name": f"big-{i}", "image": "cirros-0.3.0", "flavor": "m1.large", "network": "net1"} for i in range(9)
    ]
    policy = dev_policy_config()
    # 8 cores, memory and disk to spare: only the vCPUs are short; the ratios are the stack's.
    policy["capacity"] = {"hosts": [{"name": "compute-1", "ramMb": 1048576, "vcpus": 8, "diskGb": 10000}]}
    pulumi = make_stack(tmp_path / "default", cfg)
    result = pulumi.preview(*policy_args(pulumi.project_dir, policy), check=False)
    assert result.returncode != 0, result.stdout
    assert "together ask 36 vcpus but the 1 host(s) offer 32 (compute-1: cpuAllocationRatio 4" in result.stdout

    cfg["novalab:configOverrides"] = {"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": 16.0}}}
    pulumi = make_stack(tmp_path / "ratio-16", cfg)
    result = pulumi.preview(*policy_args(pulumi.project_dir, policy), check=False)
    assert result.returncode == 0, result.stdout
    assert "vcpus" not in result.stdout.split("Policies:")[-1]
