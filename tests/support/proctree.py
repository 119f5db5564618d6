"""Run a command and measure its whole process tree: wall time, CPU (user + system, from the kernel's
rusage of the command and every descendant it waited for), the peak of the tree's summed resident
memory (sampled from /proc), and CPU per kind of process (sampled; the last slice before a process
exits can be missed, so the kinds add up to a little less than the total).

Used for the Pulumi CLI: its language host, the program, the resource plugins and the policy pack
are all its descendants.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Measured:
    returncode: int
    wall: float  # seconds
    cpu: float  # seconds, user + system, the whole tree (rusage)
    peak_rss: int  # bytes, the tree's summed resident set at its largest sample
    cpu_by_kind: dict[str, float] = field(default_factory=dict)  # sampled seconds per kind
    peak_rss_by_kind: dict[str, int] = field(default_factory=dict)  # bytes, each kind's largest sample
    output: str = ""


def _stat(pid: int) -> Optional[tuple[int, float]]:
    """(parent pid, CPU seconds) of a live process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat:
                parents[stat[0]].append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, ()))
    return out


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    kind: Callable[[list[str]], str] = lambda cmd: Path(cmd[0]).name if cmd else "?",
    interval: float = 0.2,
    log: Optional[Path] = None,
    on_start: Callable[[int, str], None] = lambda pid, kind: None,
) -> Measured:
    """ARGV to completion, sampling its tree every INTERVAL seconds; KIND names a process by its
    command line, ON_START hears of each process of the tree when first seen (a profiler attaches).
    Output (stdout and stderr together) goes to LOG and is returned."""
    log = log or Path(os.devnull)
    cpu_seen: dict[int, tuple[str, float]] = {}
    names: dict[int, str] = {}
    peak = 0
    peak_by_kind: dict[str, int] = defaultdict(int)
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                sample: dict[str, int] = defaultdict(int)
                for p in _tree(proc.pid):
                    stat = _stat(p)
                    if stat is None:
                        continue
                    if p not in names:
                        names[p] = kind(_cmdline(p))
                        on_start(p, names[p])
                    cpu_seen[p] = (names[p], stat[1])
                    sample[names[p]] += _rss(p)
                peak = max(peak, sum(sample.values()))
                for name, rss in sample.items():
                    peak_by_kind[name] = max(peak_by_kind[name], rss)
                time.sleep(interval)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM): the command stops too (the Pulumi CLI cancels on SIGINT).
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    by_kind: dict[str, float] = defaultdict(float)
    for name, seconds in cpu_seen.values():
        by_kind[name] += seconds
    text = log.read_text(errors="replace") if log != Path(os.devnull) else ""
    return Measured(proc.returncode, wall, usage.ru_utime + usage.ru_stime, peak, dict(by_kind),
                    dict(peak_by_kind), text)
