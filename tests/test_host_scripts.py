"""The shell that runs on hosts, run for real here (stub commands stand in for apt, service,
openstack and nova-manage; the bridge test uses a private network + mount namespace)."""

from __future__ import annotations

import base64
import contextlib
import grp
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from components.scripts import SCRIPTS_DIR, script_command, script_source, script_text, without_comments
from support.engine import closed_port
from support.numbers import record

SCRIPTS = sorted(p.name for p in SCRIPTS_DIR.glob("*.sh"))
ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def run(name: str, *args: str, stdin: str = "", env: dict | None = None, timeout: int = 60):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        ["bash", str(SCRIPTS_DIR / name), *args], input=stdin, capture_output=True, text=True, env=full_env, timeout=timeout
    )


def stub(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text("#!/usr/bin/env bash\n" + textwrap.dedent(body))
    path.chmod(0o755)


@pytest.fixture
def bindir(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    return d


def path_with(bindir: Path) -> dict:
    return {"PATH": f"{bindir}:{os.environ['PATH']}"}


# --- all scripts ----------------------------------------------------------------------------


def test_scripts_are_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: run the README's test command, which installs it"
    result = subprocess.run([shellcheck, "-x", *SCRIPTS], cwd=SCRIPTS_DIR, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    root = SCRIPTS_DIR.parent.parent
    lab = subprocess.run([shellcheck, "-x", "lab", *[str(p.relative_to(root / "lab")) for p in (root / "lab").rglob("*.sh")], "guest/udhcpc.script"],
                         cwd=root / "lab", capture_output=True, text=True)
    assert lab.returncode == 0, lab.stdout
    top = subprocess.run([shellcheck, "novalab", ".ci/run"], cwd=root, capture_output=True, text=True)
    assert top.returncode == 0, top.stdout


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_as_sent_to_hosts_are_shellcheck_clean(name):
    # What a host runs is the script with its lib/ helpers in place of the lines sourcing them.
    result = subprocess.run(["shellcheck", "-"], input=script_text(name), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def bash_parse(text: str) -> str:
    """Bash's own rendering of TEXT as a function body: what it runs, with no comment or layout."""
    result = subprocess.run(["bash", "-c", 'eval "novalab_script() {\n$1\n}" && declare -f novalab_script', "_", text],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_travels_without_its_comments_and_runs_the_same(name):
    sent, source = script_text(name), script_source(name)
    assert bash_parse(sent) == bash_parse(source)
    lines = sent.splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert [line for line in lines[1:] if line.strip().startswith("#") and "# shellcheck " not in line] == []
    assert len(sent) < 0.8 * len(source)


def test_comment_stripping_leaves_heredocs_and_comments_after_code_alone():
    text = textwrap.dedent("""\
        #!/usr/bin/env bash
        # why
        cat <<'EOF'
        # data, not a comment

        EOF
        python3 - <<-PY
        \t# also data
        \tPY
        echo done  # stays
        # shellcheck disable=SC2016
          # gone
        x=$(cat <<<"# a here-string")
        """)
    assert without_comments(text) == text.replace("# why\n", "").replace("  # gone\n", "")


def test_a_script_as_sent_carries_its_helpers(bindir, tmp_path):
    # Run from a folder with no lib/ beside it, as on the controller: the helpers are in the text.
    controller_stubs(bindir)
    assert "nova_manage()" in script_text("precheck_controller.sh")
    result = subprocess.run(["bash", "-c", script_command("precheck_controller.sh", "compute-1")], input=CLOUDS,
                            capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, **path_with(bindir)))
    assert result.returncode == 0, result.stderr
    assert "controller checks passed for compute-1" in result.stdout


def test_the_controller_scripts_name_the_cloud_the_clouds_yaml_holds():
    import json

    from components.render import ServiceAuth, render_clouds_yaml

    (cloud,) = json.loads(render_clouds_yaml(ServiceAuth("http://k:5000", "nova", "pw", "service", "RegionOne")))["clouds"]
    assert f"OS_CLOUD={cloud}\n" in (SCRIPTS_DIR / "lib" / "controller.sh").read_text()


def test_a_helper_sourced_any_other_way_is_refused(monkeypatch, tmp_path):
    import components.scripts as scripts

    (tmp_path / "odd.sh").write_text('#!/usr/bin/env bash\nsource "${BASH_SOURCE[0]%/*}/lib/controller.sh"\n')
    monkeypatch.setattr(scripts, "SCRIPTS_DIR", tmp_path)
    with pytest.raises(ValueError, match="odd.sh: a helper is sourced other than as"):
        scripts.script_text("odd.sh")


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_are_strict(name):
    text = (SCRIPTS_DIR / name).read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text


def test_script_command_passes_arguments_through_unevaluated(tmp_path):
    # Host names and interfaces reach the host inside one `bash -c` line: quotes, spaces and `$(...)`
    # must arrive as the same text, never run.
    marker = tmp_path / "ran"
    iface = f"it's $(touch {marker}) eth2"
    result = subprocess.run(["bash", "-c", script_command("configure_bridge.sh", "br100", iface, "10.0.0.20")],
                            input="", capture_output=True, text=True)
    assert result.returncode == 1
    assert f"interface {iface} does not exist" in result.stderr
    assert not marker.exists()


# --- write_files.sh ----------------------------------------------------------------------------


def bundle(*files: tuple[Path, str, str]) -> str:
    return "".join(f"{p} {ME} {MY_GROUP} {mode} {base64.b64encode(c.encode()).decode()}\n" for p, c, mode in files)


def test_write_files_places_content_mode_and_owner(tmp_path):
    a, b = tmp_path / "nova" / "nova.conf", tmp_path / "neutron" / "neutron.conf"
    result = run("write_files.sh", stdin=bundle((a, "[DEFAULT]\npassword = s3cret\n", "0640"), (b, "x = 1\n", "0644")))
    assert result.returncode == 0, result.stderr
    assert a.read_text() == "[DEFAULT]\npassword = s3cret\n"
    assert stat.S_IMODE(a.stat().st_mode) == 0o640 and stat.S_IMODE(b.stat().st_mode) == 0o644
    assert result.stdout.splitlines() == [f"updated {a}", f"updated {b}"]
    assert "s3cret" not in result.stdout + result.stderr


def test_write_files_is_idempotent_and_leaves_no_temp_files(tmp_path):
    a = tmp_path / "a.conf"
    data = bundle((a, "v = 1\n", "0640"))
    run("write_files.sh", stdin=data)
    before = a.stat().st_ino
    again = run("write_files.sh", stdin=data)
    assert again.stdout.splitlines() == [f"unchanged {a}"]
    assert a.stat().st_ino == before  # not rewritten
    changed = run("write_files.sh", stdin=bundle((a, "v = 2\n", "0640")))
    assert changed.stdout.splitlines() == [f"updated {a}"] and a.read_text() == "v = 2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.conf"]


def test_write_files_changes_nothing_when_one_record_is_bad(tmp_path):
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    a.write_text("old\n")
    data = bundle((a, "new\n", "0640")) + f"{b} {ME} {MY_GROUP} 0640 !!!not-base64!!!\n"
    result = run("write_files.sh", stdin=data)
    assert result.returncode != 0
    assert a.read_text() == "old\n"  # the good file was not moved into place either
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.conf"]


def test_write_files_makes_a_missing_directory_for_its_file(tmp_path):
    # nova's ~/.ssh does not exist on a fresh host: made with the key's owner and 0700, as ssh wants.
    ssh_dir, existing = tmp_path / "home" / ".ssh", tmp_path / "etc"
    existing.mkdir(mode=0o755)
    result = run("write_files.sh", stdin=bundle((ssh_dir / "id_key", "key\n", "0600"), (existing / "a.conf", "x\n", "0640")))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(ssh_dir.stat().st_mode) == 0o700
    assert ssh_dir.stat().st_uid == os.getuid() and ssh_dir.stat().st_gid == os.getgid()
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755  # an existing directory is left as it is


def test_write_files_rejects_relative_paths(tmp_path):
    result = run("write_files.sh", stdin=f"etc/x {ME} {MY_GROUP} 0640 eA==\n")
    assert result.returncode == 2 and "not an absolute path" in result.stderr


# --- install_packages.sh -------------------------------------------------------------------------


def install_env(bindir: Path, root: Path, **extra: str) -> dict:
    """The stand-ins first on PATH, and apt/dpkg's state (locks, dpkg's updates/) under ROOT instead of
    this machine's, so a package run here holds no test up."""
    for d in ("var/lib/dpkg/updates", "var/lib/apt/lists", "var/cache/apt/archives"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return dict(path_with(bindir), NOVALAB_ROOT=str(root), **extra)


def test_install_skips_apt_when_everything_is_installed(bindir, tmp_path):
    stub(bindir, "apt-get", 'echo "apt-get must not run" >&2; exit 99\n')
    result = run("install_packages.sh", "bash", "coreutils", env=install_env(bindir, tmp_path))
    assert result.returncode == 0, result.stderr
    assert "already installed: bash coreutils" in result.stdout
    facts = result.stdout.strip().splitlines()[-1]
    assert facts.startswith("novalab-facts ram_mb=") and " vcpus=" in facts and " disk_gb=" in facts


def test_install_installs_only_missing_packages_noninteractively(bindir, tmp_path):
    log = tmp_path / "apt.log"
    stub(bindir, "apt-get", f'echo "$DEBIAN_FRONTEND $*" >> {log}\n')
    result = run("install_packages.sh", "bash", "novalab-no-such-package", env=install_env(bindir, tmp_path / "root"))
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "noninteractive update -q"
    assert calls[1].startswith("noninteractive install -y -q --no-install-recommends")
    assert calls[1].endswith(" novalab-no-such-package")  # bash is already there


def test_install_fails_when_apt_fails(bindir, tmp_path):
    stub(bindir, "apt-get", 'echo "E: Unable to locate package" >&2; exit 100\n')
    result = run("install_packages.sh", "novalab-no-such-package", env=install_env(bindir, tmp_path))
    assert result.returncode == 100 and "Unable to locate package" in result.stderr


HOLD_LOCK = "import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(600)"


@pytest.fixture
def dpkg_lock_holder(tmp_path):
    """A process holding dpkg's frontend lock under a private root, as unattended-upgrades does."""
    root = Path(os.path.realpath(tmp_path)) / "root"
    lock = root / "var/lib/dpkg/lock-frontend"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    yield root, holder
    holder.kill()
    holder.wait()


def test_install_waits_for_the_dpkg_lock_and_says_so(bindir, tmp_path, dpkg_lock_holder):
    root, holder = dpkg_lock_holder
    log = tmp_path / "apt.log"
    stub(bindir, "apt-get", f'echo "apt-get $*" >> {log}\n')
    install = subprocess.Popen(["bash", str(SCRIPTS_DIR / "install_packages.sh"), "novalab-no-such-package"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, **install_env(bindir, root, NOVALAB_DPKG_LOCK_POLL="0.2")))
    lines = [install.stdout.readline(), install.stdout.readline()]
    assert lines[0] == "installing: novalab-no-such-package\n"
    assert lines[1].startswith(f"waiting for apt/dpkg's lock, held by {holder.pid} (")
    assert f"{root}/var/lib/dpkg/lock-frontend (on a fresh cloud image: unattended-upgrades)" in lines[1]
    assert not log.exists()  # nothing ran while the lock was held
    holder.kill()  # unattended-upgrades finishes
    holder.wait()
    out, err = install.communicate(timeout=60)
    assert install.returncode == 0, err
    calls = log.read_text().splitlines()
    assert calls[0] == "apt-get update -q"
    assert calls[1].endswith("-o DPkg::Lock::Timeout=600 novalab-no-such-package")


def test_install_gives_up_on_a_lock_held_too_long(bindir, tmp_path, dpkg_lock_holder):
    root, holder = dpkg_lock_holder
    stub(bindir, "apt-get", 'echo "apt-get must not run" >&2; exit 99\n')
    env = install_env(bindir, root, NOVALAB_DPKG_LOCK_TIMEOUT="1", NOVALAB_DPKG_LOCK_POLL="0.2")
    result = run("install_packages.sh", "novalab-no-such-package", env=env)
    assert result.returncode == 1
    assert f"apt/dpkg is still locked on {socket.gethostname()} after 1s, by {holder.pid} (" in result.stderr
    assert "run pulumi up again" in result.stderr
    assert "apt-get must not run" not in result.stderr


@pytest.mark.parametrize("recovers", [True, False])
def test_install_finishes_an_interrupted_dpkg_first(bindir, tmp_path, recovers):
    root, log = tmp_path / "root", tmp_path / "calls.log"
    env = install_env(bindir, root)
    (root / "var/lib/dpkg/updates/0001").write_text("")  # what dpkg leaves when it is killed midway
    stub(bindir, "apt-get", f'echo "apt-get $*" >> {log}\n')
    stub(bindir, "dpkg", f'echo "dpkg $*" >> {log}\n' + ("" if recovers else 'echo "dpkg: error processing package nova-common" >&2; exit 1\n'))
    result = run("install_packages.sh", "novalab-no-such-package", env=env)
    calls = log.read_text().splitlines()
    assert calls[0] == "dpkg --force-confdef --force-confold --configure -a"
    assert "dpkg was interrupted" in result.stdout
    if recovers:
        assert result.returncode == 0, result.stderr
        assert calls[1] == "apt-get update -q"
    else:
        assert result.returncode == 1
        assert "dpkg --configure -a failed" in result.stderr and "nova-common" in result.stderr
        assert len(calls) == 1  # apt did not run


# --- precheck_host.sh (run before the packages: reads only) ---------------------------------------


@pytest.fixture
def rabbit_port():
    """A port that answers on 127.0.0.1, standing in for RabbitMQ."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield str(listener.getsockname()[1])


def precheck(virt_type="qemu", iface="lo", mgmt="10.0.0.20", port="5672", kvm="/dev/null"):
    return run("precheck_host.sh", "compute-1", virt_type, iface, mgmt, "127.0.0.1", port,
               env={"NOVALAB_KVM_DEVICE": kvm, "NOVALAB_PRECHECK_TIMEOUT": "2"})


def test_precheck_passes_a_host_that_can_work(rabbit_port):
    result = precheck(port=rabbit_port)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "prechecks passed on compute-1\n"
    assert precheck("kvm", port=rabbit_port).returncode == 0  # a usable (char, read-write) device


def test_precheck_refuses_kvm_without_a_usable_dev_kvm(rabbit_port, tmp_path):
    result = precheck("kvm", port=rabbit_port, kvm=str(tmp_path / "kvm"))
    assert result.returncode == 1
    assert f"precheck failed on compute-1: virtType is kvm but {tmp_path}/kvm does not exist" in result.stderr
    assert "set computeHosts[].virtType: qemu" in result.stderr
    assert precheck("qemu", port=rabbit_port, kvm=str(tmp_path / "kvm")).returncode == 0  # qemu needs none


def test_precheck_refuses_a_missing_bridge_interface_naming_the_ones_there(rabbit_port):
    result = precheck(iface="eth9", port=rabbit_port)
    assert result.returncode == 1
    assert "precheck failed on compute-1: the bridge interface eth9 does not exist (interfaces here: lo" in result.stderr
    assert "fix computeHosts[].bridgeInterface" in result.stderr


def test_precheck_refuses_the_management_nic_as_bridge_interface(rabbit_port):
    result = precheck(iface="lo", mgmt="127.0.0.1", port=rabbit_port)
    assert result.returncode == 1
    assert "the bridge interface lo holds the management address 127.0.0.1" in result.stderr
    assert "the VM-network NIC" in result.stderr


def test_precheck_refuses_when_rabbitmq_does_not_answer():
    result = precheck(port=str(closed_port()))
    assert result.returncode == 1
    assert "precheck failed on compute-1: RabbitMQ at 127.0.0.1:" in result.stderr
    assert "services.rabbitHost/rabbitPort" in result.stderr


def test_precheck_reports_every_failure_at_once(tmp_path):
    result = precheck("kvm", iface="eth9", port=str(closed_port()), kvm=str(tmp_path / "kvm"))
    assert result.returncode == 1
    failures = [line for line in result.stderr.splitlines() if line.startswith("precheck failed on compute-1: ")]
    assert len(failures) == 3


def test_packages_step_touches_nothing_when_a_precheck_fails(bindir, tmp_path):
    from components.compute_host import ComputeHostArgs, SshAccess, packages_command
    from components.config import NetworkConfig, ServicesConfig

    services = ServicesConfig(rabbit_host="127.0.0.1", rabbit_port=closed_port(), keystone_url="http://127.0.0.1:5000",
                              glance_api_servers=["http://127.0.0.1:9292"], novncproxy_base_url="http://127.0.0.1:6080")
    args = ComputeHostArgs(host_name="compute-1", address="10.0.0.20", bridge_interface="lo", virt_type="qemu",
                           controller_address="10.0.0.6", services=services, network=NetworkConfig(),
                           ssh=SshAccess("root", 22, "key"), rabbit_password="r", nova_password="n")
    log = tmp_path / "apt.log"
    stub(bindir, "apt-get", f'echo "apt-get $*" >> {log}\n')
    stub(bindir, "dpkg-query", "exit 1\n")  # nothing installed: apt-get would run next
    result = subprocess.run(["bash", "-c", packages_command(args, "10.0.0.20")], capture_output=True, text=True,
                            env=dict(os.environ, **path_with(bindir), NOVALAB_PRECHECK_TIMEOUT="2"))
    assert result.returncode == 1
    assert "precheck failed on compute-1: RabbitMQ" in result.stderr
    assert not log.exists()


# --- restart_service.sh --------------------------------------------------------------------------


def service_stub(bindir: Path, log: Path, running_after_restart: bool = True, libvirt_running: bool = False):
    # A sysvinit `service` that remembers which services run, in files under the log's folder.
    state = log.parent / "running"
    state.mkdir(exist_ok=True)
    if libvirt_running:
        (state / "libvirtd").touch()
    stub(
        bindir,
        "service",
        f"""\
        echo "$*" >> {log}
        case "$2" in
          status) [ -e {state}/"$1" ] ;;
          start|restart) {'touch' if running_after_restart else 'true'} {state}/"$1" ;;
          stop) rm -f {state}/"$1" ;;
        esac
        """,
    )
    return state


def libvirt_stubs(bindir: Path, log: Path) -> None:
    """libvirtd/virtlogd started directly (Debian 12 ships no init script for them)."""
    up = log.parent / "libvirtd-up"
    stub(bindir, "pidof", f'[ "$1" = libvirtd ] && [ -e {up} ] && exit 0; exit 1\n')
    stub(bindir, "libvirtd", f'echo "libvirtd $*" >> {log}; touch {up}\n')
    stub(bindir, "virtlogd", f'echo "virtlogd $*" >> {log}\n')
    stub(bindir, "virsh", f'[ -e {up} ]\n')


FAST = {"SETTLE_SECONDS": "0", "LIBVIRT_TIMEOUT": "2"}


def test_restart_starts_libvirtd_before_nova_compute(bindir, tmp_path):
    log = tmp_path / "service.log"
    service_stub(bindir, log)
    libvirt_stubs(bindir, log)
    result = run("restart_service.sh", "nova-compute", "5", env=dict(path_with(bindir), **FAST))
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls.index("libvirtd -d") < calls.index("nova-compute restart")
    assert "virtlogd -d" in calls
    assert "nova-compute restarted" in result.stdout


def test_restart_fails_when_libvirtd_never_answers(bindir, tmp_path):
    log = tmp_path / "service.log"
    service_stub(bindir, log)
    libvirt_stubs(bindir, log)
    stub(bindir, "virsh", "exit 1\n")
    result = run("restart_service.sh", "nova-compute", "5", env=dict(path_with(bindir), **FAST))
    assert result.returncode == 1
    assert "libvirtd does not answer" in result.stderr
    assert "nova-compute restart" not in log.read_text()


def test_the_agent_restart_does_not_touch_libvirt(bindir, tmp_path):
    log = tmp_path / "service.log"
    service_stub(bindir, log)
    libvirt_stubs(bindir, log)
    result = run("restart_service.sh", "neutron-linuxbridge-agent", "5", env=dict(path_with(bindir), **FAST))
    assert result.returncode == 0, result.stderr
    assert "libvirtd" not in log.read_text()


def test_restart_fails_when_the_service_does_not_come_up(bindir, tmp_path):
    log = tmp_path / "service.log"
    service_stub(bindir, log, running_after_restart=False)
    result = run("restart_service.sh", "neutron-linuxbridge-agent", "1", env=dict(path_with(bindir), **FAST))
    assert result.returncode == 1
    assert "neutron-linuxbridge-agent is not running 1s after restart" in result.stderr


def test_restart_fails_when_the_service_dies_right_after_starting(bindir, tmp_path):
    # Like nova-compute without a hypervisor: running at first, gone a moment later.
    count = tmp_path / "status-calls"
    stub(bindir, "service", f"""\
        case "$2" in
          status) n=$(cat {count} 2>/dev/null || echo 0); echo $((n + 1)) > {count}; [ "$n" -eq 0 ] ;;
          *) true ;;
        esac
        """)
    result = run("restart_service.sh", "neutron-linuxbridge-agent", "5", env=dict(path_with(bindir), **FAST))
    assert result.returncode == 1
    assert "stopped right after starting" in result.stderr


def pidfile_service_stub(bindir: Path, run_dir: Path, pid: int, status_rc: int = 3) -> None:
    """Debian's init script as it behaves for the L2 agent: restart writes /run/neutron/<name>.pid;
    status looks the process up by its name, which the agent has changed, so it says "not running"."""
    (run_dir / "neutron").mkdir(parents=True, exist_ok=True)
    stub(bindir, "service", f"""\
        case "$2" in
          restart) echo {pid} > {run_dir}/neutron/"$1".pid ;;
          status) exit {status_rc} ;;
        esac
        """)


def test_restart_trusts_the_pid_file_over_a_status_that_lost_the_renamed_agent(bindir, tmp_path):
    agent = subprocess.Popen(["sleep", "60"])
    try:
        pidfile_service_stub(bindir, tmp_path / "run", agent.pid)
        env = dict(path_with(bindir), NOVALAB_RUN_DIR=str(tmp_path / "run"), **FAST)
        result = run("restart_service.sh", "neutron-linuxbridge-agent", "3", env=env)
        assert result.returncode == 0, result.stderr
        assert "neutron-linuxbridge-agent restarted" in result.stdout
    finally:
        agent.kill()
        agent.wait()


def test_restart_fails_when_the_pid_file_names_a_dead_process(bindir, tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    pidfile_service_stub(bindir, tmp_path / "run", gone.pid, status_rc=0)  # a status that errs the other way
    env = dict(path_with(bindir), NOVALAB_RUN_DIR=str(tmp_path / "run"), **FAST)
    result = run("restart_service.sh", "neutron-linuxbridge-agent", "1", env=env)
    assert result.returncode == 1
    assert "is not running 1s after restart" in result.stderr


def test_stop_mode_stops_each_running_service_and_leaves_the_rest(bindir, tmp_path):
    log = tmp_path / "service.log"
    state = service_stub(bindir, log)
    (state / "nova-compute").touch()
    (state / "neutron-linuxbridge-agent").touch()
    (state / "libvirtd").touch()
    result = run("restart_service.sh", "--stop", "nova-compute", "neutron-linuxbridge-agent", env=path_with(bindir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["nova-compute stopped", "neutron-linuxbridge-agent stopped"]
    assert sorted(p.name for p in state.iterdir()) == ["libvirtd"]  # only what was asked
    again = run("restart_service.sh", "--stop", "nova-compute", env=path_with(bindir))  # idempotent
    assert again.returncode == 0 and "nova-compute stop" not in log.read_text().splitlines()[-1:]


def test_stop_mode_fails_naming_a_service_that_will_not_stop(bindir, tmp_path):
    stub(bindir, "service", 'case "$2" in status) exit 0 ;; *) true ;; esac\n')  # always running
    result = run("restart_service.sh", "--stop", "nova-compute", env=dict(path_with(bindir), NOVALAB_STOP_TIMEOUT="1"))
    assert result.returncode == 1
    assert "nova-compute still runs" in result.stderr and "1s after stop" in result.stderr


# --- reload_service.sh ---------------------------------------------------------------------------

# A service that reloads on SIGHUP as nova-compute does (oslo.service): it notes each one and runs on.
RELOADING = """
import pathlib, signal, sys, time
signal.signal(signal.SIGHUP, lambda *_: pathlib.Path(sys.argv[1]).open("a").write("reloaded\\n"))
pathlib.Path(sys.argv[1]).write_text("")
time.sleep(60)
"""


def pid_file(tmp_path: Path, pid: int) -> None:
    """PID where Debian's init script puts nova-compute's (under tmp_path/run)."""
    path = tmp_path / "run" / "nova" / "nova-compute.pid"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")


def nova_files(tmp_path: Path) -> list[str]:
    """nova-compute's files, written now."""
    paths = [tmp_path / "nova.conf", tmp_path / "nova-compute.conf"]
    for p in paths:
        p.write_text("[DEFAULT]\ndebug = true\n")
    return [str(p) for p in paths]


def reload_env(bindir: Path, tmp_path: Path) -> dict:
    return dict(path_with(bindir), NOVALAB_RUN_DIR=str(tmp_path / "run"), RELOAD_SETTLE_SECONDS="0.3")


@contextlib.contextmanager
def reloading_service(tmp_path: Path):
    """A running nova-compute that handles SIGHUP: (its process, the file it notes SIGHUPs in)."""
    notes = tmp_path / "hups"
    proc = subprocess.Popen([sys.executable, "-c", RELOADING, str(notes)])
    try:
        pid_file(tmp_path, proc.pid)
        while not notes.exists():
            time.sleep(0.05)
        yield proc, notes
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def reloading(tmp_path):
    with reloading_service(tmp_path) as service:
        yield service


def test_reload_sends_sighup_to_a_service_older_than_its_files_which_keeps_its_pid(bindir, tmp_path, reloading):
    proc, notes = reloading
    time.sleep(0.05)
    files = nova_files(tmp_path)  # a reloadable value changed after the service started
    result = run("reload_service.sh", "nova-compute", *files, env=reload_env(bindir, tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"nova-compute reloaded (SIGHUP to PID {proc.pid})"
    assert notes.read_text() == "reloaded\n"
    assert proc.poll() is None  # the same process runs on: nothing went down


def test_reload_sends_nothing_to_a_service_that_started_after_its_files_were_written(bindir, tmp_path):
    # A restart in the same run (or the first converge) started it: it read the files already, and
    # a SIGHUP before it set its handler would end it.
    files = nova_files(tmp_path)
    time.sleep(0.05)
    with reloading_service(tmp_path) as (_, notes):
        result = run("reload_service.sh", "nova-compute", *files, env=reload_env(bindir, tmp_path))
        assert result.returncode == 0, result.stderr
        assert "started after its files were written: it runs with them already" in result.stdout
        assert notes.read_text() == ""


def test_reload_fails_naming_the_repair_when_the_service_dies_of_sighup(bindir, tmp_path):
    # No handler: SIGHUP ends it. Its parent reaps it at once, as a service manager does.
    manager = subprocess.Popen([sys.executable, "-c", "import subprocess; p = subprocess.Popen(['sleep', '60']); "
                                "print(p.pid, flush=True); p.wait()"], stdout=subprocess.PIPE, text=True)
    pid = int(manager.stdout.readline())
    pid_file(tmp_path, pid)
    try:
        time.sleep(0.05)
        result = run("reload_service.sh", "nova-compute", *nova_files(tmp_path), env=reload_env(bindir, tmp_path))
        assert result.returncode == 1
        assert f"nova-compute (PID {pid}) stopped on SIGHUP" in result.stderr
        assert "`pulumi up --refresh` finds it stopped, restarts it and runs its gate again" in result.stderr
    finally:
        subprocess.run(["kill", str(pid)], capture_output=True)
        manager.wait(timeout=10)


def test_reload_of_a_stopped_service_fails_naming_the_repair(bindir, tmp_path):
    log = tmp_path / "service.log"
    service_stub(bindir, log)  # nothing runs
    result = run("reload_service.sh", "nova-compute", *nova_files(tmp_path), env=reload_env(bindir, tmp_path))
    assert result.returncode == 1
    assert "nova-compute is not running" in result.stderr and "`pulumi up --refresh`" in result.stderr
    assert log.read_text().splitlines() == ["nova-compute status"]  # asked, never started


def test_reload_refuses_a_running_service_whose_process_it_cannot_find(bindir, tmp_path):
    stub(bindir, "service", 'case "$2" in status) exit 0 ;; *) exit 1 ;; esac\n')  # running, no PID file
    result = run("reload_service.sh", "nova-compute", *nova_files(tmp_path), env=reload_env(bindir, tmp_path))
    assert result.returncode == 1
    assert "its process ID is unknown" in result.stderr and "cannot send it SIGHUP" in result.stderr


# --- gate_compute_host.sh --------------------------------------------------------------------------

CLOUDS = '{"clouds": {"novalab": {"auth": {"password": "gate-s3cret"}}}}\n'


def stub_no_nova_user(bindir: Path) -> None:
    """`id nova` fails, so the gate calls nova-manage directly instead of through runuser."""
    stub(bindir, "id", 'if [ "${1:-}" = nova ]; then exit 1; fi; exec /usr/bin/id "$@"\n')


def gate_stubs(bindir: Path, tmp_path: Path, up_after: int | None, host: str = "compute-1", heartbeat: str = "$now"):
    """openstack: `down` for the first `up_after` polls then `up` (never, if None); nova-manage maps
    the host on discover. Every call's argv and the clouds.yaml mode are logged."""
    log, count, mapped = tmp_path / "calls.log", tmp_path / "count", tmp_path / "mapped"
    limit = -1 if up_after is None else up_after
    stub(
        bindir,
        "openstack",
        f"""\
        echo "openstack $* mode=$(stat -c %a "$OS_CLIENT_CONFIG_FILE") cloud=$OS_CLOUD" >> {log}
        grep -q gate-s3cret "$OS_CLIENT_CONFIG_FILE" || {{ echo "no credentials" >&2; exit 1; }}
        case "$*" in
          "compute service list --service nova-compute --host"*)
            n=$(cat {count} 2>/dev/null || echo 0); echo $((n + 1)) > {count}
            now=$(date -u +%Y-%m-%dT%H:%M:%S.000000)
            if [ {limit} -ge 0 ] && [ "$n" -ge {limit} ]; then echo "up {heartbeat}"; else echo "down $now"; fi ;;
          "network agent list --host {host} -f value -c Agent Type -c Alive") echo "Linux bridge agent True" ;;
          "compute service list") echo "| nova-compute | compute-1 | nova | enabled | down |" ;;
        esac
        """,
    )
    stub(
        bindir,
        "nova-manage",
        f"""\
        echo "nova-manage $*" >> {log}
        case "$*" in
          "cell_v2 discover_hosts --by-service") touch {mapped} ;;
          "cell_v2 list_hosts")
            echo "| Cell Name | Cell UUID | Hostname |"
            [ -e {mapped} ] && echo "| cell1 | 1234 | {host} |" ;;
        esac
        exit 0
        """,
    )
    stub_no_nova_user(bindir)
    return log


def test_gate_maps_the_host_and_waits_until_it_is_up(bindir, tmp_path):
    log = gate_stubs(bindir, tmp_path, up_after=2)
    scratch = tmp_path / "scratch"  # the script's TMPDIR: its credentials file must not outlive it
    scratch.mkdir()
    env = dict(path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0", TMPDIR=str(scratch), NOVALAB_LOCK_DIR=str(tmp_path))
    result = run("gate_compute_host.sh", "compute-1", "30", "--agent-type", "Linux bridge agent", stdin=CLOUDS, env=env)
    assert result.returncode == 0, result.stderr
    assert "compute host compute-1 is up and mapped to its cell" in result.stdout
    calls = log.read_text().splitlines()
    polls = [c for c in calls if "--service nova-compute --host compute-1" in c]
    assert len(polls) == 3  # down, down, up
    assert any(c == "nova-manage cell_v2 discover_hosts --by-service" for c in calls)
    assert any(c.startswith("openstack network agent list --host compute-1 -f value -c Agent Type -c Alive") for c in calls)
    assert all("mode=600 cloud=novalab" in c for c in calls if c.startswith("openstack"))
    assert "gate-s3cret" not in log.read_text()  # never in argv
    assert list(scratch.iterdir()) == []  # the 0600 clouds.yaml (and its directory) are gone


def test_gate_does_not_take_an_up_from_before_it_started(bindir, tmp_path):
    # A restarted nova-compute that cannot reach the message bus still shows `up` from its last
    # report before the restart: that must not pass.
    gate_stubs(bindir, tmp_path, up_after=0, heartbeat="2020-01-01T00:00:00.000000")
    env = dict(path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0.2", NOVALAB_LOCK_DIR=str(tmp_path))
    result = run("gate_compute_host.sh", "compute-1", "1", stdin=CLOUDS, env=env)
    assert result.returncode == 1
    assert "state: 'up, last heartbeat before the gate started'" in result.stderr


def test_gate_times_out_naming_the_host_and_showing_the_service_list(bindir, tmp_path):
    gate_stubs(bindir, tmp_path, up_after=None)
    env = dict(path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0.2")
    result = run("gate_compute_host.sh", "compute-1", "1", stdin=CLOUDS, env=env)
    assert result.returncode == 1
    assert "compute host compute-1 did not pass the gate within 1s (state: 'down'" in result.stderr
    assert "| nova-compute | compute-1 | nova | enabled | down |" in result.stderr


def test_gates_running_at_once_map_their_hosts_one_at_a_time(bindir, tmp_path):
    # nova-manage fails ("Duplicate host mapping", exit 2) when two discovers overlap: the stub
    # notices an overlap through a directory only one caller can make at a time.
    busy, overlaps = tmp_path / "discovering", tmp_path / "overlaps"
    stub(bindir, "nova-manage", f"""\
        case "$*" in
          "cell_v2 discover_hosts --by-service")
            mkdir {busy} 2>/dev/null || {{ echo overlap >> {overlaps}; echo "ERROR: Duplicate host mapping"; exit 2; }}
            sleep 0.5; touch {tmp_path}/mapped; rmdir {busy} ;;
          "cell_v2 list_hosts")
            [ -e {tmp_path}/mapped ] && printf '| cell1 | 1 | compute-1 |\n| cell1 | 1 | compute-2 |\n' ;;
        esac
        exit 0
        """)
    stub(bindir, "openstack", 'case "$*" in "compute service list --service"*) echo "up $(date -u +%FT%T)" ;; esac\n')
    stub_no_nova_user(bindir)
    env = dict(os.environ, **path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0", NOVALAB_LOCK_DIR=str(tmp_path))
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(CLOUDS)
    with clouds.open() as f1, clouds.open() as f2, clouds.open() as f3, clouds.open() as f4:
        gates = [subprocess.Popen(["bash", str(SCRIPTS_DIR / "gate_compute_host.sh"), host, "30"], stdin=stdin,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for host, stdin in (("compute-1", f1), ("compute-2", f2), ("compute-1", f3), ("compute-2", f4))]
        outs = [g.communicate(timeout=60) for g in gates]
    assert [g.returncode for g in gates] == [0, 0, 0, 0], [o[1] for o in outs]
    assert not overlaps.exists()


def test_gates_of_hosts_up_at_once_share_one_discover(bindir, tmp_path):
    # A discover maps every host that is up when it starts. Eight gates whose hosts come up together
    # (the stub answers `up` only once every gate asked) queue for the one discover at a time; each
    # running its own made the last gate wait 8 discovers (at 60 hosts, minutes: past the lock's wait).
    gates_n = 8
    asked, discovers = tmp_path / "asked", tmp_path / "discovers"
    asked.mkdir()
    stub(bindir, "openstack", f"""\
        case "$*" in
          "compute service list --service nova-compute --host"*)
            touch {asked}/"$7"
            if [ "$(ls {asked} | wc -l)" -ge {gates_n} ]; then echo "up $(date -u +%FT%T)"; else echo "down"; fi ;;
        esac
        """)
    stub(bindir, "nova-manage", f"""\
        case "$*" in
          "cell_v2 discover_hosts --by-service") echo discover >> {discovers}; sleep 1.5; touch {tmp_path}/mapped ;;
          "cell_v2 list_hosts") [ -e {tmp_path}/mapped ] && for i in $(seq {gates_n}); do echo "| cell1 | 1 | compute-$i |"; done ;;
        esac
        exit 0
        """)
    stub_no_nova_user(bindir)
    env = dict(os.environ, **path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0.1", NOVALAB_LOCK_DIR=str(tmp_path))
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(CLOUDS)
    gates = []
    for i in range(1, gates_n + 1):
        with clouds.open() as stdin:
            gates.append(subprocess.Popen(["bash", str(SCRIPTS_DIR / "gate_compute_host.sh"), f"compute-{i}", "60"],
                                          stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outs = [g.communicate(timeout=120) for g in gates]
    assert [g.returncode for g in gates] == [0] * gates_n, [o[1] for o in outs]
    # One, and at most one more for a gate that saw its host up only after the first had started.
    assert 1 <= len(discovers.read_text().splitlines()) <= 2


def test_gate_runs_its_own_discover_when_its_host_came_up_after_the_last_one(bindir, tmp_path):
    # The discover of an earlier gate (here: an earlier run) never stands in for a host it could not see.
    log = gate_stubs(bindir, tmp_path, up_after=0)
    env = dict(path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0", NOVALAB_LOCK_DIR=str(tmp_path))
    for _ in range(2):
        (tmp_path / "mapped").unlink(missing_ok=True)
        result = run("gate_compute_host.sh", "compute-1", "30", stdin=CLOUDS, env=env)
        assert result.returncode == 0, result.stderr
    assert log.read_text().count("nova-manage cell_v2 discover_hosts") == 2


def test_gate_retries_a_failed_discover_and_shows_it_on_timeout(bindir, tmp_path):
    gate_stubs(bindir, tmp_path, up_after=0)
    stub(bindir, "nova-manage", 'echo "ERROR: Duplicate host mapping was encountered"; exit 2\n')
    env = dict(path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0.2", NOVALAB_LOCK_DIR=str(tmp_path))
    result = run("gate_compute_host.sh", "compute-1", "1", stdin=CLOUDS, env=env)
    assert result.returncode == 1
    assert "cell mapping: no" in result.stderr
    assert "ERROR: Duplicate host mapping was encountered" in result.stderr


def agent_listing_stub(bindir: Path, listing: str) -> None:
    """The gate stubs, with `openstack network agent list` answering LISTING ("TYPE ALIVE" lines)."""
    openstack = bindir / "openstack"
    text = openstack.read_text()
    old = 'echo "Linux bridge agent True" ;;'
    assert old in text
    openstack.write_text(text.replace(old, f"printf '%s' {shlex_quote(listing)} ;;"))


@pytest.mark.parametrize("listing, passes", [
    ("Linux bridge agent True\n", True),
    ("Linux bridge agent :-)\n", True),  # older clients' Alive
    ("Linux bridge agent False\n", False),
    ("Open vSwitch agent True\n", False),  # alive, but not the type asked for
    ("", False),
])
def test_gate_waits_for_an_alive_agent_of_each_type(bindir, tmp_path, listing, passes):
    gate_stubs(bindir, tmp_path, up_after=0)
    agent_listing_stub(bindir, listing)
    env = dict(path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0.2", NOVALAB_LOCK_DIR=str(tmp_path))
    result = run("gate_compute_host.sh", "compute-1", "1", "--agent-type", "Linux bridge agent", stdin=CLOUDS, env=env)
    assert result.returncode == (0 if passes else 1), result.stderr
    if not passes:
        assert "network agents: none alive of type 'Linux bridge agent'" in result.stderr


def test_gate_needs_every_agent_type_it_is_given(bindir, tmp_path):
    # As OVN will ask: the controller agent and the metadata agent, each alive.
    gate_stubs(bindir, tmp_path, up_after=0)
    agent_listing_stub(bindir, "OVN Controller agent True\nOVN Metadata agent False\n")
    env = dict(path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0.2", NOVALAB_LOCK_DIR=str(tmp_path))
    args = ["compute-1", "1", "--agent-type", "OVN Controller agent", "--agent-type", "OVN Metadata agent"]
    result = run("gate_compute_host.sh", *args, stdin=CLOUDS, env=env)
    assert result.returncode == 1
    assert "network agents: none alive of type 'OVN Metadata agent'" in result.stderr
    gate_stubs(bindir, tmp_path, up_after=0)
    agent_listing_stub(bindir, "OVN Controller agent True\nOVN Metadata agent True\n")
    assert run("gate_compute_host.sh", *args, stdin=CLOUDS, env=env).returncode == 0


def silent(bindir: Path, name: str) -> None:
    """A stand-in for a client whose API took the connection and never answers."""
    stub(bindir, name, "exec sleep 600\n")


@pytest.mark.parametrize("silent_tool", ["openstack", "nova-manage"])
def test_gate_ends_by_its_deadline_when_an_api_never_answers(bindir, tmp_path, silent_tool):
    gate_stubs(bindir, tmp_path, up_after=0)  # nova-compute is up: nova-manage is called next
    silent(bindir, silent_tool)
    # One call may take 600 s, far more than the gate's 2 s: the gate's deadline cuts it.
    env = dict(path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0.2", NOVALAB_API_TIMEOUT="600",
               NOVALAB_GATE_REPORT_SECONDS="1", NOVALAB_LOCK_DIR=str(tmp_path))
    started = time.monotonic()
    result = run("gate_compute_host.sh", "compute-1", "2", stdin=CLOUDS, env=env, timeout=120)
    record(f"gate, timeout 2 s, {silent_tool} never answering: seconds", time.monotonic() - started)
    assert result.returncode == 1
    assert "compute host compute-1 did not pass the gate within 2s" in result.stderr
    if silent_tool == "openstack":
        assert "(state: 'no listing'" in result.stderr
        assert "no answer within 1s: openstack compute service list" in result.stderr  # the report's own call
    else:
        assert "(state: 'up', cell mapping: no" in result.stderr


# --- configure_bridge.sh (in a private network + mount namespace) ----------------------------------

needs_root_netns = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"),
    reason="needs root, unshare and iproute2 for a private network namespace",
)

STANZA = "auto br100\niface br100 inet manual\n    bridge_ports eth2\n"


def in_private_netns(script: str, netdir: Path) -> subprocess.CompletedProcess:
    """Run bash in a fresh network namespace, config under `netdir`: nothing leaks out."""
    (netdir / "interfaces").write_text("auto lo\niface lo inet loopback\n")
    wrapper = textwrap.dedent(
        f"""\
        set -euo pipefail
        export NOVALAB_NETWORK_DIR={netdir}
        mount -t sysfs sysfs /sys  # this namespace's view of /sys/class/net
        ip link add eth1 type veth peer name eth1-peer
        ip addr add 10.0.0.20/24 dev eth1
        ip link set eth1 up
        ip link add eth2 type veth peer name eth2-peer
        ip addr add 192.168.77.5/24 dev eth2
        {script}
        """
    )
    return subprocess.run(["unshare", "--mount", "--net", "bash", "-c", wrapper], capture_output=True, text=True, timeout=60)


@needs_root_netns
def test_bridge_is_created_with_the_nic_in_it_and_persisted(tmp_path):
    script = f"""
        bash {SCRIPTS_DIR}/configure_bridge.sh br100 eth2 10.0.0.20 <<'EOF'
{STANZA}EOF
        bash {SCRIPTS_DIR}/configure_bridge.sh br100 eth2 10.0.0.20 <<'EOF'
{STANZA}EOF
        echo "master=$(basename "$(readlink -f /sys/class/net/eth2/master)")"
        echo "state=$(cat /sys/class/net/br100/operstate) stp=$(cat /sys/class/net/br100/bridge/stp_state) fd=$(cat /sys/class/net/br100/bridge/forward_delay)"
        echo "eth2-addrs=$(ip -o -4 addr show dev eth2 | wc -l)"
        cat "$NOVALAB_NETWORK_DIR/interfaces.d/br100"
    """
    result = in_private_netns(script, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("bridge br100 up with eth2") == 2  # re-run is fine
    assert out.count(f"wrote {tmp_path}/interfaces.d/br100") == 1  # ...and rewrites nothing
    assert (tmp_path / "interfaces").read_text().endswith("source /etc/network/interfaces.d/*\n")
    assert "master=br100" in out
    assert "stp=0 fd=0" in out
    assert "eth2-addrs=0" in out  # the tutorial's `pre-up ifconfig eth2 0.0.0.0`
    assert "bridge_ports eth2" in out


@needs_root_netns
@pytest.mark.parametrize("extra_addresses", [0, 10_000])
def test_bridge_refuses_the_management_nic_and_a_missing_one(tmp_path, extra_addresses):
    # With a long address list, `ip | ... | grep -q` failed under pipefail (the writer died of SIGPIPE
    # once grep had its match): the refusal was skipped and the management NIC flushed.
    result = in_private_netns(
        f"""
        for i in $(seq 1 {extra_addresses}); do echo "addr add 10.1.$((i / 250)).$((i % 250 + 1))/32 dev eth1"; done | ip -batch -
        if bash {SCRIPTS_DIR}/configure_bridge.sh br100 eth1 10.0.0.20 < /dev/null; then echo BAD; fi
        if bash {SCRIPTS_DIR}/configure_bridge.sh br100 eth9 10.0.0.20 < /dev/null; then echo BAD; fi
        ip -o -4 addr show dev eth1 | grep -c 10.0.0.20
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "BAD" not in result.stdout
    assert "holds the management address 10.0.0.20" in result.stderr
    assert "interface eth9 does not exist" in result.stderr
    assert result.stdout.strip().endswith("1")  # management address untouched


@needs_root_netns
@pytest.mark.parametrize("bridge", ["eth1", "eth2"])  # the management NIC; the VM-network NIC itself
def test_bridge_refuses_a_bridge_name_that_is_an_interface_and_writes_nothing(tmp_path, bridge):
    result = in_private_netns(
        f"""
        if bash {SCRIPTS_DIR}/configure_bridge.sh {bridge} eth2 10.0.0.20 <<'EOF'
{STANZA}EOF
        then echo BAD; fi
        echo "eth2-addrs=$(ip -o -4 addr show dev eth2 | wc -l) eth1-addrs=$(ip -o -4 addr show dev eth1 | wc -l)"
        echo "files=$(ls -A "$NOVALAB_NETWORK_DIR")"
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "BAD" not in result.stdout
    assert f"{bridge} exists on" in result.stderr and "is not a bridge; network.bridge must name a bridge" in result.stderr
    assert "eth2-addrs=1 eth1-addrs=1" in result.stdout  # nothing flushed
    assert "files=interfaces\n" in result.stdout  # no interfaces.d stanza
    assert (tmp_path / "interfaces").read_text() == "auto lo\niface lo inet loopback\n"  # no source line either


# --- decommission_compute_host.sh ------------------------------------------------------------------


def decommission_stubs(bindir: Path, tmp_path: Path, servers: str = "", servers_after_disable: str = "") -> Path:
    """openstack as nova would answer: one nova-compute service and one agent on compute-3; the
    servers on the host before the disable, and after it. Every call is logged."""
    log, disabled = tmp_path / "calls.log", tmp_path / "disabled"
    stub(
        bindir,
        "openstack",
        f"""\
        echo "openstack $*" >> {log}
        grep -q gate-s3cret "$OS_CLIENT_CONFIG_FILE" || {{ echo "no credentials" >&2; exit 1; }}
        case "$*" in
          *"server list --all-projects --host compute-3"*)
            if [ -e {disabled} ]; then printf '%s' {shlex_quote(servers_after_disable)}; else printf '%s' {shlex_quote(servers)}; fi ;;
          *"compute service list --service nova-compute --host compute-3"*) echo svc-uuid-3 ;;
          *"compute service set --disable"*) touch {disabled} ;;
          *"network agent list --host compute-3"*) echo agent-uuid-3 ;;
        esac
        """,
    )
    stub_no_nova_user(bindir)
    # as nova-manage does when it archived rows
    stub(bindir, "nova-manage", f'echo "nova-manage $*" >> {log}; exit 1\n')
    return log


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def test_drain_refuses_while_a_server_runs_there_and_changes_nothing(bindir, tmp_path):
    log = decommission_stubs(bindir, tmp_path, servers="c0ffee server-x ACTIVE\n")
    result = run("decommission_compute_host.sh", "drain", "compute-3", stdin=CLOUDS, env=path_with(bindir))
    assert result.returncode == 1
    assert "compute host compute-3 still runs servers" in result.stderr and "c0ffee server-x ACTIVE" in result.stderr
    calls = log.read_text()
    assert "service set" not in calls and "delete" not in calls


def test_drain_disables_and_deletes_nothing(bindir, tmp_path):
    log = decommission_stubs(bindir, tmp_path)
    result = run("decommission_compute_host.sh", "drain", "compute-3", stdin=CLOUDS, env=path_with(bindir))
    assert result.returncode == 0, result.stderr
    calls = log.read_text()
    assert "compute service set --disable --disable-reason novalab: leaving the stack compute-3 nova-compute" in calls
    assert "delete" not in calls and "nova-manage" not in calls  # records go only after the host stopped its services (forget)
    assert "gate-s3cret" not in calls  # credentials only in the 0600 file


def test_drain_undoes_its_disable_when_a_server_lands_meanwhile(bindir, tmp_path):
    log = decommission_stubs(bindir, tmp_path, servers_after_disable="beef server-y BUILD\n")
    result = run("decommission_compute_host.sh", "drain", "compute-3", stdin=CLOUDS, env=path_with(bindir))
    assert result.returncode == 1 and "beef server-y BUILD" in result.stderr
    calls = log.read_text()
    assert "compute service set --enable compute-3 nova-compute" in calls
    assert "delete" not in calls


def test_forget_deletes_the_service_record_and_the_agents_then_archives_the_deleted_record(bindir, tmp_path):
    log = decommission_stubs(bindir, tmp_path)
    result = run("decommission_compute_host.sh", "forget", "compute-3", stdin=CLOUDS, env=path_with(bindir))
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    deleted = next(i for i, c in enumerate(calls) if "compute service delete svc-uuid-3" in c)
    # nova counts a deleted service record of the name against a host that comes back: archived after the delete
    archived = calls.index("nova-manage db archive_deleted_rows --until-complete --all-cells")
    assert archived > deleted
    assert "openstack network agent delete agent-uuid-3" in calls
    assert "compute host compute-3 is out of nova" in result.stdout


def test_forget_fails_when_nova_manage_cannot_archive(bindir, tmp_path):
    decommission_stubs(bindir, tmp_path)
    stub(bindir, "nova-manage", 'echo "cannot connect to the database" >&2; exit 3\n')
    result = run("decommission_compute_host.sh", "forget", "compute-3", stdin=CLOUDS, env=path_with(bindir))
    assert result.returncode == 1
    assert "archive_deleted_rows failed (3)" in result.stderr and "compute-3" in result.stderr
    assert "cannot connect to the database" in result.stderr  # nova-manage's own words


def test_two_forgets_at_once_archive_one_after_the_other(bindir, tmp_path):
    # nova-manage archiving the same rows twice at once fails (seen: exit 255 for one of two hosts)
    log = decommission_stubs(bindir, tmp_path)
    running = tmp_path / "archiving"
    stub(bindir, "nova-manage", f"""\
        [ ! -e {running} ] || {{ echo "archived the same rows twice" >&2; exit 255; }}
        touch {running}; sleep 1; rm {running}
        echo "nova-manage $*" >> {log}; exit 1
        """)
    env = {**os.environ, **path_with(bindir), "NOVALAB_LOCK_DIR": str(tmp_path)}
    procs = [subprocess.Popen(["bash", str(SCRIPTS_DIR / "decommission_compute_host.sh"), "forget", "compute-3"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [p.communicate(CLOUDS, timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert log.read_text().count("archive_deleted_rows") == 2


def test_forget_fails_when_the_agents_cannot_be_listed(bindir, tmp_path):
    log = decommission_stubs(bindir, tmp_path)
    openstack = bindir / "openstack"
    listing = '*"network agent list --host compute-3"*) echo agent-uuid-3 ;;'
    assert listing in openstack.read_text()
    openstack.write_text(openstack.read_text().replace(
        listing, '*"network agent list --host compute-3"*) echo "Unable to establish connection to neutron" >&2; exit 1 ;;'))
    result = run("decommission_compute_host.sh", "forget", "compute-3", stdin=CLOUDS, env=path_with(bindir))
    assert result.returncode == 1
    assert "could not list the network agents of compute-3" in result.stderr
    assert "Unable to establish connection to neutron" in result.stderr  # the client's own words
    assert "is out of nova" not in result.stdout
    assert "agent delete" not in log.read_text()


@pytest.mark.parametrize("part", ["drain", "forget"])
def test_decommission_ends_when_the_compute_api_never_answers(bindir, tmp_path, part):
    decommission_stubs(bindir, tmp_path)
    silent(bindir, "openstack")
    env = dict(path_with(bindir), NOVALAB_API_TIMEOUT="1")
    result = run("decommission_compute_host.sh", part, "compute-3", stdin=CLOUDS, env=env, timeout=120)
    assert result.returncode != 0
    assert "no answer within 1s: openstack --os-compute-api-version 2.53 compute service list" in result.stderr
    assert "is out of nova" not in result.stdout and "is disabled" not in result.stdout


def test_forget_fails_when_the_archive_never_ends(bindir, tmp_path):
    decommission_stubs(bindir, tmp_path)
    silent(bindir, "nova-manage")
    env = dict(path_with(bindir), NOVALAB_ARCHIVE_TIMEOUT="1", NOVALAB_LOCK_DIR=str(tmp_path))
    result = run("decommission_compute_host.sh", "forget", "compute-3", stdin=CLOUDS, env=env, timeout=120)
    assert result.returncode == 1
    assert "archive_deleted_rows failed (124)" in result.stderr
    assert "no answer within 1s: nova-manage db archive_deleted_rows" in result.stderr


def test_decommission_takes_only_its_two_parts():
    result = run("decommission_compute_host.sh", "purge", "compute-3", stdin=CLOUDS)
    assert result.returncode == 2 and "drain|forget" in result.stderr


# --- precheck_controller.sh -----------------------------------------------------------------------


def controller_stubs(bindir: Path, token_ok: bool = True, admin: bool = True) -> None:
    stub(bindir, "nova-manage", "exit 0\n")
    stub(bindir, "openstack", f"""\
        grep -q gate-s3cret "$OS_CLIENT_CONFIG_FILE" || exit 1
        case "$*" in
          "token issue"*) {'echo 2030-01-01' if token_ok else 'echo "The request you have made requires authentication. (HTTP 401)" >&2; exit 1'} ;;
          "compute service list"*) {'echo compute-1' if admin else 'echo "Policy does not allow os_compute_api:os-services:list (HTTP 403)" >&2; exit 1'} ;;
        esac
        """)


def test_controller_precheck_passes_with_working_credentials(bindir):
    controller_stubs(bindir)
    result = run("precheck_controller.sh", "compute-1", stdin=CLOUDS, env=path_with(bindir))
    assert result.returncode == 0, result.stderr
    assert "controller checks passed for compute-1" in result.stdout


@pytest.mark.parametrize("token_ok, admin, message", [
    (False, True, "keystone refused nova's service user (for compute-1's gate): fix novaServicePassword"),
    (True, False, "it needs the admin role in the service project"),
])
def test_controller_precheck_names_what_to_fix(bindir, token_ok, admin, message):
    controller_stubs(bindir, token_ok=token_ok, admin=admin)
    result = run("precheck_controller.sh", "compute-1", stdin=CLOUDS, env=path_with(bindir))
    assert result.returncode == 1
    assert message in result.stderr
    assert "gate-s3cret" not in result.stderr


# --- the gate's placement check -------------------------------------------------------------------


def placement_stubs(bindir: Path, tmp_path: Path, inventory_on_look: int | None) -> Path:
    """The gate stubs for compute-9, at 10.0.0.23 where a stale hypervisor of an earlier host
    (compute-3) also sits; compute-9's provider gets inventory on look N (never, if None)."""
    gate_stubs(bindir, tmp_path, up_after=0, host="compute-9")
    looks = tmp_path / "inventory-looks"
    limit = -1 if inventory_on_look is None else inventory_on_look - 1
    extra = f"""\
        case "$*" in
          "resource provider inventory list --help") exit 0 ;;
          *"hypervisor list -f value -c ID -c Host IP") printf 'old-rp 10.0.0.23\\nnew-rp 10.0.0.23\\nother 10.0.0.21\\n' ;;
          *"hypervisor show old-rp -f value -c service_host") echo compute-3 ;;
          *"hypervisor show new-rp -f value -c service_host") echo compute-9 ;;
          "resource provider inventory list old-rp"*) printf 'VCPU\\nMEMORY_MB\\n' ;;
          "resource provider inventory list new-rp -f value -c resource_class")
            n=$(cat {looks} 2>/dev/null || echo 0); echo $((n + 1)) > {looks}
            if [ {limit} -ge 0 ] && [ "$n" -ge {limit} ]; then printf 'VCPU\\nMEMORY_MB\\nDISK_GB\\n'; fi ;;
        esac
        """
    openstack = bindir / "openstack"
    openstack.write_text(openstack.read_text().replace("esac\n", "esac\n" + textwrap.dedent(extra), 1))
    return looks


def test_gate_waits_for_its_own_resource_provider_to_have_inventory(bindir, tmp_path):
    looks = placement_stubs(bindir, tmp_path, inventory_on_look=3)
    env = dict(path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0", NOVALAB_LOCK_DIR=str(tmp_path))
    result = run("gate_compute_host.sh", "compute-9", "30", "--agent-type", "Linux bridge agent", "--address", "10.0.0.23",
                 "--after", "r1,r2", stdin=CLOUDS, env=env)
    assert result.returncode == 0, result.stderr
    assert "gate after restarts: r1,r2" in result.stdout
    assert "compute host compute-9 is up and mapped to its cell" in result.stdout
    assert looks.read_text().strip() == "3"  # the stale provider's inventory never counted


def test_gate_times_out_when_a_stale_record_keeps_the_provider_without_inventory(bindir, tmp_path):
    placement_stubs(bindir, tmp_path, inventory_on_look=None)
    env = dict(path_with(bindir), NOVALAB_GATE_POLL_SECONDS="0.2", NOVALAB_LOCK_DIR=str(tmp_path))
    result = run("gate_compute_host.sh", "compute-9", "1", "--address", "10.0.0.23", stdin=CLOUDS, env=env)
    assert result.returncode == 1
    assert "placement inventory: no" in result.stderr
    assert "an earlier compute service on this machine may still hold the provider's name" in result.stderr
