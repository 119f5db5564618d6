"""ComputeHost under Pulumi mocks: steps, order, rollout batches, SSH, secrets."""

from __future__ import annotations

import base64
import configparser
import json
import re

import pulumi
import pytest

from components.compute_host import CONTROLLER_STEPS, STEPS, plan_batches, parse_facts
from components.network import backend_of
from components.steps import host_steps
from support.mocks import (
    FACTS,
    HOST_KEY,
    SECRETS,
    STACK_REFERENCE,
    Recorder,
    config_problems,
    deploy,
    dev_config,
    is_known,
    is_secret,
    plain_text,
    resolved,
    reveal,
    unwrap,
)

HOST_STEPS = [s for s in STEPS if s not in CONTROLLER_STEPS]


def hosts(n: int) -> list[dict]:
    return [
        {"name": f"compute-{i}", "address": f"10.0.0.{19 + i}", "bridgeInterface": "eth2", "virtType": "qemu"}
        for i in range(1, n + 1)
    ]


def conn_of(d, name) -> dict:
    conn, secret = unwrap(d.mocks.named(name).inputs["connection"])
    assert secret, "the connection holds the private key: it must be a secret"
    return reveal(conn)


def bundle_files(stdin: str) -> dict[str, str]:
    out = {}
    for line in stdin.splitlines():
        path, owner, group, mode, data = line.split(" ")
        out[path] = base64.b64decode(data).decode()
    return out


@pytest.fixture(scope="module")
def one():
    return deploy(dev_config())


def test_each_tutorial_step_is_a_command_child_of_the_component(one):
    names = [r.name for r in one.mocks.commands()]  # registered once what they follow is: order is checked below
    assert sorted(names) == sorted(f"compute-1-{s}" for s in STEPS)
    (component,) = one.mocks.of_type("novalab:index:ComputeHost")
    assert component.name == "compute-1"
    for step in STEPS:
        assert one.monitor.parent_of(f"compute-1-{step}") == "compute-1"


def test_the_readme_step_table_is_the_table():
    """README's "How a host is provisioned" lists each row of the table: name, where, its scripts."""
    from support.mocks import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## How a host is provisioned", 1)[1].split("\n## ", 1)[0]
    listed = []
    for names, where, scripts in re.findall(r"^\| (`<host>-.+?) \| (host|controller) \| (.+?) \|", section, re.M):
        for name in re.findall(r"`<host>-([a-z0-9-]+)`", names):
            listed.append((name, where, tuple(re.findall(r"`([a-z_]+\.sh)`", scripts))))
    assert listed == [(s.name, s.where, s.scripts) for s in host_steps(backend_of(None))]  # the default backend's


def test_steps_are_chained_in_the_tutorials_order(one):
    dep = one.monitor.depends_on
    assert dep("compute-1-controller") == set()
    assert dep("compute-1-packages") == {"compute-1-controller"}
    assert dep("compute-1-bridge") == {"compute-1-packages"}
    assert dep("compute-1-files") == set()  # the host's records wait for nothing of the host
    files = {r.name for r in one.mocks.resources if r.name.startswith("compute-1-file-")}
    assert dep("compute-1-config") == {"compute-1-bridge"} | files  # its repairs come from the file records
    # A restart's trigger holds the repairs of its service and files, so it follows those records too.
    assert dep("compute-1-restart-nova-compute") == {"compute-1-config", "compute-1-services", "compute-1-file-nova.conf",
                                                     "compute-1-file-nova-compute.conf"}
    assert dep("compute-1-reload-nova-compute") == {"compute-1-restart-nova-compute"}
    assert dep("compute-1-restart-l2-agent") == {"compute-1-config", "compute-1-services", "compute-1-file-neutron.conf",
                                                 "compute-1-file-linuxbridge_agent.ini"}
    assert {"compute-1-restart-nova-compute", "compute-1-restart-l2-agent"} <= dep("compute-1-gate")


def test_host_steps_ssh_to_the_host_and_gate_to_the_controller(one):
    for step in HOST_STEPS:
        conn = conn_of(one, f"compute-1-{step}")
        assert conn["host"] == "10.0.0.20" and conn["user"] == "root" and conn["port"] == 22
        assert conn["privateKey"] == SECRETS["novalab:sshPrivateKey"]
    for step in CONTROLLER_STEPS:
        assert conn_of(one, f"compute-1-{step}")["host"] == "10.0.0.6"


def test_packages_step_installs_nova_compute_qemu_and_the_l2_agent(one):
    create = one.mocks.named("compute-1-packages").inputs["create"]
    assert create.startswith("bash -c ")
    assert "nova-compute-qemu" in create and "neutron-linuxbridge-agent" in create
    assert "install_packages.sh" in create


def test_bridge_step_targets_the_configured_interface(one):
    inputs = one.mocks.named("compute-1-bridge").inputs
    assert inputs["create"].endswith("configure_bridge.sh br100 eth2 10.0.0.20")
    assert "bridge_ports eth2" in inputs["stdin"]


def test_config_step_delivers_all_files_on_secret_stdin(one):
    stdin, secret = unwrap(one.mocks.named("compute-1-config").inputs["stdin"])
    assert secret
    files = bundle_files(stdin)
    assert set(files) == {
        "/etc/nova/nova.conf",
        "/etc/nova/nova-compute.conf",
        "/etc/neutron/neutron.conf",
        "/etc/neutron/plugins/ml2/linuxbridge_agent.ini",
    }
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(files["/etc/nova/nova.conf"])
    assert parser["keystone_authtoken"]["password"] == SECRETS["novalab:novaServicePassword"]
    # `$` of the rabbit password is URL-quoted inside transport_url.
    assert parser["DEFAULT"]["transport_url"] == "rabbit://openstack:rabbit-s3cret%24pw@10.0.0.3:5672/"
    host = one.result["hosts"][0]
    assert is_secret(host.config.stdin)


def test_no_secret_outside_a_secret_wrapper(one):
    for r in one.mocks.resources:
        text = plain_text(r.inputs)
        for key, value in SECRETS.items():
            assert value not in text, f"{key} leaks in plain inputs of {r.name}"
            assert value.strip().splitlines()[1 if "KEY" in value else 0] not in text


def test_no_secret_in_any_command_line(one):
    for r in one.mocks.commands():
        for field in ("create", "update", "delete"):
            cmd = r.inputs.get(field) or ""
            assert not isinstance(cmd, dict), f"{r.name}.{field} must be a plain command line"
            for value in SECRETS.values():
                assert value not in cmd
        assert "environment" not in r.inputs


def test_gate_gets_nova_credentials_on_secret_stdin(one):
    gate = one.mocks.named("compute-1-gate").inputs
    clouds, secret = unwrap(gate["stdin"])
    assert secret
    auth = json.loads(clouds)["clouds"]["novalab"]["auth"]
    assert (auth["username"], auth["password"], auth["project_name"]) == ("nova", SECRETS["novalab:novaServicePassword"], "service")
    assert gate["create"].endswith(
        "gate_compute_host.sh compute-1 300 --agent-type 'Linux bridge agent' --address 10.0.0.20"
        " --after compute-1-restart-nova-compute-id,compute-1-restart-l2-agent-id"
    )


def test_a_restart_re_runs_the_gate_as_an_update_never_a_replacement(one):
    # The restarts' ids are in the gate's command line, so a restart (a new id) changes the command:
    # an update, which runs it again. A replacement would run the gate's delete: the decommission.
    gate = one.mocks.named("compute-1-gate").inputs
    assert "triggers" not in gate
    assert "--after compute-1-restart-nova-compute-id,compute-1-restart-l2-agent-id" in gate["create"]


def test_leaving_the_stack_drains_the_host_stops_its_services_then_forgets_it(one):
    # The deletes run in reverse dependency order: gate (drain: refuse while servers run there,
    # disable), config (stop nova-compute and the agent on the host), controller (forget: delete the
    # service record and agents, only once nothing on the host can re-create them).
    dep = one.monitor.depends_on
    assert "compute-1-config" in dep("compute-1-restart-nova-compute")
    assert "compute-1-controller" in dep("compute-1-packages")
    gate = one.mocks.named("compute-1-gate").inputs
    assert gate["delete"].endswith("decommission_compute_host.sh drain compute-1")
    config = one.mocks.named("compute-1-config").inputs
    assert config["delete"].endswith("restart_service.sh --stop nova-compute neutron-linuxbridge-agent")
    controller = one.mocks.named("compute-1-controller").inputs
    assert controller["delete"].endswith("decommission_compute_host.sh forget compute-1")
    # The controller step also refuses the Linux bridge agent on clouds of 2025.1 or later, and a queue
    # type the controller's services do not declare.
    assert "precheck_controller.sh compute-1 --refuse-from-microversion 2.100 " in controller["create"]
    assert controller["create"].endswith("--rabbit-queues classic")
    assert unwrap(controller["stdin"])[1]  # nova's credentials, as a secret, for both its commands
    for step in ("packages", "bridge", "restart-nova-compute", "restart-l2-agent"):
        assert "delete" not in one.mocks.named(f"compute-1-{step}").inputs, step  # packages and files stay


def test_restart_triggers_are_secret_hashes_per_service(one):
    for step in ("restart-nova-compute", "restart-l2-agent"):
        triggers, secret = unwrap(one.mocks.named(f"compute-1-{step}").inputs["triggers"])
        (value,) = reveal(triggers)
        assert secret and len(value) == 64


def test_changing_only_nova_config_restarts_only_nova_compute():
    base = deploy(dev_config())
    kvm = deploy(dev_config(computeHosts=[dict(hosts(1)[0], virtType="kvm")]))

    def trig(d, step):
        return reveal(d.mocks.named(f"compute-1-{step}").inputs["triggers"])[0]

    assert trig(base, "restart-nova-compute") != trig(kvm, "restart-nova-compute")
    assert trig(base, "restart-l2-agent") == trig(kvm, "restart-l2-agent")
    again = deploy(dev_config())
    assert trig(base, "restart-nova-compute") == trig(again, "restart-nova-compute")  # stable: no-op re-run


def test_a_reloadable_nova_option_reloads_nova_compute_and_restarts_nothing():
    def host_with(overrides):
        return deploy(dev_config(computeHosts=[dict(hosts(1)[0], configOverrides=overrides)]))

    def trig(d, step):
        triggers, secret = unwrap(d.mocks.named(f"compute-1-{step}").inputs["triggers"])
        assert secret, step
        return reveal(triggers)[0]

    rows = ("reload-nova-compute", "restart-nova-compute", "restart-l2-agent")
    base = {r: trig(deploy(dev_config()), r) for r in rows}
    debug = host_with({"nova.conf": {"DEFAULT": {"debug": "true"}}})
    assert {r for r in rows if trig(debug, r) != base[r]} == {"reload-nova-compute"}
    assert "debug = true" in bundle_files(reveal(debug.mocks.named("compute-1-config").inputs["stdin"]))[
        "/etc/nova/nova.conf"]  # written all the same
    # Any other option restarts nova-compute, and leaves the reload alone.
    ratio = host_with({"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": "8.0"}}})
    assert {r for r in rows if trig(ratio, r) != base[r]} == {"restart-nova-compute"}
    both = host_with({"nova.conf": {"DEFAULT": {"debug": "true", "cpu_allocation_ratio": "8.0"}}})
    assert trig(both, "reload-nova-compute") == trig(debug, "reload-nova-compute")
    assert trig(both, "restart-nova-compute") == trig(ratio, "restart-nova-compute")
    reload = debug.mocks.named("compute-1-reload-nova-compute").inputs
    assert reload["create"].endswith("reload_service.sh nova-compute /etc/nova/nova.conf /etc/nova/nova-compute.conf")
    assert "compute-1-restart-nova-compute" in debug.monitor.depends_on("compute-1-reload-nova-compute")


def test_three_hosts_in_parallel_by_default():
    d = deploy(dev_config(computeHosts=hosts(3)))
    assert len(d.mocks.of_type("novalab:index:ComputeHost")) == 3
    for i in (1, 2, 3):
        assert d.monitor.depends_on(f"compute-{i}-controller") == set()
    addresses = {conn_of(d, f"compute-{i}-packages")["host"] for i in (1, 2, 3)}
    assert addresses == {"10.0.0.20", "10.0.0.21", "10.0.0.22"}


def test_batch_size_one_waits_for_the_previous_hosts_gate_and_reload():
    # A reload re-runs no gate: without it here, a bad reloadable value would reach every host at once.
    d = deploy(dev_config(computeHosts=hosts(3), rollout={"batchSize": 1}))
    assert d.monitor.depends_on("compute-1-controller") == set()
    assert d.monitor.depends_on("compute-2-controller") == {"compute-1-gate", "compute-1-reload-nova-compute"}
    assert d.monitor.depends_on("compute-3-controller") == {"compute-2-gate", "compute-2-reload-nova-compute"}


def test_batch_size_two_of_three_hosts():
    d = deploy(dev_config(computeHosts=hosts(3), rollout={"batchSize": 2}))
    assert d.monitor.depends_on("compute-2-controller") == set()
    assert d.monitor.depends_on("compute-3-controller") == {"compute-1-gate", "compute-2-gate",
                                                            "compute-1-reload-nova-compute", "compute-2-reload-nova-compute"}


def test_plan_batches():
    assert plan_batches(["a", "b", "c"], 0) == [["a", "b", "c"]]
    assert plan_batches(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert plan_batches(["a", "b", "c"], 5) == [["a", "b", "c"]]
    assert plan_batches([], 0) == []
    with pytest.raises(ValueError):
        plan_batches(["a"], -1)


def test_non_root_user_uses_sudo_and_host_key_is_pinned():
    cfg = dev_config(ssh={"user": "debian", "port": 2222}, computeHosts=[dict(hosts(1)[0], hostKey=HOST_KEY)])
    d = deploy(cfg)
    inputs = d.mocks.named("compute-1-packages").inputs
    assert inputs["create"].startswith("sudo -n bash -c ")
    conn = conn_of(d, "compute-1-packages")
    assert conn["hostKey"] == HOST_KEY and conn["port"] == 2222 and conn["user"] == "debian"
    assert "hostKey" not in conn_of(d, "compute-1-gate")


def test_host_facts_are_exported_for_the_policy_pack(one):
    host = one.result["hosts"][0]
    assert (resolved(host.ram_mb), resolved(host.vcpus), resolved(host.disk_gb)) == (16000, 8, 100)
    assert parse_facts("noise\n" + FACTS + "\n") == {"ram_mb": 16000, "vcpus": 8, "disk_gb": 100}
    assert parse_facts("") == {}


def test_a_preview_knows_no_step_output_and_no_host_fact():
    # As the engine answers: the commands have not run, so their stdout, the facts parsed from it and
    # the gate's command line (it names the restarts' ids) are unknown; the policy pack skips them.
    d = deploy(dev_config(), preview=True)
    host = d.result["hosts"][0]
    assert not is_known(host.packages.stdout) and not is_known(host.gate.stdout)
    assert not any(is_known(v) for v in (host.ram_mb, host.vcpus, host.disk_gb))
    assert is_known(host.config.stdin)  # what a step is given is known: the rendered files
    up = deploy(dev_config()).result["hosts"][0]  # positive control: an update knows them
    assert is_known(up.ram_mb) and resolved(up.ram_mb) == 16000


def test_private_key_from_a_file(tmp_path):
    key = tmp_path / "id_test"
    key.write_text(SECRETS["novalab:sshPrivateKey"])
    cfg = dev_config(sshPrivateKey=None, ssh={"user": "root", "privateKeyPath": str(key)})
    d = deploy(cfg)
    assert conn_of(d, "compute-1-packages")["privateKey"] == SECRETS["novalab:sshPrivateKey"]


def test_unreadable_private_key_file_is_a_config_error(tmp_path):
    cfg = dev_config(sshPrivateKey=None, ssh={"user": "root", "privateKeyPath": str(tmp_path / "missing")})
    with pytest.raises(pulumi.RunError) as exc:
        deploy(cfg)
    assert "ssh.privateKeyPath: cannot read" in str(exc.value)


# --- addresses and host keys from other stacks, or from any Output ------------------------------

VM_STACK = "acme/vms/dev"


def from_stack(output: str) -> dict:
    return {"stack": VM_STACK, "output": output}


def vm_hosts() -> list[dict]:
    return [
        {"name": "compute-1", "addressFrom": from_stack("compute1Ip"), "hostKeyFrom": from_stack("compute1HostKey"),
         "bridgeInterface": "eth2", "virtType": "qemu"},
        {"name": "compute-2", "addressFrom": from_stack("compute2Ip"), "bridgeInterface": "eth2", "virtType": "qemu"},
    ]


def vm_stack(secret=()) -> Recorder:
    outputs = {"compute1Ip": "10.0.5.11", "compute1HostKey": HOST_KEY, "compute2Ip": "10.0.5.12"}
    return Recorder(stack_outputs={VM_STACK: outputs}, secret_stack_outputs=secret)


def config_files(d, host_name: str) -> dict[str, configparser.ConfigParser]:
    out = {}
    for path, text in bundle_files(reveal(d.mocks.named(f"{host_name}-config").inputs["stdin"])).items():
        out[path] = configparser.ConfigParser(interpolation=None)
        out[path].read_string(text)
    return out


def test_hosts_that_are_vms_of_another_stack_take_address_and_key_from_its_outputs():
    d = deploy(dev_config(computeHosts=vm_hosts()), mocks=vm_stack())
    (ref,) = d.mocks.of_type(STACK_REFERENCE)  # one reference per stack, however many hosts use it
    assert ref.inputs["name"] == VM_STACK
    conn = conn_of(d, "compute-1-packages")
    assert (conn["host"], conn["hostKey"]) == ("10.0.5.11", HOST_KEY)
    assert conn_of(d, "compute-2-packages")["host"] == "10.0.5.12" and "hostKey" not in conn_of(d, "compute-2-packages")
    assert d.mocks.named("compute-2-bridge").inputs["create"].endswith("configure_bridge.sh br100 eth2 10.0.5.12")
    nova = config_files(d, "compute-2")["/etc/nova/nova.conf"]
    assert nova["DEFAULT"]["my_ip"] == nova["vnc"]["server_proxyclient_address"] == "10.0.5.12"
    agent = config_files(d, "compute-2")["/etc/neutron/plugins/ml2/linuxbridge_agent.ini"]
    assert agent["vxlan"]["local_ip"] == "10.0.5.12"
    assert resolved(d.result["hosts"][1].address) == "10.0.5.12"


def test_a_secret_address_of_the_other_stack_stays_secret():
    d = deploy(dev_config(computeHosts=vm_hosts()), mocks=vm_stack(secret=["compute2Ip"]))
    for step in ("packages", "bridge"):
        create, secret = unwrap(d.mocks.named(f"compute-2-{step}").inputs["create"])
        assert secret and "10.0.5.12" in create
    assert "10.0.5.12" not in plain_text([r.inputs for r in d.mocks.resources])
    assert not unwrap(d.mocks.named("compute-1-bridge").inputs["create"])[1]  # the other host's is not


def test_an_output_that_is_not_an_address_fails_naming_the_host_and_output():
    mocks = vm_stack(secret=["compute2Ip"])
    mocks.stack_outputs[VM_STACK]["compute2Ip"] = "s3cret-not-an-ip"
    with pytest.raises(ValueError) as exc:  # raised in the Output's apply, at run time
        deploy(dev_config(computeHosts=vm_hosts()), mocks=mocks)
    assert "computeHosts[1].addressFrom: output 'compute2Ip' of stack 'acme/vms/dev' is not an IP address" in str(exc.value)
    assert "s3cret" not in str(exc.value)


def test_address_sources_are_checked_in_config():
    problems = config_problems(dev_config(computeHosts=[
        {"name": "compute-1", "bridgeInterface": "eth2", "virtType": "qemu"},
        {"name": "compute-2", "address": "10.0.0.21", "addressFrom": from_stack("x"), "bridgeInterface": "eth2", "virtType": "qemu"},
        {"name": "compute-3", "addressFrom": {"stack": "a/b/c/d", "output": ""}, "bridgeInterface": "eth2", "virtType": "qemu"},
        {"name": "compute-4", "address": "10.0.0.23", "hostKey": HOST_KEY, "hostKeyFrom": from_stack("k"),
         "bridgeInterface": "eth2", "virtType": "qemu"},
    ]))
    assert problems[:2] == ["computeHosts[0]: give address or addressFrom (a {stack, output} another stack exports), exactly one",
                            "computeHosts[1]: give address or addressFrom (a {stack, output} another stack exports), exactly one"]
    assert any(p.startswith("computeHosts[2].addressFrom.stack: String should match pattern") for p in problems)
    assert any(p.startswith("computeHosts[2].addressFrom.output: String should have at least 1 character") for p in problems)
    assert "computeHosts[3]: give hostKey or hostKeyFrom, not both" in problems
    assert len(problems) == 5


def test_the_component_takes_outputs_of_other_resources():
    """In code, a host's address and key can come straight from another resource: the steps wait for it."""
    import pulumi
    import pulumi_openstack as openstack

    from components.compute_host import ComputeHost, ComputeHostArgs, SshAccess
    from components.config import parse_stack_config
    from support.mocks import RecordingMonitor, to_raw

    cfg = parse_stack_config(to_raw(dev_config()))
    mocks = Recorder()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="novalab", stack="dev", monitor=monitor)

    @pulumi.runtime.test
    def program():
        vm = openstack.compute.Instance("vm-1", name="vm-1", image_name="debian-12", flavor_name="m1.large")
        host = ComputeHost("vm-1-compute", ComputeHostArgs(
            host_name="vm-1", address=vm.access_ip_v4, host_key=pulumi.Output.secret("ssh-ed25519 AAAAvm"),
            bridge_interface="eth1", virt_type="kvm", controller_address=cfg.controller.address,
            services=cfg.services, network=cfg.network, ssh=SshAccess("root", 22, pulumi.Output.secret("key")),
            rabbit_password=pulumi.Output.secret("r"), nova_password=pulumi.Output.secret("n")))
        return host.address

    program()
    assert "vm-1" in monitor.depends_on("vm-1-compute-packages")
    conn = reveal(mocks.named("vm-1-compute-packages").inputs["connection"])
    assert (conn["host"], conn["hostKey"]) == ("192.168.100.10", "ssh-ed25519 AAAAvm")  # the mock cloud's address
    assert "nova-compute-kvm" in mocks.named("vm-1-compute-packages").inputs["create"]
