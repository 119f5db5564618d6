"""A fake compute host on loopback: a real sshd whose every session runs in its own mount namespace
where /etc is this machine's /etc with a temp directory over it (overlayfs: what a session writes there,
e.g. /etc/nova/nova.conf, lands in `etc/` of the temp root; groups nova and neutron exist) and /run
is the temp root's `run/`. `service` is a stand-in: `restart` starts a sleeping process and writes
Debian's PID file (/run/<project>/<service>.pid), as the init scripts do; libvirt's commands succeed.
So the host scripts run unchanged, with the paths a real host has, and touch nothing of this machine.

    with fake_host(tmp_path / "host1") as host:
        host.sshd.port, host.file("/etc/nova/nova.conf"), host.pid("nova-compute"), host.restarts()
"""

from __future__ import annotations

import contextlib
import os
import signal
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from .sshd import SSHD, running_sshd

GROUPS = ("nova", "neutron")  # the packages would create them


def _script(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + textwrap.dedent(body).lstrip())
    path.chmod(0o755)


@dataclass
class FakeHost:
    root: Path
    sshd: SSHD

    def file(self, path: str) -> Path:
        """Where a file the host wrote under /etc is, seen from outside."""
        assert path.startswith("/etc/"), path
        return self.root / "etc" / path[len("/etc/") :]

    def pid_file(self, service: str) -> Path:
        return self.root / "run" / service.split("-")[0] / f"{service}.pid"

    def pid(self, service: str) -> Optional[int]:
        """The stand-in's PID when it runs, else None."""
        try:
            pid = int(self.pid_file(service).read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def crash(self, service: str) -> None:
        """The service dies (its PID file stays behind, as after a crash)."""
        pid = self.pid(service)
        assert pid, f"{service} is not running"
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):  # until its reaper collected it
            if self.pid(service) is None:
                return
            time.sleep(0.05)
        raise AssertionError(f"{service} (pid {pid}) still answers after SIGKILL")

    def restarts(self) -> list[str]:
        """`service NAME ACTION` lines the host's scripts ran, in order."""
        log = self.root / "services.log"
        return log.read_text().splitlines() if log.exists() else []

    def stop_all(self) -> None:
        for pidfile in (self.root / "run").rglob("*.pid"):
            try:
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass


@contextlib.contextmanager
def fake_host(directory: Path) -> Iterator[FakeHost]:
    root = directory / "root"
    for sub in ("etc", "etc-work", "run", "bin"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    group = Path("/etc/group").read_text()
    group += "".join(f"{g}:x:{64060 + i}:\n" for i, g in enumerate(GROUPS) if f"\n{g}:" not in "\n" + group)
    (root / "etc" / "group").write_text(group)
    _script(root / "bin" / "service", f"""
        name=$1 action=$2
        pidfile=/run/${{name%%-*}}/$name.pid
        alive() {{ [ -r "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }}
        echo "$name $action" >> {root}/services.log
        case $action in
          start|restart)
            if alive; then kill "$(cat "$pidfile")"; fi
            mkdir -p "$(dirname "$pidfile")"
            rm -f "$pidfile"
            # Back in this machine's mount namespace (it holds no session's mounts), with no open fds,
            # under a bash that reaps it when it dies: this machine's PID 1 reaps nothing, and a
            # zombie would still answer `kill -0` as if it ran.
            nsenter --mount=/proc/self/fd/9 -- setsid bash -c 'sleep 100000 & echo $! > "$1"; wait' _ "{root}/run/${{pidfile#/run/}}" \
              </dev/null >/dev/null 2>&1 &
            for _ in $(seq 100); do [ -s "$pidfile" ] && break; sleep 0.05; done ;;
          stop) if alive; then kill "$(cat "$pidfile")"; fi; rm -f "$pidfile" ;;
          status) alive ;;
          *) exit 2 ;;
        esac
    """)
    for name in ("virsh", "virtlogd", "libvirtd"):
        _script(root / "bin" / name, "exit 0\n")
    enter = root / "enter"
    _script(enter, f"""
        # sshd's ForceCommand: the session's command, inside the fake host. fd 9 keeps the way back
        # to this machine's mount namespace, for the stand-in services.
        exec 9</proc/self/ns/mnt
        exec unshare --mount --propagation private bash -c '
          set -e
          mount -t overlay overlay -o "lowerdir=/etc,upperdir=$0/etc,workdir=$0/etc-work" /etc
          mount --bind "$0/run" /run
          export PATH="$0/bin:$PATH" SETTLE_SECONDS=1
          exec bash -c "$SSH_ORIGINAL_COMMAND"' {root}
    """)
    with running_sshd(directory / "sshd", extra_config=(f"ForceCommand {enter}",)) as sshd:
        host = FakeHost(root, sshd)
        try:
            yield host
        finally:
            host.stop_all()
