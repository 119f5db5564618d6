"""reload.py: which overrides a SIGHUP applies, and which need a restart (pure)."""

from __future__ import annotations

from components.reload import RELOADABLE, reload_hash, split_reloadable
from components.steps import NOVA_COMPUTE


def test_nova_computes_mutable_options_are_split_from_the_rest():
    overrides = {
        "nova.conf": {"DEFAULT": {"debug": "true", "cpu_allocation_ratio": "8.0"},
                      "libvirt": {"live_migration_timeout_action": "force_complete"}},
        "nova-compute.conf": {"libvirt": {"live_migration_completion_timeout": "60"}},
        "openvswitch_agent.ini": {"DEFAULT": {"debug": "true"}},  # an agent's: restarts it, as before
    }
    rest, reloads = split_reloadable(overrides)
    assert rest == {"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": "8.0"}},
                    "openvswitch_agent.ini": {"DEFAULT": {"debug": "true"}}}
    assert reloads == {NOVA_COMPUTE: {
        "nova.conf": {"DEFAULT": {"debug": "true"}, "libvirt": {"live_migration_timeout_action": "force_complete"}},
        "nova-compute.conf": {"libvirt": {"live_migration_completion_timeout": "60"}},
    }}


def test_no_reloadable_option_leaves_the_overrides_whole():
    overrides = {"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": "8.0"}, "libvirt": {"cpu_mode": "host-model"}}}
    assert split_reloadable(overrides) == (overrides, {})
    assert split_reloadable({}) == ({}, {})


def test_the_reload_hash_changes_when_a_value_is_set_changed_or_removed_and_only_then():
    none = reload_hash({})
    on = reload_hash({"nova.conf": {"DEFAULT": {"debug": "true"}}})
    off = reload_hash({"nova.conf": {"DEFAULT": {"debug": "false"}}})
    assert len({none, on, off}) == 3
    # The order options were given in is no change.
    a = {"nova.conf": {"DEFAULT": {"debug": "true"}, "libvirt": {"live_migration_completion_timeout": "60"}}}
    b = {"nova.conf": {"libvirt": {"live_migration_completion_timeout": "60"}, "DEFAULT": {"debug": "true"}}}
    assert reload_hash(a) == reload_hash(b)


def test_only_nova_compute_reloads_and_only_from_its_own_files():
    files, options = RELOADABLE[NOVA_COMPUTE]
    assert set(RELOADABLE) == {NOVA_COMPUTE}
    assert files == ("/etc/nova/nova.conf", "/etc/nova/nova-compute.conf")
    assert ("DEFAULT", "debug") in options
    # Mutable, but its removal keeps the old logging until a restart: a change of it restarts.
    assert ("DEFAULT", "log_config_append") not in options
    assert split_reloadable({"nova.conf": {"DEFAULT": {"log_config_append": "/etc/nova/logging.conf"}}})[1] == {}
    # What novalab renders itself is never reloadable: its change comes with an upgrade, and restarts.
    assert not {("DEFAULT", "host"), ("DEFAULT", "transport_url"), ("libvirt", "virt_type")} & options
