"""Tutorial "Testing OpenStack" and "Testing cinder": `nova boot`, a floating IP, `nova volume-attach`,
and "Change the flavor of an existing VM" (`nova resize` + `resize-confirm`)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_openstack as openstack

from .config import ServerConfig
from .flavors import FlavorRef


def guest_disk_path(volume_id: str) -> str:
    """The stable in-guest path of an attached volume: virtio disks carry the first 20 characters
    of the cinder volume id as serial. The requested device (/dev/vdb) is only a hint to nova."""
    return f"/dev/disk/by-id/virtio-{volume_id[:20]}"


def ssh_command(user: str, address: str, key_name: str) -> str:
    """What a user pastes into a shell: a key name with a space (nova allows it) stays one word."""
    key = f"~/.ssh/{key_name}" if shlex.quote(key_name) == key_name else f"~/.ssh/{shlex.quote(key_name)}"
    return f"ssh -i {key} {user}@{address}"


@dataclass
class ServerArgs:
    server: ServerConfig
    flavor: FlavorRef
    key_pair: pulumi.Input[str]
    flavor_id: Optional[pulumi.Input[str]] = None  # set when the stack manages the flavor
    gates: Sequence[pulumi.Resource] = field(default_factory=list)  # the ComputeHosts' gates


class Server(pulumi.ComponentResource):
    """One server with its floating IP and volumes. It boots only after every compute host's gate."""

    def __init__(self, name: str, args: ServerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("novalab:index:Server", name, None, opts)
        s = args.server
        child = pulumi.ResourceOptions(parent=self)

        # A change of flavor resizes the server in place; the provider confirms the resize unless
        # the cloud confirms by itself (ignoreResizeConfirmation).
        by_id = args.flavor.kind != "known"
        self.instance = openstack.compute.Instance(
            f"{s.name}-instance",
            name=s.name,
            image_name=s.image,
            flavor_id=args.flavor_id if by_id else None,
            flavor_name=None if by_id else args.flavor.name,
            key_pair=args.key_pair,
            security_groups=s.security_groups,
            networks=[openstack.compute.InstanceNetworkArgs(name=s.network)],
            user_data=s.user_data,
            vendor_options=openstack.compute.InstanceVendorOptionsArgs(
                ignore_resize_confirmation=s.ignore_resize_confirmation
            )
            if s.ignore_resize_confirmation
            else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.gates)),
        )
        self.fixed_ip = self.instance.networks.apply(lambda n: n[0].fixed_ip_v4 if n else None)
        # The server's port, for its floating IP: the provider leaves `networks[].port` empty for a
        # network given by name, so look the port up by the server and its address. The lookup runs
        # once the server exists (in a preview its id is unknown, so no API call is made).
        self.port_id = openstack.networking.get_port_output(
            device_id=self.instance.id, fixed_ip=self.fixed_ip, opts=pulumi.InvokeOutputOptions(parent=self)
        ).id

        self.floating_ip: Optional[pulumi.Output[str]] = None
        if s.floating_ip_pool:
            fip = openstack.networking.FloatingIp(f"{s.name}-fip", pool=s.floating_ip_pool, opts=child)
            openstack.networking.FloatingIpAssociate(
                f"{s.name}-fip-assoc", floating_ip=fip.address, port_id=self.port_id, opts=child
            )
            self.floating_ip = fip.address

        self.volumes: dict[str, dict[str, pulumi.Output]] = {}
        for v in s.volumes:
            volume = openstack.blockstorage.Volume(
                v.name,
                name=v.name,
                size=v.size_gb,
                # Volumes hold data: protected unless the config says otherwise.
                opts=pulumi.ResourceOptions(parent=self, protect=v.protect),
            )
            attach = openstack.compute.VolumeAttach(
                f"{s.name}-{v.name}-attach",
                instance_id=self.instance.id,
                volume_id=volume.id,
                device=v.device,
                opts=child,
            )
            self.volumes[v.name] = {
                "id": volume.id,
                "device": attach.device,
                "guestPath": volume.id.apply(guest_disk_path),
            }

        address = self.floating_ip if self.floating_ip is not None else self.fixed_ip
        self.ssh = pulumi.Output.all(address, args.key_pair).apply(lambda a: ssh_command(s.ssh_user, a[0], a[1]))
        self.register_outputs(
            {
                "id": self.instance.id,
                "fixedIp": self.fixed_ip,
                "floatingIp": self.floating_ip,
                "ssh": self.ssh,
                "volumes": self.volumes,
            }
        )
