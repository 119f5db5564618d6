"""`<host>-files`: the files novalab writes on a host and the services that read them, as a Pulumi
resource with a real read, so `pulumi refresh` / `preview --refresh` see what changed on the host.

A dynamic provider (`pulumi.dynamic`): the engine runs it through the `pulumi-resource-pulumi-python`
plugin the official CLI ships (novalab's engine has its own, engine/dynamic-provider/), with the
project's virtualenv, and it finds this module by reference from the project directory.

- check: the revisions (drift.with_revisions): one up for each group a refresh found drifted;
- diff: local, against what the last read or write recorded (a no-op `up` opens no SSH session);
- create / update: nothing on the host (the config step writes; its delete stops the services when
  the host leaves), the outputs are the inputs;
- read: ONE SSH session running read_host_state.sh (read-only), the pinned host key enforced (none
  pinned: not checked, as the command provider); it returns what it found and never writes.

Secrets (the files' secret values, their digests, the SSH key) reach this provider as plain values
(the dynamic provider does not accept secrets) and the engine marks the same keys of its answers
secret again; nothing here logs or puts a value into a message.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

from pulumi import dynamic

from .drift import CONNECTION, changed_keys, observed, read_arguments, with_revisions
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
    try:
        return asyncio.run(_run_read(connection, command))
    except Exception as e:  # the message names the host; asyncssh's own messages carry no secret
        raise RuntimeError(f"reading {where(connection)} over SSH failed: {type(e).__name__}: {e}") from None


class HostStateProvider(dynamic.ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        return dynamic.CheckResult(with_revisions(_ours(olds or {}), _ours(news)), [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = changed_keys(_ours(olds), _ours(news))
        return dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_=where(props[CONNECTION]), outs=_ours(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs=_ours(news))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        ours = _ours(props)
        connection = ours[CONNECTION]
        found = observed(ours, where(connection), read_host(connection, read_arguments(ours)))
        # The found state is both the state and the inputs the next diff starts from, so the diff
        # (and its display, which compares inputs) names what drifted.
        return dynamic.ReadResult(id_, outs=found, inputs=dict(found))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing: the files stay, and the config step's delete already stopped the services."""


class HostFilesResource(dynamic.Resource, module="novalab", name="HostFiles"):
    """`pulumi-python:dynamic/novalab:HostFiles`; properties as drift.py describes them."""

    def __init__(self, name: str, props: dict[str, Any], opts=None):
        super().__init__(HostStateProvider(), name, props, opts)
