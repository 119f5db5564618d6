"""Tutorial "Working with Flavors": `nova flavor-create --is-public true x1.tiny 6 256 2 1`.

Created flavors are managed resources. Flavors the cloud already has are either adopted (imported,
and kept when the stack is destroyed) or only referenced by name, which the provider resolves at
create time, so `pulumi preview` makes no API call for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_openstack as openstack

from .config import AdoptFlavorConfig, FlavorConfig, StackConfig


@dataclass(frozen=True)
class FlavorRef:
    """How a server names its flavor: the id of one this stack manages, or a name to look up."""

    name: str
    kind: str  # "created" | "adopted" | "known"


def flavor_ref(cfg: StackConfig, name: str) -> FlavorRef:
    if any(f.name == name for f in cfg.flavors):
        return FlavorRef(name, "created")
    if any(f.name == name for f in cfg.adopt_flavors):
        return FlavorRef(name, "adopted")
    if name in cfg.known_flavors:
        return FlavorRef(name, "known")
    raise KeyError(f"unknown flavor {name!r}")  # config validation reports this first


def flavor_args(f: FlavorConfig) -> openstack.compute.FlavorArgs:
    return openstack.compute.FlavorArgs(
        name=f.name,
        flavor_id=f.id,
        ram=f.ram_mb,
        disk=f.disk_gb,
        vcpus=f.vcpus,
        ephemeral=f.ephemeral_gb,
        swap=f.swap_mb,
        rx_tx_factor=f.rxtx_factor,
        is_public=f.public,
        extra_specs=f.extra_specs or None,
    )


def adopted_flavor_args(f: AdoptFlavorConfig) -> openstack.compute.FlavorArgs:
    ram, disk, vcpus = f.sizes()
    return openstack.compute.FlavorArgs(
        name=f.name, flavor_id=f.id, ram=ram, disk=disk, vcpus=vcpus, is_public=f.public
    )


class Flavors(pulumi.ComponentResource):
    """The stack's flavors: created ones (x1.tiny) and adopted ones (m1.*)."""

    def __init__(self, name: str, cfg: StackConfig, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("novalab:index:Flavors", name, None, opts)
        self.by_name: dict[str, openstack.compute.Flavor] = {}
        for f in cfg.flavors:
            self.by_name[f.name] = openstack.compute.Flavor(
                f.name, flavor_args(f), opts=pulumi.ResourceOptions(parent=self)
            )
        for f in cfg.adopt_flavors:
            # import_ adopts the existing flavor; retain_on_delete keeps the cloud's flavor when
            # this stack is destroyed (other projects use m1.*).
            self.by_name[f.name] = openstack.compute.Flavor(
                f.name,
                adopted_flavor_args(f),
                opts=pulumi.ResourceOptions(parent=self, import_=f.id, retain_on_delete=True),
            )
        self.register_outputs({name: flavor.id for name, flavor in self.by_name.items()})
