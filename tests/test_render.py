"""Rendered host files, parsed back with configparser and checked key by key."""

from __future__ import annotations

import base64
import configparser

import pytest

from components.host_files import Passwords, host_packages, render_host_files
from components.config import parse_stack_config
from components.network.linuxbridge import render_bridge_stanza, render_linuxbridge_agent_ini
from components.render import ManagedFile, content_hash, file_bundle, render_nova_compute_conf, transport_url
from support.mocks import dev_config, to_raw

PW = Passwords(rabbit="gridka", nova="nova-pw", neutron="neutron-pw")


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


@pytest.fixture
def cfg():
    return parse_stack_config(to_raw(dev_config()))


@pytest.fixture
def files(cfg):
    return render_host_files(cfg.compute_hosts[0], cfg.services, cfg.network, PW)


def by_path(files, path) -> ManagedFile:
    return next(f for f in files.all if f.path == path)


def test_nova_conf_is_what_todays_nova_reads(files):
    conf = ini(by_path(files, "/etc/nova/nova.conf").content)
    d = conf["DEFAULT"]
    assert d["host"] == "compute-1"
    assert d["my_ip"] == "10.0.0.20"
    assert d["log_dir"] == "/var/log/nova"
    assert d["state_path"] == "/var/lib/nova"
    assert d["transport_url"] == "rabbit://openstack:gridka@10.0.0.3:5672/"
    # None of the 2013 options survive.
    for gone in ("rabbit_host", "rabbit_password", "glance_api_servers", "sql_connection", "verbose",
                 "novnc_enabled", "use_deprecated_auth", "image_service", "logdir", "lock_path"):
        assert gone not in d
    assert conf["api"]["auth_strategy"] == "keystone"
    ka = conf["keystone_authtoken"]
    assert ka["www_authenticate_uri"] == "http://10.0.0.4:5000"
    assert ka["auth_url"] == "http://10.0.0.4:5000"
    assert (ka["auth_type"], ka["project_name"], ka["username"], ka["password"]) == ("password", "service", "nova", "nova-pw")
    assert conf["glance"]["api_servers"] == "http://10.0.0.5:9292"
    assert conf["cinder"]["catalog_info"] == "volumev3::internalURL"
    vnc = conf["vnc"]
    assert vnc["enabled"] == "true"
    assert vnc["server_listen"] == "0.0.0.0"
    assert vnc["server_proxyclient_address"] == "10.0.0.20"
    assert vnc["novncproxy_base_url"] == "http://10.0.0.6:6080/vnc_auto.html"
    pl = conf["placement"]
    assert (pl["region_name"], pl["username"], pl["password"], pl["auth_url"]) == ("RegionOne", "nova", "nova-pw", "http://10.0.0.4:5000")
    ne = conf["neutron"]
    assert (ne["username"], ne["password"], ne["region_name"]) == ("neutron", "neutron-pw", "RegionOne")
    assert conf["oslo_concurrency"]["lock_path"] == "/var/lib/nova/tmp"
    assert conf["service_user"]["send_service_user_token"] == "true"


def test_nova_talks_to_neutron_as_itself_without_a_neutron_password(cfg):
    files = render_host_files(cfg.compute_hosts[0], cfg.services, cfg.network, Passwords("r", "nova-pw"))
    ne = ini(by_path(files, "/etc/nova/nova.conf").content)["neutron"]
    assert (ne["username"], ne["password"]) == ("nova", "nova-pw")


@pytest.mark.parametrize("virt_type", ["qemu", "kvm"])
def test_nova_compute_conf_virt_type(virt_type):
    conf = ini(render_nova_compute_conf(virt_type))
    assert conf["DEFAULT"]["compute_driver"] == "libvirt.LibvirtDriver"
    assert conf["libvirt"]["virt_type"] == virt_type
    assert conf.sections() == ["libvirt"]  # DEFAULT is implicit in configparser


def test_nova_compute_conf_rejects_other_hypervisors():
    with pytest.raises(ValueError):
        render_nova_compute_conf("xen")


def test_dollar_in_a_password_survives_oslo_interpolation(cfg):
    files = render_host_files(cfg.compute_hosts[0], cfg.services, cfg.network, Passwords("r", "pa$word"))
    conf = ini(by_path(files, "/etc/nova/nova.conf").content)
    # oslo.config reads `$$` as a literal `$`; a bare `$word` would be looked up as an option.
    assert conf["keystone_authtoken"]["password"] == "pa$$word"


def test_transport_url_quotes_special_characters():
    assert transport_url("open stack", "p@ss:w/rd", "10.0.0.3") == "rabbit://open%20stack:p%40ss%3Aw%2Frd@10.0.0.3:5672/"
    assert transport_url("u", "p", "fd00::3") == "rabbit://u:p@[fd00::3]:5672/"


def test_l2_agent_files(files):
    neutron = ini(by_path(files, "/etc/neutron/neutron.conf").content)
    assert neutron["DEFAULT"]["transport_url"] == "rabbit://openstack:gridka@10.0.0.3:5672/"
    assert neutron["DEFAULT"]["host"] == "compute-1"
    # The whole file replaces Debian's, which is where rootwrap was configured.
    assert neutron["agent"]["root_helper"] == "sudo neutron-rootwrap /etc/neutron/rootwrap.conf"
    assert neutron["agent"]["root_helper_daemon"] == "sudo neutron-rootwrap-daemon /etc/neutron/rootwrap.conf"
    agent = ini(by_path(files, "/etc/neutron/plugins/ml2/linuxbridge_agent.ini").content)
    assert agent["linux_bridge"]["bridge_mappings"] == "physnet1:br100"
    assert agent["vxlan"]["enable_vxlan"] == "true"
    assert agent["vxlan"]["local_ip"] == "10.0.0.20"
    assert agent["vxlan"]["l2_population"] == "true"
    assert agent["securitygroup"]["enable_security_group"] == "true"


def test_no_vxlan_overlay():
    agent = ini(render_linuxbridge_agent_ini("physnet1", "br100", "10.0.0.20", "none"))
    assert agent["vxlan"]["enable_vxlan"] == "false"
    assert "local_ip" not in agent["vxlan"]


def test_file_ownership_and_modes(files):
    for f in files.all:
        assert f.owner == "root" and f.mode == "0640"
    assert {f.group for f in files.nova} == {"nova"}
    assert {f.group for f in files.agent} == {"neutron"}


def test_bridge_stanza_is_the_tutorials():
    text = render_bridge_stanza("br100", "eth2")
    assert "auto br100\n" in text
    assert "iface br100 inet manual\n" in text
    assert "bridge_ports eth2\n" in text
    assert "bridge_stp off\n" in text and "bridge_fd 0\n" in text
    assert "pre-up ip addr flush dev eth2\n" in text


def test_bundle_round_trip_and_hash_changes_with_content():
    a = ManagedFile("/etc/a.conf", "x = 1\n", "root", "nova", "0640")
    b = ManagedFile("/etc/b.conf", "y = $2\n")
    lines = file_bundle([a, b]).splitlines()
    path, owner, group, mode, data = lines[0].split(" ")
    assert (path, owner, group, mode) == ("/etc/a.conf", "root", "nova", "0640")
    assert base64.b64decode(data).decode() == "x = 1\n"
    assert content_hash([a]) != content_hash([ManagedFile("/etc/a.conf", "x = 2\n", "root", "nova", "0640")])
    assert content_hash([a]) == content_hash([ManagedFile("/etc/a.conf", "x = 1\n", "root", "nova", "0640")])
    with pytest.raises(ValueError):
        file_bundle([ManagedFile("/etc/with space", "")])


def test_packages_follow_virt_type():
    assert host_packages("qemu")[0] == "nova-compute-qemu"
    assert host_packages("kvm")[0] == "nova-compute-kvm"
    assert "neutron-linuxbridge-agent" in host_packages("qemu")
    assert "bridge-utils" in host_packages("qemu")
