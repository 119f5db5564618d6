"""The Ansible peer of novalab's compute-host steps (issue 23): its inventory, made from a novalab stack.

benchmarks/ansible/ is a playbook structured as kolla-ansible and openstack-ansible structure a
compute role: a table of contents (tasks/main.yml) and one task file per step, templates for the
files, a handler that restarts only the services whose files changed, and a wait on the controller
for the compute service to be up. So that both tools do the same work on a host, the inventory
written here holds what novalab's own pure code gives for the stack (components/): each step's
scripts and arguments from the step table, and the files' settings from the renderers, which the
playbook's template lays out again (a test compares the files the two leave on a host).

    write_inventory(raw_config, secrets, directory) -> the inventory file's Path

The inventory holds the stack's secrets (the files' passwords, the controller steps' clouds.yaml):
it is written 0600 into DIRECTORY, which the caller removes, and every task that carries one is
`no_log`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = Path(__file__).resolve().parent / "ansible" / "site.yml"

import sys  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.compute_host import ComputeHostArgs, SshAccess, StepContext  # noqa: E402
from components.config.stack import StackConfig, parse_stack_config  # noqa: E402
from components.host_files import Passwords, nova_service_auth  # noqa: E402
from components.network import backend_of  # noqa: E402
from components.render import HEADER, ManagedFile, render_clouds_yaml  # noqa: E402
from components.scripts import script_text  # noqa: E402
from components.steps import AFTER, DEPENDENCY_IDS, Step, host_steps  # noqa: E402

# novalab's row that writes the files (write_files.sh, from a bundle on stdin); the peer writes
# them with its template and copy tasks instead.
FILES_STEP = "config"


class PeerUnsupported(ValueError):
    """A stack the peer cannot model; the message says which key."""


@dataclass(frozen=True)
class IniFile:
    """One oslo.config file as (section, [(key, value as written)]) after novalab's header."""

    sections: list[tuple[str, list[tuple[str, str]]]]


def ini_sections(content: str) -> Optional[IniFile]:
    """The sections of a file novalab rendered with HEADER + render_ini, or None when it is not one
    (the migration key, its ssh config). Values stay as written (quoted where oslo.config needs it)."""
    if not content.startswith(HEADER):
        return None
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for line in content[len(HEADER):].splitlines():
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], []))
        elif " = " in line and sections:
            key, _, value = line.partition(" = ")
            sections[-1][1].append((key, value))
        else:
            return None
    return IniFile(sections)


def dir_mode(file_mode: str) -> str:
    """The mode write_files.sh gives a directory it makes for a file: x wherever the file has r."""
    m, d = int(file_mode, 8), 0
    for read, bits in ((0o400, 0o700), (0o040, 0o050), (0o004, 0o005)):
        if m & read:
            d |= bits
    return f"0{d:o}"


def _runs(ctx: StepContext, step: Step) -> list[dict[str, Any]]:
    """A row's scripts and their arguments as novalab runs them (plain values), without the gate's
    AFTER (the ids that make a restart re-run a novalab gate; the peer's gate is a handler)."""
    runs = []
    for run in step.create:
        args: list[str] = []
        values = list(run.args)
        while values:
            arg = values.pop(0)
            if arg == AFTER and values and values[0] == DEPENDENCY_IDS:
                values.pop(0)
                continue
            args += [str(v) for v in ctx.value(arg, [])]
        runs.append({"script": run.script, "args": args})
    return runs


def _file_vars(f: ManagedFile, service: Optional[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": f.path, "owner": f.owner, "group": f.group, "mode": f.mode,
                             "dir_mode": dir_mode(f.mode), "service": service}
    ini = ini_sections(f.content)
    if ini is None:
        if service is not None:  # the playbook restarts services for its templated files only
            raise PeerUnsupported(f"{f.path}: {service} reads it and it is no oslo.config file; the peer "
                                  "templates only those")
        entry["content"] = f.content
    else:
        entry["sections"] = [{"name": name, "options": [list(o) for o in options]} for name, options in ini.sections]
    return entry


def connection(cfg: StackConfig, address: str, private_key_file: Path) -> dict[str, Any]:
    """How Ansible reaches a machine: as novalab does (the stack's user, port and key; sudo where
    the user is not root, as novalab's scripts run under `sudo -n`)."""
    return {
        "ansible_host": address,
        "ansible_port": cfg.ssh.port,
        "ansible_user": cfg.ssh.user,
        "ansible_become": cfg.ssh.user != "root",
        "ansible_ssh_private_key_file": str(private_key_file),
        "ansible_python_interpreter": "/usr/bin/python3",
    }


def ssh_pins(known_hosts_file: Path) -> str:
    """ssh's options that trust exactly the stack's host-key pins (known_hosts)."""
    return f"-o UserKnownHostsFile={known_hosts_file} -o StrictHostKeyChecking=yes"


def _secret(value) -> Optional[str]:
    return value.get_secret_value() if value is not None else None


def compute_host_args(cfg: StackConfig, index: int) -> ComputeHostArgs:
    """What novalab's program gives ComputeHost for the stack's INDEX-th host, with plain values
    (no secret: the steps' arguments never hold one; the files get theirs from `host_vars`)."""
    host = cfg.compute_hosts[index]
    if host.address_from is not None or host.host_key_from is not None:
        raise PeerUnsupported(f"computeHosts[{index}]: the peer takes addresses and host keys inline, not *From")
    return ComputeHostArgs(
        host_name=host.name, address=host.address, bridge_interface=host.bridge_interface, virt_type=host.virt_type,
        controller_address=cfg.controller.address, services=cfg.services, network=cfg.network,
        ssh=SshAccess(user=cfg.ssh.user, port=cfg.ssh.port, private_key=""), rabbit_password="", nova_password="",
        tunnel_address=host.tunnel_address, gate_timeout_seconds=cfg.rollout.gate_timeout_seconds,
    )


def host_vars(cfg: StackConfig, index: int, private_key_file: Path) -> dict[str, Any]:
    """One compute host's variables: its steps by name, its files, its restarts."""
    host = cfg.compute_hosts[index]
    args = compute_host_args(cfg, index)
    backend = backend_of(cfg.network)
    if backend.facts_from:
        raise PeerUnsupported(f"network.backend: {backend.name} renders files from a step's output; the peer "
                              "models ovn and linuxbridge")
    ctx = StepContext(args, backend, host.address)
    passwords = Passwords(_secret(cfg.rabbit_password), _secret(cfg.nova_service_password),
                          _secret(cfg.neutron_service_password), _secret(cfg.nova_migration_ssh_key),
                          _secret(cfg.metadata_proxy_shared_secret))
    files = ctx.render(host.address, passwords, cfg.host_overrides(host)[0])
    table = [s for s in host_steps(backend) if not s.record]
    # The peer restarts on every change, as kolla-ansible's handlers do: it has no reload row.
    steps = {s.name: _runs(ctx, s) for s in table if not (s.restart or s.reload) and s.name != FILES_STEP}
    return {
        **connection(cfg, host.address, private_key_file),
        "novalab_host_name": host.name,
        "novalab_steps": steps,
        "novalab_network_steps": [s.name for s in backend.steps],
        "novalab_restarts": {s.restart: _runs(ctx, s) for s in table if s.restart},
        "novalab_files": [_file_vars(f, service) for service, fs in files.services for f in fs]
        + [_file_vars(f, None) for f in files.nova_ssh],
        "novalab_clouds_yaml": render_clouds_yaml(nova_service_auth(cfg.services, _secret(cfg.nova_service_password))),
    }


def inventory(cfg: StackConfig, private_key_file: Path, known_hosts_file: Path) -> dict[str, Any]:
    hosts = {h.name: host_vars(cfg, i, private_key_file) for i, h in enumerate(cfg.compute_hosts)}
    scripts = sorted({r["script"] for hv in hosts.values() for r in _all_runs(hv)})
    return {
        "all": {
            "vars": {
                "ansible_ssh_common_args": ssh_pins(known_hosts_file),
                "novalab_header": HEADER,
                "novalab_scripts": {name: script_text(name) for name in scripts},
            },
            "children": {
                "controllers": {"hosts": {"controller": connection(cfg, cfg.controller.address, private_key_file)}},
                "compute": {"hosts": hosts},
            },
        }
    }


def _all_runs(hv: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for runs in (*hv["novalab_steps"].values(), *hv["novalab_restarts"].values()) for r in runs]


def known_hosts(cfg: StackConfig) -> str:
    """The stack's host-key pins, as ssh reads them: the peer trusts exactly what novalab trusts."""
    lines = []
    for address, key in [(cfg.controller.address, cfg.controller.host_key),
                         *((h.address, h.host_key) for h in cfg.compute_hosts)]:
        if not key:
            raise PeerUnsupported(f"the host at {address} has no hostKey; the peer connects only to pinned hosts")
        lines.append(f"{address} {key}\n")
    return "".join(lines)


class Unsafe(str):
    """A value Ansible must take as it is (`!unsafe`): never templated, so a script's `${#a[@]}` or
    a password holding `{{` stays text. Only values with a `{` (where every Jinja delimiter starts)
    are marked: Ansible gives an `!unsafe` value the type its text resolves to, so `!unsafe "2.100"`
    (a compute API microversion) would become the float 2.1."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value)))


def unsafe(value: Any) -> Any:
    """VALUE with every string in it (not the keys) that Jinja could read as a template marked Unsafe."""
    if isinstance(value, dict):
        return {k: unsafe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [unsafe(v) for v in value]
    return Unsafe(value) if isinstance(value, str) and "{" in value else value


def read_inventory(path: Path) -> dict[str, Any]:
    """An inventory write_inventory wrote, as plain data."""
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_constructor("!unsafe", lambda loader_, node: loader_.construct_scalar(node))
    return yaml.load(path.read_text(), Loader=loader)


def managed_paths(raw: dict[str, Any], secrets: dict[str, str]) -> list[str]:
    """The files novalab writes on the stack's first compute host (nothing is written here)."""
    cfg = parse_stack_config({**raw, **secrets}, secret_keys=secrets)
    return [f["path"] for f in host_vars(cfg, 0, Path())["novalab_files"]]


def write_inventory(raw: dict[str, Any], secrets: dict[str, str], directory: Path) -> Path:
    """DIRECTORY/inventory.yml (0600) and the files it names: the SSH key and the known hosts."""
    cfg = parse_stack_config({**raw, **secrets}, secret_keys=secrets)
    if cfg.ssh_private_key is not None:
        key = directory / "ssh_key"
    elif cfg.ssh.private_key_path is not None:
        key = Path(cfg.ssh.private_key_path)
    else:
        raise PeerUnsupported("sshPrivateKey or ssh.privateKeyPath: the peer logs in with the stack's key; set one")
    pins = directory / "known_hosts"
    # Everything that may refuse the stack first: nothing is written for a stack the peer cannot run.
    text = yaml.dump(unsafe(inventory(cfg, key, pins)), Dumper=_Dumper, sort_keys=False)
    pinned = known_hosts(cfg)
    directory.mkdir(parents=True, exist_ok=True)
    if cfg.ssh_private_key is not None:
        key.touch(mode=0o600)
        key.write_text(cfg.ssh_private_key.get_secret_value().rstrip("\n") + "\n")
    pins.write_text(pinned)
    path = directory / "inventory.yml"
    path.touch(mode=0o600)
    path.write_text(text)
    return path
