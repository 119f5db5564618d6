"""The lab's shell helpers (lab/lib/common.sh), without a lab: quick, no root."""

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
