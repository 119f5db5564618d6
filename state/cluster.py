"""novalab's own PostgreSQL for Pulumi state: one cluster of Debian's postgresql-common
(pg_createcluster, pg_ctlcluster), kept whole in one directory: its configuration under `conf/`
(PG_CLUSTER_CONF_ROOT, https://manpages.debian.org/bookworm/postgresql-common/pg_createcluster.1.en.html),
its data, socket, log, password file and settings. Loopback only, its own port, role and database; the
role's password is only in a 0600 pgpass file (the server is sent its SCRAM verifier, never the password).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import os
import pwd
import secrets
import shutil
import string
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

from .backend import PG_BIN, PG_MAJOR, BackendError, psql
from .urls import novalab_backend_url, parse_postgres_url

DEFAULT_PORT = 55432  # not 5432: the distribution's own cluster may want that one
CLUSTER = "novalab"   # the cluster's name in its own configuration root
ROLE = "novalab"
DATABASE = "novalab_state"
TABLE = "pulumi_state"  # Pulumi's default table for postgres://

SERVER_CONFIG = """\
# Written by novalab's state tooling (state/cluster.py) on every `state up`: edit there, not here.
listen_addresses = '127.0.0.1'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
log_statement = 'none'
max_connections = 40
# pg_ctlcluster would share /run/postgresql/15-novalab.pid among every state directory.
external_pid_file = ''
"""


class Fail(Exception):
    """An error for the user: the message, and the exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def log(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def scram_verifier(password: str, salt: bytes, iterations: int = 4096) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802, RFC 7677); PostgreSQL takes a
    verifier in ALTER ROLE ... PASSWORD as it is. PASSWORD is ASCII letters and digits, which
    SASLprep leaves as they are."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server)}"


class Cluster:
    """The state database in DIRECTORY (NOVALAB_STATE_DIR, default /var/lib/novalab-state)."""

    def __init__(self, directory: Path):
        self.root = directory
        self.settings_file = directory / "settings"  # port= and superuser=, written at the first `up`
        self.passfile = directory / "passfile"
        self.pgdata = directory / "pgdata"
        self.socket_dir = directory / "run"
        self.log_dir = directory / "log"
        self.conf_root = directory / "conf"
        self.conf_dir = self.conf_root / str(PG_MAJOR) / CLUSTER

    @classmethod
    def from_env(cls) -> "Cluster":
        return cls(Path(os.environ.get("NOVALAB_STATE_DIR", "/var/lib/novalab-state")))

    # --- facts ---------------------------------------------------------------------------------

    def configured(self) -> bool:
        return self.settings_file.is_file()

    def setting(self, key: str) -> str:
        for line in self.settings_file.read_text().splitlines():
            name, _, value = line.partition("=")
            if name == key:
                return value
        raise Fail(f"{self.settings_file} has no {key}")

    @property
    def port(self) -> int:
        return int(self.setting("port"))

    def backend_url(self) -> str:
        return novalab_backend_url(ROLE, self.port, DATABASE, self.passfile)

    def server_pid(self) -> Optional[int]:
        """The server's pid while it runs (its postmaster.pid, as pg_ctl status reads it)."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def accepting(self) -> bool:
        # As novalab's role, which pg_hba admits: the probe leaves no "no pg_hba.conf entry" in the log.
        return subprocess.run([str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "3",
                               "-U", ROLE, "-d", DATABASE],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0

    def role_env(self) -> dict[str, str]:
        """libpq's environment for novalab's role, from the backend URL (the password: its passfile)."""
        return {**os.environ, **parse_postgres_url(self.backend_url()).libpq_env()}

    def role_psql(self, args: Sequence[str], sql: str = "") -> str:
        return psql(args, self.role_env(), sql)

    # --- running postgresql-common's tools -----------------------------------------------------

    @staticmethod
    def server_user() -> str:
        """The cluster's owner: `postgres` when we are root (PostgreSQL refuses root), else ourselves."""
        return "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def as_server(self, argv: Sequence[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)

    def common(self, *args: str, what: str) -> str:
        """A postgresql-common tool on this cluster (pg_ctlcluster 15 novalab ...); its output."""
        env = {**os.environ, "PG_CLUSTER_CONF_ROOT": str(self.conf_root)}
        proc = subprocess.run(list(args), env=env, cwd="/", stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0:
            raise Fail(f"{what} failed (exit {proc.returncode}): {(proc.stdout + proc.stderr).strip()}")
        return proc.stdout

    def superuser_psql(self, sql: str) -> None:
        """SQL as the cluster's superuser, over the private socket (peer authentication)."""
        argv = self.as_server([str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-h", str(self.socket_dir), "-p", str(self.port), "-U", self.setting("superuser"),
                               "-d", "postgres"])
        proc = subprocess.run(argv, input=sql, cwd="/", capture_output=True, text=True)
        if proc.returncode != 0:
            raise Fail(f"setting up the role and database failed: {proc.stderr.strip()}")

    # --- up and down ---------------------------------------------------------------------------

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One `up` or `down` at a time (the fd is not inherited: subprocesses close it)."""
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def ensure_binaries(self) -> None:
        if (PG_BIN / "postgres").exists() and shutil.which("pg_createcluster"):
            return
        if os.geteuid() == 0 and shutil.which("apt-get"):
            log(f"installing Debian's PostgreSQL server (postgresql-{PG_MAJOR})")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", f"postgresql-{PG_MAJOR}"]):
                subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=False)
        if not (PG_BIN / "postgres").exists() or not shutil.which("pg_createcluster"):
            raise Fail(f"no PostgreSQL {PG_MAJOR} server: install Debian's postgresql-{PG_MAJOR} (with postgresql-common)")

    def up(self) -> None:
        self.ensure_binaries()
        if not self.root.exists():
            self.root.mkdir(parents=True)
            self.root.chmod(0o755)
        with self.exclusive():
            self.first_time_setup()
            self.write_server_config()
            if self.server_pid() is None:
                log(f"starting the state database (127.0.0.1:{self.port}, data in {self.pgdata})")
                try:
                    self.common("pg_ctlcluster", str(PG_MAJOR), CLUSTER, "start", what="pg_ctlcluster start")
                except Fail as e:
                    raise Fail(f"the server did not start: see {self.log_dir / 'server.log'}\n{e}") from None
            else:
                self.common("pg_ctlcluster", str(PG_MAJOR), CLUSTER, "reload", what="pg_ctlcluster reload")
            self.ensure_role_and_database()
        log(f"state database up; backend URL: {self.backend_url()}")

    def down(self) -> None:
        if not self.configured():
            log(f"no state database in {self.root}")
            return
        with self.exclusive():
            self.adopt_if_unregistered()
            if self.server_pid() is None:
                log(f"state database already down (data in {self.pgdata})")
                return
            self.common("pg_ctlcluster", str(PG_MAJOR), CLUSTER, "stop", "-m", "fast", what="pg_ctlcluster stop")
            log(f"state database stopped (data kept in {self.pgdata}; ./novalab state up starts it again)")

    def first_time_setup(self) -> None:
        user = self.server_user()
        # The server user walks down to its data directory: a parent it cannot enter would fail later,
        # obscurely (pytest's /tmp/pytest-of-root is 0700, for one).
        if subprocess.run(self.as_server(["test", "-x", str(self.root)])).returncode != 0:
            raise Fail(f"user {user} cannot enter {self.root}: put NOVALAB_STATE_DIR where every parent "
                       "is searchable (e.g. under /var/lib)")
        for directory in (self.socket_dir, self.log_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
            shutil.chown(directory, user)
        if not self.configured():
            port = os.environ.get("NOVALAB_STATE_PORT", str(DEFAULT_PORT))
            if not port.isdigit() or not 1024 <= int(port) <= 65535:
                raise Fail(f"NOVALAB_STATE_PORT must be a port number from 1024 to 65535, not {port!r}")
            write_file(self.settings_file, f"port={port}\nsuperuser={user}\n", 0o644)
        if not self.passfile.exists() or self.passfile.stat().st_size == 0:
            password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
            # pgpass format host:port:database:user:password; the file is the only place it is written.
            write_file(self.passfile, f"127.0.0.1:{self.port}:{DATABASE}:{ROLE}:{password}\n", 0o600)
        if not self.adopt_if_unregistered():
            log(f"creating the state cluster in {self.pgdata} (pg_createcluster {PG_MAJOR} {CLUSTER})")
            self.create_cluster(["--locale", "C.UTF-8", "-e", "UTF8", "--", "--auth-local=peer", "--auth-host=reject"])

    def create_cluster(self, extra: Sequence[str]) -> None:
        """pg_createcluster: a new cluster, or an existing data directory taken in as it is."""
        output = self.common(
            "pg_createcluster", str(PG_MAJOR), CLUSTER, "-d", str(self.pgdata), "-s", str(self.socket_dir),
            "-l", str(self.log_dir / "server.log"), "-p", str(self.port), "--start-conf", "manual",
            "-o", "ssl=off", "-o", "include_dir=conf.d", *extra, what="pg_createcluster")
        (self.log_dir / "createcluster.log").write_text(output)

    def adopt_if_unregistered(self) -> bool:
        """A data directory made by novalab before it used postgresql-common (initdb and pg_ctl, its
        configuration inside) becomes this cluster, data kept; True when the cluster is registered."""
        if (self.conf_dir / "postgresql.conf").exists():
            return True
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        log(f"taking {self.pgdata} into postgresql-common (pg_createcluster {PG_MAJOR} {CLUSTER})")
        if self.server_pid() is not None:  # started by pg_ctl: pg_ctlcluster cannot stop it yet
            stop = self.as_server([str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
            if subprocess.run(stop, cwd="/", stdout=subprocess.DEVNULL).returncode != 0:
                raise Fail(f"could not stop the server of {self.pgdata} to take it in: see {self.log_dir / 'server.log'}")
        (self.pgdata / "novalab.conf").unlink(missing_ok=True)
        self.create_cluster([])
        return True

    def write_server_config(self) -> None:
        user = self.server_user()
        write_file(self.conf_dir / "conf.d" / "novalab.conf", SERVER_CONFIG, 0o644, owner=user)
        write_file(self.conf_dir / "pg_hba.conf",
                   "# Written by novalab's state tooling on every `state up`: the superuser on the private socket,\n"
                   "# novalab's role on loopback.\n"
                   f"local all {self.setting('superuser')} peer\n"
                   f"host {DATABASE} {ROLE} 127.0.0.1/32 scram-sha-256\n", 0o640, owner=user)

    def ensure_role_and_database(self) -> None:
        self.superuser_psql(
            f"SELECT 'CREATE ROLE {ROLE} LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}')\\gexec\n"
            f"SELECT 'CREATE DATABASE {DATABASE} OWNER {ROLE}' WHERE NOT EXISTS "
            f"(SELECT 1 FROM pg_database WHERE datname = '{DATABASE}')\\gexec\n"
            f"REVOKE ALL ON DATABASE {DATABASE} FROM PUBLIC;\n")
        if self.logs_in():
            return
        # First time (or a new passfile): the role gets the file's password, as its SCRAM verifier on
        # psql's stdin (no command line, no environment; the server never sees the password itself).
        password = self.passfile.read_text().split("\n", 1)[0].split(":")[4]
        if not password:
            raise Fail(f"{self.passfile} holds no password")
        self.superuser_psql(f"ALTER ROLE {ROLE} WITH LOGIN PASSWORD '{scram_verifier(password, os.urandom(16))}';\n")
        if not self.logs_in():
            raise Fail(f"cannot log in as {ROLE} on 127.0.0.1:{self.port} with {self.passfile}")

    def logs_in(self) -> bool:
        try:
            self.role_psql(["-c", "SELECT 1"])
        except BackendError:
            return False
        return True


def write_file(path: Path, text: str, mode: int, owner: Optional[str] = None) -> None:
    """PATH with TEXT, MODE and OWNER, replaced whole (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    if owner:
        shutil.chown(tmp, owner)
    os.replace(tmp, path)
