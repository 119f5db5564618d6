"""What a host should hold and what a refresh found there, as the properties of its records
(host_state.py), and the rules between the two (pure: no Pulumi, no SSH).

One record per managed file, `<host>-file-<name>`, so a preview shows only the files that change
(`pulumi preview --diff` prints the changed lines of `text`), and one per host for its services,
`<host>-services`:

    file:     {connection, path, owner, group, mode, readBy, onHost, text, secrets, sha256, revision,
               secretChanges}
    services: {connection, "<service>": "running", ..., revisions: {"<service>": 0}}

`connection.reads` names every path and service of the host (read_host_state.sh's arguments, on one
line): whichever record a refresh reads first reads them all in one SSH session for the others. The read puts what it found in
place of owner, group, mode, `onHost` and a service's state; the next diff then names what drifted.
Check bumps the revision of what drifted, so the next `up` re-runs the config step (its files'
revisions) and restarts only the service concerned (its files' and its own). It also counts each
secret's changes in plain text (`secretChanges`): the engine shows every secret as `[secret]`, so a
change of a secret alone would otherwise show no key at all.
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
REVISION = "revision"  # a file record's
REVISIONS = "revisions"  # the services record's, by service
SECRET_CHANGES = "secretChanges"  # a file record's: how often each of its secrets changed
OBSERVED = ("owner", "group", "mode", "onHost")  # what a refresh may find different in a file
SERVICES_FLAG = "--services"


FILE_KEYS = ("path", "owner", "group", "mode", "readBy", "onHost", "text", "secrets", "sha256")


def file_properties(record: FileRecord) -> dict[str, Any]:
    """A file record's expected state (`secrets`, `sha256` plain here: the program makes each a secret)."""
    values = (record.path, record.owner, record.group, record.mode, record.reader, AS_WRITTEN, record.text,
              dict(record.secrets), record.sha256)
    return dict(zip(FILE_KEYS, values))


def reads(paths: Iterable[str], services: Iterable[str]) -> str:
    """What a host's records read, as read_host_state.sh takes it (no path or service has a space)."""
    return " ".join([*paths, SERVICES_FLAG, *services])


def read_arguments(connection: Mapping[str, Any]) -> list[str]:
    return str(connection.get("reads") or SERVICES_FLAG).split()


def services_of(props: Mapping[str, Any]) -> list[str]:
    """The services a services record holds, as its connection names them."""
    words = read_arguments(props.get(CONNECTION) or {})
    return words[words.index(SERVICES_FLAG) + 1 :]


def paths_of(connection: Mapping[str, Any]) -> list[str]:
    words = read_arguments(connection)
    return words[: words.index(SERVICES_FLAG)]


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


def observed_file(props: Mapping[str, Any], host: str, files: Mapping[str, FoundFile]) -> dict[str, Any]:
    """A file record with what the host holds in place of what novalab expects there."""
    path = props["path"]
    if path not in files:
        raise ValueError(f"reading {host}: read_host_state.sh said nothing about {path}")
    found, out = files[path], dict(props)
    if found.kind != "file":
        out["onHost"] = found.kind
    else:
        out.update(owner=found.owner, group=found.group, mode=found.mode)
        out["onHost"] = AS_WRITTEN if found.sha256 == props.get("sha256") else CHANGED
    return out


def observed_services(props: Mapping[str, Any], host: str, services: Mapping[str, bool]) -> dict[str, Any]:
    out = dict(props)
    for service in services_of(props):
        if service not in services:
            raise ValueError(f"reading {host}: read_host_state.sh said nothing about service {service}")
        out[service] = RUNNING if services[service] else STOPPED
    return out


# --- check and diff ----------------------------------------------------------------------------


def file_drifted(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    return bool(olds) and any(olds.get(k) != news.get(k) for k in OBSERVED)


def secret_change_mark(changes: int) -> str:
    return f"(secret changed) #{changes}" if changes else "set"


def _changes(mark: Any) -> int:
    return int(str(mark).rpartition("#")[2]) if str(mark or "").startswith("(secret changed) #") else 0


def check_file(olds: Optional[Mapping[str, Any]], news: Mapping[str, Any]) -> dict[str, Any]:
    """The new inputs with the revision (the old one, one up when a refresh found the file drifted)
    and each secret's changes (one up where its value differs from the old one)."""
    olds = olds or {}
    old_secrets, old_marks = olds.get("secrets") or {}, olds.get(SECRET_CHANGES) or {}
    marks = {
        where: secret_change_mark(_changes(old_marks.get(where)) + (where in old_secrets and old_secrets[where] != value))
        for where, value in (news.get("secrets") or {}).items()
    }
    return {**news, REVISION: revision(olds.get(REVISION)) + (1 if file_drifted(olds, news) else 0), SECRET_CHANGES: marks}


def check_services(olds: Optional[Mapping[str, Any]], news: Mapping[str, Any]) -> dict[str, Any]:
    """The new inputs with the revisions: one up for each service a refresh found not running."""
    olds = olds or {}
    old = olds.get(REVISIONS) or {}
    bumped = {s: revision(old.get(s)) + (1 if olds.get(s) not in (None, RUNNING) else 0) for s in services_of(news)}
    return {**news, REVISIONS: bumped}


def changed_keys(olds: Mapping[str, Any], news: Mapping[str, Any], ignore: Iterable[str] = ()) -> list[str]:
    """The top-level keys whose values differ (an unknown new value differs from anything)."""
    keys = (set(olds) | set(news)) - set(ignore)
    return sorted(k for k in keys if olds.get(k) != news.get(k))


def revision(value: Any) -> int:
    return int(value or 0)


def repair_arguments(repairs: Any) -> tuple[str, ...]:
    """What the config step's command line gains with its files' repairs: nothing until the first
    one, so the steps of a stack that never drifted stay exactly as they were."""
    n = revision(repairs)
    return ("--repair", str(n)) if n > 0 else ()


def repair_trigger(trigger: str, repairs: Any) -> str:
    """A restart's trigger with its service's repairs in it (unchanged until the first one)."""
    n = revision(repairs)
    return f"{trigger} repair {n}" if n > 0 else trigger


# --- a table of what drifted (./novalab drift) ------------------------------------------------


def file_drift_rows(host: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(host, what, expected, found) for each way a file's found state differs: `olds` are the
    refreshed inputs, `news` what novalab would write."""
    if not olds:
        return []
    return [
        (host, f"{news.get('path')} {'content' if field == 'onHost' else field}", str(news.get(field)), str(olds.get(field)))
        for field in OBSERVED
        if olds.get(field) != news.get(field)
    ]


def service_drift_rows(host: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(host, f"service {s}", str(news.get(s)), str(olds.get(s))) for s in services_of(news)
            if s in olds and olds.get(s) != news.get(s)]
