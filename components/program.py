"""The whole novalab program, from a parsed StackConfig. __main__.py only calls `run()`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pulumi
from pydantic import SecretStr

from .compute_host import ComputeHost, ComputeHostArgs, SshAccess, plan_batches
from .config import ConfigError, StackConfig, load_stack_config


def secret(value: Optional[SecretStr]) -> Optional[pulumi.Output[str]]:
    return None if value is None else pulumi.Output.secret(value.get_secret_value())


def resolve_ssh_private_key(cfg: StackConfig, base_dir: Path) -> pulumi.Output[str]:
    """The secret sshPrivateKey, or the file at ssh.privateKeyPath, as a secret Output."""
    if cfg.ssh_private_key is not None:
        return pulumi.Output.secret(cfg.ssh_private_key.get_secret_value())
    path = Path(os.path.expanduser(cfg.ssh.private_key_path or ""))
    if not path.is_absolute():
        path = base_dir / path
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError([f"ssh.privateKeyPath: cannot read {str(path)!r} ({e.strerror}); expected a private key file"]) from None
    if "PRIVATE KEY" not in text:
        raise ConfigError([f"ssh.privateKeyPath: {str(path)!r} does not hold a private key"])
    return pulumi.Output.secret(text)


def provision_compute_hosts(cfg: StackConfig, ssh: SshAccess) -> list[ComputeHost]:
    """One ComputeHost per configured host, `rollout.batchSize` at a time."""
    by_name = {h.name: h for h in cfg.compute_hosts}
    hosts: list[ComputeHost] = []
    previous_gates: list[pulumi.Resource] = []
    for batch in plan_batches([h.name for h in cfg.compute_hosts], cfg.rollout.batch_size):
        current = [
            ComputeHost(
                name,
                ComputeHostArgs(
                    host=by_name[name],
                    controller=cfg.controller,
                    services=cfg.services,
                    network=cfg.network,
                    ssh=ssh,
                    rabbit_password=secret(cfg.rabbit_password),
                    nova_password=secret(cfg.nova_service_password),
                    neutron_password=secret(cfg.neutron_service_password),
                    gate_timeout_seconds=cfg.rollout.gate_timeout_seconds,
                    after=previous_gates,
                ),
            )
            for name in batch
        ]
        hosts.extend(current)
        previous_gates = [h.gate for h in current]
    return hosts


def run(base_dir: Optional[Path] = None) -> dict:
    """Parse and check the config (failing before any resource), then declare everything."""
    base_dir = base_dir or Path.cwd()
    try:
        cfg = load_stack_config()
        ssh_key = resolve_ssh_private_key(cfg, base_dir)
    except ConfigError as e:
        raise pulumi.RunError(str(e)) from None

    ssh = SshAccess(user=cfg.ssh.user, port=cfg.ssh.port, private_key=ssh_key)
    hosts = provision_compute_hosts(cfg, ssh)
    pulumi.export(
        "computeHosts",
        {h.host_name: {"address": h.address, "gate": h.gate.stdout} for h in hosts},
    )
    return {"config": cfg, "hosts": hosts}
