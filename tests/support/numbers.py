"""Numbers a test measures on the way (seconds, counts), printed at the end of the run by conftest's
terminal summary. Tests record them for the reader; none is a pass/fail criterion."""

from __future__ import annotations

MEASURED: dict[str, str] = {}


def record(key: str, value: object) -> None:
    MEASURED[key] = f"{value:.1f}" if isinstance(value, float) else str(value)
