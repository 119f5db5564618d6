"""novalab's pulumi-resource-openstack (engine/provider-openstack) against the installed
pulumi_openstack SDK, and inside the real engine.

What the SDK expects is read from the installed package itself (engine/provider-openstack/scripts/
sdk_shape.py parses its source): every class and function token, every property name, type,
required flag and secret flag. The schema is the one the plugin serves (GetSchema over gRPC).

The plugin is the one installed for the engine (`./novalab setup`), or NOVALAB_OPENSTACK_PLUGIN
(a binary built by engine/provider-openstack/build.sh). Nothing here reaches a cloud: the provider's
authUrl is a loopback port nothing listens on, which also proves that a preview makes no API call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from support.engine import ROOT, Pulumi, assert_nowhere, closed_port, require_plugin, write_project

sys.path.insert(0, str(ROOT / "engine" / "provider-openstack" / "scripts"))
import sdk_shape  # noqa: E402

pytestmark = pytest.mark.engine

PACKAGE = sdk_shape.installed_package()
SDK = sdk_shape.read_shape(PACKAGE)
VERSION = sdk_shape.plugin_version(PACKAGE)

# The classes novalab's program uses (components/program.py, flavors.py, servers.py).
PROGRAM_RESOURCES = [
    "openstack:compute/instance:Instance",
    "openstack:compute/flavor:Flavor",
    "openstack:compute/keypair:Keypair",
    "openstack:compute/volumeAttach:VolumeAttach",
    "openstack:blockstorage/volume:Volume",
    "openstack:networking/floatingIp:FloatingIp",
    "openstack:networking/floatingIpAssociate:FloatingIpAssociate",
    "openstack:identity/ec2CredentialV3:Ec2CredentialV3",
]
ADMIN_PASSWORD = "admin-openstack-engine-s3cret"




# --- the plugin over gRPC -----------------------------------------------------------------------


def plugin_binary() -> Path:
    given = os.environ.get("NOVALAB_OPENSTACK_PLUGIN")
    if given:
        return Path(given)
    return require_plugin("openstack", VERSION)


class Plugin:
    """The plugin process as the engine starts it: it prints its gRPC port, then serves."""

    def __init__(self, binary: Path):
        self.proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.proc.kill()
            raise AssertionError(f"{binary} did not print its port: {port!r} {self.proc.stderr.read()[-2000:]}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def struct(value: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def plain(message) -> dict:
    return json_format.MessageToDict(message)


@pytest.fixture(scope="module")
def plugin() -> Iterator[Plugin]:
    p = Plugin(plugin_binary())
    yield p
    p.close()


@pytest.fixture(scope="module")
def schema(plugin: Plugin) -> dict:
    return json.loads(plugin.stub.GetSchema(provider_pb2.GetSchemaRequest(version=0)).schema)


@pytest.fixture(scope="module")
def configured(plugin: Plugin) -> Plugin:
    """Configured as a stack would be; delayed auth (the default) means no Keystone call yet."""
    config = {
        "authUrl": f"http://127.0.0.1:{closed_port()}/v3",
        "userName": "admin",
        "password": ADMIN_PASSWORD,
        "tenantName": "admin",
        "userDomainName": "Default",
        "projectDomainName": "Default",
        "region": "RegionOne",
    }
    checked = plugin.stub.CheckConfig(
        provider_pb2.CheckRequest(urn=urn("pulumi:providers:openstack", "default"), olds=struct({}), news=struct(config))
    )
    assert not checked.failures, checked.failures
    plugin.stub.Configure(provider_pb2.ConfigureRequest(args=checked.inputs, acceptSecrets=True, acceptResources=True))
    return plugin


def urn(token: str, name: str) -> str:
    return f"urn:pulumi:test::enginetest::{token}::{name}"


# --- (a) the schema has what the installed SDK expects ---------------------------------------------


def schema_type(spec: dict) -> str:
    """A schema property's type in sdk_shape's notation."""
    if "$ref" in spec:
        ref = spec["$ref"]
        if ref == "pulumi.json#/Any":
            return "any"
        name = ref.rsplit(":", 1)[1]
        return "ref:" + name[:1].upper() + name[1:]
    kind = spec.get("type")
    if kind == "array":
        return f"array<{schema_type(spec['items'])}>"
    if kind == "object":
        return f"map<{schema_type(spec.get('additionalProperties', {'$ref': 'pulumi.json#/Any'}))}>"
    return kind


def differences(label: str, sdk_props: dict, props: dict, required: list, secrets: bool = True) -> list[str]:
    """Every way the schema's properties differ from the SDK's: names, types, required, secret."""
    out = []
    for name in sorted(set(sdk_props) | set(props)):
        if name not in props:
            out.append(f"{label}: {name} is missing from the schema")
            continue
        if name not in sdk_props:
            out.append(f"{label}: {name} is in the schema but not in the SDK")
            continue
        want, spec = sdk_props[name], props[name]
        if want.type != schema_type(spec):
            out.append(f"{label}: {name} is {schema_type(spec)}, the SDK has {want.type}")
        if want.required != (name in required):
            out.append(f"{label}: {name} required={name in required}, the SDK has required={want.required}")
        if secrets and want.secret != bool(spec.get("secret")):
            out.append(f"{label}: {name} secret={bool(spec.get('secret'))}, the SDK has secret={want.secret}")
    return out


def test_plugin_reports_the_sdk_version(plugin: Plugin):
    assert plugin.stub.GetPluginInfo(empty_pb2.Empty()).version == VERSION


def test_every_resource_class_of_the_sdk_has_its_token(schema: dict):
    assert len(SDK.resources) > 100  # the SDK was read, not an empty directory
    missing = sorted(set(SDK.resources) - set(schema["resources"]))
    assert not missing, f"{len(missing)} of {len(SDK.resources)} SDK classes have no resource in the schema: {missing}"


def test_every_function_of_the_sdk_has_its_token(schema: dict):
    assert len(SDK.functions) > 60
    missing = sorted(set(SDK.functions) - set(schema["functions"]))
    assert not missing, f"{len(missing)} of {len(SDK.functions)} SDK functions are not in the schema: {missing}"


@pytest.mark.parametrize("token", sorted(SDK.resources))
def test_resource_properties_match_the_sdk(schema: dict, token: str):
    """Inputs and outputs: the same names, types and required flags; secret where the SDK makes
    them secret (e.g. Instance.adminPass, Keypair.privateKey). Deprecated SDK classes too."""
    member, resource = SDK.resources[token], schema["resources"][token]
    problems = differences(f"{token} input", member.inputs, resource.get("inputProperties", {}), resource.get("requiredInputs", []))
    problems += differences(f"{token} output", member.outputs, resource.get("properties", {}), resource.get("required", []))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("token", sorted(SDK.functions))
def test_function_arguments_and_results_match_the_sdk(schema: dict, token: str):
    # The Python SDK marks no secrets in function results (the engine carries them at run time).
    member, function = SDK.functions[token], schema["functions"][token]
    inputs, outputs = function.get("inputs", {}), function.get("outputs", {})
    problems = differences(f"{token} argument", member.inputs, inputs.get("properties", {}), inputs.get("required", []), secrets=False)
    problems += differences(f"{token} result", member.outputs, outputs.get("properties", {}), outputs.get("required", []), secrets=False)
    assert not problems, "\n".join(problems)


def test_nested_types_match_the_sdk(schema: dict):
    """Every object type (InstanceNetwork, InstanceVendorOptions, ...) as the SDK's Args class
    (inputs) and output class read it. The Python SDK marks no secrets inside nested types."""
    problems = []
    for token, spec in schema["types"].items():
        module, name = token.split(":")[1].split("/")[0], token.rsplit(":", 1)[1]
        key = f"{module}/{name[:1].upper()}{name[1:]}"
        if key not in SDK.input_types and key not in SDK.output_types:
            problems.append(f"type {token} is unknown to the SDK")
        for kind, types in (("input", SDK.input_types), ("output", SDK.output_types)):
            if key in types:
                problems += differences(f"{kind} type {token}", types[key], spec.get("properties", {}), spec.get("required", []), secrets=False)
    referenced = {p.type.split("ref:")[1].rstrip(">") for m in SDK.resources.values() for p in {**m.inputs, **m.outputs}.values() if "ref:" in p.type}
    assert referenced, "the SDK's resources reference no object type: the SDK was not read"
    assert not problems, "\n".join(problems)


def test_the_program_classes_have_what_the_program_uses(schema: dict):
    """What components/servers.py and program.py send and read, by name."""
    instance = schema["resources"]["openstack:compute/instance:Instance"]
    vendor = instance["inputProperties"]["vendorOptions"]
    assert vendor["$ref"].endswith(":InstanceVendorOptions"), "vendorOptions must be one object (MaxItems 1), not a list"
    vendor_type = schema["types"]["openstack:compute/InstanceVendorOptions:InstanceVendorOptions"]
    assert "ignoreResizeConfirmation" in vendor_type["properties"]
    networks = instance["properties"]["networks"]
    assert networks["type"] == "array" and networks["items"]["$ref"].endswith(":InstanceNetwork")
    network_type = schema["types"]["openstack:compute/InstanceNetwork:InstanceNetwork"]["properties"]
    assert {"name", "fixedIpV4", "port"} <= set(network_type)
    assert instance["inputProperties"]["adminPass"].get("secret") is True
    keypair = schema["resources"]["openstack:compute/keypair:Keypair"]
    assert keypair["properties"]["privateKey"].get("secret") is True
    assert "fingerprint" in keypair["properties"]
    assert "name" not in keypair.get("requiredInputs", []), "a keypair's name is autonamed, as in the SDK"
    ec2 = schema["resources"]["openstack:identity/ec2CredentialV3:Ec2CredentialV3"]
    assert ec2["properties"]["secret"].get("secret") is True and "access" in ec2["properties"]
    assert "address" in schema["resources"]["openstack:networking/floatingIp:FloatingIp"]["properties"]
    flavor = schema["resources"]["openstack:compute/flavor:Flavor"]
    assert {"ram", "vcpus", "disk"} <= set(flavor["requiredInputs"])
    assert {"flavorId", "isPublic", "rxTxFactor", "extraSpecs", "ephemeral", "swap"} <= set(flavor["inputProperties"])


def test_provider_config_matches_the_sdk(schema: dict):
    """Provider inputs and config keys as openstack.Provider / openstack.config have them, with the
    same OS_* environment defaults the SDK reads."""
    problems = differences("provider input", SDK.provider.inputs, schema["provider"]["inputProperties"], schema["provider"].get("requiredInputs", []))
    variables = schema["config"]["variables"]
    assert set(variables) == set(SDK.provider.inputs)
    env = {name: spec["defaultInfo"]["environment"] for name, spec in variables.items() if "defaultInfo" in spec}
    assert env == {name: [var] for name, var in SDK.provider.env.items()}
    assert not problems, "\n".join(problems)
    for key in ("authUrl", "userName", "password", "tenantName", "userDomainName", "projectDomainName", "region", "insecure", "cloud"):
        assert key in variables, key
    assert variables["password"].get("secret") is True
    assert env["region"] == ["OS_REGION_NAME"] and env["cloud"] == ["OS_CLOUD"]


def test_legacy_tokens_are_deprecated_and_aliased(schema: dict):
    """The SDK still ships classes under old tokens (openstack.BgpvpnV2 ...): served, deprecated, and
    the new class aliases the old token so a stack moves over without a replace."""
    legacy = [t for t, m in SDK.resources.items() if m.deprecated]
    assert legacy
    for token in legacy:
        assert schema["resources"][token].get("deprecationMessage") == SDK.resources[token].deprecated
    aliases = schema["resources"]["openstack:bgpvpn/v2:V2"].get("aliases", [])
    assert {"type": "openstack:index/bgpvpnV2:BgpvpnV2"} in aliases


# --- the plugin's behaviour over gRPC -------------------------------------------------------------


def test_the_password_stays_secret_through_check_config(plugin: Plugin):
    checked = plugin.stub.CheckConfig(
        provider_pb2.CheckRequest(
            urn=urn("pulumi:providers:openstack", "p"),
            olds=struct({}),
            news=struct({"authUrl": "http://127.0.0.1:1/v3", "password": ADMIN_PASSWORD}),
        )
    )
    password = plain(checked.inputs)["password"]
    assert isinstance(password, dict) and password.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270"


def diff(plugin: Plugin, token: str, olds: dict, news: dict) -> dict:
    checked = plugin.stub.Check(provider_pb2.CheckRequest(urn=urn(token, "r"), olds=struct(olds), news=struct(news), randomSeed=b"0123456789abcdef"))
    assert not checked.failures, checked.failures
    response = plugin.stub.Diff(
        provider_pb2.DiffRequest(id="r-id", urn=urn(token, "r"), olds=struct(olds), news=checked.inputs, old_inputs=struct(olds))
    )
    return plain(response)


FLAVOR = {"name": "x1.tiny", "flavorId": "6", "ram": 256, "disk": 2, "vcpus": 1, "isPublic": True, "rxTxFactor": 1}
INSTANCE = {"name": "server-1", "imageName": "cirros", "flavorId": "6", "keyPair": "kp", "networks": [{"name": "private"}], "securityGroups": ["default"]}


def test_changing_a_flavors_size_replaces_it(configured: Plugin):
    d = diff(configured, "openstack:compute/flavor:Flavor", FLAVOR, dict(FLAVOR, ram=512))
    assert d["changes"] == "DIFF_SOME" and d.get("replaces") == ["ram"]


def test_changing_a_flavors_extra_specs_updates_it_in_place(configured: Plugin):
    d = diff(configured, "openstack:compute/flavor:Flavor", FLAVOR, dict(FLAVOR, extraSpecs={"hw:cpu_policy": "shared"}))
    assert d["changes"] == "DIFF_SOME" and not d.get("replaces")


def test_changing_a_servers_flavor_resizes_it_in_place(configured: Plugin):
    """The README's resize: same server (no replace), new flavor."""
    d = diff(configured, "openstack:compute/instance:Instance", INSTANCE, dict(INSTANCE, flavorId="7"))
    assert d["changes"] == "DIFF_SOME" and "flavorId" in d["diffs"] and not d.get("replaces")


def test_moving_a_server_to_another_network_replaces_it(configured: Plugin):
    d = diff(configured, "openstack:compute/instance:Instance", INSTANCE, dict(INSTANCE, networks=[{"name": "other"}]))
    assert any(r.startswith("networks") for r in d.get("replaces", [])), d


def test_growing_a_volume_extends_it_in_place(configured: Plugin):
    volume = {"name": "test2", "size": 1}
    d = diff(configured, "openstack:blockstorage/volume:Volume", volume, dict(volume, size=2))
    assert d["changes"] == "DIFF_SOME" and not d.get("replaces")


def test_moving_an_attachment_to_another_server_replaces_it(configured: Plugin):
    attach = {"instanceId": "server-a", "volumeId": "vol-1", "device": "/dev/vdb"}
    d = diff(configured, "openstack:compute/volumeAttach:VolumeAttach", attach, dict(attach, instanceId="server-b"))
    assert "instanceId" in d.get("replaces", [])


def test_an_unnamed_keypair_gets_an_autoname(configured: Plugin):
    checked = configured.stub.Check(
        provider_pb2.CheckRequest(urn=urn("openstack:compute/keypair:Keypair", "deployer"), olds=struct({}), news=struct({}), randomSeed=b"0123456789abcdef")
    )
    name = plain(checked.inputs)["name"]
    assert name.startswith("deployer-") and len(name) == len("deployer-") + 7


def test_a_missing_required_input_is_reported_by_name(configured: Plugin):
    checked = configured.stub.Check(
        provider_pb2.CheckRequest(urn=urn("openstack:compute/flavor:Flavor", "f"), olds=struct({}), news=struct({"name": "f", "vcpus": 1, "disk": 1}), randomSeed=b"0123456789abcdef")
    )
    assert any("ram" in f.reason for f in checked.failures), [f.reason for f in checked.failures]


# --- (b) pulumi preview through the real engine, nothing listening -------------------------------

PROVIDER_CONFIG = {
    "openstack:userName": "admin",
    "openstack:tenantName": "admin",
    "openstack:userDomainName": "Default",
    "openstack:projectDomainName": "Default",
    "openstack:region": "RegionOne",
}

# Every class the program uses, with the shapes it uses them in (components/servers.py etc.).
PROGRAM_CLASSES = """
    import pulumi
    import pulumi_openstack as openstack

    keypair = openstack.compute.Keypair("gridka-api-node", name="gridka-api-node")
    flavor = openstack.compute.Flavor(
        "x1.tiny", name="x1.tiny", flavor_id="6", ram=256, disk=2, vcpus=1, ephemeral=0, swap=0,
        rx_tx_factor=1.0, is_public=True, extra_specs={"hw:cpu_policy": "shared"})
    server = openstack.compute.Instance(
        "server-1-instance", name="server-1", image_name="cirros", flavor_id=flavor.flavor_id,
        key_pair=keypair.name, security_groups=["default"],
        networks=[openstack.compute.InstanceNetworkArgs(name="private")], user_data="#!/bin/sh\\ntrue\\n",
        vendor_options=openstack.compute.InstanceVendorOptionsArgs(ignore_resize_confirmation=True))
    fip = openstack.networking.FloatingIp("server-1-fip", pool="public")
    port = openstack.networking.get_port_output(
        device_id=server.id, fixed_ip=server.networks.apply(lambda n: n[0].fixed_ip_v4))
    openstack.networking.FloatingIpAssociate("server-1-fip-assoc", floating_ip=fip.address, port_id=port.id)
    volume = openstack.blockstorage.Volume("test2", name="test2", size=1)
    openstack.compute.VolumeAttach("server-1-test2-attach", instance_id=server.id, volume_id=volume.id, device="/dev/vdb")
    ec2 = openstack.identity.Ec2CredentialV3("ec2-credentials")
    pulumi.export("keypairPrivateKey", pulumi.Output.secret(keypair.private_key))
    pulumi.export("ec2SecretKey", pulumi.Output.secret(ec2.secret))
"""

# A sample across every module of the package (and one deprecated legacy class), with inputs a
# cloud would accept.
BROAD_SAMPLE = """
    import pulumi
    import pulumi_openstack as openstack

    net = openstack.networking.Network("net", name="net", admin_state_up=True)
    subnet = openstack.networking.Subnet("subnet", network_id=net.id, cidr="192.168.10.0/24", ip_version=4,
        allocation_pools=[openstack.networking.SubnetAllocationPoolArgs(start="192.168.10.10", end="192.168.10.99")])
    router = openstack.networking.Router("router", name="router", external_network_id="ext-net-id")
    openstack.networking.RouterInterface("router-if", router_id=router.id, subnet_id=subnet.id)
    sg = openstack.networking.SecGroup("sg", name="ssh", description="ssh in")
    openstack.networking.SecGroupRule("ssh-in", direction="ingress", ethertype="IPv4", protocol="tcp",
        port_range_min=22, port_range_max=22, remote_ip_prefix="0.0.0.0/0", security_group_id=sg.id)
    port = openstack.networking.Port("port", network_id=net.id, fixed_ips=[openstack.networking.PortFixedIpArgs(subnet_id=subnet.id)])
    openstack.compute.ServerGroup("group", name="group", policies="anti-affinity")
    openstack.compute.AggregateV2("aggregate", name="rack-1", hosts=[])
    openstack.compute.InterfaceAttach("if-attach", instance_id="server-id", port_id=port.id)
    project = openstack.identity.Project("project", name="demo")
    user = openstack.identity.User("user", name="demo", password="demo-user-s3cret", default_project_id=project.id)
    role = openstack.identity.Role("role", name="reader-2")
    openstack.identity.RoleAssignment("assignment", project_id=project.id, user_id=user.id, role_id=role.id)
    openstack.images.Image("image", name="cirros", container_format="bare", disk_format="qcow2",
        image_source_url="http://127.0.0.1:9/cirros.img", visibility="private")
    openstack.blockstorage.VolumeTypeV3("volume-type", name="fast", extra_specs={"volume_backend_name": "ceph"})
    openstack.dns.Zone("zone", name="example.org.", email="admin@example.org", ttl=3600)
    lb = openstack.loadbalancer.LoadBalancer("lb", name="lb", vip_subnet_id=subnet.id)
    openstack.loadbalancer.Listener("listener", protocol="HTTP", protocol_port=80, loadbalancer_id=lb.id)
    openstack.objectstorage.Container("container", name="backups")
    openstack.keymanager.SecretV1("secret", name="token", payload="keymanager-payload-s3cret",
        payload_content_type="text/plain", secret_type="passphrase")
    openstack.firewall.RuleV2("fw-rule", name="allow-ssh", protocol="tcp", action="allow", destination_port="22")
    openstack.vpnaas.IkePolicy("ike", name="ike")
    openstack.sharedfilesystem.ShareNetwork("share-net", name="share-net", neutron_net_id=net.id, neutron_subnet_id=subnet.id)
    openstack.orchestration.StackV1("stack", name="stack", template_opts={"Bin": "heat_template_version: 2018-08-31"})
    openstack.BgpvpnV2("legacy-bgpvpn", name="vpn")
"""
BROAD_SAMPLE_TYPES = [
    "openstack:networking/network:Network", "openstack:networking/subnet:Subnet", "openstack:networking/router:Router",
    "openstack:networking/routerInterface:RouterInterface", "openstack:networking/secGroup:SecGroup",
    "openstack:networking/secGroupRule:SecGroupRule", "openstack:networking/port:Port",
    "openstack:compute/serverGroup:ServerGroup", "openstack:compute/aggregateV2:AggregateV2",
    "openstack:compute/interfaceAttach:InterfaceAttach", "openstack:identity/project:Project",
    "openstack:identity/user:User", "openstack:identity/role:Role", "openstack:identity/roleAssignment:RoleAssignment",
    "openstack:images/image:Image", "openstack:blockstorage/volumeTypeV3:VolumeTypeV3", "openstack:dns/zone:Zone",
    "openstack:loadbalancer/loadBalancer:LoadBalancer", "openstack:loadbalancer/listener:Listener",
    "openstack:objectstorage/container:Container", "openstack:keymanager/secretV1:SecretV1",
    "openstack:firewall/ruleV2:RuleV2", "openstack:vpnaas/ikePolicy:IkePolicy",
    "openstack:sharedfilesystem/shareNetwork:ShareNetwork", "openstack:orchestration/stackV1:StackV1",
    "openstack:index/bgpvpnV2:BgpvpnV2",
]


def loopback_stack(tmp_path: Path, program: str) -> Pulumi:
    require_plugin("openstack", VERSION)  # the engine runs the installed plugin
    project = write_project(tmp_path / "project", program)
    pulumi = Pulumi(project, tmp_path / "state").init()
    for key, value in dict(PROVIDER_CONFIG, **{"openstack:authUrl": f"http://127.0.0.1:{closed_port()}/v3"}).items():
        pulumi.config(key, value)
    pulumi.config("openstack:password", ADMIN_PASSWORD, secret=True)
    return pulumi


def preview_creates(pulumi: Pulumi, types: list[str]) -> dict[str, dict]:
    """`pulumi preview --json` of the stack: it must plan to create exactly `types` (and the stack).
    Returns each planned resource's checked inputs by type (as the provider's Check returned them)."""
    result = pulumi.run("preview", "-s", pulumi.stack, "--json")
    plan = json.loads(result.stdout)
    steps = [step for step in plan["steps"] if step["newState"]["type"] != "pulumi:pulumi:Stack"]
    assert sorted(step["newState"]["type"] for step in steps) == sorted(types), result.stdout[-3000:]
    assert {step["op"] for step in steps} == {"create"}
    assert_nowhere([ADMIN_PASSWORD], result.output, where="preview")
    return {step["newState"]["type"]: without_defaults(step["newState"].get("inputs", {})) for step in steps}


def without_defaults(value):
    """Checked inputs without the bridge's `__defaults` bookkeeping."""
    if isinstance(value, dict):
        return {k: without_defaults(v) for k, v in value.items() if k != "__defaults"}
    if isinstance(value, list):
        return [without_defaults(v) for v in value]
    return value


def test_preview_of_the_programs_classes_needs_no_cloud(tmp_path: Path):
    pulumi = loopback_stack(tmp_path, PROGRAM_CLASSES)
    planned = preview_creates(pulumi, PROGRAM_RESOURCES)
    instance = planned["openstack:compute/instance:Instance"]
    assert instance["vendorOptions"]["ignoreResizeConfirmation"] is True
    assert [n["name"] for n in instance["networks"]] == ["private"]
    assert instance["flavorId"] == "6"  # known in preview: the flavor's id is an input
    flavor = planned["openstack:compute/flavor:Flavor"]
    assert (flavor["ram"], flavor["disk"], flavor["vcpus"], flavor["isPublic"]) == (256, 2, 1, True)
    assert flavor["extraSpecs"] == {"hw:cpu_policy": "shared"}
    assert planned["openstack:compute/volumeAttach:VolumeAttach"]["device"] == "/dev/vdb"
    for path in pulumi.state_files():
        assert_nowhere([ADMIN_PASSWORD], path.read_text(errors="replace"), where=f"state file {path.name}")


def test_preview_of_a_broad_sample_of_types_needs_no_cloud(tmp_path: Path):
    pulumi = loopback_stack(tmp_path, BROAD_SAMPLE)
    planned = preview_creates(pulumi, BROAD_SAMPLE_TYPES)
    assert planned["openstack:networking/subnet:Subnet"]["allocationPools"] == [{"start": "192.168.10.10", "end": "192.168.10.99"}]
    text = json.dumps(planned)
    assert_nowhere(["demo-user-s3cret", "keymanager-payload-s3cret"], text, where="planned inputs")


def test_a_function_reaches_the_configured_cloud(tmp_path: Path):
    """getFlavor is routed to the TF data source with the stack's provider config: with nothing
    listening at authUrl the preview fails, naming that address."""
    pulumi = loopback_stack(
        tmp_path,
        """
        import pulumi
        import pulumi_openstack as openstack
        pulumi.export("flavor", openstack.compute.get_flavor(name="m1.tiny").id)
        """,
    )
    auth_url = pulumi.run("config", "get", "openstack:authUrl").stdout.strip()
    result = pulumi.preview(check=False)
    assert result.returncode != 0
    port = auth_url.split(":")[2].split("/")[0]
    assert f"127.0.0.1:{port}" in result.output and "connection refused" in result.output.lower(), result.output
    assert_nowhere([ADMIN_PASSWORD], result.output, where="error output")


def test_the_os_environment_configures_the_provider(tmp_path: Path):
    """No openstack:* config at all: OS_AUTH_URL and friends (as an openrc sets them) are used."""
    port = closed_port()
    env = {
        "OS_AUTH_URL": f"http://127.0.0.1:{port}/v3",
        "OS_USERNAME": "admin",
        "OS_PASSWORD": ADMIN_PASSWORD,
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionOne",
    }
    project = write_project(
        tmp_path / "project",
        """
        import pulumi
        import pulumi_openstack as openstack
        pulumi.export("flavor", openstack.compute.get_flavor(name="m1.tiny").id)
        """,
    )
    require_plugin("openstack", VERSION)
    pulumi = Pulumi(project, tmp_path / "state", env=env).init()
    result = pulumi.preview(check=False)
    assert result.returncode != 0
    assert f"127.0.0.1:{port}" in result.output and "connection refused" in result.output.lower(), result.output
    assert_nowhere([ADMIN_PASSWORD], result.output, where="error output")
