"""Which Python runs a program, and what that Python has installed.

A project (or policy pack) names its virtualenv in Pulumi.yaml / PulumiPolicy.yaml:
`runtime: {name: python, options: {virtualenv: venv}}`, relative to the file's directory. Without
one, the `python3` on PATH runs the program (PULUMI_PYTHON_CMD overrides it, as upstream).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

HERE = Path(__file__).resolve().parent
INSPECT_SCRIPT = HERE / "inspect_env.py"
RUN_SCRIPT = HERE / "run_program.py"


class EnvError(Exception):
    """The program's Python environment cannot be used; the message says what to do."""


@dataclass(frozen=True)
class PythonEnv:
    python: str  # the interpreter that runs the program
    virtualenv: Optional[Path]  # None when no virtualenv is configured

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        """The environment a program runs in: the virtualenv activated, as `source activate` would."""
        env = dict(base)
        if self.virtualenv is not None:
            env["VIRTUAL_ENV"] = str(self.virtualenv)
            env["PATH"] = f"{self.virtualenv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
            env.pop("PYTHONHOME", None)
        # The host's own import path must not leak into the program.
        env.pop("PYTHONPATH", None)
        return env


def options_dict(options: Any) -> dict[str, Any]:
    """ProgramInfo.options (a protobuf Struct) as a plain dict."""
    if options is None:
        return {}
    if isinstance(options, Mapping):
        return dict(options)
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(options)


def resolve(root_directory: str, options: Mapping[str, Any], base_env: Mapping[str, str] = os.environ) -> PythonEnv:
    toolchain = options.get("toolchain", "pip")
    if toolchain not in ("pip", None, ""):
        raise EnvError(
            f"runtime option toolchain: {toolchain!r} is not supported by novalab's language host; "
            "use `virtualenv: <dir>` (pip) in Pulumi.yaml"
        )
    venv = options.get("virtualenv")
    if venv:
        path = Path(os.path.expanduser(str(venv)))
        if not path.is_absolute():
            path = Path(root_directory or ".") / path
        path = Path(os.path.abspath(path))
        python = path / "bin" / "python"
        if not python.exists():
            raise EnvError(
                f"the virtualenv {str(path)!r} (runtime option virtualenv in Pulumi.yaml) does not exist; "
                "create it with `pulumi install` (or ./novalab setup)"
            )
        return PythonEnv(str(python), path)
    cmd = base_env.get("PULUMI_PYTHON_CMD") or "python3"
    found = shutil.which(cmd, path=base_env.get("PATH"))
    if not found:
        raise EnvError(f"no {cmd!r} on PATH to run the program; install Python 3 or set runtime option virtualenv")
    return PythonEnv(found, None)


def inspect(env: PythonEnv, timeout: float = 60) -> dict[str, Any]:
    """Distributions and resource plugins of the environment (asks its own interpreter)."""
    proc = subprocess.run(
        [env.python, "-I", str(INSPECT_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env.environ(os.environ),
    )
    if proc.returncode != 0:
        raise EnvError(f"could not inspect {env.python}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


def top_level(distributions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Distributions nothing else in the environment requires: what the user asked for."""

    def norm(name: str) -> str:
        return name.lower().replace("_", "-").replace(".", "-")

    required = {norm(r) for d in distributions for r in d.get("requires", ())}
    return [d for d in distributions if norm(d["name"]) not in required]


