"""The Open vSwitch backends' files, rendered (pure) and parsed back as the agents read them:
the OVN metadata agent's ini, openvswitch_agent.ini (the datapath the bridge step runs, the tunnel
endpoint), and services.rabbitQueues in every service's [oslo_messaging_rabbit]."""

from __future__ import annotations

import configparser

import pytest
from oslo_config import cfg as oslo_cfg

from components.config import parse_stack_config
from components.host_files import HostSpec, Passwords, render_host_files
from support.mocks import dev_config, to_raw

METADATA_SECRET = " 'meta$s3cret' #x "  # oslo.config must read it exactly: spaces, quotes, $, #
NOVA_CONF, NEUTRON_CONF = "/etc/nova/nova.conf", "/etc/neutron/neutron.conf"
METADATA_INI = "/etc/neutron/neutron_ovn_metadata_agent.ini"
OVS_AGENT_INI = "/etc/neutron/plugins/ml2/openvswitch_agent.ini"


def ini(text: str) -> configparser.ConfigParser:
    # [DEFAULT] as a section of its own, as oslo.config reads it (not configparser's defaults).
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    parser.read_string(text)
    return parser


def services(**kw) -> dict:
    """The dev stack's services, with KW."""
    return {**dev_config()["novalab:services"], **kw}


def stack(network: dict, **kw):
    return parse_stack_config(to_raw(dev_config(network=network, metadataProxySharedSecret="x", **kw)))


def files(network: dict, tunnel=None, facts=None, metadata=METADATA_SECRET, address="10.0.0.20", **kw) -> dict[str, str]:
    cfg = stack(network, **kw)
    overrides, _ = cfg.host_overrides(cfg.compute_hosts[0])
    rendered = render_host_files(HostSpec("compute-1", address, "qemu", tunnel), cfg.services, cfg.network,
                                 Passwords("r", "n", metadata=metadata), overrides, facts)
    return {f.path: f.content for f in rendered.all}


# --- OVN: the metadata agent ---------------------------------------------------------------------


def test_the_ovn_metadata_agent_reads_the_southbound_db_nova_and_the_secret(tmp_path):
    out = files({"backend": "ovn"})
    assert set(out) == {NOVA_CONF, "/etc/nova/nova-compute.conf", NEUTRON_CONF, METADATA_INI}
    agent = ini(out[METADATA_INI])
    assert agent["DEFAULT"]["nova_metadata_host"] == "10.0.0.6"  # the controller, by default
    assert agent["ovn"]["ovn_sb_connection"] == "tcp:10.0.0.6:6642"
    assert agent["ovs"]["ovsdb_connection"] == "tcp:127.0.0.1:6640"  # the manager configure_ovs.sh adds
    # As the agent reads it (oslo.config, with its $-substitution): exactly the secret.
    path = tmp_path / "metadata.ini"
    path.write_text(out[METADATA_INI])
    conf = oslo_cfg.ConfigOpts()
    conf.register_opt(oslo_cfg.StrOpt("metadata_proxy_shared_secret"))
    conf(args=[], project="novalab-test", default_config_files=[str(path)])
    assert conf.metadata_proxy_shared_secret == METADATA_SECRET


def test_the_metadata_agent_follows_the_given_services():
    given = services(ovnSouthbound="ssl:10.0.0.7:6642,ssl:10.0.0.8:6642", novaMetadataHost="nova-api.example.org")
    agent = ini(files({"backend": "ovn"}, services=given)[METADATA_INI])
    assert agent["ovn"]["ovn_sb_connection"] == "ssl:10.0.0.7:6642,ssl:10.0.0.8:6642"
    assert agent["DEFAULT"]["nova_metadata_host"] == "nova-api.example.org"


def test_ovn_without_the_metadata_secret_renders_nothing():
    with pytest.raises(ValueError, match="network.backend ovn needs metadataProxySharedSecret"):
        files({"backend": "ovn"}, metadata=None)


def test_the_metadata_agent_and_neutron_conf_take_overrides():
    overrides = {"neutron_ovn_metadata_agent.ini": {"DEFAULT": {"debug": True, "nova_metadata_port": 8776}}}
    agent = ini(files({"backend": "ovn"}, configOverrides=overrides)[METADATA_INI])
    assert (agent["DEFAULT"]["debug"], agent["DEFAULT"]["nova_metadata_port"]) == ("true", "8776")


# --- openvswitch: the agent's ini ----------------------------------------------------------------


@pytest.mark.parametrize("fact, stack_datapath, expected", [
    ("netdev", None, "netdev"),  # what the bridge step printed
    ("netdev", "system", "netdev"),  # ...over the stack's (the host runs what it printed)
    (None, "netdev", "netdev"),  # before the bridge step ran: what the stack asks for
    (None, None, "system"),
])
def test_the_ovs_agent_runs_the_datapath_the_bridge_step_runs(fact, stack_datapath, expected):
    network = {"backend": "openvswitch", **({"datapathType": stack_datapath} if stack_datapath else {})}
    facts = {"datapath_type": fact} if fact else {}
    tunnel = "10.77.2.21/24" if stack_datapath == "netdev" else None
    agent = ini(files(network, tunnel=tunnel, facts=facts, computeHosts=[
        {"name": "compute-1", "address": "10.0.0.20", "bridgeInterface": "eth2", "virtType": "qemu",
         **({"tunnelAddress": tunnel} if tunnel else {})}])[OVS_AGENT_INI])
    assert agent["ovs"]["datapath_type"] == expected


def test_the_ovs_agent_tunnels_from_the_tunnel_address_with_the_openvswitch_firewall():
    out = files({"backend": "openvswitch", "physnet": "provider", "bridge": "br-vm"}, tunnel="10.77.2.21/24")
    assert set(out) == {NOVA_CONF, "/etc/nova/nova-compute.conf", NEUTRON_CONF, OVS_AGENT_INI}
    agent = ini(out[OVS_AGENT_INI])
    assert agent["ovs"]["bridge_mappings"] == "provider:br-vm"
    assert agent["ovs"]["local_ip"] == "10.77.2.21"  # without its prefix
    assert agent["ovs"]["ovsdb_connection"] == "tcp:127.0.0.1:6640"
    assert (agent["agent"]["tunnel_types"], agent["agent"]["l2_population"]) == ("vxlan", "true")
    # The hybrid iptables driver needs kernel bridges (qbr) the userspace datapath cannot use.
    sg = agent["securitygroup"]
    assert (sg["enable_security_group"], sg["firewall_driver"]) == ("true", "openvswitch")


def test_without_a_tunnel_address_the_ovs_agent_tunnels_from_the_management_address():
    agent = ini(files({"backend": "openvswitch"}, address="10.0.5.12")[OVS_AGENT_INI])
    assert agent["ovs"]["local_ip"] == "10.0.5.12"


def test_without_an_overlay_the_ovs_agent_has_no_tunnels():
    agent = ini(files({"backend": "openvswitch", "tunnelOverlay": "none"}, tunnel="10.77.2.21/24")[OVS_AGENT_INI])
    assert "local_ip" not in agent["ovs"]
    assert "tunnel_types" not in agent["agent"] and "l2_population" not in agent["agent"]
    assert agent["ovs"]["bridge_mappings"] == "physnet1:br100"  # provider networks only


# --- services.rabbitQueues -----------------------------------------------------------------------

QUORUM = {"rabbit_quorum_queue": "true", "rabbit_transient_quorum_queue": "true", "use_queue_manager": "true"}


@pytest.mark.parametrize("backend", ["linuxbridge", "ovn", "openvswitch"])
def test_quorum_queues_are_declared_by_nova_and_the_agent_alike(backend, tmp_path):
    out = files({"backend": backend}, services=services(rabbitQueues="quorum"))
    for path in (NOVA_CONF, NEUTRON_CONF):
        assert dict(ini(out[path])["oslo_messaging_rabbit"]) == QUORUM, path
        # As oslo.messaging reads them: booleans, true.
        (tmp_path / "x.conf").write_text(out[path])
        conf = oslo_cfg.ConfigOpts()
        conf.register_opts([oslo_cfg.BoolOpt(k) for k in QUORUM], group="oslo_messaging_rabbit")
        conf(args=[], project="novalab-test", default_config_files=[str(tmp_path / "x.conf")])
        assert all(getattr(conf.oslo_messaging_rabbit, k) is True for k in QUORUM), path
    # Files no service of the vhost reads stay as they are.
    assert "oslo_messaging_rabbit" not in out["/etc/nova/nova-compute.conf"]


@pytest.mark.parametrize("backend", ["linuxbridge", "ovn", "openvswitch"])
def test_classic_queues_render_no_section_as_before_the_key_existed(backend):
    given = files({"backend": backend}, services=services(rabbitQueues="classic"))
    default = files({"backend": backend})  # the dev stack: no rabbitQueues
    for path, text in default.items():
        assert "[oslo_messaging_rabbit]" not in text, path
    assert given == default
