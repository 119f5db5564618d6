"""The compute-node side of the config: SSH, the controller, the control plane's services, the
compute hosts, the network backend and the rollout."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.alias_generators import to_camel

from ..messaging import RABBIT_QUEUES
from ..ssh_keys import openssh_public_key
from .fields import (
    FilePath, GlanceServer, HostKey, HostOrIp, Hostname, HttpUrl, IfName, Int, IpAddress, IpInterface, Name,
    OvsdbRemote,
    PosixUser, Port, Text, control_characters,
)
from .report import Loc, rule_errors


class Model(BaseModel):
    # camelCase keys in YAML, snake_case in Python; unknown keys are errors (they are typos).
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


def _password(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if not text or "\n" in text or "\r" in text:
        raise ValueError("must be a non-empty single line")
    if control_characters(text):
        raise ValueError("holds a control character (tab, NUL, ...); use printable characters only")
    return value


def _migration_key(value: SecretStr) -> SecretStr:
    try:
        openssh_public_key(value.get_secret_value())
    except ValueError as e:  # the message never holds the key
        raise ValueError(
            f"{e}; make one with `ssh-keygen -t ed25519 -N '' -f nova_migration` "
            "and `pulumi config set --secret novalab:novaMigrationSshKey < nova_migration`"
        ) from None
    return value


# oslo.config reads a password exactly as given (render.oslo_value quotes what it would change).
Password = Annotated[SecretStr, AfterValidator(_password)]
MigrationKey = Annotated[SecretStr, AfterValidator(_migration_key)]


class SshConfig(Model):
    user: PosixUser
    port: Port = 22
    private_key_path: Optional[FilePath] = None


class ControllerConfig(Model):
    name: Hostname
    address: IpAddress
    host_key: Optional[HostKey] = None


BACKENDS = ("linuxbridge", "ovn", "openvswitch")
# Each backend's tunnel overlays, its default first: OVN's tunnels are Geneve, the agents' VXLAN.
OVERLAYS = {"linuxbridge": ("vxlan", "none"), "openvswitch": ("vxlan", "none"), "ovn": ("geneve",)}
OVN_SOUTHBOUND_PORT = 6642


def controller_services(address: str, backend: str = "linuxbridge") -> dict[str, Any]:
    """services.* when the whole control plane runs on the controller at ADDRESS, at the install
    guide's ports (an IPv6 address goes in brackets in a URL): what they default to."""
    host = f"[{address}]" if ":" in address else address
    out = {
        "rabbitHost": address,
        "keystoneUrl": f"http://{host}:5000",
        "glanceApiServers": [f"http://{host}:9292"],
        "novncproxyBaseUrl": f"http://{host}:6080/vnc_auto.html",
    }
    if backend == "ovn":
        out["ovnSouthbound"] = f"tcp:{host}:{OVN_SOUTHBOUND_PORT}"
        out["novaMetadataHost"] = address  # the metadata agent on each compute host proxies to it
    return out


class ServicesConfig(Model):
    # Each of these defaults to the controller (controller_services); set it where a service runs elsewhere.
    rabbit_host: HostOrIp
    rabbit_port: Port = 5672
    rabbit_user: Name = "openstack"
    rabbit_queues: Literal[RABBIT_QUEUES] = "classic"  # type: ignore[valid-type]
    keystone_url: HttpUrl
    glance_api_servers: list[GlanceServer] = Field(min_length=1)
    novncproxy_base_url: HttpUrl
    neutron_url: Optional[HttpUrl] = None
    ovn_southbound: Optional[OvsdbRemote] = None  # network.backend ovn only
    nova_metadata_host: Optional[HostOrIp] = None  # network.backend ovn only: nova's metadata API
    region: Name = "RegionOne"
    service_project: Annotated[Name, Field(max_length=64)] = "service"  # keystone's limit for project names
    nova_user: Name = "nova"
    neutron_user: Name = "neutron"


class StackOutputRef(Model):
    """A value another Pulumi stack exports (e.g. the address of a VM that stack made)."""

    stack: str = Field(pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+){0,2}$")  # [org/][project/]stack
    output: Text


class ComputeHostConfig(Model):
    name: Hostname
    address: Optional[IpAddress] = None
    address_from: Optional[StackOutputRef] = None
    bridge_interface: IfName
    virt_type: Literal["qemu", "kvm"]
    host_key: Optional[HostKey] = None
    host_key_from: Optional[StackOutputRef] = None
    # The host's tunnel endpoint with its prefix (kolla's tunnel_interface address), for the Open vSwitch
    # backends: put on the provider bridge, since OVS's userspace datapath tunnels only from an address
    # on one of its bridges. Unset: the management address (on the kernel datapath only).
    tunnel_address: Optional[IpInterface] = None
    # {<file>: {<section>: {<key>: <value>}}} as given; checked (overrides.override_problems) by the
    # stack's rules, which name each bad option by its path.
    config_overrides: Any = None

    @model_validator(mode="after")
    def _one_source_each(self) -> "ComputeHostConfig":
        if (self.address is None) == (self.address_from is None):
            raise ValueError("give address or addressFrom (a {stack, output} another stack exports), exactly one")
        if self.host_key is not None and self.host_key_from is not None:
            raise ValueError("give hostKey or hostKeyFrom, not both")
        return self


class NetworkConfig(Model):
    backend: Literal[BACKENDS] = "linuxbridge"  # type: ignore[valid-type]
    # Open vSwitch's datapath (ovn, openvswitch); unset: the host step picks system where the kernel
    # module loads, else netdev (userspace).
    datapath_type: Optional[Literal["system", "netdev"]] = None
    physnet: str = Field(default="physnet1", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    tunnel_overlay: Literal["vxlan", "geneve", "none"] = None  # type: ignore[assignment] - the backend's first
    bridge: IfName = "br100"

    @model_validator(mode="before")
    @classmethod
    def _overlay_of_the_backend(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("tunnelOverlay", data.get("tunnel_overlay")) is None:
            backend = data.get("backend", "linuxbridge")
            return {**data, "tunnelOverlay": OVERLAYS[backend][0]} if backend in OVERLAYS else data
        return data

    @model_validator(mode="after")
    def _fits_the_backend(self) -> "NetworkConfig":
        problems: list[tuple[Loc, Exception]] = []
        if self.tunnel_overlay not in OVERLAYS[self.backend]:
            problems.append((("tunnelOverlay",), ValueError(
                f"{self.tunnel_overlay} does not go with backend {self.backend}; expected "
                f"{' or '.join(OVERLAYS[self.backend])} (ovn tunnels with geneve, the agents with vxlan)")))
        if self.datapath_type is not None and self.backend == "linuxbridge":
            problems.append((("datapathType",), ValueError(
                "is an Open vSwitch setting; with backend linuxbridge leave it unset")))
        if problems:
            raise rule_errors("NetworkConfig", problems)
        return self


class RolloutConfig(Model):
    batch_size: Annotated[Int, Field(ge=0)] = 0
    gate_timeout_seconds: Annotated[Int, Field(ge=10, le=3600)] = 300
