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


def script_source(name: str) -> str:
    """The script with its lib/ helpers in place of the lines that source them, comments and all."""
    text = SOURCE_LINE.sub(lambda m: _read(m.group(1)).rstrip("\n"), _read(name))
    if "BASH_SOURCE" in text:
        raise ValueError(f"{name}: a helper is sourced other than as {SOURCE_LINE.pattern}; it would be missing on the host")
    return text


# The line that opens a heredoc (<<WORD, <<-WORD, <<'WORD', <<"WORD"; not the here-string <<<).
HEREDOC = re.compile(r"""(?<!<)<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2(?!<)""")


def without_comments(text: str) -> str:
    """TEXT without its blank and comment-only lines, but for the shebang, shellcheck's directives
    and heredocs (kept as they are). A comment after code on its line stays."""
    out: list[str] = []
    until: tuple[str, bool] | None = None  # the heredoc under way: its end word, and whether tabs may lead it
    for i, line in enumerate(text.splitlines(keepends=True)):
        if until is not None:
            out.append(line)
            word, tabs = until
            if (line.rstrip("\n").lstrip("\t") if tabs else line.rstrip("\n")) == word:
                until = None
            continue
        bare = line.strip()
        if (not bare or bare.startswith("#")) and not (i == 0 and bare.startswith("#!")) \
                and not bare.startswith("# shellcheck "):
            continue
        out.append(line)
        opened = HEREDOC.search(line)
        if opened:
            until = (opened.group(3), opened.group(1) == "-")
    return "".join(out)


@lru_cache(maxsize=None)
def script_text(name: str) -> str:
    """The script as it runs on a host: `script_source` without its comments. The text travels in
    every step's command line, which the stack's state holds twice per step (the inputs and the
    provider's outputs), and a file backend rewrites the whole state after every step of a run
    (pulumi/pulumi#10960): its size per host makes a large first converge cost the square of the
    hosts. The comments are for readers of the .sh files; editing one re-runs no step on a host."""
    return without_comments(script_source(name))


def script_command(name: str, *args: object, sudo: bool = False) -> str:
    prefix = "sudo -n " if sudo else ""
    quoted = " ".join(shlex.quote(str(a)) for a in args)
    return f"{prefix}bash -c {shlex.quote(script_text(name))} {shlex.quote(name)} {quoted}".rstrip()
