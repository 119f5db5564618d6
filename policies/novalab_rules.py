"""novalab's policy rules: pure checks first, then the thin pulumi_policy validators around them.

Every check returns violation messages that name the resource, the value, the bound and the policy
config key that sets it. A value not known yet (during preview) is skipped for that check only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from m1_flavors import read_m1_flavors  # beside this file (a link to openstack_defaults/)
from nova_placement import defaults as nova_defaults  # likewise

FLAVOR = "openstack:compute/flavor:Flavor"
INSTANCE = "openstack:compute/instance:Instance"
VOLUME = "openstack:blockstorage/volume:Volume"
COMPUTE_HOST = "novalab:index:ComputeHost"
HOST_PLACEMENT = "novalab:index:HostPlacement"  # what nova on a host will use (components/placement.py)

# The m1 family's sizes, for servers that name them without the stack managing them (m1_flavors.py
# reads their one source, as the program and the lab do).
M1_SIZES = {f.name: {"ramMb": f.ram_mb, "vcpus": f.vcpus, "diskGb": f.disk_gb} for f in read_m1_flavors()}

NOVA = nova_defaults()

# Defaults: the policy config (policies/config/<stack>.json) overrides any of them.
DEFAULTS: dict[str, dict[str, Any]] = {
    "flavor-size-bounds": {
        "ramMb": {"min": 64, "max": 32768},
        "vcpus": {"min": 1, "max": 16},
        "diskGb": {"min": 0, "max": 500},
        "ephemeralGb": {"min": 0, "max": 500},
        "swapMb": {"min": 0, "max": 16384},
    },
    "flavor-ram-per-vcpu": {"minMbPerVcpu": 128, "maxMbPerVcpu": 8192},
    "flavor-ram-granularity": {"stepMb": 64},
    "flavor-naming": {
        "familyPattern": "^[a-z][a-z0-9]*$",
        "sizes": ["nano", "micro", "tiny", "small", "medium", "large", "xlarge", "2xlarge"],
    },
    "server-flavor-allowed": {"allowedFlavors": list(M1_SIZES)},
    "volume-size-bounds": {"minGb": 1, "maxGb": 100},
    "volume-protected": {},
    "flavor-fits-hosts": {"hosts": []},
    # nova's own defaults (nova_placement.py), for hosts the stack does not say more about.
    "capacity": {
        "hosts": [],
        **{k: NOVA[k] for k in ("cpuAllocationRatio", "ramAllocationRatio", "diskAllocationRatio")},
        "reservedHostMemoryMb": NOVA["reservedHostMemoryMb"],
        "reservedHostDiskGb": NOVA["reservedHostDiskMb"] / 1024,
        "reservedHostCpus": NOVA["reservedHostCpus"],
        "knownFlavors": M1_SIZES,
    },
}

# flavor property -> (config key, unit)
FLAVOR_DIMENSIONS = {
    "ram": ("ramMb", "MB"),
    "vcpus": ("vcpus", "vCPUs"),
    "disk": ("diskGb", "GB"),
    "ephemeral": ("ephemeralGb", "GB"),
    "swap": ("swapMb", "MB"),
}


def config_for(policy: str, given: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """The policy's defaults overlaid with what the stack's policy config sets."""
    merged = dict(DEFAULTS[policy])
    for key, value in (given or {}).items():
        if key == "enforcementLevel":
            continue
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key != "knownFlavors":
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def known(props: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """props[key], or `default` when it is absent or not known yet (preview)."""
    try:
        return props.get(key, default)
    except UnknownValueError:
        return None


def _number(value: Any) -> Optional[float]:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --- pure checks -------------------------------------------------------------------------------


def check_flavor_size(name: str, flavor: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for prop, (key, unit) in FLAVOR_DIMENSIONS.items():
        value = _number(flavor.get(prop, 0 if prop in ("ephemeral", "swap") else None))
        bounds = cfg.get(key) or {}
        if value is None:
            continue
        lo, hi = bounds.get("min"), bounds.get("max")
        if lo is not None and value < lo:
            out.append(f"flavor {name}: {prop} {value:g} {unit} is below the minimum {lo:g} (policy config flavor-size-bounds.{key}.min)")
        if hi is not None and value > hi:
            out.append(f"flavor {name}: {prop} {value:g} {unit} is above the maximum {hi:g} (policy config flavor-size-bounds.{key}.max)")
    return out


def check_ram_per_vcpu(name: str, flavor: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    ram, vcpus = _number(flavor.get("ram")), _number(flavor.get("vcpus"))
    if ram is None or not vcpus:
        return []
    per = ram / vcpus
    lo, hi = cfg.get("minMbPerVcpu"), cfg.get("maxMbPerVcpu")
    if lo is not None and per < lo:
        return [f"flavor {name}: {per:g} MB RAM per vCPU is below {lo:g} (policy config flavor-ram-per-vcpu.minMbPerVcpu)"]
    if hi is not None and per > hi:
        return [f"flavor {name}: {per:g} MB RAM per vCPU is above {hi:g} (policy config flavor-ram-per-vcpu.maxMbPerVcpu)"]
    return []


def check_ram_granularity(name: str, flavor: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    ram, step = _number(flavor.get("ram")), cfg.get("stepMb")
    if ram is None or not step or ram % step == 0:
        return []
    return [f"flavor {name}: ram {ram:g} MB is not a multiple of {step} MB (policy config flavor-ram-granularity.stepMb)"]


def check_flavor_naming(name: Optional[str], cfg: Mapping[str, Any]) -> list[str]:
    if not isinstance(name, str):
        return []
    family, dot, size = name.partition(".")
    sizes = cfg.get("sizes") or []
    if not dot or not re.match(cfg.get("familyPattern", ".*"), family) or size not in sizes:
        return [
            f"flavor {name}: name is not <family>.<size> with family matching "
            f"{cfg.get('familyPattern')!r} (policy config flavor-naming.familyPattern) and size one of "
            f"{sizes} (policy config flavor-naming.sizes)"
        ]
    return []


def check_volume_size(name: str, size: Any, cfg: Mapping[str, Any]) -> list[str]:
    size = _number(size)
    if size is None:
        return []
    lo, hi = cfg.get("minGb"), cfg.get("maxGb")
    if lo is not None and size < lo:
        return [f"volume {name}: size {size:g} GB is below the minimum {lo:g} (policy config volume-size-bounds.minGb)"]
    if hi is not None and size > hi:
        return [f"volume {name}: size {size:g} GB is above the maximum {hi:g} (policy config volume-size-bounds.maxGb)"]
    return []


def check_volume_protected(name: str, protect: bool) -> list[str]:
    if protect:
        return []
    return [f"volume {name}: not protected; volumes hold data, set protect: true (stack config servers[].volumes[].protect)"]


@dataclass(frozen=True)
class Host:
    name: str
    ram_mb: Optional[float]
    vcpus: Optional[float]
    disk_gb: Optional[float]
    # What nova on this host will use ({cpuAllocationRatio: 4.0, reservedHostMemoryMb: 512, ...}, as
    # the program's HostPlacement says it); empty: the policy config's values.
    placement: Mapping[str, float] = field(default_factory=dict)


def hosts_from(cfg_hosts: Iterable[Mapping[str, Any]], component_outputs: Iterable[tuple[str, Mapping[str, Any]]],
               placements: Optional[Mapping[str, Mapping[str, float]]] = None) -> list[Host]:
    """Hosts from the policy config; else the ComputeHost components' exported facts. Each with
    what nova will use on it, when the stack says (PLACEMENTS by host name)."""
    placements = placements or {}
    hosts = [Host(str(h.get("name", f"host-{i}")), _number(h.get("ramMb")), _number(h.get("vcpus")), _number(h.get("diskGb")))
             for i, h in enumerate(cfg_hosts)]
    if not hosts:
        hosts = [Host(name, _number(known(p, "ramMb")), _number(known(p, "vcpus")), _number(known(p, "diskGb")))
                 for name, p in component_outputs]
    return [Host(h.name, h.ram_mb, h.vcpus, h.disk_gb, placements.get(h.name, {})) for h in hosts]


def placement_of(props: Mapping[str, Any]) -> dict[str, float]:
    """A HostPlacement's outputs as numbers (unknown ones left out: the config's values apply)."""
    out = {}
    for key in ("cpuAllocationRatio", "ramAllocationRatio", "diskAllocationRatio", "reservedHostMemoryMb",
                "reservedHostCpus"):
        value = _number(known(props, key))
        if value is not None:
            out[key] = value
    disk_mb = _number(known(props, "reservedHostDiskMb"))
    if disk_mb is not None:
        out["reservedHostDiskGb"] = disk_mb / 1024
    return out


def check_flavor_fits_hosts(flavors: Mapping[str, Mapping[str, Any]], hosts: list[Host]) -> list[str]:
    usable = [h for h in hosts if None not in (h.ram_mb, h.vcpus, h.disk_gb)]
    if not usable:
        return []
    out = []
    big_ram = max(usable, key=lambda h: h.ram_mb)
    big_cpu = max(usable, key=lambda h: h.vcpus)
    big_disk = max(usable, key=lambda h: h.disk_gb)
    for name, f in flavors.items():
        ram, vcpus, disk = _number(f.get("ram")), _number(f.get("vcpus")), _number(f.get("disk"))
        disk_total = None if disk is None else disk + (_number(f.get("ephemeral")) or 0)
        if ram is not None and ram > big_ram.ram_mb:
            out.append(f"flavor {name}: ram {ram:g} MB does not fit the largest host {big_ram.name} ({big_ram.ram_mb:g} MB) (policy config flavor-fits-hosts.hosts or the ComputeHost facts)")
        if vcpus is not None and vcpus > big_cpu.vcpus:
            out.append(f"flavor {name}: {vcpus:g} vCPUs do not fit the largest host {big_cpu.name} ({big_cpu.vcpus:g} cores) (policy config flavor-fits-hosts.hosts or the ComputeHost facts)")
        if disk_total is not None and disk_total > big_disk.disk_gb:
            out.append(f"flavor {name}: disk {disk_total:g} GB does not fit the largest host {big_disk.name} ({big_disk.disk_gb:g} GB) (policy config flavor-fits-hosts.hosts or the ComputeHost facts)")
    return out


_CAPACITY = (  # dimension, host field, ratio key, reserved key
    ("ramMb", "ram_mb", "ramAllocationRatio", "reservedHostMemoryMb"),
    ("vcpus", "vcpus", "cpuAllocationRatio", "reservedHostCpus"),
    ("diskGb", "disk_gb", "diskAllocationRatio", "reservedHostDiskGb"),
)


def check_capacity(demands: list[tuple[str, Mapping[str, float]]], hosts: list[Host], cfg: Mapping[str, Any]) -> list[str]:
    """All servers together against the hosts' (total - reserved) x allocation ratio, as placement
    counts it, with each host's own ratio and reserve where the stack says what nova will use there
    (HostPlacement), else the policy config's. Summed over hosts: a bound, not a bin-packing."""
    usable = [h for h in hosts if None not in (h.ram_mb, h.vcpus, h.disk_gb)]
    if not usable or not demands:
        return []
    out = []
    for dim, attr, ratio_key, reserved_key in _CAPACITY:
        def value(h: Host, key: str) -> float:
            return h.placement.get(key, cfg[key])

        cap = sum(max(getattr(h, attr) - value(h, reserved_key), 0) * value(h, ratio_key) for h in usable)
        need = sum(d.get(dim, 0) for _, d in demands)
        if need > cap:
            names = ", ".join(n for n, _ in demands)
            from_config = [h for h in usable if ratio_key not in h.placement or reserved_key not in h.placement]
            sources = [f"policy config capacity.{ratio_key} = {cfg[ratio_key]:g}, capacity.{reserved_key} = {cfg[reserved_key]:g}"] if from_config else []
            sources += [f"{h.name}: {ratio_key} {h.placement[ratio_key]:g}, {reserved_key} {h.placement[reserved_key]:g} as nova there will use them"
                        for h in usable if h not in from_config]
            out.append(f"servers {names}: together ask {need:g} {dim} but the {len(usable)} host(s) offer {cap:g} ({'; '.join(sources)})")
    return out


# --- reading the stack -------------------------------------------------------------------------


def flavor_props(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: known(props, k) for k in ("name", "flavorId", "ram", "vcpus", "disk", "ephemeral", "swap")}


def stack_flavors(resources) -> dict[str, dict[str, Any]]:
    out = {}
    for r in resources:
        if r.resource_type == FLAVOR:
            p = flavor_props(r.props)
            out[p["name"] or r.name] = p
    return out


def server_flavor(props: Mapping[str, Any], flavors: Mapping[str, Mapping[str, Any]], known_sizes: Mapping[str, Mapping[str, Any]]) -> tuple[Optional[str], Optional[dict[str, float]]]:
    """(flavor name, {ramMb, vcpus, diskGb}) of a server; (None, None) while not known."""
    fid, fname = known(props, "flavorId"), known(props, "flavorName")
    for name, f in flavors.items():
        if (fid is not None and f.get("flavorId") == fid) or (fname is not None and name == fname):
            if None in (f.get("ram"), f.get("vcpus"), f.get("disk")):
                return name, None
            return name, {"ramMb": f["ram"], "vcpus": f["vcpus"], "diskGb": f["disk"] + (f.get("ephemeral") or 0)}
    if fname is not None:
        return fname, dict(known_sizes[fname]) if fname in known_sizes else None
    return (None, None)


# --- validators --------------------------------------------------------------------------------


def _report(report: ReportViolation, messages: list[str], urn: Optional[str] = None) -> None:
    for m in messages:
        report(m, urn) if urn else report(m)


def flavor_rule(policy: str, check):
    """A resource validator that runs `check(name, flavor, config)` on every flavor."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type == FLAVOR:
            f = flavor_props(args.props)
            _report(report, check(f.get("name") or args.name, f, config_for(policy, args.get_config())))

    return validate


validate_flavor_size = flavor_rule("flavor-size-bounds", check_flavor_size)
validate_ram_per_vcpu = flavor_rule("flavor-ram-per-vcpu", check_ram_per_vcpu)
validate_ram_granularity = flavor_rule("flavor-ram-granularity", check_ram_granularity)


def validate_flavor_naming(args, report):
    if args.resource_type == FLAVOR:
        _report(report, check_flavor_naming(known(args.props, "name"), config_for("flavor-naming", args.get_config())))


def validate_volume_size(args, report):
    if args.resource_type == VOLUME:
        name = known(args.props, "name") or args.name
        _report(report, check_volume_size(name, known(args.props, "size"), config_for("volume-size-bounds", args.get_config())))


def validate_volume_protected(args, report):
    if args.resource_type == VOLUME:
        _report(report, check_volume_protected(known(args.props, "name") or args.name, bool(args.opts.protect)))


def validate_server_flavor_allowed(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config_for("server-flavor-allowed", args.get_config())
    flavors = stack_flavors(args.resources)
    allowed = set(cfg["allowedFlavors"]) | set(flavors)
    for r in args.resources:
        if r.resource_type != INSTANCE:
            continue
        name, _ = server_flavor(r.props, flavors, {})
        fname = known(r.props, "flavorName")
        fid = known(r.props, "flavorId")
        if name is None and fname is None and fid is None:
            continue  # not known yet
        shown = name or fname or f"id {fid}"
        if shown not in allowed:
            report(
                f"server {known(r.props, 'name') or r.name}: flavor {shown} is neither created by this stack nor in "
                f"{sorted(cfg['allowedFlavors'])} (policy config server-flavor-allowed.allowedFlavors)",
                r.urn,
            )


def _hosts(args: StackValidationArgs, cfg: Mapping[str, Any]) -> list[Host]:
    outputs = [(known(r.props, "hostName") or r.name, r.props) for r in args.resources if r.resource_type == COMPUTE_HOST]
    placements = {known(r.props, "hostName") or r.name: placement_of(r.props)
                  for r in args.resources if r.resource_type == HOST_PLACEMENT}
    return hosts_from(cfg.get("hosts") or [], outputs, placements)


def validate_flavor_fits_hosts(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config_for("flavor-fits-hosts", args.get_config())
    flavors = stack_flavors(args.resources)
    _report(report, check_flavor_fits_hosts(flavors, _hosts(args, cfg)))


def validate_capacity(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config_for("capacity", args.get_config())
    flavors = stack_flavors(args.resources)
    demands = []
    for r in args.resources:
        if r.resource_type == INSTANCE:
            _, need = server_flavor(r.props, flavors, cfg["knownFlavors"])
            if need is not None:
                demands.append((known(r.props, "name") or r.name, need))
    _report(report, check_capacity(demands, _hosts(args, cfg), cfg))


# --- the policies ------------------------------------------------------------------------------

_BOUNDS = {"type": "object", "properties": {"min": {"type": "number"}, "max": {"type": "number"}}}
_HOSTS = {
    "type": "array",
    "items": {"type": "object", "properties": {"name": {"type": "string"}, "ramMb": {"type": "number"}, "vcpus": {"type": "number"}, "diskGb": {"type": "number"}}},
}


def schema(**props: dict) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties=props)


MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY

POLICIES = [
    ResourceValidationPolicy(
        name="flavor-size-bounds",
        description="Flavor RAM, vCPUs, root disk, ephemeral disk and swap each within configured bounds.",
        enforcement_level=MANDATORY,
        validate=validate_flavor_size,
        config_schema=schema(**{k: _BOUNDS for k in ("ramMb", "vcpus", "diskGb", "ephemeralGb", "swapMb")}),
    ),
    ResourceValidationPolicy(
        name="flavor-ram-per-vcpu",
        description="Flavor RAM per vCPU within a ratio band.",
        enforcement_level=ADVISORY,
        validate=validate_ram_per_vcpu,
        config_schema=schema(minMbPerVcpu={"type": "number"}, maxMbPerVcpu={"type": "number"}),
    ),
    ResourceValidationPolicy(
        name="flavor-ram-granularity",
        description="Flavor RAM is a multiple of a configured step.",
        enforcement_level=ADVISORY,
        validate=validate_ram_granularity,
        config_schema=schema(stepMb={"type": "number"}),
    ),
    ResourceValidationPolicy(
        name="flavor-naming",
        description="Flavor names are <family>.<size>, such as x1.tiny.",
        enforcement_level=ADVISORY,
        validate=validate_flavor_naming,
        config_schema=schema(familyPattern={"type": "string"}, sizes={"type": "array", "items": {"type": "string"}}),
    ),
    StackValidationPolicy(
        name="server-flavor-allowed",
        description="A server's flavor is in the allowed list or created by the stack.",
        enforcement_level=MANDATORY,
        validate=validate_server_flavor_allowed,
        config_schema=schema(allowedFlavors={"type": "array", "items": {"type": "string"}}),
    ),
    ResourceValidationPolicy(
        name="volume-size-bounds",
        description="Volume sizes within configured bounds.",
        enforcement_level=MANDATORY,
        validate=validate_volume_size,
        config_schema=schema(minGb={"type": "number"}, maxGb={"type": "number"}),
    ),
    ResourceValidationPolicy(
        name="volume-protected",
        description="Volumes hold data: they should be protected.",
        enforcement_level=ADVISORY,
        validate=validate_volume_protected,
    ),
    StackValidationPolicy(
        name="flavor-fits-hosts",
        description="Every created flavor fits the largest compute host.",
        enforcement_level=MANDATORY,
        validate=validate_flavor_fits_hosts,
        config_schema=schema(hosts=_HOSTS),
    ),
    StackValidationPolicy(
        name="capacity",
        description="All servers' flavors together fit the hosts times nova's allocation ratios.",
        enforcement_level=MANDATORY,
        validate=validate_capacity,
        config_schema=schema(
            hosts=_HOSTS,
            cpuAllocationRatio={"type": "number"},
            ramAllocationRatio={"type": "number"},
            diskAllocationRatio={"type": "number"},
            reservedHostMemoryMb={"type": "number"},
            reservedHostDiskGb={"type": "number"},
            reservedHostCpus={"type": "number"},
            knownFlavors={"type": "object"},
        ),
    ),
]
