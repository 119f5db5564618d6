"""lab/lib/topology.py turns `ip -j` output into the lab's picture (Graphviz DOT). Pure; no lab needed."""

from __future__ import annotations

import importlib.util
import subprocess

from support.lab import ROOT

spec = importlib.util.spec_from_file_location("topology", ROOT / "lab" / "lib" / "topology.py")
topology = importlib.util.module_from_spec(spec)
spec.loader.exec_module(topology)


def link(ifindex, name, kind="", master=None, addr=None, link_index=None, netnsid=None):
    out = {"ifindex": ifindex, "ifname": name, "addr_info": [{"family": "inet", "local": a.split("/")[0],
                                                             "prefixlen": int(a.split("/")[1])} for a in addr or []]}
    if kind:
        out["linkinfo"] = {"info_kind": kind}
    if master:
        out["master"] = master
    if link_index is not None:
        out["link_index"], out["link_netnsid"] = link_index, netnsid
    return out


# The machine: the management bridge, and the veth whose peer is compute-1's eth1 (ifindex 2 there).
DATA = {
    "root": [
        link(1, "lo", addr=["127.0.0.1/8"]),
        link(32, "novalab-mgmt", "bridge", addr=["10.77.0.1/24"]),
        link(37, "nl-c1-m", "veth", master="novalab-mgmt", link_index=2, netnsid=2),
        link(38, "docker0", "bridge"),
    ],
    "namespaces": {
        "novalab-compute-1": {"id": 2, "links": [
            link(1, "lo"), link(2, "eth1", "veth", addr=["10.77.0.21/24"]), link(3, "eth2", "veth", master="br100"),
            link(4, "br100", "bridge"), link(9, "vxlan-520", "vxlan"),
        ]},
        "qrouter-1234": {"id": 5, "links": []},
    },
}


def test_every_lab_bridge_namespace_interface_and_address_is_drawn():
    dot = topology.to_dot(DATA)
    assert '"root/novalab-mgmt" [label="bridge novalab-mgmt\\n10.77.0.1/24"' in dot
    assert '"novalab-compute-1/eth1" [label="eth1\\n10.77.0.21/24"' in dot
    assert '"novalab-compute-1/eth2" -> "novalab-compute-1/br100"' in dot  # the tutorial's br100 on eth2
    assert '"root/novalab-mgmt" -> "novalab-compute-1/eth1" [label="nl-c1-m"' in dot  # the veth pair
    assert "docker0" not in dot and "vxlan-520" not in dot and '"novalab-compute-1/lo"' not in dot


def test_graphviz_renders_it():
    svg = subprocess.run(["dot", "-Tsvg"], input=topology.to_dot(DATA), capture_output=True, text=True, check=True).stdout
    assert "<svg" in svg and "10.77.0.21/24" in svg and "br100" in svg
