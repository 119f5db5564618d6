"""`python3 state ARGS...` (what state/state.sh runs): the project root on sys.path instead of state/
itself, so `state` is imported as the package it is."""

import os
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from state.cli import main  # noqa: E402

try:
    code = main(sys.argv[1:])
    sys.stdout.flush()
except BrokenPipeError:  # `state.sh help | head`: https://docs.python.org/3/library/signal.html#note-on-sigpipe
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 1
sys.exit(code)
