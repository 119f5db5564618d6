"""Stack configuration: the `novalab:*` keys of Pulumi.<stack>.yaml, parsed and checked by pydantic.

- fields.py: what each kind of value must be (addresses, names, URLs, keys), control characters refused
- hosts.py, cloud.py: the models, each key's default stated once
- rules.py: rules across keys, on the parsed models (partial.py: what a config with bad fields still holds)
- report.py: one ConfigError naming every problem by its config path, secret values never shown
- stack.py: StackConfig and the entry points
"""

from .cloud import (
    M1, M1_FLAVORS, M1_SIZES, AdoptFlavorConfig, FlavorConfig, KeypairConfig, ServerConfig, VolumeConfig,
)
from .fields import KEYSCAN, BadValue, check_host_key, check_ip
from .hosts import (
    BACKENDS, OVERLAYS, ComputeHostConfig, ControllerConfig, NetworkConfig, RolloutConfig, ServicesConfig,
    SshConfig, StackOutputRef, controller_services,
)
from .report import SECRET_KEYS, ConfigError
from .stack import NAMESPACE, StackConfig, load_stack_config, parse_stack_config

__all__ = [
    "AdoptFlavorConfig", "BACKENDS", "BadValue", "ComputeHostConfig", "ConfigError", "ControllerConfig",
    "FlavorConfig", "KEYSCAN", "KeypairConfig", "M1", "M1_FLAVORS", "M1_SIZES", "NAMESPACE", "NetworkConfig",
    "OVERLAYS", "RolloutConfig", "SECRET_KEYS", "ServerConfig", "ServicesConfig", "SshConfig", "StackConfig",
    "StackOutputRef", "VolumeConfig", "check_host_key", "check_ip", "controller_services",
    "load_stack_config", "parse_stack_config",
]
