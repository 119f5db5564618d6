"""Reading a host back (components/host_state.py, scripts/read_host_state.sh): the script run for real
on temp files, and the provider's read over SSH against a real sshd on loopback (sessions counted in
its log). The whole resource inside the engine: tests/test_engine_drift.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.drift import AS_WRITTEN, CHANGED, CONNECTION, RUNNING, STOPPED, check_file, check_services, file_properties, reads
from components.host_state import HostFileProvider, HostServicesProvider, forget_reads, read_host
from components.masking import FileRecord, sha256_text
from components.scripts import SCRIPTS_DIR
from support.engine import closed_port
from support.sshd import running_sshd


def read_script(*args: str, env: dict | None = None) -> str:
    result = subprocess.run(["bash", str(SCRIPTS_DIR / "read_host_state.sh"), *args], capture_output=True, text=True,
                            env=dict(os.environ, **(env or {})), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def snapshot(root: Path) -> dict:
    return {p: (p.lstat().st_mode, p.lstat().st_mtime_ns, p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(root.rglob("*"))}


def test_the_read_script_reports_files_and_services_and_changes_nothing(tmp_path):
    files = tmp_path / "etc"
    files.mkdir()
    (files / "nova.conf").write_text("a\n")
    (files / "nova.conf").chmod(0o640)
    (files / "link.conf").symlink_to(files / "nova.conf")
    (files / "dir.conf").mkdir()
    run = tmp_path / "run"
    (run / "nova").mkdir(parents=True)
    (run / "nova" / "nova-compute.pid").write_text(f"{os.getpid()}\n")  # alive: this test
    (run / "neutron").mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (run / "neutron" / "neutron-linuxbridge-agent.pid").write_text(f"{dead.pid}\n")
    before = snapshot(tmp_path)
    out = read_script(str(files / "nova.conf"), str(files / "link.conf"), str(files / "dir.conf"), str(files / "none.conf"),
                      "--services", "nova-compute", "neutron-linuxbridge-agent", env={"NOVALAB_RUN_DIR": str(run)})
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    assert out.splitlines() == [
        f"file {files / 'nova.conf'} {sha256_text('a' + chr(10))} {user}:{group} 640",
        f"file {files / 'link.conf'} other",
        f"file {files / 'dir.conf'} other",
        f"file {files / 'none.conf'} missing",
        "service nova-compute running",
        "service neutron-linuxbridge-agent stopped",
    ]
    assert snapshot(tmp_path) == before


def test_the_read_script_with_no_services():
    assert read_script("/nonexistent/novalab", "--services") == "file /nonexistent/novalab missing\n"


# --- the providers' read, over SSH -------------------------------------------------------------

SERVICE = "novalab-test-svc"  # no such service here: it reads as stopped


def records_of(sshd, paths: dict[Path, str], host_key: str | None) -> tuple[list[dict], dict]:
    """File records for `paths` (path -> the content novalab wrote) and the services record."""
    conn = {"host": sshd.host, "port": sshd.port, "user": sshd.user, "privateKey": sshd.private_key,
            "reads": reads([str(p) for p in paths], [SERVICE]), **({"hostKey": host_key} if host_key else {})}
    files = [check_file({}, {CONNECTION: conn, **file_properties(FileRecord(str(p), "root", "root", "0640", SERVICE, c, sha256_text(c)))})
             for p, c in paths.items()]
    return files, check_services({}, {CONNECTION: conn, SERVICE: RUNNING})


@pytest.fixture
def sshd(tmp_path):
    forget_reads()
    with running_sshd(tmp_path / "sshd") as server:
        yield server
    forget_reads()


def test_all_records_of_a_host_are_read_in_one_ssh_session(sshd, tmp_path):
    same, edited = tmp_path / "a.conf", tmp_path / "b.conf"
    for path in (same, edited):
        path.write_text("as written\n")
        path.chmod(0o640)
    edited.write_text("edited by hand\n")
    files, services = records_of(sshd, {same: "as written\n", edited: "as written\n"}, sshd.host_key)
    found = [HostFileProvider().read("id", dict(f, __provider="p")) for f in files]
    found_services = HostServicesProvider().read("id", dict(services, __provider="p"))
    assert sshd.accepted_logins() == 1
    assert [r.outs["onHost"] for r in found] == [AS_WRITTEN, CHANGED] and all(r.outs == r.inputs for r in found)
    assert found_services.outs[SERVICE] == STOPPED and found_services.inputs == found_services.outs
    assert HostFileProvider().diff("id", found[1].outs, files[1]).changes
    assert not HostFileProvider().diff("id", found[0].outs, files[0]).changes
    assert HostServicesProvider().diff("id", found_services.outs, services).changes


def test_a_pinned_host_key_is_enforced_before_anything_runs(sshd, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    _, services = records_of(sshd, {}, wrong)
    with pytest.raises(RuntimeError) as e:
        HostServicesProvider().read("id", services)
    message = str(e.value)
    assert f"reading {sshd.host}:{sshd.port} over SSH failed" in message and "HostKeyNotVerifiable" in message
    assert "PRIVATE KEY" not in message and sshd.accepted_logins() == 0


def test_an_unpinned_host_is_read_without_checking_its_key(sshd, tmp_path):
    _, services = records_of(sshd, {}, None)
    assert read_host(services[CONNECTION], [str(tmp_path / "x.conf"), "--services"]) == f"file {tmp_path / 'x.conf'} missing\n"
    assert sshd.accepted_logins() == 1


def test_a_host_that_refuses_the_connection_fails_naming_it(tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], check=True)
    conn = {"host": "127.0.0.1", "port": closed_port(), "user": "root", "privateKey": (tmp_path / "key").read_text()}
    with pytest.raises(RuntimeError, match=rf"reading 127.0.0.1:{conn['port']} over SSH failed: ConnectionRefusedError"):
        read_host(conn, ["--services"])


def test_check_diff_create_update_touch_no_host():
    # No sshd here: none of them may open a connection.
    conn = {"host": "192.0.2.1", "port": 22.0, "user": "root", "privateKey": "k", "reads": reads([], ["s"])}
    provider = HostServicesProvider()
    checked = provider.check({}, {CONNECTION: conn, "s": RUNNING, "__provider": "p"}).inputs
    created = provider.create(checked)
    assert created.id == "192.0.2.1:22:services" and created.outs == checked
    assert not provider.diff(created.id, dict(created.outs, __provider="p"), dict(checked, __provider="q")).changes
    assert provider.update(created.id, created.outs, checked).outs == checked
