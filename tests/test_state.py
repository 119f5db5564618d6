"""The state tooling's pure parts (state/): backend URLs as Pulumi reads them, lock records as JSON, the
CLI's lock error, whether a holder still runs, wait-lock's decisions, and `state.sh` on a file backend
with a stand-in pulumi. No PostgreSQL, no engine (tests/test_engine_state.py has those)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from state import locks, waiting
from support.statedb import gone_pid, live_process_named, write_lock
from state.backend import BackendError, libpq_env, read_locks, where
from state.cluster import scram_verifier
from state.locks import ALIVE, ELSEWHERE, GONE, Lock, LockError, NamedLock, Process
from state.urls import (URLError, file_backend_dir, novalab_backend_url, parse_postgres_url, pgpass_any,
                        pgpass_field)

ROOT = Path(__file__).resolve().parent.parent
STATE_SH = ROOT / "state" / "state.sh"
HERE = socket.gethostname()
LOCKED = locks.LOCKED_MESSAGE

# --- backend URLs ------------------------------------------------------------------------------------


def test_user_password_and_database_are_percent_decoded_with_plus_kept():
    target = parse_postgres_url("postgres://ops%2Bci:p+ss%40w%3Ard%2B@db.example.org:5433/pulumi%20state"
                                "?sslmode=verify-full&table=team_state&sslrootcert=/etc/ssl/a+b%2Bc.pem")
    assert (target.user, target.password, target.dbname) == ("ops+ci", "p+ss@w:rd+", "pulumi state")
    assert (target.host, target.port, target.table) == ("db.example.org", 5433, "team_state")
    # Query values are form-decoded, as Go's URL.Query() (then lib/pq) reads them: `+` is a space.
    assert dict(target.params) == {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/a b+c.pem"}


def test_the_libpq_environment_never_holds_the_password():
    target = parse_postgres_url("postgresql://pulumi:s3cret-pw@[::1]:5432/pulumi?connect_timeout=5&passfile=/p")
    env = target.libpq_env()
    assert env == {"PGHOST": "::1", "PGPORT": "5432", "PGUSER": "pulumi", "PGDATABASE": "pulumi",
                   "PGCONNECT_TIMEOUT": "5", "PGPASSFILE": "/p"}
    assert "s3cret-pw" not in repr(target) and "s3cret-pw" not in json.dumps(env)


@pytest.mark.parametrize("url, word", [
    ("postgres://u:s3cret@db:99999/x", "port"),
    ("postgres://u:s3cret@db:5432/x\n?sslmode=disable", "control character"),
    ("mysql://u:s3cret@db/x", "postgres://"),
], ids=["bad-port", "line-break", "other-scheme"])
def test_a_bad_url_is_refused_naming_the_problem_not_the_password(url, word):
    with pytest.raises(URLError, match=word) as refused:
        parse_postgres_url(url)
    assert "s3cret" not in str(refused.value)


def test_a_password_in_the_url_reaches_libpq_only_in_a_0600_passfile_that_is_gone_after(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "the-users-own")
    target = parse_postgres_url("postgres://u:pa+ss%40w%3Ard@db.example.org/pulumi")
    with libpq_env(target) as env:
        passfile = Path(env["PGPASSFILE"])
        assert passfile.stat().st_mode & 0o777 == 0o600
        assert passfile.read_text() == "*:*:*:*:pa+ss@w\\:rd\n"
        assert "PGPASSWORD" not in env and not any("pa+ss" in value for value in env.values())
    assert not passfile.exists()
    with libpq_env(parse_postgres_url("postgres://u@db.example.org/pulumi")) as env:
        assert env["PGPASSWORD"] == "the-users-own"  # no password in the URL: the user's own libpq setup


def test_lib_pq_takes_a_password_query_parameter_over_the_urls_own():
    assert parse_postgres_url("postgres://u:first@h/d?password=se+cond").password == "se cond"
    assert parse_postgres_url("postgres://u@h/d").password is None


def test_novalabs_url_names_its_passfile_so_that_it_reads_back_the_same():
    passfile = Path("/var/lib/novalab state/a+b&c?d#e%f/passfile")
    url = novalab_backend_url("novalab", 55432, "novalab_state", passfile)
    assert url.startswith("postgres://novalab@127.0.0.1:55432/novalab_state?sslmode=disable&connect_timeout=10&")
    target = parse_postgres_url(url)
    assert dict(target.params)["passfile"] == str(passfile) and target.password is None


def test_pgpass_lines_escape_colons_and_backslashes():
    assert pgpass_field(r"a:b\c") == r"a\:b\\c"
    assert pgpass_any("p:w") == "*:*:*:*:p\\:w\n"


def test_file_backend_directories():
    home = Path("/home/op")
    assert file_backend_dir("file:///srv/state?no_tmp_dir=true", home) == Path("/srv/state")
    assert file_backend_dir("file://~/.pulumi-state", home) == home / ".pulumi-state"
    assert file_backend_dir("file:///srv/with%20space", home) == Path("/srv/with space")


def test_messages_name_a_backend_without_its_credentials():
    assert where("postgres://u:s3cret@db:5433/pulumi?passfile=/x") == "postgres://db:5433/pulumi"


def test_the_scram_verifier_answers_rfc_7677s_exchange():
    # RFC 7677, section 3: user "user", password "pencil"; the server's signature follows from the
    # verifier's ServerKey, the client's proof from its StoredKey.
    verifier = scram_verifier("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
    head, keys = verifier.split("$", 1)[1].split("$")
    stored, server = (base64.b64decode(k) for k in keys.split(":"))
    assert head == "4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth = (f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}").encode()
    assert base64.b64encode(hmac.new(server, auth, "sha256").digest()) == b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_key = bytes(a ^ b for a, b in zip(proof, hmac.new(stored, auth, "sha256").digest()))
    assert hashlib.sha256(client_key).digest() == stored


# --- lock records ------------------------------------------------------------------------------------

KEY = ".pulumi/locks/organization/novalab/lab/0b5c.json"


@pytest.mark.parametrize("content", [
    b'{"pid":4242,"username":"root","hostname":"ci-1","timestamp":"2026-11-25T08:18:01.123456789Z"}',
    b'{"timestamp": "2026-11-25T08:18:01.123456789Z",\n "hostname": "ci-1", "username": "root", "pid": 4242}\n',
], ids=["as-go-writes-it", "other-order-and-newline"])
def test_a_lock_record_is_read_as_json_in_any_field_order(content):
    assert locks.parse_lock(KEY, content) == Lock(KEY, "root", "ci-1", 4242, "2026-11-25T08:18:01.123456789Z")


@pytest.mark.parametrize("content, word", [
    (b"not json", "not JSON"),
    (b"[1]", "not a JSON object"),
    (b'{"pid":"4242","username":"root","hostname":"h","timestamp":"t"}', "pid"),
    (b'{"pid":true,"username":"root","hostname":"h","timestamp":"t"}', "pid"),
    (b'{"pid":0,"username":"root","hostname":"h","timestamp":"t"}', "pid"),
    (b'{"pid":7,"username":1,"hostname":"h","timestamp":"t"}', "username"),
], ids=["text", "array", "pid-string", "pid-bool", "pid-zero", "user-number"])
def test_what_is_not_a_pulumi_lock_is_refused_naming_its_key(content, word):
    with pytest.raises(LockError, match=word) as refused:
        locks.parse_lock(KEY, content)
    assert KEY in str(refused.value)


def test_a_locks_stack_and_which_names_match_it():
    assert locks.lock_stack(KEY) == "organization/novalab/lab"
    assert locks.lock_stack("prefix/.pulumi/locks/lab/1.json") == "lab"
    for want in ("lab", "novalab/lab", "organization/novalab/lab"):
        assert locks.matches_stack(KEY, want), want
    for want in ("la", "other/lab", "x/novalab/lab", "a/organization/novalab/lab", ""):
        assert not locks.matches_stack(KEY, want), want


MESSAGE = f"""error: {LOCKED} 2 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.
  postgres://****:****@127.0.0.1:55432/novalab_state/.pulumi/locks/organization/novalab/lab/0b5c.json?connect_timeout=10&sslmode=disable: created by root@ci-1 (pid 4242) at 2026-11-25T08:18:01Z
  file:///srv/my%20state/.pulumi/locks/organization/novalab/lab/77aa.json: created by ops@build host (pid 17) at 2026-11-25T08:18:02+01:00
"""


def test_the_lock_error_names_each_lock_and_what_it_says_of_the_holder():
    named = locks.parse_lock_message(MESSAGE)
    assert [n.said for n in named] == [
        Lock(KEY, "root", "ci-1", 4242, "2026-11-25T08:18:01Z"),
        Lock(".pulumi/locks/organization/novalab/lab/77aa.json", "ops", "build host", 17, "2026-11-25T08:18:02+01:00"),
    ]
    assert named[1].location.startswith("file:///srv/my%20state/")
    assert locks.parse_lock_message("error: something else\n  at foo: bar") == []


def test_times_as_go_writes_them():
    assert locks.epoch("2026-11-25T08:18:01Z") == locks.epoch("2026-11-25T09:18:01+01:00") == 1795594681.0
    assert locks.epoch("2026-11-25T08:18:01.123456789Z") == pytest.approx(1795594681.123456)
    assert locks.epoch("yesterday") is None and locks.epoch("2026-11-25T08:18:01") is None


# --- holders: alive, gone, elsewhere -----------------------------------------------------------------

WRITTEN = "2026-11-25T08:18:01Z"
AT = 1795594681.0


@pytest.mark.parametrize("host, process, state", [
    ("elsewhere-1", Process(AT - 60, "pulumi"), ELSEWHERE),
    (HERE, None, GONE),
    (HERE, Process(AT - 60, "pulumi"), ALIVE),
    (HERE, Process(AT - 60, "bash"), ALIVE),        # started before its lock: the holder (a wrapper, say)
    (HERE, Process(AT + 0.5, "bash"), ALIVE),       # within the second the lock's time is cut to
    (HERE, Process(AT + 3600, "sleep"), GONE),      # started after the lock: a reused pid
    (HERE, Process(AT + 3600, "pulumi"), ALIVE),    # a pulumi is the holder whatever the clocks say
    (HERE, Process(None, None), ALIVE),             # cannot tell: not stale
], ids=["other-host", "no-process", "pulumi", "older-process", "same-second", "reused-pid",
        "pulumi-younger-than-its-lock", "unknown-start"])
def test_holder_states(host, process, state):
    assert locks.holder_state(Lock(KEY, "root", host, 4242, WRITTEN), HERE, process) == state


def test_an_unreadable_lock_time_never_makes_a_live_process_stale():
    assert locks.holder_state(Lock(KEY, "root", HERE, 1, "garbage"), HERE, Process(AT + 3600, "sleep")) == ALIVE


def test_process_info_reads_this_process_and_nothing_for_an_ended_one():
    me = locks.process_info(os.getpid())
    assert me is not None and me.comm == Path("/proc/self/comm").read_text().strip() and me.start is not None
    assert locks.process_info(gone_pid()) is None


# --- wait-lock's decisions ---------------------------------------------------------------------------


def named(key: str, pid: int = 1) -> NamedLock:
    return NamedLock(f"s3://bucket/{key}", Lock(key, "root", HERE, pid, WRITTEN))


A, B = (f".pulumi/locks/organization/novalab/lab/{i}.json" for i in "ab")


def test_each_named_lock_is_live_stale_or_released_by_its_current_record():
    live, stale = Lock(A, "root", HERE, 10, WRITTEN), Lock(B, "root", HERE, 11, WRITTEN)
    verdict = waiting.classify([(named(A), live), (named(B), stale), (named("c"), None)],
                               lambda lock: GONE if lock.pid == 11 else ALIVE)
    assert (verdict.live, verdict.stale, [n.said.key for n in verdict.released]) == ([live], [stale], ["c"])


def verdict(live=(), stale=(), released=()) -> waiting.Verdict:
    return waiting.Verdict([Lock(k, "u", HERE, 1, WRITTEN) for k in live], [Lock(k, "u", HERE, 1, WRITTEN) for k in stale],
                           [named(k) for k in released])


@pytest.mark.parametrize("v, seen, left, step", [
    (verdict(live=[A]), frozenset(), 5, waiting.WAIT),
    (verdict(live=[A]), frozenset(), 0, waiting.GIVE_UP),
    (verdict(live=[A], stale=[B]), frozenset(), 5, waiting.WAIT),           # someone runs: wait for them
    (verdict(stale=[A]), frozenset(), 5, waiting.RECHECK),                  # first sight: it may be released
    (verdict(stale=[A]), frozenset([A]), 5, waiting.STALE),                 # named again: left behind
    (verdict(stale=[A, B]), frozenset([A]), 5, waiting.RECHECK),            # another gone holder: look again
    (verdict(stale=[A]), frozenset(), 0, waiting.STALE),
    (verdict(released=[A]), frozenset(), 5, waiting.RECHECK),               # released as we looked
    (verdict(released=[A]), frozenset(), 0, waiting.GIVE_UP),
], ids=["live", "live-deadline", "live-and-stale", "stale-first", "stale-again", "stale-other", "stale-deadline",
        "released", "released-deadline"])
def test_wait_lock_steps(v, seen, left, step):
    assert waiting.next_step(v, seen, left) == step


def test_a_file_locations_record_is_read_and_its_absence_means_released(tmp_path):
    write_lock(tmp_path, A, 4242)
    said = Lock(A, "liar", "nowhere", 1, WRITTEN)
    here = NamedLock(f"file://{tmp_path}/{A}", said)
    gone = NamedLock(f"file://{tmp_path}/{B}", Lock(B, "root", HERE, 2, WRITTEN))
    unreadable = NamedLock(f"s3://bucket/{A}", said)
    found = dict((n.said.key if n is not unreadable else "s3", r) for n, r in waiting.current_records([here, gone, unreadable]))
    assert found[A].pid == 4242 and found[A].user == "root"  # the record, not the message
    assert found[B] is None
    assert found["s3"] == said  # nothing to read: the message's word


def test_a_lock_under_a_home_relative_file_backend_is_read_there(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write_lock(tmp_path / "stacks", A, 4242)
    lock = NamedLock(f"file://~/stacks/{A}", Lock(A, "root", HERE, 1, WRITTEN))
    assert waiting.current_records([lock])[0][1].pid == 4242


def test_a_postgres_lock_in_no_database_we_know_is_taken_from_the_message(monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "postgres://u@db.example.org:5432/other")
    monkeypatch.setenv("NOVALAB_STATE_DIR", "/nonexistent/novalab-state")
    lock = NamedLock(f"postgres://****:****@db.example.org:5432/pulumi/{A}?sslmode=disable", Lock(A, "r", "h", 3, WRITTEN))
    assert waiting.current_records([lock]) == [(lock, lock.said)]
    assert waiting.same_database(lock.location, "postgres://u:pw@db.example.org/pulumi")
    assert not waiting.same_database(lock.location, "postgres://u:pw@db.example.org:5433/pulumi")


def test_a_postgres_lock_is_matched_to_its_row_whatever_prefix_the_row_has(monkeypatch):
    # Pulumi keys a postgres:// backend's rows under the database's name: novalab_state/.pulumi/locks/...
    monkeypatch.setenv("PULUMI_BACKEND_URL", "postgres://novalab@127.0.0.1:55432/novalab_state?passfile=/p")
    monkeypatch.setenv("NOVALAB_STATE_DIR", "/nonexistent/novalab-state")
    row = Lock(f"novalab_state/{A}", "root", HERE, 99, WRITTEN)
    monkeypatch.setattr(waiting, "read_locks", lambda url: [row, Lock(f"novalab_state/{B}", "root", HERE, 98, WRITTEN)])
    location = f"postgres://****:****@127.0.0.1:55432/novalab_state/{A}?sslmode=disable&passfile=%2Fp"
    named = locks.parse_lock_message(f"  {location}: created by someone@else (pid 1) at {WRITTEN}")
    assert waiting.current_records(named) == [(named[0], row)]


# --- locks on a file backend, and wait-lock with a stand-in pulumi ----------------------------------


def test_read_locks_of_a_file_backend_and_refuse_what_it_cannot_read(tmp_path):
    write_lock(tmp_path, A, 10)
    write_lock(tmp_path, ".pulumi/locks/organization/other/dev/c.json", 11)
    assert [(lock.key, lock.pid) for lock in read_locks(f"file://{tmp_path}")] == \
        [(A, 10), (".pulumi/locks/organization/other/dev/c.json", 11)]
    assert read_locks(f"file://{tmp_path}/empty") == []
    with pytest.raises(BackendError, match=r"not s3://"):
        read_locks("s3://bucket/prefix")


def state_sh(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(STATE_SH), *args], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout)


def test_a_live_pid_counts_as_the_holder_unless_it_is_another_program_started_after_the_lock(tmp_path):
    # Two locks written in 2020 by pids that are alive now: a `pulumi` is the holder (clocks aside),
    # anything else under that pid is a reused pid, so its lock is stale.
    procs = {name: live_process_named(tmp_path, name) for name in ("pulumi", "other")}
    try:
        for name, proc in procs.items():
            path = write_lock(tmp_path, f".pulumi/locks/organization/novalab/reuse/{name}.json", proc.pid)
            path.write_text(path.read_text().replace(time.strftime("%Y-"), "2020-", 1))
        listed = state_sh("locks", "reuse", env={"PULUMI_BACKEND_URL": f"file://{tmp_path}"})
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("pid ")[1].split()[0]: line for line in listed.stdout.splitlines() if " pid " in line}
    assert "running" in rows[str(procs["pulumi"].pid)], listed.stdout
    assert "STALE" in rows[str(procs["other"].pid)], listed.stdout


def stand_in(tmp_path: Path, location: str, holder: str, locked_tries: int) -> Path:
    """A pulumi whose first LOCKED_TRIES runs meet the lock at LOCATION, said to be held by HOLDER."""
    calls, standin = tmp_path / "calls", tmp_path / "pulumi-stand-in"
    standin.write_text(f"""#!/bin/bash
echo up >> {calls}
if [ "$(wc -l < {calls})" -le {locked_tries} ]; then
  echo 'error: {LOCKED} 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.' >&2
  echo '  {location}: created by {holder}' >&2
  exit 255
fi
echo updated
""")
    standin.chmod(0o755)
    return standin


@pytest.mark.parametrize("backend", ["file", "s3"])
@pytest.mark.parametrize("locked_tries, stale", [(1, False), (99, True)], ids=["released", "left-behind"])
def test_wait_lock_calls_a_gone_holder_stale_only_when_its_lock_is_still_there(tmp_path, backend, locked_tries, stale):
    # Two ups started together can both lose Pulumi's write-then-check lock, each naming the other, which
    # has exited (its lock deleted) by the time the waiter looks: that lock is not stale, a retry runs.
    # A lock a killed run left behind names the same gone holder again: stale, without sleeping longer.
    # On a file backend the lock's record tells; on one it cannot read (s3), the message's holder.
    key = ".pulumi/locks/organization/novalab/racetest/1.json"
    pid = gone_pid()
    if backend == "file" and stale:
        write_lock(tmp_path, key, pid)
    location = f"file://{tmp_path}/{key}" if backend == "file" else f"s3://bucket/{key}"
    holder = f"root@{HERE} (pid {pid}) at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
    proc = state_sh("wait-lock", "60", "--", str(stand_in(tmp_path, location, holder, locked_tries)), env={})
    tries = len((tmp_path / "calls").read_text().splitlines())
    if stale:
        assert proc.returncode == 255 and "the lock is stale" in proc.stderr, proc.stderr
        assert "./novalab state unlock organization/novalab/racetest" in proc.stderr, proc.stderr
        assert tries == 2, f"a stale lock is confirmed by one retry, not waited on: {tries} tries"
    else:
        assert proc.returncode == 0 and "updated" in proc.stdout, proc.stderr
        assert "stale" not in proc.stderr and tries == 2, (tries, proc.stderr)


def test_wait_lock_names_the_holder_its_record_names_not_the_message(tmp_path):
    key = ".pulumi/locks/organization/novalab/recordtest/1.json"
    holding = live_process_named(tmp_path, "pulumi")
    try:
        write_lock(tmp_path, key, holding.pid)
        standin = stand_in(tmp_path, f"file://{tmp_path}/{key}", "someone@elsewhere (pid 1) at 2020-01-01T00:00:00Z", 99)
        proc = state_sh("wait-lock", "1", "--", str(standin), env={})
    finally:
        holding.kill()
        holding.wait()
    assert proc.returncode == 255, proc.stderr
    assert f"gave up waiting for the lock after 1 s (held by root@{HERE} pid {holding.pid} since" in proc.stderr, proc.stderr
    ours = [line for line in proc.stderr.splitlines() if line.startswith(("==> ", "state: "))]
    assert ours and not any("someone@elsewhere" in line for line in ours), ours


def test_wait_lock_passes_other_failures_through_with_their_exit_code(tmp_path):
    script = tmp_path / "fails"
    script.write_text("#!/bin/sh\necho out; echo 'error: something else' >&2; exit 7\n")
    script.chmod(0o755)
    proc = state_sh("wait-lock", "60", "--", str(script), env={})
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, "out\n", "error: something else\n")


@pytest.mark.parametrize("args, code, word", [
    (["wait-lock"], 2, "usage"), (["wait-lock", "5"], 2, "usage"), (["wait-lock", "soon", "--", "true"], 1, "whole number"),
    (["locks"], 2, "usage: state.sh locks STACK"), (["frobnicate"], 2, "unknown command"),
])
def test_bad_arguments_say_what_to_give(args, code, word):
    proc = state_sh(*args, env={})
    assert proc.returncode == code and word in proc.stderr, proc.stderr


def test_backend_url_is_silent_with_exit_1_when_nothing_is_set_up(tmp_path):
    proc = state_sh("backend-url", env={"NOVALAB_STATE_DIR": str(tmp_path / "none")})
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", "")


def test_help_lists_every_command():
    out = state_sh("help", env={}).stdout
    for command in ("up", "down", "status", "backend-url", "locks", "unlock", "wait-lock", "backup", "restore", "psql"):
        assert f"state/state.sh {command}" in out, command


def test_wait_lock_says_when_the_command_cannot_run(tmp_path):
    proc = state_sh("wait-lock", "5", "--", str(tmp_path / "no-such-pulumi"), env={})
    assert proc.returncode == 127 and "cannot run" in proc.stderr and "no-such-pulumi" in proc.stderr, proc.stderr
