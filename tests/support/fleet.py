"""A fleet of compute hosts and a controller on this machine, for the scale benchmark
(benchmarks/bench_scale.py) and its smoke test: each machine a network namespace `nlbench-<i>` (the
controller `nlbench-ctl`) on the bridge `nlbench0` in 10.99.0.0/16, with a real sshd (its own host
key, which the stack pins) serving novalab's real scripts.

Only the slow programs the scripts call are stand-ins (tests/support/standins/, first on the
sessions' PATH), each taking a fixed time (`Timings`): the package manager, the service manager and
libvirt on the hosts, `openstack` and `nova-manage` on the controller (which report every host of
the fleet up, mapped, with an alive agent and inventory). Each machine has its own mount, UTS and
PID namespace (standins/namespace_init.sh): a private /etc, /run and /tmp, so what the scripts write
and start on one host is not seen on another.

    with running_fleet(10, Timings(), workdir) as fleet:
        fleet.stack_config(), fleet.secrets(), fleet.sessions()

Everything is removed on the way out, also on an exception or Ctrl-C: the machines' processes (by
the PIDs this module started), the namespaces, the bridge. What a run killed with SIGKILL left is
removed by the next run before it starts (`remove_leftovers`). Nothing here touches the lab's
names (novalab-*) or addresses (10.77.x).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional

STANDINS = Path(__file__).resolve().parent / "standins"
PREFIX = "nlbench"
BRIDGE = f"{PREFIX}0"
CONTROLLER_NETNS = f"{PREFIX}-ctl"
NETWORK = ipaddress.ip_network("10.99.0.0/16")
GATEWAY = "10.99.0.1"  # this machine's address on the bridge, where the engine connects from
CONTROLLER_ADDRESS = "10.99.0.10"
RABBIT_PORT = 5672
MAX_HOSTS = 250 * 254
SSHD = "/usr/sbin/sshd"
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Debian sshd's for root


@dataclass(frozen=True)
class Timings:
    """Seconds each stand-in takes per call (the real programs' order of magnitude, kept short)."""

    apt_update: float = 1.0
    apt_install: float = 2.0
    apt_cache: float = 0.5
    dpkg_query: float = 0.1
    service: float = 1.0  # a start of nova-compute or the agent
    virsh: float = 0.2
    openstack: float = 1.0  # the CLI's start and one API call
    nova_manage: float = 1.0

    def env(self) -> dict[str, str]:
        return {f"NLBENCH_{k.upper()}_SECONDS": f"{v:g}" for k, v in asdict(self).items()}

    def describe(self) -> str:
        return ", ".join(f"{k.replace('_', '-')} {v:g} s" for k, v in asdict(self).items())


# What the tests run the fleet with: the same calls, a tenth of the time.
QUICK = Timings(apt_update=0.1, apt_install=0.2, apt_cache=0.1, dpkg_query=0.01, service=0.1, virsh=0.05,
                openstack=0.1, nova_manage=0.1)


def host_address(index: int) -> str:
    """The i-th host's (1-based) address: 10.99.1.1 ... 10.99.1.250, then 10.99.2.1 ..."""
    if not 1 <= index <= MAX_HOSTS:
        raise ValueError(f"host index {index} outside 1..{MAX_HOSTS}")
    return str(NETWORK.network_address + 256 * (1 + (index - 1) // 250) + 1 + (index - 1) % 250)


@dataclass
class Machine:
    name: str  # nova's host name (the controller's in the stack config)
    netns: str
    address: str
    directory: Path  # its sshd config, host key, log, /etc overlay and the stand-ins' state
    host_key: str = ""  # "ssh-ed25519 AAAA..."
    process: Optional[subprocess.Popen] = None

    @property
    def state(self) -> Path:
        return self.directory / "state"

    def sessions(self) -> int:
        """SSH logins sshd accepted (LogLevel VERBOSE logs one line per login)."""
        log = self.directory / "sshd.log"
        return log.read_text(errors="replace").count("Accepted publickey") if log.exists() else 0

    def calls(self) -> list[str]:
        """The stand-ins' calls on this machine, "PROGRAM ARGS..." each."""
        log = self.state / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def file(self, path: str) -> Optional[str]:
        """A file novalab wrote under /etc on this machine (its overlay), or None."""
        target = self.directory / "etc.upper" / path.removeprefix("/etc/")
        return target.read_text() if path.startswith("/etc/") and target.exists() else None


@dataclass
class Fleet:
    controller: Machine
    hosts: list[Machine]
    client_key: str  # the private key every machine accepts (novalab's sshPrivateKey)
    timings: Timings
    directory: Path
    started: list[subprocess.Popen] = field(default_factory=list)

    @property
    def machines(self) -> list[Machine]:
        return [self.controller, *self.hosts]

    def sessions(self) -> int:
        return sum(m.sessions() for m in self.machines)

    def stack_config(self) -> dict:
        """The novalab config of a stack for this fleet (plain keys; the secrets in `secrets`)."""
        return {
            "novalab:ssh": {"user": "root"},
            "novalab:controller": {"name": "controller", "address": self.controller.address,
                                   "hostKey": self.controller.host_key},
            "novalab:computeHosts": [
                {"name": h.name, "address": h.address, "bridgeInterface": "eth2", "virtType": "qemu",
                 "hostKey": h.host_key}
                for h in self.hosts
            ],
            "novalab:network": {"physnet": "physnet1", "tunnelOverlay": "vxlan"},
            "novalab:rollout": {"batchSize": 0, "gateTimeoutSeconds": 300},
        }

    def secrets(self) -> dict[str, str]:
        return {
            "novalab:rabbitPassword": "nlbench-rabbit-s3cret",
            "novalab:novaServicePassword": "nlbench-nova-s3cret",
            "novalab:sshPrivateKey": self.client_key,
        }


def _run(*argv: str, input: Optional[str] = None) -> str:
    proc = subprocess.run(argv, input=input, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def check_machine() -> None:
    """What the fleet needs of this machine, each missing piece named with its fix."""
    problems = []
    if os.geteuid() != 0:
        problems.append("run as root (network namespaces, mounts, sshd)")
    for tool, package in (("ip", "iproute2"), ("unshare", "util-linux"), ("ssh-keygen", "openssh-client")):
        if not shutil.which(tool):
            problems.append(f"{tool} is missing (apt-get install {package})")
    if not Path(SSHD).exists():
        problems.append(f"{SSHD} is missing (apt-get install openssh-server)")
    if "overlay" not in Path("/proc/filesystems").read_text():
        problems.append("the kernel has no overlay file system (modprobe overlay)")
    if problems:
        raise RuntimeError("the scale benchmark's fleet cannot run here: " + "; ".join(problems))
    routes = _run("ip", "-o", "route", "show", "match", str(NETWORK.network_address))
    foreign = [r for r in routes.splitlines() if not r.startswith("default") and f"dev {BRIDGE}" not in r]
    if foreign:
        raise RuntimeError(f"{NETWORK} is already routed here ({foreign[0]}); the fleet needs it to itself")


def _namespaces() -> list[str]:
    return [line.split()[0] for line in _run("ip", "netns", "list").splitlines() if line.strip()]


def remove_leftovers() -> None:
    """What an earlier run killed with SIGKILL left: the processes in our namespaces, the
    namespaces, the bridge. Only names of this module (nlbench-*)."""
    for ns in _namespaces():
        if ns.startswith(f"{PREFIX}-"):
            for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    # A namespace goes (and its veth with it) once its last process has exited.
    deadline = time.monotonic() + 30
    while _veths() and time.monotonic() < deadline:
        time.sleep(0.1)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
    if _veths():
        raise RuntimeError(f"namespaces of the fleet still have links here after 30 s: {' '.join(_veths())}")


def _veths() -> list[str]:
    links = _run("ip", "-o", "link", "show").splitlines()
    names = [line.split(":")[1].strip().split("@")[0] for line in links]
    return [n for n in names if n.startswith(f"{PREFIX}-")]


def _die_with_parent() -> None:
    """In the child before exec: a SIGTERM when the process that started it dies (even by SIGKILL),
    so unshare --kill-child then takes the machine down."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _keygen(path: Path, comment: str) -> None:
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))


def _sshd_config(machine: Machine, bin_dir: Path, authorized: Path, env: dict[str, str]) -> str:
    setenv = " ".join(f"{k}={v}" for k, v in {"PATH": f"{bin_dir}:{SESSION_PATH}", **env}.items())
    return "\n".join([
        f"ListenAddress {machine.address}:22",
        f"HostKey {machine.directory / 'host_key'}",
        f"AuthorizedKeysFile {authorized}",
        "PidFile none",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "UseDNS no",
        "StrictModes no",  # the work directory's parents are not root-only
        "LogLevel VERBOSE",  # one "Accepted publickey" line per login: what sessions() counts
        # The harness's, not novalab's: every host's steps connect to the one controller at once.
        "MaxStartups 10000",
        "MaxSessions 1000",
        # As on any Debian host: Ansible copies its files over SFTP (scp and a pipe only after that failed).
        "Subsystem sftp internal-sftp",
        f"SetEnv {setenv}",
        "",
    ])


def _add_namespace(machine: Machine) -> None:
    ns, veth = machine.netns, machine.netns  # the bridge's end has the namespace's name
    _run("ip", "netns", "add", ns)
    _run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    _run("ip", "link", "set", veth, "master", BRIDGE, "up")
    _run("ip", "-n", ns, "addr", "add", f"{machine.address}/{NETWORK.prefixlen}", "dev", "eth0")
    _run("ip", "-n", ns, "link", "set", "eth0", "up")
    _run("ip", "-n", ns, "link", "set", "lo", "up")


def _wait_for_sshd(machines: list[Machine], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for m in machines:
        while True:
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex((m.address, 22)) == 0:
                    break
            if m.process is not None and m.process.poll() is not None or time.monotonic() > deadline:
                log = m.directory / "sshd.log"
                raise RuntimeError(f"sshd of {m.name} did not start at {m.address}:22: "
                                   f"{log.read_text() if log.exists() else 'no log'}")
            time.sleep(0.05)


def _start(machine: Machine, standins: Path, listen: tuple[str, ...] = ()) -> subprocess.Popen:
    with open(machine.directory / "init.log", "w") as log:
        return subprocess.Popen(
            ["ip", "netns", "exec", machine.netns, "unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child",
             "--mount-proc", str(standins / "namespace_init.sh"), str(machine.directory),
             machine.name, *listen],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )


def _stop(fleet_processes: list[subprocess.Popen]) -> None:
    """Each machine by the PID of its unshare: its --kill-child takes the namespace's processes."""
    for proc in fleet_processes:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 10
    for proc in fleet_processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running_fleet(size: int, timings: Timings, directory: Path) -> Iterator[Fleet]:
    """SIZE compute hosts and the controller, up with sshd; all of it removed on the way out."""
    check_machine()
    remove_leftovers()
    directory.mkdir(parents=True, exist_ok=True)
    client = directory / "client_key"
    _keygen(client, "novalab-scale-benchmark")
    authorized = directory / "authorized_keys"
    authorized.write_text((directory / "client_key.pub").read_text())
    fleet_file = directory / "fleet"
    controller = Machine("controller", CONTROLLER_NETNS, CONTROLLER_ADDRESS, directory / "controller")
    hosts = [Machine(f"{PREFIX}-{i}", f"{PREFIX}-{i}", host_address(i), directory / f"{PREFIX}-{i}")
             for i in range(1, size + 1)]
    fleet = Fleet(controller, hosts, client.read_text(), timings, directory)
    # Each machine mounts a private /tmp: stand-ins in a checkout under /tmp would vanish from its
    # sessions' PATH ("controller has no nova-manage", seen from a fresh clone in /tmp), so they run
    # from a copy in the work directory.
    standins = directory / "standins"
    shutil.copytree(STANDINS, standins, dirs_exist_ok=True)
    try:
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "addr", "add", f"{GATEWAY}/{NETWORK.prefixlen}", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        fleet_file.write_text("".join(f"{h.name} {h.address} {i:08d}-0000-4000-8000-{i:012d}\n"
                                      for i, h in enumerate(hosts, 1)))
        directory.chmod(0o755)
        for m in fleet.machines:
            m.directory.mkdir(parents=True)
            # The controller's scripts run nova-manage as the user nova: its stand-in writes here too.
            m.state.mkdir(mode=0o777)
            m.state.chmod(0o777)
            (m.state / "calls.log").touch(mode=0o666)
            (m.state / "calls.log").chmod(0o666)
            _keygen(m.directory / "host_key", m.name)
            m.host_key = " ".join((m.directory / "host_key.pub").read_text().split()[:2])
            role = "controller" if m is controller else "host"
            env = {"NLBENCH_STATE": str(m.state), "NLBENCH_FLEET": str(fleet_file), **timings.env()}
            (m.directory / "sshd_config").write_text(_sshd_config(m, standins / role, authorized, env))
        _add_namespace(controller)
        for h in hosts:
            _add_namespace(h)
            # The VM-network NIC the bridge step puts into br100 (the tutorial's eth2): one end of
            # a veth pair (this kernel has no dummy interfaces), the other end unused.
            _run("ip", "-n", h.netns, "link", "add", "eth2", "type", "veth", "peer", "name", "vmnet")
        controller.process = _start(controller, standins, (CONTROLLER_ADDRESS, str(RABBIT_PORT)))
        fleet.started.append(controller.process)
        for h in hosts:
            h.process = _start(h, standins)
            fleet.started.append(h.process)
        _wait_for_sshd(fleet.machines)
        yield fleet
    finally:
        _stop(fleet.started)
        remove_leftovers()
