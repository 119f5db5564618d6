"""HostPlacement: what nova on one compute host will tell placement it offers, for the policy pack.

The capacity policy must count with the allocation ratios and reserved amounts nova will use on each
host: nova's defaults (openstack_defaults/nova_placement.py), or what the host's configOverrides set.
The pack sees the stack's resources and their outputs, not its config, so each host gets this small
component whose outputs say it (as the ComputeHost's outputs carry the host's facts). No provider
and no remote command: registering it again with the same values changes nothing.
"""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi

from openstack_defaults.nova_placement import effective

from .overrides import Overrides


def placement_outputs(host_name: str, overrides: Overrides) -> dict[str, object]:
    """The component's outputs (pure): hostName and {cpuAllocationRatio: 4.0, ...}."""
    return {"hostName": host_name, **effective(overrides)}


class HostPlacement(pulumi.ComponentResource):
    def __init__(self, name: str, host_name: str, overrides: Mapping, secret: bool,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("novalab:index:HostPlacement", name, None, opts)
        values = placement_outputs(host_name, dict(overrides))
        # Derived from overrides set as a secret: secret too (the pack still reads them).
        self.values = {k: pulumi.Output.secret(v) if secret and k != "hostName" else v for k, v in values.items()}
        self.register_outputs(self.values)
