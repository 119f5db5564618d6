"""The versions novalab pins, read where they are pinned (one place each), for the tests and the
READMEs' checks to compare with."""

from __future__ import annotations

import json
import subprocess
from functools import lru_cache

from .engine import ROOT, VENV

INSPECT_ENV = ROOT / "engine" / "language-host" / "novalab_langhost" / "inspect_env.py"


@lru_cache(maxsize=None)
def plugin_versions() -> dict[str, str]:
    """{plugin: version} of the resource plugins the program needs: those of the provider SDKs the venv
    installed from requirements.txt, read from their pulumi-plugin.json as engine/engine.sh reads them."""
    python = VENV / "bin" / "python"
    out = subprocess.run([str(python), "-I", str(INSPECT_ENV)], capture_output=True, text=True, check=True)
    return {p["name"]: p["version"] for p in json.loads(out.stdout)["plugins"]}
