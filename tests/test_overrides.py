"""configOverrides: the operator's options over the rendered files (pure checks and merging first,
then the program under mocks: the host gets them, only the changed file's service restarts)."""

from __future__ import annotations

import base64
import configparser

import pulumi
import pytest

from components.host_files import HostSpec, Passwords, render_host_files
from components.overrides import FILES, merge_overrides, normalize_overrides, override_problems
from components.render import render_nova_compute_conf
from support.mocks import config_problems, deploy, dev_config, plain_text, reveal, to_raw, unwrap

from components.config import parse_stack_config

SPEC = HostSpec("compute-1", "10.0.0.20", "qemu")


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def host(**kw) -> dict:
    return {"name": "compute-1", "address": "10.0.0.20", "bridgeInterface": "eth2", "virtType": "qemu", **kw}


def rendered(overrides, spec=SPEC) -> dict[str, configparser.ConfigParser]:
    cfg = parse_stack_config(to_raw(dev_config()))
    files = render_host_files(spec, cfg.services, cfg.network, Passwords("r", "n", "q"), normalize_overrides(overrides))
    return {f.path.rsplit("/", 1)[1]: ini(f.content) for f in files.all}


# --- checks ------------------------------------------------------------------------------------


def test_the_overridable_files_are_the_rendered_ones():
    assert set(FILES) == {"nova.conf", "nova-compute.conf", "neutron.conf", "linuxbridge_agent.ini"}
    cfg = parse_stack_config(to_raw(dev_config()))
    files = render_host_files(SPEC, cfg.services, cfg.network, Passwords("r", "n"))
    assert {f.path for f in files.all} == set(FILES.values())


def test_an_unknown_file_names_the_key_and_the_files_allowed():
    (problem,) = override_problems("configOverrides", {"nova.cfg": {"DEFAULT": {"debug": True}}})
    assert problem == ('configOverrides["nova.cfg"]: unknown file; expected one of '
                       "nova.conf, nova-compute.conf, neutron.conf, linuxbridge_agent.ini")


@pytest.mark.parametrize("file,section,key,why", [
    ("nova.conf", "DEFAULT", "transport_url", "services.rabbitHost"),
    ("neutron.conf", "DEFAULT", "transport_url", "rabbitPassword"),
    ("nova.conf", "keystone_authtoken", "password", "novaServicePassword"),
    ("nova.conf", "keystone_authtoken", "username", "novaUser"),
    ("nova.conf", "DEFAULT", "host", "computeHosts[].name"),
    ("neutron.conf", "DEFAULT", "host", "L2 agent"),
    ("nova-compute.conf", "libvirt", "virt_type", "computeHosts[].virtType"),
    ("nova.conf", "DEFAULT", "Transport_URL", "services.rabbitHost"),  # oslo would not read it, a typo must not slip past
])
def test_keys_novalab_relies_on_are_refused_naming_the_key_and_why(file, section, key, why):
    (problem,) = override_problems("configOverrides", {file: {section: {key: "x"}}})
    assert problem.startswith(f'configOverrides["{file}"].{section}.{key}: refused, ')
    assert why in problem


def test_other_rendered_keys_and_new_keys_are_allowed():
    allowed = {
        "nova.conf": {"DEFAULT": {"my_ip": "10.9.0.20", "cpu_allocation_ratio": 4.0, "debug": True},
                      "keystone_authtoken": {"www_authenticate_uri": "https://keystone.example.org"},
                      "libvirt": {"cpu_mode": "host-model"}},
        "nova-compute.conf": {"DEFAULT": {"reserved_host_memory_mb": 1024}},
        "linuxbridge_agent.ini": {"vxlan": {"l2_population": False}},
    }
    assert override_problems("configOverrides", allowed) == []


def test_malformed_overrides_are_each_named_and_no_value_is_shown():
    bad = {
        "nova.conf": {"DEFAULT": {"debug": ["s3cret-a"], "bad key": "s3cret-b", "ok": "s3cret\nline"},
                      "bad section!": {"x": "s3cret-c"}, "libvirt": "s3cret-d"},
        "neutron.conf": "s3cret-e",
    }
    problems = override_problems("computeHosts[1].configOverrides", bad)
    base = 'computeHosts[1].configOverrides["nova.conf"]'
    assert problems == [
        f"{base}.DEFAULT.debug: expected one line of text, a number or true/false",
        f"{base}.DEFAULT[\"bad key\"]: not an option name (letters, digits, '_', '.', '-')",
        f"{base}.DEFAULT.ok: expected one line of text, a number or true/false",
        f"{base}[\"bad section!\"]: not an option section name (letters, digits, '_', '.', ':', '-')",
        f"{base}.libvirt: expected {{<key>: <value>}}",
        'computeHosts[1].configOverrides["neutron.conf"]: expected {<section>: {<key>: <value>}}',
    ]
    assert "s3cret" not in "\n".join(problems)
    assert override_problems("configOverrides", "debug=true") == [
        "configOverrides: expected {<file>: {<section>: {<key>: <value>}}} with <file> one of "
        "nova.conf, nova-compute.conf, neutron.conf, linuxbridge_agent.ini"]


def test_stack_config_reports_override_problems_with_the_rest_and_hides_secret_values():
    cfg = dev_config(
        configOverrides={"nova.conf": {"DEFAULT": {"transport_url": "rabbit://u:s3cret-pw@x/"}}},
        computeHosts=[host(configOverrides={"nova.cfg": {"DEFAULT": {"debug": "s3cret-too"}}}), host(name="c2", address="nope")],
    )
    problems = config_problems(cfg, secret_keys=["novalab:configOverrides", "novalab:computeHosts"])
    # computeHosts is a secret key here: not even its address is shown.
    assert problems[0].startswith("computeHosts[1].address: (secret) is not an IP address")
    assert 'configOverrides["nova.conf"].DEFAULT.transport_url: refused, ' in problems[1]
    assert problems[2].startswith('computeHosts[0].configOverrides["nova.cfg"]: unknown file')
    assert len(problems) == 3
    assert "s3cret" not in "\n".join(problems) and "nope" not in "\n".join(problems)


def test_a_host_wins_over_the_stack_key_by_key():
    stack = {"nova.conf": {"DEFAULT": {"debug": "true", "cpu_allocation_ratio": "4.0"}}}
    own = {"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": "16.0"}}, "neutron.conf": {"DEFAULT": {"debug": "true"}}}
    assert merge_overrides(stack, own) == {
        "nova.conf": {"DEFAULT": {"debug": "true", "cpu_allocation_ratio": "16.0"}},
        "neutron.conf": {"DEFAULT": {"debug": "true"}},
    }
    assert stack == {"nova.conf": {"DEFAULT": {"debug": "true", "cpu_allocation_ratio": "4.0"}}}  # not modified


# --- rendering ---------------------------------------------------------------------------------


def test_an_override_wins_in_place_and_new_options_are_added():
    files = rendered({
        "nova.conf": {"DEFAULT": {"my_ip": "10.9.0.20", "debug": True, "cpu_allocation_ratio": 4.0},
                      "libvirt": {"cpu_mode": "host-model"}},
        "linuxbridge_agent.ini": {"vxlan": {"l2_population": False}},
    })
    nova = files["nova.conf"]
    assert nova["DEFAULT"]["my_ip"] == "10.9.0.20"  # the override wins over what novalab renders
    assert nova["DEFAULT"]["debug"] == "true" and nova["DEFAULT"]["cpu_allocation_ratio"] == "4.0"
    assert nova["libvirt"]["cpu_mode"] == "host-model"
    assert nova["vnc"]["server_proxyclient_address"] == "10.0.0.20"  # the rest is untouched
    assert list(nova["DEFAULT"])[:2] == ["host", "my_ip"]  # replaced in place
    assert files["linuxbridge_agent.ini"]["vxlan"]["l2_population"] == "false"
    assert files["nova-compute.conf"]["libvirt"]["virt_type"] == "qemu"


def test_override_values_are_literal_for_oslo():
    text = render_nova_compute_conf("qemu", {"DEFAULT": {"instances_path": "/srv/$nova"}})
    assert "instances_path = /srv/$$nova\n" in text  # oslo.config reads $$ as a literal $


# --- the program under mocks -------------------------------------------------------------------


def triggers(d, host_name: str) -> tuple[str, str]:
    return tuple(reveal(d.mocks.named(f"{host_name}-restart-{s}").inputs["triggers"])[0] for s in ("nova-compute", "l2-agent"))


def host_files(d, host_name: str) -> dict[str, configparser.ConfigParser]:
    stdin = reveal(d.mocks.named(f"{host_name}-config").inputs["stdin"])
    out = {}
    for line in stdin.splitlines():
        path, _owner, _group, _mode, data = line.split(" ")
        out[path.rsplit("/", 1)[1]] = ini(base64.b64decode(data).decode())
    return out


TWO = [host(), host(name="compute-2", address="10.0.0.21")]


@pytest.fixture(scope="module")
def plain():
    return deploy(dev_config(computeHosts=TWO))


def test_a_nova_conf_override_restarts_only_nova_compute(plain):
    d = deploy(dev_config(computeHosts=TWO, configOverrides={"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": 8}}}))
    for name in ("compute-1", "compute-2"):
        (nova_before, agent_before), (nova_after, agent_after) = triggers(plain, name), triggers(d, name)
        assert nova_after != nova_before and agent_after == agent_before
        assert host_files(d, name)["nova.conf"]["DEFAULT"]["cpu_allocation_ratio"] == "8"


def test_a_nova_conf_debug_override_is_written_and_restarts_nothing(plain):
    # [DEFAULT] debug is one nova-compute re-reads on SIGHUP: its reload row applies it (reload.py).
    d = deploy(dev_config(computeHosts=TWO, configOverrides={"nova.conf": {"DEFAULT": {"debug": True}}}))
    for name in ("compute-1", "compute-2"):
        assert triggers(d, name) == triggers(plain, name)
        assert host_files(d, name)["nova.conf"]["DEFAULT"]["debug"] == "true"


def test_an_agent_override_on_one_host_restarts_only_that_hosts_agent(plain):
    hosts = [host(configOverrides={"linuxbridge_agent.ini": {"securitygroup": {"firewall_driver": "noop"}}}), TWO[1]]
    d = deploy(dev_config(computeHosts=hosts))
    nova_before, agent_before = triggers(plain, "compute-1")
    nova_after, agent_after = triggers(d, "compute-1")
    assert nova_after == nova_before and agent_after != agent_before
    assert triggers(d, "compute-2") == triggers(plain, "compute-2")
    assert host_files(d, "compute-1")["linuxbridge_agent.ini"]["securitygroup"]["firewall_driver"] == "noop"


def test_the_hosts_own_override_wins_over_the_stacks():
    hosts = [host(configOverrides={"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": 16.0}}}), TWO[1]]
    d = deploy(dev_config(computeHosts=hosts, configOverrides={"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": 4.0}}}))
    assert host_files(d, "compute-1")["nova.conf"]["DEFAULT"]["cpu_allocation_ratio"] == "16.0"
    assert host_files(d, "compute-2")["nova.conf"]["DEFAULT"]["cpu_allocation_ratio"] == "4.0"


@pytest.mark.parametrize("key", ["configOverrides", "computeHosts"])
def test_a_secret_override_reaches_the_host_only_as_a_secret(key):
    secret = {"nova.conf": {"vnc": {"novncproxy_base_url": "https://vnc.example.org/?token=s3cret-token"}}}
    cfg = dev_config(configOverrides=secret) if key == "configOverrides" else dev_config(computeHosts=[host(configOverrides=secret)])
    d = deploy(cfg, secret_keys=[key])
    stdin, is_secret = unwrap(d.mocks.named("compute-1-config").inputs["stdin"])
    assert is_secret and "s3cret-token" in base64.b64decode(stdin.split()[4]).decode()
    for r in d.mocks.resources:
        assert "s3cret-token" not in plain_text(r.inputs), r.name
    for step in ("reload-nova-compute", "restart-nova-compute", "restart-l2-agent"):
        assert unwrap(d.mocks.named(f"compute-1-{step}").inputs["triggers"])[1]


def test_a_refused_override_fails_before_any_resource():
    from support.mocks import Recorder

    mocks = Recorder()
    with pytest.raises(pulumi.RunError) as exc:
        deploy(dev_config(configOverrides={"nova.conf": {"DEFAULT": {"host": "other"}}}), mocks=mocks)
    assert 'configOverrides["nova.conf"].DEFAULT.host: refused' in str(exc.value)
    assert mocks.resources == []


@pytest.mark.parametrize("secret_keys,stack_wide,own,expect", [
    ([], True, True, False),
    (["novalab:configOverrides"], True, False, True),
    (["novalab:configOverrides"], False, True, False),  # the secret key holds no override
    (["novalab:computeHosts"], False, True, True),
    (["novalab:computeHosts"], True, False, False),
    (["novalab:rabbitPassword"], True, True, False),
])
def test_overrides_are_secret_when_the_key_holding_them_was_set_as_a_secret(secret_keys, stack_wide, own, expect):
    debug = {"nova.conf": {"DEFAULT": {"debug": True}}}
    cfg = dev_config(configOverrides=debug if stack_wide else None, computeHosts=[host(configOverrides=debug if own else None)])
    parsed = parse_stack_config(to_raw(cfg), secret_keys=secret_keys)
    overrides, secret = parsed.host_overrides(parsed.compute_hosts[0])
    assert overrides == {"nova.conf": {"DEFAULT": {"debug": "true"}}}
    assert secret is expect
