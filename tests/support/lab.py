"""The lab on this machine (lab/): whether it can run here, its CLI, its state and its stack.

The lab's own facts (addresses, host names, keys) are read from where the lab writes them
(Pulumi.lab.yaml, its state directory), never restated here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
LAB = ROOT / "lab" / "lab"
HOSTS = 2  # compute hosts the lab tests bring up
OUTSIDE_NS = "novalab-out"


def lab_dir() -> Path:
    return Path(os.environ.get("NOVALAB_LAB_DIR", "/var/lib/novalab-lab"))


LAB_DIR = lab_dir()


def lab_unavailable() -> str:
    """Why this machine cannot run the lab, or "" when it can."""
    if os.environ.get("NOVALAB_LAB") != "1":
        return "lab tests are off (./novalab test --quick, or NOVALAB_LAB is not 1)"
    if os.geteuid() != 0:
        return "the lab needs root (namespaces, bridges, packages)"
    os_release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    if "VERSION_CODENAME=bookworm" not in os_release or not shutil.which("apt-get") or not shutil.which("ip"):
        return "the lab needs Debian 12 (its OpenStack Zed packages, apt, iproute2)"
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        return "this machine cannot create network namespaces"
    return ""


LAB_UNAVAILABLE = lab_unavailable()

# The cloud the lab tests bring up: `lab/lab up`'s own default, or NOVALAB_LAB_CLOUD=RELEASE[/NETWORK]
# (e.g. zed, epoxy/openvswitch).
LAB_CLOUD = os.environ.get("NOVALAB_LAB_CLOUD", "")


def lab_up_args() -> list[str]:
    """`lab/lab up`'s options for LAB_CLOUD."""
    if not LAB_CLOUD:
        return []
    release, _, network = LAB_CLOUD.partition("/")
    return ["--release", release] + (["--network", network] if network else [])


def lab_cloud() -> tuple[str, str]:
    """The release and network backend of the lab's cloud, as `lab/lab up` recorded them."""
    release, network = (LAB_DIR / "cloud").read_text().split()
    return release, network

# `pytestmark = LAB_MARKS` in a lab test module: marker `lab`, skipped with the reason where it cannot run.
LAB_MARKS = [pytest.mark.lab, pytest.mark.skipif(bool(LAB_UNAVAILABLE), reason=LAB_UNAVAILABLE or "-")]


def command_lines() -> dict[str, str]:
    """Every process's command line on this machine (the lab's hosts are namespaces here, so theirs
    too), by pid; processes that end while being read are left out."""
    lines = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                lines[proc.name] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
    return lines


def sh(*args: str, timeout: int = 120, check: bool = True, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run ARGS (in ENV, else this process's) in a session of its own; on timeout the whole session
    is killed (seen: a `lab up` killed alone left its hung `rbd` child running into the next test)."""
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                          env=env) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            raise AssertionError(f"{' '.join(args)} did not end within {timeout} s:\n{stderr[-4000:]}") from None
    result = subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def openstack_run(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """The openstack CLI as the lab's admin, in the controller (`lab/lab openstack`: its own root, of the
    lab's release)."""
    return sh(str(LAB), "openstack", *args, check=check)


def openstack(*args: str) -> str:
    """What the lab admin's openstack command printed; it must succeed."""
    return openstack_run(*args, check=True).stdout


def pings(address: str) -> bool:
    """One ping from the lab's "outside" namespace (where a user of the cloud stands) is answered."""
    return subprocess.run(["ip", "netns", "exec", OUTSIDE_NS, "ping", "-c", "1", "-W", "2", address],
                          capture_output=True).returncode == 0


def lab_stack() -> dict[str, Any]:
    """The lab stack's config as `lab/lab up` last wrote it beside the lab (Pulumi.lab.yaml with this
    lab's hosts, addresses and host keys; no secrets)."""
    return yaml.safe_load((LAB_DIR / "Pulumi.lab.yaml").read_text())["config"]


def ssh_pinned(address: str, host_key: str, known_hosts: Path, *command: str) -> subprocess.CompletedProcess:
    """SSH as the lab's root key, accepting only `host_key` for `address`; not checked."""
    known_hosts.write_text(f"{address} {host_key}\n")
    return sh(
        "ssh", "-i", str(LAB_DIR / "ssh" / "id_ed25519"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=5", f"root@{address}", *command, check=False,
    )


LOGS = LAB_DIR / "logs"


def lab_setting(name: str) -> str:
    """A setting of lab/lib/common.sh (the lab's one place for its addresses and names)."""
    return sh("bash", "-c", f". {ROOT}/lab/lib/common.sh && echo ${name}").stdout.strip()


@lru_cache(maxsize=None)
def pulumi_machine() -> str:
    """Where Pulumi runs, as the lab's hosts and APIs see it."""
    return lab_setting("HOST_IP")


def ssh_sessions() -> dict[str, int]:
    """SSH logins from this machine (Pulumi, or a peer tool) so far, per lab host, from each sshd's own log."""
    logs = {p.stem: p for p in LOGS.glob("compute-*.out")}
    logs["controller"] = LOGS / "controller-sshd.out"
    needle = f"Accepted publickey for root from {pulumi_machine()} "
    return {name: path.read_text(errors="replace").count(needle) for name, path in logs.items() if path.exists()}
