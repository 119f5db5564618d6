"""Stack config: Pulumi.dev.yaml parses; every bad field is reported at once, by its config path."""

from __future__ import annotations

import pulumi
import pytest

from components.config import NAMESPACE, SECRET_KEYS, parse_stack_config
from support.mocks import ROOT, Recorder, config_problems, deploy, dev_config, load_stack_yaml, to_raw


def parse(config):
    return parse_stack_config(to_raw(config))


problems_of = config_problems


def host(**kw):
    base = {"name": "compute-1", "address": "10.0.0.20", "bridgeInterface": "eth2", "virtType": "qemu"}
    base.update(kw)
    return base


def test_dev_stack_is_the_tutorials_lab():
    cfg = parse(dev_config())
    (h,) = cfg.compute_hosts
    assert (h.name, h.address, h.bridge_interface, h.virt_type) == ("compute-1", "10.0.0.20", "eth2", "qemu")
    assert cfg.services.rabbit_host == "10.0.0.3"
    assert cfg.services.keystone_url == "http://10.0.0.4:5000"
    assert cfg.services.glance_api_servers == ["http://10.0.0.5:9292"]
    assert cfg.services.novncproxy_base_url == "http://10.0.0.6:6080/vnc_auto.html"
    assert (cfg.controller.name, cfg.controller.address) == ("api-node", "10.0.0.6")
    assert cfg.network.physnet == "physnet1" and cfg.network.tunnel_overlay == "vxlan"
    assert cfg.rollout.batch_size == 0


def test_committed_stack_files_hold_no_secret_values():
    stacks = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))
    assert "dev" in stacks and "lab" in stacks
    plain_secrets = {f"{NAMESPACE}:{k}" for k in SECRET_KEYS} | {"openstack:password"}
    for stack in stacks:
        cfg = load_stack_yaml(stack)
        for key in plain_secrets & set(cfg):
            # `pulumi config set --secret` stores {secure: <ciphertext>}; plain text is a leak.
            assert isinstance(cfg[key], dict) and set(cfg[key]) == {"secure"}, (
                f"Pulumi.{stack}.yaml: {key} must be set with `pulumi config set --secret`, not committed")


def test_missing_required_keys_are_all_named():
    cfg = dev_config()
    for key in ("novalab:controller", "novalab:services", "novalab:rabbitPassword"):
        del cfg[key]
    problems = problems_of(cfg)
    joined = "\n".join(problems)
    for path in ("controller: required key is missing", "services: required key is missing",
                 "rabbitPassword: required key is missing"):
        assert path in joined
    assert len(problems) == 3


def test_every_bad_field_in_one_error():
    cfg = dev_config(
        computeHosts=[
            host(address="10.0.0.300", virtType="xen", bridgeInterface="eth2/x"),
            host(name="compute-2", address="10.0.0.21"),
        ],
        rollout={"batchSize": -1},
        ssh={"user": "root", "port": "twenty-two"},
    )
    problems = problems_of(cfg)
    joined = "\n".join(problems)
    assert "computeHosts[0].address: '10.0.0.300' is not an IP address" in joined
    assert "computeHosts[0].virtType" in joined and "'qemu' or 'kvm'" in joined
    assert "computeHosts[0].bridgeInterface: 'eth2/x' is not a Linux interface name" in joined
    assert "rollout.batchSize" in joined and "greater than or equal to 0" in joined
    assert "ssh.port" in joined
    assert len(problems) == 5


def test_duplicate_host_names_and_addresses():
    problems = problems_of(dev_config(computeHosts=[host(), host(), host(name="compute-3", address="10.0.0.22")]))
    assert any("host name 'compute-1' is used by entries [0, 1]" in p for p in problems)
    assert any("address '10.0.0.20' is used by entries [0, 1]" in p for p in problems)


def test_interface_name_too_long_and_bridge_as_interface():
    problems = problems_of(dev_config(computeHosts=[host(bridgeInterface="a" * 16), host(name="c2", address="10.0.0.2", bridgeInterface="br100")]))
    assert any(p.startswith("computeHosts[0].bridgeInterface") for p in problems)
    assert any(p.startswith("computeHosts[1].bridgeInterface") and "bridge itself" in p for p in problems)


def test_unknown_key_is_a_typo():
    problems = problems_of(dev_config(computeHosts=[host(virttype="qemu")]))
    assert any("computeHosts[0].virttype: unknown key" in p for p in problems)


def test_services_default_to_the_controller_and_a_given_one_wins():
    cfg = dev_config()
    cfg["novalab:services"] = {"keystoneUrl": "https://keystone.example.org:5000"}
    services = parse(cfg).services
    # The dev stack's controller is 10.0.0.6: what the tutorial's all-in-one api node would serve.
    assert services.rabbit_host == "10.0.0.6"
    assert services.glance_api_servers == ["http://10.0.0.6:9292"]
    assert services.novncproxy_base_url == "http://10.0.0.6:6080/vnc_auto.html"
    assert services.keystone_url == "https://keystone.example.org:5000"
    del cfg["novalab:services"]
    cfg["novalab:controller"] = dict(cfg["novalab:controller"], address="fd00::6")
    services = parse(cfg).services
    assert (services.rabbit_host, services.keystone_url) == ("fd00::6", "http://[fd00::6]:5000")


def test_services_missing_with_a_bad_controller_address_name_the_address_first():
    cfg = dev_config()
    del cfg["novalab:services"]
    cfg["novalab:controller"] = dict(cfg["novalab:controller"], address="10.0.0.300")
    problems = problems_of(cfg)
    assert problems[0].startswith("controller.address: '10.0.0.300' is not an IP address")
    assert "defaults to the controller's when controller.address is valid" in problems[1]


def test_bad_urls_and_glance_servers():
    cfg = dev_config()
    cfg["novalab:services"] = dict(cfg["novalab:services"], keystoneUrl="10.0.0.4:5000", glanceApiServers=[], novncproxyBaseUrl="ftp://x")
    problems = problems_of(cfg)
    assert any(p.startswith("services.keystoneUrl") and "http(s) URL" in p for p in problems)
    assert any(p.startswith("services.glanceApiServers") for p in problems)
    assert any(p.startswith("services.novncproxyBaseUrl") for p in problems)


def test_ssh_needs_a_key_source():
    cfg = dev_config()
    del cfg["novalab:sshPrivateKey"]
    problems = problems_of(cfg)
    assert any(p.startswith("ssh: no private key") for p in problems)


def test_secret_values_never_appear_in_errors():
    cfg = dev_config(rabbitPassword="pw-line1\npw-line2", novaServicePassword=["pw-in-a-list"],
                     computeHosts=[host(address="nope")])
    problems = problems_of(cfg)
    assert "rabbitPassword: must be a non-empty single line" in problems
    assert any(p.startswith("novaServicePassword: Input should be a valid string") for p in problems)
    assert any(p.startswith("computeHosts[0].address: 'nope' is not an IP address") for p in problems)
    assert len(problems) == 3
    assert "pw-" not in "\n".join(problems)


def test_bad_config_registers_no_resource():
    """The program fails before any resource is touched."""
    mocks = Recorder()
    with pytest.raises(pulumi.RunError) as exc:
        deploy(dev_config(computeHosts=[host(virtType="xen")]), mocks=mocks)
    assert "computeHosts[0].virtType" in str(exc.value)
    assert [r.typ for r in mocks.resources] == []


def test_other_namespaces_are_ignored():
    cfg = dev_config()
    cfg["openstack:authUrl"] = "http://127.0.0.1:5000"
    assert parse(cfg).compute_hosts[0].name == "compute-1"


def test_rollout_defaults_and_bounds():
    assert parse(dev_config(rollout=None)).rollout.gate_timeout_seconds == 300
    problems = problems_of(dev_config(rollout={"gateTimeoutSeconds": 0}))
    assert problems[0].startswith("rollout.gateTimeoutSeconds")
