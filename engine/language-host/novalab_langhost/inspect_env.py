"""Prints, as JSON, what a Python environment holds; run with that environment's own interpreter.

{"python": {"executable", "version"},
 "distributions": [{"name", "version", "requires": [names]}],
 "plugins": [{"name", "version", "server", "kind", "parameterization"}]}

A plugin is a distribution that ships a `pulumi-plugin.json` with `"resource": true` (what Pulumi's
provider SDKs generate): the exact provider version the SDK was generated for.
Only the stdlib is used here: this runs in the program's environment, not the host's.
"""

from __future__ import annotations

import json
import re
import sys
from email.parser import HeaderParser
from importlib import metadata

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_name(spec: str) -> str | None:
    if ";" in spec and "extra" in spec.split(";", 1)[1]:
        return None  # an optional extra, not a dependency of the plain install
    m = _NAME.match(spec)
    return m.group(1) if m else None


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def plugin_of(dist: metadata.Distribution) -> dict | None:
    # RECORD read as text: `dist.files` builds an object per file of every distribution, most of
    # this script's time (the host asks twice per preview).
    for line in (dist.read_text("RECORD") or "").splitlines():
        path = line.split(",", 1)[0]
        if path.rsplit("/", 1)[-1] != "pulumi-plugin.json":
            continue
        try:
            info = json.loads(dist.locate_file(path).read_text())
        except (OSError, ValueError):
            continue
        if not info.get("resource") or not info.get("name"):
            continue
        return {
            "name": info["name"],
            "version": info.get("version", ""),
            "server": info.get("server", ""),
            "kind": "resource",
            "parameterization": info.get("parameterization"),
        }
    return None


def headers(dist: metadata.Distribution):
    """METADATA's headers, parsed once (`dist.metadata` parses the whole file, long description
    included, on every access)."""
    return HeaderParser().parsestr(dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "")


def main() -> None:
    dists, plugins, seen = [], [], set()
    for dist in metadata.distributions():
        meta = headers(dist)
        name = meta["Name"]
        if not name or normalize(name) in seen:
            continue  # the first one on sys.path wins, as for imports
        seen.add(normalize(name))
        requires = [r for r in (requirement_name(s) for s in meta.get_all("Requires-Dist") or ()) if r]
        dists.append({"name": name, "version": meta["Version"], "requires": requires})
        plugin = plugin_of(dist)
        if plugin:
            plugins.append(plugin)
    json.dump(
        {
            "python": {"executable": sys.executable, "version": sys.version.split()[0]},
            "distributions": sorted(dists, key=lambda d: normalize(d["name"])),
            "plugins": sorted(plugins, key=lambda p: p["name"]),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
