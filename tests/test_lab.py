"""The lab (lab/): a real OpenStack on this machine with empty compute hosts.

Marker `lab`: these bring a fresh lab up (`lab/lab down` then `up`) and check it as a user would,
then `lab/lab down` must leave nothing behind. `./novalab test` runs them (NOVALAB_LAB=1) where the
machine can run the lab (root, network namespaces, apt) and says why it skips them elsewhere;
`./novalab test --quick` leaves them out.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from components.config import M1
from support import numbers
from support.lab import (HOSTS, LAB, LAB_DIR, LAB_MARKS, command_lines, lab_cloud, lab_stack, lab_up_args, openstack,
                         sh, ssh_pinned)

pytestmark = LAB_MARKS


@pytest.fixture(scope="module")
def lab():
    # From down: the hosts must be freshly made (a previous run may have provisioned them).
    sh(str(LAB), "down", timeout=600)
    result = sh(str(LAB), "up", *lab_up_args(), "--hosts", str(HOSTS), timeout=2400, check=False)
    assert result.returncode == 0, f"lab up failed:\n{result.stderr[-4000:]}"
    for line in result.stderr.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()  # the lab's log lines are bold
        if line.startswith("==> lab up in "):
            numbers.record(f"lab: up from down ({'+'.join(lab_cloud())}), s", line.split()[4])
    return result


# What each release's nova says of itself (its newest API microversion), and the Debian suite it comes from.
RELEASES = {"epoxy": ("2.100", "trixie"), "zed": ("2.93", "bookworm")}
# The controller's network agents per backend, as `openstack network agent list` names them.
CONTROLLER_AGENTS = {
    "linuxbridge": {"Linux bridge agent", "DHCP agent", "L3 agent", "Metadata agent"},
    "openvswitch": {"Open vSwitch agent", "DHCP agent", "L3 agent", "Metadata agent"},
    "ovn": {"OVN Controller Gateway agent"},
}


def test_the_cloud_is_the_release_asked_for(lab):
    release, _ = lab_cloud()
    microversion, _ = RELEASES[release]
    assert openstack("versions", "show", "--service", "compute", "--status", "CURRENT", "-f", "value",
                     "-c", "Max Microversion").split() == [microversion]


def test_keystone_issues_a_token(lab):
    assert len(openstack("token", "issue", "-f", "value", "-c", "id").strip()) > 20


def test_control_plane_services_are_up(lab):
    services = openstack("compute", "service", "list", "-f", "value", "-c", "Binary", "-c", "State")
    assert "nova-conductor up" in services and "nova-scheduler up" in services
    agents = json.loads(openstack("network", "agent", "list", "--host", socket.gethostname(), "-f", "json"))
    alive = {a["Agent Type"] for a in agents if a["Alive"] is True}
    assert alive >= CONTROLLER_AGENTS[lab_cloud()[1]]
    assert "cinder-volume up" in openstack("volume", "service", "list", "-f", "value", "-c", "Binary", "-c", "State")
    endpoints = openstack("endpoint", "list", "-f", "value", "-c", "Service Type")
    for kind in ("identity", "image", "placement", "compute", "network", "volumev3"):
        assert kind in endpoints


def test_what_the_admin_had_ready(lab):
    flavors = json.loads(openstack("flavor", "list", "-f", "json"))
    have = {(f["ID"], f["Name"], f["RAM"], f["Disk"], f["VCPUs"]) for f in flavors}
    assert {(m.id, m.name, m.ram_mb, m.disk_gb, m.vcpus) for m in M1} <= have  # the sizes novalab knows
    networks = openstack("network", "list", "-f", "value", "-c", "Name")
    assert {"public", "net1"} <= set(networks.split())
    assert "novalab-tiny" in openstack("image", "list", "-f", "value", "-c", "Name")
    assert lab_stack()["novalab:servers"][0]["image"] == "novalab-tiny"


def test_compute_hosts_answer_ssh_with_their_pinned_host_key_and_have_no_nova(lab, tmp_path):
    stack = lab_stack()
    hosts = stack["novalab:computeHosts"]
    assert [h["name"] for h in hosts] == [f"compute-{n}" for n in range(1, HOSTS + 1)]
    for h in hosts:
        ok = ssh_pinned(h["address"], h["hostKey"], tmp_path / "known_hosts",
                        "hostname; . /etc/os-release; echo $VERSION_CODENAME; dpkg-query -W -f='${db:Status-Status}' nova-compute || echo not-installed")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.splitlines()[:2] == [h["name"], RELEASES[lab_cloud()[0]][1]]  # the release's own Debian
        assert "not-installed" in ok.stdout
        wrong = ssh_pinned(h["address"], stack["novalab:controller"]["hostKey"], tmp_path / "known_hosts2", "true")
        assert wrong.returncode != 0 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in wrong.stderr


def test_controller_answers_ssh_for_the_gate(lab, tmp_path):
    c = lab_stack()["novalab:controller"]
    ok = ssh_pinned(c["address"], c["hostKey"], tmp_path / "kh", "command -v nova-manage openstack")
    assert ok.returncode == 0 and "nova-manage" in ok.stdout


def test_status_and_a_second_up_are_quick_noops(lab):
    assert sh(str(LAB), "status").returncode == 0
    again = sh(str(LAB), "up", "--hosts", str(HOSTS), timeout=900)  # no --release: the running lab's
    assert "starting" not in again.stderr  # everything was already running


def test_another_cloud_is_refused_while_this_one_runs(lab):
    release, network = lab_cloud()
    other = next(r for r in RELEASES if r != release)
    refused = sh(str(LAB), "up", "--release", other, check=False)
    assert refused.returncode != 0
    assert f"the lab is up as {release} + {network}" in refused.stderr and "lab/lab down" in refused.stderr
    assert lab_cloud() == (release, network)
    assert sh(str(LAB), "status").returncode == 0  # nothing was stopped


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
    again = sh(str(LAB), "up", *lab_up_args(), "--hosts", str(HOSTS), timeout=900)
    assert "starting nova-scheduler" in again.stderr and "starting compute-2" in again.stderr
    assert "starting nova-conductor" not in again.stderr  # what ran was left alone
    assert sh(str(LAB), "status").returncode == 0
    host = lab_stack()["novalab:computeHosts"][1]
    ok = ssh_pinned(host["address"], host["hostKey"], tmp_path / "known_hosts", "hostname")  # same pinned key
    assert ok.returncode == 0 and ok.stdout.strip() == "compute-2", ok.stderr


def test_new_hosts_are_empty_machines_with_new_host_keys(lab, tmp_path):
    """`lab/lab new-hosts`, before a benchmark's next first converge: what a run left on a host (its
    files, a bridge in its network namespace) is gone, and the host is a new machine (a new key) on
    the same NICs (their MAC addresses: this machine's ARP entry for the host stays right)."""
    before = {h["name"]: h for h in lab_stack()["novalab:computeHosts"]}
    host = before["compute-1"]
    dirty = ssh_pinned(host["address"], host["hostKey"], tmp_path / "kh",
                       "mkdir -p /etc/nova && touch /etc/nova/nova.conf && ip link add br100 type bridge"
                       " && cat /sys/class/net/eth1/address /sys/class/net/eth2/address")
    assert dirty.returncode == 0, dirty.stderr
    sh(str(LAB), "new-hosts", timeout=900)
    after = {h["name"]: h for h in lab_stack()["novalab:computeHosts"]}
    assert after.keys() == before.keys()
    assert all(after[n]["hostKey"] != before[n]["hostKey"] for n in after)
    host = after["compute-1"]
    clean = ssh_pinned(host["address"], host["hostKey"], tmp_path / "kh2",
                       "test -e /etc/nova && echo files || echo no-files; ip link show br100 >/dev/null 2>&1 && echo bridge || echo no-bridge;"
                       " cat /sys/class/net/eth1/address /sys/class/net/eth2/address")
    assert clean.returncode == 0 and clean.stdout.split()[:2] == ["no-files", "no-bridge"], clean.stdout + clean.stderr
    assert clean.stdout.split()[2:] == dirty.stdout.split()
    assert sh(str(LAB), "status").returncode == 0


def test_no_lab_secret_in_any_process_command_line(lab):
    secrets = [p.read_text().strip() for p in (LAB_DIR / "secrets").iterdir() if p.is_file()]
    assert len(secrets) >= 5  # admin, rabbit, service users, databases
    leaks = [f"pid {pid}: {line.split(' ')[0]}" for pid, line in command_lines().items() for s in secrets if s in line]
    assert leaks == []
