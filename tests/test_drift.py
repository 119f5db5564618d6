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
    FILE_KEYS,
    MISSING,
    NOT_A_FILE,
    REVISION,
    REVISIONS,
    RUNNING,
    STOPPED,
    changed_keys,
    check_file,
    check_services,
    file_drift_rows,
    file_properties,
    observed_file,
    observed_services,
    parse_read_output,
    read_arguments,
    reads,
    repair_arguments,
    repair_trigger,
    service_drift_rows,
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

AGENT = "neutron-linuxbridge-agent"
CONNECTION = {"host": "10.0.0.20", "port": 22, "user": "root", "reads": reads([CONF], ["nova-compute", AGENT])}


def file_props() -> dict:
    (record,) = records("r", "n")
    return {"connection": CONNECTION, **file_properties(record)}


def services_props() -> dict:
    return {"connection": CONNECTION, "nova-compute": RUNNING, AGENT: RUNNING}


def test_file_properties_are_the_file_keys_in_order():
    assert tuple(file_properties(records("r", "n")[0])) == FILE_KEYS


def test_the_read_asks_for_every_file_and_service_of_the_host():
    assert read_arguments(CONNECTION) == [CONF, "--services", "nova-compute", AGENT]


def read_output(sha: str, owner="root:nova", mode="640", nova="running", agent="running") -> str:
    return f"file {CONF} {sha} {owner} {mode}\nservice nova-compute {nova}\nservice {AGENT} {agent}\n"


def observe(props: dict, stdout: str) -> dict:
    files, services = parse_read_output("compute-1", stdout)
    return observed_file(props, "compute-1", files) if "path" in props else observed_services(props, "compute-1", services)


def test_a_host_as_written_reads_back_as_the_expected_state():
    p, s = file_props(), services_props()
    assert observe(p, read_output(p["sha256"])) == p and observe(s, read_output(p["sha256"])) == s


def test_what_drifted_is_in_place_of_what_was_expected():
    p = file_props()
    found = observe(p, read_output("0" * 64, owner="root:root", mode="644"))
    assert (found["onHost"], found["owner"], found["group"], found["mode"]) == (CHANGED, "root", "root", "0644")
    assert found["text"] == p["text"] and found["sha256"] == p["sha256"]
    services = observe(services_props(), read_output(p["sha256"], agent="stopped"))
    assert services[AGENT] == STOPPED and services["nova-compute"] == RUNNING


@pytest.mark.parametrize("word, state", [("missing", MISSING), ("other", NOT_A_FILE)])
def test_a_missing_file_or_one_that_is_no_regular_file(word, state):
    assert observe(file_props(), f"file {CONF} {word}\n")["onHost"] == state


@pytest.mark.parametrize("props, stdout, message", [
    (file_props, "garbage here\n", "reading compute-1: unexpected line"),
    (file_props, "service nova-compute running\n", f"said nothing about {CONF}"),
    (services_props, "service nova-compute running\n", f"said nothing about service {AGENT}"),
])
def test_an_answer_the_program_cannot_read_fails_naming_the_host(props, stdout, message):
    with pytest.raises(ValueError, match=message):
        observe(props(), stdout)


def test_parse_takes_the_modes_stat_prints():
    files, services = parse_read_output("h", f"file {CONF} {'a' * 64} root:nova 600\nservice x stopped\n")
    assert files[CONF].mode == "0600" and services == {"x": False}


# --- revisions and diff ------------------------------------------------------------------------


def test_the_first_check_starts_at_zero():
    assert check_file({}, file_props())[REVISION] == 0
    assert check_services({}, services_props())[REVISIONS] == {"nova-compute": 0, AGENT: 0}


def test_a_drifted_file_bumps_its_revision():
    p = check_file({}, file_props())
    found = observe(p, read_output("0" * 64))
    assert check_file(found, file_props())[REVISION] == 1


def test_a_stopped_service_bumps_only_that_service():
    s = check_services({}, services_props())
    found = observe(s, read_output("x", nova="stopped"))
    assert check_services(found, services_props())[REVISIONS] == {"nova-compute": 1, AGENT: 0}


def test_after_the_repair_the_revisions_stay_and_nothing_differs():
    p = check_file({}, file_props())
    repaired = check_file(observe(p, read_output("0" * 64)), file_props())
    again = check_file(repaired, file_props())
    assert again == repaired and changed_keys(repaired, again) == []
    s = check_services({}, services_props())
    repaired_s = check_services(observe(s, read_output("x", agent="stopped")), services_props())
    assert check_services(repaired_s, services_props()) == repaired_s


def test_a_changed_config_is_a_change_but_no_repair():
    p = check_file({}, file_props())
    (changed,) = records("r", "n", debug="true")
    checked = check_file(p, {"connection": CONNECTION, **file_properties(changed)})
    assert checked[REVISION] == 0 and changed_keys(p, checked) == ["sha256", "text"]


def test_repairs_appear_only_after_the_first_one():
    assert repair_arguments(0) == () and repair_arguments(None) == ()
    assert repair_arguments(2) == ("--repair", "2")
    assert repair_trigger("abc", 0) == "abc" and repair_trigger("abc", 3) == "abc repair 3"


def test_drift_rows_name_the_host_the_file_or_service_expected_and_found():
    p = file_props()
    found = observe(p, read_output("0" * 64, mode="644"))
    assert file_drift_rows("compute-1", found, p) == [
        ("compute-1", f"{CONF} mode", "0640", "0644"),
        ("compute-1", f"{CONF} content", AS_WRITTEN, CHANGED),
    ]
    s = services_props()
    assert service_drift_rows("compute-1", observe(s, read_output("x", agent="stopped")), s) == [
        ("compute-1", f"service {AGENT}", RUNNING, STOPPED)]
    assert file_drift_rows("compute-1", p, p) == [] and service_drift_rows("compute-1", s, s) == []


def test_sha256_text_is_what_sha256sum_prints():
    assert sha256_text("a\n") == "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"


# --- ./novalab drift's table -------------------------------------------------------------------


def preview_json(olds: dict, news: dict, type_: str, name: str) -> dict:
    """The shape `pulumi preview --refresh --json` prints (a refresh step, then the update)."""
    urn = f"urn:pulumi:lab::novalab::novalab:index:ComputeHost$novalab:index:HostRecord${type_}::{name}"
    return {"steps": [
        {"op": "refresh", "urn": urn, "oldState": {"inputs": news}, "newState": {"inputs": olds}},
        {"op": "update", "urn": urn, "oldState": {"inputs": olds}, "newState": {"inputs": news}},
        {"op": "same", "urn": "urn:pulumi:lab::novalab::command:remote:Command::compute-1-config"},
    ]}


def test_the_drift_table_names_host_what_expected_and_found(capsys):
    from components.drift_report import main

    p, s = file_props(), services_props()
    out = {"steps": [
        *preview_json(observe(p, read_output("0" * 64)), p, "pulumi-python:dynamic/novalab:HostFile", "compute-1-file-nova.conf")["steps"],
        *preview_json(observe(s, read_output("x", nova="stopped")), s, "pulumi-python:dynamic/novalab:HostServices", "compute-2-services")["steps"],
    ]}
    assert main(json.dumps(out)) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["host", "what", "expected", "found"]
    assert lines[1].split() == ["compute-1", CONF, "content", "as", "novalab", "wrote", "it", "changed", "on", "the", "host"]
    assert lines[2].split() == ["compute-2", "service", "nova-compute", "running", "stopped"]


def test_no_drift_and_a_failed_preview_are_told_apart(capsys):
    from components.drift_report import main

    p = file_props()
    assert main(json.dumps(preview_json(p, p, "pulumi-python:dynamic/novalab:HostFile", "compute-1-file-nova.conf"))) == 0
    assert "no drift" in capsys.readouterr().out
    assert main(json.dumps({"diagnostics": [{"severity": "error", "message": "reading 10.0.0.20:22 over SSH failed"}]})) == 2
    assert "reading 10.0.0.20:22" in capsys.readouterr().err
    assert main("not json") == 2


def test_a_secret_change_is_counted_in_plain_text_under_its_key():
    first = check_file({}, file_props())
    assert set(first["secretChanges"].values()) == {"set"}
    (changed,) = records("r", "n-2")  # the nova password changed, nothing else
    second = check_file(first, {"connection": CONNECTION, **file_properties(changed)})
    assert second["secretChanges"]["[keystone_authtoken] password"] == "(secret changed) #1"
    assert second["secretChanges"]["[DEFAULT] transport_url"] == "set"
    assert "n-2" not in json.dumps(second["secretChanges"])
    assert check_file(second, {"connection": CONNECTION, **file_properties(changed)}) == second  # stable
