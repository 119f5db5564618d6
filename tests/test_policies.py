"""The policy pack's rules, called the way the engine calls them: with real pulumi_policy argument
objects (ResourceValidationArgs, StackValidationArgs), props behind the unknown-checking proxy."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "policies"))

import novalab_rules as rules  # noqa: E402

DEV = json.loads((ROOT / "policies/config/dev.json").read_text())
BY_NAME = {p.name: p for p in rules.POLICIES}


def opts(protect=False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def urn(typ: str, name: str) -> str:
    return f"urn:pulumi:dev::novalab::{typ}::{name}"


def flavor(name="x1.tiny", ram=256, vcpus=1, disk=2, ephemeral=0, swap=0, flavor_id="6") -> dict:
    return {"name": name, "flavorId": flavor_id, "ram": ram, "vcpus": vcpus, "disk": disk, "ephemeral": ephemeral, "swap": swap}


def check_resource(policy: str, typ: str, props: dict, config: dict | None = None, protect=False) -> list[str]:
    violations: list[str] = []
    args = ResourceValidationArgs(typ, unknown_checking_proxy(props), urn(typ, props.get("name", "r")), props.get("name", "r"),
                                  opts(protect), None, config if config is not None else DEV.get(policy, {}))
    BY_NAME[policy].validate(args, lambda msg, u=None: violations.append(msg))
    return violations


def resource(typ: str, name: str, props: dict, protect=False) -> PolicyResource:
    return PolicyResource(typ, unknown_checking_proxy(props), urn(typ, name), name, opts(protect), None, None, [], {})


def check_stack(policy: str, resources: list[PolicyResource], config: dict | None = None) -> list[tuple[str, str | None]]:
    violations: list[tuple[str, str | None]] = []
    args = StackValidationArgs(resources, config if config is not None else DEV.get(policy, {}))
    BY_NAME[policy].validate(args, lambda msg, u=None: violations.append((msg, u)))
    return violations


# --- the pack as the engine runs it -------------------------------------------------------------
# The engine talks to the pack over its Analyzer service: it sends the stack's policy config, then
# each resource; a MANDATORY diagnostic stops `pulumi up`, an ADVISORY one is only shown.


def analyzer(config_file: str = "dev.json"):
    """The pack's Analyzer service, configured as the engine does it: every policy at its own level
    unless the stack's policy config sets `enforcementLevel`, with that config's properties."""
    from google.protobuf import struct_pb2
    from pulumi.runtime import proto
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    servicer = _PolicyAnalyzerServicer("novalab", "0.0.1", rules.POLICIES, EnforcementLevel.ADVISORY)
    given = json.loads((ROOT / "policies/config" / config_file).read_text())
    request = proto.ConfigureAnalyzerRequest()
    for info in servicer.GetAnalyzerInfo(None, None).policies:
        cfg = dict(given.get(info.name, {}))
        level = cfg.pop("enforcementLevel", None)
        props = struct_pb2.Struct()
        props.update(cfg)
        request.policyConfig[info.name].CopyFrom(proto.PolicyConfig(
            enforcementLevel=proto.EnforcementLevel.Value(level.upper()) if level else info.enforcementLevel,
            properties=props))
    servicer.Configure(request, None)
    return servicer, proto


def analyze(props: dict, typ: str = rules.FLAVOR, protect: bool = False) -> dict[str, str]:
    """{policy: enforcement level} of every diagnostic the pack reports for one resource."""
    from google.protobuf import struct_pb2

    servicer, proto = analyzer()
    properties = struct_pb2.Struct()
    properties.update(props)
    request = proto.AnalyzeRequest(type=typ, properties=properties, urn=urn(typ, props["name"]), name=props["name"],
                                   options=proto.AnalyzerResourceOptions(protect=protect))
    response = servicer.Analyze(request, None)
    return {d.policyName: proto.EnforcementLevel.Name(d.enforcementLevel) for d in response.diagnostics}


def test_a_flavor_over_the_size_bounds_blocks_the_update():
    assert analyze(flavor("x1.xlarge", ram=32768, vcpus=8)) == {"flavor-size-bounds": "MANDATORY"}


def test_a_badly_named_or_odd_sized_flavor_is_only_a_warning():
    assert analyze(flavor("tiny", ram=300)) == {"flavor-naming": "ADVISORY", "flavor-ram-granularity": "ADVISORY"}
    assert analyze(flavor()) == {}  # the tutorial's x1.tiny passes


def test_the_readme_policy_table_is_the_pack():
    """What README.md tells users about each policy's level is what the pack reports."""
    servicer, proto = analyzer()
    info = servicer.GetAnalyzerInfo(None, None)
    pack = {p.name: proto.EnforcementLevel.Name(p.enforcementLevel).lower() for p in info.policies}
    readme = (ROOT / "README.md").read_text()
    table = dict(re.findall(r"^\| `([a-z0-9-]+)` \| (mandatory|advisory) \|", readme, re.M))
    assert table == pack


# --- flavor-size-bounds -------------------------------------------------------------------------


def test_dev_flavors_pass_with_dev_config():
    for name, (ram, disk, vcpus) in {"x1.tiny": (256, 2, 1), **{k: (v["ramMb"], v["diskGb"], v["vcpus"]) for k, v in rules.M1_SIZES.items()}}.items():
        f = flavor(name, ram=ram, vcpus=vcpus, disk=disk)
        for policy in ("flavor-size-bounds", "flavor-ram-per-vcpu", "flavor-ram-granularity", "flavor-naming"):
            assert check_resource(policy, rules.FLAVOR, f) == [], (policy, name)


def test_a_64_gb_flavor_fails_naming_value_bound_and_key():
    (msg,) = check_resource("flavor-size-bounds", rules.FLAVOR, flavor("x1.huge", ram=65536))
    assert msg == "flavor x1.huge: ram 65536 MB is above the maximum 16384 (policy config flavor-size-bounds.ramMb.max)"


@pytest.mark.parametrize("ram,expected", [(16384, 0), (16383, 0), (16385, 1), (64, 0), (63, 1)])
def test_ram_at_just_inside_and_just_outside_bounds(ram, expected):
    assert len(check_resource("flavor-size-bounds", rules.FLAVOR, flavor(ram=ram))) == expected


@pytest.mark.parametrize("field,value,key", [("vcpus", 9, "vcpus.max"), ("vcpus", 0, "vcpus.min"), ("disk", 161, "diskGb.max"),
                                              ("ephemeral", 101, "ephemeralGb.max"), ("swap", 4097, "swapMb.max")])
def test_each_dimension_outside(field, value, key):
    (msg,) = check_resource("flavor-size-bounds", rules.FLAVOR, {**flavor(), field: value})
    assert f"flavor-size-bounds.{key}" in msg and f" {value} " in msg


def test_defaults_apply_without_config_and_config_overrides():
    assert check_resource("flavor-size-bounds", rules.FLAVOR, flavor(ram=32768), config={}) == []
    assert len(check_resource("flavor-size-bounds", rules.FLAVOR, flavor(ram=32769), config={})) == 1
    assert check_resource("flavor-size-bounds", rules.FLAVOR, flavor(ram=65536), config={"ramMb": {"max": 65536}}) == []


def test_unknown_values_are_skipped_not_violations():
    f = {**flavor(ram=65536), "vcpus": UNKNOWN_NUMBER_VALUE, "name": UNKNOWN_STRING_VALUE}
    msgs = check_resource("flavor-size-bounds", rules.FLAVOR, f)
    assert len(msgs) == 1 and "ram 65536" in msgs[0]  # ram still checked
    assert check_resource("flavor-ram-per-vcpu", rules.FLAVOR, f) == []
    assert check_resource("flavor-naming", rules.FLAVOR, f) == []
    assert check_resource("flavor-size-bounds", rules.FLAVOR, {"ram": UNKNOWN_NUMBER_VALUE, "vcpus": 1, "disk": 1}) == []


@settings(max_examples=200, deadline=None)
@given(
    ram=st.integers(64, 16384), vcpus=st.integers(1, 8), disk=st.integers(0, 160),
    ephemeral=st.integers(0, 100), swap=st.integers(0, 4096),
)
def test_property_a_flavor_inside_all_bounds_never_violates(ram, vcpus, disk, ephemeral, swap):
    f = flavor(ram=ram, vcpus=vcpus, disk=disk, ephemeral=ephemeral, swap=swap)
    assert check_resource("flavor-size-bounds", rules.FLAVOR, f) == []


@settings(max_examples=200, deadline=None)
@given(ram=st.integers(16385, 10**6))
def test_property_a_flavor_above_the_ram_bound_always_violates(ram):
    assert len(check_resource("flavor-size-bounds", rules.FLAVOR, flavor(ram=ram))) == 1


# --- advisory flavor rules --------------------------------------------------------------------------


@pytest.mark.parametrize("ram,vcpus,n", [(128, 1, 0), (127, 1, 1), (4096, 1, 0), (4097, 1, 1), (1024, 8, 0)])
def test_ram_per_vcpu_band(ram, vcpus, n):
    assert len(check_resource("flavor-ram-per-vcpu", rules.FLAVOR, flavor(ram=ram, vcpus=vcpus))) == n


def test_ram_granularity():
    assert check_resource("flavor-ram-granularity", rules.FLAVOR, flavor(ram=320)) == []
    (msg,) = check_resource("flavor-ram-granularity", rules.FLAVOR, flavor(ram=300))
    assert "300 MB is not a multiple of 64 MB (policy config flavor-ram-granularity.stepMb)" in msg


@pytest.mark.parametrize("name,ok", [("x1.tiny", True), ("m1.xlarge", True), ("x1.giant", False), ("tiny", False), ("X1.tiny", False)])
def test_flavor_naming(name, ok):
    assert (check_resource("flavor-naming", rules.FLAVOR, flavor(name)) == []) == ok


# --- volumes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size,n", [(1, 0), (50, 0), (51, 1), (0, 1)])
def test_volume_size_bounds(size, n):
    msgs = check_resource("volume-size-bounds", rules.VOLUME, {"name": "test2", "size": size})
    assert len(msgs) == n
    if n:
        assert msgs[0].startswith(f"volume test2: size {size} GB") and "volume-size-bounds." in msgs[0]


def test_volume_protected_is_advised():
    assert check_resource("volume-protected", rules.VOLUME, {"name": "test2", "size": 1}, protect=True) == []
    (msg,) = check_resource("volume-protected", rules.VOLUME, {"name": "test2", "size": 1}, protect=False)
    assert "volume test2: not protected" in msg


def test_resource_rules_ignore_other_types():
    assert check_resource("flavor-size-bounds", rules.VOLUME, {"name": "v", "ram": 10**6}) == []
    assert check_resource("volume-size-bounds", rules.FLAVOR, {"name": "v", "size": 10**6}) == []


# --- stack rules -------------------------------------------------------------------------------------


def server(name="server-1", flavor_name=None, flavor_id=None) -> PolicyResource:
    props = {"name": name}
    if flavor_name is not None:
        props["flavorName"] = flavor_name
    if flavor_id is not None:
        props["flavorId"] = flavor_id
    return resource(rules.INSTANCE, name, props)


def flavor_res(**kw) -> PolicyResource:
    f = flavor(**kw)
    return resource(rules.FLAVOR, f["name"], f)


def test_server_flavor_allowed():
    ok = [flavor_res(), server("a", flavor_name="m1.tiny"), server("b", flavor_id="6")]
    assert check_stack("server-flavor-allowed", ok) == []
    bad = check_stack("server-flavor-allowed", [flavor_res(), server("c", flavor_name="c9.mega")])
    assert len(bad) == 1
    msg, where = bad[0]
    assert "server c: flavor c9.mega is neither created by this stack" in msg and "server-flavor-allowed.allowedFlavors" in msg
    assert where == urn(rules.INSTANCE, "c")
    assert check_stack("server-flavor-allowed", [server("d", flavor_id=UNKNOWN_STRING_VALUE)]) == []


def host_res(name, ram, vcpus, disk) -> PolicyResource:
    return resource(rules.COMPUTE_HOST, name, {"hostName": name, "ramMb": ram, "vcpus": vcpus, "diskGb": disk})


def test_flavor_fits_hosts_from_config():
    assert check_stack("flavor-fits-hosts", [flavor_res(ram=16384, vcpus=8, disk=160)]) == []
    msgs = [m for m, _ in check_stack("flavor-fits-hosts", [flavor_res(name="x1.big", ram=16385, vcpus=9, disk=150, ephemeral=51)])]
    assert len(msgs) == 3
    assert "flavor x1.big: ram 16385 MB does not fit the largest host compute-1 (16384 MB)" in msgs[0]
    assert "9 vCPUs" in msgs[1] and "disk 201 GB" in msgs[2]


def test_flavor_fits_hosts_from_compute_host_outputs():
    res = [host_res("compute-1", 4096, 2, 50), host_res("compute-2", 8192, 4, 100), flavor_res(ram=8192, vcpus=4, disk=100)]
    assert check_stack("flavor-fits-hosts", res, config={}) == []
    res[-1] = flavor_res(ram=8193, vcpus=4, disk=100)
    (msg, _), = check_stack("flavor-fits-hosts", res, config={})
    assert "largest host compute-2 (8192 MB)" in msg


def test_stack_rules_skip_hosts_not_known_yet():
    res = [host_res("compute-1", UNKNOWN_NUMBER_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_NUMBER_VALUE), flavor_res(ram=10**6)]
    assert check_stack("flavor-fits-hosts", res, config={}) == []
    assert check_stack("capacity", res + [server(flavor_name="m1.xlarge")] * 10, config={}) == []


def test_capacity_counts_allocation_ratios_and_reserved_memory():
    # dev.json: one host 16384 MB / 8 cores / 200 GB, ram ratio 1.0 with 512 MB reserved -> 15872 MB.
    tiny = [server(f"s{i}", flavor_name="m1.tiny") for i in range(31)]  # 31 x 512 = 15872
    assert check_stack("capacity", tiny) == []
    over = check_stack("capacity", tiny + [server("s31", flavor_name="m1.tiny")])
    assert len(over) == 1
    msg = over[0][0]
    assert "together ask 16384 ramMb but the 1 host(s) offer 15872" in msg
    assert "capacity.ramAllocationRatio = 1" in msg and "capacity.reservedHostMemoryMb = 512" in msg


def test_capacity_cpu_ratio_and_created_flavors():
    # 8 cores x 4.0 = 32 vCPUs; x1.tiny is 1 vCPU / 256 MB / 2 GB.
    servers = [server(f"s{i}", flavor_id="6") for i in range(33)]
    msgs = [m for m, _ in check_stack("capacity", [flavor_res()] + servers)]
    assert any("together ask 33 vcpus but the 1 host(s) offer 32" in m for m in msgs)
    cfg = dict(DEV["capacity"], cpuAllocationRatio=16.0)
    assert not any("vcpus" in m for m, _ in check_stack("capacity", [flavor_res()] + servers, config=cfg))


def test_what_the_program_registers_for_the_dev_stack_passes_every_policy(dev_stack):
    """Pulumi.dev.yaml, as the program declares it (under mocks), against dev.json."""
    for typ, name, props, protect in dev_stack:
        assert analyze(props, typ, protect) == {}, name
    for policy in ("server-flavor-allowed", "flavor-fits-hosts", "capacity"):
        assert check_stack(policy, policy_resources(dev_stack)) == [], policy


def test_the_dev_stack_with_a_server_too_many_fails_capacity(dev_stack):
    # dev.json: one host of 16384 MB, 512 reserved: 31 m1.tiny fit, the dev stack's server-1 is one.
    servers = [server(f"extra-{i}", flavor_name="m1.tiny") for i in range(31)]
    assert len(check_stack("capacity", policy_resources(dev_stack) + servers[:30])) == 0
    assert len(check_stack("capacity", policy_resources(dev_stack) + servers)) == 1


def policy_resources(found) -> list[PolicyResource]:
    return [resource(typ, name, props, protect=protect) for typ, name, props, protect in found]


@pytest.fixture(scope="module")
def dev_stack() -> list[tuple[str, str, dict, bool]]:
    """(type, name, inputs, protect) of the flavors, servers and volumes the program declares."""
    from support.mocks import deploy, dev_config, reveal

    d = deploy(dev_config())
    kinds = (rules.FLAVOR, rules.INSTANCE, rules.VOLUME)
    found = [(r.typ, r.name, reveal(r.inputs), d.monitor.requests[r.name].protect)
             for r in d.mocks.custom() if r.typ in kinds]
    assert sorted(typ for typ, *_ in found) == sorted(kinds)  # x1.tiny, server-1, test2
    return found


def test_policy_configs_only_use_known_keys():
    schemas = {p.name: set((p.config_schema.properties if p.config_schema else {}).keys()) for p in rules.POLICIES}
    for path in (ROOT / "policies/config").glob("*.json"):
        for policy, cfg in json.loads(path.read_text()).items():
            assert policy in schemas, f"{path.name}: unknown policy {policy}"
            assert set(cfg) - {"enforcementLevel"} <= schemas[policy], f"{path.name}: {policy} has unknown keys"


def test_every_stack_has_a_policy_config_and_every_config_a_stack():
    # `./novalab up|preview STACK` and the pull-request preview load policies/config/<stack>.json:
    # a stack without one cannot be previewed; a config without a stack is dead weight that drifts.
    stacks = {p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml")}
    configs = {p.stem for p in (ROOT / "policies/config").glob("*.json")}
    assert stacks and stacks == configs
    for name in configs:
        analyzer(f"{name}.json")  # and the pack accepts it
