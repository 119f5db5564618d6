"""The engine's Go pieces run their own tests (`go test ./...` in each module) as part of the suite."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from support.engine import ROOT

pytestmark = pytest.mark.engine

MODULES = sorted(p.parent.name for p in (ROOT / "engine").glob("*/go.mod") if any(p.parent.rglob("*_test.go")))


def test_every_go_module_with_tests_is_run_here():
    assert {"provider-command", "provider-openstack"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_go_tests_pass(module):
    if shutil.which("go") is None:
        pytest.fail("Go is needed to test the engine's providers (the engine is built with it)")
    proc = subprocess.run(
        ["go", "test", "-count=1", "./..."],
        cwd=ROOT / "engine" / module, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "GOFLAGS": "-mod=readonly"},
    )
    assert proc.returncode == 0, f"go test in engine/{module} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def test_the_cli_patches_apply_and_the_packages_they_change_pass_their_tests():
    """engine/cli/patches change pulumi's checkpoint writes and let its automatic log be turned off;
    upstream's tests of those packages (one of them changed with the behaviour) and the patches' own
    tests run on the patched copy."""
    if shutil.which("go") is None:
        pytest.fail("Go is needed to build and test the engine's CLI")
    patches = sorted((ROOT / "engine" / "cli" / "patches").glob("*.patch"))
    assert patches, "engine/cli/patches is empty"
    proc = subprocess.run(
        [str(ROOT / "engine" / "cli" / "build.sh"), "--test"],
        capture_output=True, text=True, timeout=1800, env={**os.environ, "GO_TEST_FLAGS": "-v"},
    )
    assert proc.returncode == 0, f"build.sh --test failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    passed = {line.split()[2] for line in proc.stdout.splitlines() if line.startswith("--- PASS: ")}
    assert {"TestNovalabMutationsDuringASaveShareTheNextSave", "TestRegisterOutputs",
            "TestNovalabDisableAutomaticLogsWritesNoLogFile"} <= passed, proc.stdout[-3000:]
