"""Hostile stack configs (issue 19): each is refused before any resource is registered, by a problem
that names the bad key, and no message shows a secret value, also inside a secret object."""

from __future__ import annotations

import base64
import struct

import pulumi
import pytest

from support.mocks import HOST_KEY, SECRETS, Recorder, config_problems, deploy, dev_config, fake_pem

INJECTED = "http://10.0.0.4:5000/\n[DEFAULT]\ntransport_url = rabbit://evil@1.2.3.4/"
RSA_BLOB = base64.b64encode(struct.pack(">I", 7) + b"ssh-rsa" + struct.pack(">I", 1) + b"\x01" + struct.pack(">I", 1) + b"\x03").decode()


def host(**kw) -> dict:
    return {"name": "compute-1", "address": "10.0.0.20", "bridgeInterface": "eth2", "virtType": "qemu", **kw}


def services(**kw) -> dict:
    return {"rabbitHost": "10.0.0.3", "keystoneUrl": "http://10.0.0.4:5000", **kw}


def server(**kw) -> dict:
    return {"name": "server-1", "image": "cirros", "flavor": "m1.tiny", "network": "net1", **kw}


def openssh_private_key(public_blob: bytes) -> str:
    """An unencrypted openssh-key-v1 file around PUBLIC_BLOB (the private part is never read)."""
    def s(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b
    data = b"openssh-key-v1\0" + s(b"none") + s(b"none") + s(b"") + struct.pack(">I", 1) + s(public_blob) + s(b"x" * 8)
    body = base64.b64encode(data).decode()
    return fake_pem("OPENSSH", body)


# (case id, stack config keys to change, the path a problem must start with, a marker of the bad value)
CASES = [
    # nova.conf injection through every string that lands in it (issue 19's first finding)
    ("keystoneUrl-injection", {"services": services(keystoneUrl=INJECTED)}, "services.keystoneUrl", "evil@"),
    ("novncproxy-cr", {"services": services(novncproxyBaseUrl="http://10.0.0.6:6080/\rx=1")}, "services.novncproxyBaseUrl", "x=1"),
    ("neutronUrl-tab", {"services": services(neutronUrl="http://10.0.0.4:9696\t/")}, "services.neutronUrl", "9696\t"),
    ("url-with-password", {"services": services(keystoneUrl="http://admin:pw-in-url@10.0.0.4:5000")}, "services.keystoneUrl", "pw-in-url"),
    ("url-bad-port", {"services": services(keystoneUrl="http://admin:pw-in-url@10.0.0.4:bad")}, "services.keystoneUrl", "pw-in-url"),
    ("glance-lf", {"services": services(glanceApiServers=["10.0.0.5:9292\nx"])}, "services.glanceApiServers[0]", "9292\n"),
    ("region-section", {"services": services(region="RegionOne\n[DEFAULT]")}, "services.region", "[DEFAULT]"),
    ("serviceProject-nul", {"services": services(serviceProject="service\0x")}, "services.serviceProject", "\0x"),
    ("novaUser-space", {"services": services(novaUser=" nova")}, "services.novaUser", " nova"),
    ("neutronUser-escape", {"services": services(neutronUser="neutron\x1b[2J")}, "services.neutronUser", "\x1b[2J"),
    ("rabbitUser-cr", {"services": services(rabbitUser="openstack\r")}, "services.rabbitUser", "openstack\r"),
    ("rabbitPort-bool", {"services": services(rabbitPort=True)}, "services.rabbitPort", None),
    ("ovnSouthbound-lf", {"network": {"backend": "ovn"}, "services": services(ovnSouthbound="tcp:10.0.0.6:6642\nx")},
     "services.ovnSouthbound", "6642\n"),
    ("ovnSouthbound-not-ovsdb", {"network": {"backend": "ovn"}, "services": services(ovnSouthbound="http://10.0.0.6:6642")},
     "services.ovnSouthbound", "http://10.0.0.6"),
    ("ovnSouthbound-without-ovn", {"services": services(ovnSouthbound="tcp:10.0.0.6:6642")}, "services.ovnSouthbound", None),
    ("geneve-with-linuxbridge", {"network": {"tunnelOverlay": "geneve"}}, "network.tunnelOverlay", None),
    ("vxlan-with-ovn", {"network": {"backend": "ovn", "tunnelOverlay": "vxlan"}}, "network.tunnelOverlay", None),
    ("datapath-with-linuxbridge", {"network": {"datapathType": "netdev"}}, "network.datapathType", None),
    ("bridge-lf", {"network": {"bridge": "br100\nauto eth0"}}, "network.bridge", "auto eth0"),
    # passwords: a line break or control character would end up inside nova.conf
    ("rabbitPassword-cr", {"rabbitPassword": "pw-secret\rline"}, "rabbitPassword", "pw-secret"),
    ("novaPassword-tab", {"novaServicePassword": "pw-secret\tx"}, "novaServicePassword", "pw-secret"),
    ("neutronPassword-empty", {"neutronServicePassword": ""}, "neutronServicePassword", None),
    # host keys: a pin that pins nothing, or not a key at all
    ("hostKey-empty", {"computeHosts": [host(hostKey="")]}, "computeHosts[0].hostKey", None),
    ("hostKey-blank", {"computeHosts": [host(hostKey="   ")]}, "computeHosts[0].hostKey", None),
    ("hostKey-fingerprint", {"computeHosts": [host(hostKey="SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s")]},
     "computeHosts[0].hostKey", "uNiVzt"),
    ("hostKey-keyscan-line", {"computeHosts": [host(hostKey="10.0.0.20 " + HOST_KEY)]}, "computeHosts[0].hostKey", None),
    ("hostKey-type-mismatch", {"computeHosts": [host(hostKey=f"ssh-ed25519 {RSA_BLOB}")]}, "computeHosts[0].hostKey", None),
    ("hostKey-unknown-type", {"computeHosts": [host(hostKey=f"ssh-dsa {RSA_BLOB}")]}, "computeHosts[0].hostKey", None),
    ("controller-hostKey", {"controller": {"name": "api-node", "address": "10.0.0.6", "hostKey": "garbage"}},
     "controller.hostKey", None),
    # what a user later pastes into a shell, or nova would refuse
    ("keypair-name-shell", {"keypair": {"name": "k; rm -rf ~"}}, "keypair.name", "rm -rf"),
    ("keypair-publicKey-garbage", {"keypair": {"name": "k", "publicKey": "not a key"}}, "keypair.publicKey", None),
    ("sshUser-shell", {"servers": [server(sshUser="root; rm -rf /")]}, "servers[0].sshUser", "rm -rf"),
    ("ssh-user-lf", {"ssh": {"user": "root\nx"}}, "ssh.user", None),
    ("ssh-port-bool", {"ssh": {"user": "root", "port": True}}, "ssh.port", None),
    ("empty-security-group", {"servers": [server(securityGroups=[""])]}, "servers[0].securityGroups[0]", None),
    ("image-lf", {"servers": [server(image="cirros\nx")]}, "servers[0].image", None),
    ("bridgeInterface-option", {"computeHosts": [host(bridgeInterface="-eth2")]}, "computeHosts[0].bridgeInterface", None),
    ("bridgeInterface-space", {"computeHosts": [host(bridgeInterface="eth 2")]}, "computeHosts[0].bridgeInterface", None),
    ("host-names-equal-ignoring-case", {"computeHosts": [host(), host(name="COMPUTE-1", address="10.0.0.21")]},
     "computeHosts: host name", None),
    ("ipv6-spellings", {"computeHosts": [host(address="fd00::20"), host(name="c2", address="fd00:0:0::20")]},
     "computeHosts: address", None),
    ("ip-scope-id", {"computeHosts": [host(address="fe80::1%eth0\nx")]}, "computeHosts[0].address", None),
    ("addressFrom-output-lf", {"computeHosts": [{**host(address=None), "addressFrom": {"stack": "a/b/c", "output": "ip\nx"}}]},
     "computeHosts[0].addressFrom.output", None),
    ("override-tab", {"configOverrides": {"nova.conf": {"DEFAULT": {"debug": "true\tx"}}}},
     'configOverrides["nova.conf"].DEFAULT.debug', None),
    ("extraSpec-lf", {"flavors": [{"name": "x1.tiny", "ramMb": 256, "diskGb": 2, "vcpus": 1, "extraSpecs": {"k": "v\nx"}}]},
     "flavors[0].extraSpecs.k", None),
    # malformed nova migration keys: config errors, never a crash
    ("migration-key-blob-short", {"novaMigrationSshKey": openssh_private_key(b"ab")}, "novaMigrationSshKey", None),
    ("migration-key-blob-type", {"novaMigrationSshKey": openssh_private_key(base64.b64decode(RSA_BLOB)[:-3])},
     "novaMigrationSshKey", None),
    ("migration-key-not-base64", {"novaMigrationSshKey": fake_pem("OPENSSH", "%%%")}, "novaMigrationSshKey", None),
]


def hostile(change: dict) -> dict:
    cfg = dev_config()
    for key, value in change.items():
        cfg[f"novalab:{key}"] = {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value
        if key == "computeHosts":
            cfg[f"novalab:{key}"] = [{k: v for k, v in h.items() if v is not None} for h in value]
    return cfg


def assert_nothing_shown(problems: list[str], marker) -> None:
    text = "\n".join(problems)
    for secret in SECRETS.values():
        assert secret not in text
    if marker is not None:
        assert marker not in text, "the bad value is shown although its key is secret"


@pytest.mark.parametrize("change,where,marker", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_config_is_refused_naming_the_key(change, where, marker):
    problems = config_problems(hostile(change))
    assert any(p.startswith(where) for p in problems), problems
    for secret in SECRETS.values():
        assert secret not in "\n".join(problems)


@pytest.mark.parametrize("change,where,marker", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_config_set_as_secrets_shows_no_value(change, where, marker):
    """The same configs, every key of them set with `pulumi config set --secret [--path]`."""
    problems = config_problems(hostile(change), secret_keys=[f"novalab:{key}" for key in change])
    assert any(p.startswith(where) for p in problems), problems
    assert_nothing_shown(problems, marker)


@pytest.mark.parametrize("change,where", [(c[1], c[2]) for c in CASES[::4]], ids=[c[0] for c in CASES[::4]])
def test_hostile_config_registers_nothing(change, where):
    mocks = Recorder()
    with pytest.raises(pulumi.RunError, match="invalid stack config") as exc:
        deploy(hostile(change), mocks=mocks)
    assert where in str(exc.value)
    assert mocks.resources == []


def test_host_key_messages_say_how_to_get_the_key():
    (problem,) = [p for p in config_problems(hostile(CASES[23][1])) if p.startswith("computeHosts[0].hostKey")]
    assert "ssh-keyscan -t ed25519" in problem


def test_keyscan_output_and_a_comment_are_a_valid_pin():
    from components.config import parse_stack_config
    from support.mocks import to_raw

    cfg = parse_stack_config(to_raw(dev_config(computeHosts=[host(hostKey=HOST_KEY + " root@compute-1\n")])))
    assert cfg.compute_hosts[0].host_key == HOST_KEY + " root@compute-1"
