"""The shell that runs on hosts lives in the .sh files beside this module.

`script_command` turns one of them into the command line a remote.Command runs: the script's text
travels as `bash -c` (so hosts need nothing of novalab installed) and its arguments are shell-quoted.
Arguments are never secret; secrets go on stdin.

Helpers several scripts share live in lib/. A script sources one from its own folder, with exactly
the line `SOURCE_LINE` names (so it also runs, and is linted, as a file); `script_text` puts the
helper's text in place of that line.
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent
# `. "$(dirname "${BASH_SOURCE[0]}")/lib/NAME.sh"`, alone on its line.
SOURCE_LINE = re.compile(r'^\. "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)/(lib/[a-z_]+\.sh)"$', re.M)


def _read(name: str) -> str:
    path = SCRIPTS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no host script {name} in {SCRIPTS_DIR}")
    return path.read_text()


@lru_cache(maxsize=None)
def script_text(name: str) -> str:
    """The script as it runs on a host: its lib/ helpers in place of the lines that source them."""
    text = SOURCE_LINE.sub(lambda m: _read(m.group(1)).rstrip("\n"), _read(name))
    if "BASH_SOURCE" in text:
        raise ValueError(f"{name}: a helper is sourced other than as {SOURCE_LINE.pattern}; it would be missing on the host")
    return text


def script_command(name: str, *args: object, sudo: bool = False) -> str:
    prefix = "sudo -n " if sudo else ""
    quoted = " ".join(shlex.quote(str(a)) for a in args)
    return f"{prefix}bash -c {shlex.quote(script_text(name))} {shlex.quote(name)} {quoted}".rstrip()
