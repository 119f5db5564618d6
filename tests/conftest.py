"""Pulumi mocks for the program tests (the pulumi/examples testing-unit-py pattern).

Mocks are installed before `components.program` is imported; each `deploy()` runs the program once
against a fresh mock engine and returns what it registered.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any, Optional

import pulumi
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

def fake_pem(kind: str, body: str) -> str:
    """A stand-in key (not a key) in PEM shape; built here so no key block sits in the source."""
    dashes = "-" * 5
    return f"{dashes}BEGIN {kind} PRIVATE KEY{dashes}\n{body}\n{dashes}END {kind} PRIVATE KEY{dashes}\n"


# Secret values used by every test: the tests look for them wherever they must not be.
SECRETS = {
    "novalab:rabbitPassword": "rabbit-s3cret$pw",
    "novalab:novaServicePassword": "nova-s3cret-pw",
    "novalab:neutronServicePassword": "neutron-s3cret-pw",
    "novalab:sshPrivateKey": fake_pem("OPENSSH", "test-key-material"),
}
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qta2V5LW1hdGVyaWFsLXRlc3Qta2V5 novalab-test"
FACTS = "novalab-facts ram_mb=16000 vcpus=8 disk_gb=100"


class Recorder(pulumi.runtime.Mocks):
    """Records every resource the program registers and answers like a cloud would."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.calls: list[pulumi.runtime.MockCallArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        state = dict(args.inputs)
        t = args.typ
        if t == "command:remote:Command":
            state["stdout"] = FACTS if args.name.endswith("-packages") else "ok"
            state["stderr"] = ""
        elif t == "openstack:compute/instance:Instance":
            state.update(accessIpV4="192.168.100.10", networks=[{"name": "net1", "fixedIpV4": "192.168.100.10", "port": "port-of-" + args.inputs.get("name", args.name)}])
        elif t == "openstack:networking/floatingIp:FloatingIp":
            state["address"] = "172.16.1.1"
        elif t == "openstack:compute/keypair:Keypair":
            state["fingerprint"] = "fa:86:74:77"
            state.setdefault("publicKey", PUBLIC_KEY)
            if not args.inputs.get("publicKey"):
                state["privateKey"] = fake_pem("RSA", "generated")
        elif t == "openstack:blockstorage/volume:Volume":
            state["id"] = f"0123456789abcdef0123-{args.name}"
        elif t == "openstack:identity/ec2CredentialV3:Ec2CredentialV3":
            state.update(access="ec2-access-key", secret="ec2-secret-key")
        rid = args.resource_id or f"{args.name}-id"
        if t == "openstack:blockstorage/volume:Volume":
            rid = state["id"]
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append(args)  # the program must make none in preview (tested)
        return {}

    # --- queries used by the tests ---
    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> pulumi.runtime.MockResourceArgs:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"expected one resource named {name}, got {[r.name for r in self.resources]}"
        return matches[0]

    def commands(self) -> list[pulumi.runtime.MockResourceArgs]:
        return self.of_type("command:remote:Command")


def load_stack_yaml(stack: str = "dev") -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return copy.deepcopy(doc["config"])


def to_raw(config: dict[str, Any]) -> dict[str, str]:
    """What the engine hands the program: objects as JSON text, scalars as text."""
    raw = {}
    for key, value in config.items():
        if isinstance(value, (dict, list)):
            raw[key] = json.dumps(value)
        elif isinstance(value, bool):
            raw[key] = "true" if value else "false"
        else:
            raw[key] = str(value)
    return raw


def dev_config(**overrides: Any) -> dict[str, Any]:
    """Pulumi.dev.yaml plus the secrets a user sets with `pulumi config set --secret`."""
    cfg = load_stack_yaml("dev")
    cfg.update(SECRETS)
    # Tests run on machines with no ~/.ssh: the key comes from the secret, the public key inline.
    cfg["novalab:ssh"] = {"user": "root"}
    cfg["novalab:keypair"] = {"name": "gridka-api-node", "publicKey": PUBLIC_KEY}
    for key, value in overrides.items():
        full = key if ":" in key else f"novalab:{key}"
        if value is None:
            cfg.pop(full, None)
        else:
            cfg[full] = value
    return cfg


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """Also records what MockResourceArgs leaves out: dependencies, parent, protect, import id."""

    def __init__(self, mocks: Recorder):
        super().__init__(mocks)
        self.requests: dict[str, Any] = {}

    def RegisterResource(self, request):
        self.requests[request.name] = request
        return super().RegisterResource(request)

    def depends_on(self, name: str) -> set[str]:
        req = self.requests[name]
        deps = set(req.dependencies)
        for prop in req.propertyDependencies.values():
            deps.update(prop.urns)
        return {urn.rsplit("::", 1)[-1] for urn in deps}

    def parent_of(self, name: str) -> str:
        return self.requests[name].parent.rsplit("::", 1)[-1]


class Deployment:
    def __init__(self, mocks: Recorder, monitor: RecordingMonitor, result: Any):
        self.mocks = mocks
        self.monitor = monitor
        self.result = result


def deploy(
    config: dict[str, Any], preview: bool = False, stack: str = "dev", mocks: Optional[Recorder] = None
) -> Deployment:
    """Run the whole program under mocks with this config; returns the recorder and run()'s result."""
    mocks = mocks or Recorder()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="novalab", stack=stack, preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config(to_raw(config), [k for k in config if k in SECRETS])
    from components import program

    holder: dict[str, Any] = {}

    @pulumi.runtime.test
    def _run():
        holder["result"] = program.run(base_dir=ROOT)

    _run()
    return Deployment(mocks, monitor, holder.get("result"))


def resolved(output: Any) -> Any:
    """The value of an Output, after the mock run finished."""
    from pulumi.runtime.sync_await import _sync_await

    return _sync_await(output.future())


def is_secret(output: Any) -> bool:
    from pulumi.runtime.sync_await import _sync_await

    return bool(_sync_await(output.is_secret()))


@pytest.fixture
def dev() -> dict[str, Any]:
    return dev_config()
