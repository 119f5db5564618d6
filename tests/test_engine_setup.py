"""engine/engine.sh setup: a Pulumi install already on PATH with the plugins the program needs is used
as is (and said so); otherwise novalab's own build is (cached: a second setup rebuilds nothing)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from support import numbers
from support.engine import ROOT, engine_bin
from support.pins import plugin_versions

pytestmark = pytest.mark.engine

ENGINE_SH = ROOT / "engine" / "engine.sh"


def plugin_ls(*names: str) -> str:
    """`pulumi plugin ls` lines for these plugins at the pinned versions."""
    return "".join(f"{name:<10} resource  {plugin_versions()[name]}    35 MB\\n" for name in names)


# What the official CLI ships beside `pulumi`: the Python language host and dynamic-provider plugin.
BUNDLED = ("pulumi-language-python", "pulumi-resource-pulumi-python")


def fake_install(bindir: Path, plugins: str, bundled: tuple[str, ...] = BUNDLED) -> Path:
    """A stand-in official install: `pulumi plugin ls` answers PLUGINS, the bundled plugins beside it."""
    bindir.mkdir()
    (bindir / "pulumi").write_text(
        "#!/bin/sh\n"
        f'case "$1 $2" in "plugin ls") printf \'NAME       KIND      VERSION  SIZE\\n{plugins}\' ;; *) echo v3.999.0 ;; esac\n'
    )
    for name in bundled:
        (bindir / name).write_text("#!/bin/sh\nexit 0\n")
    for f in bindir.iterdir():
        f.chmod(0o755)
    return bindir


def setup(path_first: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    path = os.environ["PATH"] if path_first is None else f"{path_first}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run([str(ENGINE_SH), "setup"], capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, PATH=path, **env))


def test_an_install_on_path_with_the_plugins_is_used_as_is(tmp_path):
    engine_bin()  # novalab's own build exists (the fallback below must not start a cold build)
    bindir = fake_install(tmp_path / "bin", plugin_ls("command", "openstack"))
    result = setup(bindir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(bindir)
    assert f"using the Pulumi install on PATH: {bindir}/pulumi (v3.999.0)" in result.stderr


def test_an_install_missing_a_plugin_is_not_used(tmp_path):
    bindir = fake_install(tmp_path / "bin", plugin_ls("command"))
    result = setup(bindir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(engine_bin())


def test_an_install_without_the_dynamic_provider_plugin_is_not_used(tmp_path):
    # The hosts' records are a Python dynamic provider (components/host_state.py).
    bindir = fake_install(tmp_path / "bin", plugin_ls("command", "openstack"), bundled=("pulumi-language-python",))
    result = setup(bindir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(engine_bin())


def test_novalab_engine_build_uses_the_own_build_even_with_an_install(tmp_path):
    bindir = fake_install(tmp_path / "bin", plugin_ls("command", "openstack"))
    result = setup(bindir, NOVALAB_ENGINE="build")
    assert result.stdout.strip() == str(engine_bin())


def test_a_second_setup_rebuilds_nothing():
    start = time.monotonic()
    result = setup(None, NOVALAB_ENGINE="build")
    assert result.returncode == 0, result.stderr
    assert "building" not in result.stderr
    numbers.record("engine: warm setup (nothing to build), s", round(time.monotonic() - start, 2))
