"""The Pulumi SDK's generated gRPC modules for the host process, without importing the SDK itself.

`from pulumi.runtime.proto import language_pb2` first runs pulumi/__init__.py and the __init__.py of
pulumi.runtime and pulumi.runtime.proto, which import the whole SDK and every service's stubs: half
of the host's start-up (0.10 of 0.20 s), paid twice per preview or update because the CLI starts the
host twice (for About, then for the run). The host needs only the language service's modules, which
import each other and google.protobuf. Registering their three packages as bare namespaces keeps
Python from running those __init__.py files.

Only the host's entry point calls this: a process that uses the SDK itself must not get bare
packages in its place.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

PACKAGES = ("pulumi", "pulumi.runtime", "pulumi.runtime.proto")


def without_the_sdk() -> None:
    """Makes `pulumi.runtime.proto.<module>` importable without the SDK's package __init__ files.
    Does nothing when the SDK is imported already or cannot be found (the import then fails as usual)."""
    if any(name in sys.modules for name in PACKAGES):
        return
    spec = importlib.util.find_spec("pulumi")
    if spec is None or not spec.submodule_search_locations:
        return
    path = Path(list(spec.submodule_search_locations)[0])
    for name in PACKAGES:
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules[name] = package
        path = path / {"pulumi": "runtime", "pulumi.runtime": "proto"}.get(name, "")
