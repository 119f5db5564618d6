"""The whole stack config, and its two entry points: `parse_stack_config` (pure: a dict of raw
config values in, a StackConfig out) and `load_stack_config` (the same on the Pulumi runtime's
config). A bad config raises ConfigError naming every bad field at once, before any resource."""

from __future__ import annotations

import json
from typing import Any, Iterable, Optional

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from ..overrides import Overrides, merge_overrides, normalize_overrides
from .cloud import M1_FLAVORS, AdoptFlavorConfig, FlavorConfig, FlavorName, KeypairConfig, ServerConfig
from .fields import check_ip
from .hosts import (
    ComputeHostConfig, ControllerConfig, MigrationKey, Model, NetworkConfig, Password, RolloutConfig,
    ServicesConfig, SshConfig, controller_services,
)
from .partial import salvage
from .report import ConfigError, describe, rule_errors
from .rules import stack_rules

NAMESPACE = "novalab"


def with_service_defaults(data: Any) -> Any:
    """DATA with every services.* key not given set to the controller's (controller_services), when
    controller.address is a valid address; otherwise the field errors say what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("controller"), dict):
        return data
    address, services = data["controller"].get("address"), data.get("services", {})
    network = data.get("network") if isinstance(data.get("network"), dict) else {}
    if not isinstance(address, str) or not isinstance(services, dict):
        return data
    try:
        address = check_ip(address)
    except ValueError:
        return data
    given = {to_camel(k) for k, v in services.items() if v is not None}
    backend = network.get("backend", "linuxbridge")
    defaults = {k: v for k, v in controller_services(address, str(backend)).items() if k not in given}
    return {**data, "services": {**services, **defaults}}


class StackConfig(Model):
    ssh: SshConfig
    controller: ControllerConfig
    services: ServicesConfig
    compute_hosts: list[ComputeHostConfig] = Field(min_length=1)
    network: NetworkConfig = NetworkConfig()
    rollout: RolloutConfig = RolloutConfig()
    keypair: Optional[KeypairConfig] = None
    flavors: list[FlavorConfig] = Field(default_factory=list)
    adopt_flavors: list[AdoptFlavorConfig] = Field(default_factory=list)
    known_flavors: list[FlavorName] = Field(default_factory=lambda: list(M1_FLAVORS))
    servers: list[ServerConfig] = Field(default_factory=list)
    ec2_credentials: bool = False
    config_overrides: Any = None  # checked by rules.overrides, like each host's
    # Secrets: plain text lives only in memory; resources get them as pulumi secrets.
    rabbit_password: Password
    nova_service_password: Password
    neutron_service_password: Optional[Password] = None
    ssh_private_key: Optional[SecretStr] = None
    # nova's SSH key between compute hosts: resize and cold migration copy the disk over it.
    nova_migration_ssh_key: Optional[MigrationKey] = None
    # nova's metadata API trusts the metadata agents that sign with it (network.backend ovn: the agent
    # runs on every compute host); the controller's [neutron] metadata_proxy_shared_secret.
    metadata_proxy_shared_secret: Optional[Password] = None

    # Config keys the stack holds as secrets (`pulumi config set --secret`, with or without --path).
    _secret_keys: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="wrap")
    @classmethod
    def _checked(cls, data: Any, handler) -> "StackConfig":
        """The fields first (pydantic), then the rules across keys (rules.py) on the parsed config,
        or on what is valid of it: every problem is raised at once."""
        data = with_service_defaults(data)
        try:
            cfg, errors = handler(data), []
        except ValidationError as e:
            cfg, errors = salvage(cls, data), e.errors()
        problems = stack_rules(cfg) if cfg is not None else []
        if errors or problems:
            raise rule_errors(cls.__name__, problems, given=errors)
        return cfg

    def host_overrides(self, host: ComputeHostConfig) -> tuple[Overrides, bool]:
        """The host's configOverrides (its own win over the stack-wide ones), and whether they hold a
        secret: a key set with `pulumi config set --secret --path` makes its whole config key secret."""
        merged = merge_overrides(normalize_overrides(self.config_overrides), normalize_overrides(host.config_overrides))
        secret = bool(
            (self.config_overrides and "configOverrides" in self._secret_keys)
            or (host.config_overrides and "computeHosts" in self._secret_keys)
        )
        return merged, secret

    def flavor_names(self) -> set[str]:
        return {f.name for f in self.flavors} | {f.name for f in self.adopt_flavors} | set(self.known_flavors)


def _decode(value: Any) -> Any:
    """Objects and lists arrive from the engine as JSON text; scalars as plain text."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[") or text in ("true", "false"):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return value
    return value


def _name(key: str) -> Optional[str]:
    """The novalab key name of a raw config key, None for another namespace's key."""
    ns, _, name = key.rpartition(":")
    return None if ns and ns != NAMESPACE else name


def parse_stack_config(raw: dict[str, Any], secret_keys: Iterable[str] = ()) -> StackConfig:
    """Parse the stack's raw config map (`novalab:key` or bare `key` -> value) or raise ConfigError.
    `secret_keys` are the config keys the stack holds as secrets: no message shows their values."""
    data = {name: _decode(value) for key, value in raw.items() if (name := _name(key)) is not None}
    secret = frozenset(n for n in map(_name, secret_keys) if n is not None)
    try:
        cfg = StackConfig.model_validate(data)
    except ValidationError as e:
        problems: list[str] = []
        for err in e.errors():
            line = describe(err, secret)
            if line not in problems:
                problems.append(line)
        raise ConfigError(problems) from None
    cfg._secret_keys = secret
    return cfg


def load_stack_config() -> StackConfig:
    """Read this stack's config from the Pulumi runtime and parse it (no resource is touched)."""
    from pulumi.runtime import config as rc

    raw = dict(rc.get_config_env())
    raw.update(rc.CONFIG.get())
    secret = [k for k in raw if rc.is_config_secret(k)] + list(rc.get_config_secret_keys_env())
    return parse_stack_config(raw, secret)
