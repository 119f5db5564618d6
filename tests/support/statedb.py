"""Team state for the engine tests and benchmarks: a novalab state database made by state/state.sh
(its own directory and port), and a test stack of `command:remote:Command` steps against a test sshd.

Each step of the stack logs `start NAME` and `done NAME` on the "host" (a file), so a caller counts
what actually ran: a step that ran twice, or never, shows there.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .engine import ROOT, Pulumi, write_project
from .sshd import SSHD, free_port

STATE_SH = ROOT / "state" / "state.sh"
PASSWORD = "pg-state-test-s3cret-Zq81"

# Each step: log its start, take as long as the `delay` file says, keep a hash of the password it got
# on stdin (never the password), log its end. The delay is read at run time, so changing it changes
# no input: a re-run with a new delay is still a no-op.
PROGRAM = """
import pulumi
from pulumi_command import remote

cfg = pulumi.Config()
work = cfg.require("workDir")
conn = remote.ConnectionArgs(
    host="127.0.0.1", port=cfg.require_int("sshPort"), user=cfg.require("sshUser"),
    private_key=cfg.require_secret("sshPrivateKey"),
)
password = cfg.require_secret("password")
previous = []
for i in range(cfg.get_int("steps") or 3):
    name = f"step-{i}"
    step = remote.Command(
        name,
        connection=conn,
        stdin=password,
        create=(
            f"echo start {name} >> {work}/log; sleep $(cat {work}/delay); "
            f"sha256sum > {work}/{name}.sha256; echo done {name} >> {work}/log; echo {name}"
        ),
        opts=pulumi.ResourceOptions(depends_on=previous),
    )
    previous = [step]
pulumi.export("last", previous[0].stdout)
pulumi.export("password", password)
"""


# --- the state database ---------------------------------------------------------------------------


@dataclass
class StateDB:
    """One novalab state database, made by state/state.sh in its own directory and port."""

    directory: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PULUMI_BACKEND_URL"}
        env["NOVALAB_STATE_DIR"] = str(self.directory)
        return env

    def state(self, *args: str, check: bool = True, env: Optional[dict] = None, cwd: Optional[Path] = None,
              timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(STATE_SH), *args], env={**self.env, **(env or {})}, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"state.sh {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    @property
    def url(self) -> str:
        return self.state("backend-url").stdout.strip()

    def sql(self, query: str) -> list[list[str]]:
        out = self.state("psql", "-q", "-A", "-t", "-F", "\t", "-c", query).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def rows(self) -> dict[str, str]:
        """Every row of Pulumi's table, its `data` decoded (Pulumi stores each file base64 in JSON)."""
        return {
            key: base64.b64decode(json.loads(data)["data"]).decode("utf-8", "replace")
            for key, data in self.sql("SELECT key, data FROM pulumi_state")
        }


def make_state_db(port: Optional[int] = None) -> StateDB:
    # Under /var/tmp, not pytest's tmp_path: the server runs as `postgres`, which cannot enter
    # /tmp/pytest-of-root (0700).
    directory = Path(tempfile.mkdtemp(prefix="novalab-state-test-", dir="/var/tmp"))
    directory.chmod(0o755)
    db = StateDB(directory / "state")
    try:
        db.state("up", env={"NOVALAB_STATE_PORT": str(port or free_port())})
    except BaseException:
        remove_state_db(db)
        raise
    return db


def make_legacy_state_db(port: int) -> StateDB:
    """A state database as state.sh made it before it used postgresql-common (up to commit 827fe70):
    initdb's data directory with its configuration inside (novalab.conf included), started with
    pg_ctl, its settings and passfile beside it. For the test that `state up` takes it in."""
    directory = Path(tempfile.mkdtemp(prefix="novalab-state-legacy-", dir="/var/tmp"))
    directory.chmod(0o755)
    db = StateDB(directory / "state")
    pg, pgdata = "/usr/lib/postgresql/15/bin", db.directory / "pgdata"
    run, log = db.directory / "run", db.directory / "log"
    db.directory.mkdir(mode=0o755)
    for d in (run, log, pgdata):
        d.mkdir(mode=0o700)
        shutil.chown(d, "postgres")
    (db.directory / "settings").write_text(f"port={port}\nsuperuser=postgres\n")
    password = "legacyPassw0rd" * 2
    (db.directory / "passfile").write_text(f"127.0.0.1:{port}:novalab_state:novalab:{password}\n")
    (db.directory / "passfile").chmod(0o600)

    def as_postgres(*argv: str, sql: Optional[str] = None) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], input=sql, text=True, cwd="/", check=True,
                       stdout=subprocess.DEVNULL)

    try:
        as_postgres(f"{pg}/initdb", "-D", str(pgdata), "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                    "--auth-local=peer", "--auth-host=reject", "--no-instructions")
        files = {
            "novalab.conf": (f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{run}'\n"
                             "unix_socket_permissions = 0700\npassword_encryption = 'scram-sha-256'\n"),
            "pg_hba.conf": "local all postgres peer\nhost novalab_state novalab 127.0.0.1/32 scram-sha-256\n",
        }
        for name, text in files.items():
            (pgdata / name).write_text(text)
            shutil.chown(pgdata / name, "postgres")
        with open(pgdata / "postgresql.conf", "a") as conf:
            conf.write("include_if_exists = 'novalab.conf'\n")
        as_postgres(f"{pg}/pg_ctl", "-D", str(pgdata), "-l", str(log / "server.log"), "-w", "start")
        as_postgres(f"{pg}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(run), "-p", str(port), "-d", "postgres",
                    sql=f"CREATE ROLE novalab LOGIN PASSWORD '{password}';\nCREATE DATABASE novalab_state OWNER novalab;\n")
    except BaseException:  # nothing left behind: no server, no directory
        subprocess.run(["runuser", "-u", "postgres", "--", f"{pg}/pg_ctl", "-D", str(pgdata), "-m", "immediate",
                        "stop"], cwd="/", capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return db


def remove_state_db(db: StateDB) -> None:
    db.state("down", check=False)
    shutil.rmtree(db.directory.parent, ignore_errors=True)


# --- processes standing in for a lock's holder ---------------------------------------------------


def live_process_named(tmp_path: Path, name: str) -> subprocess.Popen:
    """A process that sleeps under the command name NAME (/proc/PID/comm), for the caller to kill."""
    (tmp_path / name).mkdir()
    shutil.copy("/bin/sleep", tmp_path / name / name)
    return subprocess.Popen([str(tmp_path / name / name), "300"])


def write_lock(backend: Path, key: str, pid: int, host: Optional[str] = None) -> Path:
    """A lock record as Pulumi writes it (compact JSON, no newline at the end) at KEY in the file
    backend BACKEND, held by PID on HOST (this host by default), written now."""
    path = backend / key
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": pid, "username": "root", "hostname": host or socket.gethostname(),
              "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path.write_text(json.dumps(record, separators=(",", ":")))
    return path


def gone_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --- the test stack --------------------------------------------------------------------------------


@dataclass
class Stack:
    pulumi: Pulumi
    work: Path

    def log(self) -> list[str]:
        path = self.work / "log"
        return path.read_text().splitlines() if path.exists() else []

    def count(self, word: str, step: str) -> int:
        return self.log().count(f"{word} {step}")

    def set_delay(self, seconds: float) -> None:
        (self.work / "delay").write_text(f"{seconds}\n")

    def spawn(self, *args: str, out: Path, wrapper: tuple[str, ...] = ()) -> subprocess.Popen:
        """`pulumi ARGS` (after WRAPPER, e.g. state.sh wait-lock) in the background, in a session of
        its own (so a caller can end the whole run), output to OUT.stdout / OUT.stderr."""
        argv = [*wrapper, str(self.pulumi.bin / "pulumi"), *args]
        return subprocess.Popen(
            argv, cwd=self.pulumi.project_dir, env=self.pulumi.env, stdin=subprocess.DEVNULL,
            stdout=open(f"{out}.stdout", "w"), stderr=open(f"{out}.stderr", "w"), start_new_session=True,
        )

    def up_args(self) -> tuple[str, ...]:
        return ("up", "-s", self.pulumi.stack, "--yes", "--skip-preview")

    def pending(self) -> list[str]:
        return [op["resource"]["urn"].rsplit("::", 1)[-1] for op in self.pulumi.export()["deployment"].get("pending_operations") or []]

    def step_names(self) -> list[str]:
        return [r["urn"].rsplit("::", 1)[-1] for r in self.pulumi.resources() if r["type"] == "command:remote:Command"]


def make_stack(tmp_path: Path, sshd: SSHD, backend_url: str, name: Optional[str] = None, steps: int = 3) -> Stack:
    """A fresh stack of the test program; by default named after the test (the database is shared)."""
    name = name or re.sub(r"[^A-Za-z0-9_-]", "-", tmp_path.name)[-60:]
    work = tmp_path / "host"
    work.mkdir(parents=True, exist_ok=True)
    (work / "delay").write_text("0\n")
    project = write_project(tmp_path / "project", PROGRAM, name="statetest")
    pulumi = Pulumi(project, tmp_path / "unused-file-backend", stack=name, env={"PULUMI_BACKEND_URL": backend_url}).init()
    pulumi.config("workDir", str(work))
    pulumi.config("sshPort", str(sshd.port))
    pulumi.config("sshUser", sshd.user)
    pulumi.config("steps", str(steps))
    pulumi.config("sshPrivateKey", sshd.private_key, secret=True)
    pulumi.config("password", PASSWORD, secret=True)
    return Stack(pulumi, work)
