"""The lock records of a DIY backend, read as Pulumi writes them: a file:// backend's files, a
postgres:// backend's rows (psql, connected as the URL says; a password in the URL reaches libpq only
through a 0600 pgpass file that lives as long as that psql)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .locks import LOCK_DIR, Lock, parse_lock
from .urls import PostgresTarget, file_backend_dir, parse_postgres_url, pgpass_any, scheme

PG_MAJOR = 15  # Debian 12's PostgreSQL: packages postgresql-15 and postgresql-client-15
PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")

# The lock rows as one JSON array of [key, base64 of the file] (Pulumi keeps each file base64 in a
# JSON object: pkg/backend/diy/postgres/bucket.go). The table is not there until Pulumi first used the
# database. to_regclass resolves `table=` as Pulumi does, and its text is a quoted name.
LOCK_ROWS_SQL = r"""
SELECT to_regclass(:'table')::text AS tbl \gset
\if :{?tbl}
SELECT coalesce(json_agg(json_build_array(key, data->>'data') ORDER BY key), '[]')
  FROM :tbl WHERE key LIKE '%.pulumi/locks/%.json';
\else
SELECT '[]';
\endif
"""


class BackendError(RuntimeError):
    """A backend that cannot be read; the message says why (never with a password)."""


def where(url: str) -> str:
    """A backend URL for messages: its scheme, host, port and path, no credentials or parameters."""
    if scheme(url) in ("postgres", "postgresql"):
        target = parse_postgres_url(url)
        return f"postgres://{target.host}:{target.port or 5432}/{target.dbname}"
    return url.split("?", 1)[0]


@contextmanager
def libpq_env(target: PostgresTarget) -> Iterator[dict[str, str]]:
    """The environment for a libpq client (psql) connecting to TARGET."""
    env = {**os.environ, **target.libpq_env()}
    if target.password is None:
        yield env
        return
    fd, path = tempfile.mkstemp(prefix="novalab-pgpass-")  # 0600, this user's
    try:
        with os.fdopen(fd, "w") as f:
            f.write(pgpass_any(target.password))
        env.pop("PGPASSWORD", None)
        env["PGPASSFILE"] = path
        yield env
    finally:
        os.unlink(path)


def psql(args: Sequence[str], env: dict[str, str], sql: str = "") -> str:
    """psql ARGS with SQL on stdin; its output, or BackendError with its message."""
    binary = PG_BIN / "psql"
    if not binary.exists():
        raise BackendError(f"no {binary}: install Debian's postgresql-client-{PG_MAJOR}")
    proc = subprocess.run([str(binary), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *args],
                          input=sql, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackendError(proc.stderr.strip() or f"psql failed (exit {proc.returncode})")
    return proc.stdout


def read_locks(url: str) -> list[Lock]:
    """Every lock record of the backend at URL (all stacks), by key."""
    kind = scheme(url)
    if kind == "file":
        return sorted(_file_locks(file_backend_dir(url, Path.home())), key=lambda lock: lock.key)
    if kind in ("postgres", "postgresql"):
        target = parse_postgres_url(url)
        with libpq_env(target) as env:
            try:
                out = psql(["-v", f"table={target.table}"], env, LOCK_ROWS_SQL)
            except BackendError as e:
                raise BackendError(f"cannot read the locks in {where(url)}: {e}") from None
        try:
            return [parse_lock(key, base64.b64decode(data, validate=True)) for key, data in json.loads(out)]
        except (ValueError, TypeError, binascii.Error) as e:
            raise BackendError(f"the lock rows in {where(url)} are not Pulumi's: {e}") from None
    raise BackendError(f"locks: only postgres:// and file:// backends can be read here (not {kind or 'that'}://)")


def _file_locks(directory: Path) -> Iterator[Lock]:
    for path in (directory / LOCK_DIR).rglob("*.json"):
        try:
            content = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            continue  # released while we looked
        yield parse_lock(path.relative_to(directory).as_posix(), content)
