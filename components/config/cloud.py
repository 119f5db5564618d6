"""The tutorial's "Testing OpenStack" part of the config: keypair, flavors, servers and volumes."""

from __future__ import annotations

import re
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from openstack_defaults.m1_flavors import read_m1_flavors

from .fields import BadValue, FilePath, Hostname, Int, KeypairName, Name, PosixUser, PublicKey, Text
from .hosts import Model

M1 = read_m1_flavors()
# A server may name one of these without declaring it: the provider resolves the name, so preview
# needs no API call. Adopting one needs its exact sizes, or the import reports a diff.
M1_FLAVORS = tuple(f.name for f in M1)
M1_SIZES = {f.name: (f.ram_mb, f.disk_gb, f.vcpus) for f in M1}


def _id_as_text(value: Any) -> Any:
    # `id: 6` in YAML is an int; nova flavor ids are strings.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


FlavorName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")]
FlavorId = Annotated[str, BeforeValidator(_id_as_text), Field(pattern=r"^[A-Za-z0-9._-]{1,255}$")]
# nova's flavor extra spec keys (parameter_types.metadata) and values.
SpecKey = Annotated[str, Field(pattern=r"^[a-zA-Z0-9-_:. ]{1,255}$")]
SpecValue = Annotated[Text, Field(max_length=255)]


def _virtio_device(value: str) -> str:
    if not re.match(r"^/dev/vd[a-z]{1,2}$", value):
        raise BadValue("{value} is not a virtio disk device; expected /dev/vdb, /dev/vdc, ...", value)
    return value


VirtioDevice = Annotated[str, AfterValidator(_virtio_device)]


class KeypairConfig(Model):
    name: KeypairName
    public_key: Optional[PublicKey] = None
    public_key_path: Optional[FilePath] = None

    @model_validator(mode="after")
    def _one_key_source(self) -> "KeypairConfig":
        if self.public_key and self.public_key_path:
            raise ValueError("give publicKey or publicKeyPath, not both")
        return self


class FlavorConfig(Model):
    name: FlavorName
    id: Optional[FlavorId] = None
    ram_mb: Annotated[Int, Field(gt=0)]
    disk_gb: Annotated[Int, Field(ge=0)]
    vcpus: Annotated[Int, Field(gt=0)]
    ephemeral_gb: Annotated[Int, Field(ge=0)] = 0
    swap_mb: Annotated[Int, Field(ge=0)] = 0
    rxtx_factor: float = Field(default=1.0, gt=0)
    public: bool = True
    extra_specs: dict[SpecKey, SpecValue] = Field(default_factory=dict)


class AdoptFlavorConfig(Model):
    """An existing flavor taken under management (import) without being created or ever deleted."""

    name: FlavorName
    id: FlavorId
    ram_mb: Optional[Annotated[Int, Field(gt=0)]] = None
    disk_gb: Optional[Annotated[Int, Field(ge=0)]] = None
    vcpus: Optional[Annotated[Int, Field(gt=0)]] = None
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


class VolumeConfig(Model):
    name: Name
    size_gb: Annotated[Int, Field(gt=0)]
    device: Optional[VirtioDevice] = None
    protect: bool = True


class ServerConfig(Model):
    name: Hostname
    image: Name
    flavor: FlavorName
    network: Name
    security_groups: list[Name] = Field(default_factory=lambda: ["default"])
    floating_ip_pool: Optional[Name] = None
    user_data: Optional[str] = None  # cloud-init's text, handed to nova as it is
    volumes: list[VolumeConfig] = Field(default_factory=list)
    ssh_user: PosixUser = "root"
    # For clouds that confirm resizes themselves: the provider must not wait for VERIFY_RESIZE.
    ignore_resize_confirmation: bool = False
