"""A real OpenSSH server on loopback for engine tests: Debian's /usr/sbin/sshd with a temp config,
host key and one client key allowed to log in as the current user (root in CI), so
`command:remote:Command`s run against the sshd a compute host has, cheaply and on this machine only.

    with running_sshd(tmp_path / "sshd") as sshd:
        sshd.port, sshd.private_key, sshd.host_key, sshd.accepted_logins()
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

SSHD_BINARY = Path("/usr/sbin/sshd")
SSH_KEYGEN = "ssh-keygen"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SSHD:
    host: str
    port: int
    user: str
    private_key: str  # the client's OpenSSH private key text
    host_key: str  # the server's public host key, "ssh-ed25519 AAAA..."
    log_path: Path
    process: subprocess.Popen

    def accepted_logins(self) -> int:
        """Logins sshd accepted so far (LogLevel VERBOSE logs one line per login)."""
        if not self.log_path.exists():
            return 0
        return sum("Accepted publickey" in line for line in self.log_path.read_text(errors="replace").splitlines())


def _keygen(path: Path) -> None:
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "novalab-test", "-f", str(path)], check=True)


@contextlib.contextmanager
def running_sshd(directory: Path, extra_config: tuple[str, ...] = ()) -> Iterator[SSHD]:
    """Start sshd on a free loopback port; stop it (by its own pid) on exit. `extra_config`: more
    sshd_config lines (e.g. a ForceCommand, as tests/support/fakehost.py uses)."""
    if not SSHD_BINARY.exists():
        pytest.fail(f"{SSHD_BINARY} is missing: install Debian's openssh-server (./novalab test installs it)")
    directory.mkdir(parents=True, exist_ok=True)
    host_key, client_key = directory / "host_key", directory / "client_key"
    for key in (host_key, client_key):
        if not key.exists():
            _keygen(key)
    authorized = directory / "authorized_keys"
    authorized.write_text((directory / "client_key.pub").read_text())
    authorized.chmod(0o600)
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {authorized}",
                f"PidFile {directory / 'sshd.pid'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "StrictModes no",  # the temp directory's parents are not root-only
                "UsePAM no",
                "LogLevel VERBOSE",
                *extra_config,
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    log_path = directory / "sshd.log"
    proc = subprocess.Popen([str(SSHD_BINARY), "-D", "-f", str(config), "-E", str(log_path)], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                log = log_path.read_text() if log_path.exists() else ""
                pytest.fail(f"test sshd did not start on 127.0.0.1:{port}: {log}")
            time.sleep(0.05)
        yield SSHD(
            host="127.0.0.1",
            port=port,
            user=getpass.getuser(),
            private_key=client_key.read_text(),
            host_key=" ".join((directory / "host_key.pub").read_text().split()[:2]),
            log_path=log_path,
            process=proc,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, 9)
            proc.wait()
