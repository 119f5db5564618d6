"""Pulumi's stack locks on a DIY backend: the lock record, the CLI's lock error, and whether a lock's
holder still runs. Pure but for `process_info`, which reads /proc.

Every run that changes a stack writes `.pulumi/locks/ORG/PROJECT/STACK/ID.json`, the JSON of the CLI's
`lockContent` ({"pid", "username", "hostname", "timestamp"}), then looks for other locks and, finding
one, deletes its own and fails with LOCKED_MESSAGE naming each one's location and holder
(pkg/backend/diy/lock.go in pulumi/pulumi v3.274.1).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit

LOCK_DIR = ".pulumi/locks"
LOCKED_MESSAGE = "the stack is currently locked by"

ALIVE, GONE, ELSEWHERE = "alive", "gone", "elsewhere"
DESCRIPTIONS = {ALIVE: "running", GONE: "STALE: that process is gone", ELSEWHERE: "held from another host: check there"}

# One holder line of the CLI's lock error: "  LOCATION: created by USER@HOST (pid PID) at TIME".
_HOLDER_LINE = re.compile(r"^\s+(?P<location>\S+): created by (?P<user>[^@]*)@(?P<host>.*) "
                          r"\(pid (?P<pid>\d+)\) at (?P<when>\S+)\s*$")


class LockError(ValueError):
    """A lock record that is not one Pulumi writes; the message names its key."""


@dataclass(frozen=True)
class Lock:
    key: str  # [PREFIX/].pulumi/locks/ORG/PROJECT/STACK/ID.json
    user: str
    host: str
    pid: int
    timestamp: str

    @property
    def holder(self) -> str:
        return f"{self.user}@{self.host} pid {self.pid} since {self.timestamp}"

    @property
    def stack(self) -> str:
        return lock_stack(self.key)


@dataclass(frozen=True)
class NamedLock:
    """A lock the CLI's error names: where it is (its URL, credentials masked), its key, and the
    holder the message gives (used only where the record itself cannot be read)."""

    location: str
    said: Lock


@dataclass(frozen=True)
class Process:
    """A live process: when it started (seconds since the epoch, None when unknown) and its name."""

    start: Optional[float]
    comm: Optional[str]


def parse_lock(key: str, content: bytes) -> Lock:
    """A lock record, as JSON (whatever its field order)."""
    try:
        record = json.loads(content)
    except (ValueError, UnicodeDecodeError) as e:
        raise LockError(f"{key} is not a Pulumi lock: not JSON ({e})") from None
    if not isinstance(record, dict):
        raise LockError(f"{key} is not a Pulumi lock: not a JSON object")
    pid = record.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        raise LockError(f"{key} is not a Pulumi lock: its pid is {pid!r}, not a process id")
    fields = {name: record.get(name, "") for name in ("username", "hostname", "timestamp")}
    bad = [name for name, value in fields.items() if not isinstance(value, str)]
    if bad:
        raise LockError(f"{key} is not a Pulumi lock: {', '.join(bad)} not a string")
    return Lock(key, fields["username"], fields["hostname"], pid, fields["timestamp"])


def is_lock_key(key: str) -> bool:
    return f"{LOCK_DIR}/" in key and key.endswith(".json")


def lock_stack(key: str) -> str:
    """ORG/PROJECT/STACK (or the stack alone, for a backend without projects) from a lock's key."""
    return key.split(f"{LOCK_DIR}/", 1)[-1].rsplit("/", 1)[0]


def matches_stack(key: str, want: str) -> bool:
    """Whether KEY is a lock of WANT: `name`, `project/name` or `org/project/name`."""
    have = lock_stack(key).split("/")
    wanted = want.split("/")
    return 1 <= len(wanted) <= 3 and len(have) >= len(wanted) and have[-len(wanted):] == wanted


def lock_id(key: str) -> str:
    """A lock's key from `.pulumi/locks/` on: the same in the CLI's error and in the backend, whatever
    prefix the backend puts before it (a postgres:// backend's rows begin with the database's name)."""
    return key[key.index(LOCK_DIR):] if LOCK_DIR in key else key


def lock_key_of(location: str) -> str:
    """The key of a lock from its location in the CLI's error (a URL ending in the key)."""
    return lock_id(unquote(urlsplit(location).path))


def parse_lock_message(stderr: str) -> list[NamedLock]:
    """The locks the CLI's lock error names, each with the holder it states."""
    named = []
    for line in stderr.splitlines():
        m = _HOLDER_LINE.match(line)
        if m:
            said = Lock(lock_key_of(m["location"]), m["user"], m["host"], int(m["pid"]), m["when"])
            named.append(NamedLock(m["location"], said))
    return named


def epoch(timestamp: str) -> Optional[float]:
    """Seconds since the epoch of an RFC 3339 time (Go writes nanoseconds: cut to microseconds)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", timestamp.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo else None


def holder_state(lock: Lock, here: str, process: Optional[Process]) -> str:
    """ALIVE, GONE or ELSEWHERE: whether LOCK's holder runs. HERE is this host's name, PROCESS what
    runs under the lock's pid here (None: nothing). A process that started after the lock was
    written is a reused pid, not the holder, unless it is `pulumi`: a start time comes from the boot
    clock, which a paused VM stops while the wall clock moves on (seen: a live holder looked younger
    than its lock)."""
    if lock.host != here:
        return ELSEWHERE
    if process is None:
        return GONE
    written = epoch(lock.timestamp)
    if written is None or process.start is None:
        return ALIVE
    if process.start > written + 1 and process.comm != "pulumi":
        return GONE
    return ALIVE


def process_info(pid: int, proc: Path = Path("/proc")) -> Optional[Process]:
    """What runs under PID on this host, or None."""
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: alive
    try:
        fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        boot = next(int(line.split()[1]) for line in (proc / "stat").read_text().splitlines()
                    if line.startswith("btime "))
        start: Optional[float] = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        if not (proc / str(pid)).exists():
            return None  # it ended in between
        start = None
    try:
        comm: Optional[str] = (proc / str(pid) / "comm").read_text().strip()
    except OSError:
        comm = None
    return Process(start, comm)


def state_of(lock: Lock, here: str) -> str:
    return holder_state(lock, here, process_info(lock.pid) if lock.host == here else None)
