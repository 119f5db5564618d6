"""What a host should hold and what a refresh found there, as the properties of its `<host>-files`
resource (host_state.py), and the rules between the two (pure: no Pulumi, no SSH).

The properties, one top-level key per file and per service, so that a plain `pulumi preview` names
them (`[diff: ~/etc/nova/nova.conf,~service nova-compute]`):

    "/etc/nova/nova.conf": {owner, group, mode, readBy, onHost, text, secrets, sha256}
    "service nova-compute": "running"
    "connection": {host, port, user, privateKey, hostKey}
    "revisions": {"files": 0, "nova-compute": 0, ...}

`text` is the masked content (masking.py): `pulumi preview --diff` prints its changed lines. A refresh
(read_host_state.sh) puts what it found in place of owner, group, mode, `onHost` and a service's
state; the next diff then names what drifted. A repair bumps the revision of the group that drifted
("files": the config step writes again; a service: it restarts), so only that group re-runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from .masking import FileRecord

AS_WRITTEN = "as novalab wrote it"
CHANGED = "changed on the host"
MISSING = "missing"
NOT_A_FILE = "not a regular file"
RUNNING = "running"
STOPPED = "stopped"

CONNECTION = "connection"
REVISIONS = "revisions"
FILES_GROUP = "files"  # the config step's revision: it writes every file again
SERVICE_PREFIX = "service "
OBSERVED = ("owner", "group", "mode", "onHost")  # what a refresh may find different in a file entry


def service_key(service: str) -> str:
    return SERVICE_PREFIX + service


def is_file_key(key: str) -> bool:
    return key.startswith("/")


def is_service_key(key: str) -> bool:
    return key.startswith(SERVICE_PREFIX)


def file_entry(record: FileRecord) -> dict[str, Any]:
    """A file's expected state. `secrets` and `sha256` are plain here: the program makes each a secret."""
    return {
        "owner": record.owner,
        "group": record.group,
        "mode": record.mode,
        "readBy": record.reader,
        "onHost": AS_WRITTEN,
        "text": record.text,
        "secrets": dict(record.secrets),
        "sha256": record.sha256,
    }


def services_of(props: Mapping[str, Any]) -> list[str]:
    return [k[len(SERVICE_PREFIX) :] for k in props if is_service_key(k)]


def files_of(props: Mapping[str, Any]) -> list[str]:
    return [k for k in props if is_file_key(k)]


# --- the read (refresh) ------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundFile:
    kind: str  # "file", MISSING or NOT_A_FILE
    sha256: str = ""
    owner: str = ""
    group: str = ""
    mode: str = ""


def normal_mode(mode: str) -> str:
    """`stat -c %a` prints 640; novalab writes 0640."""
    return f"{int(mode, 8):04o}"


def read_arguments(props: Mapping[str, Any]) -> list[str]:
    """read_host_state.sh's arguments: the paths, then `--services` and the service names."""
    return [*files_of(props), "--services", *services_of(props)]


def parse_read_output(host: str, stdout: str) -> tuple[dict[str, FoundFile], dict[str, bool]]:
    """read_host_state.sh's lines: `file PATH SHA256 OWNER:GROUP MODE`, `file PATH missing|other`,
    `service NAME running|stopped`. Anything else is an error naming the host."""
    files: dict[str, FoundFile] = {}
    services: dict[str, bool] = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) == 5 and words[0] == "file" and ":" in words[3]:
            owner, _, group = words[3].partition(":")
            files[words[1]] = FoundFile("file", words[2], owner, group, normal_mode(words[4]))
        elif len(words) == 3 and words[0] == "file" and words[2] in ("missing", "other"):
            files[words[1]] = FoundFile(MISSING if words[2] == "missing" else NOT_A_FILE)
        elif len(words) == 3 and words[0] == "service" and words[2] in (RUNNING, STOPPED):
            services[words[1]] = words[2] == RUNNING
        elif line.strip():
            raise ValueError(f"reading {host}: unexpected line from read_host_state.sh: {line[:120]!r}")
    return files, services


def observed(props: Mapping[str, Any], host: str, stdout: str) -> dict[str, Any]:
    """The properties with what the host holds in place of what novalab expects there."""
    files, services = parse_read_output(host, stdout)
    out = dict(props)
    for path in files_of(props):
        if path not in files:
            raise ValueError(f"reading {host}: read_host_state.sh said nothing about {path}")
        found, entry = files[path], dict(props[path])
        if found.kind != "file":
            entry["onHost"] = found.kind
        else:
            entry.update(owner=found.owner, group=found.group, mode=found.mode)
            entry["onHost"] = AS_WRITTEN if found.sha256 == entry.get("sha256") else CHANGED
        out[path] = entry
    for service in services_of(props):
        if service not in services:
            raise ValueError(f"reading {host}: read_host_state.sh said nothing about service {service}")
        out[service_key(service)] = RUNNING if services[service] else STOPPED
    return out


# --- check and diff ----------------------------------------------------------------------------


def drifted_groups(olds: Mapping[str, Any], news: Mapping[str, Any]) -> set[str]:
    """The groups a refresh found different from what the new inputs expect: FILES_GROUP and the
    reading service when a file is, a service when it is not running."""
    groups: set[str] = set()
    for key, new in news.items():
        old = olds.get(key)
        if old is None:
            continue
        if is_file_key(key) and isinstance(old, Mapping) and isinstance(new, Mapping):
            if any(old.get(k) != new.get(k) for k in OBSERVED):
                groups.add(FILES_GROUP)
                if new.get("readBy"):
                    groups.add(new["readBy"])
        elif is_service_key(key) and old != RUNNING:
            groups.add(key[len(SERVICE_PREFIX) :])
    return groups


def with_revisions(olds: Optional[Mapping[str, Any]], news: Mapping[str, Any]) -> dict[str, Any]:
    """The new inputs with the revisions: the old ones, one up for each group that drifted."""
    olds = olds or {}
    old_revisions = olds.get(REVISIONS) or {}
    drifted = drifted_groups(olds, news)
    groups = [FILES_GROUP, *services_of(news)]
    out = dict(news)
    out[REVISIONS] = {g: int(old_revisions.get(g, 0)) + (1 if g in drifted else 0) for g in groups}
    return out


def changed_keys(olds: Mapping[str, Any], news: Mapping[str, Any], ignore: Iterable[str] = ()) -> list[str]:
    """The top-level keys whose values differ (an unknown new value differs from anything)."""
    skip = set(ignore)
    keys = (set(olds) | set(news)) - skip
    return sorted(k for k in keys if olds.get(k) != news.get(k))


def repair_arguments(revisions: Optional[Mapping[str, Any]], group: str) -> tuple[str, ...]:
    """What a step's command line gains for a repair of its group: nothing until the first one, so
    the steps of a stack that never drifted stay exactly as they were."""
    revision = int((revisions or {}).get(group, 0))
    return ("--repair", str(revision)) if revision > 0 else ()


# --- a table of what drifted (./novalab drift) ------------------------------------------------


def drift_rows(host: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(host, what, expected, found) for each file or service whose found state differs from the
    expected: `olds` are the refreshed inputs, `news` what novalab would write."""
    rows = []
    for key in sorted(news):
        old, new = olds.get(key), news[key]
        if old is None:
            continue
        if is_file_key(key) and isinstance(old, Mapping) and isinstance(new, Mapping):
            for field in OBSERVED:
                if old.get(field) != new.get(field):
                    label = "content" if field == "onHost" else field
                    rows.append((host, f"{key} {label}", str(new.get(field)), str(old.get(field))))
        elif is_service_key(key) and old != new:
            rows.append((host, key, str(new), str(old)))
    return rows
