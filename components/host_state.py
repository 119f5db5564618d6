"""A host's records: each file novalab writes there (`<host>-file-<name>`) and its services
(`<host>-services`), as Pulumi resources with a real read, so `pulumi refresh` / `preview --refresh`
see what changed on the host (drift.py has their properties and rules).

A dynamic provider (`pulumi.dynamic`): the engine runs it through the `pulumi-resource-pulumi-python`
plugin the official CLI ships (novalab's engine has its own, engine/dynamic-provider/), with the
project's virtualenv, and it finds this module by reference from the project directory.

- check: the revision(s): one up for what a refresh found drifted;
- diff: local, against what the last read or write recorded (a no-op `up` opens no SSH session);
- create / update: nothing on the host (the config step writes; its delete stops the services when
  the host leaves), the outputs are the inputs;
- read: ONE SSH session per host running read_host_state.sh (read-only) for all of the host's
  records (the first to read reads for the rest, in this process), the pinned host key enforced
  (none pinned: not checked, as the command provider); it returns what it found and never writes.

Secrets (the files' secret values, their digests, the SSH key) reach this provider as plain values
(the dynamic provider does not accept secrets) and the engine marks the same keys of its answers
secret again; nothing here logs or puts a value into a message.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Mapping

from pulumi import dynamic

from .drift import (
    CONNECTION,
    FoundFile,
    paths_of,
    changed_keys,
    check_file,
    check_services,
    observed_file,
    observed_services,
    parse_read_output,
    read_arguments,
    services_of,
)
from .scripts import script_command

PROVIDER_KEY = "__provider"  # pulumi.dynamic's: the serialized provider, not a property of ours
CONNECT_ATTEMPTS = 3
CONNECT_TIMEOUT = 15
READ_TIMEOUT = 120


def _ours(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != PROVIDER_KEY}


def where(connection: Mapping[str, Any]) -> str:
    return f"{connection.get('host')}:{int(connection.get('port') or 22)}"


async def _run_read(connection: Mapping[str, Any], command: str) -> str:
    import asyncssh  # only the read needs it

    host_key = connection.get("hostKey")
    options = dict(
        port=int(connection.get("port") or 22),
        username=connection.get("user") or "root",
        client_keys=[asyncssh.import_private_key(connection["privateKey"])],
        # Pinned: that key only (and only its algorithm is asked for); else not checked.
        known_hosts=asyncssh.import_known_hosts(f"* {host_key}\n") if host_key else None,
        agent_path=None,
        config=None,  # not the machine's ~/.ssh/config
        connect_timeout=CONNECT_TIMEOUT,
    )
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            conn = await asyncssh.connect(connection["host"], **options)
            break
        except (OSError, asyncio.TimeoutError):
            if attempt == CONNECT_ATTEMPTS:
                raise
            await asyncio.sleep(attempt)
    async with conn:
        result = await conn.run(command, check=False, timeout=READ_TIMEOUT)
    if result.exit_status != 0:
        tail = str(result.stderr or "").strip().splitlines()[-5:]
        raise RuntimeError(f"read_host_state.sh exited with {result.exit_status}: {' / '.join(tail)}")
    return str(result.stdout or "")


def read_host(connection: Mapping[str, Any], arguments: list[str]) -> str:
    """read_host_state.sh's output, over one SSH session."""
    sudo = (connection.get("user") or "root") != "root"
    command = script_command("read_host_state.sh", *arguments, sudo=sudo)
    loop = asyncio.new_event_loop()  # not asyncio.run: that would leave the calling thread without a loop
    try:
        return loop.run_until_complete(_run_read(connection, command))
    except Exception as e:  # the message names the host; asyncssh's own messages carry no secret
        raise RuntimeError(f"reading {where(connection)} over SSH failed: {type(e).__name__}: {e}") from None
    finally:
        loop.close()


_READS: dict[tuple, tuple[dict[str, FoundFile], dict[str, bool]]] = {}
_LOCKS: dict[tuple, threading.Lock] = {}
_GUARD = threading.Lock()


def host_state(connection: Mapping[str, Any]) -> tuple[dict[str, FoundFile], dict[str, bool]]:
    """What the host holds, read once per host and process: a refresh reads a host's records in
    parallel, and the first of them reads every path and service the connection names."""
    key = (connection.get("host"), int(connection.get("port") or 22), connection.get("user"))
    with _GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:
        found = _READS.get(key)
        wanted_files, wanted_services = set(paths_of(connection)), set(services_of({CONNECTION: connection}))
        if found is None or not (wanted_files <= set(found[0]) and wanted_services <= set(found[1])):
            found = parse_read_output(where(connection), read_host(connection, read_arguments(connection)))
            _READS[key] = found
        return found


def forget_reads() -> None:
    """Drop what this process read (tests; a provider process lives for one engine run)."""
    with _GUARD:
        _READS.clear()


class _Record(dynamic.ResourceProvider):
    """What both records share: a local diff, nothing on the host when made or changed, a read from
    the host's one answer. A record kind says how it checks, names itself and takes what was found."""

    def _checked(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _id(self, props: dict[str, Any]) -> str:
        raise NotImplementedError

    def _observed(self, props: dict[str, Any], host: str, files: dict, services: dict) -> dict[str, Any]:
        raise NotImplementedError

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        return dynamic.CheckResult(self._checked(_ours(olds or {}), _ours(news)), [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        return dynamic.DiffResult(changes=bool(changed_keys(_ours(olds), _ours(news))), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_=f"{where(props[CONNECTION])}:{self._id(props)}", outs=_ours(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs=_ours(news))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        ours = _ours(props)
        files, services = host_state(ours[CONNECTION])
        found = self._observed(ours, where(ours[CONNECTION]), files, services)
        # The found state is both the state and the inputs the next diff starts from, so the diff
        # (and its display, which compares inputs) names what drifted.
        return dynamic.ReadResult(id_, outs=found, inputs=dict(found))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing: the files stay, and the config step's delete already stopped the services."""


class HostFileProvider(_Record):
    def _checked(self, olds, news):
        return check_file(olds, news)

    def _id(self, props):
        return props["path"]

    def _observed(self, props, host, files, services):
        return observed_file(props, host, files)


class HostServicesProvider(_Record):
    def _checked(self, olds, news):
        return check_services(olds, news)

    def _id(self, props):
        return "services"

    def _observed(self, props, host, files, services):
        return observed_services(props, host, services)


class HostFileResource(dynamic.Resource, module="novalab", name="HostFile"):
    """`pulumi-python:dynamic/novalab:HostFile`: one managed file of a host (drift.file_properties)."""

    def __init__(self, name: str, props: dict[str, Any], opts=None):
        super().__init__(HostFileProvider(), name, props, opts)


class HostServicesResource(dynamic.Resource, module="novalab", name="HostServices"):
    """`pulumi-python:dynamic/novalab:HostServices`: the services of a host, each expected running."""

    def __init__(self, name: str, props: dict[str, Any], opts=None):
        super().__init__(HostServicesProvider(), name, props, opts)
