"""Pure renderers for every file novalab puts on a host.

The tutorial's 2013 nova.conf (nova-network, `rabbit_host=`, `auth_host=`) is rendered here in the
form today's nova (Zed and later) reads; docs/nova-conf-options.md maps each old option to its new key.
No Pulumi here: the component passes plain values inside an Output.apply, so a rendered file that
holds a password stays a secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional
from urllib.parse import quote, urlsplit

from .ssh_keys import openssh_public_key

Section = tuple[str, list[tuple[str, str]]]
# Operator overrides of one file: section -> key -> value (see overrides.py).
SectionOverrides = Mapping[str, Mapping[str, str]]

# Where nova's files live on a compute host (the network backends' files: components/network/).
NOVA_CONF = "/etc/nova/nova.conf"
NOVA_COMPUTE_CONF = "/etc/nova/nova-compute.conf"


# Line breaks as Python's str.splitlines sees them: oslo.config reads its files in universal-newline
# mode (\r too), and a value must never start a line of its own (a second option, a section).
LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def oslo_value(value: str) -> str:
    r"""VALUE written so that oslo.config reads exactly VALUE back.

    oslo.config's parser (oslo_config/iniparser.py) strips the whitespace around a value, then one
    pair of matching quotes, and expands `$name`: so a literal `$` is written `$$`, and a value with
    whitespace at either end or a quote at both ends goes inside one more pair of quotes. Before
    expanding, oslo.config turns `\$` into `$$` (ConfigOpts._substitute), which would eat a
    backslash right before a `$`: such a `$` is written `\$` instead, so the value `\$` is written
    `\\$` and read back as `\$`. A line break is refused: it would start a line of its own (another
    option, another section)."""
    if any(c in LINE_BREAKS for c in value):
        raise ValueError("a value for an oslo.config file holds a line break")
    text = value.replace("$", "$$").replace("\\$$", "\\\\$")
    if text != text.strip() or (len(text) > 0 and text[0] == text[-1] and text[0] in "\"'"):
        return f'"{text}"'
    return text


def with_overrides(sections: Iterable[Section], overrides: Optional[SectionOverrides]) -> list[Section]:
    """Sections with the operator's overrides merged in: a key novalab renders takes the override's
    value in place, a new key goes at the end of its section, a new section at the end of the file."""
    merged: list[Section] = []
    pending = {name: dict(options) for name, options in (overrides or {}).items()}
    for name, options in sections:
        extra = pending.pop(name, {})
        kept = [(key, extra.pop(key, value)) for key, value in options]
        merged.append((name, kept + list(extra.items())))
    merged.extend((name, list(options.items())) for name, options in pending.items() if options)
    return merged


def render_ini(sections: Iterable[Section], overrides: Optional[SectionOverrides] = None) -> str:
    """An oslo.config file. Every value is checked again here, whatever checked it before: no value
    can add a line (an option, a section) to the file."""
    out: list[str] = []
    for name, options in with_overrides(sections, overrides):
        if out:
            out.append("")
        if not name or any(c in LINE_BREAKS or c == "]" for c in name):
            raise ValueError(f"{name!r} is not an oslo.config section name")
        for key, _ in options:
            if not key or key[0] in "[#;" or any(c in LINE_BREAKS or c in "=:" or c.isspace() for c in key):
                raise ValueError(f"{key!r} is not an oslo.config option name")
        out.append(f"[{name}]")
        out.extend(f"{key} = {oslo_value(str(value))}" for key, value in options)
    return "\n".join(out) + "\n"


HEADER = "# Managed by novalab (Pulumi): local edits are overwritten on the next `pulumi up`.\n"


@dataclass(frozen=True)
class ServiceAuth:
    """Keystone password auth of a service user (the tutorial's admin_tenant_name/admin_user)."""

    auth_url: str
    username: str
    password: str
    project_name: str
    region: str

    def options(self) -> list[tuple[str, str]]:
        return [
            ("auth_url", self.auth_url),
            ("auth_type", "password"),
            ("project_domain_name", "Default"),
            ("user_domain_name", "Default"),
            ("project_name", self.project_name),
            ("username", self.username),
            ("password", self.password),
        ]


def transport_url(user: str, password: str, host: str, port: int = 5672) -> str:
    """The tutorial's rabbit_host + rabbit_password, as one oslo.messaging URL."""
    host_part = f"[{host}]" if ":" in host else host
    return f"rabbit://{quote(user, safe='')}:{quote(password, safe='')}@{host_part}:{port}/"


def glance_url(server: str) -> str:
    return server if "://" in server else f"http://{server}"


@dataclass(frozen=True)
class NovaComputeSettings:
    host: str
    my_ip: str
    transport_url: str
    glance_api_servers: tuple[str, ...]
    novncproxy_base_url: str
    keystone: ServiceAuth  # nova's own service user: [keystone_authtoken], [placement], [service_user]
    neutron: ServiceAuth  # who nova talks to neutron as
    region: str
    neutron_url: Optional[str] = None
    # [oslo_messaging_rabbit]: the queue types every service on the vhost declares (messaging.py).
    rabbit_options: tuple[tuple[str, str], ...] = ()


def render_nova_conf(s: NovaComputeSettings, overrides: Optional[SectionOverrides] = None) -> str:
    """/etc/nova/nova.conf for a compute node (the tutorial's "nova configuration" step)."""
    keystone = s.keystone
    www_auth = keystone.auth_url
    sections: list[Section] = [
        (
            "DEFAULT",
            [
                ("host", s.host),
                ("my_ip", s.my_ip),
                ("log_dir", "/var/log/nova"),
                ("state_path", "/var/lib/nova"),
                ("transport_url", s.transport_url),
            ],
        ),
        ("api", [("auth_strategy", "keystone")]),
        (
            "keystone_authtoken",
            [("www_authenticate_uri", www_auth)] + keystone.options(),
        ),
        ("service_user", [("send_service_user_token", "true")] + keystone.options()),
        ("glance", [("api_servers", ",".join(glance_url(g) for g in s.glance_api_servers))]),
        (
            "cinder",
            [("catalog_info", "volumev3::internalURL"), ("os_region_name", s.region)],
        ),
        (
            "vnc",
            [
                ("enabled", "true"),
                ("server_listen", "0.0.0.0"),
                ("server_proxyclient_address", s.my_ip),
                ("novncproxy_base_url", s.novncproxy_base_url),
            ],
        ),
        ("placement", [("region_name", s.region)] + keystone.options()),
        (
            "neutron",
            [("region_name", s.region)]
            + ([("endpoint_override", s.neutron_url)] if s.neutron_url else [])
            + s.neutron.options(),
        ),
        ("oslo_concurrency", [("lock_path", "/var/lib/nova/tmp")]),
    ]
    if s.rabbit_options:
        sections.append(("oslo_messaging_rabbit", list(s.rabbit_options)))
    return HEADER + render_ini(sections, overrides)


def render_nova_compute_conf(virt_type: str, overrides: Optional[SectionOverrides] = None) -> str:
    """/etc/nova/nova-compute.conf: the hypervisor (qemu where KVM is unusable, as in the tutorial)."""
    if virt_type not in ("qemu", "kvm"):
        raise ValueError(f"virt_type must be qemu or kvm, not {virt_type!r}")
    return HEADER + render_ini(
        [
            ("DEFAULT", [("compute_driver", "libvirt.LibvirtDriver")]),
            ("libvirt", [("virt_type", virt_type)]),
        ],
        overrides,
    )


# The cloud's name in the controller steps' clouds.yaml; lib/controller.sh's OS_CLOUD names it too
# (tests/test_host_scripts.py checks that they agree).
CLOUD = "novalab"


def render_clouds_yaml(auth: ServiceAuth) -> str:
    """clouds.yaml for the controller-side check; JSON is valid YAML and needs no quoting rules."""
    doc = {
        "clouds": {
            CLOUD: {
                "auth": {
                    "auth_url": auth.auth_url,
                    "username": auth.username,
                    "password": auth.password,
                    "project_name": auth.project_name,
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                "region_name": auth.region,
                "identity_api_version": 3,
            }
        }
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class ManagedFile:
    path: str
    content: str
    owner: str = "root"
    group: str = "root"
    mode: str = "0644"


def file_bundle(files: Iterable[ManagedFile]) -> str:
    """What write_files.sh reads on stdin: one line per file, content base64 (no quoting issues)."""
    lines = []
    for f in files:
        data = base64.b64encode(f.content.encode()).decode()
        for field in (f.path, f.owner, f.group, f.mode):
            if not field or any(c.isspace() for c in field):
                raise ValueError(f"bad file field {field!r}")
        lines.append(f"{f.path} {f.owner} {f.group} {f.mode} {data}")
    return "\n".join(lines) + "\n"


def content_hash(files: Iterable[ManagedFile]) -> str:
    h = hashlib.sha256()
    for f in files:
        for part in (f.path, f.owner, f.group, f.mode, f.content):
            h.update(part.encode())
            h.update(b"\0")
    return h.hexdigest()


def service_auth_url(keystone_url: str) -> str:
    """keystoneauth discovers the version from the root URL; keep what the user gave, minus a slash."""
    parts = urlsplit(keystone_url)
    return keystone_url.rstrip("/") if parts.path in ("", "/") else keystone_url


# --- nova's SSH between compute hosts (resize and cold migration copy disks over it) ---------------

NOVA_SSH_DIR = "/var/lib/nova/.ssh"  # nova's home is /var/lib/nova on Debian, Ubuntu and RHEL alike
# What nova_migration_files writes: nova's key, the key it accepts, its ssh config (a host's record,
# host_record.py, knows these paths before the key is known).
NOVA_MIGRATION_FILES = tuple(f"{NOVA_SSH_DIR}/{name}" for name in ("id_novalab_migration", "authorized_keys", "config"))


def render_nova_ssh_config() -> str:
    """nova's ~/.ssh/config: its migration key; a peer's host key is learned on first use."""
    return (
        HEADER
        + "Host *\n"
        + f"    IdentityFile {NOVA_MIGRATION_FILES[0]}\n"
        + "    IdentitiesOnly yes\n"
        + "    StrictHostKeyChecking accept-new\n"
        + "    BatchMode yes\n"
    )


def nova_migration_files(private_key: str) -> tuple[ManagedFile, ...]:
    """The same key on every host, so each trusts the others without any host knowing the rest:
    adding a host touches no other host."""
    public = openssh_public_key(private_key)
    key, authorized, config = NOVA_MIGRATION_FILES
    return (
        ManagedFile(key, private_key.rstrip("\n") + "\n", "nova", "nova", "0600"),
        ManagedFile(authorized, f"{public} novalab-nova-migration\n", "nova", "nova", "0600"),
        ManagedFile(config, render_nova_ssh_config(), "nova", "nova", "0600"),
    )
