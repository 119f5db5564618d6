"""The shorter end-to-end runs on the lab's other clouds: zed with the tutorial's Linux bridge, and
epoxy with ML2/Open vSwitch (test_lab_e2e.py runs the whole suite on the default, epoxy with OVN).

For each: `lab/lab up --release R --network N --hosts 1`, then the README's `./novalab up` on its
empty host (its own state directory, so no other stack is touched): the host's gate says it is up in
nova, server-1 is ACTIVE on it and its floating IP answers ping from the "outside" namespace; then
`pulumi destroy` takes the host out of nova. The lab is left down, as test_lab_teardown.py expects.

Marker `lab_clouds` (+ `lab`, `engine`): `./novalab test --all` runs them; they need a lab each, about
ten minutes apiece on a warm machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from support import numbers
from support.engine import ROOT, Pulumi
from support.lab import LAB, LAB_DIR, LAB_MARKS, lab_cloud, lab_stack, openstack, pings, sh

pytestmark = [*LAB_MARKS, pytest.mark.engine, pytest.mark.lab_clouds]

PASSPHRASE = "novalab-other-clouds-passphrase"
CLOUDS = [("zed", "linuxbridge"), ("epoxy", "openvswitch")]


def agents_on(host: str) -> dict[str, bool]:
    rows = json.loads(openstack("network", "agent", "list", "--host", host, "-f", "json"))
    return {r["Binary"]: r["Alive"] in (True, ":-)") for r in rows}


@pytest.mark.parametrize("release,network", CLOUDS, ids=[f"{r}-{n}" for r, n in CLOUDS])
def test_one_host_a_reachable_server_and_destroy(release, network):
    sh(str(LAB), "down", timeout=600)
    start = time.monotonic()
    sh(str(LAB), "up", "--release", release, "--network", network, "--hosts", "1", timeout=2400)
    numbers.record(f"{release} + {network}: lab up, s", round(time.monotonic() - start))
    assert lab_cloud() == (release, network)
    assert lab_stack()["novalab:network"]["backend"] == network

    state = LAB_DIR / f"e2e-{release}-{network}"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    pulumi = Pulumi(ROOT, state / "backend", stack="lab", config_file=state / "Pulumi.lab.yaml", passphrase=PASSPHRASE)
    env = dict(pulumi.env, NOVALAB_STATE=str(state))

    start = time.monotonic()
    up = subprocess.run([str(ROOT / "novalab"), "up"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert up.returncode == 0, f"{up.stdout[-6000:]}\n{up.stderr[-3000:]}"
    numbers.record(f"{release} + {network}: ./novalab up on a fresh host, s", round(time.monotonic() - start))

    outputs = pulumi.outputs()
    assert "compute host compute-1 is up and mapped to its cell" in outputs["computeHosts"]["compute-1"]["gate"]
    agents = agents_on("compute-1")
    assert agents and all(agents.values()), agents
    server = json.loads(openstack("server", "show", "server-1", "-f", "json"))
    assert server["status"] == "ACTIVE" and server["OS-EXT-SRV-ATTR:host"] == "compute-1"
    floating = outputs["servers"]["server-1"]["floatingIp"]
    deadline = time.monotonic() + 180  # the guest boots under TCG: its first answer takes a while
    while not pings(floating):
        assert time.monotonic() < deadline, f"server-1's floating IP {floating} does not answer ping on {release} + {network}"
        time.sleep(3)

    noop = pulumi.preview("--expect-no-changes", check=False)
    assert noop.returncode == 0, noop.output[-3000:]

    pulumi.destroy("--exclude-protected")
    pulumi.run("state", "unprotect", "--all", "-s", "lab", "--yes")
    pulumi.destroy()
    assert "compute-1" not in openstack("compute", "service", "list", "-f", "value", "-c", "Host").split()
    assert not json.loads(openstack("network", "agent", "list", "--host", "compute-1", "-f", "json"))
    sh(str(LAB), "down", timeout=600)
