"""The shell that runs on hosts lives in the .sh files beside this module.

`script_command` turns one of them into the command line a remote.Command runs: the script's text
travels as `bash -c` (so hosts need nothing of novalab installed) and its arguments are shell-quoted.
Arguments are never secret; secrets go on stdin.
"""

from __future__ import annotations

import shlex
from functools import lru_cache
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def script_text(name: str) -> str:
    path = SCRIPTS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no host script {name} in {SCRIPTS_DIR}")
    return path.read_text()


def script_command(name: str, *args: object, sudo: bool = False) -> str:
    prefix = "sudo -n " if sudo else ""
    quoted = " ".join(shlex.quote(str(a)) for a in args)
    return f"{prefix}bash -c {shlex.quote(script_text(name))} {shlex.quote(name)} {quoted}".rstrip()
