"""`when_reparented(action)`: run ACTION once this process's parent is gone (we get reparented).

Shared by the language host (its engine was SIGKILLed) and run_program.py (its host was): neither
would otherwise notice, and each would wait for ever. Stdlib only: run_program.py imports it inside
the program's own virtualenv.
"""

from __future__ import annotations

import os
import threading

POLL_SECONDS = 2.0


def when_reparented(action, stop: threading.Event | None = None) -> None:
    """Watch from a daemon thread; STOP (if given) ends the watch without running ACTION."""
    parent = os.getppid()
    stop = stop or threading.Event()

    def watch() -> None:
        while not stop.wait(POLL_SECONDS):
            if os.getppid() != parent:
                action()
                return

    threading.Thread(target=watch, daemon=True).start()
