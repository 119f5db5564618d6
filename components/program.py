"""The whole novalab program, from a parsed StackConfig. __main__.py only calls `run()`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import pulumi
from pydantic import SecretStr

import pulumi_openstack as openstack

from .compute_host import ComputeHost, ComputeHostArgs, SshAccess, plan_batches
from .config import (
    KEYSCAN, ComputeHostConfig, ConfigError, StackConfig, StackOutputRef, check_host_key, check_ip,
    load_stack_config,
)
from .flavors import Flavors, flavor_ref
from .placement import HostPlacement
from .servers import Server, ServerArgs


def secret(value: Optional[SecretStr]) -> Optional[pulumi.Output[str]]:
    return None if value is None else pulumi.Output.secret(value.get_secret_value())


def read_config_file(key: str, raw_path: str, base_dir: Path, expected: str) -> tuple[Path, str]:
    """A file a config key names (~ expanded, relative to the project); unreadable is a ConfigError."""
    path = Path(os.path.expanduser(raw_path))
    if not path.is_absolute():
        path = base_dir / path
    try:
        return path, path.read_text()
    except OSError as e:
        raise ConfigError([f"{key}: cannot read {str(path)!r} ({e.strerror}); expected {expected}"]) from None


def resolve_ssh_private_key(cfg: StackConfig, base_dir: Path) -> pulumi.Output[str]:
    """The secret sshPrivateKey, or the file at ssh.privateKeyPath, as a secret Output."""
    if cfg.ssh_private_key is not None:
        return pulumi.Output.secret(cfg.ssh_private_key.get_secret_value())
    path, text = read_config_file("ssh.privateKeyPath", cfg.ssh.private_key_path or "", base_dir, "a private key file")
    if "PRIVATE KEY" not in text:
        raise ConfigError([f"ssh.privateKeyPath: {str(path)!r} does not hold a private key"])
    return pulumi.Output.secret(text)


def read_public_key(cfg: StackConfig, base_dir: Path) -> Optional[str]:
    """keypair.publicKey, or the file at keypair.publicKeyPath; None lets OpenStack generate one."""
    kp = cfg.keypair
    if kp is None or kp.public_key:
        return kp.public_key if kp else None
    if not kp.public_key_path:
        return None
    path, text = read_config_file("keypair.publicKeyPath", kp.public_key_path, base_dir, "an OpenSSH public key")
    text = text.strip()
    if "PRIVATE KEY" in text or not text.startswith(("ssh-", "ecdsa-")):
        raise ConfigError([f"keypair.publicKeyPath: {str(path)!r} is not an OpenSSH public key (.pub)"])
    return text


def declare_testing_openstack(cfg: StackConfig, public_key: Optional[str], gates: list[pulumi.Resource]) -> dict:
    """The tutorial's "Testing OpenStack": keypair, flavors, servers (+ floating IPs, volumes), EC2."""
    outputs: dict = {}
    keypair = None
    if cfg.keypair is not None:
        keypair = openstack.compute.Keypair(cfg.keypair.name, name=cfg.keypair.name, public_key=public_key)
        outputs["keypair"] = {"name": keypair.name, "fingerprint": keypair.fingerprint}
        if public_key is None:
            # OpenStack generated the key: its private half is only ever shown as a secret.
            outputs["keypairPrivateKey"] = pulumi.Output.secret(keypair.private_key)

    flavors = Flavors("flavors", cfg)
    outputs["flavors"] = {name: f.id for name, f in flavors.by_name.items()}

    servers = {}
    for s in cfg.servers:
        ref = flavor_ref(cfg, s.flavor)
        server = Server(
            s.name,
            ServerArgs(
                server=s,
                flavor=ref,
                flavor_id=flavors.by_name[s.flavor].flavor_id if ref.kind != "known" else None,
                key_pair=keypair.name,
                gates=gates,
            ),
        )
        servers[s.name] = {
            "id": server.instance.id,
            "fixedIp": server.fixed_ip,
            "floatingIp": server.floating_ip,
            "ssh": server.ssh,
            "volumes": server.volumes,
        }
    outputs["servers"] = servers

    if cfg.ec2_credentials:
        ec2 = openstack.identity.Ec2CredentialV3("ec2-credentials")
        outputs["ec2AccessKey"] = ec2.access
        outputs["ec2SecretKey"] = pulumi.Output.secret(ec2.secret)
    return outputs


class StackOutputs:
    """One StackReference per other stack a host takes its address or host key from."""

    def __init__(self) -> None:
        self.refs: dict[str, pulumi.StackReference] = {}

    def get(self, ref: StackOutputRef, key: str, check: Callable[[str], str], expected: str, hint: str = "") -> pulumi.Output[str]:
        """The output, checked at run time as the same key given inline is checked up front. The
        value may be a secret of that stack: a message never shows it."""
        if ref.stack not in self.refs:
            self.refs[ref.stack] = pulumi.StackReference(ref.stack)
        where = f"{key}: output {ref.output!r} of stack {ref.stack!r}"

        def value(v):
            if not isinstance(v, str) or not v:
                raise ValueError(f"{where} is missing or not text; expected {expected}")
            try:
                return check(v)
            except ValueError:
                raise ValueError(f"{where} is not {expected}{hint}") from None

        return self.refs[ref.stack].get_output(ref.output).apply(value)


def unpinned_hosts(cfg: StackConfig) -> list[str]:
    """The hosts (controller included) whose SSH host key nothing pins: any key is accepted there."""
    names = [] if cfg.controller.host_key else [f"{cfg.controller.name} (controller)"]
    return names + [h.name for h in cfg.compute_hosts if h.host_key is None and h.host_key_from is None]


def host_args(cfg: StackConfig, index: int, host: ComputeHostConfig, ssh: SshAccess, outputs: StackOutputs,
              after: list[pulumi.Resource]) -> ComputeHostArgs:
    path = f"computeHosts[{index}]"
    address = host.address
    if host.address_from is not None:
        address = outputs.get(host.address_from, f"{path}.addressFrom", check_ip, "an IP address")
    host_key = host.host_key
    if host.host_key_from is not None:
        host_key = outputs.get(
            host.host_key_from, f"{path}.hostKeyFrom", check_host_key, "an OpenSSH public key", f"; {KEYSCAN}"
        )
    overrides, overrides_secret = cfg.host_overrides(host)
    return ComputeHostArgs(
        host_name=host.name,
        address=address,
        host_key=host_key,
        bridge_interface=host.bridge_interface,
        virt_type=host.virt_type,
        controller_address=cfg.controller.address,
        controller_host_key=cfg.controller.host_key,
        services=cfg.services,
        network=cfg.network,
        ssh=ssh,
        rabbit_password=secret(cfg.rabbit_password),
        nova_password=secret(cfg.nova_service_password),
        neutron_password=secret(cfg.neutron_service_password),
        nova_migration_key=secret(cfg.nova_migration_ssh_key),
        metadata_secret=secret(cfg.metadata_proxy_shared_secret),
        tunnel_address=host.tunnel_address,
        config_overrides=pulumi.Output.secret(overrides) if overrides_secret else overrides,
        gate_timeout_seconds=cfg.rollout.gate_timeout_seconds,
        after=after,
    )


def provision_compute_hosts(cfg: StackConfig, ssh: SshAccess) -> list[ComputeHost]:
    """One ComputeHost per configured host, `rollout.batchSize` at a time."""
    index = {h.name: (i, h) for i, h in enumerate(cfg.compute_hosts)}
    outputs = StackOutputs()
    hosts: list[ComputeHost] = []
    previous_batch: list[pulumi.Resource] = []
    for batch in plan_batches([h.name for h in cfg.compute_hosts], cfg.rollout.batch_size):
        current = [ComputeHost(name, host_args(cfg, *index[name], ssh, outputs, previous_batch)) for name in batch]
        for host in current:
            overrides, secret = cfg.host_overrides(index[host.host_name][1])
            HostPlacement(f"{host.host_name}-placement", host.host_name, overrides, secret,
                          opts=pulumi.ResourceOptions(parent=host))
        hosts.extend(current)
        previous_batch = [r for h in current for r in h.rollout_done]
    return hosts


def run(base_dir: Optional[Path] = None) -> dict:
    """Parse and check the config (failing before any resource), then declare everything."""
    base_dir = base_dir or Path.cwd()
    try:
        cfg = load_stack_config()
        ssh_key = resolve_ssh_private_key(cfg, base_dir)
        public_key = read_public_key(cfg, base_dir)
    except ConfigError as e:
        raise pulumi.RunError(str(e)) from None

    unpinned = unpinned_hosts(cfg)
    if unpinned:
        pulumi.log.warn(
            f"SSH host keys not pinned, any key is accepted for: {', '.join(unpinned)}; "
            f"set hostKey (or hostKeyFrom) for each: {KEYSCAN.replace('HOST', 'ADDRESS')}"
        )
    ssh = SshAccess(user=cfg.ssh.user, port=cfg.ssh.port, private_key=ssh_key)
    hosts = provision_compute_hosts(cfg, ssh)
    pulumi.export(
        "computeHosts",
        {h.host_name: {"address": h.address, "gate": h.gate.stdout} for h in hosts},
    )
    outputs = declare_testing_openstack(cfg, public_key, [h.gate for h in hosts])
    for key, value in outputs.items():
        pulumi.export(key, value)
    return {"config": cfg, "hosts": hosts, "outputs": outputs}
