"""The files novalab writes on a host, as a reviewer may see them: every secret value masked (pure).

A host's files are rendered twice: once with the real secrets (what write_files.sh gets on stdin) and
once with a sentinel in place of each secret (the passwords, and every configOverrides value when the
overrides are a secret). The masked text is the sentinel rendering with each sentinel replaced by
`[secret]`, so it never holds a secret whatever the renderer does to one (URL-quoting it into
transport_url, doubling its `$` for oslo.config). Where a sentinel sits names the secret: the real
rendering's value on that line is kept under `[<section>] <key>`, so a change of that secret alone
shows as its key. A file only the real rendering has (nova's migration key, which cannot be rendered
from a sentinel) is masked whole when a secret is in it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .render import ManagedFile

MASK = "[secret]"
WHOLE_FILE = "(whole file)"
_SENTINEL = re.compile(r"nlsecret\d{4}z")  # letters and digits only: quoting and `$$` leave it whole
_SECTION = re.compile(r"^\[([^\]]+)\]$")
_OPTION = re.compile(r"^([^=\s]+) = ")  # render_ini writes `key = value`


class Sentinels:
    """Stand-ins for secret values: each call gives a new one."""

    def __init__(self) -> None:
        self.count = 0

    def new(self) -> str:
        self.count += 1
        return f"nlsecret{self.count:04d}z"

    def overrides(self, overrides: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict:
        """The same configOverrides with a sentinel for each value."""
        return {
            file: {section: {key: self.new() for key in options} for section, options in sections.items()}
            for file, sections in overrides.items()
        }


@dataclass(frozen=True)
class FileRecord:
    """One managed file: where it goes, who reads it, its masked text and what the mask hides."""

    path: str
    owner: str
    group: str
    mode: str
    reader: str  # the service that reads it ("" when none does: a change restarts nothing)
    text: str  # the content with every secret value masked
    sha256: str  # of the real content, as sha256sum prints it on the host (a secret: it is of secrets)
    secrets: dict[str, str] = field(default_factory=dict)  # "[section] key" -> the real value there


def sha256_text(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def masked(text: str) -> str:
    return _SENTINEL.sub(MASK, text)


def _secret_lines(path: str, real: str, stand_in: str) -> dict[str, str]:
    """`[section] key` -> the real value, for each line where the sentinel rendering has a sentinel."""
    real_lines, stand_in_lines = real.split("\n"), stand_in.split("\n")
    if len(real_lines) != len(stand_in_lines):
        # A secret with a line break in it: the two renderings no longer line up (no value shown).
        raise ValueError(f"{path}: a secret value holds a line break; it cannot be written to this file")
    found: dict[str, str] = {}
    section = ""
    for number, (line, stand_in_line) in enumerate(zip(real_lines, stand_in_lines), start=1):
        header = _SECTION.match(stand_in_line)
        if header:
            section = header.group(1)
        if not _SENTINEL.search(stand_in_line):
            if line != stand_in_line:  # the renderings must differ only where a secret is (no value shown)
                raise ValueError(f"{path} line {number}: the rendering differs from its masked form outside a secret")
            continue
        option = _OPTION.match(stand_in_line)
        if option and line.startswith(option.group(0)):
            where = f"[{section}] {option.group(1)}" if section else option.group(1)
            found[where] = line[len(option.group(0)) :]
        else:
            found[f"line {number}"] = line
    return found


def mask_files(
    real: Sequence[tuple[str, ManagedFile]],
    stand_in: Sequence[tuple[str, ManagedFile]],
    secret_values: Iterable[str],
) -> list[FileRecord]:
    """Records of the real files (reader, file), masked with the sentinel rendering of the same files.
    `secret_values`: the real secrets, for a file the sentinel rendering does not have."""
    by_path = {f.path: f for _, f in stand_in}
    secrets = [s.strip() for s in secret_values if s and s.strip()]
    records = []
    for reader, f in real:
        other = by_path.get(f.path)
        if other is not None:
            text, hidden = masked(other.content), _secret_lines(f.path, f.content, other.content)
        elif any(s in f.content for s in secrets):
            text, hidden = MASK, {WHOLE_FILE: f.content}
        else:
            text, hidden = f.content, {}
        records.append(FileRecord(f.path, f.owner, f.group, f.mode, reader, text, sha256_text(f.content), hidden))
    return records
