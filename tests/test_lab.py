"""The lab (lab/): a real OpenStack on this machine with empty compute hosts.

Marker `lab`: these bring a fresh lab up (`lab/lab down` then `up`) and check it as a user would,
then `lab/lab down` must leave nothing behind. `./novalab test` runs them (NOVALAB_LAB=1) where the
machine can run the lab (root, network namespaces, apt) and says why it skips them elsewhere;
`./novalab test --quick` leaves them out.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "lab" / "lab"
LAB_DIR = Path(os.environ.get("NOVALAB_LAB_DIR", "/var/lib/novalab-lab"))
HOSTS = 2


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

pytestmark = [pytest.mark.lab, pytest.mark.skipif(bool(LAB_UNAVAILABLE), reason=LAB_UNAVAILABLE or "-")]


def sh(*args: str, timeout: int = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def openstack(*args: str) -> str:
    """The openstack CLI as the lab's admin, inside the controller's namespace."""
    cmd = f". {LAB_DIR}/admin-openrc && exec /usr/bin/openstack " + " ".join(f"'{a}'" for a in args)
    return sh("ip", "netns", "exec", "novalab-ctl", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "bash", "-c", cmd).stdout


@pytest.fixture(scope="module")
def lab():
    # From down: the hosts must be freshly made (a previous run may have provisioned them).
    down = subprocess.run([str(LAB), "down"], capture_output=True, text=True, timeout=600)
    assert down.returncode == 0, down.stderr[-4000:]
    result = subprocess.run([str(LAB), "up", "--hosts", str(HOSTS)], capture_output=True, text=True, timeout=2400)
    assert result.returncode == 0, f"lab up failed:\n{result.stderr[-4000:]}"
    print("\n" + "\n".join(line for line in result.stderr.splitlines() if ": " in line and line.strip().endswith(" s")))
    return result


def test_keystone_issues_a_token(lab):
    assert len(openstack("token", "issue", "-f", "value", "-c", "id").strip()) > 20


def test_control_plane_services_are_up(lab):
    services = openstack("compute", "service", "list", "-f", "value", "-c", "Binary", "-c", "State")
    assert "nova-conductor up" in services and "nova-scheduler up" in services
    agents = json.loads(openstack("network", "agent", "list", "--host", socket.gethostname(), "-f", "json"))
    alive = {a["Binary"] for a in agents if a["Alive"] is True}
    assert alive >= {"neutron-linuxbridge-agent", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent"}
    assert "cinder-volume up" in openstack("volume", "service", "list", "-f", "value", "-c", "Binary", "-c", "State")
    endpoints = openstack("endpoint", "list", "-f", "value", "-c", "Service Type")
    for kind in ("identity", "image", "placement", "compute", "network", "volumev3"):
        assert kind in endpoints


def test_what_the_admin_had_ready(lab):
    flavors = openstack("flavor", "list", "-f", "value", "-c", "ID", "-c", "Name", "-c", "RAM", "-c", "Disk", "-c", "VCPUs")
    assert "1 m1.tiny 512 1 1" in flavors and "5 m1.xlarge 16384 160 8" in flavors
    networks = openstack("network", "list", "-f", "value", "-c", "Name")
    assert {"public", "net1"} <= set(networks.split())
    assert "novalab-tiny" in openstack("image", "list", "-f", "value", "-c", "Name")
    stack = yaml.safe_load((ROOT / "Pulumi.lab.yaml").read_text())["config"]
    assert stack["novalab:servers"][0]["image"] == "novalab-tiny"


def host_ssh(address: str, host_key: str, known_hosts: Path, *command: str) -> subprocess.CompletedProcess:
    known_hosts.write_text(f"{address} {host_key}\n")
    return sh(
        "ssh", "-i", str(LAB_DIR / "ssh" / "id_ed25519"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=5", f"root@{address}", *command, check=False,
    )


def test_compute_hosts_answer_ssh_with_their_pinned_host_key_and_have_no_nova(lab, tmp_path):
    stack = yaml.safe_load((ROOT / "Pulumi.lab.yaml").read_text())["config"]
    hosts = stack["novalab:computeHosts"]
    assert [h["name"] for h in hosts] == [f"compute-{n}" for n in range(1, HOSTS + 1)]
    for h in hosts:
        ok = host_ssh(h["address"], h["hostKey"], tmp_path / "known_hosts", "hostname; dpkg-query -W -f='${db:Status-Status}' nova-compute || echo not-installed")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.splitlines()[0] == h["name"]
        assert "not-installed" in ok.stdout
        wrong = host_ssh(h["address"], stack["novalab:controller"]["hostKey"], tmp_path / "known_hosts2", "true")
        assert wrong.returncode != 0 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in wrong.stderr


def test_controller_answers_ssh_for_the_gate(lab, tmp_path):
    stack = yaml.safe_load((ROOT / "Pulumi.lab.yaml").read_text())["config"]
    c = stack["novalab:controller"]
    ok = host_ssh(c["address"], c["hostKey"], tmp_path / "kh", "command -v nova-manage openstack")
    assert ok.returncode == 0 and "nova-manage" in ok.stdout


def test_status_and_a_second_up_are_quick_noops(lab):
    assert sh(str(LAB), "status").returncode == 0
    again = sh(str(LAB), "up", "--hosts", str(HOSTS), timeout=900)
    assert "starting" not in again.stderr  # everything was already running


def stop_by_pidfile(name: str) -> int:
    pid = int((LAB_DIR / "run" / f"{name}.pid").read_text())
    os.killpg(pid, signal.SIGKILL)  # the lab starts each daemon in its own session
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    return pid


def test_up_repairs_a_dead_service_and_a_dead_host(lab, tmp_path):
    stop_by_pidfile("nova-scheduler")
    stop_by_pidfile("compute-2")
    assert sh(str(LAB), "status", check=False).returncode != 0  # status sees what is down
    again = sh(str(LAB), "up", "--hosts", str(HOSTS), timeout=900)
    assert "starting nova-scheduler" in again.stderr and "starting compute-2" in again.stderr
    assert "starting nova-conductor" not in again.stderr  # what ran was left alone
    assert sh(str(LAB), "status").returncode == 0
    stack = yaml.safe_load((ROOT / "Pulumi.lab.yaml").read_text())["config"]
    host = stack["novalab:computeHosts"][1]
    ok = host_ssh(host["address"], host["hostKey"], tmp_path / "known_hosts", "hostname")  # same pinned key
    assert ok.returncode == 0 and ok.stdout.strip() == "compute-2", ok.stderr


def test_no_lab_secret_in_any_process_command_line(lab):
    secrets = [p.read_text().strip() for p in (LAB_DIR / "secrets").iterdir() if p.is_file()]
    assert len(secrets) >= 5  # admin, rabbit, service users, databases
    leaks = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # the process ended meanwhile
        leaks += [f"pid {proc.name}: {cmdline.split(' ')[0]}" for secret in secrets if secret in cmdline]
    assert leaks == []


def test_down_leaves_no_process_or_namespace_behind(lab):
    pids = [int(p.read_text()) for p in (LAB_DIR / "run").glob("*.pid") if "internal" not in p.name]
    sh(str(LAB), "down", timeout=300)
    assert not [n for n in sh("ip", "netns", "list").stdout.split() if n.startswith("novalab-")]
    alive = [p for p in pids if Path(f"/proc/{p}").exists()]
    assert alive == []
    assert "novalab-mgmt" not in sh("ip", "-o", "link").stdout
    assert not (LAB_DIR / "hosts").exists()
