"""What nova tells placement a compute node offers when its config sets nothing else: the
allocation ratios and reserved amounts. Stdlib only: the program (what each host gets), the policy
pack (its capacity check) and tests read it; policies/ holds a link to this file so the pack still
runs, and publishes, on its own.

The ratios are nova's `initial_*_allocation_ratio` defaults, which 2023.1 (Antelope) lowered from
16.0 CPU / 1.5 RAM to 4.0 / 1.0 (nova/conf/compute.py; release note "initial-allocation-ratios").
novalab does not know the cloud's release here, so it takes today's values: on older clouds they
are stricter than nova, never looser.
"""

from __future__ import annotations

from typing import Mapping

# nova option -> (the key the policy pack and the program use, nova's default)
NOVA_DEFAULTS: dict[str, tuple[str, float]] = {
    "cpu_allocation_ratio": ("cpuAllocationRatio", 4.0),
    "ram_allocation_ratio": ("ramAllocationRatio", 1.0),
    "disk_allocation_ratio": ("diskAllocationRatio", 1.0),
    "reserved_host_memory_mb": ("reservedHostMemoryMb", 512),
    "reserved_host_disk_mb": ("reservedHostDiskMb", 0),
    "reserved_host_cpus": ("reservedHostCpus", 0),
}
# Where nova reads them: [DEFAULT], and nova-compute.conf is read after nova.conf (it wins).
FILES = ("nova.conf", "nova-compute.conf")


def defaults() -> dict[str, float]:
    """{cpuAllocationRatio: 4.0, ...}: nova's own values."""
    return {key: value for key, value in NOVA_DEFAULTS.values()}


def _number(text: object) -> float | None:
    try:
        value = float(str(text))
    except ValueError:
        return None
    return value if value >= 0 else None


def effective(overrides: Mapping[str, Mapping[str, Mapping[str, str]]]) -> dict[str, float]:
    """What nova on a host will use, given the host's merged configOverrides ({file: {section:
    {key: value}}}): an override of the option (or of its initial_* twin, for the ratios), else
    nova's default. A value nova could not read as a number leaves the default."""
    out = defaults()
    for option, (key, _) in NOVA_DEFAULTS.items():
        for name in (f"initial_{option}", option):  # the explicit ratio wins over the initial one
            for file in FILES:
                value = _number(((overrides.get(file) or {}).get("DEFAULT") or {}).get(name, ""))
                if value is not None:
                    out[key] = value
    return out
