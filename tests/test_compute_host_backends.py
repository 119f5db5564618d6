"""The program under Pulumi mocks with network.backend ovn and openvswitch: each host's steps (names,
order, what each runs with which arguments and stdin), the restarts each file triggers, the removal,
the release checks, and secrets. A linuxbridge stack keeps its steps, with the release checks added."""

from __future__ import annotations

import base64
import configparser
import shlex

import pytest

from components.network.linuxbridge import BACKEND as LINUXBRIDGE
from components.network.ovs import render_bridge_stanza
from support.mocks import SECRETS, Recorder, deploy, dev_config, plain_text, reveal, unwrap

METADATA_SECRET = "meta-s3cret-value"
TUNNEL = "10.77.2.21/24"
ALL_SECRETS = [*SECRETS.values(), METADATA_SECRET]
MANAGER = ("--manager", "ptcp:6640:127.0.0.1")  # where the agents' files connect: tcp:127.0.0.1:6640


def host(**kw) -> dict:
    return {"name": "compute-1", "address": "10.0.0.20", "bridgeInterface": "eth2", "virtType": "qemu", **kw}


def stack(network: dict, **kw) -> dict:
    kw.setdefault("computeHosts", [host(tunnelAddress=TUNNEL)])
    return dev_config(network=network, metadataProxySharedSecret=METADATA_SECRET, **kw)


def up(config: dict, mocks: Recorder | None = None):
    return deploy(config, mocks=mocks, secret_keys=["metadataProxySharedSecret"])


def runs(command: str) -> list[list[str]]:
    """A step's command line as the scripts it runs: [name, *arguments] each (the text is left out)."""
    parts: list[list[str]] = [[]]
    for token in shlex.split(command):
        if token == "&&":
            parts.append([])
        else:
            parts[-1].append(token)
    assert all(p[:2] == ["bash", "-c"] for p in parts), command[:80]
    return [p[3:] for p in parts]


def inputs(d, step: str) -> dict:
    return d.mocks.named(f"compute-1-{step}").inputs


def bundle(d) -> dict[str, str]:
    stdin, secret = unwrap(inputs(d, "config")["stdin"])
    assert secret, "the files hold passwords: the bundle must be a secret"
    return {line.split(" ")[0]: base64.b64decode(line.split(" ")[4]).decode() for line in stdin.splitlines()}


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    parser.read_string(text)
    return parser


def trigger(d, step: str) -> str:
    return reveal(inputs(d, step)["triggers"])[0]


class BridgeFacts(Recorder):
    """The mock cloud, with the bridge step printing the datapath it runs, as configure_ovs.sh does."""

    def __init__(self, datapath: str):
        super().__init__()
        self.datapath = datapath

    def new_resource(self, args):
        rid, state = super().new_resource(args)
        if args.name.endswith("-bridge") and "stdout" in state:
            state["stdout"] = f"datapath: {self.datapath} (...)\nnovalab-facts datapath_type={self.datapath}\n"
        return rid, state


@pytest.fixture(scope="module")
def ovn():
    return up(stack({"backend": "ovn"}))


@pytest.fixture(scope="module")
def ovs():
    return up(stack({"backend": "openvswitch", "datapathType": "netdev"}), mocks=BridgeFacts("netdev"))


STEPS = {
    "ovn": ["controller", "packages", "bridge", "config", "reload-nova-compute", "restart-nova-compute",
            "restart-metadata-agent", "gate"],
    "ovs": ["controller", "packages", "bridge", "config", "reload-nova-compute", "restart-nova-compute", "restart-l2-agent",
            "gate"],
}


@pytest.mark.parametrize("backend", ["ovn", "ovs"])
def test_each_backends_steps_and_what_each_follows(backend, request):
    d = request.getfixturevalue(backend)
    assert sorted(r.name for r in d.mocks.commands()) == sorted(f"compute-1-{s}" for s in STEPS[backend])
    dep = d.monitor.depends_on
    assert dep("compute-1-controller") == set()
    assert dep("compute-1-packages") == {"compute-1-controller"}
    assert dep("compute-1-bridge") == {"compute-1-packages"}
    # The row above (for ovs also whose stdout it reads), and the records of its files (its repairs).
    files = {r.name for r in d.mocks.of_type("pulumi-python:dynamic/novalab:HostFile")}
    assert dep("compute-1-config") == {"compute-1-bridge"} | files
    restarts = {f"compute-1-{s}" for s in STEPS[backend] if s.startswith("restart-")}
    for r in restarts:  # (ovs: their triggers hash files read from the bridge step's output)
        own = dep(r) - {"compute-1-bridge", "compute-1-config", "compute-1-services"}  # and their service's repairs
        assert "compute-1-config" in dep(r) and "compute-1-services" in dep(r) and own < files and own
    assert dep("compute-1-reload-nova-compute") == {"compute-1-restart-nova-compute"}
    assert dep("compute-1-gate") == restarts
    for step in STEPS[backend]:
        assert d.monitor.parent_of(f"compute-1-{step}") == "compute-1"


def test_the_ovn_bridge_step_makes_the_host_a_chassis(ovn):
    bridge = inputs(ovn, "bridge")
    assert runs(bridge["create"]) == [[
        "configure_ovs.sh", "compute-1", "br100", "eth2", "10.0.0.20", *MANAGER, "--overlay", "geneve",
        "--tunnel-address", TUNNEL, "--ovn-remote", "tcp:10.0.0.6:6642", "--physnet", "physnet1",
    ]]
    assert bridge["stdin"] == render_bridge_stanza("br100", TUNNEL)  # the tunnel address at boot
    assert "address 10.77.2.21/24" in bridge["stdin"]
    assert "delete" not in bridge


def test_the_openvswitch_bridge_step_has_no_chassis_options(ovs):
    assert runs(inputs(ovs, "bridge")["create"]) == [[
        "configure_ovs.sh", "compute-1", "br100", "eth2", "10.0.0.20", *MANAGER, "--overlay", "vxlan",
        "--datapath", "netdev", "--tunnel-address", TUNNEL,
    ]]


def test_without_datapath_or_tunnel_address_the_host_step_picks_and_nothing_is_persisted():
    d = up(stack({"backend": "openvswitch", "physnet": "provider", "bridge": "br-vm"}, computeHosts=[host()]))
    bridge = inputs(d, "bridge")
    assert runs(bridge["create"]) == [["configure_ovs.sh", "compute-1", "br-vm", "eth2", "10.0.0.20", *MANAGER, "--overlay", "vxlan"]]
    assert bridge.get("stdin", "") == ""  # no stanza: a stanza left by an earlier tunnel address is removed
    d = up(stack({"backend": "ovn", "physnet": "provider"}, computeHosts=[host()]))
    assert runs(inputs(d, "bridge")["create"])[0][-4:] == ["--ovn-remote", "tcp:10.0.0.6:6642", "--physnet", "provider"]


def test_the_ovn_files_are_the_metadata_agents_and_the_bundle_stays_secret(ovn):
    files = bundle(ovn)
    assert set(files) == {"/etc/nova/nova.conf", "/etc/nova/nova-compute.conf", "/etc/neutron/neutron.conf",
                          "/etc/neutron/neutron_ovn_metadata_agent.ini"}
    agent = ini(files["/etc/neutron/neutron_ovn_metadata_agent.ini"])
    assert agent["DEFAULT"]["metadata_proxy_shared_secret"] == METADATA_SECRET
    assert agent["ovn"]["ovn_sb_connection"] == "tcp:10.0.0.6:6642"
    assert ini(files["/etc/neutron/neutron.conf"])["DEFAULT"]["host"] == "compute-1"


def test_the_ovs_agent_runs_the_datapath_the_bridge_step_printed():
    # The stack leaves the datapath to the host: the agent's file says what the bridge step printed.
    config = stack({"backend": "openvswitch"})
    netdev, system = up(config, mocks=BridgeFacts("netdev")), up(config, mocks=BridgeFacts("system"))
    ini_path = "/etc/neutron/plugins/ml2/openvswitch_agent.ini"
    assert ini(bundle(netdev)[ini_path])["ovs"]["datapath_type"] == "netdev"
    assert ini(bundle(system)[ini_path])["ovs"]["datapath_type"] == "system"
    assert ini(bundle(netdev)[ini_path])["ovs"]["local_ip"] == "10.77.2.21"
    # ...and only the agent restarts when it changes.
    assert trigger(netdev, "restart-l2-agent") != trigger(system, "restart-l2-agent")
    assert trigger(netdev, "restart-nova-compute") == trigger(system, "restart-nova-compute")
    # The config step reads the bridge step's output: it follows it.
    assert "compute-1-bridge" in netdev.monitor.depends_on("compute-1-config")


def test_each_restart_is_triggered_by_its_own_files_only(ovn):
    other_secret = up(dict(stack({"backend": "ovn"}), **{"novalab:metadataProxySharedSecret": "another-s3cret"}))
    assert trigger(ovn, "restart-metadata-agent") != trigger(other_secret, "restart-metadata-agent")
    assert trigger(ovn, "restart-nova-compute") == trigger(other_secret, "restart-nova-compute")
    kvm = up(stack({"backend": "ovn"}, computeHosts=[host(tunnelAddress=TUNNEL, virtType="kvm")]))
    assert trigger(ovn, "restart-nova-compute") != trigger(kvm, "restart-nova-compute")
    assert trigger(ovn, "restart-metadata-agent") == trigger(kvm, "restart-metadata-agent")
    again = up(stack({"backend": "ovn"}))
    for step in ("restart-nova-compute", "restart-metadata-agent"):
        assert trigger(ovn, step) == trigger(again, step)  # nothing changed: nothing restarts
        triggers, secret = unwrap(inputs(ovn, step)["triggers"])
        assert secret and len(reveal(triggers)[0]) == 64
        assert runs(inputs(ovn, step)["create"]) == [["restart_service.sh", step.removeprefix("restart-").replace(
            "metadata-agent", "neutron-ovn-metadata-agent")]]


def test_the_gate_waits_for_each_backends_agents(ovn, ovs):
    assert runs(inputs(ovn, "gate")["create"]) == [[
        "gate_compute_host.sh", "compute-1", "300", "--agent-type", "OVN Controller agent",
        "--agent-type", "OVN Metadata agent", "--address", "10.0.0.20",
        "--after", "compute-1-restart-nova-compute-id,compute-1-restart-metadata-agent-id",
    ]]
    assert runs(inputs(ovs, "gate")["create"]) == [[
        "gate_compute_host.sh", "compute-1", "300", "--agent-type", "Open vSwitch agent", "--address", "10.0.0.20",
        "--after", "compute-1-restart-nova-compute-id,compute-1-restart-l2-agent-id",
    ]]


def test_leaving_the_stack_stops_the_agents_and_ovn_controller_last(ovn, ovs):
    # ovn-controller exits gracefully after the metadata agent stopped: that deletes its chassis.
    assert runs(inputs(ovn, "config")["delete"]) == [
        ["restart_service.sh", "--stop", "nova-compute", "neutron-ovn-metadata-agent"], ["stop_ovn_controller.sh"],
    ]
    assert runs(inputs(ovs, "config")["delete"]) == [
        ["restart_service.sh", "--stop", "nova-compute", "neutron-openvswitch-agent"],
    ]
    for d in (ovn, ovs):
        assert runs(inputs(d, "controller")["delete"]) == [["decommission_compute_host.sh", "forget", "compute-1"]]
        assert runs(inputs(d, "gate")["delete"]) == [["decommission_compute_host.sh", "drain", "compute-1"]]


PRECHECK_HOST = ["precheck_host.sh", "compute-1", "qemu", "eth2", "10.0.0.20", "10.0.0.3", "5672"]


def test_the_packages_step_installs_the_backends_packages_and_refuses_only_linuxbridge(ovn, ovs):
    assert runs(inputs(ovn, "packages")["create"]) == [PRECHECK_HOST, [
        "install_packages.sh", "nova-compute-qemu", "openvswitch-switch", "ifupdown", "ovn-host",
        "neutron-ovn-metadata-agent", "haproxy", "qemu-block-extra",
    ]]
    assert runs(inputs(ovs, "packages")["create"]) == [PRECHECK_HOST, [
        "install_packages.sh", "nova-compute-qemu", "openvswitch-switch", "ifupdown", "neutron-openvswitch-agent",
        "qemu-block-extra",
    ]]
    linuxbridge = up(dev_config())
    assert runs(inputs(linuxbridge, "packages")["create"]) == [PRECHECK_HOST, [
        "install_packages.sh", "--refuse-from", "neutron-linuxbridge-agent", "2:26", LINUXBRIDGE.unavailable.why,
        "nova-compute-qemu", "neutron-linuxbridge-agent", "bridge-utils", "ifupdown", "qemu-block-extra",
    ]]


def test_the_controller_step_checks_the_release_only_for_linuxbridge_and_the_queue_types_always(ovn, ovs):
    for d in (ovn, ovs):
        assert runs(inputs(d, "controller")["create"]) == [["precheck_controller.sh", "compute-1", "--rabbit-queues", "classic"]]
    quorum = dict(dev_config()["novalab:services"], rabbitQueues="quorum")
    linuxbridge = up(dev_config(services=quorum))
    assert runs(inputs(linuxbridge, "controller")["create"]) == [[
        "precheck_controller.sh", "compute-1", "--refuse-from-microversion", "2.100", LINUXBRIDGE.unavailable.why,
        "--rabbit-queues", "quorum",
    ]]
    conf = ini(bundle(linuxbridge)["/etc/nova/nova.conf"])
    assert conf["oslo_messaging_rabbit"]["rabbit_quorum_queue"] == "true"  # what the check compares


def test_a_linuxbridge_stack_keeps_its_steps_and_files():
    d = up(dev_config())
    assert sorted(r.name.removeprefix("compute-1-") for r in d.mocks.commands()) == sorted([
        "controller", "packages", "bridge", "config", "reload-nova-compute", "restart-nova-compute", "restart-l2-agent",
        "gate"])
    assert runs(inputs(d, "bridge")["create"]) == [["configure_bridge.sh", "br100", "eth2", "10.0.0.20"]]
    files = bundle(d)
    assert set(files) == {"/etc/nova/nova.conf", "/etc/nova/nova-compute.conf", "/etc/neutron/neutron.conf",
                          "/etc/neutron/plugins/ml2/linuxbridge_agent.ini"}
    assert not any("oslo_messaging_rabbit" in text for text in files.values())  # classic: nothing new


@pytest.mark.parametrize("backend", ["ovn", "ovs"])
def test_no_secret_in_a_command_line_or_outside_a_secret(backend, request):
    d = request.getfixturevalue(backend)
    for r in d.mocks.commands():
        for field in ("create", "update", "delete"):
            command = r.inputs.get(field) or ""
            assert isinstance(command, str), f"{r.name}.{field} must be a plain command line"
            for value in ALL_SECRETS:
                assert value not in command, f"{r.name}.{field}"
        assert "environment" not in r.inputs
    for r in d.mocks.resources:
        text = plain_text(r.inputs)
        for value in ALL_SECRETS:
            assert value.strip().splitlines()[1 if "KEY" in value else 0] not in text, r.name
