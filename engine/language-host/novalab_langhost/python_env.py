"""Which Python runs a program, and what that Python has installed.

A project (or policy pack) names its virtualenv in Pulumi.yaml / PulumiPolicy.yaml:
`runtime: {name: python, options: {virtualenv: venv}}`, relative to the file's directory. Without
one, the `python3` on PATH runs the program (PULUMI_PYTHON_CMD overrides it, as upstream).
"""

from __future__ import annotations

import hashlib
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
# inspect's last answer, in the virtualenv it describes (it goes with it): the CLI asks for the
# required plugins twice per preview or update, and each answer costs an interpreter start.
CACHE_FILE = ".novalab-inspect.json"


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
    """Distributions and resource plugins of the environment (asks its own interpreter), from the
    virtualenv's cache while nothing was installed or removed there since."""
    key = _fingerprint(env)
    cache = env.virtualenv / CACHE_FILE if key else None  # a key means a virtualenv
    if cache is not None:
        try:
            cached = json.loads(cache.read_text())
            if cached.get("key") == key:
                return cached["answer"]
        except (OSError, ValueError, KeyError, AttributeError):
            pass  # no cache yet, or one from another version: ask the interpreter
    answer = _ask(env, timeout)
    if cache is not None:
        try:
            partial = cache.with_name(f"{cache.name}.{os.getpid()}")
            partial.write_text(json.dumps({"key": key, "answer": answer}))
            os.replace(partial, cache)
        except OSError:
            pass  # a read-only virtualenv: asked again next time
    return answer


def _fingerprint(env: PythonEnv) -> Optional[str]:
    """What inspect's answer depends on: the interpreter, the inspecting script, and each
    site-packages directory of the virtualenv, whose modification time changes whenever pip
    installs, upgrades or removes a distribution (it adds or removes the .dist-info directory).
    Not watched: the source tree of an editable install. None without a virtualenv: a system
    Python's site directories are not known here."""
    if env.virtualenv is None:
        return None
    sites = sorted(env.virtualenv.glob("lib*/python*/site-packages"))
    if not sites:
        return None
    digest = hashlib.sha256(INSPECT_SCRIPT.read_bytes())
    for path in (Path(os.path.realpath(env.python)), *sites):
        st = path.stat()
        digest.update(f"\n{path}:{st.st_ino}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def _ask(env: PythonEnv, timeout: float) -> dict[str, Any]:
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


