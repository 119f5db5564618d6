"""Values in the files novalab renders, read back by oslo.config's own parser (what nova and the
neutron agents use): a password is read exactly as given, and no value can add a line to a file."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oslo_config import cfg

from components.compute_host import HostSpec, Passwords, render_host_files
from components.config import parse_stack_config
from components.messaging import rabbit_queue_options
from components.render import LINE_BREAKS, oslo_value, render_ini
from support.mocks import dev_config, to_raw

PASSWORDS = [
    " leading", "trailing ", "\u00a0nbsp-both\u00a0", "'quoted'", '"double"', "'", '"', "'mixed\"", "a$b", "$$",
    "${DEFAULT.host}", "#not-a-comment", ";semi", "a = b", "[section]", "ünïcode-pw", "",
    # oslo.config reads `\$` as `$$` before expanding: a backslash before a `$` (found by Hypothesis).
    "\\$", "\\$A", "a\\\\$b", "\\$$", "'\\$'",
]


def read_back(text: str, tmp_path, group: str, option: str) -> str:
    """OPTION of GROUP as oslo.config reads it from TEXT (with $-substitution, as nova gets it)."""
    path = tmp_path / "test.conf"
    path.write_text(text)
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt(option), group=group)
    conf.register_opt(cfg.StrOpt("host"))
    conf(args=[], project="novalab-test", default_config_files=[str(path)])
    return getattr(getattr(conf, group), option)


@pytest.mark.parametrize("password", PASSWORDS)
def test_oslo_config_reads_a_password_exactly_as_given(password, tmp_path):
    text = render_ini([("keystone_authtoken", [("password", password)])])
    assert read_back(text, tmp_path, "keystone_authtoken", "password") == password


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40))
def test_any_printable_value_round_trips_through_oslo_config(tmp_path_factory, value):
    tmp = tmp_path_factory.mktemp("oslo")
    assert read_back(render_ini([("s", [("v", value)])]), tmp, "s", "v") == value


def test_nova_conf_gives_nova_its_password_exactly(tmp_path):
    parsed = parse_stack_config(to_raw(dev_config()))
    files = render_host_files(HostSpec("compute-1", "10.0.0.20", "qemu"), parsed.services, parsed.network,
                              Passwords("r", " 'n$pw' "))
    (nova,) = [f for f in files.all if f.path.endswith("/nova.conf")]
    assert read_back(nova.content, tmp_path, "keystone_authtoken", "password") == " 'n$pw' "


@pytest.mark.parametrize("brk", sorted(LINE_BREAKS))
def test_the_ini_renderer_refuses_a_line_break_in_any_value(brk):
    with pytest.raises(ValueError, match="line break"):
        render_ini([("DEFAULT", [("debug", f"true{brk}transport_url = rabbit://evil@1.2.3.4/")])])
    with pytest.raises(ValueError, match="line break"):
        oslo_value(f"x{brk}")


@pytest.mark.parametrize("section,key", [("DEFAULT]\n[x", "k"), ("s", "a=b"), ("s", "a b"), ("s", "#k"), ("", "k")])
def test_the_ini_renderer_refuses_names_that_change_the_file(section, key):
    with pytest.raises(ValueError, match="is not an oslo.config"):
        render_ini([(section, [(key, "v")])])


def test_an_override_cannot_slip_a_line_into_nova_conf():
    from components.render import render_nova_compute_conf

    with pytest.raises(ValueError, match="line break"):
        render_nova_compute_conf("qemu", {"DEFAULT": {"debug": "true\r[DEFAULT]"}})


def test_rabbit_queue_options_are_what_oslo_messaging_names_them():
    # Option names of oslo.messaging 14.8+ ([oslo_messaging_rabbit]); classic renders nothing,
    # which is what stacks rendered before services.rabbitQueues existed.
    assert rabbit_queue_options("classic") == []
    assert dict(rabbit_queue_options("quorum")) == {
        "rabbit_quorum_queue": "true", "rabbit_transient_quorum_queue": "true",
    }
    with pytest.raises(ValueError, match="rabbitQueues"):
        rabbit_queue_options("mirrored")


def test_rabbit_queues_defaults_to_classic_and_refuses_others():
    from support.mocks import config_problems

    assert parse_stack_config(to_raw(dev_config())).services.rabbit_queues == "classic"
    services = dict(dev_config()["novalab:services"], rabbitQueues="mirrored")
    (problem,) = config_problems(dev_config(services=services))
    assert problem.startswith("services.rabbitQueues: Input should be 'classic' or 'quorum'")
