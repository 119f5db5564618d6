"""Run the program's remote commands the way pulumi-command's `remote.Command` would, without the
Pulumi engine (which cannot be built here: see README "The Pulumi engine").

The program is evaluated under mocks with the lab stack's config; every `command:remote:Command` it
registers is then run over SSH with its own connection (user, port, pinned host key, private key),
its `create` command line as the session's command and its `stdin`, in dependency order and with the
engine's parallelism (a command starts as soon as everything it depends on finished).
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from support.mocks import reveal


@dataclass
class RemoteCommand:
    name: str
    host: str
    port: int
    user: str
    private_key: str
    host_key: Optional[str]
    create: str
    stdin: Optional[str]
    depends_on: set[str]


@dataclass
class Result:
    name: str
    host: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class Run:
    results: dict[str, Result] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)  # SSH sessions per host address
    seconds: float = 0.0

    def failed(self) -> list[Result]:
        return [r for r in self.results.values() if r.returncode != 0]


def commands_of(deployment) -> list[RemoteCommand]:
    out = []
    names = {r.name for r in deployment.mocks.commands()}
    for r in deployment.mocks.commands():
        conn = reveal(r.inputs["connection"])
        out.append(
            RemoteCommand(
                name=r.name,
                host=conn["host"],
                port=int(conn.get("port", 22)),
                user=conn.get("user", "root"),
                private_key=conn["privateKey"],
                host_key=conn.get("hostKey"),
                create=reveal(r.inputs["create"]),  # a secret when the host's address is one
                stdin=reveal(r.inputs.get("stdin")),
                depends_on=deployment.monitor.depends_on(r.name) & names,
            )
        )
    return out


def ssh_run(cmd: RemoteCommand, workdir: Path) -> Result:
    key = workdir / "key"
    if not key.exists():
        key.write_text(cmd.private_key)
        key.chmod(0o600)
    known = workdir / f"known_hosts-{cmd.host}"
    options = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"]
    if cmd.host_key:
        known.write_text(f"{cmd.host} {cmd.host_key}\n")
        options += ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}"]
    else:  # pulumi-command ignores the host key when none is given
        options += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    start = time.perf_counter()
    proc = subprocess.run(
        ["ssh", "-i", str(key), "-p", str(cmd.port), *options, f"{cmd.user}@{cmd.host}", cmd.create],
        input=cmd.stdin or "", capture_output=True, text=True, timeout=1800,
    )
    return Result(cmd.name, cmd.host, proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def run_commands(commands: list[RemoteCommand], only: Optional[set[str]] = None) -> Run:
    """Run `commands` (or the subset `only`) respecting dependencies; stop scheduling on a failure."""
    todo = {c.name: c for c in commands if only is None or c.name in only}
    run = Run()
    lock = threading.Lock()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=16) as pool:
        workdir = Path(tmp)
        running: dict[Any, str] = {}
        done: set[str] = set(c.name for c in commands) - set(todo)
        failed = False
        while todo or running:
            if not failed:
                for name, cmd in list(todo.items()):
                    if cmd.depends_on <= done:
                        del todo[name]
                        with lock:
                            run.sessions[cmd.host] = run.sessions.get(cmd.host, 0) + 1
                        running[pool.submit(ssh_run, cmd, workdir)] = name
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                name = running.pop(fut)
                result = fut.result()
                run.results[name] = result
                if result.returncode == 0:
                    done.add(name)
                else:
                    failed = True
    run.seconds = time.perf_counter() - start
    return run
