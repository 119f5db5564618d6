"""Drift through the real engine (issue 21): two fake compute hosts on loopback (tests/support/
fakehost.py: a real sshd each, /etc and /run of their own, stand-in services by PID file), and a
program made of the real rows of the step table that touch a host's files: the records (`<host>-files`,
the Python dynamic provider, through the `pulumi-resource-pulumi-python` plugin), the config step
(write_files.sh) and the two restarts (restart_service.sh).

The story, in file order, on one stack: up; a no-op up; compute-1's nova.conf edited by hand and
compute-2's nova-compute dead; `preview --refresh --expect-no-changes` fails naming both, in one SSH
session per host, changing nothing; `up --refresh` repairs both, restarting only those services; the
refresh check passes; a no-op up again; a changed override shows as text in `preview --diff`.
"""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from components.render import NOVA_CONF
from support import numbers
from support.engine import ROOT, Pulumi, Result, assert_nowhere, change_summary, write_project
from support.fakehost import fake_host

pytestmark = pytest.mark.engine

SECRETS = {
    "novalab:rabbitPassword": "rabbit-drift-s3cret",
    "new novalab:novaServicePassword": "nova-drift-s3cret-2",
    "novalab:novaServicePassword": "nova-drift-s3cret",
    "novalab:neutronServicePassword": "neutron-drift-s3cret",
}
HOSTS = ("compute-1", "compute-2")
AGENT = "neutron-linuxbridge-agent"
HAND_EDIT = "# edited by hand on the host\n"

# The rows of the step table that touch a host's files, made by the program's own make_row.
PROGRAM = '''
import json
import pulumi
from components.compute_host import ComputeHostArgs, SshAccess, StepContext, make_row
from components.config import NetworkConfig, ServicesConfig
from components.network import backend_of
from components.overrides import normalize_overrides
from components.steps import PREVIOUS_BATCH, dependencies, host_steps

ROWS = ("files", "config", "reload-nova-compute", "restart-nova-compute", "restart-l2-agent")
cfg = pulumi.Config("novalab")
services = ServicesConfig.model_validate({
    "rabbitHost": "127.0.0.1", "keystoneUrl": "http://127.0.0.1:5000", "glanceApiServers": ["127.0.0.1:9292"],
    "novncproxyBaseUrl": "http://127.0.0.1:6080/vnc_auto.html"})
network = NetworkConfig.model_validate({})
backend = backend_of(network)
table = tuple(s for s in host_steps(backend) if s.name in ROWS)
for host in json.loads(open("hosts.json").read()):
    parent = pulumi.ComponentResource("novalab:test:FakeHost", host["name"])
    args = ComputeHostArgs(
        host_name=host["name"], address="127.0.0.1", bridge_interface="eth2", virt_type="qemu",
        controller_address="127.0.0.1", services=services, network=network,
        ssh=SshAccess("root", host["port"], pulumi.Output.secret(open(host["key"]).read())),
        rabbit_password=cfg.require_secret("rabbitPassword"), nova_password=cfg.require_secret("novaServicePassword"),
        neutron_password=cfg.require_secret("neutronServicePassword"), host_key=host["hostKey"],
        config_overrides=normalize_overrides(cfg.get_object("configOverrides") or {}))
    ctx = StepContext(args, backend, pulumi.Output.from_input("127.0.0.1"))
    connection = args.ssh.connection(ctx.address, args.host_key)
    for step, names in zip(table, dependencies(table).values()):
        deps = [ctx.steps[n] for n in names if n != PREVIOUS_BATCH]
        ctx.steps[step.name] = make_row(parent, host["name"], step, ctx, deps, connection)
'''


class Story:
    def __init__(self, pulumi: Pulumi, hosts: dict):
        self.pulumi = pulumi
        self.hosts = hosts
        self.outputs: list[str] = []

    def sessions(self) -> dict[str, int]:
        return {name: h.sshd.accepted_logins() for name, h in self.hosts.items()}

    def run(self, *args: str, check: bool = True) -> tuple[Result, dict[str, int], float]:
        """A CLI command: its result, the SSH sessions it opened per host, its seconds."""
        before, start = self.sessions(), time.monotonic()
        result = self.pulumi.run(*args, check=check)
        seconds = time.monotonic() - start
        after = self.sessions()
        self.outputs.append(result.output)
        return result, {h: after[h] - before[h] for h in after}, seconds

    def pids(self) -> dict[tuple[str, str], int | None]:
        return {(name, s): h.pid(s) for name, h in self.hosts.items() for s in ("nova-compute", AGENT)}


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("engine-drift")
    with fake_host(tmp / "compute-1") as one, fake_host(tmp / "compute-2") as two:
        hosts = {"compute-1": one, "compute-2": two}
        project = write_project(tmp / "project", PROGRAM, name="novalab-drift")
        for package in ("components", "openstack_defaults"):  # what the program's components import
            shutil.copytree(ROOT / package, project / package, ignore=shutil.ignore_patterns("__pycache__"))
        (project / "hosts.json").write_text(json.dumps([
            {"name": name, "port": h.sshd.port, "hostKey": h.sshd.host_key, "key": str(h.root.parent / "sshd" / "client_key")}
            for name, h in hosts.items()]))
        pulumi = Pulumi(project, tmp / "state", stack="drift").init()
        for key, value in SECRETS.items():
            if not key.startswith("new "):
                pulumi.config(key, value, secret=True)
        s = Story(pulumi, hosts)
        s.first = s.run("up", "--yes", "--skip-preview", "-s", "drift")
        s.noop = s.run("up", "--yes", "--skip-preview", "-s", "drift")
        # Behind novalab's back: compute-1's nova.conf edited, compute-2's nova-compute dead.
        with one.file(NOVA_CONF).open("a") as f:
            f.write(HAND_EDIT)
        two.crash("nova-compute")
        s.drifted = {"nova.conf": one.file(NOVA_CONF).read_text(), "pids": s.pids(), "restarts": {n: h.restarts() for n, h in hosts.items()},
                     "state": pulumi.export()}
        s.check = s.run("preview", "--refresh", "--expect-no-changes", "-s", "drift", check=False)
        s.check_diff = s.run("preview", "--refresh", "--expect-no-changes", "--diff", "-s", "drift", check=False)
        s.after_check = {"nova.conf": one.file(NOVA_CONF).read_text(), "pids": s.pids(), "state": pulumi.export(),
                         "restarts": {n: h.restarts() for n, h in hosts.items()}}
        s.drift_table = s.run("preview", "--refresh", "--json", "-s", "drift", check=False)
        s.repair = s.run("up", "--refresh", "--yes", "--skip-preview", "-s", "drift")
        s.after_repair = {"pids": s.pids(), "restarts": {n: h.restarts() for n, h in hosts.items()}}
        s.recheck = s.run("preview", "--refresh", "--expect-no-changes", "-s", "drift", check=False)
        s.noop_after = s.run("up", "--yes", "--skip-preview", "-s", "drift")
        pulumi.config("novalab:configOverrides", json.dumps({"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": "8.0"}}}))
        s.override_diff = s.run("preview", "--diff", "-s", "drift")
        pulumi.run("config", "rm", "-s", "drift", "novalab:configOverrides")
        pulumi.config("novalab:novaServicePassword", "nova-drift-s3cret-2", secret=True)
        s.secret_diff = s.run("preview", "--diff", "-s", "drift")
        s.secret_plain = s.run("preview", "-s", "drift")
        s.state_files = "".join(p.read_text(errors="replace") for p in pulumi.state_files())
        yield s


def test_the_first_up_writes_the_files_and_starts_the_services(story):
    result, sessions, seconds = story.first
    assert change_summary(result).get("created", 0) >= 2 * 8, result.stdout[-2000:]
    assert sessions == {"compute-1": 1, "compute-2": 1}  # config + two restarts on one login; the records open none
    one = story.hosts["compute-1"]
    assert "transport_url = rabbit://openstack:rabbit-drift-s3cret@127.0.0.1:5672/" in one.file(NOVA_CONF).read_text()
    assert all(story.drifted["pids"][(h, AGENT)] for h in HOSTS)
    numbers.record("engine drift: first up of two fake hosts, s", round(seconds, 1))


def test_a_no_op_up_opens_no_session_and_changes_nothing(story):
    result, sessions, seconds = story.noop
    assert sessions == {"compute-1": 0, "compute-2": 0}
    assert set(change_summary(result)) == {"unchanged"}, result.stdout[-2000:]
    numbers.record("engine drift: no-op up before the drift, s", round(seconds, 1))


def test_the_refresh_check_fails_naming_the_host_and_the_file_or_service(story):
    result, _, _ = story.check
    assert result.returncode != 0 and "no changes were expected" in result.output
    out = result.stdout
    assert re.search(r"compute-1-file-nova\.conf\s+update\s+\[diff: ~onHost,revision\]", out), out[-3000:]
    assert re.search(r"compute-2-services\s+update\s+\[diff: ~nova-compute,revisions\]", out), out[-3000:]
    # Nothing else drifted: the other records, and the config and restart steps, are as they were.
    assert not re.search(r"compute-2-file-\S+\s+update", out) and not re.search(r"compute-1-services\s+update", out)
    assert re.search(r"compute-1-config\s+update", out)  # the repair it plans: write again, restart nova-compute
    assert re.search(r"compute-1-restart-nova-compute\s+replace", out) and re.search(r"compute-2-restart-nova-compute\s+replace", out)
    assert not re.search(r"restart-l2-agent\s+replace", out) and not re.search(r"compute-2-config\s+update", out)


def test_with_diff_the_check_says_what_it_found_and_what_up_will_make_of_it(story):
    out = story.check_diff[0].stdout
    assert re.search(r'~ onHost\s*: "changed on the host" => "as novalab wrote it"', out), out[-4000:]
    assert re.search(r'~ nova-compute\s*: "stopped" => "running"', out), out[-4000:]


def test_the_refresh_check_reads_each_host_once_and_changes_nothing(story):
    _, sessions, seconds = story.check
    assert sessions == {"compute-1": 1, "compute-2": 1}
    numbers.record("engine drift: preview --refresh of two fake hosts (sessions per host 1), s", round(seconds, 1))
    assert story.after_check["nova.conf"] == story.drifted["nova.conf"]  # still as edited
    assert story.after_check["pids"] == story.drifted["pids"]  # nothing started or stopped
    assert story.after_check["restarts"] == story.drifted["restarts"]
    assert story.after_check["state"] == story.drifted["state"]  # a preview saves nothing
    # A refresh never re-runs a command nor wipes what one printed (compare pulumi-command #94).
    commands = [r for r in story.after_check["state"]["deployment"]["resources"] if r["type"] == "command:remote:Command"]
    assert commands and all("stdout" in r["outputs"] for r in commands)


def test_novalab_drift_reads_the_same_preview_as_a_table(story):
    from components.drift_report import preview_rows

    rows = preview_rows(json.loads(story.drift_table[0].stdout))
    assert rows == [
        ("compute-1", f"{NOVA_CONF} content", "as novalab wrote it", "changed on the host"),
        ("compute-2", "service nova-compute", "running", "stopped"),
    ]


def test_up_refresh_repairs_both_restarting_only_those_services(story):
    result, sessions, seconds = story.repair
    one, two = story.hosts["compute-1"], story.hosts["compute-2"]
    assert HAND_EDIT not in one.file(NOVA_CONF).read_text()
    assert story.after_repair["pids"][("compute-2", "nova-compute")] is not None
    before, after = story.drifted["pids"], story.after_repair["pids"]
    assert {k for k in before if before[k] != after[k]} == {("compute-1", "nova-compute"), ("compute-2", "nova-compute")}
    new = {h: story.after_repair["restarts"][h][len(story.drifted["restarts"][h]):] for h in HOSTS}
    assert new == {"compute-1": ["nova-compute restart"], "compute-2": ["nova-compute restart"]}, new
    # Each host: the read, then one login for its steps (compute-1's config step and restart,
    # compute-2's restart).
    assert sessions == {"compute-1": 2, "compute-2": 2}, sessions
    numbers.record("engine drift: up --refresh repairing two fake hosts, s", round(seconds, 1))
    assert re.search(r"compute-1-config\s+updated", result.stdout) and not re.search(r"compute-2-config\s+updated", result.stdout)


def test_after_the_repair_the_refresh_check_passes_and_a_no_op_opens_no_session(story):
    result, sessions, _ = story.recheck
    assert result.returncode == 0, result.stdout[-3000:]
    assert sessions == {"compute-1": 1, "compute-2": 1}
    result, sessions, seconds = story.noop_after
    assert sessions == {"compute-1": 0, "compute-2": 0} and set(change_summary(result)) == {"unchanged"}
    numbers.record("engine drift: no-op up after the repair, s", round(seconds, 1))


def test_a_changed_override_shows_as_text_per_host_and_file_and_nothing_else(story):
    result, sessions, _ = story.override_diff
    out = result.stdout
    assert sessions == {"compute-1": 0, "compute-2": 0}  # a preview reads no host
    for host in HOSTS:
        section = out[out.index(f"::{host}-file-nova.conf]"):]
        assert re.search(r"^\s*\+\s*cpu_allocation_ratio = 8\.0$", section, re.M), section[:3000]
    # Unchanged files show nothing; the secrets in the changed one stay masked.
    for other in ("nova-compute.conf", "neutron.conf", "linuxbridge_agent.ini"):
        assert f"-file-{other}]" not in out
    numbers.record("engine drift: preview --diff of one override value", "\n" + out[out.index("Previewing"):][:3000])


def test_a_changed_secret_shows_as_its_key_and_nothing_of_it(story):
    out = story.secret_diff[0].stdout
    for host in HOSTS:
        section = out[out.index(f"::{host}-file-nova.conf]"):]
        assert re.search(r'~ \[keystone_authtoken\] password\s*: "set" => "\(secret changed\) #1"', section), section[:3000]
    assert "~ text" not in out  # the masked text is the same
    plain = story.secret_plain[0].stdout
    assert re.search(r"compute-1-file-nova\.conf\s+update\s+\[diff: ~secretChanges\]", plain), plain[-3000:]
    assert re.search(r"compute-1-restart-nova-compute\s+replace", plain)  # nova-compute reads it
    assert not re.search(r"restart-l2-agent\s+replace", plain)
    numbers.record("engine drift: preview --diff of one secret changed", "\n" + out[out.index("Previewing"):][:2500])


def test_no_secret_in_any_output_or_the_state(story):
    keys = [(h.root.parent / "sshd" / "client_key").read_text() for h in story.hosts.values()]
    key_lines = [line for k in keys for line in k.splitlines() if "-----" not in line]
    assert_nowhere([*SECRETS.values(), *key_lines], *story.outputs, where="CLI output")
    assert_nowhere([*SECRETS.values(), *key_lines], story.state_files, where="state backend")


def test_the_state_keeps_each_secret_of_a_record_encrypted_and_the_text_plain(story):
    state = story.pulumi.export()["deployment"]["resources"]
    nova = next(r for r in state if r["urn"].endswith("::compute-1-file-nova.conf"))
    inputs = nova["inputs"]
    secret = "4dabf18193072939515e22adb298388d"  # Pulumi's secret signature in an exported state
    assert isinstance(inputs["text"], str) and "[secret]" in inputs["text"]
    assert secret in inputs["sha256"] and secret in inputs["connection"]["privateKey"]
    assert inputs["secrets"] and all(secret in v for v in inputs["secrets"].values())
    assert nova["outputs"]["secrets"] and all(secret in v for v in nova["outputs"]["secrets"].values())
    assert secret in nova["outputs"]["sha256"] and secret in nova["outputs"]["connection"]["privateKey"]
