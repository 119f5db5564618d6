"""The capacity policy counts with what nova will use on each host: nova's defaults, or the host's
configOverrides, carried from the program to the pack by HostPlacement components."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from openstack_defaults.nova_placement import defaults, effective
from support.mocks import deploy, dev_config, reveal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "policies"))

import novalab_rules as rules  # noqa: E402
from test_policies import check_stack, host_res, resource, server  # noqa: E402


def placement_res(name: str, **values) -> object:
    return resource(rules.HOST_PLACEMENT, f"{name}-placement", {"hostName": name, **defaults(), **values})


def test_nova_defaults_are_todays_one_source_for_program_and_pack():
    # nova 2023.1 lowered initial_cpu_allocation_ratio 16.0 -> 4.0, initial_ram_allocation_ratio 1.5 -> 1.0.
    assert defaults()["cpuAllocationRatio"] == 4.0 and defaults()["ramAllocationRatio"] == 1.0
    assert rules.DEFAULTS["capacity"]["cpuAllocationRatio"] == defaults()["cpuAllocationRatio"]
    assert rules.DEFAULTS["capacity"]["reservedHostMemoryMb"] == defaults()["reservedHostMemoryMb"]
    for stack in ("lab", "dev"):
        cfg = json.loads((ROOT / f"policies/config/{stack}.json").read_text()).get("capacity", {})
        assert cfg.get("cpuAllocationRatio", 4.0) <= 4.0 and cfg.get("ramAllocationRatio", 1.0) <= 1.0, stack


def test_effective_ratios_follow_the_overrides_nova_reads():
    assert effective({}) == defaults()
    given = {
        "nova.conf": {"DEFAULT": {"cpu_allocation_ratio": "8.0", "initial_ram_allocation_ratio": "2.0"}},
        "nova-compute.conf": {"DEFAULT": {"cpu_allocation_ratio": "2.0", "reserved_host_memory_mb": "1024"}},
    }
    out = effective(given)
    # nova-compute.conf is read after nova.conf; an explicit ratio wins over its initial_ twin.
    assert (out["cpuAllocationRatio"], out["ramAllocationRatio"], out["reservedHostMemoryMb"]) == (2.0, 2.0, 1024)
    assert effective({"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": "lots"}}}) == defaults()


def test_the_program_registers_each_hosts_placement_with_its_overrides():
    hosts = [
        {"name": "compute-1", "address": "10.0.0.20", "bridgeInterface": "eth2", "virtType": "qemu",
         "configOverrides": {"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": 16.0}}}},
        {"name": "compute-2", "address": "10.0.0.21", "bridgeInterface": "eth2", "virtType": "qemu"},
    ]
    d = deploy(dev_config(computeHosts=hosts, configOverrides={"nova.conf": {"DEFAULT": {"ram_allocation_ratio": 1.5}}}))
    one, two = (d.mocks.named(f"compute-{i}-placement") for i in (1, 2))
    assert one.typ == rules.HOST_PLACEMENT and d.monitor.parent_of("compute-1-placement") == "compute-1"
    placements = {name: reveal(d.monitor.outputs[f"{name}-placement"]) for name in ("compute-1", "compute-2")}
    assert placements["compute-1"]["cpuAllocationRatio"] == 16.0 and placements["compute-1"]["ramAllocationRatio"] == 1.5
    assert placements["compute-2"]["cpuAllocationRatio"] == 4.0 and placements["compute-2"]["ramAllocationRatio"] == 1.5
    assert placements["compute-2"]["hostName"] == "compute-2" and two.custom is False  # a component: no provider


def test_placement_from_secret_overrides_is_secret():
    hosts = [{"name": "compute-1", "address": "10.0.0.20", "bridgeInterface": "eth2", "virtType": "qemu",
              "configOverrides": {"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": 16.0}}}}]
    d = deploy(dev_config(computeHosts=hosts), secret_keys=["computeHosts"])
    from pulumi.runtime.rpc import is_rpc_secret

    assert is_rpc_secret(d.monitor.outputs["compute-1-placement"]["cpuAllocationRatio"])


def test_capacity_counts_vcpus_with_the_ratio_nova_will_use():
    # One host of 8 cores: 32 vCPUs at nova's default 4.0, not the 128 of the pre-2023 16.0.
    host = host_res("compute-1", 131072, 8, 1000)
    servers = [server(f"s{i}", flavor_name="m1.large") for i in range(9)]  # 9 x 4 vCPUs = 36
    msgs = [m for m, _ in check_stack("capacity", [host, placement_res("compute-1")] + servers, config={})]
    assert any("together ask 36 vcpus but the 1 host(s) offer 32" in m and "compute-1: cpuAllocationRatio 4" in m for m in msgs)
    # The same host with cpu_allocation_ratio 16.0 in its overrides takes them all.
    assert check_stack("capacity", [host, placement_res("compute-1", cpuAllocationRatio=16.0)] + servers, config={}) == []


def test_a_hosts_own_placement_wins_over_the_policy_config():
    host = host_res("compute-1", 131072, 8, 1000)
    servers = [server(f"s{i}", flavor_name="m1.large") for i in range(9)]
    permissive = {"cpuAllocationRatio": 16.0}
    assert check_stack("capacity", [host] + servers, config=permissive) == []  # hosts the stack says nothing of
    assert check_stack("capacity", [host, placement_res("compute-1")] + servers, config=permissive) != []
