"""The options a service re-reads on SIGHUP, so a change of only those reloads it instead of restarting it.

nova starts its services with oslo.service's `restart_method='mutate'` (nova/service.py:
https://opendev.org/openstack/nova/src/branch/master/nova/service.py): on SIGHUP nova-compute calls
oslo.config's `mutate_config_files`, which applies the new values of the options marked
`mutable=True` and warns about any other that changed, and resets its RPC client; it does not stop.
Operators change these by editing nova.conf and sending SIGHUP:
https://docs.openstack.org/oslo.config/latest/reference/mutable.html

A change of one of them re-runs the service's reload row (steps.py) and not its restart: the service
never stops, so the gate does not run again. Any other change restarts the service as before. Only
operators set these (through configOverrides): novalab renders none of them.

Pure: the component (compute_host.py) hashes what `split_reloadable` returns into the rows' triggers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from typing import Mapping

from .render import NOVA_COMPUTE_CONF, NOVA_CONF, SectionOverrides
from .steps import NOVA_COMPUTE

# Overrides of several files, by file name (overrides.Overrides, whose module this must not import:
# it imports the config package, which imports this one's importers).
Overrides = dict[str, dict[str, dict[str, str]]]

# service -> (the files it reads, the (section, key) of the options it re-reads on SIGHUP). Each is
# `mutable=True` in nova 26 (Zed) through 31 (2025.1): oslo.log's debug (oslo_log/_options.py),
# nova/conf/compute.py and nova/conf/libvirt.py. An option wrongly left out costs a restart; one
# wrongly put in would leave a change unapplied, so only those whose every change a SIGHUP applies
# are here (not oslo.log's log_config_append: removing it keeps the old logging until a restart).
RELOADABLE: dict[str, tuple[tuple[str, ...], frozenset[tuple[str, str]]]] = {
    NOVA_COMPUTE: (
        (NOVA_CONF, NOVA_COMPUTE_CONF),
        frozenset({
            ("DEFAULT", "debug"),
            ("compute", "resource_provider_association_refresh"),
            ("libvirt", "live_migration_completion_timeout"),
            ("libvirt", "live_migration_timeout_action"),
        }),
    ),
}


def _reloadable(service: str, file: str, section: str, key: str) -> bool:
    paths, options = RELOADABLE.get(service, ((), frozenset()))
    return file in {PurePosixPath(p).name for p in paths} and (section, key) in options


def split_reloadable(overrides: Mapping[str, SectionOverrides]) -> tuple[Overrides, dict[str, Overrides]]:
    """(the overrides without any service's reloadable options, {service: only its reloadable ones})."""
    rest: Overrides = {}
    reloads: dict[str, Overrides] = {}
    for file, sections in overrides.items():
        for section, options in sections.items():
            for key, value in options.items():
                service = next((s for s in RELOADABLE if _reloadable(s, file, section, key)), None)
                into = reloads.setdefault(service, {}) if service else rest
                into.setdefault(file, {}).setdefault(section, {})[key] = value
    return rest, reloads


def reload_hash(options: Mapping[str, SectionOverrides]) -> str:
    """A reload row's trigger: changes when a reloadable option is set, changed or removed."""
    return hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()
