"""The project root on sys.path (tests import `components`); shared helpers live in tests/support/."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Imported up front: otherwise hypothesis's pytest plugin first imports it at the end of a run that
# had no property test, and pytest's rewrite of its modules then died in CPython 3.11.7's ast
# ("AST constructor recursion depth mismatch", gh-106905) after every test had passed.
import hypothesis  # noqa: E402,F401


def pytest_terminal_summary(terminalreporter):
    """Numbers tests measured on the way (e.g. the lab's converge times) at the end of the run:
    they are for the reader, never asserted against a clock."""
    from support import numbers

    if numbers.MEASURED:
        terminalreporter.section("numbers")
        for key, value in numbers.MEASURED.items():
            terminalreporter.write_line(f"{key}: {value}")


@pytest.fixture
def fleet_workdir():
    """A work directory for a fleet (tests/support/fleet.py), removed after the test; the test is
    skipped, with the reason, where the fleet cannot run. Not in /tmp: each machine has its own;
    traversable: the controller runs nova-manage as nova."""
    from support.fleet import check_machine

    try:
        check_machine()
    except RuntimeError as e:
        pytest.skip(str(e))
    path = Path(tempfile.mkdtemp(prefix="nlbench-test-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
