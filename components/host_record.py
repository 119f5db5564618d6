"""The program's side of a host's records (host_state.py): `<host>-files`, a component holding one
record per managed file (`<host>-file-<name>`, its text masked: masking.py) and one for the host's
services (`<host>-services`). The step table makes it the row before the config step (steps.FILES);
compute_host.py wires it, and reads the repairs it asks for.

A record per file must be registered before the addresses and secrets are known, so the paths are:
`file_layout` renders once with stand-ins for them.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Callable, Mapping, Optional, Sequence

import pulumi

from .drift import (
    CONNECTION, FILE_KEYS, REVISION, REVISIONS, RUNNING, SECRET_CHANGES, file_properties, reads, repair_arguments, repair_trigger,
)
from .host_files import HostFiles, Passwords
from .host_state import HostFileResource, HostServicesResource
from .masking import FileRecord, Sentinels, mask_files
from .render import NOVA_MIGRATION_FILES, ManagedFile, content_hash

# render(address, passwords, overrides) -> the host's files (compute_host.StepContext.render).
Render = Callable[[str, Passwords, Mapping[str, Any]], HostFiles]
PLACEHOLDER_ADDRESS = "192.0.2.1"  # TEST-NET-1: an address no path depends on


def with_readers(files: HostFiles) -> list[tuple[str, ManagedFile]]:
    """(the service that reads it, file) for every file; nova's migration files are read by none."""
    return [(service, f) for service, group in files.services for f in group] + [("", f) for f in files.nova_ssh]


def record_files(
    render: Render, address: str, pw: Passwords, overrides: Mapping[str, Any], overrides_secret: bool
) -> list[FileRecord]:
    """The host's files, masked. When the overrides are a secret (one was set with --secret), every
    override value is masked: which of them is the secret is not known here."""
    s = Sentinels()
    # The same optional secrets as the real rendering (nova talks to neutron as itself without its
    # password); the migration key cannot be rendered from a stand-in (masking.py masks that file whole).
    stand_in_pw = Passwords(s.new(), s.new(), s.new() if pw.neutron else None, None, s.new() if pw.metadata else None)
    stand_in_overrides = s.overrides(overrides) if overrides_secret else overrides
    real = with_readers(render(address, pw, overrides))
    stand_in = with_readers(render(address, stand_in_pw, stand_in_overrides))
    secrets = [pw.rabbit, pw.nova, pw.neutron or "", pw.migration_key or "", pw.metadata or ""]
    if overrides_secret:
        secrets += [str(v) for sections in overrides.values() for options in sections.values() for v in options.values()]
    return mask_files(real, stand_in, secrets)


def file_layout(
    render: Render, with_neutron_password: bool, with_migration_key: bool, with_metadata_secret: bool = False
) -> list[tuple[str, str]]:
    """(reader, path) of every file the host's records hold, in the order the files are written."""
    s = Sentinels()
    pw = Passwords(s.new(), s.new(), s.new() if with_neutron_password else None, None,
                   s.new() if with_metadata_secret else None)
    files = render(PLACEHOLDER_ADDRESS, pw, {})
    layout = [(reader, f.path) for reader, f in with_readers(files)]
    return layout + ([("", p) for p in NOVA_MIGRATION_FILES] if with_migration_key else [])


def record_name(host: str, path: str) -> str:
    return f"{host}-file-{PurePosixPath(path).name}"


def _file_inputs(records: list[FileRecord], path: str) -> dict[str, Any]:
    record = next((r for r in records if r.path == path), None)
    if record is None:
        raise ValueError(f"{path}: not among the host's rendered files (file_layout and the rendering disagree)")
    props = file_properties(record)
    # Each secret a secret of its own, so a change of one shows as its key; the text stays plain.
    props["secrets"] = {where: pulumi.Output.secret(value) for where, value in props["secrets"].items()}
    props["sha256"] = pulumi.Output.secret(props["sha256"])
    return props


def _secret_if(value: pulumi.Output, secret: pulumi.Output[bool]) -> pulumi.Output:
    # Not Output.all: it unwraps nested Outputs, and a nested secret would make the whole a secret.
    return secret.apply(lambda s: pulumi.Output.secret(value) if s else value)


class HostRecord(pulumi.ComponentResource):
    """`<host>-files`: the records of one host's files and services."""

    def __init__(
        self,
        name: str,
        host: str,
        records: pulumi.Output[list[FileRecord]],
        unmasked: pulumi.Output,
        layout: Sequence[tuple[str, str]],
        services: Sequence[str],
        connection: Mapping[str, Any],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("novalab:index:HostRecord", name, None, opts)
        names = [record_name(host, path) for _, path in layout]
        if len(set(names)) != len(names):
            raise ValueError(f"{host}: two managed files share a name: {sorted(n for n in names if names.count(n) > 1)}")
        # Every record can read the whole host (the first read of a refresh does, for all of them).
        conn = {**connection, "privateKey": pulumi.Output.secret(connection["privateKey"]),
                "reads": reads([p for _, p in layout], services)}
        child = pulumi.ResourceOptions(parent=self)
        # The records are rendered from secrets, so their Output is a secret as a whole. The masked
        # properties are not, unless an input the mask leaves alone (`unmasked`: the address, say, from
        # another stack's secret output) is one; their secret leaves are secrets of their own.
        unmasked_secret = pulumi.Output.from_input(unmasked.is_secret())
        self.files: dict[str, tuple[str, HostFileResource]] = {}
        for (reader, path), record in zip(layout, names):
            inputs = pulumi.Output.unsecret(records.apply(lambda rs, p=path: _file_inputs(rs, p)))
            props = {k: _secret_if(inputs.apply(lambda i, k=k: i[k]), unmasked_secret) for k in FILE_KEYS}
            outputs = {REVISION: None, SECRET_CHANGES: None}  # check sets them
            self.files[path] = (reader, HostFileResource(record, {CONNECTION: conn, **props, **outputs}, child))
        self.services = HostServicesResource(
            f"{host}-services", {CONNECTION: conn, **{s: RUNNING for s in services}, REVISIONS: None}, child
        )
        self.register_outputs({})

    def files_repairs(self) -> pulumi.Output[int]:
        """How often a refresh found one of the files drifted: the config step writes them again."""
        return pulumi.Output.all(*(getattr(r, REVISION) for _, r in self.files.values())).apply(
            lambda revs: sum(int(r or 0) for r in revs))

    def service_repairs(self, service: str) -> pulumi.Output[int]:
        """How often a refresh found the service stopped or one of its files drifted: it restarts."""
        own = [getattr(r, REVISION) for reader, r in self.files.values() if reader == service]
        return pulumi.Output.all(getattr(self.services, REVISIONS), *own).apply(
            lambda v: int((v[0] or {}).get(service) or 0) + sum(int(r or 0) for r in v[1:]))


# --- the step table's side (compute_host.StepContext) -----------------------------------------


def host_record(ctx: Any, name: str, opts: pulumi.ResourceOptions) -> HostRecord:
    """The records row of the host that `ctx` (a compute_host.StepContext) describes."""
    a = ctx.args
    records = ctx.rendered(lambda addr, pw, overrides, secret, facts: record_files(
        lambda ad, p, ov: ctx.render(ad, p, ov, facts), addr, pw, overrides, secret))
    layout = file_layout(ctx.render, a.neutron_password is not None, a.nova_migration_key is not None,
                         a.metadata_secret is not None)
    connection = dict(host=ctx.address, port=a.ssh.port, user=a.ssh.user, privateKey=a.ssh.private_key, hostKey=a.host_key)
    unmasked = pulumi.Output.all(ctx.address, ctx.facts_stdout)
    return HostRecord(name, a.host_name, records, unmasked, layout, ctx.services, connection, opts)


def config_repair(record: Optional[pulumi.Resource]) -> pulumi.Input:
    """The config step's `--repair N` once a refresh found one of its files drifted (nothing before,
    nor where a table has no records row: the step stays as it was)."""
    return record.files_repairs().apply(repair_arguments) if isinstance(record, HostRecord) else ()


def restart_trigger(files: pulumi.Output[HostFiles], record: Optional[pulumi.Resource], service: str) -> pulumi.Output[str]:
    """A restart's trigger: the hash of the service's files, and its repairs once a refresh found the
    service or one of its files drifted (a secret: the hash is of secrets)."""
    repairs = record.service_repairs(service) if isinstance(record, HostRecord) else None
    return pulumi.Output.secret(pulumi.Output.all(files, repairs).apply(
        lambda v: repair_trigger(content_hash(v[0].of(service)), v[1])))
