"""Benchmark: evaluate the novalab program under Pulumi mocks for growing labs, against a baseline
that registers the same resources with the bare SDK (no config parsing, no components, no rendering).

Each measurement runs in its own Python process, so peak RSS is that run's own. Prints a table:
seconds, peak memory, resources registered, and the ratio to the baseline.

    ./novalab benchmark            # 1/10/100 hosts x 10/100/1000 servers
    ./novalab benchmark --quick    # 1 host x 10 servers, 10 hosts x 100 servers
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = [(1, 10), (10, 100), (100, 1000)]


def lab_config(hosts: int, servers: int) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import dev_config  # the same config the tests use

    return dev_config(
        computeHosts=[
            {"name": f"compute-{i}", "address": f"10.1.{i // 250}.{i % 250 + 1}", "bridgeInterface": "eth2", "virtType": "qemu"}
            for i in range(hosts)
        ],
        servers=[
            {"name": f"server-{i}", "image": "cirros", "flavor": "x1.tiny" if i % 2 else "m1.tiny", "network": "net1",
             "floatingIpPool": "public", "volumes": [{"name": f"vol-{i}", "sizeGb": 1, "device": "/dev/vdb"}]}
            for i in range(servers)
        ],
    )


def run_program(hosts: int, servers: int) -> int:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import deploy

    d = deploy(lab_config(hosts, servers))
    return len(d.mocks.resources)


def run_baseline(hosts: int, servers: int) -> int:
    """The same resource graph, registered directly with pulumi-command / pulumi-openstack."""
    sys.path.insert(0, str(ROOT / "tests"))
    import pulumi
    import pulumi_openstack as openstack
    from pulumi_command import remote
    from conftest import Recorder

    mocks = Recorder()
    pulumi.runtime.set_mocks(mocks, project="novalab", stack="bench", preview=False)

    @pulumi.runtime.test
    def program():
        key = pulumi.Output.secret("key")
        gates = []
        for h in range(hosts):
            conn = remote.ConnectionArgs(host=f"10.1.0.{h}", user="root", private_key=key)
            prev = None
            for step in ("packages", "bridge", "config", "restart-nova-compute", "restart-l2-agent"):
                prev = remote.Command(f"c{h}-{step}", connection=conn, create="true", stdin=pulumi.Output.secret("x"),
                                      opts=pulumi.ResourceOptions(depends_on=[prev] if prev else []))
            gates.append(remote.Command(f"c{h}-gate", connection=conn, create="true", opts=pulumi.ResourceOptions(depends_on=[prev])))
        kp = openstack.compute.Keypair("kp", public_key="ssh-ed25519 AAAA")
        fl = openstack.compute.Flavor("x1.tiny", ram=256, disk=2, vcpus=1, flavor_id="6")
        for s in range(servers):
            inst = openstack.compute.Instance(f"s{s}", image_name="cirros", flavor_id=fl.flavor_id, key_pair=kp.name,
                                              networks=[openstack.compute.InstanceNetworkArgs(name="net1")],
                                              opts=pulumi.ResourceOptions(depends_on=gates))
            fip = openstack.networking.FloatingIp(f"s{s}-fip", pool="public")
            openstack.networking.FloatingIpAssociate(f"s{s}-assoc", floating_ip=fip.address,
                                                     port_id=inst.networks.apply(lambda n: n[0].port))
            vol = openstack.blockstorage.Volume(f"v{s}", size=1)
            openstack.compute.VolumeAttach(f"s{s}-att", instance_id=inst.id, volume_id=vol.id, device="/dev/vdb")

    program()
    return len(mocks.resources)


def measure_one(kind: str, hosts: int, servers: int) -> dict:
    start = time.perf_counter()
    count = (run_program if kind == "program" else run_baseline)(hosts, servers)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kind": kind, "hosts": hosts, "servers": servers, "seconds": seconds, "peak_mb": peak_mb, "resources": count}


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        print(json.dumps(measure_one(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        return
    sizes = SIZES[:2] if "--quick" in sys.argv else SIZES
    print(f"{'hosts':>5} {'servers':>7} {'resources':>9} {'program s':>9} {'baseline s':>10} {'ratio':>6} {'program MB':>10} {'baseline MB':>11}")
    for hosts, servers in sizes:
        rows = {}
        for kind in ("program", "baseline"):
            out = subprocess.run([sys.executable, __file__, "--one", kind, str(hosts), str(servers)],
                                 capture_output=True, text=True, check=True)
            rows[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        p, b = rows["program"], rows["baseline"]
        print(f"{hosts:>5} {servers:>7} {p['resources']:>9} {p['seconds']:>9.2f} {b['seconds']:>10.2f} "
              f"{p['seconds'] / b['seconds']:>6.2f} {p['peak_mb']:>10.0f} {b['peak_mb']:>11.0f}", flush=True)


if __name__ == "__main__":
    main()
