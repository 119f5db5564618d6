"""The Open vSwitch backends' host scripts, run for real with stand-in commands: configure_ovs.sh in a
private network + mount namespace (iproute2 is real there; ovs-vsctl and the openvswitch-switch
service are the stateful stand-ins of support/ovs_standin.py, ovn-controller's tools are stubs), and
stop_ovn_controller.sh. The release checks of install_packages.sh and precheck_controller.sh (which
refuse the Linux bridge agent on 2025.1) run with stand-ins for apt-cache and the openstack CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.network.ovs import OVSDB_MANAGER, render_bridge_stanza
from components.scripts import SCRIPTS_DIR
from support import ovs_standin

MGMT = "10.0.0.20"
TUNNEL = "10.77.2.21/24"
STANZA = render_bridge_stanza("br100", TUNNEL)

needs_root_netns = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"),
    reason="needs root, unshare and iproute2 for a private network namespace",
)


def stub(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text("#!/usr/bin/env bash\n" + textwrap.dedent(body))
    path.chmod(0o755)


def run(name: str, *args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPTS_DIR / name), *args], input=stdin, capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=60)


# --- configure_ovs.sh ----------------------------------------------------------------------------


@dataclass
class Result:
    rc: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


class OvsHost:
    """A compute host for configure_ovs.sh: eth1 holds the management address, eth2 (the VM-network NIC)
    an address of its own; Open vSwitch is installed but stopped; /sys/module lists no module unless
    `module`; `modprobe openvswitch` fails unless `modprobe`. /etc is `etc`."""

    def __init__(self, tmp_path: Path, module: bool = False, modprobe: bool = False, ovn_running: bool = False):
        self.dir = tmp_path
        self.etc, self.bin, self.runs = tmp_path / "etc", tmp_path / "bin", tmp_path / "runs"
        for d in (self.etc, self.bin, self.runs):
            d.mkdir()
        self.module = module
        self.inputs = 0
        self.state, self.calls = tmp_path / "ovs.json", tmp_path / "calls.log"
        standin = f'#!/bin/sh\nexec {sys.executable} {ovs_standin.__file__} {{}} "$@"\n'
        for name, mode in (("ovs-vsctl", "vsctl"), ("service", "service")):
            (self.bin / name).write_text(standin.format(mode))
            (self.bin / name).chmod(0o755)
        stub(self.bin, "modprobe", f'echo "modprobe $*" >> {self.calls}\nexit {0 if modprobe else 1}\n')
        ovn_up = tmp_path / "ovn-controller.running"
        if ovn_running:
            ovn_up.touch()
        stub(self.bin, "ovn-appctl", f"""\
            echo "ovn-appctl $*" >> {self.calls}
            [ -e {ovn_up} ] || {{ echo "cannot connect to ovn-controller" >&2; exit 1; }}
            [ "$3" = exit ] && rm {ovn_up}
            exit 0
            """)
        stub(self.bin, "ovn-ctl", f'echo "ovn-ctl $*" >> {self.calls}\n[ "$1" = start_controller ] && touch {ovn_up}\n')
        stub(self.bin, "systemctl", f'echo "systemctl $*" >> {self.calls}\n[ "$*" = "start ovn-controller" ] && touch {ovn_up}\n')
        self.env = {
            "PATH": f"{self.bin}:{os.environ['PATH']}", "NOVALAB_ETC": str(self.etc),
            "NOVALAB_OVN_CTL": str(self.bin / "ovn-ctl"), "OVS_STATE": str(self.state),
            "OVS_LOG": str(tmp_path / "ovs-vsctl.log"), "OVS_SERVICE_LOG": str(tmp_path / "service.log"),
        }

    def run(self, body: str, before: str = "") -> list[Result]:
        """BODY in a fresh namespace, after BEFORE; in it `ovs STDIN_FILE ARGS...` runs configure_ovs.sh
        compute-1 br100 eth2 10.0.0.20 --manager OVSDB_MANAGER ARGS (one Result each, in order), and
        `snapshot NAME` saves the addresses and links as NAME.ip."""
        wrapper = textwrap.dedent(f"""\
            set -euo pipefail
            mount -t sysfs sysfs /sys
            mount -t tmpfs tmpfs /sys/module  # this host's loaded modules: none
            {'mkdir /sys/module/openvswitch' if self.module else ''}
            ip link add eth1 type veth peer name eth1-peer
            ip addr add {MGMT}/24 dev eth1
            ip link set eth1 up
            ip link add eth2 type veth peer name eth2-peer
            ip addr add 192.168.77.5/24 dev eth2
            n=0
            ovs() {{
              local stdin=$1 rc=0
              shift
              n=$((n + 1))
              bash {SCRIPTS_DIR}/configure_ovs.sh compute-1 br100 eth2 {MGMT} --manager {OVSDB_MANAGER} "$@" < "$stdin" \\
                > {self.runs}/$n.out 2> {self.runs}/$n.err || rc=$?
              echo "$rc" > {self.runs}/$n.rc
            }}
            snapshot() {{
              {{ ip -o -4 addr show | awk '{{print $2, $4}}' | sort; ip -o link show | awk '{{print $2}}' | sort; }} > {self.dir}/$1.ip
            }}
            """) + textwrap.dedent(before) + textwrap.dedent(body)
        result = subprocess.run(["unshare", "--mount", "--net", "bash", "-c", wrapper], capture_output=True, text=True,
                                env=dict(os.environ, **self.env), timeout=120)
        assert result.returncode == 0, result.stderr
        count = len(list(self.runs.glob("*.rc")))
        return [Result(int((self.runs / f"{i}.rc").read_text()), (self.runs / f"{i}.out").read_text(),
                       (self.runs / f"{i}.err").read_text()) for i in range(1, count + 1)]

    def stdin_file(self, text: str) -> str:
        self.inputs += 1
        path = self.dir / f"stdin.{self.inputs}"
        path.write_text(text)
        return str(path)

    def db(self) -> dict:
        return json.loads(self.state.read_text()) if self.state.exists() else {}

    def ip(self, name: str) -> list[str]:
        return (self.dir / f"{name}.ip").read_text().splitlines()

    def service_calls(self) -> list[str]:
        log = self.dir / "service.log"
        return log.read_text().splitlines() if log.exists() else []

    def calls_of(self, tool: str) -> list[str]:
        return [c for c in (self.calls.read_text().splitlines() if self.calls.exists() else []) if c.startswith(tool)]

    @property
    def stanza(self) -> Path:
        return self.etc / "network" / "interfaces.d" / "br100"


def ovs(host: OvsHost, *args: str, stdin: str = "") -> str:
    """One `ovs` line of a host's body."""
    quoted = " ".join(f"'{a}'" for a in args)
    return f"ovs {host.stdin_file(stdin)} {quoted}\n"


@pytest.fixture
def netdev_host(tmp_path):
    return OvsHost(tmp_path)


NETDEV_ARGS = ("--overlay", "vxlan", "--tunnel-address", TUNNEL)


@needs_root_netns
def test_netdev_host_gets_ovs_its_bridge_and_tunnel_address_and_a_second_run_changes_nothing(netdev_host):
    h = netdev_host
    first, second = h.run(
        ovs(h, *NETDEV_ARGS, stdin=STANZA) + "snapshot one\ncp $OVS_STATE {0}/one.json\n".format(h.dir)
        + ovs(h, *NETDEV_ARGS, stdin=STANZA) + "snapshot two\n"
    )
    assert first.rc == 0, first.err
    # No openvswitch module here: the userspace datapath, said so, and printed last as the fact.
    assert "datapath: netdev (no openvswitch kernel module here" in first.out
    assert first.lines[-1] == "novalab-facts datapath_type=netdev"
    db = h.db()
    # The host's name as a system-id that survives the init script's restarts, and as the hostname.
    assert (h.etc / "openvswitch" / "system-id.conf").read_text() == "compute-1\n"
    assert db["open"]["external_ids"]["system-id"] == db["open"]["external_ids"]["hostname"] == "compute-1"
    # Userspace TSO (TCP to guests), read when ovs-vswitchd starts: OVS started, then restarted once.
    assert db["open"]["other_config"]["userspace-tso-enable"] == "true"
    assert h.service_calls() == ["openvswitch-switch start", "openvswitch-switch restart"]
    assert db["managers"] == [OVSDB_MANAGER] == ["ptcp:6640:127.0.0.1"]  # os-vif's and the agents' OVSDB
    assert db["bridges"] == {"br100": {"datapath_type": "netdev", "ports": ["eth2"]}}
    one = h.ip("one")
    assert "br100 10.77.2.21/24" in one  # the tunnel endpoint on the provider bridge
    assert not [line for line in one if line.startswith("eth2 ")]  # the NIC's own address is gone
    assert h.stanza.read_text() == STANZA
    assert f"wrote {h.stanza}" in first.out
    # Again, nothing to do: nothing restarted, written or changed.
    assert second.rc == 0, second.err
    assert h.service_calls() == ["openvswitch-switch start", "openvswitch-switch restart"]
    assert json.loads((h.dir / "one.json").read_text()) == h.db()
    assert h.ip("two") == one
    for change in ("wrote", "userspace TSO", "OVSDB manager", "system-id:", "port eth2"):
        assert change not in second.out
    assert second.lines[-1] == "novalab-facts datapath_type=netdev"


@needs_root_netns
@pytest.mark.parametrize("how", ["loaded", "modprobe"])
def test_the_kernel_datapath_where_the_module_loads_without_tso_or_restart(tmp_path, how):
    h = (OvsHost(tmp_path, module=how == "loaded", modprobe=how == "modprobe"))
    (result,) = h.run(ovs(h, "--overlay", "vxlan") + "snapshot after\n")
    assert result.rc == 0, result.err
    assert "datapath: system (the openvswitch kernel module is loaded" in result.out
    assert result.lines[-1] == "novalab-facts datapath_type=system"
    db = h.db()
    assert db["bridges"]["br100"]["datapath_type"] == "system"
    assert "userspace-tso-enable" not in db["open"]["other_config"]
    assert h.service_calls() == ["openvswitch-switch start"]
    assert not h.stanza.exists()  # no tunnel address to persist: the management address tunnels
    assert not [line for line in h.ip("after") if line.startswith("br100 ")]


@needs_root_netns
def test_system_datapath_when_the_stack_asks_for_it(netdev_host):
    h = netdev_host
    (result,) = h.run(ovs(h, "--overlay", "vxlan", "--datapath", "system"))
    assert result.rc == 0, result.err
    assert "datapath:" not in result.out  # nothing picked: the stack said
    assert result.lines[-1] == "novalab-facts datapath_type=system"
    assert h.db()["bridges"]["br100"]["datapath_type"] == "system"
    assert h.service_calls() == ["openvswitch-switch start"]
    assert h.calls_of("modprobe") == []


@needs_root_netns
@pytest.mark.parametrize("args", [("--overlay", "vxlan"), ("--overlay", "geneve", "--datapath", "netdev")])
def test_netdev_with_an_overlay_needs_a_tunnel_address_and_nothing_changes_without_one(netdev_host, args):
    h = netdev_host
    (result,) = h.run(ovs(h, *args, stdin=STANZA) + "snapshot after\n")
    assert result.rc == 1
    assert "set computeHosts[].tunnelAddress" in result.err
    assert "only from an address on one of its bridges" in result.err
    assert h.service_calls() == [] and not h.state.exists()  # OVS not even started
    assert not (h.etc / "openvswitch").exists() and not h.stanza.exists()
    assert "eth2 192.168.77.5/24" in h.ip("after")


@needs_root_netns
def test_netdev_without_an_overlay_needs_no_tunnel_address(netdev_host):
    h = netdev_host
    (result,) = h.run(ovs(h, "--overlay", "none"))
    assert result.rc == 0, result.err
    assert result.lines[-1] == "novalab-facts datapath_type=netdev"


@needs_root_netns
@pytest.mark.parametrize("kind", ["bridge", "veth"])
def test_an_interface_named_like_the_bridge_that_is_not_an_ovs_bridge_is_refused(netdev_host, kind):
    # A Linux bridge br100 left by the linuxbridge backend, or any other interface of that name.
    h = netdev_host
    (result,) = h.run(ovs(h, *NETDEV_ARGS, stdin=STANZA) + "snapshot after\n", before=f"ip link add br100 type {kind}\n")
    assert result.rc == 1
    assert "network.bridge br100 exists on" in result.err and "is not an Open vSwitch bridge" in result.err
    assert "ip link del br100" in result.err
    assert h.db()["bridges"] == {} and h.db()["managers"] == []
    assert "eth2 192.168.77.5/24" in h.ip("after")  # the NIC was not flushed
    assert not h.stanza.exists()


@needs_root_netns
def test_the_management_nic_or_a_missing_one_is_refused(netdev_host):
    h = netdev_host
    eth1, eth9 = h.run(
        f"bash {SCRIPTS_DIR}/configure_ovs.sh compute-1 br100 eth1 {MGMT} --manager {OVSDB_MANAGER} --overlay none < /dev/null "
        f"> {h.runs}/1.out 2> {h.runs}/1.err || echo $? > {h.runs}/1.rc\n"
        f"bash {SCRIPTS_DIR}/configure_ovs.sh compute-1 br100 eth9 {MGMT} --manager {OVSDB_MANAGER} --overlay none < /dev/null "
        f"> {h.runs}/2.out 2> {h.runs}/2.err || echo $? > {h.runs}/2.rc\n"
        "snapshot after\n"
    )
    assert eth1.rc == 1 and f"interface eth1 holds the management address {MGMT}" in eth1.err
    assert eth9.rc == 1 and "interface eth9 does not exist" in eth9.err and "computeHosts[].bridgeInterface" in eth9.err
    assert f"eth1 {MGMT}/24" in h.ip("after")
    assert h.service_calls() == []


OVN_ARGS = ("--overlay", "geneve", "--tunnel-address", TUNNEL, "--ovn-remote", "tcp:10.0.0.6:6642", "--physnet", "physnet1")


@needs_root_netns
def test_an_ovn_chassis_with_its_tunnel_ip_and_ovn_controller_started_once(netdev_host):
    h = netdev_host
    first, second = h.run(ovs(h, *OVN_ARGS, stdin=STANZA) + ovs(h, *OVN_ARGS, stdin=STANZA))
    assert first.rc == 0, first.err
    ids = h.db()["open"]["external_ids"]
    assert {k: v for k, v in ids.items() if k.startswith("ovn-")} == {
        "ovn-remote": "tcp:10.0.0.6:6642",
        "ovn-encap-type": "geneve",
        "ovn-encap-ip": "10.77.2.21",  # the tunnel address, without its prefix
        "ovn-bridge-mappings": "physnet1:br100",
        "ovn-bridge-datapath-type": "netdev",
    }
    assert ids["system-id"] == ids["hostname"] == "compute-1"  # the chassis is nova's host
    assert "ovn-controller started: chassis compute-1, tunnels from 10.77.2.21" in first.out
    started = h.calls_of("ovn-ctl") + h.calls_of("systemctl")
    assert started in (["ovn-ctl start_controller"], ["systemctl start ovn-controller"])
    assert second.rc == 0, second.err
    assert "ovn-controller started" not in second.out
    assert h.calls_of("ovn-ctl") + h.calls_of("systemctl") == started  # running: left alone
    assert first.lines[-1] == second.lines[-1] == "novalab-facts datapath_type=netdev"


@needs_root_netns
def test_a_running_ovn_controller_is_not_started_and_the_management_address_tunnels_on_system(tmp_path):
    h = (OvsHost(tmp_path, ovn_running=True))
    args = ("--overlay", "geneve", "--datapath", "system", "--ovn-remote", "tcp:10.0.0.6:6642,tcp:10.0.0.7:6642",
            "--physnet", "provider")
    (result,) = h.run(ovs(h, *args))
    assert result.rc == 0, result.err
    ids = h.db()["open"]["external_ids"]
    assert ids["ovn-encap-ip"] == MGMT
    assert ids["ovn-remote"] == "tcp:10.0.0.6:6642,tcp:10.0.0.7:6642"
    assert ids["ovn-bridge-mappings"] == "provider:br100"
    assert h.calls_of("ovn-ctl") == [] and h.calls_of("systemctl") == []


@needs_root_netns
def test_the_openvswitch_backend_sets_no_chassis(netdev_host):
    h = netdev_host
    (result,) = h.run(ovs(h, *NETDEV_ARGS, stdin=STANZA))
    assert result.rc == 0, result.err
    assert not [k for k in h.db()["open"]["external_ids"] if k.startswith("ovn-")]
    assert h.calls_of("ovn-appctl") == [] and h.calls_of("ovn-ctl") == []


@needs_root_netns
def test_the_system_id_survives_a_restart_of_open_vswitch(netdev_host):
    # Debian's init script puts system-id.conf into external_ids at every start; with a random id there,
    # OVN saw a second chassis with the same tunnel IP after a restart (the lab's Encap loop).
    h = netdev_host
    (result,) = h.run(ovs(h, *OVN_ARGS, stdin=STANZA) + "service openvswitch-switch restart\n")
    assert result.rc == 0, result.err
    assert h.db()["open"]["external_ids"]["system-id"] == "compute-1"


@needs_root_netns
def test_the_stanza_goes_when_the_tunnel_address_does_and_a_foreign_file_stays(netdev_host):
    h = netdev_host
    system = ("--overlay", "vxlan", "--datapath", "system")
    with_stanza, without, foreign = h.run(
        ovs(h, *NETDEV_ARGS, stdin=STANZA) + ovs(h, *system)
        + f"printf 'iface br100 inet manual\\n' > {h.stanza}\n" + ovs(h, *system)
    )
    assert with_stanza.rc == without.rc == foreign.rc == 0, without.err
    assert f"removed {h.stanza}" in without.out
    assert h.stanza.read_text() == "iface br100 inet manual\n"  # not novalab's: left alone
    assert "removed" not in foreign.out
    assert [p.name for p in h.stanza.parent.iterdir()] == ["br100"]  # no temp file left


@needs_root_netns
def test_the_management_address_as_tunnel_address_is_refused_before_anything_changes(netdev_host):
    # On the provider bridge it would sit on a second interface of the management network, and the
    # host's own SSH session could take that way (addressFrom hosts are only known here, not in config).
    h = netdev_host
    (result,) = h.run(ovs(h, "--overlay", "vxlan", "--tunnel-address", f"{MGMT}/24",
                          stdin=render_bridge_stanza("br100", f"{MGMT}/24")) + "snapshot after\n")
    assert result.rc == 1
    assert f"computeHosts[].tunnelAddress {MGMT}/24 is the management address of" in result.err
    assert h.service_calls() == [] and not h.stanza.exists()
    assert f"eth1 {MGMT}/24" in h.ip("after") and "eth2 192.168.77.5/24" in h.ip("after")


@needs_root_netns
def test_a_changed_tunnel_address_replaces_the_old_one_on_the_bridge(netdev_host):
    h = netdev_host
    moved = "10.77.3.21/24"
    system = ("--overlay", "vxlan", "--datapath", "system")
    first, second, third = h.run(
        ovs(h, *NETDEV_ARGS, stdin=STANZA)
        + ovs(h, "--overlay", "vxlan", "--tunnel-address", moved, stdin=render_bridge_stanza("br100", moved))
        + "snapshot moved\n" + ovs(h, *system) + "snapshot gone\n"
    )
    assert [first.rc, second.rc, third.rc] == [0, 0, 0], second.err + third.err
    assert [line for line in h.ip("moved") if line.startswith("br100 ")] == [f"br100 {moved}"]
    assert f"removed the former tunnel address {TUNNEL} from br100" in second.out
    assert h.db()["open"]["external_ids"].get("ovn-encap-ip") is None
    # Without a tunnel address (the kernel datapath tunnels from the management address) none stays.
    assert not [line for line in h.ip("gone") if line.startswith("br100 ")]
    assert f"removed the former tunnel address {moved} from br100" in third.out
    assert not h.stanza.exists()


# --- stop_ovn_controller.sh (the config step's delete, ovn) ----------------------------------------


def ovn_appctl_stub(bindir: Path, tmp_path: Path, running: bool, exits: bool = True) -> Path:
    """ovn-appctl answering for an ovn-controller that runs (or not); `exit` ends it (or hangs)."""
    up, log = tmp_path / "ovn-controller.running", tmp_path / "calls.log"
    if running:
        up.touch()
    stub(bindir, "ovn-appctl", f"""\
        echo "ovn-appctl $*" >> {log}
        [ -e {up} ] || {{ echo "ovn-appctl: cannot connect to \\"/var/run/ovn/ovn-controller.pid\\"" >&2; exit 1; }}
        case "$3" in
          version) echo "ovn-controller 25.03.0" ;;
          exit) {f'rm {up}' if exits else 'exec sleep 600'} ;;
        esac
        """)
    stub(bindir, "systemctl", f'echo "systemctl $*" >> {log}\n')
    return log


def test_stop_ovn_controller_exits_it_gracefully_once(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = ovn_appctl_stub(bindir, tmp_path, running=True)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    result = run("stop_ovn_controller.sh", env=env)
    assert result.returncode == 0, result.stderr
    assert "ovn-controller stopped: chassis" in result.stdout and "removed from the southbound database" in result.stdout
    # `exit` without --restart: ovn-controller deletes its chassis (a restart would keep it).
    assert [c for c in log.read_text().splitlines() if "exit" in c] == ["ovn-appctl -t ovn-controller exit"]
    again = run("stop_ovn_controller.sh", env=env)
    assert again.returncode == 0 and again.stdout == "ovn-controller is not running\n"
    assert len([c for c in log.read_text().splitlines() if "exit" in c]) == 1


def test_stop_ovn_controller_does_nothing_where_it_does_not_run(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = ovn_appctl_stub(bindir, tmp_path, running=False)
    result = run("stop_ovn_controller.sh", env={"PATH": f"{bindir}:{os.environ['PATH']}"})
    assert result.returncode == 0 and result.stdout == "ovn-controller is not running\n"
    assert log.read_text().splitlines() == ["ovn-appctl -t ovn-controller version"]


def test_stop_ovn_controller_fails_naming_the_chassis_left_when_it_will_not_exit(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    ovn_appctl_stub(bindir, tmp_path, running=True, exits=False)
    result = run("stop_ovn_controller.sh", env={"PATH": f"{bindir}:{os.environ['PATH']}", "NOVALAB_STOP_TIMEOUT": "1"})
    assert result.returncode == 1
    assert "did not exit within 1s" in result.stderr and "openstack network agent delete" in result.stderr


# --- install_packages.sh --refuse-from (the packages step, linuxbridge) ---------------------------


def linuxbridge_refusal() -> list[str]:
    """The packages step's --refuse-from options, as the program gives them for linuxbridge."""
    from components.compute_host import unavailable_options
    from components.network.linuxbridge import BACKEND

    return list(unavailable_options("--refuse-from", BACKEND, lambda u: (u.package, u.release.neutron_version)))


def apt_standins(tmp_path: Path, candidate: str | None) -> tuple[dict, Path]:
    """apt-get (logged) and apt-cache answering CANDIDATE as the agent's candidate version (None: no
    candidate, as apt-cache says for a package no source has); apt's state under a private root."""
    bindir, root, log = tmp_path / "bin", tmp_path / "root", tmp_path / "apt.log"
    bindir.mkdir()
    for d in ("var/lib/dpkg/updates", "var/lib/apt/lists", "var/cache/apt/archives"):
        (root / d).mkdir(parents=True)
    stub(bindir, "apt-get", f'echo "apt-get $*" >> {log}\n')
    if candidate is None:
        answer = 'echo "N: Unable to locate package $3" >&2; echo "E: No packages found" >&2; exit 100'
    else:
        answer = f'printf "Package: %s\\nVersion: {candidate}\\nArchitecture: amd64\\n\\n" "$3"'
    stub(bindir, "apt-cache", f'echo "apt-cache $*" >> {log}\n{answer}\n')
    return {"PATH": f"{bindir}:{os.environ['PATH']}", "NOVALAB_ROOT": str(root)}, log


@pytest.mark.parametrize("candidate", ["2:26.0.3-0+deb13u3", "2:26", "2:27.0.0-1"])
def test_install_refuses_the_linux_bridge_agent_from_2025_1_before_installing(tmp_path, candidate):
    env, log = apt_standins(tmp_path, candidate)
    result = run("install_packages.sh", *linuxbridge_refusal(), "novalab-no-such-package", env=env)
    assert result.returncode == 1
    assert (f"nothing installed: neutron-linuxbridge-agent is {candidate} here: network.backend linuxbridge: "
            "neutron 26 (OpenStack 2025.1) removed the Linux bridge agent") in result.stderr
    assert "set network.backend to ovn or openvswitch" in result.stderr
    assert not [c for c in log.read_text().splitlines() if c.startswith("apt-get install")]


def test_install_goes_on_with_an_older_agent(tmp_path):
    env, log = apt_standins(tmp_path, "2:21.2.0-2+deb12u1")  # Zed, Debian 12
    result = run("install_packages.sh", *linuxbridge_refusal(), "novalab-no-such-package", env=env)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert "apt-cache show --no-all-versions neutron-linuxbridge-agent" in calls  # after apt-get update
    assert calls.index("apt-get update -q") < calls.index("apt-cache show --no-all-versions neutron-linuxbridge-agent")
    assert calls[-1].startswith("apt-get install") and calls[-1].endswith(" novalab-no-such-package")


def test_install_notes_an_agent_without_candidate_and_goes_on(tmp_path):
    # apt then fails on the package itself, saying which; the release check has nothing to read.
    env, log = apt_standins(tmp_path, None)
    result = run("install_packages.sh", *linuxbridge_refusal(), "novalab-no-such-package", env=env)
    assert result.returncode == 0, result.stderr
    assert "note: no candidate for neutron-linuxbridge-agent on" in result.stdout
    assert log.read_text().splitlines()[-1].startswith("apt-get install")


def test_install_checks_no_release_when_everything_is_installed(tmp_path):
    env, log = apt_standins(tmp_path, "2:26.0.3-0+deb13u3")
    result = run("install_packages.sh", *linuxbridge_refusal(), "bash", env=env)
    assert result.returncode == 0, result.stderr  # a host already running its agent is left alone
    assert not log.exists()


# --- precheck_controller.sh: the cloud's release and queue types ----------------------------------

CLOUDS = '{"clouds": {"novalab": {"auth": {"password": "gate-s3cret"}}}}\n'


def controller_standins(tmp_path: Path, microversions: str) -> dict:
    """openstack as a working controller answers, its compute API's versions listing MICROVERSIONS
    (`openstack versions show -f value -c "Max Microversion"`, one line per API version)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    stub(bindir, "nova-manage", "exit 0\n")
    stub(bindir, "openstack", f"""\
        grep -q gate-s3cret "$OS_CLIENT_CONFIG_FILE" || exit 1
        case "$*" in
          "token issue"*) echo 2030-01-01 ;;
          "compute service list"*) echo compute-1 ;;
          "versions show --service compute -f value -c Max Microversion") printf '%s' '{microversions}' ;;
          *) echo "unexpected: $*" >&2; exit 1 ;;
        esac
        """)
    return {"PATH": f"{bindir}:{os.environ['PATH']}", "NOVALAB_NOVA_CONF": str(tmp_path / "nova.conf")}


def linuxbridge_release_check() -> list[str]:
    from components.compute_host import unavailable_options
    from components.network.linuxbridge import BACKEND

    return list(unavailable_options("--refuse-from-microversion", BACKEND, lambda u: (u.release.compute_microversion,)))


@pytest.mark.parametrize("listed, passes", [
    ("None\n2.93\n", True),  # Zed
    ("2.96\n", True),  # 2024.2
    ("None\n2.100\n", False),  # 2025.1: the Linux bridge agent is gone
    ("2.101\n", False),
])
def test_the_controller_step_refuses_linuxbridge_on_a_2025_1_cloud(tmp_path, listed, passes):
    env = controller_standins(tmp_path, listed)
    result = run("precheck_controller.sh", "compute-1", *linuxbridge_release_check(), stdin=CLOUDS, env=env)
    if passes:
        assert result.returncode == 0, result.stderr
        assert "controller checks passed for compute-1" in result.stdout
    else:
        assert result.returncode == 1
        newest = listed.split()[-1]
        assert f"refused for compute-1: the cloud's compute API is at microversion {newest}: network.backend linuxbridge" in result.stderr
        assert "set network.backend to ovn or openvswitch" in result.stderr
    assert "gate-s3cret" not in result.stdout + result.stderr


def test_a_compute_api_that_names_no_microversion_is_noted_not_refused(tmp_path):
    env = controller_standins(tmp_path, "")
    result = run("precheck_controller.sh", "compute-1", *linuxbridge_release_check(), stdin=CLOUDS, env=env)
    assert result.returncode == 0, result.stderr
    assert "note: the compute API named no microversion" in result.stdout


@pytest.mark.parametrize("nova_conf, stack, fix", [
    ("[oslo_messaging_rabbit]\nrabbit_quorum_queue = true\n", "classic", "quorum"),
    ("[oslo_messaging_rabbit]\nrabbit_quorum_queue = True\n", "classic", "quorum"),
    ("[oslo_messaging_rabbit]\nrabbit_quorum_queue = false\n", "quorum", "classic"),
    ("[DEFAULT]\ndebug = true\n", "quorum", "classic"),  # unset: oslo.messaging's classic queues
    ("[oslo_messaging_rabbit]\nrabbit_quorum_queue = yes\n", "quorum", None),
    ("[DEFAULT]\ntransport_url = rabbit://openstack:p%40ss@10.0.0.6:5672/\n", "classic", None),
    (None, "quorum", None),  # no nova.conf here (a containerised controller): nothing to compare
])
def test_the_controller_step_refuses_queue_types_the_controllers_nova_does_not_declare(tmp_path, nova_conf, stack, fix):
    env = controller_standins(tmp_path, "2.100\n")
    if nova_conf is not None:
        (tmp_path / "nova.conf").write_text(nova_conf)
    result = run("precheck_controller.sh", "compute-1", "--rabbit-queues", stack, stdin=CLOUDS, env=env)
    if fix is None:
        assert result.returncode == 0, result.stderr
        assert ("note: no readable" in result.stdout) == (nova_conf is None)  # said when it was not checked
    else:
        assert result.returncode == 1
        assert (f"refused for compute-1: the controller's nova declares {fix} queues on RabbitMQ, and every service "
                f"on a vhost must declare the same: set services.rabbitQueues: {fix}") in result.stderr


def test_the_packages_step_of_a_linuxbridge_stack_stops_a_2025_1_host_before_installing(tmp_path):
    # The command line the program runs (prechecks, then the packages with the backend's refusal).
    import socket

    from components.compute_host import ComputeHostArgs, SshAccess, packages_command
    from components.config import NetworkConfig, ServicesConfig

    env, log = apt_standins(tmp_path, "2:26.0.3-0+deb13u3")
    stub(tmp_path / "bin", "dpkg-query", "exit 1\n")  # nothing installed yet
    with socket.socket() as rabbit:
        rabbit.bind(("127.0.0.1", 0))
        rabbit.listen()
        services = ServicesConfig(rabbit_host="127.0.0.1", rabbit_port=rabbit.getsockname()[1],
                                  keystone_url="http://127.0.0.1:5000", glance_api_servers=["http://127.0.0.1:9292"],
                                  novncproxy_base_url="http://127.0.0.1:6080")
        args = ComputeHostArgs(host_name="compute-1", address="10.0.0.20", bridge_interface="lo", virt_type="qemu",
                               controller_address="10.0.0.6", services=services, network=NetworkConfig(),
                               ssh=SshAccess("root", 22, "key"), rabbit_password="r", nova_password="n")
        result = subprocess.run(["bash", "-c", packages_command(args, "10.0.0.20")], capture_output=True, text=True,
                                env=dict(os.environ, **env, NOVALAB_PRECHECK_TIMEOUT="2"), timeout=60)
    assert result.returncode == 1
    assert "prechecks passed on compute-1" in result.stdout
    assert "nothing installed: neutron-linuxbridge-agent is 2:26.0.3-0+deb13u3 here" in result.stderr
    assert not [c for c in log.read_text().splitlines() if c.startswith("apt-get install")]
