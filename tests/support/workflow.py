"""Running a GitHub Actions job's own `run` steps here, as the runner would, so a test checks what the
job really does (never a restatement of it).

Each `run` step runs with bash as the job says (`shell: bash` is `bash --noprofile --norc -eo
pipefail`), in the checkout, with the job's and the step's `env`, `$RUNNER_TEMP` and `$GITHUB_ENV`
(lines a step appends are in the next steps' environment). `${{ ... }}` expressions are replaced from
the values the test gives; one the test does not know fails it. `uses` steps are the test's to stand
in for (e.g. the engine on PATH for pulumi/actions). A step's `if` is not evaluated: every step runs,
as `always()` would.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import yaml

from .engine import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
_EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def job(workflow: str, name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / workflow).read_text())["jobs"][name]


@dataclass
class StepRun:
    name: str
    returncode: int
    output: str


def expand(value: str, expressions: Mapping[str, str]) -> str:
    def one(match: re.Match) -> str:
        expression = match.group(1)
        if expression not in expressions:
            raise AssertionError(f"the workflow uses ${{{{ {expression} }}}}, which this test does not stand in for")
        return expressions[expression]

    return _EXPRESSION.sub(one, str(value))


def run_job(
    workflow: str,
    name: str,
    checkout: Path,
    expressions: Mapping[str, str],
    env: Mapping[str, str],
    runner_temp: Path,
    timeout: float = 900,
) -> list[StepRun]:
    """Run every `run` step of the job in order; returns each step's status and output."""
    spec = job(workflow, name)
    shell = (spec.get("defaults") or {}).get("run", {}).get("shell", "bash")
    assert shell == "bash", f"job {name}: only `shell: bash` is stood in for here, not {shell!r}"
    runner_temp.mkdir(parents=True, exist_ok=True)
    github_env = runner_temp / "github_env"
    github_env.write_text("")
    job_env = {k: expand(v, expressions) for k, v in (spec.get("env") or {}).items()}
    added: dict[str, str] = {}
    runs = []
    for step in spec["steps"]:
        if "run" not in step:
            continue
        assert "shell" not in step, f"step {step.get('name')}: its own shell is not stood in for"
        step_env = {k: expand(v, expressions) for k, v in (step.get("env") or {}).items()}
        full = dict(os.environ, **env, **job_env, **added, **step_env, RUNNER_TEMP=str(runner_temp), GITHUB_ENV=str(github_env))
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", expand(step["run"], expressions)],
            cwd=checkout, env=full, capture_output=True, text=True, timeout=timeout,
        )
        runs.append(StepRun(step.get("name", step["run"][:40]), proc.returncode, proc.stdout + proc.stderr))
        for line in github_env.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                added[key] = value
    return runs
