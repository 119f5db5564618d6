"""Stack configuration: the `novalab:*` keys of Pulumi.<stack>.yaml, parsed and checked by pydantic.

`parse_stack_config` is pure (a dict of raw config values in, a `StackConfig` out) so every rule is
tested without Pulumi. A bad config raises `ConfigError`, which lists every bad field at once by its
config path and says what is expected, before the program registers any resource.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Annotated, Any, Iterable, Literal, Optional
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from policies.m1_flavors import read_m1_flavors  # the m1 sizes' one source, beside the pack that reads it too

from .render import openssh_public_key
from .overrides import Overrides, merge_overrides, normalize_overrides, override_problems

NAMESPACE = "novalab"

# Keys that hold secrets: set them with `pulumi config set --secret`, never in plain text.
SECRET_KEYS = (
    "rabbitPassword", "novaServicePassword", "neutronServicePassword", "sshPrivateKey", "novaMigrationSshKey",
)

M1 = read_m1_flavors()
# A server may name one of these without declaring it: the provider resolves the name, so preview
# needs no API call. Adopting one needs its exact sizes, or the import reports a diff.
M1_FLAVORS = tuple(f.name for f in M1)
M1_SIZES = {f.name: (f.ram_mb, f.disk_gb, f.vcpus) for f in M1}

_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace, not '.' or '..'.
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_FLAVOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_VDEV = re.compile(r"^/dev/vd[a-z]{1,2}$")


class ConfigError(Exception):
    """Bad stack config: `problems` holds one line per bad field, by config path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"invalid stack config ({len(problems)} problem{'s' if len(problems) != 1 else ''}); "
            f"fix these keys in Pulumi.<stack>.yaml (or with `pulumi config set`):\n{lines}"
        )


# --- field checks (each raises ValueError with a message that says what is expected) ---------


def _hostname(value: str) -> str:
    if len(value) > 253 or not all(_HOSTNAME_LABEL.match(p) for p in value.split(".")):
        raise ValueError(
            f"{value!r} is not a valid host name; expected letters, digits and '-' "
            "(dot-separated labels of 1-63 characters, no leading or trailing '-')"
        )
    return value


def check_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address; expected e.g. 10.0.0.20") from None


def _host_or_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    try:
        return _hostname(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither an IP address nor a host name") from None


def _ifname(value: str) -> str:
    if value in (".", "..") or not _IFNAME.match(value):
        raise ValueError(
            f"{value!r} is not a Linux interface name; expected 1-15 characters of letters, "
            "digits, '_', '.', '-' (e.g. eth2)"
        )
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL; expected e.g. http://10.0.0.4:5000")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"{value!r} has a bad port") from None
    return value


def _glance_server(value: str) -> str:
    # The tutorial writes `10.0.0.5:9292`; today's [glance] api_servers wants URLs.
    url = value if "://" in value else f"http://{value}"
    return _http_url(url)


Hostname = Annotated[str, AfterValidator(_hostname)]
IpAddress = Annotated[str, AfterValidator(check_ip)]
HostOrIp = Annotated[str, AfterValidator(_host_or_ip)]
IfName = Annotated[str, AfterValidator(_ifname)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
GlanceServer = Annotated[str, AfterValidator(_glance_server)]


class _Model(BaseModel):
    # camelCase keys in YAML, snake_case in Python; unknown keys are errors (they are typos).
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


# --- issue 2: hosts and services --------------------------------------------------------------


class SshConfig(_Model):
    user: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    private_key_path: Optional[str] = None


class ControllerConfig(_Model):
    name: Hostname
    address: IpAddress
    host_key: Optional[str] = None


def controller_services(address: str) -> dict[str, Any]:
    """services.* when the whole control plane runs on the controller at ADDRESS, at the install
    guide's ports (an IPv6 address goes in brackets in a URL): what they default to."""
    host = f"[{address}]" if ":" in address else address
    return {
        "rabbitHost": address,
        "keystoneUrl": f"http://{host}:5000",
        "glanceApiServers": [f"http://{host}:9292"],
        "novncproxyBaseUrl": f"http://{host}:6080/vnc_auto.html",
    }


class ServicesConfig(_Model):
    # Each of these defaults to the controller (controller_services); set it where a service runs elsewhere.
    rabbit_host: HostOrIp
    rabbit_port: int = Field(default=5672, ge=1, le=65535)
    rabbit_user: str = Field(default="openstack", min_length=1)
    keystone_url: HttpUrl
    glance_api_servers: list[GlanceServer] = Field(min_length=1)
    novncproxy_base_url: HttpUrl
    neutron_url: Optional[HttpUrl] = None
    region: str = Field(default="RegionOne", min_length=1)
    service_project: str = Field(default="service", min_length=1)
    nova_user: str = Field(default="nova", min_length=1)
    neutron_user: str = Field(default="neutron", min_length=1)


class StackOutputRef(_Model):
    """A value another Pulumi stack exports (e.g. the address of a VM that stack made)."""

    stack: str = Field(pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+){0,2}$")  # [org/][project/]stack
    output: str = Field(min_length=1)


def _overrides(value: Any) -> Overrides:
    # Problems are reported (with their config paths) by _cross_checks; a bad value is kept out here.
    return normalize_overrides(value) if not override_problems("", value) else {}


ConfigOverrides = Annotated[Any, AfterValidator(_overrides)]


class ComputeHostConfig(_Model):
    name: Hostname
    address: Optional[IpAddress] = None
    address_from: Optional[StackOutputRef] = None
    bridge_interface: IfName
    virt_type: Literal["qemu", "kvm"]
    host_key: Optional[str] = None
    host_key_from: Optional[StackOutputRef] = None
    config_overrides: ConfigOverrides = None

    @model_validator(mode="after")
    def _one_source_each(self) -> "ComputeHostConfig":
        if (self.address is None) == (self.address_from is None):
            raise ValueError("give address or addressFrom (a {stack, output} another stack exports), exactly one")
        if self.host_key is not None and self.host_key_from is not None:
            raise ValueError("give hostKey or hostKeyFrom, not both")
        return self


class NetworkConfig(_Model):
    physnet: str = Field(default="physnet1", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    tunnel_overlay: Literal["vxlan", "none"] = "vxlan"
    bridge: IfName = "br100"


class RolloutConfig(_Model):
    batch_size: int = Field(default=0, ge=0)
    gate_timeout_seconds: int = Field(default=300, ge=10, le=3600)


# --- issue 3: the tutorial's "Testing OpenStack" resources -------------------------------------


class KeypairConfig(_Model):
    name: str = Field(min_length=1, max_length=255)
    public_key: Optional[str] = None
    public_key_path: Optional[str] = None

    @model_validator(mode="after")
    def _one_key_source(self) -> "KeypairConfig":
        if self.public_key and self.public_key_path:
            raise ValueError("give publicKey or publicKeyPath, not both")
        return self


FlavorName = Annotated[str, Field(pattern=_FLAVOR_NAME.pattern)]


class FlavorConfig(_Model):
    name: FlavorName
    id: Optional[str] = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,255}$")
    ram_mb: int = Field(gt=0)
    disk_gb: int = Field(ge=0)
    vcpus: int = Field(gt=0)
    ephemeral_gb: int = Field(default=0, ge=0)
    swap_mb: int = Field(default=0, ge=0)
    rxtx_factor: float = Field(default=1.0, gt=0)
    public: bool = True
    extra_specs: dict[str, str] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, v: Any) -> Any:
        # `id: 6` in YAML is an int; nova flavor ids are strings.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class AdoptFlavorConfig(_Model):
    """An existing flavor taken under management (import) without being created or ever deleted."""

    name: FlavorName
    id: str = Field(min_length=1)
    ram_mb: Optional[int] = Field(default=None, gt=0)
    disk_gb: Optional[int] = Field(default=None, ge=0)
    vcpus: Optional[int] = Field(default=None, gt=0)
    public: bool = True

    @model_validator(mode="after")
    def _sizes_known(self) -> "AdoptFlavorConfig":
        if None in (self.ram_mb, self.disk_gb, self.vcpus) and self.name not in M1_SIZES:
            raise ValueError(
                f"{self.name!r} is not an m1 flavor, so give its ramMb, diskGb and vcpus "
                "(they must match the cloud's flavor for the import to succeed)"
            )
        return self

    def sizes(self) -> tuple[int, int, int]:
        ram, disk, vcpus = M1_SIZES.get(self.name, (0, 0, 0))
        return (self.ram_mb or ram, self.disk_gb if self.disk_gb is not None else disk, self.vcpus or vcpus)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class VolumeConfig(_Model):
    name: str = Field(min_length=1, max_length=255)
    size_gb: int = Field(gt=0)
    device: Optional[str] = None
    protect: bool = True

    @field_validator("device")
    @classmethod
    def _vdev(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _VDEV.match(v):
            raise ValueError(f"{v!r} is not a virtio disk device; expected /dev/vdb, /dev/vdc, ...")
        return v


class ServerConfig(_Model):
    name: Hostname
    image: str = Field(min_length=1)
    flavor: FlavorName
    network: str = Field(min_length=1)
    security_groups: list[str] = Field(default_factory=lambda: ["default"])
    floating_ip_pool: Optional[str] = None
    user_data: Optional[str] = None
    volumes: list[VolumeConfig] = Field(default_factory=list)
    ssh_user: str = Field(default="root", min_length=1)
    # For clouds that confirm resizes themselves: the provider must not wait for VERIFY_RESIZE.
    ignore_resize_confirmation: bool = False


class StackConfig(_Model):
    ssh: SshConfig
    controller: ControllerConfig
    services: ServicesConfig
    compute_hosts: list[ComputeHostConfig] = Field(min_length=1)
    network: NetworkConfig = NetworkConfig()
    rollout: RolloutConfig = RolloutConfig()
    keypair: Optional[KeypairConfig] = None
    flavors: list[FlavorConfig] = Field(default_factory=list)
    adopt_flavors: list[AdoptFlavorConfig] = Field(default_factory=list)
    known_flavors: list[FlavorName] = Field(default_factory=lambda: list(M1_FLAVORS))
    servers: list[ServerConfig] = Field(default_factory=list)
    ec2_credentials: bool = False
    config_overrides: ConfigOverrides = None
    # Secrets: plain text lives only in memory; resources get them as pulumi secrets.
    rabbit_password: SecretStr
    nova_service_password: SecretStr
    neutron_service_password: Optional[SecretStr] = None
    ssh_private_key: Optional[SecretStr] = None
    # nova's SSH key between compute hosts: resize and cold migration copy the disk over it.
    nova_migration_ssh_key: Optional[SecretStr] = None

    # Config keys the stack holds as secrets (`pulumi config set --secret`, with or without --path).
    _secret_keys: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="before")
    @classmethod
    def _services_default_to_the_controller(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("controller"), dict):
            return data
        address = data["controller"].get("address")
        services = data.get("services", {})
        if not isinstance(address, str) or not isinstance(services, dict):
            return data  # the field errors say what is wrong with them
        try:
            address = check_ip(address)
        except ValueError:
            return data
        given = {to_camel(k) for k, v in services.items() if v is not None}
        defaults = {k: v for k, v in controller_services(address).items() if k not in given}
        return {**data, "services": {**services, **defaults}}

    def host_overrides(self, host: ComputeHostConfig) -> tuple[Overrides, bool]:
        """The host's configOverrides (its own win over the stack-wide ones), and whether they hold a
        secret: a key set with `pulumi config set --secret --path` makes its whole config key secret."""
        merged = merge_overrides(self.config_overrides or {}, host.config_overrides or {})
        secret = bool(
            (self.config_overrides and "configOverrides" in self._secret_keys)
            or (host.config_overrides and "computeHosts" in self._secret_keys)
        )
        return merged, secret

    def flavor_names(self) -> set[str]:
        return (
            {f.name for f in self.flavors}
            | {f.name for f in self.adopt_flavors}
            | set(self.known_flavors)
        )


# --- cross-field checks: reported together with the field errors --------------------------------


def _duplicates(values: list[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    return dup


def _items(data: dict, key: str) -> list[dict]:
    value = data.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _section(data: dict, key: str) -> dict:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _cross_checks(data: dict) -> list[str]:
    """Rules that span fields. They read the raw data, so they are reported even when some
    field is malformed: one run of the program names every bad field."""
    problems: list[str] = []

    def dup_check(path: str, items: list[dict], key: str, what: str) -> None:
        values = [str(i[key]) for i in items if i.get(key) is not None]
        for d in _duplicates(values):
            idx = [n for n, i in enumerate(items) if i.get(key) is not None and str(i[key]) == d]
            problems.append(f"{path}: {what} {d!r} is used by entries {idx}; each must be unique")

    hosts = _items(data, "computeHosts")
    flavors = _items(data, "flavors")
    adopted = _items(data, "adoptFlavors")
    servers = _items(data, "servers")
    dup_check("computeHosts", hosts, "name", "host name")
    dup_check("computeHosts", hosts, "address", "address")
    dup_check("flavors", flavors, "name", "flavor name")
    dup_check("flavors", flavors, "id", "flavor id")
    dup_check("servers", servers, "name", "server name")
    volumes = [v for s in servers for v in _items(s, "volumes")]
    dup_check("servers[*].volumes", volumes, "name", "volume name")

    problems.extend(override_problems("configOverrides", data.get("configOverrides")))
    for i, h in enumerate(hosts):
        problems.extend(override_problems(f"computeHosts[{i}].configOverrides", h.get("configOverrides")))

    controller_name = _section(data, "controller").get("name")
    bridge = _section(data, "network").get("bridge", "br100")
    for i, h in enumerate(hosts):
        if controller_name is not None and h.get("name") == controller_name:
            problems.append(
                f"computeHosts[{i}].name: {h['name']!r} is the controller's name; a compute host needs its own"
            )
        if h.get("bridgeInterface") == bridge:
            problems.append(
                f"computeHosts[{i}].bridgeInterface: {bridge!r} is the bridge itself; "
                "expected the physical NIC the bridge enslaves (the tutorial's eth2)"
            )

    created = {str(f.get("name")) for f in flavors}
    adopted_ids = {str(f.get("id")) for f in adopted}
    for i, f in enumerate(adopted):
        if str(f.get("name")) in created:
            problems.append(
                f"adoptFlavors[{i}].name: {f['name']!r} is also under flavors; a flavor is either "
                "created or adopted, never both"
            )
    for i, f in enumerate(flavors):
        if f.get("id") is not None and str(f["id"]) in adopted_ids:
            problems.append(
                f"flavors[{i}].id: id {str(f['id'])!r} belongs to an adopted flavor; pick a free id or omit it"
            )

    known_list = data.get("knownFlavors", list(M1_FLAVORS))
    known = created | {str(f.get("name")) for f in adopted} | (
        {str(k) for k in known_list} if isinstance(known_list, list) else set()
    )
    for i, s in enumerate(servers):
        if s.get("flavor") is not None and str(s["flavor"]) not in known:
            problems.append(
                f"servers[{i}].flavor: unknown flavor {s['flavor']!r}; expected one of "
                f"{sorted(known)} (declare it under flavors, adoptFlavors or knownFlavors)"
            )
    if servers and "keypair" not in data:
        problems.append("keypair: servers are declared but no keypair; expected {name, publicKey?}")
    ssh = data.get("ssh")
    if isinstance(ssh, dict) and not ssh.get("privateKeyPath") and not data.get("sshPrivateKey"):
        problems.append(
            "ssh: no private key; set ssh.privateKeyPath or the secret sshPrivateKey "
            "(`pulumi config set --secret novalab:sshPrivateKey < key`)"
        )
    for name in ("rabbitPassword", "novaServicePassword", "neutronServicePassword"):
        value = data.get(name)
        if isinstance(value, str) and (not value or "\n" in value):
            problems.append(f"{name}: must be a non-empty single line")
    migration_key = data.get("novaMigrationSshKey")
    if isinstance(migration_key, str):
        try:
            openssh_public_key(migration_key)
        except ValueError as e:  # the message never holds the key
            problems.append(
                f"novaMigrationSshKey: {e}; make one with `ssh-keygen -t ed25519 -N '' -f nova_migration` "
                "and `pulumi config set --secret novalab:novaMigrationSshKey < nova_migration`"
            )
    return problems


# --- error formatting ---------------------------------------------------------------------------

_SECRET_FIELDS = {to_camel(k) for k in SECRET_KEYS} | set(SECRET_KEYS)

_EXPECTED = {
    "missing": "required key is missing",
    "extra_forbidden": "unknown key (a typo?); remove it or check the config reference in README.md",
}


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe(err: dict, secret_keys: Iterable[str] = ()) -> str:
    path = _path(err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "missing" and path.startswith("services"):
        return f"{path}: required key is missing (it defaults to the controller's when controller.address is valid)"
    if kind in _EXPECTED:
        return f"{path}: {_EXPECTED[kind]}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    hidden = _SECRET_FIELDS | set(secret_keys)
    secret = any(str(p) in hidden for p in err["loc"])
    got = "" if secret or kind == "value_error" else f" (got {err.get('input')!r})"
    return f"{path}: {msg}{got}"


# --- entry points -------------------------------------------------------------------------------


def _decode(value: Any) -> Any:
    """Objects and lists arrive from the engine as JSON text; scalars as plain text."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[") or text in ("true", "false"):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return value
    return value


def _name(key: str) -> Optional[str]:
    """The novalab key name of a raw config key, None for another namespace's key."""
    ns, _, name = key.rpartition(":")
    return None if ns and ns != NAMESPACE else name


def parse_stack_config(raw: dict[str, Any], secret_keys: Iterable[str] = ()) -> StackConfig:
    """Parse the stack's raw config map (`novalab:key` or bare `key` -> value) or raise ConfigError.
    `secret_keys` are the config keys the stack holds as secrets: no message shows their values."""
    data: dict[str, Any] = {}
    for key, value in raw.items():
        name = _name(key)
        if name is not None:  # other namespaces (openstack:*, ...) belong to their providers
            data[name] = _decode(value)
    secret = frozenset(n for n in map(_name, secret_keys) if n is not None)
    problems: list[str] = []
    cfg: Optional[StackConfig] = None
    try:
        cfg = StackConfig.model_validate(data)
    except ValidationError as e:
        problems.extend(_describe(err, secret) for err in e.errors())
    problems.extend(p for p in _cross_checks(data) if p not in problems)
    if problems or cfg is None:
        raise ConfigError(problems)
    cfg._secret_keys = secret
    return cfg


def load_stack_config() -> StackConfig:
    """Read this stack's config from the Pulumi runtime and parse it (no resource is touched)."""
    from pulumi.runtime import config as rc

    raw = dict(rc.get_config_env())
    raw.update(rc.CONFIG.get())
    secret = [k for k in raw if rc.is_config_secret(k)] + list(rc.get_config_secret_keys_env())
    return parse_stack_config(raw, secret)
