"""The lab's last act in the suite (this file sorts after every other lab test): `lab/lab down` stops
everything the lab started, by its PID files, and leaves no namespace, bridge or host root behind.
NOVALAB_LAB_KEEP=1 keeps the lab up instead, to look around."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.lab import LAB, LAB_DIR, LAB_MARKS, sh

pytestmark = [*LAB_MARKS, pytest.mark.skipif(os.environ.get("NOVALAB_LAB_KEEP") == "1", reason="NOVALAB_LAB_KEEP=1 keeps the lab up")]


def test_down_leaves_no_process_or_namespace_behind():
    pids = [int(p.read_text()) for p in (LAB_DIR / "run").glob("*.pid") if "internal" not in p.name]
    down = sh(str(LAB), "down", timeout=300)
    # Every process went by its PID file: the namespace sweep found nothing left to kill.
    assert "outlived its PID file" not in down.stderr, down.stderr
    assert not [n for n in sh("ip", "netns", "list").stdout.split() if n.startswith("novalab-")]
    alive = [p for p in pids if Path(f"/proc/{p}").exists()]
    assert alive == []
    assert "novalab-mgmt" not in sh("ip", "-o", "link").stdout
    assert not (LAB_DIR / "hosts").exists()
