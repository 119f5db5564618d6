"""Stack config of the Open vSwitch backends (network.backend ovn | openvswitch): the keys each one
needs, the keys that belong to another backend, the tunnel addresses, and the configOverrides each
backend takes. Pure: parse_stack_config only."""

from __future__ import annotations

import pytest

from components.config import parse_stack_config
from support.mocks import config_problems, dev_config, to_raw

METADATA_SECRET = "meta-s3cret-value"
SECRET_KEY = "novalab:metadataProxySharedSecret"


def host(name="compute-1", address="10.0.0.20", **kw) -> dict:
    return {"name": name, "address": address, "bridgeInterface": "eth2", "virtType": "qemu", **kw}


def ovn(**kw) -> dict:
    """The dev stack on OVN, with its metadata secret."""
    kw.setdefault("network", {"backend": "ovn"})
    kw.setdefault("metadataProxySharedSecret", METADATA_SECRET)
    return dev_config(**kw)


def parse(config, secret_keys=(SECRET_KEY,)):
    return parse_stack_config(to_raw(config), secret_keys=secret_keys)


# --- the metadata agent's secret (ovn) -----------------------------------------------------------


def test_ovn_needs_the_metadata_secret_and_says_how_to_set_it():
    problems = config_problems(ovn(metadataProxySharedSecret=None))
    assert problems == [
        "metadataProxySharedSecret: network.backend ovn runs the metadata agent on every compute host, which signs "
        "with nova's metadata secret: `pulumi config set --secret novalab:metadataProxySharedSecret` (the "
        "controller's nova.conf [neutron] metadata_proxy_shared_secret)"
    ]
    assert parse(ovn()).metadata_proxy_shared_secret.get_secret_value() == METADATA_SECRET


@pytest.mark.parametrize("backend", ["linuxbridge", "openvswitch"])
def test_the_other_backends_need_no_metadata_secret(backend):
    cfg = parse(dev_config(network={"backend": backend}))
    assert cfg.metadata_proxy_shared_secret is None


@pytest.mark.parametrize("bad", [f"{METADATA_SECRET}\nline2", f"{METADATA_SECRET}\t", ""])
def test_a_bad_metadata_secret_is_refused_without_its_value(bad):
    for secret_keys in ((SECRET_KEY,), ()):  # set with --secret or not: the key itself is secret
        problems = config_problems(ovn(metadataProxySharedSecret=bad), secret_keys=secret_keys)
        assert problems[0].startswith("metadataProxySharedSecret: ")
        assert METADATA_SECRET not in "\n".join(problems)


# --- services.ovnSouthbound and services.novaMetadataHost ----------------------------------------


def test_ovn_services_default_to_the_controller():
    services = parse(ovn()).services
    assert (services.ovn_southbound, services.nova_metadata_host) == ("tcp:10.0.0.6:6642", "10.0.0.6")
    cfg = ovn(controller={"name": "api-node", "address": "fd00::6"}, services=None)
    services = parse(cfg).services
    assert (services.ovn_southbound, services.nova_metadata_host) == ("tcp:[fd00::6]:6642", "fd00::6")


def test_given_ovn_services_win():
    services = {"rabbitHost": "10.0.0.3", "keystoneUrl": "http://10.0.0.4:5000",
                "ovnSouthbound": "ssl:10.0.0.7:6642,ssl:10.0.0.8:6642", "novaMetadataHost": "nova-api.example.org"}
    parsed = parse(ovn(services=services)).services
    assert parsed.ovn_southbound == "ssl:10.0.0.7:6642,ssl:10.0.0.8:6642"
    assert parsed.nova_metadata_host == "nova-api.example.org"


@pytest.mark.parametrize("backend", ["linuxbridge", "openvswitch"])
def test_ovn_services_are_refused_with_another_backend_and_not_defaulted(backend):
    services = {"rabbitHost": "10.0.0.3", "keystoneUrl": "http://10.0.0.4:5000",
                "ovnSouthbound": "tcp:10.0.0.6:6642", "novaMetadataHost": "10.0.0.6"}
    problems = config_problems(dev_config(network={"backend": backend}, services=services))
    assert problems == [
        f"services.ovnSouthbound: is only used with network.backend ovn (the stack's backend is {backend}); remove it",
        f"services.novaMetadataHost: is only used with network.backend ovn (the stack's backend is {backend}); remove it",
    ]
    parsed = parse(dev_config(network={"backend": backend})).services
    assert parsed.ovn_southbound is None and parsed.nova_metadata_host is None


# --- computeHosts[].tunnelAddress --------------------------------------------------------------


@pytest.mark.parametrize("backend", ["ovn", "openvswitch"])
def test_a_tunnel_address_is_an_address_with_its_prefix_normally_spelled(backend):
    hosts = [host(tunnelAddress="10.77.2.21/24"), host("compute-2", "10.0.0.21", tunnelAddress="fd00:77:0:0::0022/64"),
             host("compute-3", "10.0.0.22", tunnelAddress="10.77.2.23/255.255.255.0"), host("compute-4", "10.0.0.23"),
             host("compute-5", "10.0.0.24", tunnelAddress="10.77.9.0/31"), host("compute-6", "10.0.0.25",
                                                                              tunnelAddress="10.77.9.3/32")]
    cfg = parse(ovn(network={"backend": backend}, computeHosts=hosts))
    assert [h.tunnel_address for h in cfg.compute_hosts] == [
        "10.77.2.21/24", "fd00:77::22/64", "10.77.2.23/24", None, "10.77.9.0/31", "10.77.9.3/32"]


@pytest.mark.parametrize("value, problem", [
    ("10.77.2.21", "'10.77.2.21' has no prefix; expected an address with its network's, e.g. 10.0.1.20/24"),
    ("10.77.2.0/24", "'10.77.2.0/24' is its network's own address; expected a host's address in it"),
    ("fd00:77::/64", "'fd00:77::/64' is its network's own address; expected a host's address in it"),
    ("10.77.2.255/24", "'10.77.2.255/24' is its network's broadcast address; expected a host's address in it"),
    ("10.77.2.21/33", "'10.77.2.21/33' is not an address with a prefix; expected e.g. 10.0.1.20/24"),
    ("eth2/24", "'eth2/24' is not an address with a prefix; expected e.g. 10.0.1.20/24"),
])
def test_a_tunnel_address_without_a_prefix_or_of_a_network_is_refused(value, problem):
    problems = config_problems(ovn(computeHosts=[host(tunnelAddress=value)]))
    assert problems == [f"computeHosts[0].tunnelAddress: {problem}"]


def test_a_tunnel_address_is_refused_with_linuxbridge():
    problems = config_problems(dev_config(computeHosts=[host(tunnelAddress="10.77.2.21/24"), host("compute-2", "10.0.0.21")]))
    assert problems == [
        "computeHosts[0].tunnelAddress: is for the Open vSwitch backends (ovn, openvswitch); the Linux bridge agent "
        "tunnels from the host's address: remove it"
    ]


def test_tunnel_addresses_are_unique_whatever_their_prefix():
    hosts = [host(tunnelAddress="10.77.2.21/24"), host("compute-2", "10.0.0.21", tunnelAddress="10.77.2.21/16"),
             host("compute-3", "10.0.0.22", tunnelAddress="10.77.2.23/24")]
    problems = config_problems(ovn(computeHosts=hosts))
    assert problems == ["computeHosts: tunnel address '10.77.2.21/24' is used by entries [0, 1]; each must be unique"]


# --- configOverrides: nova's files and the stack's backend's -------------------------------------

FILES = {
    "linuxbridge": "nova.conf, nova-compute.conf, neutron.conf, linuxbridge_agent.ini",
    "ovn": "nova.conf, nova-compute.conf, neutron.conf, neutron_ovn_metadata_agent.ini",
    "openvswitch": "nova.conf, nova-compute.conf, neutron.conf, openvswitch_agent.ini",
}


@pytest.mark.parametrize("backend, other", [
    ("ovn", "linuxbridge_agent.ini"), ("ovn", "openvswitch_agent.ini"),
    ("openvswitch", "linuxbridge_agent.ini"), ("openvswitch", "neutron_ovn_metadata_agent.ini"),
    ("linuxbridge", "openvswitch_agent.ini"), ("linuxbridge", "neutron_ovn_metadata_agent.ini"),
])
def test_an_override_of_another_backends_file_is_refused_naming_the_files_allowed(backend, other):
    # It would change nothing on the host: that backend's agent does not run there.
    overrides = {other: {"DEFAULT": {"debug": True}}}
    cfg = ovn(network={"backend": backend}, configOverrides=overrides,
              computeHosts=[host(configOverrides=overrides)])
    assert config_problems(cfg) == [
        f'configOverrides["{other}"]: unknown file; expected one of {FILES[backend]}',
        f'computeHosts[0].configOverrides["{other}"]: unknown file; expected one of {FILES[backend]}',
    ]


@pytest.mark.parametrize("backend", ["ovn", "openvswitch"])
def test_the_backends_own_files_take_overrides(backend):
    agent_file = FILES[backend].rsplit(", ", 1)[1]
    cfg = parse(ovn(network={"backend": backend}, configOverrides={agent_file: {"DEFAULT": {"debug": True}}}))
    assert cfg.config_overrides == {agent_file: {"DEFAULT": {"debug": True}}}


@pytest.mark.parametrize("section, key", [("DEFAULT", "state_path"), ("default", "STATE_PATH")])
def test_state_path_is_not_overridable(section, key):
    # nova keeps the compute node's id (compute_id, 2023.1+) under state_path and will not start with it moved.
    overrides = {"nova.conf": {section: {key: "/srv/nova"}}}
    problems = config_problems(dev_config(configOverrides=overrides, computeHosts=[host(configOverrides=overrides)]))
    why = ("refused, nova-compute keeps the compute node's id (compute_id) there and would not start with it moved; "
           "it stays /var/lib/nova")
    assert problems == [f'configOverrides["nova.conf"].{section}.{key}: {why}',
                        f'computeHosts[0].configOverrides["nova.conf"].{section}.{key}: {why}']


@pytest.mark.parametrize("backend, overlay", [("openvswitch", "vxlan"), ("ovn", "geneve")])
def test_netdev_with_an_overlay_needs_each_hosts_tunnel_address(backend, overlay):
    # The userspace datapath tunnels only from an address on one of OVS's bridges: without one the
    # bridge step would fail on the host, after the packages are installed.
    network = {"backend": backend, "datapathType": "netdev"}
    hosts = [host(tunnelAddress="10.77.2.21/24"), host("compute-2", "10.0.0.21")]
    assert config_problems(ovn(network=network, computeHosts=hosts)) == [
        f"computeHosts[1].tunnelAddress: network.datapathType netdev tunnels ({overlay}) only from an address on one "
        "of Open vSwitch's bridges: set an address with its prefix on the VM network (e.g. 10.0.1.20/24), which "
        "novalab puts on network.bridge br100"
    ]
    parse(ovn(network={**network, "tunnelOverlay": "none"} if backend == "openvswitch" else {"backend": backend},
              computeHosts=hosts))  # no overlay, or the datapath left to the host: the host step decides


def test_a_management_address_is_no_tunnel_address():
    hosts = [host(tunnelAddress="10.0.0.20/24"), host("compute-2", "10.0.0.21", tunnelAddress="10.0.0.6/24"),
             host("compute-3", "10.0.0.22", tunnelAddress="10.0.0.20/16")]
    problems = config_problems(ovn(computeHosts=hosts))
    assert "computeHosts[0].tunnelAddress: '10.0.0.20/24' is the management address of computeHosts[0]; the tunnel " \
           "endpoint goes on network.bridge and needs an address of its own (or leave tunnelAddress unset: the kernel " \
           "datapath tunnels from the management address)" in problems
    assert any(p.startswith("computeHosts[1].tunnelAddress: '10.0.0.6/24' is the management address of the controller;")
               for p in problems)
    assert any(p.startswith("computeHosts[2].tunnelAddress: '10.0.0.20/16' is the management address of computeHosts[0];")
               for p in problems)


@pytest.mark.parametrize("backend, file, section, key, instead", [
    ("ovn", "neutron_ovn_metadata_agent.ini", "ovn", "ovn_sb_connection", "services.ovnSouthbound"),
    ("ovn", "neutron_ovn_metadata_agent.ini", "DEFAULT", "metadata_proxy_shared_secret", "metadataProxySharedSecret"),
    ("openvswitch", "openvswitch_agent.ini", "ovs", "datapath_type", "network.datapathType"),
    ("openvswitch", "openvswitch_agent.ini", "ovs", "local_ip", "computeHosts[].tunnelAddress"),
])
def test_an_override_of_what_the_bridge_step_also_sets_is_refused_naming_the_key(backend, file, section, key, instead):
    # The agent would disagree with what the bridge step made (ovn-controller's southbound DB, the
    # bridge's datapath, the address on the bridge), or a secret would sit in plain config.
    problems = config_problems(ovn(network={"backend": backend}, configOverrides={file: {section: {key: "x"}}}))
    assert len(problems) == 1 and problems[0].startswith(f'configOverrides["{file}"].{section}.{key}: refused, ')
    assert instead in problems[0]
