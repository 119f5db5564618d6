"""The step table (components/steps.py) and the network backend unit (components/network/): a second
backend, shaped as OVN will be, is one NetworkBackend value, and the component builds its steps."""

from __future__ import annotations

import base64
from dataclasses import replace
from types import SimpleNamespace

import pytest

from components import network
from components.network import Agent, FileInputs, NetworkBackend, backend_of
from components.network.linuxbridge import BACKEND as LINUXBRIDGE
from components.render import ManagedFile
from components.steps import (
    CONTROLLER, HOST, NETWORK_STEPS, PREVIOUS_BATCH, TABLE, Run, Step, V, dependencies, host_steps,
)
from support.mocks import SECRETS, Recorder, RecordingMonitor, dev_config, reveal, to_raw, unwrap


def test_rows_follow_the_row_above_unless_they_say_otherwise():
    table = host_steps(LINUXBRIDGE)
    follows = dependencies(table)
    restarts = tuple(s.name for s in table if s.restart)
    assert restarts == ("restart-nova-compute", "restart-l2-agent")
    assert follows["controller"] == (PREVIOUS_BATCH,)  # the rollout's previous batch
    assert follows["gate"] == restarts
    assert follows["files"] == (PREVIOUS_BATCH,)  # the records run nothing: they wait for nothing of the host
    # nova-compute's reload follows its restart (reload_service.sh then skips a process the restart made).
    assert follows["reload-nova-compute"] == ("restart-nova-compute",)
    assert "reload-nova-compute" not in follows["gate"]  # a reload leaves the service up: no new gate
    commands = [s for s in table if not s.record]
    for above, row in zip(commands, commands[1:]):
        if row.name not in ("gate", "reload-nova-compute"):
            assert follows[row.name] == (("config",) if row.restart else (above.name,)), row.name


def test_a_row_following_no_row_of_the_table_is_refused():
    table = (Step("a", HOST, create=(Run("write_files.sh"),)), Step("b", HOST, create=(), depends_on=("nope",)))
    with pytest.raises(ValueError, match=r"step b follows \['nope'\], which are not rows of the table"):
        dependencies(table)


def test_the_backend_is_linuxbridge_unless_the_network_names_another():
    assert backend_of(SimpleNamespace()) is LINUXBRIDGE  # before network.backend exists in the config
    assert backend_of(SimpleNamespace(backend="linuxbridge")) is LINUXBRIDGE
    with pytest.raises(ValueError, match="network.backend: nope is not implemented in this novalab; one of linuxbridge, ovn, openvswitch"):
        backend_of(SimpleNamespace(backend="nope"))


# --- a backend shaped as OVN will be ---------------------------------------------------------------
# Two agent services, one configured by a step rather than a file, a bridge step that is another
# script and prints what it chose, files rendered from that, gate agent types, a graceful removal.
# Existing scripts stand in for its own (which would be one .sh each in components/scripts/).

METADATA_INI = "/etc/neutron/neutron_ovn_metadata_agent.ini"


def ovn_files(i: FileInputs) -> dict:
    facts = " ".join(f"{k}={v}" for k, v in sorted(i.facts.items()))  # what the facts_from step printed
    datapath = i.facts.get("datapath_type", "system")
    ini = f"# {facts}\n[ovs]\ndatapath_type = {datapath}\n[DEFAULT]\nhost = {i.host_name}\n"
    return {"neutron-ovn-metadata-agent": (ManagedFile(METADATA_INI, ini, "root", "neutron", "0640"),)}


OVN_LIKE = NetworkBackend(
    name="ovn-like",
    packages=("ovn-host", "neutron-ovn-metadata-agent"),
    steps=(
        # an OVS provider bridge (ovs-vsctl) that prints `novalab-facts datapath_type=...`
        Step("bridge", HOST, create=(Run("configure_bridge.sh", V.bridge, V.bridge_interface, V.address),)),
        # ovn-controller is configured with `ovs-vsctl set open . external_ids:...`, not a file
        Step("ovn-chassis", HOST, create=(Run("restart_service.sh", "--stop", "ovn-controller-config-stand-in"),)),
    ),
    agents=(Agent("neutron-ovn-metadata-agent", "restart-metadata-agent"),),
    gate_agent_types=("OVN Controller agent", "OVN Metadata agent"),
    config_files=(METADATA_INI,),
    render_files=ovn_files,
    removal=(Run("restart_service.sh", "--stop", "ovn-controller"),),  # stands in for `ovn-appctl exit`
    facts_from="packages",  # the mocks' packages step prints facts; OVN's would be its bridge step
)


@pytest.fixture
def ovn_like(monkeypatch):
    monkeypatch.setitem(network.BACKENDS, OVN_LIKE.name, OVN_LIKE)
    return OVN_LIKE


def test_a_backend_brings_its_rows_agents_and_removal_into_the_table(ovn_like):
    names = [s.name for s in host_steps(ovn_like)]
    table = host_steps(ovn_like)
    # the backend's rows right before the records and the config step, its agents' restarts after nova-compute's
    assert names[names.index("config") - 3:names.index("config")] == ["bridge", "ovn-chassis", "files"]
    assert names[-4:] == ["restart-nova-compute", "restart-metadata-agent", "reload-nova-compute", "gate"]
    assert [s.name for s in table if s.where == CONTROLLER] == ["controller", "gate"]
    assert dependencies(table)["config"] == ("ovn-chassis",)
    assert dependencies(table)["gate"] == ("restart-nova-compute", "restart-metadata-agent")


def build_host(network_config) -> Recorder:
    """One ComputeHost under mocks, with the dev config's services and this network."""
    import pulumi

    from components.compute_host import ComputeHost, ComputeHostArgs, SshAccess
    from components.config import parse_stack_config

    cfg = parse_stack_config(to_raw(dev_config()))
    mocks = Recorder()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="novalab", stack="dev", monitor=monitor)

    @pulumi.runtime.test
    def program():
        host = ComputeHost("compute-1", ComputeHostArgs(
            host_name="compute-1", address="10.0.0.20", bridge_interface="eth2", virt_type="qemu",
            controller_address="10.0.0.6", services=cfg.services, network=network_config,
            ssh=SshAccess("root", 22, pulumi.Output.secret("key")),
            rabbit_password=pulumi.Output.secret(SECRETS["novalab:rabbitPassword"]),
            nova_password=pulumi.Output.secret("n")))
        return host.gate.id

    program()
    mocks.monitor = monitor
    return mocks


def test_the_component_builds_another_backends_steps(ovn_like):
    net = SimpleNamespace(backend="ovn-like", physnet="physnet1", bridge="br-ex", tunnel_overlay="vxlan")
    mocks = build_host(net)
    names = [r.name for r in mocks.commands()]  # in the order they were registered: after what they follow
    assert sorted(names) == sorted(f"compute-1-{s.name}" for s in host_steps(ovn_like) if not s.record)
    packages = mocks.named("compute-1-packages").inputs["create"]
    assert "nova-compute-qemu ovn-host neutron-ovn-metadata-agent qemu-block-extra" in packages
    gate = mocks.named("compute-1-gate").inputs["create"]
    assert gate.endswith("--agent-type 'OVN Controller agent' --agent-type 'OVN Metadata agent' --address 10.0.0.20"
                         " --after compute-1-restart-nova-compute-id,compute-1-restart-metadata-agent-id")
    config = mocks.named("compute-1-config").inputs
    assert config["delete"].endswith("restart_service.sh --stop ovn-controller")
    assert " && " in config["delete"] and "--stop nova-compute neutron-ovn-metadata-agent" in config["delete"]
    # The agent's file is rendered from what the facts_from step printed, and triggers its restart.
    bundle = dict(line.split(" ")[0::4] for line in reveal(config["stdin"]).splitlines())
    assert "/etc/neutron/plugins/ml2/linuxbridge_agent.ini" not in bundle
    assert "# disk_gb=100 ram_mb=16000 vcpus=8\n" in base64.b64decode(bundle[METADATA_INI]).decode()  # the mocks' facts
    triggers, secret = unwrap(mocks.named("compute-1-restart-metadata-agent").inputs["triggers"])
    assert secret and len(reveal(triggers)[0]) == 64
    # After its row above, the step whose output its files read, and its files' records (its repairs).
    records = {r.name for r in mocks.of_type("pulumi-python:dynamic/novalab:HostFile")}
    assert records == {"compute-1-file-neutron_ovn_metadata_agent.ini", "compute-1-file-nova.conf",
                       "compute-1-file-nova-compute.conf"}
    assert mocks.monitor.depends_on("compute-1-config") == {"compute-1-ovn-chassis", "compute-1-packages"} | records


def test_files_read_the_facts_the_named_step_printed():
    from components.host_files import HostSpec, Passwords, render_host_files
    from components.config import parse_stack_config

    cfg = parse_stack_config(to_raw(dev_config()))
    net = SimpleNamespace(backend="ovn-like", physnet="physnet1", bridge="br-ex", tunnel_overlay="vxlan")
    with pytest.MonkeyPatch.context() as m:
        m.setitem(network.BACKENDS, OVN_LIKE.name, OVN_LIKE)
        files = render_host_files(HostSpec("compute-1", "10.0.0.20", "qemu"), cfg.services, net, Passwords("r", "n"),
                                  facts={"datapath_type": "netdev"})
    (ini,) = files.of("neutron-ovn-metadata-agent")
    assert "datapath_type = netdev" in ini.content
    assert [f.path for f in files.nova] == ["/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"]


def test_a_backend_without_its_rows_keeps_the_table_whole():
    # The config row follows the backend's last row; with none, the row above the backend's place.
    bare = replace(LINUXBRIDGE, steps=())
    above = TABLE[TABLE.index(NETWORK_STEPS) - 1].name
    assert dependencies(host_steps(bare))["config"] == (above,)
