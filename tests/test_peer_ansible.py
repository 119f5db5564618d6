"""The Ansible peer of the benchmark (benchmarks/ansible/, its inventory from benchmarks/ansible_peer.py)
does novalab's work and nothing else, so `./novalab benchmark --peers` compares equal work: the same
scripts with the same arguments, the same files on the host, restarts only of what changed, and the
stack's secrets only where novalab puts them.
"""

from __future__ import annotations

import sys

import pytest
import yaml

from components.compute_host import packages_command
from components.config.stack import parse_stack_config
from components.scripts import SCRIPTS_DIR
from support.engine import ROOT
from support.fleet import QUICK

sys.path.insert(0, str(ROOT / "benchmarks"))
import ansible_peer  # noqa: E402
import bench_peers  # noqa: E402

LAB_STACK = yaml.safe_load((ROOT / "Pulumi.lab.yaml").read_text())["config"]
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKQod6aDgeLTQYvQrVasKxRNiHjRmUW34HIG4+GhUbhI"
SECRETS = {
    "novalab:rabbitPassword": "rabbit-s3cret",
    "novalab:novaServicePassword": "nova-{{ lookup('pipe', 'id') }}",
    "novalab:metadataProxySharedSecret": "metadata-s3cret",
    "novalab:sshPrivateKey": "not a key, never read here",
}


def lab_stack(**changes) -> dict:
    """The lab's stack config with every host pinned (the peer connects only to pinned hosts)."""
    raw = yaml.safe_load(yaml.safe_dump(LAB_STACK))
    raw["novalab:controller"]["hostKey"] = HOST_KEY
    for host in raw["novalab:computeHosts"]:
        host["hostKey"] = HOST_KEY
    raw.update(changes)
    return raw


@pytest.fixture
def inventory(tmp_path):
    path = ansible_peer.write_inventory(lab_stack(), SECRETS, tmp_path / "inventory")
    return path, ansible_peer.read_inventory(path)


def compute_host(inv: dict, name: str = "compute-1") -> dict:
    return inv["all"]["children"]["compute"]["hosts"][name]


def test_the_peer_runs_novalab_s_own_scripts_with_novalab_s_arguments(inventory):
    _, inv = inventory
    host = compute_host(inv)
    runs = host["novalab_steps"]["packages"]
    # The same command line novalab's packages step runs, rebuilt from what the peer runs.
    from components.scripts import script_command
    cfg = parse_stack_config({**lab_stack(), **SECRETS}, SECRETS)
    novalab = packages_command(ansible_peer.compute_host_args(cfg, 0), cfg.compute_hosts[0].address)
    assert " && ".join(script_command(r["script"], *r["args"]) for r in runs) == novalab
    scripts = inv["all"]["vars"]["novalab_scripts"]
    assert all((SCRIPTS_DIR / name).is_file() for name in scripts)
    assert "write_files.sh" not in scripts  # the peer writes the files with its templates
    gate = host["novalab_steps"]["gate"][0]
    assert gate["script"] == "gate_compute_host.sh" and "--after" not in gate["args"]
    assert host["novalab_network_steps"] == ["bridge"] and host["novalab_steps"]["bridge"][0]["script"] == "configure_ovs.sh"


def ansible_host_vars(inventory_file, host: str) -> dict:
    """A host's variables as Ansible itself loads them from the inventory."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    hosts = InventoryManager(loader=loader, sources=[str(inventory_file)])
    return VariableManager(loader=loader, inventory=hosts).get_vars(host=hosts.get_host(host))


def test_ansible_reads_text_jinja_would_evaluate_as_text_and_numbers_as_written(tmp_path):
    from ansible.template import is_trusted_as_template

    # linuxbridge on 2025.1: the controller step passes the compute API microversion "2.100".
    path = ansible_peer.write_inventory(lab_stack(**{"novalab:network": {"backend": "linuxbridge"}}), SECRETS, tmp_path)
    loaded = ansible_host_vars(path, "compute-1")
    # Ansible gives an !unsafe value the type its text resolves to: "2.100" must stay text.
    assert "2.100" in loaded["novalab_steps"]["controller"][0]["args"]
    # Never evaluated: a password holding a Jinja expression, the scripts (`${#a[@]}` opens a Jinja comment).
    nova_conf = next(f for f in loaded["novalab_files"] if f["path"] == "/etc/nova/nova.conf")
    password = dict(map(tuple, nova_conf["sections"][2]["options"]))["password"]
    assert password == "nova-{{ lookup('pipe', 'id') }}" and not is_trusted_as_template(password)
    assert not is_trusted_as_template(ansible_host_vars(path, "controller")["novalab_scripts"]["gate_compute_host.sh"])


PLAYBOOK_TASKS = sorted((ROOT / "benchmarks" / "ansible").rglob("*.yml"))


def test_every_task_that_carries_a_secret_keeps_it_out_of_ansible_s_output():
    """nova's password (the controller steps' stdin) and the files (their passwords, the migration
    key) reach Ansible's output through any task without no_log; Ansible prints no argument of a
    successful run, so only the tasks themselves can show it."""
    tasks = [t for f in PLAYBOOK_TASKS if "tasks" in f.parts or "handlers" in f.parts
             for t in (yaml.safe_load(f.read_text()) or [])]
    carrying = [t for t in tasks if "novalab_clouds_yaml" in yaml.safe_dump(t)
                or ("novalab_files" in yaml.safe_dump(t) and {"ansible.builtin.template", "ansible.builtin.copy"} & t.keys())]
    assert len(carrying) == 4  # the precheck, the gate, the templates, the other files
    assert all(t.get("no_log") is True for t in carrying), [t["name"] for t in carrying if t.get("no_log") is not True]


def test_the_inventory_and_key_are_private_to_root(inventory, tmp_path):
    path, _ = inventory
    assert path.stat().st_mode & 0o777 == 0o600
    assert (path.parent / "ssh_key").stat().st_mode & 0o777 == 0o600


def test_a_stack_the_peer_cannot_model_is_refused_naming_the_key(tmp_path):
    with pytest.raises(ansible_peer.PeerUnsupported, match="network.backend: openvswitch"):
        ansible_peer.write_inventory(lab_stack(**{"novalab:network": {"backend": "openvswitch", "physnet": "physnet1"}}),
                                     SECRETS, tmp_path)
    unpinned = lab_stack()
    del unpinned["novalab:computeHosts"][1]["hostKey"]
    with pytest.raises(ansible_peer.PeerUnsupported, match="10.77.0.22 has no hostKey"):
        ansible_peer.write_inventory(unpinned, SECRETS, tmp_path)


def test_ini_sections_reads_back_what_novalab_rendered():
    from components.render import HEADER, render_ini
    sections = [("DEFAULT", [("host", "h"), ("x", ' two words ')]), ("api", [("auth_strategy", "keystone")])]
    parsed = ansible_peer.ini_sections(HEADER + render_ini(sections))
    assert parsed is not None and [n for n, _ in parsed.sections] == ["DEFAULT", "api"]
    assert parsed.sections[0][1] == [("host", "h"), ("x", '" two words "')]
    assert ansible_peer.ini_sections("Host *\n    IdentitiesOnly yes\n") is None


# --- on a fleet host (tests/support/fleet.py): real sshd, novalab's scripts, stand-ins -------------





def service_calls(fleet) -> list[str]:
    return [c for c in fleet.hosts[0].calls() if c.startswith("service ") and not c.endswith(" status")]


@pytest.mark.engine
def test_both_tools_leave_the_same_files_and_the_peer_restarts_only_what_changed(fleet_workdir):
    target = bench_peers.FleetTarget(1, QUICK)
    with target.fresh(fleet_workdir / "novalab"):
        tool = bench_peers.Novalab(target, fleet_workdir / "novalab")
        paths = [p for p in ansible_peer.managed_paths(tool.config, tool.secrets) if p.startswith("/etc/")]
        tool.run(bench_peers.CASES[0])
        by_novalab = target.files(paths)
        # novalab reloads nova-compute for [DEFAULT] debug (the reload fails if the service died of it),
        # and restarts it for an option it reads only when it starts.
        fleet = target.fleet
        started = service_calls(fleet)
        tool.change(bench_peers.CHANGES[bench_peers.CASES[2]])
        tool.run(bench_peers.CASES[2])
        assert "debug = true" in fleet.hosts[0].file("/etc/nova/nova.conf")
        assert service_calls(fleet) == started, "novalab restarted a service for an option nova-compute reloads"
        tool.change(bench_peers.CHANGES[bench_peers.CASES[3]])
        tool.run(bench_peers.CASES[3])
        assert service_calls(fleet)[len(started):] == ["service nova-compute restart"]
    assert len(paths) >= 4 and all(content is not None for content in by_novalab[target.hosts[0].name].values())

    with target.fresh(fleet_workdir / "ansible"):
        fleet = target.fleet
        peer = bench_peers.Ansible(target, fleet_workdir / "ansible")
        first = peer.run(bench_peers.CASES[0])
        assert target.files(paths) == by_novalab
        assert first.sessions > 0 and any(c.startswith("nova-manage cell_v2 discover_hosts") for c in fleet.controller.calls())

        restarts = service_calls(fleet)
        peer.run(bench_peers.CASES[1])
        assert service_calls(fleet) == restarts, "a no-op run of the peer restarted a service"

        peer.change(bench_peers.CHANGES[bench_peers.CASES[2]])
        peer.run(bench_peers.CASES[2])
        assert service_calls(fleet)[len(restarts):] == ["service nova-compute restart"]
        assert "debug = true" in fleet.hosts[0].file("/etc/nova/nova.conf")
        logs = "".join(p.read_text() for p in (fleet_workdir / "ansible").glob("ansible-*.log"))
        for secret in fleet.secrets().values():
            lines = secret.strip().splitlines()
            assert (lines[1] if len(lines) > 1 else secret) not in logs  # a key: a line of its body
