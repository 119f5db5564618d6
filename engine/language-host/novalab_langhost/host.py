"""novalab's Pulumi language host for Python: the LanguageRuntime gRPC service.

The CLI starts `pulumi-language-python` and talks to it over gRPC (pulumirpc.LanguageRuntime, the
stubs shipped in the `pulumi` wheel). What each call does here:
- GetRequiredPackages / GetRequiredPlugins: the resource plugins of the program's environment, read
  from the `pulumi-plugin.json` of every installed provider SDK (exact versions).
- Run: starts the program with its virtualenv's Python (run_program.py), the config on a pipe.
- RunPlugin: runs a Python policy pack (analyzer) the same way, streaming its output back.
- InstallDependencies: creates the virtualenv and installs requirements.txt (`pulumi install`).
- GetProgramDependencies / About: what `pulumi about` shows.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path
from typing import Iterator, Optional

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

from . import python_env
from .python_env import EnvError, PythonEnv

ALREADY_REPORTED = 32  # run_program.py: the error is in the engine's diagnostics already


def sdk_version() -> str:
    try:
        return metadata.version("pulumi")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _env_for(info: language_pb2.ProgramInfo) -> PythonEnv:
    return python_env.resolve(info.root_directory, python_env.options_dict(info.options))


def _abort(context: grpc.ServicerContext, e: Exception) -> None:
    context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))


def run_arguments(req: language_pb2.RunRequest, engine_address: str) -> list[str]:
    """run_program.py's command line for a RunRequest (pure: tested directly)."""
    info = req.info
    program = info.entry_point or req.program or "."
    base = info.program_directory or req.pwd or "."
    program_path = program if os.path.isabs(program) else os.path.join(base, program)
    args = [
        "--monitor", req.monitor_address,
        "--project", req.project,
        "--stack", req.stack,
        "--parallel", str(req.parallel),
        "--dry-run", "true" if req.dryRun else "false",
    ]
    if engine_address:
        args += ["--engine", engine_address]
    if req.organization:
        args += ["--organization", req.organization]
    if info.root_directory:
        args += ["--root-directory", info.root_directory]
    if req.pwd:
        args += ["--pwd", req.pwd]
    return args + [program_path, *req.args]


# Where Pulumi's own host puts the stack config, decrypted secrets included. Every process the
# program starts would inherit it, so novalab's host never sets it: the config goes over a pipe.
CONFIG_VARIABLES = ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")


def run_environment(req: language_pb2.RunRequest, env: PythonEnv, base: dict[str, str]) -> dict[str, str]:
    """The program's environment: its virtualenv; never the stack config (config_payload)."""
    out = env.environ(base)
    for name in CONFIG_VARIABLES:
        out.pop(name, None)
    out["PYTHONUNBUFFERED"] = "1"
    return out


def config_payload(req: language_pb2.RunRequest) -> bytes:
    """The stack config and its secret keys, as run_program.py reads them from --config-fd."""
    return json.dumps({"config": dict(req.config), "secretKeys": list(req.configSecretKeys)}).encode()


def _send(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as pipe:
        try:
            pipe.write(data)
        except BrokenPipeError:  # the program died before reading: its exit code says why
            pass


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine_address: str = ""):
        self.engine_address = engine_address
        self._children: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    # --- process bookkeeping: children end with the host --------------------------------------

    def _start(self, argv: list[str], **kw) -> subprocess.Popen:
        proc = subprocess.Popen(argv, **kw)
        with self._lock:
            self._children.add(proc)
        return proc

    def _done(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._children.discard(proc)

    def terminate_children(self) -> None:
        with self._lock:
            children = list(self._children)
        for proc in children:
            if proc.poll() is None:
                proc.terminate()

    # --- the service --------------------------------------------------------------------------

    def Handshake(self, request, context):
        if request.engine_address:
            self.engine_address = request.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=sdk_version())

    def _plugins(self, info: language_pb2.ProgramInfo, context) -> list[dict]:
        try:
            return python_env.inspect(_env_for(info))["plugins"]
        except EnvError as e:
            _abort(context, e)
            raise  # unreachable: abort raises

    def GetRequiredPackages(self, request, context):
        packages = []
        for p in self._plugins(request.info, context):
            dep = plugin_pb2.PackageDependency(name=p["name"], kind=p["kind"], version=p["version"], server=p["server"])
            param = p.get("parameterization")
            if param:
                dep.parameterization.CopyFrom(
                    plugin_pb2.PackageParameterization(
                        name=param.get("name", ""), version=param.get("version", ""),
                        value=(param.get("value") or "").encode(),
                    )
                )
            packages.append(dep)
        return language_pb2.GetRequiredPackagesResponse(packages=packages)

    def GetRequiredPlugins(self, request, context):
        plugins = [
            plugin_pb2.PluginDependency(name=p["name"], kind=p["kind"], version=p["version"], server=p["server"])
            for p in self._plugins(request.info, context)
            if not p.get("parameterization")
        ]
        return language_pb2.GetRequiredPluginsResponse(plugins=plugins)

    def Run(self, request, context):
        try:
            env = _env_for(request.info)
        except EnvError as e:
            return language_pb2.RunResponse(error=str(e))
        read_end, write_end = os.pipe()
        argv = [env.python, "-u", str(python_env.RUN_SCRIPT), "--config-fd", str(read_end),
                *run_arguments(request, self.engine_address)]
        # The program's stdout/stderr are ours: the CLI shows them as the program's output.
        try:
            proc = self._start(argv, env=run_environment(request, env, dict(os.environ)), cwd=request.pwd or None,
                               pass_fds=(read_end,))
        except OSError:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        # Written while the program runs: a config larger than the pipe's buffer would block here.
        sender = threading.Thread(target=_send, args=(write_end, config_payload(request)), daemon=True)
        sender.start()
        try:
            code = proc.wait()
        finally:
            self._done(proc)
            sender.join(timeout=5)
        if code == 0:
            return language_pb2.RunResponse()
        if code == ALREADY_REPORTED:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"Program exited with non-zero exit code: {code}")

    def RunPlugin(self, request, context) -> Iterator[language_pb2.RunPluginResponse]:
        """A Python plugin (a policy pack is an `analyzer`): `python -u __main__.py ARGS` in its
        directory with its virtualenv; stdout and stderr are streamed back as they come."""
        info = request.info
        try:
            env = _env_for(info)
        except EnvError as e:
            yield language_pb2.RunPluginResponse(stderr=f"{e}\n".encode())
            yield language_pb2.RunPluginResponse(exitcode=1)
            return
        directory = info.program_directory or request.pwd
        program = request.program or os.path.join(directory, "__main__.py")
        if os.path.isdir(program):
            program = os.path.join(program, "__main__.py")
        base = dict(os.environ)
        for item in request.env:  # "KEY=VALUE" entries the engine adds
            key, _, value = item.partition("=")
            base[key] = value
        proc = self._start(
            [env.python, "-u", program, *request.args],
            cwd=directory,
            env=env.environ(base),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        yield from self._stream(proc, lambda kind, data: language_pb2.RunPluginResponse(**{kind: data}))
        yield language_pb2.RunPluginResponse(exitcode=proc.returncode)

    def InstallDependencies(self, request, context):
        """`pulumi install`: the virtualenv of Pulumi.yaml, then requirements.txt into it."""
        info = request.info
        directory = info.root_directory or request.directory
        options = python_env.options_dict(info.options)
        venv = options.get("virtualenv")
        if not venv:
            yield language_pb2.InstallDependenciesResponse(
                stdout=b"no runtime option virtualenv: dependencies are the system Python's\n"
            )
            return
        path = Path(venv) if os.path.isabs(venv) else Path(directory) / venv
        steps = []
        if not (path / "bin" / "python").exists():
            steps.append([sys.executable, "-m", "venv", str(path)])
        requirements = Path(directory) / "requirements.txt"
        if requirements.exists():
            steps.append([str(path / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                          "-r", str(requirements)])
        for argv in steps:
            yield language_pb2.InstallDependenciesResponse(stdout=(" ".join(argv) + "\n").encode())
            proc = self._start(argv, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            yield from self._stream(proc, lambda kind, data: language_pb2.InstallDependenciesResponse(**{kind: data}))
            if proc.returncode != 0:
                context.abort(grpc.StatusCode.UNKNOWN, f"{argv[0]} exited with {proc.returncode}")

    def RuntimeOptionsPrompts(self, request, context):
        return language_pb2.RuntimeOptionsResponse()

    def About(self, request, context):
        try:
            env = _env_for(request.info)
            found = python_env.inspect(env)
        except EnvError as e:
            _abort(context, e)
            raise
        meta = {"sdk": "pulumi " + next((d["version"] for d in found["distributions"] if d["name"].lower() == "pulumi"), "missing")}
        if env.virtualenv is not None:
            meta["virtualenv"] = str(env.virtualenv)
        return language_pb2.AboutResponse(
            executable=found["python"]["executable"], version=found["python"]["version"], metadata=meta
        )

    def GetProgramDependencies(self, request, context):
        try:
            dists = python_env.inspect(_env_for(request.info))["distributions"]
        except EnvError as e:
            _abort(context, e)
            raise
        if not request.transitiveDependencies:
            dists = python_env.top_level(dists)
        return language_pb2.GetProgramDependenciesResponse(
            dependencies=[language_pb2.DependencyInfo(name=d["name"], version=d["version"]) for d in dists]
        )

    def Cancel(self, request, context):
        self.terminate_children()
        return empty_pb2.Empty()

    # --- helpers -----------------------------------------------------------------------------

    def _stream(self, proc: subprocess.Popen, make) -> Iterator:
        """Yield make("stdout"|"stderr", bytes) as the child writes, until it exits."""
        q: "queue.Queue[Optional[tuple[str, bytes]]]" = queue.Queue()

        def pump(stream, kind: str) -> None:
            for chunk in iter(lambda: stream.read1(65536), b""):
                q.put((kind, chunk))
            q.put(None)

        threads = [
            threading.Thread(target=pump, args=(proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=pump, args=(proc.stderr, "stderr"), daemon=True),
        ]
        for t in threads:
            t.start()
        open_streams = len(threads)
        try:
            while open_streams:
                item = q.get()
                if item is None:
                    open_streams -= 1
                    continue
                yield make(*item)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
            self._done(proc)
