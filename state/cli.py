"""novalab's own PostgreSQL for Pulumi state (Pulumi's built-in DIY backend `postgres://`), for a team
that has none, and the lock handling Pulumi leaves to the user.

  state/state.sh up                 create (first time) and start it; idempotent
  state/state.sh down               stop it; the data stays (`up` brings it back)
  state/state.sh status             running or not, where, its stacks and locks (exit 0 up, 3 down)
  state/state.sh backend-url        the PULUMI_BACKEND_URL for it: exit 0 and print it when up,
                                    1 (silent) when none is set up here, 2 with a message when down
  state/state.sh locks STACK        who holds STACK's lock (host, pid, time) and whether it is alive
  state/state.sh unlock STACK       clear STACK's lock with `pulumi cancel`, only when every holder
                                    is a process of this host that is gone
  state/state.sh wait-lock SECONDS -- COMMAND...
                                    run COMMAND (pulumi up/preview); while it fails on the stack's
                                    lock, retry until SECONDS have passed
  state/state.sh backup FILE        pg_dump of the state database (custom format)
  state/state.sh restore FILE       pg_restore of such a dump, in one transaction
  state/state.sh psql [ARGS...]     psql as novalab's role on its database

locks/unlock read the backend in PULUMI_BACKEND_URL (postgres:// or file://) when it is set, else
this database; wait-lock reads the lock records the CLI's message names (any backend: for one it
cannot read, the message's own holder).
Environment: NOVALAB_STATE_DIR (default /var/lib/novalab-state), NOVALAB_STATE_PORT (the port at the
first `up`, then kept in the state directory).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from .backend import PG_BIN, PG_MAJOR, BackendError, read_locks
from .cluster import DATABASE, ROLE, TABLE, Cluster, Fail, log
from .locks import DESCRIPTIONS, GONE, ELSEWHERE, Lock, LockError, matches_stack, state_of
from .urls import URLError
from .waiting import wait_lock

ROOT = Path(__file__).resolve().parent.parent

# Each stack's checkpoint size, and its rows with history and backups: Pulumi keys rows as files,
# [PREFIX/].pulumi/{stacks,history,backups}/PROJECT/STACK...
STACKS_SQL = rf"""
SELECT to_regclass('{TABLE}') IS NOT NULL AS present \gset
\if :present
SELECT coalesce(json_agg(json_build_array(s.stack, s.bytes,
       (SELECT count(*) FROM {TABLE} r WHERE r.key ~ ('\.pulumi/(stacks|history|backups)/' || s.stack || '[./]')),
       (SELECT sum(pg_column_size(r.data)) FROM {TABLE} r WHERE r.key ~ ('\.pulumi/(stacks|history|backups)/' || s.stack || '[./]')))
       ORDER BY s.stack), '[]')
FROM (SELECT regexp_replace(key, '^.*\.pulumi/stacks/(.*)\.json$', '\1') AS stack, pg_column_size(data) AS bytes
      FROM {TABLE} WHERE key ~ '\.pulumi/stacks/.*\.json$') s;
\else
SELECT 'null';
\endif
"""


def lock_lines(locks: Sequence[Lock], here: str) -> list[str]:
    return [f"  {lock.holder}: {DESCRIPTIONS[state_of(lock, here)]}  ({lock.key})" for lock in locks]


def backend_url(cluster: Cluster) -> int:
    if not cluster.configured():
        return 1
    if not cluster.accepting():
        raise Fail(f"novalab's state database ({cluster.root}) is down: run ./novalab state up "
                   "(or set PULUMI_BACKEND_URL to use another backend)", 2)
    if not os.access(cluster.passfile, os.R_OK):
        raise Fail(f"cannot read {cluster.passfile} (the state database's password file): run as its owner, "
                   "or set PULUMI_BACKEND_URL", 2)
    print(cluster.backend_url())
    return 0


def status(cluster: Cluster) -> int:
    if not cluster.configured():
        print(f"no state database in {cluster.root} (./novalab state up creates one)")
        return 3
    print(f"data directory: {cluster.pgdata}")
    print(f"configuration:  {cluster.conf_dir} (postgresql-common cluster {PG_MAJOR}/{cluster.conf_dir.name})")
    print(f"address:        127.0.0.1:{cluster.port}, database {DATABASE}, role {ROLE}, password file {cluster.passfile}")
    pid = cluster.server_pid()
    if pid is None:
        print("server:         down (./novalab state up)")
        return 3
    print(f"server:         up, pid {pid}")
    print(f"backend URL:    {cluster.backend_url()}")
    stacks = json.loads(cluster.role_psql([], STACKS_SQL))
    if stacks is None:
        print("stacks:         none yet")
        return 0
    print("stacks (checkpoint bytes, rows with history and backups, bytes of those rows):")
    for name, size, rows, total in stacks:
        print(f"  {name:<40} {size:>10} {rows:>6} {total:>10}")
    locks = read_locks(cluster.backend_url())
    if not locks:
        print("locks:          none")
    else:
        print("locks:")
        print("\n".join(lock_lines(locks, socket.gethostname())))
    return 0


def active_backend(cluster: Cluster) -> str:
    """The backend the lock commands look at: the user's PULUMI_BACKEND_URL, else this database."""
    if os.environ.get("PULUMI_BACKEND_URL"):
        return os.environ["PULUMI_BACKEND_URL"]
    if not cluster.configured():
        raise Fail("no backend to look at: set PULUMI_BACKEND_URL (postgres:// or file://) or run ./novalab state up")
    if not cluster.accepting():
        raise Fail(f"novalab's state database ({cluster.root}) is down: run ./novalab state up", 2)
    return cluster.backend_url()


def stack_locks(cluster: Cluster, stack: str) -> tuple[str, list[Lock]]:
    url = active_backend(cluster)
    return url, [lock for lock in read_locks(url) if matches_stack(lock.key, stack)]


def locks(cluster: Cluster, stack: str) -> int:
    found = stack_locks(cluster, stack)[1]
    if not found:
        print(f"{stack}: not locked")
        return 0
    print(f"{stack} is locked:")
    print("\n".join(lock_lines(found, socket.gethostname())))
    return 0


def pulumi_bin() -> str:
    found = shutil.which("pulumi")
    if found:
        return found
    proc = subprocess.run([str(ROOT / "engine" / "engine.sh"), "path"], capture_output=True, text=True)
    built = Path(proc.stdout.strip()) / "pulumi"
    if proc.returncode == 0 and proc.stdout.strip() and os.access(built, os.X_OK):
        return str(built)
    raise Fail("no pulumi: run ./novalab setup")


def unlock(cluster: Cluster, stack: str) -> int:
    url, found = stack_locks(cluster, stack)
    if not found:
        print(f"{stack}: not locked")
        return 0
    here, blocked = socket.gethostname(), False
    for lock in found:
        state = state_of(lock, here)
        if state == GONE:
            print(f"stale lock: {lock.holder} (that process is gone)")
        elif state == ELSEWHERE:
            print(f"{stack} is held from another host: {lock.holder}; check there that the run is gone, "
                  "then run `pulumi cancel` yourself", file=sys.stderr)
            blocked = True
        else:
            print(f"{stack} is held by a running process: {lock.holder}; not clearing it", file=sys.stderr)
            blocked = True
    if blocked:
        return 1
    # `pulumi cancel` on a DIY backend deletes every lock file of the stack: it does not stop any process.
    env = {**os.environ, "PULUMI_BACKEND_URL": url, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    rc = subprocess.run([pulumi_bin(), "cancel", "--yes", "-s", found[-1].stack], env=env,
                        stdout=subprocess.DEVNULL).returncode
    if rc != 0:
        return rc
    print(f"{stack}: lock cleared (pulumi cancel deleted the stack's lock files)")
    return 0


def require_up(cluster: Cluster) -> None:
    if not cluster.configured():
        raise Fail(f"no state database in {cluster.root}: run ./novalab state up")
    if not cluster.accepting():
        raise Fail("the state database is down: run ./novalab state up", 2)


def backup(cluster: Cluster, file: str) -> int:
    require_up(cluster)
    # The dump holds every stack's state: secrets in it are ciphertext, the rest is not; keep it 0600.
    tmp = f"{file}.tmp"
    rc = subprocess.run([str(PG_BIN / "pg_dump"), "--format=custom", "--no-owner", f"--file={tmp}"],
                        env=cluster.role_env(), umask=0o077).returncode
    if rc != 0:
        Path(tmp).unlink(missing_ok=True)
        return rc
    os.replace(tmp, file)
    log(f"backup written: {file}")
    return 0


def restore(cluster: Cluster, file: str) -> int:
    if not Path(file).is_file():
        raise Fail(f"no such file: {file}")
    require_up(cluster)
    here = socket.gethostname()
    held = [lock for lock in read_locks(cluster.backend_url()) if state_of(lock, here) != GONE]
    if held:
        raise Fail(f"a run holds a stack lock ({'; '.join(lock.holder for lock in held)}): restore when it is done")
    # One transaction: the database is either the dump's or unchanged.
    rc = subprocess.run([str(PG_BIN / "pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
                         f"--dbname={DATABASE}", file], env=cluster.role_env()).returncode
    if rc != 0:
        return rc
    log(f"restored {file} into {DATABASE}")
    return 0


def run_psql(cluster: Cluster, args: Sequence[str]) -> int:
    require_up(cluster)
    binary = str(PG_BIN / "psql")
    os.execve(binary, [binary, "-X", "-v", "ON_ERROR_STOP=1", *args], cluster.role_env())


def one_arg(args: Sequence[str], usage: str) -> str:
    if len(args) != 1 or not args[0]:
        raise Fail(f"usage: state.sh {usage}", 2)
    return args[0]


def main(argv: Sequence[str]) -> int:
    command, args = (argv[0], list(argv[1:])) if argv else ("help", [])
    cluster = Cluster.from_env()
    commands: dict[str, Callable[[], int]] = {
        "up": lambda: cluster.up() or 0,
        "down": lambda: cluster.down() or 0,
        "status": lambda: status(cluster),
        "backend-url": lambda: backend_url(cluster),
        "locks": lambda: locks(cluster, one_arg(args, "locks STACK")),
        "unlock": lambda: unlock(cluster, one_arg(args, "unlock STACK")),
        "wait-lock": lambda: wait_lock(args),
        "backup": lambda: backup(cluster, one_arg(args, "backup FILE")),
        "restore": lambda: restore(cluster, one_arg(args, "restore FILE")),
        "psql": lambda: run_psql(cluster, args),
    }
    if command in ("help", "-h", "--help"):
        print(__doc__.strip())
        return 0
    try:
        if command not in commands:
            raise Fail(f"unknown command: {command} (state.sh help)", 2)
        return commands[command]()
    except (BackendError, LockError, URLError) as e:
        print(f"state: {e}", file=sys.stderr)
        return 1
    except Fail as e:
        print(f"state: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130
