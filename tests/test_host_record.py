"""Each host's records in the program (under mocks): `<host>-files` with a record per file and one for
the services, what they hold, and how a repair they ask for reaches the config step and the restarts.
Their provider: tests/test_host_state.py; the whole thing in the engine: tests/test_engine_drift.py."""

from __future__ import annotations

import subprocess

import pytest

from components.drift import RUNNING
from components.host_record import record_name
from components.network.linuxbridge import AGENT, LINUXBRIDGE_AGENT_INI
from components.network.neutron import NEUTRON_CONF
from components.render import NOVA_COMPUTE_CONF, NOVA_CONF, NOVA_MIGRATION_FILES
from components.scripts import script_command
from support.mocks import HOST_KEY, SECRETS, Recorder, deploy, dev_config, reveal

HOST_FILE = "pulumi-python:dynamic/novalab:HostFile"
HOST_SERVICES = "pulumi-python:dynamic/novalab:HostServices"
PATHS = [NOVA_CONF, NOVA_COMPUTE_CONF, NEUTRON_CONF, LINUXBRIDGE_AGENT_INI]


@pytest.fixture(scope="module")
def one():
    return deploy(dev_config())


def record(d, path: str, host: str = "compute-1") -> dict:
    return reveal(d.mocks.named(record_name(host, path)).inputs)


def test_each_host_has_its_records_and_the_config_step_follows_them(one):
    assert one.monitor.parent_of("compute-1-files") == "compute-1"
    assert one.monitor.depends_on("compute-1-files") == set()  # nothing runs for them: they wait for nothing
    files = one.mocks.of_type(HOST_FILE)
    assert {r.name for r in files} <= one.monitor.depends_on("compute-1-config")  # the config step's repairs
    assert sorted(r.name for r in files) == sorted(record_name("compute-1", p) for p in PATHS)
    (services,) = one.mocks.of_type(HOST_SERVICES)
    assert services.name == "compute-1-services"
    for r in (*files, services):
        assert one.monitor.parent_of(r.name) == "compute-1-files"


def test_a_file_record_holds_the_file_and_how_to_read_the_whole_host(one):
    nova = record(one, NOVA_CONF)
    assert (nova["path"], nova["owner"], nova["group"], nova["mode"], nova["readBy"]) == (
        NOVA_CONF, "root", "nova", "0640", "nova-compute")
    assert record(one, NEUTRON_CONF)["readBy"] == AGENT
    conn = nova["connection"]
    assert (conn["host"], conn["port"], conn["user"]) == ("10.0.0.20", 22, "root")
    assert conn["reads"] == " ".join([*PATHS, "--services", "nova-compute", AGENT])
    services = reveal(one.mocks.named("compute-1-services").inputs)
    assert services["nova-compute"] == RUNNING and services[AGENT] == RUNNING and services["connection"] == conn


def test_the_text_is_masked_and_the_secrets_are_kept_by_where_they_sit(one):
    # The mock engine folds a nested secret into its top-level property, so which leaves are secret
    # (each secret value, the digest, the key; never the text) is checked in the state of the real
    # engine: tests/test_engine_drift.py.
    nova = record(one, NOVA_CONF)
    assert "transport_url = rabbit://openstack:[secret]@10.0.0.3:5672/" in nova["text"]
    assert "password = [secret]" in nova["text"] and "host = compute-1" in nova["text"]
    for secret in SECRETS.values():
        assert secret not in nova["text"]
    assert nova["secrets"]["[DEFAULT] transport_url"].startswith("rabbit://openstack:rabbit-s3cret")
    assert nova["secrets"]["[keystone_authtoken] password"] == "nova-s3cret-pw"
    assert len(nova["sha256"]) == 64


def test_overrides_set_as_a_secret_are_masked_and_plain_ones_shown():
    overrides = {"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": "4.0"}}}
    plain = record(deploy(dev_config(configOverrides=overrides)), NOVA_CONF)
    assert "cpu_allocation_ratio = 4.0" in plain["text"]
    secret = record(deploy(dev_config(configOverrides=overrides), secret_keys=["configOverrides"]), NOVA_CONF)
    assert "cpu_allocation_ratio = [secret]" in secret["text"]
    assert secret["secrets"]["[DEFAULT] cpu_allocation_ratio"] == "4.0"


def test_nova_migration_files_are_in_the_record_with_the_private_key_masked_whole(tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    key = (tmp_path / "k").read_text()
    cfg = dev_config(**{"novalab:novaMigrationSshKey": key})
    d = deploy(cfg, secret_keys=["novaMigrationSshKey"])
    assert record(d, NOVA_CONF)["connection"]["reads"].startswith(" ".join(PATHS + list(NOVA_MIGRATION_FILES)) + " --services ")
    private = record(d, NOVA_MIGRATION_FILES[0])
    assert private["text"] == "[secret]" and private["readBy"] == "" and private["secrets"] == {"(whole file)": key}
    assert record(d, NOVA_MIGRATION_FILES[1])["text"].startswith("ssh-ed25519 ")


def test_with_the_host_key_pinned_the_record_reads_with_it():
    d = deploy(dev_config(computeHosts=[{"name": "compute-1", "address": "10.0.0.20", "bridgeInterface": "eth2",
                                         "virtType": "qemu", "hostKey": HOST_KEY}]))
    assert record(d, NOVA_CONF)["connection"]["hostKey"] == HOST_KEY


# --- repairs ------------------------------------------------------------------------------------


def test_before_any_repair_the_config_step_and_restarts_are_as_they_were(one):
    assert one.mocks.named("compute-1-config").inputs["create"] == script_command("write_files.sh")
    for step in ("restart-nova-compute", "restart-l2-agent"):
        (trigger,) = reveal(one.mocks.named(f"compute-1-{step}").inputs["triggers"])
        assert len(trigger) == 64 and " " not in trigger


class Repaired(Recorder):
    """compute-1's records as after refreshes found its nova.conf edited once and its nova-compute
    stopped once: check bumped their revisions."""

    def new_resource(self, args):
        rid, state = super().new_resource(args)
        if args.name == record_name("compute-1", NOVA_CONF):
            state["revision"] = 1
        elif args.name == "compute-1-services":
            state["revisions"] = {"nova-compute": 1, AGENT: 0}
        return rid, state


def test_a_repair_reruns_the_config_step_and_restarts_only_the_service_concerned():
    d = deploy(dev_config(computeHosts=[
        {"name": "compute-1", "address": "10.0.0.20", "bridgeInterface": "eth2", "virtType": "qemu"},
        {"name": "compute-2", "address": "10.0.0.21", "bridgeInterface": "eth2", "virtType": "qemu"},
    ]), mocks=Repaired())
    base = deploy(dev_config(computeHosts=[
        {"name": "compute-1", "address": "10.0.0.20", "bridgeInterface": "eth2", "virtType": "qemu"},
        {"name": "compute-2", "address": "10.0.0.21", "bridgeInterface": "eth2", "virtType": "qemu"},
    ]))

    def trigger(dep, name):
        return reveal(dep.mocks.named(name).inputs["triggers"])[0]

    assert d.mocks.named("compute-1-config").inputs["create"] == script_command("write_files.sh", "--repair", "1")
    assert trigger(d, "compute-1-restart-nova-compute") == trigger(base, "compute-1-restart-nova-compute") + " repair 2"
    assert trigger(d, "compute-1-restart-l2-agent") == trigger(base, "compute-1-restart-l2-agent")
    assert d.mocks.named("compute-2-config").inputs["create"] == script_command("write_files.sh")
    for step in ("restart-nova-compute", "restart-l2-agent"):
        assert trigger(d, f"compute-2-{step}") == trigger(base, f"compute-2-{step}")


@pytest.mark.parametrize("backend, agent_file", [
    ("ovn", "/etc/neutron/neutron_ovn_metadata_agent.ini"),
    ("openvswitch", "/etc/neutron/plugins/ml2/openvswitch_agent.ini"),
])
def test_every_network_backend_gets_records_of_its_own_files(backend, agent_file):
    cfg = dev_config(network={"backend": backend}, **{"novalab:metadataProxySharedSecret": "metadata-s3cret"})
    d = deploy(cfg, secret_keys=["metadataProxySharedSecret"])
    names = {r.name for r in d.mocks.of_type(HOST_FILE)}
    assert record_name("compute-1", agent_file) in names and record_name("compute-1", NOVA_CONF) in names
    services = reveal(d.mocks.named("compute-1-services").inputs)
    assert "nova-compute" in services and len([k for k in services if k not in ("connection",)]) >= 2
    for name in names:
        text = reveal(d.mocks.named(name).inputs)["text"]
        assert "metadata-s3cret" not in text and SECRETS["novalab:rabbitPassword"] not in text
