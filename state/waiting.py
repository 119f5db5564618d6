"""`state.sh wait-lock SECONDS -- COMMAND...`: run COMMAND (a pulumi up or preview); while it fails on
the stack's lock, retry until SECONDS have passed, then fail naming the holder.

The CLI's lock error is how a refusal is recognised, and it names each lock; the holder comes from
that lock's record (a file:// backend's file, a postgres:// backend's row), which is also how a
released lock is told from a left-behind one. For other backends (s3://, ...) the error's own
"created by USER@HOST (pid PID)" is all there is.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence
from urllib.parse import unquote, urlsplit

from .backend import BackendError, read_locks
from .cluster import Cluster, Fail, log
from .locks import (GONE, LOCKED_MESSAGE, Lock, LockError, NamedLock, lock_id, parse_lock, parse_lock_message,
                    state_of)
from .urls import URLError, file_backend_dir, parse_postgres_url, scheme

WAIT, RECHECK, STALE, GIVE_UP = "wait", "recheck", "stale", "give up"


@dataclass
class Verdict:
    """The locks a refused try named: held by a live process (or from another host), left by a
    process that is gone, or released already (no record any more)."""

    live: list[Lock] = field(default_factory=list)
    stale: list[Lock] = field(default_factory=list)
    released: list[NamedLock] = field(default_factory=list)


def classify(holders: Sequence[tuple[NamedLock, Optional[Lock]]], state: Callable[[Lock], str]) -> Verdict:
    """Each named lock with its current record (None: released) sorted by its holder's state."""
    verdict = Verdict()
    for named, record in holders:
        if record is None:
            verdict.released.append(named)
        elif state(record) == GONE:
            verdict.stale.append(record)
        else:
            verdict.live.append(record)
    return verdict


def next_step(verdict: Verdict, seen_stale: frozenset[str], time_left: float) -> str:
    """What to do after a refused try. Pulumi's DIY lock writes, then checks, and a loser deletes its
    own lock: two runs started together can both lose, each naming the other, which has exited by the
    time we look (seen: both waiters called a released lock stale). So a gone holder is stale only when
    the next try names the same lock again."""
    if verdict.live:
        return WAIT if time_left > 0 else GIVE_UP
    if verdict.stale:
        keys = frozenset(lock.key for lock in verdict.stale)
        return RECHECK if keys != seen_stale and time_left > 0 else STALE
    return RECHECK if time_left > 0 else GIVE_UP  # released already: try again at once


def holders(locks: Sequence[Lock]) -> str:
    return "; ".join(lock.holder for lock in locks) or "nobody any more"


def same_database(location: str, url: str) -> bool:
    """Whether a lock's location in the CLI's error (credentials masked) lies in the database at URL."""
    try:
        target = parse_postgres_url(url)
        parts = urlsplit(location)
        return (parts.hostname or "", parts.port or 5432, unquote(parts.path).split("/")[1]) == \
            (target.host, target.port or 5432, target.dbname)
    except (URLError, ValueError, IndexError):
        return False


def current_records(named: Sequence[NamedLock]) -> list[tuple[NamedLock, Optional[Lock]]]:
    """Each named lock's record as it is now (None: released), or the error's word where the
    backend cannot be read here."""
    found: list[tuple[NamedLock, Optional[Lock]]] = []
    for lock in named:
        kind = scheme(lock.location)
        try:
            if kind == "file":
                path = file_backend_dir(lock.location, Path.home())  # file://~/... included
                try:
                    found.append((lock, parse_lock(lock.said.key, path.read_bytes())))
                except FileNotFoundError:
                    found.append((lock, None))
                continue
            if kind in ("postgres", "postgresql"):
                url = postgres_backend_for(lock.location)
                if url:
                    records = {lock_id(record.key): record for record in read_locks(url)}
                    found.append((lock, records.get(lock.said.key)))
                    continue
        except (OSError, BackendError, LockError, URLError) as e:
            log(f"cannot read the lock record ({e}): taking its holder from pulumi's message")
        found.append((lock, lock.said))
    return found


def postgres_backend_for(location: str) -> Optional[str]:
    """The URL (with its credentials) of the database a lock lies in: the user's PULUMI_BACKEND_URL,
    or novalab's own state database."""
    candidates = [os.environ.get("PULUMI_BACKEND_URL", "")]
    cluster = Cluster.from_env()
    if cluster.configured():
        candidates.append(cluster.backend_url())
    return next((url for url in candidates if url and same_database(location, url)), None)


def run_once(command: Sequence[str]) -> tuple[int, str, bool]:
    """COMMAND with stdout streaming and stderr held back; its exit code, stderr, and whether we were
    interrupted (Ctrl-C reaches the command too: it is left to finish its own clean-up, never killed,
    or it would leave its lock behind)."""
    interrupted = False
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(command, stderr=err)
        except OSError as e:
            raise Fail(f"wait-lock: cannot run {command[0]}: {e.strerror}", 127) from None
        while True:
            try:
                rc = proc.wait()
                break
            except KeyboardInterrupt:
                interrupted = True
        err.seek(0)
        return rc, err.read().decode(errors="replace"), interrupted


def wait_lock(args: Sequence[str]) -> int:
    usage = "usage: state.sh wait-lock SECONDS -- COMMAND..."
    if not args:
        raise Fail(usage, 2)
    seconds, command = args[0], list(args[1:])
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise Fail(usage, 2)
    if not seconds.isdigit():
        raise Fail(f"wait-lock: SECONDS must be a whole number, not '{seconds}'")
    deadline = time.monotonic() + int(seconds)
    here = socket.gethostname()
    pause, seen_stale = 1, frozenset()
    while True:
        rc, stderr, interrupted = run_once(command)
        if rc == 0 or interrupted or LOCKED_MESSAGE not in stderr:
            sys.stderr.write(stderr)
            return rc
        verdict = classify(current_records(parse_lock_message(stderr)), lambda lock: state_of(lock, here))
        time_left = deadline - time.monotonic()
        step = next_step(verdict, seen_stale, time_left)
        if step == RECHECK:
            if verdict.stale:
                seen_stale = frozenset(lock.key for lock in verdict.stale)
                log(f"the holder is gone ({holders(verdict.stale)}): trying again to see whether its lock is still there")
            else:
                log("the lock was released as we looked: trying again")
            time.sleep(random.randint(0, 19) / 10)  # noqa: S311 - a jitter, not a secret
            continue
        if step == STALE:
            sys.stderr.write(stderr)
            raise Fail(f"the lock is stale: {holders(verdict.stale)} (that process is gone). Waiting cannot help: "
                       f"clear it with ./novalab state unlock {verdict.stale[0].stack}", rc)
        if step == GIVE_UP:
            sys.stderr.write(stderr)
            raise Fail(f"gave up waiting for the lock after {seconds} s (held by {holders(verdict.live)})", rc)
        log(f"locked by {holders(verdict.live)}: waiting (up to {int(time_left)} s more)")
        # A random part, so two waiters that lost the same race do not retry in step.
        time.sleep(max(1, min(pause + random.randint(0, 1), time_left)))  # noqa: S311
        pause = min(pause * 2, 4)
