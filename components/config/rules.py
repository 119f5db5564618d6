"""Rules across keys, run on the parsed StackConfig (or on what a config with bad fields still
holds, partial.salvage): names that must be unique or must agree, what servers need. Each problem
is (config location, error); a value in it is a BadValue, so report.py can hide a secret one."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..overrides import override_problems
from .fields import BadValue
from .partial import known
from .report import Line, Loc

Problems = list[tuple[Loc, Exception]]


def _listed(items: Any) -> list[tuple[int, Any]]:
    return [(i, item) for i, item in enumerate(items or []) if item is not None]


def _duplicates(key: str, items: Iterable[tuple[int, Any]], field: str, what: str,
                fold: Callable[[Any], Any] = str, note: str = "") -> Problems:
    """One problem per value (as FOLD compares them) that more than one entry holds."""
    seen: dict[Any, list[int]] = {}
    first: dict[Any, Any] = {}
    for index, item in items:
        value = known(item, field)
        if value is not None:
            seen.setdefault(fold(value), []).append(index)
            first.setdefault(fold(value), value)
    return [
        ((key,), BadValue(f"{what} {{value}} is used by entries {entries}{note}; each must be unique", first[k]))
        for k, entries in seen.items() if len(entries) > 1
    ]


def uniqueness(cfg: Any) -> Problems:
    hosts = _listed(known(cfg, "compute_hosts"))
    servers = _listed(known(cfg, "servers"))
    flavors = _listed(known(cfg, "flavors"))
    volumes = [(i, v) for _, s in servers for i, v in _listed(known(s, "volumes"))]
    return (
        # nova's database compares host names ignoring case (MySQL's default collation).
        _duplicates("computeHosts", hosts, "name", "host name", str.casefold, " (ignoring case, as nova does)")
        + _duplicates("computeHosts", hosts, "address", "address")  # IpAddress spells each one way
        + _duplicates("flavors", flavors, "name", "flavor name")
        + _duplicates("flavors", flavors, "id", "flavor id")
        + _duplicates("servers", servers, "name", "server name")
        + _duplicates("servers[*].volumes", volumes, "name", "volume name")
    )


def overrides(cfg: Any) -> Problems:
    backend = known(known(cfg, "network"), "backend", "linuxbridge")
    lines = override_problems("configOverrides", known(cfg, "config_overrides"), backend)
    for i, host in _listed(known(cfg, "compute_hosts")):
        lines += override_problems(f"computeHosts[{i}].configOverrides", known(host, "config_overrides"), backend)
    return [((), Line(line)) for line in lines]


def hosts(cfg: Any) -> Problems:
    problems: Problems = []
    controller = known(known(cfg, "controller"), "name")
    bridge = known(known(cfg, "network"), "bridge")
    for i, host in _listed(known(cfg, "compute_hosts")):
        name = known(host, "name")
        if controller is not None and name is not None and name.casefold() == controller.casefold():
            problems.append(((f"computeHosts", i, "name"), BadValue(
                "{value} is the controller's name; a compute host needs its own", name)))
        if bridge is not None and known(host, "bridge_interface") == bridge:
            problems.append(((f"computeHosts", i, "bridgeInterface"), BadValue(
                "{value} is the bridge itself; expected the physical NIC the bridge enslaves (the tutorial's eth2)",
                bridge)))
    return problems


def flavors(cfg: Any) -> Problems:
    problems: Problems = []
    created = {known(f, "name") for _, f in _listed(known(cfg, "flavors"))} - {None}
    adopted = _listed(known(cfg, "adopt_flavors"))
    adopted_ids = {known(f, "id") for _, f in adopted} - {None}
    for i, f in adopted:
        if known(f, "name") in created:
            problems.append((("adoptFlavors", i, "name"), BadValue(
                "{value} is also under flavors; a flavor is either created or adopted, never both", f.name)))
    for i, f in _listed(known(cfg, "flavors")):
        if known(f, "id") in adopted_ids:
            problems.append((("flavors", i, "id"), BadValue(
                "id {value} belongs to an adopted flavor; pick a free id or omit it", f.id)))
    names = created | {known(f, "name") for _, f in adopted} | set(known(cfg, "known_flavors") or ())
    names.discard(None)
    for i, s in _listed(known(cfg, "servers")):
        flavor = known(s, "flavor")
        if flavor is not None and flavor not in names:
            problems.append((("servers", i, "flavor"), BadValue(
                f"unknown flavor {{value}}; expected one of {sorted(names)} "
                "(declare it under flavors, adoptFlavors or knownFlavors)", flavor)))
    return problems


def access(cfg: Any) -> Problems:
    problems: Problems = []
    if known(cfg, "servers") and known(cfg, "keypair") is None:
        problems.append((("keypair",), ValueError("servers are declared but no keypair; expected {name, publicKey?}")))
    ssh = known(cfg, "ssh")
    if ssh is not None and not known(ssh, "private_key_path") and known(cfg, "ssh_private_key") is None:
        problems.append((("ssh",), ValueError(
            "no private key; set ssh.privateKeyPath or the secret sshPrivateKey "
            "(`pulumi config set --secret novalab:sshPrivateKey < key`)")))
    return problems


def network(cfg: Any) -> Problems:
    backend = known(known(cfg, "network"), "backend", "linuxbridge")
    problems: Problems = []
    for key, field in (("ovnSouthbound", "ovn_southbound"), ("novaMetadataHost", "nova_metadata_host")):
        if backend != "ovn" and known(known(cfg, "services"), field) is not None:
            problems.append((("services", key), ValueError(
                f"is only used with network.backend ovn (the stack's backend is {backend}); remove it")))
    if backend == "ovn" and known(cfg, "metadata_proxy_shared_secret") is None and known(cfg, "network") is not None:
        problems.append((("metadataProxySharedSecret",), ValueError(
            "network.backend ovn runs the metadata agent on every compute host, which signs with nova's "
            "metadata secret: `pulumi config set --secret novalab:metadataProxySharedSecret` (the "
            "controller's nova.conf [neutron] metadata_proxy_shared_secret)")))
    hosts = _listed(known(cfg, "compute_hosts"))
    if backend == "linuxbridge":
        problems += [
            (("computeHosts", i, "tunnelAddress"), ValueError(
                "is for the Open vSwitch backends (ovn, openvswitch); the Linux bridge agent tunnels from "
                "the host's address: remove it"))
            for i, h in hosts if known(h, "tunnel_address") is not None
        ]
    problems += _duplicates("computeHosts", hosts, "tunnel_address", "tunnel address",
                            lambda a: str(a).split("/")[0])
    return problems + tunnel_addresses(cfg, hosts)


def tunnel_addresses(cfg: Any, hosts: list[tuple[int, Any]]) -> Problems:
    """A tunnel address goes on the provider bridge: never a management address (the host's SSH
    session could leave by the bridge), and required where the userspace datapath must tunnel."""
    net = known(cfg, "network")
    problems: Problems = []
    owners = {known(h, "address"): f"computeHosts[{i}]" for i, h in hosts if known(h, "address") is not None}
    controller = known(known(cfg, "controller"), "address")
    if controller is not None:
        owners.setdefault(controller, "the controller")
    for i, h in hosts:
        tunnel = known(h, "tunnel_address")
        if tunnel is not None and (owner := owners.get(tunnel.split("/")[0])):
            problems.append((("computeHosts", i, "tunnelAddress"), BadValue(
                f"{{value}} is the management address of {owner}; the tunnel endpoint goes on network.bridge and "
                "needs an address of its own (or leave tunnelAddress unset: the kernel datapath tunnels from the "
                "management address)", tunnel)))
        overlay = known(net, "tunnel_overlay")
        if tunnel is None and known(net, "datapath_type") == "netdev" and overlay not in (None, "none"):
            problems.append((("computeHosts", i, "tunnelAddress"), ValueError(
                f"network.datapathType netdev tunnels ({overlay}) only from an address on one of Open vSwitch's "
                "bridges: set an address with its prefix on the VM network (e.g. 10.0.1.20/24), which novalab puts "
                f"on network.bridge {known(net, 'bridge')}")))
    return problems


RULES = (uniqueness, overrides, hosts, flavors, access, network)


def stack_rules(cfg: Any) -> Problems:
    return [problem for rule in RULES for problem in rule(cfg)]
