"""The PR workflow's preview job, run here: its own `run` steps, read from .github/workflows/preview.yml
(tests/support/workflow.py), against a loopback stack whose hosts' records exist, with the engine on
PATH where pulumi/actions would put the official CLI and a stand-in `gh` that keeps the comment. So
the comment a pull request gets is the text these tests check: a changed override as changed lines
of that host's file, the policy pack's verdict, and no secret."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from support.engine import PASSPHRASE, ROOT, assert_nowhere
from support.workflow import run_job
from test_engine_program import SECRETS, SSH_KEY_MARKER, loopback_stack, make_stack

pytestmark = pytest.mark.engine

STACK = "loopback"
RECORDS = ("**ComputeHost::**", "**HostRecord::**", "**HostFile::**", "**HostServices::**")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pr-workflow")
    cfg = loopback_stack()
    cfg["novalab:configOverrides"] = {"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": "4.0"}}}
    pulumi = make_stack(tmp, cfg, stack=STACK)
    project = pulumi.project_dir
    # What the records hold as deployed (they need no host to be made); the rest stays to create.
    pulumi.up(*(arg for pattern in RECORDS for arg in ("--target", pattern)))
    # The pull request: one value of one option.
    pulumi.config("novalab:configOverrides", json.dumps({"nova.conf": {"DEFAULT": {"cpu_allocation_ratio": "8.0"}}}))
    # The checkout: the program as copied, plus what the job's steps call.
    for name in ("novalab", "requirements.txt", "requirements-dev.txt"):
        shutil.copy2(ROOT / name, project / name)
    (project / "venv").symlink_to(ROOT / "venv")  # ./novalab setup venv finds it made for these pins
    shutil.copy2(ROOT / "policies" / "config" / "dev.json", project / "policies" / "config" / f"{STACK}.json")
    gh = tmp / "gh-bin"
    gh.mkdir()
    (gh / "gh").write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$GH_CAPTURE/args"\n'
                           'while [ "$#" -gt 0 ]; do [ "$1" = --body-file ] && cp "$2" "$GH_CAPTURE/body"; shift; done\n')
    (gh / "gh").chmod(0o755)
    secrets = {"PULUMI_BACKEND_URL": f"file://{pulumi.state_dir}", "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    expressions = {f"secrets.{k}": secrets.get(k, "") for k in (
        "PULUMI_ACCESS_TOKEN", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_STATE_DB_PASSWORD", "OS_AUTH_URL",
        "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_REGION_NAME")}
    expressions.update({"vars.PULUMI_STACK": STACK, "github.token": "test-token", "github.event.pull_request.number": "21",
                        "steps.preview.outcome": "success"})
    env = {k: v for k, v in pulumi.env.items() if not k.startswith("PULUMI_BACKEND") and k != "PULUMI_CONFIG_PASSPHRASE"}
    env.update(PATH=f"{gh}{os.pathsep}{env['PATH']}", GH_CAPTURE=str(tmp), GITHUB_REPOSITORY="novalab/novalab")
    steps = run_job("preview.yml", "preview", project, expressions, env, tmp / "runner-temp")
    return {"steps": steps, "comment": (tmp / "body").read_text() if (tmp / "body").exists() else "",
            "gh": (tmp / "args").read_text().split("\n") if (tmp / "args").exists() else []}


def test_every_step_of_the_job_succeeds(job):
    for step in job["steps"]:
        assert step.returncode == 0, f"{step.name}:\n{step.output[-4000:]}"
    assert [s.name for s in job["steps"]][-2:] == ["pulumi preview --diff, with the policy pack",
                                                    "The preview as the pull request's comment (one comment, updated on each push)"]


def test_the_comment_shows_the_changed_option_as_lines_of_that_hosts_file(job):
    comment = job["comment"]
    assert comment.startswith(f"#### `pulumi preview --diff` of stack `{STACK}`: success\n\n```diff\n"), comment[:300]
    section = comment[comment.index("::compute-1-file-nova.conf]"):]
    assert re.search(r"^\s*-\s*cpu_allocation_ratio = 4\.0$", section, re.M), section[:3000]
    assert re.search(r"^\s*\+\s*cpu_allocation_ratio = 8\.0$", section, re.M), section[:3000]
    assert re.findall(r"::(compute-\d-file-[^\]]+)\]", comment) == ["compute-1-file-nova.conf"]  # nothing else changed


def test_the_comment_has_the_policy_packs_verdict_and_is_posted_once_per_pr(job):
    # The diff display's summary: the pack ran, and nothing it checks was violated.
    assert re.search(r"Policy Packs run:\s*\n\s*Name\s+Version\s*\n\s*novalab\|local\|policies\s", job["comment"]), job["comment"][-2000:]
    assert "violation" not in job["comment"].lower()
    assert job["gh"][:2] == ["pr", "comment"] and "21" in job["gh"] and "--edit-last" in job["gh"]


def test_no_secret_in_the_comment_or_the_job_log(job):
    assert_nowhere([*SECRETS.values(), SSH_KEY_MARKER], job["comment"], *(s.output for s in job["steps"]), where="PR comment or log")
