"""`./novalab drift [STACK]`: what `pulumi preview --refresh --json` found changed on the hosts, as a
table (host, what, expected, found). The standard commands stay the interface; this only reads one.

    pulumi preview --refresh --json -s lab | python -m components.drift_report

Exit status: 0 when no host drifted, 1 when one did, 2 when the preview itself failed.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Mapping

from .drift import file_drift_rows, service_drift_rows

# The records' types (host_state.py) and how their names end after the host's: `<host>-file-<name>`,
# `<host>-services`.
ROWS = {
    "pulumi-python:dynamic/novalab:HostFile": ("-file-", file_drift_rows),
    "pulumi-python:dynamic/novalab:HostServices": ("-services", service_drift_rows),
}
HEADER = ("host", "what", "expected", "found")


def preview_rows(preview: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for step in preview.get("steps") or []:
        urn = step.get("urn", "")
        *_, type_path, name = urn.split("::") if urn.count("::") >= 2 else ("", "")
        kind = ROWS.get(type_path.split("$")[-1])  # a child's type path is parent$...$child
        if step.get("op") == "refresh" or kind is None:
            continue
        marker, rows_of = kind
        host = name[: name.rindex(marker)] if marker in name else name
        olds = (step.get("oldState") or {}).get("inputs") or {}
        news = (step.get("newState") or {}).get("inputs") or {}
        rows.extend(rows_of(host, olds, news))
    return sorted(rows)  # the engine's steps come in no fixed order


def errors(preview: Mapping[str, Any]) -> list[str]:
    return [d.get("message", "").strip() for d in preview.get("diagnostics") or [] if d.get("severity") == "error"]


def table(rows: Iterable[tuple[str, ...]]) -> str:
    rows = [HEADER, *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows) + "\n"


def main(stdin: str) -> int:
    try:
        preview = json.loads(stdin)
    except json.JSONDecodeError:
        print("drift: `pulumi preview --json` printed no JSON (see its errors above)", file=sys.stderr)
        return 2
    failed = errors(preview)
    if failed:
        print("drift: the preview failed:\n" + "\n".join(failed), file=sys.stderr)
        return 2
    rows = preview_rows(preview)
    if not rows:
        print("no drift: every managed file and service is as novalab left it")
        return 0
    sys.stdout.write(table(rows))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.stdin.read()))
