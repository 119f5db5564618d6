"""Masking the rendered files and the drift rules (components/masking.py, components/drift.py): pure,
no Pulumi, no host."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.drift import (
    AS_WRITTEN,
    CHANGED,
    FILES_GROUP,
    MISSING,
    NOT_A_FILE,
    REVISIONS,
    RUNNING,
    STOPPED,
    changed_keys,
    drift_rows,
    file_entry,
    observed,
    parse_read_output,
    read_arguments,
    repair_arguments,
    service_key,
    with_revisions,
)
from components.masking import MASK, WHOLE_FILE, FileRecord, Sentinels, mask_files, sha256_text
from components.render import ManagedFile, render_ini, transport_url

CONF = "/etc/nova/nova.conf"


def conf(rabbit: str, nova: str, debug: str = "false") -> ManagedFile:
    text = render_ini(
        [
            ("DEFAULT", [("debug", debug), ("transport_url", transport_url("openstack", rabbit, "10.77.0.10"))]),
            ("keystone_authtoken", [("username", "nova"), ("password", nova)]),
        ]
    )
    return ManagedFile(CONF, text, "root", "nova", "0640")


def records(rabbit: str, nova: str, debug: str = "false") -> list[FileRecord]:
    s = Sentinels()
    return mask_files([("nova-compute", conf(rabbit, nova, debug))], [("nova-compute", conf(s.new(), s.new(), debug))], [rabbit, nova])


# --- masking -----------------------------------------------------------------------------------


def test_masked_text_shows_every_line_with_secrets_as_secret_and_keys_them_by_where_they_sit():
    (record,) = records("rabbit-pw", "nova$pw")
    assert "transport_url = rabbit://openstack:[secret]@10.77.0.10:5672/" in record.text
    assert "password = [secret]" in record.text and "debug = false" in record.text
    assert record.secrets == {
        "[DEFAULT] transport_url": "rabbit://openstack:rabbit-pw@10.77.0.10:5672/",
        "[keystone_authtoken] password": "nova$$pw",  # as oslo.config reads it from the file
    }
    assert (record.path, record.owner, record.group, record.mode, record.reader) == (CONF, "root", "nova", "0640", "nova-compute")
    assert record.sha256 == hashlib.sha256(conf("rabbit-pw", "nova$pw").content.encode()).hexdigest()


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40),
       st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40))
def test_the_masked_text_does_not_depend_on_the_secrets_at_all(rabbit, nova):
    # Whatever the passwords are (quoted into a URL, `$` doubled), the text a reviewer sees is the same.
    assert records(rabbit, nova)[0].text == records("x", "y")[0].text


def test_a_changed_secret_changes_only_its_own_key():
    before, after = records("rabbit-pw", "nova-pw")[0], records("rabbit-pw", "nova-pw-2")[0]
    assert before.text == after.text
    assert [k for k in before.secrets if before.secrets[k] != after.secrets[k]] == ["[keystone_authtoken] password"]


def test_renderings_that_differ_outside_a_secret_are_refused_without_showing_a_value():
    s = Sentinels()
    with pytest.raises(ValueError, match=r"/etc/nova/nova.conf line 2: the rendering differs") as e:
        mask_files([("", conf("r-pw", "n-pw", debug="true"))], [("", conf(s.new(), s.new()))], ["r-pw", "n-pw"])
    assert "r-pw" not in str(e.value) and "n-pw" not in str(e.value)


def test_a_secret_with_a_line_break_is_refused_without_showing_it():
    s = Sentinels()
    with pytest.raises(ValueError, match="holds a line break") as e:
        mask_files([("", conf("r", "top\nsecret"))], [("", conf(s.new(), s.new()))], ["r", "top\nsecret"])
    assert "top" not in str(e.value)


def test_a_file_only_the_real_rendering_has_is_masked_whole_when_it_holds_a_secret():
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    private = ManagedFile("/var/lib/nova/.ssh/id", key, "nova", "nova", "0600")
    public = ManagedFile("/var/lib/nova/.ssh/authorized_keys", "ssh-ed25519 AAAA novalab\n", "nova", "nova", "0600")
    masked_private, plain_public = mask_files([("", private), ("", public)], [], [key])
    assert (masked_private.text, masked_private.secrets) == (MASK, {WHOLE_FILE: key})
    assert (plain_public.text, plain_public.secrets) == (public.content, {})


def test_sentinel_overrides_keep_the_shape_and_replace_every_value():
    s = Sentinels()
    out = s.overrides({"nova.conf": {"DEFAULT": {"debug": "true", "x": "1"}, "libvirt": {"cpu_mode": "host-model"}}})
    values = [v for sections in out.values() for options in sections.values() for v in options.values()]
    assert list(out["nova.conf"]) == ["DEFAULT", "libvirt"] and len(set(values)) == 3
    assert all(v.startswith("nlsecret") for v in values)


# --- the read's output -------------------------------------------------------------------------


def props() -> dict:
    (record,) = records("r", "n")
    return {
        "connection": {"host": "10.0.0.20", "port": 22, "user": "root"},
        CONF: file_entry(record),
        service_key("nova-compute"): RUNNING,
        service_key("neutron-linuxbridge-agent"): RUNNING,
    }


def test_the_read_asks_for_every_file_and_service():
    assert read_arguments(props()) == [CONF, "--services", "nova-compute", "neutron-linuxbridge-agent"]


def read_output(sha: str, owner="root:nova", mode="640", nova="running", agent="running") -> str:
    return f"file {CONF} {sha} {owner} {mode}\nservice nova-compute {nova}\nservice neutron-linuxbridge-agent {agent}\n"


def test_a_host_as_written_reads_back_as_the_expected_state():
    p = props()
    assert observed(p, "compute-1", read_output(p[CONF]["sha256"])) == p


def test_what_drifted_is_in_place_of_what_was_expected():
    p = props()
    found = observed(p, "compute-1", read_output("0" * 64, owner="root:root", mode="644", agent="stopped"))
    assert (found[CONF]["onHost"], found[CONF]["owner"], found[CONF]["group"], found[CONF]["mode"]) == (CHANGED, "root", "root", "0644")
    assert found[CONF]["text"] == p[CONF]["text"] and found[CONF]["sha256"] == p[CONF]["sha256"]
    assert found[service_key("neutron-linuxbridge-agent")] == STOPPED and found[service_key("nova-compute")] == RUNNING


@pytest.mark.parametrize("word, state", [("missing", MISSING), ("other", NOT_A_FILE)])
def test_a_missing_file_or_one_that_is_no_regular_file(word, state):
    found = observed(props(), "compute-1", f"file {CONF} {word}\nservice nova-compute running\nservice neutron-linuxbridge-agent running\n")
    assert found[CONF]["onHost"] == state


@pytest.mark.parametrize("stdout, message", [
    ("garbage here\n", "reading compute-1: unexpected line"),
    ("service nova-compute running\nservice neutron-linuxbridge-agent running\n", f"said nothing about {CONF}"),
    (f"file {CONF} missing\nservice nova-compute running\n", "said nothing about service neutron-linuxbridge-agent"),
])
def test_an_answer_the_program_cannot_read_fails_naming_the_host(stdout, message):
    with pytest.raises(ValueError, match=message):
        observed(props(), "compute-1", stdout)


def test_parse_takes_the_modes_stat_prints():
    files, services = parse_read_output("h", f"file {CONF} {'a' * 64} root:nova 600\nservice x stopped\n")
    assert files[CONF].mode == "0600" and services == {"x": False}


# --- revisions and diff ------------------------------------------------------------------------


def test_the_first_check_starts_every_group_at_zero():
    assert with_revisions({}, props())[REVISIONS] == {FILES_GROUP: 0, "nova-compute": 0, "neutron-linuxbridge-agent": 0}


def test_a_drifted_file_bumps_the_config_step_and_its_reader_only():
    p = with_revisions({}, props())
    found = observed(p, "compute-1", read_output("0" * 64))
    assert with_revisions(found, props())[REVISIONS] == {FILES_GROUP: 1, "nova-compute": 1, "neutron-linuxbridge-agent": 0}


def test_a_stopped_service_bumps_only_that_service():
    p = with_revisions({}, props())
    found = observed(p, "compute-1", read_output(p[CONF]["sha256"], nova="stopped"))
    assert with_revisions(found, props())[REVISIONS] == {FILES_GROUP: 0, "nova-compute": 1, "neutron-linuxbridge-agent": 0}


def test_after_the_repair_the_revisions_stay_and_nothing_differs():
    p = with_revisions({}, props())
    repaired = with_revisions(observed(p, "compute-1", read_output("0" * 64)), props())
    again = with_revisions(repaired, props())
    assert again == repaired and changed_keys(repaired, again) == []


def test_a_changed_config_is_a_change_but_no_repair():
    p = with_revisions({}, props())
    (changed,) = records("r", "n", debug="true")
    news = dict(props(), **{CONF: file_entry(changed)})
    checked = with_revisions(p, news)
    assert checked[REVISIONS] == p[REVISIONS] and changed_keys(p, checked) == [CONF]


def test_repair_arguments_appear_only_after_the_first_repair():
    assert repair_arguments({FILES_GROUP: 0}, FILES_GROUP) == ()
    assert repair_arguments(None, FILES_GROUP) == ()
    assert repair_arguments({FILES_GROUP: 2}, FILES_GROUP) == ("--repair", "2")


def test_drift_rows_name_the_host_the_file_or_service_expected_and_found():
    p = props()
    found = observed(p, "compute-1", read_output("0" * 64, mode="644", agent="stopped"))
    assert drift_rows("compute-1", found, p) == [
        ("compute-1", f"{CONF} mode", "0640", "0644"),
        ("compute-1", f"{CONF} content", AS_WRITTEN, CHANGED),
        ("compute-1", "service neutron-linuxbridge-agent", RUNNING, STOPPED),
    ]
    assert drift_rows("compute-1", p, p) == []


def test_sha256_text_is_what_sha256sum_prints():
    assert sha256_text("a\n") == "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"


# --- ./novalab drift's table -------------------------------------------------------------------


def preview_json(olds: dict, news: dict, name: str = "compute-1-files") -> dict:
    """The shape `pulumi preview --refresh --json` prints (a refresh step, then the update)."""
    urn = f"urn:pulumi:lab::novalab::novalab:index:ComputeHost$pulumi-python:dynamic/novalab:HostFiles::{name}"
    return {"steps": [
        {"op": "refresh", "urn": urn, "oldState": {"inputs": news}, "newState": {"inputs": olds}},
        {"op": "update", "urn": urn, "oldState": {"inputs": olds}, "newState": {"inputs": news}},
        {"op": "same", "urn": "urn:pulumi:lab::novalab::command:remote:Command::compute-1-config"},
    ]}


def test_the_drift_table_names_host_what_expected_and_found(capsys):
    from components.drift_report import main

    p = props()
    found = observed(p, "compute-1", read_output("0" * 64, nova="stopped"))
    assert main(json.dumps(preview_json(found, p))) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["host", "what", "expected", "found"]
    assert out[1].split() == ["compute-1", CONF, "content", "as", "novalab", "wrote", "it", "changed", "on", "the", "host"]
    assert out[2].split() == ["compute-1", "service", "nova-compute", "running", "stopped"]


def test_no_drift_and_a_failed_preview_are_told_apart(capsys):
    from components.drift_report import main

    assert main(json.dumps(preview_json(props(), props()))) == 0
    assert "no drift" in capsys.readouterr().out
    assert main(json.dumps({"diagnostics": [{"severity": "error", "message": "reading 10.0.0.20:22 over SSH failed"}]})) == 2
    assert "reading 10.0.0.20:22" in capsys.readouterr().err
    assert main("not json") == 2
