"""Running the real Pulumi engine in tests: the CLI novalab builds (engine/), with novalab's language
host and the command/openstack plugins, against a throwaway file backend.

`./novalab test` sets the engine up first and exports NOVALAB_ENGINE_BIN (the directory holding
`pulumi` and `pulumi-language-python`), or NOVALAB_ENGINE_ERROR when a piece failed to build: engine
tests then FAIL with that reason (never skip). Run directly under pytest, the last build is used
(`engine/engine.sh path`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
VENV = ROOT / "venv"
ENGINE_SH = ROOT / "engine" / "engine.sh"
PASSPHRASE = "novalab-test-passphrase"


def engine_bin() -> Path:
    """The directory with `pulumi` and the language host; fails the test when there is none."""
    error = os.environ.get("NOVALAB_ENGINE_ERROR")
    if error:
        pytest.fail(f"the Pulumi engine is not available: {error}")
    given = os.environ.get("NOVALAB_ENGINE_BIN")
    if not given:
        proc = subprocess.run([str(ENGINE_SH), "path"], capture_output=True, text=True)
        given = proc.stdout.strip()
    path = Path(given)
    if not (path / "pulumi").exists():
        pytest.fail(f"no Pulumi CLI in {path}: run ./novalab setup (or ./novalab test, which sets it up)")
    return path


def closed_port() -> int:
    """A loopback port nothing listens on: a cloud configured there is unreachable by design, so
    any API call would fail the run."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pulumi_home() -> Path:
    return Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi"))


def require_plugin(name: str, version: str) -> Path:
    """The installed resource plugin NAME at VERSION, or a failing test naming what is missing."""
    binary = pulumi_home() / "plugins" / f"resource-{name}-v{version}" / f"pulumi-resource-{name}"
    if not binary.exists():
        pytest.fail(f"resource plugin {name} v{version} is not installed at {binary}: run ./novalab setup")
    return binary


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"pulumi {' '.join(self.args)} -> {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class PulumiFailed(AssertionError):
    pass


class Pulumi:
    """`pulumi` for one project directory with its own file backend and passphrase."""

    def __init__(
        self,
        project_dir: Path,
        state_dir: Path,
        stack: str = "test",
        env: Optional[Mapping[str, str]] = None,
        config_file: Optional[Path] = None,
        passphrase: str = PASSPHRASE,
    ):
        self.project_dir = Path(project_dir)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.stack = stack
        self.bin = engine_bin()
        self.extra_env = dict(env or {})
        self.passphrase = passphrase
        # The stack's config file when it is not Pulumi.<stack>.yaml (the lab's, see lab/lib/stack.sh).
        self.config_args = ["--config-file", str(config_file)] if config_file else []

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_ACCESS_TOKEN"):
            env.pop(key, None)
        env.update(
            PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
            PULUMI_BACKEND_URL=f"file://{self.state_dir}",
            PULUMI_CONFIG_PASSPHRASE=self.passphrase,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_SKIP_CONFIRMATIONS="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            NO_COLOR="1",
        )
        env.setdefault("PULUMI_DISABLE_AUTOMATIC_LOGS", "true")  # as ./novalab's engine_defaults
        env.update(self.extra_env)
        return env

    def run(self, *args: str, check: bool = True, input: Optional[str] = None, timeout: float = 900) -> Result:
        argv = [str(self.bin / "pulumi"), *args]
        proc = subprocess.run(
            argv, cwd=self.project_dir, env=self.env, input=input, capture_output=True, text=True, timeout=timeout
        )
        result = Result(list(args), proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise PulumiFailed(str(result))
        return result

    # --- the usual verbs --------------------------------------------------------------------

    def init(self) -> "Pulumi":
        self.run("stack", "select", "--create", self.stack)
        return self

    def config(self, key: str, value: str, secret: bool = False, path: bool = False) -> None:
        args = ["config", "set", "-s", self.stack, *self.config_args]
        if secret:
            args.append("--secret")
        if path:
            args.append("--path")
        # The value goes on stdin, so a secret is never on a command line.
        self.run(*args, key, input=value)

    def config_object(self, key: str, value: object, secret: bool = False) -> None:
        """An object/list value, as `pulumi config set --json` would store it."""
        args = ["config", "set", "-s", self.stack, *self.config_args, "--json", key, json.dumps(value)]
        if secret:
            args.insert(3, "--secret")
        self.run(*args)

    def preview(self, *args: str, check: bool = True) -> Result:
        return self.run("preview", "-s", self.stack, *self.config_args, *args, check=check)

    def up(self, *args: str, check: bool = True) -> Result:
        return self.run("up", "-s", self.stack, *self.config_args, "--yes", "--skip-preview", *args, check=check)

    def destroy(self, *args: str, check: bool = True) -> Result:
        return self.run("destroy", "-s", self.stack, *self.config_args, "--yes", "--skip-preview", *args, check=check)

    def outputs(self, show_secrets: bool = False) -> dict:
        args = ["stack", "output", "-s", self.stack, "--json"]
        if show_secrets:
            args.append("--show-secrets")
        return json.loads(self.run(*args).stdout)

    def export(self) -> dict:
        return json.loads(self.run("stack", "export", "-s", self.stack).stdout)

    def resources(self) -> list[dict]:
        return self.export()["deployment"].get("resources") or []

    def state_files(self) -> list[Path]:
        """Every file the backend wrote (state, backups, history): where plaintext must not be."""
        return [p for p in self.state_dir.rglob("*") if p.is_file()]


def change_summary(result: Result) -> dict[str, int]:
    """`pulumi up/preview --json` is not used: parse the "Resources:" block of the text output."""
    summary: dict[str, int] = {}
    lines = result.stdout.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Resources:")
    except StopIteration:
        return summary
    for line in lines[start + 1 :]:
        text = line.strip()
        if not text:
            break
        parts = text.lstrip("+-~±").split()
        if parts and parts[0].isdigit():
            summary[" ".join(parts[1:])] = int(parts[0])
    return summary


def diagnostics(result: Result) -> str:
    """The "Diagnostics:" block of a run's output (the progress table above it repeats first lines)."""
    text = result.stdout
    start = text.find("Diagnostics:")
    if start < 0:
        return ""
    end = text.find("\nResources:", start)
    return text[start : end if end >= 0 else len(text)]


def write_project(
    directory: Path,
    program: str,
    name: str = "enginetest",
    virtualenv: Path = VENV,
    extra_files: Optional[Mapping[str, str]] = None,
) -> Path:
    """A Python Pulumi project using novalab's venv (pulumi, pulumi_command, pulumi_openstack)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {"name": name, "runtime": {"name": "python", "options": {"virtualenv": str(virtualenv)}}},
            sort_keys=False,
        )
    )
    (directory / "__main__.py").write_text(textwrap.dedent(program))
    for rel, text in (extra_files or {}).items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def copy_novalab(directory: Path, stack_yaml: Mapping, stack: str, venv: Path = VENV) -> Path:
    """The novalab program itself in a scratch directory (its own Pulumi.<stack>.yaml), so tests
    never touch the repository's stack files. The policy pack comes along. VENV runs both."""
    directory.mkdir(parents=True, exist_ok=True)
    for item in ("__main__.py", "components", "openstack_defaults", "policies"):
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, directory / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, directory / item)
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["runtime"]["options"]["virtualenv"] = str(venv)
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    pack = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    pack["runtime"]["options"]["virtualenv"] = str(venv)
    (directory / "policies" / "PulumiPolicy.yaml").write_text(yaml.safe_dump(pack, sort_keys=False))
    (directory / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": dict(stack_yaml)}, sort_keys=False))
    return directory


def assert_nowhere(secrets: Iterable[str], *texts: str, where: str = "output") -> None:
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"a secret ({secret[:4]}...) appears in the {where}"
