"""`python3 state ARGS...` (what state/state.sh runs): the project root on sys.path instead of state/
itself, so `state` is imported as the package it is."""

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from state.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
