"""Benchmark: evaluate the novalab program under Pulumi mocks for growing labs, against a baseline
that registers the same provider resources with the bare SDK.

The baseline registers exactly the program's provider (custom) resources: same types, same names,
same input keys, the same dependencies, with constant text where the program renders files and builds
command lines (every stdin a secret). The hosts' steps come from the same step table the program
walks (components/steps.py). What it leaves out is the program's own work: config parsing and
checks, rendering, and the component resources that group the rest (one ComputeHost per host, one
Server per server, one Flavors); the table shows how many. Each run checks that both registered
the same provider resources, so the ratio compares like with like.

Each measurement runs in its own Python process, so peak RSS is that run's own. Prints seconds,
peak memory, resources registered and the ratio to the baseline.

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
sys.path.insert(0, str(ROOT / "tests"))
SIZES = [(1, 10), (10, 100), (100, 1000)]


def bench_config(hosts: int, servers: int) -> dict:
    from support.mocks import dev_config  # the config the tests use, grown

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


def run_program(hosts: int, servers: int):
    from support.mocks import deploy

    return deploy(bench_config(hosts, servers)).mocks


def run_baseline(hosts: int, servers: int):
    """The program's provider resources, registered directly with pulumi-command / pulumi-openstack."""
    import pulumi
    import pulumi_openstack as openstack
    from pulumi_command import remote
    from support.mocks import PUBLIC_KEY, Recorder

    from components.compute_host import SshAccess
    from components.drift import FILE_KEYS, REVISION, REVISIONS, SECRET_CHANGES, reads
    from components.host_record import record_name
    from components.host_state import HostFileResource, HostServicesResource
    from components.network import backend_of
    from components.render import NOVA_COMPUTE_CONF, NOVA_CONF
    from components.steps import CONTROLLER, NOVA_COMPUTE, PREVIOUS_BATCH, dependencies, host_steps

    backend = backend_of(None)
    table = host_steps(backend)  # the program's steps, as its ComputeHost makes them
    follows = dependencies(table)
    # The record row's records (host_record.py): one per file, one for the services; nothing rendered.
    paths = [NOVA_CONF, NOVA_COMPUTE_CONF, *backend.config_files]
    services = [NOVA_COMPUTE, *(a.service for a in backend.agents)]
    mocks = Recorder()
    pulumi.runtime.set_mocks(mocks, project="novalab", stack="bench", preview=False)

    @pulumi.runtime.test
    def program():
        key = pulumi.Output.secret("key")
        gates = []
        prev_gates: list = []  # dev config: rollout.batchSize 0, all hosts at once
        for h in range(hosts):
            name = f"compute-{h}"
            dials = dict(dial_error_limit=SshAccess.DIAL_ERROR_LIMIT, per_dial_timeout=SshAccess.PER_DIAL_TIMEOUT)
            conn = remote.ConnectionArgs(host=f"10.1.{h // 250}.{h % 250 + 1}", port=22, user="root", private_key=key, **dials)
            ctl = remote.ConnectionArgs(host="10.0.0.6", port=22, user="root", private_key=key, **dials)
            files = pulumi.Output.secret("files")
            made: dict = {}
            for step in table:
                deps = [d for n in follows[step.name]
                        for d in (prev_gates if n == PREVIOUS_BATCH else made[n] if isinstance(made[n], list) else [made[n]])]
                if step.record:
                    reading = {"host": "h", "privateKey": key, "reads": reads(paths, services)}
                    opts = pulumi.ResourceOptions(depends_on=deps)
                    made[step.name] = [
                        *(HostFileResource(record_name(name, p), {"connection": reading, REVISION: None, SECRET_CHANGES: None,
                                                                  **{k: "x" for k in FILE_KEYS}}, opts) for p in paths),
                        HostServicesResource(f"{name}-services", {"connection": reading, REVISIONS: None,
                                                                  **{s: "running" for s in services}}, opts),
                    ]
                    continue
                made[step.name] = remote.Command(
                    f"{name}-{step.name}", connection=ctl if step.where == CONTROLLER else conn, create="true",
                    delete="true" if step.delete else None,
                    stdin=pulumi.Output.secret("stdin") if step.stdin is not None else None,
                    triggers=[files] if step.restart or step.reload else None,
                    logging=remote.Logging(step.logging) if step.logging else None,
                    add_previous_output_in_env=False, opts=pulumi.ResourceOptions(depends_on=deps))
            gates.append(made["gate"])
        kp = openstack.compute.Keypair("gridka-api-node", name="gridka-api-node", public_key=PUBLIC_KEY)
        fl = openstack.compute.Flavor("x1.tiny", name="x1.tiny", flavor_id="6", ram=256, disk=2, vcpus=1, ephemeral=0,
                                      swap=0, rx_tx_factor=1.0, is_public=True)
        for s in range(servers):
            n = f"server-{s}"
            tiny = s % 2
            inst = openstack.compute.Instance(
                f"{n}-instance", name=n, image_name="cirros", flavor_id=fl.flavor_id if tiny else None,
                flavor_name=None if tiny else "m1.tiny", key_pair=kp.name, security_groups=["default"],
                networks=[openstack.compute.InstanceNetworkArgs(name="net1")], opts=pulumi.ResourceOptions(depends_on=gates))
            fip = openstack.networking.FloatingIp(f"{n}-fip", pool="public")
            openstack.networking.FloatingIpAssociate(f"{n}-fip-assoc", floating_ip=fip.address,
                                                     port_id=inst.networks.apply(lambda nets: nets[0].port))
            vol = openstack.blockstorage.Volume(f"vol-{s}", name=f"vol-{s}", size=1, opts=pulumi.ResourceOptions(protect=True))
            openstack.compute.VolumeAttach(f"{n}-vol-{s}-attach", instance_id=inst.id, volume_id=vol.id, device="/dev/vdb")
        openstack.identity.Ec2CredentialV3("ec2-credentials")

    program()
    return mocks


def measure_one(kind: str, hosts: int, servers: int) -> dict:
    start = time.perf_counter()
    mocks = (run_program if kind == "program" else run_baseline)(hosts, servers)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    custom = sorted(f"{r.typ} {r.name} {sorted(r.inputs)}" for r in mocks.custom())
    return {"kind": kind, "hosts": hosts, "servers": servers, "seconds": seconds, "peak_mb": peak_mb,
            "custom": custom, "components": len(mocks.resources) - len(custom)}


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        print(json.dumps(measure_one(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        return
    sizes = SIZES[:2] if "--quick" in sys.argv else SIZES
    print(f"{'hosts':>5} {'servers':>7} {'provider res.':>13} {'components':>10} {'program s':>9} {'baseline s':>10} "
          f"{'ratio':>6} {'program MB':>10} {'baseline MB':>11}")
    for hosts, servers in sizes:
        rows = {}
        for kind in ("program", "baseline"):
            out = subprocess.run([sys.executable, __file__, "--one", kind, str(hosts), str(servers)],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{kind} run failed ({hosts} hosts, {servers} servers):\n{out.stderr[-3000:]}")
            rows[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        p, b = rows["program"], rows["baseline"]
        if p["custom"] != b["custom"]:
            only_p = sorted(set(p["custom"]) - set(b["custom"]))[:5]
            only_b = sorted(set(b["custom"]) - set(p["custom"]))[:5]
            sys.exit(f"the baseline does not register the program's provider resources: program only {only_p}, "
                     f"baseline only {only_b}")
        print(f"{hosts:>5} {servers:>7} {len(p['custom']):>13} {p['components']:>10} {p['seconds']:>9.2f} "
              f"{b['seconds']:>10.2f} {p['seconds'] / b['seconds']:>6.2f} {p['peak_mb']:>10.0f} {b['peak_mb']:>11.0f}",
              flush=True)


if __name__ == "__main__":
    main()
