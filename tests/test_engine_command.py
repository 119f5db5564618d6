"""novalab's pulumi-resource-command (engine/provider-command) through the real engine: a scratch
Python project using pulumi_command's remote.Command against a real OpenSSH server this test starts
on loopback (temp host key, temp client key), and the plugin's schema against the installed SDK.

What a user would notice is asserted on the host (a log file the commands append to) and in sshd's
own log (one "Accepted publickey" line per SSH connection), not in the provider's word.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pulumi
import pytest
from pulumi import _types as pulumi_types

import pulumi_command
from pulumi_command import local as sdk_local
from pulumi_command import remote as sdk_remote
from support.engine import Pulumi, Result, assert_nowhere, change_summary, require_plugin, write_project

pytestmark = pytest.mark.engine

SSHD = Path("/usr/sbin/sshd")
PLUGIN_VERSION = json.loads((Path(pulumi_command.__file__).parent / "pulumi-plugin.json").read_text())["version"]
STDIN_SECRET = "stdin-engine-s3cret-7c41"


# --- a real sshd -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "engine-test", "-f", str(path)], check=True)


def fingerprint(public_key_line: str) -> str:
    """OpenSSH's SHA256 fingerprint of an authorized_keys line."""
    blob = base64.b64decode(public_key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass
class SshHost:
    port: int
    host_key: str  # public, authorized_keys format
    private_key: str
    log_path: Path

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def logins(self) -> int:
        return self.log_path.read_text().count("Accepted publickey")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshHost]:
    if not SSHD.exists() or not shutil.which("ssh-keygen"):
        pytest.skip("no OpenSSH server here: apt-get install -y openssh-server")
    if os.geteuid() != 0:
        pytest.skip("sshd needs root (privilege separation, logging in as root)")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    d = tmp_path_factory.mktemp("sshd")
    keygen(d / "host")
    keygen(d / "client")
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    port = free_port()
    (d / "sshd_config").write_text(
        f"""ListenAddress 127.0.0.1:{port}
HostKey {d / "host"}
PidFile none
AuthorizedKeysFile {d / "authorized_keys"}
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
LogLevel VERBOSE
"""
    )
    log_path = d / "sshd.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(d / "sshd_config")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(f"sshd did not start:\n{log_path.read_text()}")
                time.sleep(0.05)
        yield SshHost(port, (d / "host.pub").read_text().strip(), (d / "client").read_text(), log_path)
    finally:
        proc.kill()
        proc.wait()


# --- the project -----------------------------------------------------------------------------

PROGRAM = """
import pulumi
from pulumi_command import remote

cfg = pulumi.Config()
work = cfg.require("workDir")  # a directory on the host (this machine) the commands write to
conn = remote.ConnectionArgs(
    host="127.0.0.1",
    port=cfg.require_int("port"),
    private_key=cfg.require_secret("privateKey"),
    host_key=cfg.get("hostKey"),
    dial_error_limit=cfg.get_int("dialErrorLimit"),
)
step = remote.Command(
    "step",
    connection=conn,
    create=cfg.get("create") or f"echo create >> {work}/log; cat > {work}/stdin-got; sleep 1; echo created",
    update=f"echo update >> {work}/log; cat > {work}/stdin-got; sleep 1; echo updated",
    delete=f"echo delete >> {work}/log",
    stdin=cfg.require_secret("stdin"),
    triggers=[cfg.get("trigger") or "one"],
    add_previous_output_in_env=False,
    # Upstream replaces create-before-delete; this program asks for the delete first.
    opts=pulumi.ResourceOptions(delete_before_replace=True),
)
pulumi.export("stdout", step.stdout)
"""


class Stack:
    """One scratch project + stack against the test sshd; every CLI result is kept."""

    def __init__(self, tmp_path: Path, host: SshHost, **config: str):
        require_plugin("command", PLUGIN_VERSION)
        self.work = tmp_path / "host-side"
        self.work.mkdir()
        project = write_project(tmp_path / "project", PROGRAM, name="commandtest")
        self.pulumi = Pulumi(project, tmp_path / "state").init()
        self.results: list[Result] = []
        settings = {"workDir": str(self.work), "port": str(host.port), "hostKey": host.host_key, **config}
        for key, value in settings.items():
            self.pulumi.config(key, value)
        self.pulumi.config("privateKey", host.private_key, secret=True)
        self.pulumi.config("stdin", STDIN_SECRET, secret=True)

    def run(self, verb: str, check: bool = True) -> Result:
        result = getattr(self.pulumi, verb)(check=check)
        self.results.append(result)
        return result

    def log(self) -> list[str]:
        path = self.work / "log"
        return path.read_text().split() if path.exists() else []

    def step_resources(self) -> list[dict]:
        return [r for r in self.pulumi.resources() if r["type"] == "command:remote:Command"]


class CommandLines:
    """Every process command line on this machine (the sshd host) while watching."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    self.seen.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                except OSError:
                    pass
            time.sleep(0.02)

    def __enter__(self) -> "CommandLines":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def key_material(private_key: str) -> list[str]:
    """The private key and each of its base64 lines: none may appear anywhere."""
    return [private_key.strip()] + [line for line in private_key.splitlines() if len(line) >= 20]


# --- through the engine ----------------------------------------------------------------------


def test_lifecycle_runs_each_command_once_and_only_when_inputs_change(sshd: SshHost, tmp_path: Path):
    stack = Stack(tmp_path, sshd)
    before = sshd.logins()

    with CommandLines() as procs:
        first = stack.run("up")
    assert stack.log() == ["create"], first
    assert sshd.logins() == before + 1, "create opened more than one SSH session"
    assert (stack.work / "stdin-got").read_text() == STDIN_SECRET, "the secret stdin did not reach the command"
    assert stack.pulumi.outputs()["stdout"] == "created"

    # Nothing changed: no SSH session at all, nothing ran.
    logins = sshd.logins()
    again = stack.run("up")
    assert change_summary(again) == {"unchanged": 2}, again  # the stack and the command
    assert sshd.logins() == logins, "an unchanged stack opened an SSH session"
    assert stack.log() == ["create"]

    # A stdin change is an update: preview runs nothing, up runs `update` once.
    stack.pulumi.config("stdin", STDIN_SECRET + "-2", secret=True)
    preview = stack.run("preview")
    assert sshd.logins() == logins, "preview opened an SSH session"
    with CommandLines() as procs_update:
        stack.run("up")
    assert stack.log() == ["create", "update"]
    assert sshd.logins() == logins + 1
    assert (stack.work / "stdin-got").read_text() == STDIN_SECRET + "-2"
    assert change_summary(stack.results[-1]) == {"updated": 1, "unchanged": 1}, stack.results[-1]

    # A trigger change replaces: the old resource's delete, then the new one's create.
    old_id = stack.step_resources()[0]["id"]
    stack.pulumi.config("trigger", "two")
    replaced = stack.run("up")
    assert stack.log() == ["create", "update", "delete", "create"], replaced
    assert stack.step_resources()[0]["id"] != old_id
    assert change_summary(replaced) == {"replaced": 1, "unchanged": 1}, replaced

    # Secrets: not in the state files, the CLI output, or any command line on the host.
    secrets = key_material(sshd.private_key) + [STDIN_SECRET]
    state_text = "\n".join(p.read_text(errors="replace") for p in stack.pulumi.state_files())
    assert_nowhere(secrets, state_text, where="state files")
    assert_nowhere(secrets, *(r.output for r in stack.results), preview.output, where="CLI output")
    assert_nowhere(secrets, *procs.seen, *procs_update.seen, where="process list")
    assert any("echo create >>" in c for c in procs.seen), "the watcher never saw the command run"
    connection = stack.step_resources()[0]["outputs"]["connection"]
    assert connection.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270", (
        "connection is not a secret in state"
    )

    stack.run("destroy")
    assert stack.log()[-1] == "delete"
    assert stack.step_resources() == []


def test_wrong_host_key_is_refused_and_nothing_runs(sshd: SshHost, tmp_path: Path):
    wrong_dir = tmp_path / "otherkey"
    wrong_dir.mkdir()
    keygen(wrong_dir / "k")
    wrong = (wrong_dir / "k.pub").read_text().strip()
    stack = Stack(tmp_path, sshd, hostKey=wrong)
    before = sshd.logins()
    failed = stack.run("up", check=False)
    assert failed.returncode != 0, failed
    for want in (sshd.addr, "ssh-ed25519 " + fingerprint(wrong), "ssh-ed25519 " + fingerprint(sshd.host_key)):
        assert want in failed.output, f"{want} not in:\n{failed.output}"
    assert stack.log() == [], "a command ran on a host whose key did not match"
    assert sshd.logins() == before, "the provider logged in to a host whose key did not match"
    assert stack.step_resources() == []


def test_unreachable_host_fails_after_the_dial_limit_naming_host_and_port(sshd: SshHost, tmp_path: Path):
    closed = free_port()
    stack = Stack(tmp_path, sshd, dialErrorLimit="2")
    stack.pulumi.config("port", str(closed))
    failed = stack.run("up", check=False)
    assert failed.returncode != 0
    assert f"127.0.0.1:{closed}" in failed.output and "after 3 failed attempts" in failed.output, failed.output
    assert stack.step_resources() == []


def test_failing_command_names_command_and_exit_status_and_records_nothing(sshd: SshHost, tmp_path: Path):
    command = "echo it-went-wrong >&2; exit 5"
    stack = Stack(tmp_path, sshd, create=command)
    failed = stack.run("up", check=False)
    assert failed.returncode != 0
    for want in (f'running "{command}"', "status 5", "it-went-wrong"):
        assert want in failed.output, f"{want!r} not in:\n{failed.output}"
    assert stack.step_resources() == [], "a failed create was recorded in state"
    assert_nowhere(key_material(sshd.private_key) + [STDIN_SECRET], failed.output, where="CLI output")


# --- the schema the plugin serves against the installed SDK ----------------------------------


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict:
    plugin = require_plugin("command", PLUGIN_VERSION)
    cwd = tmp_path_factory.mktemp("schema")
    result = Pulumi(cwd, cwd / "state").run("package", "get-schema", str(plugin))
    return json.loads(result.stdout)


def resource_classes() -> dict[str, type]:
    """token -> class, for every resource class of the SDK (token read from its registration)."""
    out = {}
    for module in (sdk_remote, sdk_local):
        for cls in vars(module).values():
            if isinstance(cls, type) and issubclass(cls, pulumi.CustomResource):
                token = re.search(r"__init__\(\s*'([^']+)'", inspect.getsource(cls._internal_init)).group(1)
                out[token] = cls
    return out


def output_names(cls: type) -> set[str]:
    return {
        getattr(member.fget, "_pulumi_name")
        for member in vars(cls).values()
        if isinstance(member, property) and hasattr(member.fget, "_pulumi_name")
    }


def test_schema_has_what_the_sdk_sends_and_reads(schema: dict):
    assert schema["version"] == PLUGIN_VERSION
    classes = resource_classes()
    assert {"command:remote:Command", "command:local:Command", "command:remote:CopyToRemote"} <= set(classes)
    problems = []
    for token, cls in classes.items():
        spec = schema["resources"].get(token)
        if spec is None:
            problems.append(f"{token}: not in the schema")
            continue
        args = getattr(inspect.getmodule(cls), cls.__name__ + "Args")
        inputs = set(pulumi_types.input_type_py_to_pulumi_names(args).values())
        if inputs != set(spec["inputProperties"]):
            problems.append(f"{token} inputs: SDK {sorted(inputs)} schema {sorted(spec['inputProperties'])}")
        if output_names(cls) != set(spec["properties"]):
            problems.append(f"{token} outputs: SDK {sorted(output_names(cls))} schema {sorted(spec['properties'])}")
        # The SDK marks the connection secret (Output.secret + additional_secret_outputs).
        if "connection" in inputs and not spec["inputProperties"]["connection"].get("secret"):
            problems.append(f"{token}: connection is not secret")
    for sdk_type, token in ((sdk_remote.ConnectionArgs, "command:remote:Connection"), (sdk_remote.ProxyConnectionArgs, "command:remote:ProxyConnection")):
        names = set(pulumi_types.input_type_py_to_pulumi_names(sdk_type).values())
        props = schema["types"][token]["properties"]
        if names != set(props):
            problems.append(f"{token}: SDK {sorted(names)} schema {sorted(props)}")
        secret = {n for n, p in props.items() if p.get("secret")}
        if secret != {"password", "privateKey", "privateKeyPassword"}:
            problems.append(f"{token}: secret fields {sorted(secret)}")
        # The defaults the SDK fills in must be the provider's too.
        defaults = {"user": "root", "port": 22, "dialErrorLimit": 10, "perDialTimeout": 15}
        got = {n: props[n].get("default") for n in defaults}
        if got != defaults:
            problems.append(f"{token}: defaults {got}")
    for enum, token in ((sdk_remote.Logging, "command:remote:Logging"), (sdk_local.Logging, "command:local:Logging")):
        values = [e["value"] for e in schema["types"][token]["enum"]]
        if values != [m.value for m in enum]:
            problems.append(f"{token}: {values}")
    run_inputs = set(re.findall(r"__args__\['(\w+)'\]", inspect.getsource(sdk_local.run)))
    if run_inputs != set(schema["functions"]["command:local:run"]["inputs"]["properties"]):
        problems.append(f"command:local:run inputs: SDK {sorted(run_inputs)}")
    if output_names(sdk_local.RunResult) != set(schema["functions"]["command:local:run"]["outputs"]["properties"]):
        problems.append("command:local:run outputs differ")
    assert not problems, "\n".join(problems)
