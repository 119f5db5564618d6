"""Team state on a real PostgreSQL (issue 14): novalab's `state/state.sh` runs Debian's server, Pulumi's
built-in `postgres://` DIY backend keeps the stacks, and the real engine runs `command:remote:Command`s
against a test sshd on loopback: cheap, real resources whose runs take seconds (tests/support/statedb.py
has the stack; each step logs its start and end on the "host", so the tests count what actually ran).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from support import numbers
from support.engine import ROOT, Pulumi, Result, change_summary, engine_bin
from support.sshd import free_port, running_sshd
from support.statedb import (PASSWORD, STATE_SH, Stack, live_process_named, make_legacy_state_db, make_stack,
                             make_state_db, remove_state_db, write_lock)

pytestmark = pytest.mark.engine

LOCKED = "the stack is currently locked by"


@pytest.fixture(scope="module")
def db():
    database = make_state_db()
    yield database
    remove_state_db(database)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def finish_all(procs: dict[str, subprocess.Popen], timeout: float, directory: Path) -> dict[str, tuple[int, str, str]]:
    """Wait for every process (a hang guard, not a measure); each one's exit code, stdout and stderr."""
    deadline = time.monotonic() + timeout
    while any(proc.poll() is None for proc in procs.values()):
        if time.monotonic() > deadline:
            for proc in procs.values():
                kill_group(proc)
            pytest.fail(f"hung: still running after {timeout} s")
        time.sleep(0.02)
    return {n: finish(p, 1, directory / n) for n, p in procs.items()}


def finish(proc: subprocess.Popen, timeout: float, out: Path) -> tuple[int, str, str]:
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"{' '.join(map(str, proc.args))} hung: still running after {timeout} s")
    return rc, Path(f"{out}.stdout").read_text(), Path(f"{out}.stderr").read_text()


def kill_group(proc: subprocess.Popen) -> None:
    """End a run the test started (its process group), if it is still there."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def children(pid: int) -> list[int]:
    """The processes PID started (the engine's plugins run in process groups of their own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def sigkill_cli(proc: subprocess.Popen) -> list[int]:
    """SIGKILL the `pulumi` CLI alone, as a crash would; returns the plugins it leaves orphaned
    (they do not notice the engine is gone), for the test to end afterwards."""
    plugins = children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return plugins


def end_processes(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def settle_in_flight(stack: Stack, step: str) -> None:
    """A killed CLI does not stop the command it had started on the host: wait until that command
    has written its end, so that the log a later assertion reads is final."""
    wait_for(lambda: stack.count("done", step) == 1, 60, f"the {step} in flight to end on the host")


def assert_converged(stack: Stack, steps: int) -> None:
    """Every step in state exactly once, nothing pending, and one more `up` does nothing."""
    names = stack.step_names()
    assert sorted(names) == sorted(f"step-{i}" for i in range(steps)), names
    assert stack.pending() == []
    before = stack.log()
    result = stack.pulumi.up()
    assert change_summary(result) == {"unchanged": steps + 1}, result.stdout  # the steps and the stack
    assert stack.log() == before, "a no-op up ran a step"


def unlocked_recovery(stack: Stack, db_state) -> None:
    """The README's recovery after a killed run: clear the stale lock (only once its holder is gone),
    then drop the pending creates Pulumi cannot confirm, so the next `up` runs those steps again."""
    cleared = db_state("unlock", stack.pulumi.stack, env=stack.pulumi.env, cwd=stack.pulumi.project_dir)
    assert "lock cleared" in cleared.stdout, cleared.stdout
    stack.pulumi.run("refresh", "-s", stack.pulumi.stack, "--yes", "--skip-preview", "--clear-pending-creates")


# --- `state up | down | status | backend-url` --------------------------------------------------------


def test_state_lifecycle_keeps_data_and_says_what_to_run_when_down(tmp_path, sshd):
    db = make_state_db()
    try:
        # Idempotent: a second `up` of a running database changes nothing and succeeds.
        db.state("up")
        url = db.url
        assert url.startswith("postgres://novalab@127.0.0.1:") and f"passfile={db.directory}/passfile" in url
        stack = make_stack(tmp_path, sshd, url)
        stack.pulumi.up()
        exported = stack.pulumi.export()

        status = db.state("status")
        assert "server:         up" in status.stdout and f"statetest/{stack.pulumi.stack}" in status.stdout, status.stdout

        db.state("down")
        db.state("down")  # idempotent
        assert db.state("status", check=False).returncode == 3
        down = db.state("backend-url", check=False)
        assert down.returncode == 2 and down.stdout == ""
        assert "./novalab state up" in down.stderr, down.stderr

        db.state("up")
        assert db.url == url
        assert stack.pulumi.export() == exported  # `down` kept the data
        assert_converged(stack, 3)
    finally:
        remove_state_db(db)


def test_a_database_made_before_postgresql_common_is_taken_in_with_its_data(tmp_path, sshd):
    db = make_legacy_state_db(free_port())
    try:
        url = db.url
        stack = make_stack(tmp_path, sshd, url)
        stack.pulumi.up()
        exported = stack.pulumi.export()
        up = db.state("up")  # while the old server runs: stopped, taken in, started by pg_ctlcluster
        assert "taking" in up.stderr and "pg_createcluster" in up.stderr, up.stderr
        clusters = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True,
                                  env={**os.environ, "PG_CLUSTER_CONF_ROOT": str(db.directory / "conf")}).stdout.split()
        assert clusters[:4] == ["15", "novalab", db.sql("SHOW port")[0][0], "online"], clusters
        assert db.url == url and stack.pulumi.export() == exported
        assert db.sql("SHOW max_connections") == [["40"]]  # today's settings apply
        db.state("down")
        assert db.state("status", check=False).returncode == 3
        db.state("up")
        assert_converged(stack, 3)
    finally:
        remove_state_db(db)


def test_a_plus_in_a_urls_password_is_a_plus(tmp_path):
    db = make_state_db()
    try:
        password = "pa+ss w@rd:+"
        port = db.sql("SHOW port")[0][0]
        db.sql(f"ALTER ROLE novalab PASSWORD '{password}'")
        url = f"postgres://nova%6cab:{quote(password, safe='+')}@127.0.0.1:{port}/novalab_state?sslmode=disable"
        listed = db.state("locks", "anything", env={"PULUMI_BACKEND_URL": url}, check=False)
        assert (listed.returncode, listed.stdout) == (0, "anything: not locked\n"), listed.stderr
        # The same password with its `+` read as a space (as the bash tool did) is refused.
        wrong = db.state("locks", "anything", env={"PULUMI_BACKEND_URL": url.replace("+", "%20")}, check=False)
        assert wrong.returncode == 1 and "password authentication failed" in wrong.stderr, wrong.stderr
        assert password not in wrong.stderr
        # `up` notices that the passfile's password no longer logs in and sets it again.
        db.state("up")
        assert db.sql("SELECT 1") == [["1"]]
    finally:
        remove_state_db(db)


def test_state_sh_is_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: run the README's test command, which installs it"
    result = subprocess.run([shellcheck, str(STATE_SH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_password_is_only_in_the_0600_passfile(db):
    passfile = db.directory / "passfile"
    assert passfile.stat().st_mode & 0o777 == 0o600
    password = passfile.read_text().strip().split(":")[-1]
    assert len(password) >= 24
    assert password not in db.url
    # Not on a command line or in the environment of any process (the server's included).
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                blob = (proc / part).read_bytes()
            except OSError:
                continue
            assert password.encode() not in blob, f"the state password is in /proc/{proc.name}/{part}"
    for path in (db.directory / "log").rglob("*"):
        assert password not in path.read_text(errors="replace"), f"the state password is in {path}"


def test_the_server_listens_on_loopback_only_and_wants_the_password(db):
    assert db.sql("SHOW listen_addresses") == [["127.0.0.1"]]
    port = db.sql("SHOW port")[0][0]
    wrong = subprocess.run(
        ["/usr/lib/postgresql/15/bin/psql", "-X", "-h", "127.0.0.1", "-p", port, "-U", "novalab", "-d", "novalab_state",
         "-c", "SELECT 1"],
        env={**os.environ, "PGPASSWORD": "not-the-password", "PGPASSFILE": "/dev/null"}, capture_output=True, text=True,
    )
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr, wrong.stderr


def test_novalab_pulumi_uses_the_state_database_unless_a_backend_is_set(db, tmp_path):
    # ./novalab asks state.sh for the URL when the user chose no backend (engine_defaults). The
    # engine comes in as "an install on PATH" (a wrapper around the built CLI), so this test never
    # starts an engine build of its own.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = engine_bin()
    (bin_dir / "pulumi").write_text(f'#!/bin/sh\nexec {cli / "pulumi"} "$@"\n')
    (bin_dir / "pulumi").chmod(0o755)
    (bin_dir / "pulumi-language-python").symlink_to(cli / "pulumi-language-python")
    env = {**db.env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    whoami = subprocess.run([str(ROOT / "novalab"), "pulumi", "whoami", "--verbose"], env=env, capture_output=True,
                            text=True, timeout=600)
    assert whoami.returncode == 0, whoami.stderr
    assert f"Backend URL: {db.url}" in whoami.stdout, whoami.stdout
    (tmp_path / "elsewhere").mkdir()
    elsewhere = f"file://{tmp_path / 'elsewhere'}"
    chosen = subprocess.run([str(ROOT / "novalab"), "pulumi", "whoami", "--verbose"],
                            env={**env, "PULUMI_BACKEND_URL": elsewhere}, capture_output=True, text=True, timeout=600)
    assert f"Backend URL: {elsewhere}" in chosen.stdout, chosen.stdout


# --- 1. two `up`s at once ---------------------------------------------------------------------------


def test_two_concurrent_ups_one_runs_the_other_fails_fast_naming_the_holder(tmp_path, db, sshd):
    stack = make_stack(tmp_path, sshd, db.url)
    stack.set_delay(3)
    first = stack.spawn(*stack.up_args(), out=tmp_path / "a")
    try:
        # The second starts once the first holds the lock (its first step runs). Two started within the
        # same few milliseconds can both lose Pulumi's write-then-check lock: the wait-lock test below
        # starts two at once, and benchmarks/bench_state.py counts how often both lose.
        wait_for(lambda: stack.count("start", "step-0") == 1, 120, "the first up to start")
        started = time.monotonic()
        second = stack.spawn(*stack.up_args(), out=tmp_path / "b")
        rc, out, err = finish(second, 300, tmp_path / "b")
        numbers.record("state: the second of two ups failed after (s)", time.monotonic() - started)
        first_was_running = first.poll() is None
        first_rc = finish(first, 300, tmp_path / "a")[0]
    finally:
        kill_group(first)
    assert (first_rc, rc != 0) == (0, True), "exactly one of the two ups must run"
    assert first_was_running, "the second up waited for the first instead of failing fast"
    assert LOCKED in err, err
    assert re.search(rf"created by \S+@{re.escape(socket.gethostname())} \(pid {first.pid}\) at ", err), err
    assert "created" not in out  # it did nothing
    for i in range(3):
        assert stack.count("done", f"step-{i}") == 1, stack.log()
    stack.set_delay(0)
    assert_converged(stack, 3)


def test_with_wait_lock_the_second_up_waits_then_finds_nothing_to_do(tmp_path, db, sshd):
    stack = make_stack(tmp_path, sshd, db.url)
    stack.set_delay(2)
    wait = (str(STATE_SH), "wait-lock", "120", "--")
    procs = {n: stack.spawn(*stack.up_args(), out=tmp_path / n, wrapper=wait) for n in ("a", "b")}
    results = finish_all(procs, 300, tmp_path)
    assert [r[0] for r in results.values()] == [0, 0], results
    for i in range(3):
        assert stack.count("done", f"step-{i}") == 1, stack.log()
    summaries = [change_summary(Result([], 0, out, err)) for _, out, err in results.values()]
    # One did the work; the other waited and then found nothing to do.
    assert {"created": 4} in summaries and {"unchanged": 4} in summaries, summaries
    waited = next(err for _, out, err in results.values() if "unchanged" in out)
    assert "waiting" in waited, waited
    stack.set_delay(0)
    assert_converged(stack, 3)


def test_novalab_preview_wait_lock_retries_through_state_sh(tmp_path):
    # ./novalab's own wiring of --wait-lock, with a stand-in `pulumi` on PATH (an install on PATH is
    # used as is: no engine build) whose first preview meets a lock held by this live test process.
    plugins = subprocess.run([str(ROOT / "engine" / "engine.sh"), "plugins"], capture_output=True, text=True,
                             check=True).stdout.split("\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    # The holder is a live process named pulumi, as a real holder is (whatever the clocks say of its age).
    holding = live_process_named(tmp_path, "pulumi")
    holder = f"root@{socket.gethostname()} (pid {holding.pid}) at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
    lock = write_lock(tmp_path, ".pulumi/locks/organization/novalab/waittest/1.json", holding.pid)
    plugin_ls = "".join(f"{line.split()[0]} resource {line.split()[1]}\\n" for line in plugins if line.strip())
    (bin_dir / "pulumi").write_text(f"""#!/bin/bash
echo "$*" >> {calls}
case "$1" in
  plugin) printf '{plugin_ls}' ;;
  version) echo v3.274.1 ;;
  preview)
    if [ "$(grep -c '^preview' {calls})" -lt 2 ]; then
      echo 'error: {LOCKED} 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.' >&2
      echo '  file://{lock}: created by {holder}' >&2
      exit 255
    fi
    echo previewed ;;
esac
""")
    (bin_dir / "pulumi").chmod(0o755)
    for bundled in ("pulumi-language-python", "pulumi-resource-pulumi-python"):  # as the official CLI ships
        (bin_dir / bundled).write_text("#!/bin/sh\n")
        (bin_dir / bundled).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PULUMI_BACKEND_URL": f"file://{tmp_path}",
           "PULUMI_CONFIG_PASSPHRASE": "x"}
    try:
        proc = subprocess.run([str(ROOT / "novalab"), "preview", "waittest", "--wait-lock", "30"], env=env,
                              capture_output=True, text=True, timeout=300)
    finally:
        holding.kill()
        holding.wait()
    assert proc.returncode == 0, proc.stderr
    assert "previewed" in proc.stdout
    assert f"locked by root@{socket.gethostname()} pid {holding.pid}" in proc.stderr and "waiting" in proc.stderr, proc.stderr
    previews = [line for line in calls.read_text().splitlines() if line.startswith("preview")]
    assert len(previews) == 2 and "--wait-lock" not in previews[1] and "-s waittest" in previews[1], previews


def test_wait_lock_gives_up_at_its_deadline_naming_the_holder(tmp_path, db, sshd):
    stack = make_stack(tmp_path, sshd, db.url, steps=2)
    stack.set_delay(4)
    holder = stack.spawn(*stack.up_args(), out=tmp_path / "holder")
    wait_for(lambda: stack.count("start", "step-0") == 1, 120, "the first run to start")
    waiter = db.state("wait-lock", "2", "--", str(stack.pulumi.bin / "pulumi"), *stack.up_args(), check=False,
                      env=stack.pulumi.env, cwd=stack.pulumi.project_dir)
    assert waiter.returncode != 0
    assert "gave up waiting for the lock after 2 s" in waiter.stderr, waiter.stderr
    assert f"@{socket.gethostname()} pid {holder.pid} since" in waiter.stderr, waiter.stderr
    assert holder.poll() is None, "the waiter only gave up after the holder finished"
    assert finish(holder, 300, tmp_path / "holder")[0] == 0


# --- 2. an `up` killed with SIGKILL -----------------------------------------------------------------


def test_sigkill_mid_up_stale_lock_then_documented_recovery_converges(tmp_path, db, sshd):
    stack = make_stack(tmp_path, sshd, db.url, steps=4)
    stack.set_delay(2)
    run = stack.spawn(*stack.up_args(), out=tmp_path / "killed")
    orphans: list[int] = []
    try:
        wait_for(lambda: stack.count("start", "step-1") == 1, 120, "step-1 to start")
        orphans = sigkill_cli(run)
        settle_in_flight(stack, "step-1")
    finally:
        kill_group(run)
        end_processes(orphans)
    recorded = stack.step_names()
    assert recorded == ["step-0"], recorded
    assert stack.pending() == ["step-1"]

    # The next up is refused with Pulumi's lock message naming the dead run.
    refused = stack.pulumi.up(check=False)
    assert refused.returncode != 0 and LOCKED in refused.stderr
    assert f"(pid {run.pid})" in refused.stderr, refused.stderr
    locks = db.state("locks", stack.pulumi.stack, env=stack.pulumi.env)
    assert f"pid {run.pid}" in locks.stdout and "STALE: that process is gone" in locks.stdout, locks.stdout
    # Waiting cannot help, and --wait-lock says so at once instead of sleeping to its deadline.
    waited = db.state("wait-lock", "600", "--", str(stack.pulumi.bin / "pulumi"), *stack.up_args(), check=False,
                      env=stack.pulumi.env, cwd=stack.pulumi.project_dir, timeout=120)
    assert waited.returncode != 0 and "the lock is stale" in waited.stderr and f"pid {run.pid}" in waited.stderr

    stack.set_delay(0)
    unlocked_recovery(stack, db.state)
    stack.pulumi.up()
    assert_converged(stack, 4)
    # Nothing created twice: what was in state before the kill never ran again; the one step that
    # was in flight ran again (Pulumi could not know it finished: a pending create); none was lost.
    assert stack.count("done", "step-0") == 1
    assert stack.count("start", "step-1") == 2
    for step in ("step-2", "step-3"):
        assert stack.count("start", step) == 1 and stack.count("done", step) == 1, stack.log()


def test_a_stale_lock_on_the_file_backend_is_reported_and_cleared_the_same_way(tmp_path, db, sshd):
    (tmp_path / "files").mkdir()
    stack = make_stack(tmp_path, sshd, f"file://{tmp_path / 'files'}", steps=2)
    stack.set_delay(2)
    run = stack.spawn(*stack.up_args(), out=tmp_path / "killed")
    orphans: list[int] = []
    try:
        wait_for(lambda: stack.count("start", "step-0") == 1, 120, "step-0 to start")
        orphans = sigkill_cli(run)
        settle_in_flight(stack, "step-0")
    finally:
        kill_group(run)
        end_processes(orphans)
    locks = db.state("locks", stack.pulumi.stack, env=stack.pulumi.env)
    assert f"pid {run.pid} since" in locks.stdout and "STALE" in locks.stdout, locks.stdout
    unlocked_recovery(stack, db.state)
    stack.set_delay(0)
    stack.pulumi.up()
    assert_converged(stack, 2)


def test_unlock_refuses_while_the_holder_runs(tmp_path, db, sshd):
    stack = make_stack(tmp_path, sshd, db.url, steps=1)
    stack.set_delay(3)
    run = stack.spawn(*stack.up_args(), out=tmp_path / "running")
    try:
        wait_for(lambda: stack.count("start", "step-0") == 1, 120, "the run to start")
        refused = db.state("unlock", stack.pulumi.stack, check=False, env=stack.pulumi.env, cwd=stack.pulumi.project_dir)
        assert refused.returncode != 0, refused.stdout
        assert "is held by a running process" in refused.stderr and f"pid {run.pid} since" in refused.stderr, refused.stderr
        assert finish(run, 300, tmp_path / "running")[0] == 0, "unlock broke the running up"
    finally:
        kill_group(run)


# --- 3. PostgreSQL stopped mid-`up` -----------------------------------------------------------------


def test_postgres_stopped_mid_up_fails_clearly_not_corrupted_and_converges(tmp_path, sshd):
    db = make_state_db()
    try:
        stack = make_stack(tmp_path, sshd, db.url, steps=3)
        stack.set_delay(2)
        run = stack.spawn(*stack.up_args(), out=tmp_path / "dbdown")
        try:
            wait_for(lambda: stack.count("start", "step-1") == 1, 120, "step-1 to start")
            db.state("down")
            rc, out, err = finish(run, 240, tmp_path / "dbdown")
        finally:
            kill_group(run)
        assert rc != 0
        assert "failed to save snapshot" in out and "connection refused" in out, out
        db.state("up")
        exported = stack.pulumi.export()  # parses: the last saved checkpoint is whole
        assert exported["deployment"]["resources"], exported
        stack.set_delay(0)
        unlocked_recovery(stack, db.state)
        stack.pulumi.up()
        assert_converged(stack, 3)
        assert stack.count("done", "step-0") == 1
        assert stack.count("done", "step-2") == 1
    finally:
        remove_state_db(db)


# --- 4. no secret in plaintext in the state table ---------------------------------------------------


def test_no_secret_in_plaintext_anywhere_in_the_state_table(tmp_path, db, sshd):
    stack = make_stack(tmp_path, sshd, db.url)
    stack.pulumi.up()
    assert stack.pulumi.outputs(show_secrets=True)["password"] == PASSWORD
    rows = db.rows()
    key_body = "".join(line for line in sshd.private_key.splitlines() if "-----" not in line)
    needles = [PASSWORD, key_body[:40], key_body[-40:], "OPENSSH PRIVATE KEY"]
    # The decoding is right: what is not secret is there in plaintext (so the search can fail).
    assert any("sha256sum >" in text for text in rows.values())
    assert any(str(stack.work) in text for text in rows.values())
    for key, text in rows.items():
        for needle in needles:
            assert needle not in text, f"plaintext secret ({needle[:6]}...) in row {key}"
    raw = "\n".join(data for _, data in db.sql("SELECT key, data::text FROM pulumi_state"))
    for needle in needles:
        assert needle not in raw


# --- 5. moving stacks and backups ------------------------------------------------------------------


def differences(a, b, path: str = "") -> list[str]:
    """Where two JSON values differ, as paths (for a readable assertion message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:120]} != {str(b)[:120]}"]


def decrypted_export(pulumi: Pulumi) -> dict:
    """`stack export --show-secrets`, in memory only. An import re-encrypts every secret (a fresh
    nonce each), so the plain exports of two backends differ in ciphertext, and only there."""
    return json.loads(pulumi.run("stack", "export", "-s", pulumi.stack, "--show-secrets").stdout)


def assert_same_state(moved: Pulumi, original_export: dict, original_decrypted: dict) -> None:
    assert decrypted_export(moved) == original_decrypted, "\n".join(differences(decrypted_export(moved), original_decrypted))
    differ = differences(moved.export(), original_export)
    assert differ and all(d.split(":", 1)[0].endswith(".ciphertext") for d in differ), "\n".join(differ)


def test_file_backend_to_postgres_and_back_keeps_export_identical_and_up_a_noop(tmp_path, db, sshd):
    file_url = f"file://{tmp_path / 'file-backend'}"
    (tmp_path / "file-backend").mkdir()
    stack = make_stack(tmp_path, sshd, file_url, name="moving")
    stack.pulumi.up()
    on_file, on_file_decrypted = stack.pulumi.export(), decrypted_export(stack.pulumi)
    moving = tmp_path / "moving.json"
    moving.write_text(json.dumps(on_file))  # secrets stay ciphertext in the file

    # To PostgreSQL, as the README says: same project directory (Pulumi.moving.yaml keeps the
    # passphrase's salt), `stack init` there, `stack import`.
    to_pg = Pulumi(stack.pulumi.project_dir, tmp_path / "unused", stack="moving", env={"PULUMI_BACKEND_URL": db.url})
    to_pg.run("stack", "init", "moving")
    to_pg.run("stack", "import", "-s", "moving", "--file", str(moving))
    assert_same_state(to_pg, on_file, on_file_decrypted)
    assert_converged(Stack(to_pg, stack.work), 3)

    # And back, into a fresh file backend.
    (tmp_path / "file-backend-2").mkdir()
    back_file = tmp_path / "back.json"
    back_file.write_text(json.dumps(to_pg.export()))
    back = Pulumi(stack.pulumi.project_dir, tmp_path / "unused", stack="moving",
                  env={"PULUMI_BACKEND_URL": f"file://{tmp_path / 'file-backend-2'}"})
    back.run("stack", "init", "moving")
    back.run("stack", "import", "-s", "moving", "--file", str(back_file))
    assert_same_state(back, to_pg.export(), decrypted_export(to_pg))
    assert_converged(Stack(back, stack.work), 3)
    for i in range(3):
        assert stack.count("done", f"step-{i}") == 1  # created once, on the first file backend


def test_pg_dump_and_restore_into_a_new_server_keeps_export_identical_and_up_a_noop(tmp_path, db, sshd):
    stack = make_stack(tmp_path, sshd, db.url, name="backedup")
    stack.pulumi.up()
    before = stack.pulumi.export()
    dump = tmp_path / "state.dump"
    db.state("backup", str(dump))
    assert dump.stat().st_mode & 0o777 == 0o600

    # The database is lost: restore the dump into a new server, then point the stack at it.
    other = make_state_db()
    try:
        other.state("restore", str(dump))
        moved = Pulumi(stack.pulumi.project_dir, tmp_path / "unused", stack="backedup", env={"PULUMI_BACKEND_URL": other.url})
        assert moved.export() == before
        assert_converged(Stack(moved, stack.work), 3)
        # And in place: the stack's rows lost, a restore over the database brings them back.
        other.sql("DELETE FROM pulumi_state WHERE key ~ 'stacks/statetest/backedup'")
        assert moved.run("stack", "export", "-s", "backedup", check=False).returncode != 0
        other.state("restore", str(dump))
        assert moved.export() == before
        assert_converged(Stack(moved, stack.work), 3)
    finally:
        remove_state_db(other)
