"""The novalab program under Pulumi mocks (the pulumi/examples testing-unit-py pattern).

Each `deploy()` runs the whole program once against a fresh mock engine and returns what it
registered. Secret inputs arrive as Pulumi's secret wrappers; `unwrap`, `reveal` and `plain_text`
tell them apart by Pulumi's own secret signature (not by the generic signature key, which assets,
archives and resource references carry too).
"""

from __future__ import annotations

import copy
import json
import sys
import uuid
from pathlib import Path
from typing import Any, Iterable, Optional

import pulumi
import yaml
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

ROOT = Path(__file__).resolve().parent.parent.parent
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
# A key in the shape ssh-keygen writes (its 32 bytes are text, not a real key): the config checks it.
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5vdmFsYWItdGVzdC1rZXktbWF0ZXJpYWwtMDAwMDAw novalab-test"
# A host key as `ssh-keyscan -t ed25519` prints it (without the host name); its bytes are text too.
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5vdmFsYWItdGVzdC1ob3N0LWtleS0wMDAwMDAwMDAw"
FACTS = "novalab-facts ram_mb=16000 vcpus=8 disk_gb=100"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


def cloud_id(name: str) -> str:
    """The id OpenStack gives a resource (a UUID), stable per name so tests can name it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"novalab-test/{name}"))


# --- secret wrappers ----------------------------------------------------------------------------


def unwrap(value: Any) -> tuple[Any, bool]:
    """(plain value, was it a secret) of a mock input."""
    return unwrap_rpc_secret(value), is_rpc_secret(value)


def reveal(value: Any) -> Any:
    """The input with every secret wrapper, at any depth, replaced by its value."""
    if is_rpc_secret(value):
        return reveal(unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def plain_text(value: Any) -> str:
    """Everything of an input that is NOT behind a secret wrapper, as text."""
    if is_rpc_secret(value):
        return ""
    if isinstance(value, dict):
        return " ".join(f"{k} {plain_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return " ".join(plain_text(v) for v in value)
    return str(value)


# --- the mock engine ----------------------------------------------------------------------------


class Recorder(pulumi.runtime.Mocks):
    """Records every resource the program registers and answers like a cloud would.

    `stack_outputs` plays other stacks for StackReference: {stack: {output: value}}; names listed in
    `secret_stack_outputs` come back as secrets."""

    def __init__(self, stack_outputs: Optional[dict] = None, secret_stack_outputs: Iterable[str] = ()) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.calls: list[pulumi.runtime.MockCallArgs] = []
        self.stack_outputs = stack_outputs or {}
        self.secret_stack_outputs = list(secret_stack_outputs)
        self.preview = False  # deploy() sets it: a preview's new resources have no id yet
        self.ports: list[dict] = []  # the cloud's ports: one per server, found by getPort's filters

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        state = dict(args.inputs)
        t = args.typ
        creating = self.preview and not args.resource_id  # a preview knows no output of a new resource
        if t == STACK_REFERENCE:
            stack = args.inputs.get("name", args.name)
            state.update(outputs=self.stack_outputs.get(stack, {}), secretOutputNames=self.secret_stack_outputs)
        elif t == "command:remote:Command" and not creating:
            state["stdout"] = FACTS if args.name.endswith("-packages") else "ok"
            state["stderr"] = ""
        elif t == "openstack:compute/instance:Instance" and not creating:
            # As the provider answers for a network given by name: no port (seen on the lab).
            state.update(accessIpV4="192.168.100.10", networks=[{"name": "net1", "fixedIpV4": "192.168.100.10", "port": ""}])
            self.ports.append({"id": cloud_id(f"port of {args.name}"), "deviceId": cloud_id(args.name),
                               "fixedIp": "192.168.100.10"})
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
        elif t == "openstack:compute/flavor:Flavor":
            rid = args.inputs.get("flavorId") or cloud_id(args.name)  # nova: the given flavor id, else a UUID
        elif t == "openstack:compute/instance:Instance":
            rid = cloud_id(args.name)
        if self.preview and not args.resource_id:
            rid = ""  # as the engine answers in a preview: the id of a resource to create is unknown
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append(args)  # the program must make none in preview (tested)
        if args.token == "openstack:networking/getPort:getPort":
            # Every filter given must match, and exactly one port, or the provider fails the lookup.
            found = [p for p in self.ports if all(p.get(k) == v for k, v in args.args.items() if v is not None)]
            if len(found) != 1:
                raise Exception(f"Your query returned {'no' if not found else 'more than one'} result(s)")
            return dict(found[0])
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

    def custom(self) -> list[pulumi.runtime.MockResourceArgs]:
        """What a provider creates: everything but component resources (custom=True)."""
        return [r for r in self.resources if r.custom]


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """Also records what MockResourceArgs leaves out: dependencies, parent, protect, import id."""

    def __init__(self, mocks: Recorder):
        super().__init__(mocks)
        self.requests: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}  # a component's register_outputs, by resource name

    def RegisterResourceOutputs(self, request):
        from pulumi.runtime.rpc import deserialize_properties

        self.outputs[request.urn.rsplit("::", 1)[-1]] = deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)

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


# --- stack config -------------------------------------------------------------------------------


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


# --- running the program ------------------------------------------------------------------------


class Deployment:
    def __init__(self, mocks: Recorder, monitor: RecordingMonitor, result: Any):
        self.mocks = mocks
        self.monitor = monitor
        self.result = result


def deploy(
    config: dict[str, Any],
    preview: bool = False,
    stack: str = "dev",
    mocks: Optional[Recorder] = None,
    secret_keys: Iterable[str] = (),
) -> Deployment:
    """Run the whole program under mocks with this config; returns the recorder and run()'s result.
    The SECRETS keys, and `secret_keys` (e.g. a key set with `pulumi config set --secret --path`),
    are the stack's secret config keys."""
    mocks = mocks or Recorder()
    mocks.preview = preview
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="novalab", stack=stack, preview=preview, monitor=monitor)
    extra = [k if ":" in k else f"novalab:{k}" for k in secret_keys]
    pulumi.runtime.set_all_config(to_raw(config), [k for k in config if k in SECRETS] + extra)
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


def is_known(output: Any) -> bool:
    from pulumi.runtime.sync_await import _sync_await

    return bool(_sync_await(output.is_known()))


def is_secret(output: Any) -> bool:
    from pulumi.runtime.sync_await import _sync_await

    return bool(_sync_await(output.is_secret()))


def config_problems(config: dict[str, Any], secret_keys: Iterable[str] = ()) -> list[str]:
    """The problems parse_stack_config reports for this config (it must report some)."""
    from components.config import ConfigError, parse_stack_config

    try:
        parse_stack_config(to_raw(config), secret_keys=secret_keys)
    except ConfigError as e:
        return e.problems
    raise AssertionError("the config was accepted")
