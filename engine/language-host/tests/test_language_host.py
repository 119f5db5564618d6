"""novalab's Python language host, by itself: its pure parts, and the gRPC service it serves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import venv
from concurrent import futures
from importlib import metadata
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, resource_pb2, resource_pb2_grpc

HOST_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HOST_DIR))

from novalab_langhost import host, python_env  # noqa: E402
from novalab_langhost.__main__ import engine_address  # noqa: E402

LAUNCHER = HOST_DIR / "pulumi-language-python"


def fake_provider_env(root: Path, plugins: dict[str, dict]) -> Path:
    """A real virtualenv (no pip) holding fake provider SDKs, each with a pulumi-plugin.json."""
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    for dist, plugin in plugins.items():
        fake_provider_env_add(env_dir, dist, plugin)
    return env_dir


def fake_provider_env_add(env_dir: Path, dist: str, plugin: dict) -> None:
    """Installs one fake provider SDK into the virtualenv, as pip would lay it out."""
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    module = dist.replace("-", "_")
    (site / module).mkdir()
    (site / module / "__init__.py").write_text("")
    (site / module / "pulumi-plugin.json").write_text(json.dumps(plugin))
    info = site / f"{module}-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0.0\nRequires-Dist: grpcio\n")
    (info / "RECORD").write_text(
        f"{module}/__init__.py,,\n{module}/pulumi-plugin.json,,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n"
    )


# --- pure parts ---------------------------------------------------------------------------------


def test_engine_address_is_the_last_positional_argument():
    assert engine_address(["-root=/p", "-tracing=", "127.0.0.1:4321"]) == "127.0.0.1:4321"
    assert engine_address([]) == ""


def test_run_arguments_carry_every_setting_the_sdk_needs():
    req = language_pb2.RunRequest(
        project="novalab", stack="lab", pwd="/p", monitor_address="127.0.0.1:1", dryRun=True, parallel=16,
        organization="org", info=language_pb2.ProgramInfo(root_directory="/p", program_directory="/p", entry_point="."),
    )
    args = host.run_arguments(req, "127.0.0.1:2")
    pairs = dict(zip(args[:-1:2], args[1::2]))
    assert pairs["--monitor"] == "127.0.0.1:1"
    assert pairs["--engine"] == "127.0.0.1:2"
    assert pairs["--project"] == "novalab" and pairs["--stack"] == "lab"
    assert pairs["--dry-run"] == "true" and pairs["--parallel"] == "16"
    assert pairs["--organization"] == "org" and pairs["--root-directory"] == "/p"
    assert args[-1] == "/p/."


def test_the_program_gets_config_and_secret_keys_on_a_pipe_not_in_its_environment(tmp_path):
    env = python_env.PythonEnv(python=sys.executable, virtualenv=tmp_path / "venv")
    req = language_pb2.RunRequest(config={"novalab:a": "1", "novalab:pw": "s3"}, configSecretKeys=["novalab:pw"])
    out = host.run_environment(req, env, {"PATH": "/usr/bin", "PYTHONPATH": "/host", "PULUMI_CONFIG": "{}"})
    assert json.loads(host.config_payload(req)) == {"config": {"novalab:a": "1", "novalab:pw": "s3"}, "secretKeys": ["novalab:pw"]}
    assert "PULUMI_CONFIG" not in out and "PULUMI_CONFIG_SECRET_KEYS" not in out
    assert out["PATH"].startswith(str(tmp_path / "venv" / "bin"))
    assert "PYTHONPATH" not in out  # the host's own import path stays out of the program


def test_a_missing_virtualenv_says_how_to_create_it(tmp_path):
    with pytest.raises(python_env.EnvError, match=r"does not exist; create it with `pulumi install`"):
        python_env.resolve(str(tmp_path), {"virtualenv": "venv"})


def test_unsupported_toolchain_is_refused_by_name(tmp_path):
    with pytest.raises(python_env.EnvError, match="toolchain: 'poetry'"):
        python_env.resolve(str(tmp_path), {"toolchain": "poetry"})


def test_inspect_finds_exactly_the_resource_plugins_installed(tmp_path):
    env_dir = fake_provider_env(
        tmp_path,
        {
            "pulumi-fakecloud": {"resource": True, "name": "fakecloud", "version": "4.5.6"},
            "pulumi-notaprovider": {"resource": False, "name": "nope", "version": "1.0.0"},
        },
    )
    found = python_env.inspect(python_env.resolve(str(tmp_path), {"virtualenv": str(env_dir)}))
    assert [(p["name"], p["version"]) for p in found["plugins"]] == [("fakecloud", "4.5.6")]
    names = {d["name"] for d in found["distributions"]}
    assert {"pulumi-fakecloud", "pulumi-notaprovider"} <= names


def test_inspect_asks_the_interpreter_again_only_once_something_was_installed(tmp_path, monkeypatch):
    env_dir = fake_provider_env(tmp_path, {"pulumi-fakecloud": {"resource": True, "name": "fakecloud", "version": "4.5.6"}})
    env = python_env.resolve(str(tmp_path), {"virtualenv": str(env_dir)})
    asked = []
    ask = python_env._ask
    monkeypatch.setattr(python_env, "_ask", lambda *a: asked.append(1) or ask(*a))
    first = python_env.inspect(env)
    assert python_env.inspect(env) == first and len(asked) == 1  # the second answer is the cached one
    time.sleep(0.01)  # a later modification time for the site directory, whatever its resolution
    fake_provider_env_add(env_dir, "pulumi-othercloud", {"resource": True, "name": "othercloud", "version": "1.2.3"})
    found = python_env.inspect(env)
    assert len(asked) == 2
    assert sorted((p["name"], p["version"]) for p in found["plugins"]) == [("fakecloud", "4.5.6"), ("othercloud", "1.2.3")]


def test_top_level_leaves_out_what_other_distributions_require():
    dists = [
        {"name": "pulumi", "requires": ["grpcio", "protobuf"]},
        {"name": "grpcio", "requires": []},
        {"name": "protobuf", "requires": []},
        {"name": "pytest", "requires": []},
    ]
    assert [d["name"] for d in python_env.top_level(dists)] == ["pulumi", "pytest"]


# --- the gRPC service, through the launcher the CLI starts ---------------------------------------


@pytest.fixture
def running_host():
    proc = subprocess.Popen(
        [str(LAUNCHER), "127.0.0.1:1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    port = int(proc.stdout.readline())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield proc, language_pb2_grpc.LanguageRuntimeStub(channel)
    channel.close()
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def options(**kw) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(kw)
    return s


def test_plugin_info_is_the_pulumi_sdk_version(running_host):
    _, stub = running_host
    assert stub.GetPluginInfo(empty_pb2.Empty()).version == metadata.version("pulumi")


def test_required_packages_are_the_environments_provider_sdks(running_host, tmp_path):
    _, stub = running_host
    env_dir = fake_provider_env(tmp_path, {"pulumi-fakecloud": {"resource": True, "name": "fakecloud", "version": "4.5.6"}})
    info = language_pb2.ProgramInfo(
        root_directory=str(tmp_path), program_directory=str(tmp_path), entry_point=".",
        options=options(virtualenv=os.path.relpath(env_dir, tmp_path)),
    )
    packages = stub.GetRequiredPackages(language_pb2.GetRequiredPackagesRequest(info=info)).packages
    assert [(p.name, p.kind, p.version) for p in packages] == [("fakecloud", "resource", "4.5.6")]
    plugins = stub.GetRequiredPlugins(language_pb2.GetRequiredPluginsRequest(info=info)).plugins
    assert [(p.name, p.version) for p in plugins] == [("fakecloud", "4.5.6")]


def test_a_project_without_its_virtualenv_gets_a_clear_error(running_host, tmp_path):
    _, stub = running_host
    info = language_pb2.ProgramInfo(root_directory=str(tmp_path), options=options(virtualenv="venv"))
    with pytest.raises(grpc.RpcError) as err:
        stub.GetRequiredPackages(language_pb2.GetRequiredPackagesRequest(info=info))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "does not exist" in err.value.details() and str(tmp_path / "venv") in err.value.details()


def test_run_plugin_streams_output_and_exit_code(running_host, tmp_path):
    _, stub = running_host
    (tmp_path / "__main__.py").write_text(
        "import sys\nprint('port-line', flush=True)\nprint('to-stderr', file=sys.stderr, flush=True)\nsys.exit(3)\n"
    )
    info = language_pb2.ProgramInfo(root_directory=str(tmp_path), program_directory=str(tmp_path), entry_point=".",
                                    options=options(virtualenv=str(Path(sys.executable).parent.parent)))
    responses = list(stub.RunPlugin(language_pb2.RunPluginRequest(pwd=str(tmp_path), info=info, kind="analyzer")))
    stdout = b"".join(r.stdout for r in responses)
    stderr = b"".join(r.stderr for r in responses)
    assert stdout == b"port-line\n" and stderr == b"to-stderr\n"
    assert responses[-1].WhichOneof("output") == "exitcode" and responses[-1].exitcode == 3


def test_the_host_loads_the_language_service_without_the_whole_sdk():
    # The CLI starts the host twice per preview: importing the SDK's __init__ files was half of
    # each start (sdk_protos.py).
    probe = (
        "import json, sys; import novalab_langhost.__main__; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('pulumi'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=HOST_DIR, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert "pulumi.runtime.proto.language_pb2_grpc" in loaded
    assert not [m for m in loaded if m.startswith(("pulumi.resource", "pulumi.output", "pulumi.runtime.settings"))]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_host_ends_quietly_when_the_cli_interrupts_it(running_host, sig):
    proc, stub = running_host
    stub.GetPluginInfo(empty_pb2.Empty())
    proc.send_signal(sig)
    assert proc.wait(timeout=10) == 0
    assert proc.stderr.read() == ""  # no KeyboardInterrupt traceback in the run's diagnostics


def test_a_program_ends_with_its_language_host(tmp_path):
    """A program waiting on an engine that never answers (a socket that accepts and stays silent)
    ends once its host is killed: it is reparented and would otherwise wait for ever."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    (tmp_path / "__main__.py").write_text("import pulumi\npulumi.export('x', 1)\n")
    runner = HOST_DIR / "novalab_langhost" / "run_program.py"
    monitor = f"127.0.0.1:{silent.getsockname()[1]}"
    host = subprocess.Popen(
        ["bash", "-c", '"$@" & echo $!; wait', "host", sys.executable, str(runner), "--monitor", monitor,
         "--project", "p", "--stack", "s", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )
    pid = int(host.stdout.readline())
    time.sleep(3)
    assert os.path.exists(f"/proc/{pid}"), "the program should still be waiting for the engine"
    host.send_signal(signal.SIGKILL)
    host.wait()
    deadline = time.monotonic() + 15
    while os.path.exists(f"/proc/{pid}") and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]:
        assert time.monotonic() < deadline, "the program outlived its host"
        time.sleep(0.5)
    silent.close()


class SlowMonitor(resource_pb2_grpc.ResourceMonitorServicer):
    """A stand-in engine whose every RegisterResource takes a while, counting how many are in flight."""

    def __init__(self, delay: float):
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_at_once = 0
        self.registered: list[str] = []

    def SupportsFeature(self, request, context):
        return resource_pb2.SupportsFeatureResponse(hasSupport=False)

    def RegisterResource(self, request, context):
        with self.lock:
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
        time.sleep(self.delay)
        with self.lock:
            self.in_flight -= 1
            self.registered.append(request.name)
        return resource_pb2.RegisterResourceResponse(urn=f"urn:pulumi:s::p::{request.type}::{request.name}", id=request.name)

    def RegisterResourceOutputs(self, request, context):
        return empty_pb2.Empty()


@pytest.mark.parametrize("parallel", [1, 8])
def test_the_program_makes_as_many_engine_calls_at_once_as_parallel_allows(tmp_path, parallel):
    # Pulumi's SDK makes each monitor call from a thread of the loop's default executor: with
    # asyncio's default pool (cpus + 4: 6 threads on 2 cores) a 10-host preview queued behind it.
    # --parallel P allows 4P calls at once (as Pulumi's own Python host), and no more.
    monitor = SlowMonitor(delay=0.3)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    (tmp_path / "__main__.py").write_text(
        "import pulumi\n"
        "for i in range(40):\n"
        "    pulumi.CustomResource('test:index:Thing', f'thing-{i}', {})\n"
    )
    runner = HOST_DIR / "novalab_langhost" / "run_program.py"
    try:
        run = subprocess.run(
            [sys.executable, str(runner), "--monitor", f"127.0.0.1:{port}", "--project", "p", "--stack", "s",
             "--parallel", str(parallel), str(tmp_path)],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        server.stop(None)
    assert run.returncode == 0, run.stderr
    assert len([n for n in monitor.registered if n.startswith("thing-")]) == 40
    assert monitor.most_at_once == 4 * parallel, monitor.most_at_once


CHILD_PROBE = """
import json, os, subprocess, sys
import pulumi
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('PULUMI_CONFIG', ''))"],
                       capture_output=True, text=True).stdout
with open("/proc/self/environ", "rb") as f:
    own = f.read()
cfg = pulumi.Config("novalab")
result = {"child": child, "env": os.environ.get("PULUMI_CONFIG", ""), "proc": own.decode(errors="replace"),
          "pw": cfg.get("pw"), "secret": cfg.get_secret("pw") is not None}
open(os.path.join(os.environ["PROBE_DIR"], "probe.json"), "w").write(json.dumps(result))
"""


@pytest.mark.parametrize("leaked", [False, True], ids=["clean-host", "host-env-holds-config"])
def test_no_child_of_the_program_sees_the_stack_config(tmp_path, monkeypatch, leaked):
    """PULUMI_CONFIG holds every decrypted secret: the program gets the config over a pipe, and
    neither its environment (nor /proc/PID/environ) nor a process it starts holds it."""
    monitor = SlowMonitor(delay=0)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    (tmp_path / "__main__.py").write_text(CHILD_PROBE)
    monkeypatch.setenv("PROBE_DIR", str(tmp_path))
    if leaked:  # as if the engine had put it into the host's own environment
        monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"novalab:pw": "s3cret-from-env"}))
    options = struct_pb2.Struct()
    options.update({"virtualenv": sys.prefix})
    req = language_pb2.RunRequest(
        project="p", stack="s", pwd=str(tmp_path), monitor_address=f"127.0.0.1:{port}",
        config={"novalab:pw": "s3cret-pw"}, configSecretKeys=["novalab:pw"],
        info=language_pb2.ProgramInfo(root_directory=str(tmp_path), program_directory=str(tmp_path),
                                      entry_point=".", options=options),
    )
    try:
        response = host.LanguageHost().Run(req, None)
    finally:
        server.stop(None)
    assert response.error == "" and not response.bail
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert probe["pw"] == "s3cret-pw" and probe["secret"]  # the program has its config, secret as secret
    assert probe["child"].strip() == "" and probe["env"] == ""
    assert "s3cret" not in probe["proc"] and "PULUMI_CONFIG" not in probe["proc"]
