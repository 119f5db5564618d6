"""The lab's shell helpers (lab/lib/common.sh, the controller's ceph-retry.sh), without a lab: quick, no root."""

from __future__ import annotations

import subprocess
from pathlib import Path

COMMON = Path(__file__).resolve().parent.parent / "lab" / "lib" / "common.sh"


def strict_bash(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n. {COMMON}\n{script}"], capture_output=True, text=True, timeout=60
    )


def test_has_finds_an_early_line_in_a_long_output_under_pipefail():
    # The plain `| grep -q` this replaced reports "no match" here: seq dies of SIGPIPE after the match.
    plain = strict_bash("if seq 1 200000 | grep -qx 1; then echo found; else echo missed; fi")
    assert plain.stdout.strip() == "missed"  # the failure mode is real on this machine
    result = strict_bash("if seq 1 200000 | has -x 1; then echo found; else echo missed; fi")
    assert result.stdout.strip() == "found", result.stderr


def test_has_is_false_when_nothing_matches():
    result = strict_bash("if seq 1 1000 | has -x 1001; then echo found; else echo missed; fi")
    assert result.stdout.strip() == "missed", result.stderr


CEPH_RETRY = COMMON.parent / "controller" / "bin" / "ceph-retry.sh"
REFUSED = "Error EPERM: problem getting command descriptions from mon."


def fake_ceph(tmp_path: Path, answers: list[tuple[int, str, str]]) -> Path:
    """A stand-in `ceph` that gives ANSWERS (exit status, stdout, stderr) in turn and logs each call."""
    calls = tmp_path / "calls"
    script = tmp_path / "ceph"
    cases = "\n".join(f"  {n}) printf '%s' {out!r}; printf '%s\\n' {err!r} >&2; exit {rc} ;;"
                      for n, (rc, out, err) in enumerate(answers, 1))
    script.write_text(f"#!/bin/bash\necho \"$*\" >> {calls}\nn=$(wc -l < {calls})\ncase $n in\n{cases}\nesac\n")
    script.chmod(0o755)
    return script


def run_ceph_retry(tmp_path: Path, answers) -> tuple[subprocess.CompletedProcess, list[str]]:
    ceph = fake_ceph(tmp_path, answers)
    result = subprocess.run([str(CEPH_RETRY), "mon", "dump", "--format=json"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "NOVALAB_REAL_CEPH": str(ceph)}, timeout=60)
    return result, (tmp_path / "calls").read_text().splitlines()


def test_cinders_ceph_runs_again_when_the_monitor_refuses_it_in_cephs_fsid_race(tmp_path):
    result, calls = run_ceph_retry(tmp_path, [(1, "\n", REFUSED), (0, '{"epoch":1}', "dumped monmap epoch 1")])
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"epoch":1}'  # what cinder parses: nothing of the refused try
    assert calls == ["mon dump --format=json"] * 2


def test_cinders_ceph_passes_any_other_failure_on_at_once(tmp_path):
    result, calls = run_ceph_retry(tmp_path, [(13, "", "Error EACCES: access denied")])
    assert (result.returncode, calls) == (13, ["mon dump --format=json"])
    assert "access denied" in result.stderr


def test_cinders_ceph_gives_up_after_three_refusals(tmp_path):
    result, calls = run_ceph_retry(tmp_path, [(1, "", REFUSED)] * 4)
    assert result.returncode == 1 and len(calls) == 3
    assert "problem getting command descriptions" in result.stderr
