"""The GitHub workflows, linted with actionlint (which runs shellcheck on every `run` script), and the
preview job's order: the official CLI first, then only the venv from novalab (no engine build). What
the preview job prints and comments: tests/test_engine_workflow.py."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from support.engine import ROOT
from support.workflow import WORKFLOWS, job

# Built from the Go module proxy into Go's build cache on first use (about 15 s), then cached.
ACTIONLINT = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"


def test_the_workflows_pass_actionlint():
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to build actionlint (https://go.dev/dl)")
    assert shutil.which("shellcheck"), "shellcheck is missing: actionlint would skip the run scripts"
    result = subprocess.run([go, "run", ACTIONLINT, "-color=false", *sorted(WORKFLOWS.glob("*.yml"))],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_preview_job_installs_the_official_cli_first_and_builds_no_engine():
    steps = job("preview.yml", "preview")["steps"]
    uses = [s.get("uses", "") for s in steps]
    runs = [s.get("run", "") for s in steps]
    cli = next(i for i, u in enumerate(uses) if u.startswith("pulumi/actions@"))
    assert "command" not in steps[cli].get("with", {}), "pulumi/actions should only install the CLI"
    setup = next(i for i, r in enumerate(runs) if "./novalab setup" in r)
    assert cli < setup and runs[setup].split() == ["./novalab", "setup", "venv"]
    assert not any(u.startswith("actions/setup-go") for u in uses)
    assert any("pulumi preview --diff" in r for r in runs)
