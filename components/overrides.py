"""configOverrides: operator options merged over the files novalab renders.

The same idea as kolla's config merge and OpenStack-Ansible's `nova_nova_conf_overrides`: real compute
nodes need options the tutorial never set (`cpu_allocation_ratio`, `reserved_host_memory_mb`,
`[libvirt] cpu_mode`, `[DEFAULT] debug`, ...). Shape: {<file>: {<section>: {<key>: <value>}}}, given
stack-wide (`configOverrides`) and per host (`computeHosts[].configOverrides`, which wins).

An override of a key novalab renders wins, except for the few keys novalab relies on itself
(`REFUSED`): those are refused naming the key and where to set the value instead. Everything here is
pure; problems never show an override's value (it may be a secret).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any, Mapping

from .config.fields import control_characters
from .network import BACKENDS, DEFAULT
from .render import NOVA_COMPUTE_CONF, NOVA_CONF

# Overrides of one file: section -> key -> value as written to the file.
FileOverrides = dict[str, dict[str, str]]
# All overrides: file name -> FileOverrides.
Overrides = dict[str, FileOverrides]



def files_for(backend: str) -> dict[str, str]:
    """The files an override may name with a network backend, by their name on the host: nova's and
    that backend's (an override of another backend's file would change nothing)."""
    return {PurePosixPath(p).name: p for p in (NOVA_CONF, NOVA_COMPUTE_CONF, *BACKENDS[backend].config_files)}


# With the default backend (Linux bridge, the tutorial's).
FILES = files_for(DEFAULT)

_RABBIT = (
    "novalab builds it from services.rabbitHost, rabbitPort, rabbitUser and the secret rabbitPassword "
    "(set those instead)"
)
_HOST = (
    "the gate finds the host's {what} by this name; it is computeHosts[].name (rename the host there)"
)
_NOVA_CREDENTIALS = (
    "nova's service credentials come from services.keystoneUrl, novaUser, serviceProject and the secret "
    "novaServicePassword (set those instead)"
)
_CREDENTIAL_KEYS = (
    "auth_url", "auth_type", "username", "password", "project_name", "user_domain_name", "project_domain_name",
)

# (file, section, key) -> why novalab refuses an override of it.
REFUSED: dict[tuple[str, str, str], str] = {
    ("nova.conf", "DEFAULT", "transport_url"): _RABBIT,
    ("neutron.conf", "DEFAULT", "transport_url"): _RABBIT,
    ("nova.conf", "DEFAULT", "host"): _HOST.format(what="compute service"),
    ("neutron.conf", "DEFAULT", "host"): _HOST.format(what="L2 agent"),
    **{("nova.conf", "keystone_authtoken", key): _NOVA_CREDENTIALS for key in _CREDENTIAL_KEYS},
    ("nova-compute.conf", "libvirt", "virt_type"): (
        "set computeHosts[].virtType: it also picks the package (nova-compute-qemu or -kvm) and the "
        "/dev/kvm precheck"
    ),
    # The Open vSwitch backends' agents must agree with what the bridge step made on the host.
    ("neutron_ovn_metadata_agent.ini", "ovn", "ovn_sb_connection"): (
        "it is the southbound database ovn-controller registers the chassis in: set services.ovnSouthbound"
    ),
    ("neutron_ovn_metadata_agent.ini", "DEFAULT", "metadata_proxy_shared_secret"): (
        "set the secret metadataProxySharedSecret (`pulumi config set --secret`)"
    ),
    ("openvswitch_agent.ini", "ovs", "datapath_type"): (
        "the bridge step makes the provider bridge with the datapath it runs, and the agent's bridges must "
        "use the same: set network.datapathType"
    ),
    ("openvswitch_agent.ini", "ovs", "local_ip"): (
        "the bridge step puts the tunnel endpoint on the provider bridge: set computeHosts[].tunnelAddress"
    ),
    # nova keeps the compute node's id in state_path since 2023.1 (compute_id), and refuses to start
    # when it changes under it: https://docs.openstack.org/nova/latest/admin/compute-node-identification.html
    ("nova.conf", "DEFAULT", "state_path"): (
        "nova-compute keeps the compute node's id (compute_id) there and would not start with it moved; "
        "it stays /var/lib/nova"
    ),
}

_SECTION = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
SHAPE = "{<file>: {<section>: {<key>: <value>}}}"


def option_path(base: str, file: str, section: str = "", key: str = "") -> str:
    """How `pulumi config set --path` names the option: configOverrides["nova.conf"].DEFAULT.debug."""
    out = f'{base}["{file}"]'
    for part in (section, key):
        if part:
            out += f".{part}" if _KEY.match(part) else f'["{part}"]'
    return out


def refusal(file: str, section: str, key: str) -> str | None:
    """Why an override of this key is refused, or None. Case-insensitive, as a typo of case would
    otherwise slip past (oslo.config reads option names as written)."""
    folded = (file, section.casefold(), key.casefold())
    for (f, s, k), why in REFUSED.items():
        if (f, s.casefold(), k.casefold()) == folded:
            return why
    return None


def _scalar_text(value: Any) -> str | None:
    """An override value as written to the file, or None when it is not one line of printable text
    (no control character: no line break, tab or NUL), a number or true/false (oslo list options
    are one comma-separated string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str) and not control_characters(value):
        return value
    return None


def override_problems(base: str, value: Any, backend: str = DEFAULT) -> list[str]:
    """Every problem of one configOverrides value, each naming the option by its config path and
    saying what is expected. No message shows a value."""
    files = files_for(backend if backend in BACKENDS else DEFAULT)
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [f"{base}: expected {SHAPE} with <file> one of {', '.join(files)}"]
    problems: list[str] = []
    for file, sections in value.items():
        if file not in files:
            problems.append(f'{option_path(base, str(file))}: unknown file; expected one of {", ".join(files)}')
            continue
        if not isinstance(sections, Mapping):
            problems.append(f"{option_path(base, file)}: expected {{<section>: {{<key>: <value>}}}}")
            continue
        for section, options in sections.items():
            where = option_path(base, file, str(section))
            if not _SECTION.match(str(section)):
                problems.append(f"{where}: not an option section name (letters, digits, '_', '.', ':', '-')")
                continue
            if not isinstance(options, Mapping):
                problems.append(f"{where}: expected {{<key>: <value>}}")
                continue
            for key, option in options.items():
                where = option_path(base, file, section, str(key))
                if not _KEY.match(str(key)):
                    problems.append(f"{where}: not an option name (letters, digits, '_', '.', '-')")
                elif (why := refusal(file, section, str(key))) is not None:
                    problems.append(f"{where}: refused, {why}")
                elif _scalar_text(option) is None:
                    problems.append(f"{where}: expected one line of text, a number or true/false")
    return problems


def normalize_overrides(value: Any) -> Overrides:
    """A valid configOverrides value (override_problems found none) with every value as file text."""
    if not value:
        return {}
    return {
        file: {section: {key: _scalar_text(v) or "" for key, v in options.items()} for section, options in sections.items()}
        for file, sections in value.items()
    }


def merge_overrides(*layers: Mapping[str, Mapping[str, Mapping[str, str]]]) -> Overrides:
    """Later layers win key by key (stack-wide first, then the host's own)."""
    merged: Overrides = {}
    for layer in layers:
        for file, sections in (layer or {}).items():
            for section, options in sections.items():
                merged.setdefault(file, {}).setdefault(section, {}).update(options)
    return merged


def for_file(overrides: Mapping[str, FileOverrides], path: str) -> FileOverrides:
    """The overrides of the file at `path` (empty when none)."""
    return dict(overrides.get(PurePosixPath(path).name, {}))
