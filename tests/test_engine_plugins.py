"""The engine's plugins end with the engine: a CLI killed with SIGKILL interrupts nobody, and a
plugin left running would hold its port and memory for ever (seen with the command provider)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support.engine import engine_bin, require_plugin
from support.pins import plugin_versions

pytestmark = pytest.mark.engine

PLUGINS = {
    "language host": lambda: engine_bin() / "pulumi-language-python",
    "command provider": lambda: require_plugin("command", plugin_versions()["command"]),
    "openstack provider": lambda: require_plugin("openstack", plugin_versions()["openstack"]),
}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return " Z " not in stat  # a zombie has ended


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_a_plugin_ends_when_the_engine_that_started_it_is_killed(name):
    plugin = PLUGINS[name]()
    # A stand-in engine: starts the plugin as the CLI does (stdout piped, the port read from it),
    # then dies by SIGKILL.
    engine = subprocess.Popen(["bash", "-c", '"$1" > "$2" 2>/dev/null & echo $!; wait', "engine", str(plugin), os.devnull],
                              stdout=subprocess.PIPE, text=True)
    pid = int(engine.stdout.readline())
    time.sleep(3)  # started and serving
    assert alive(pid), f"the {name} did not start"
    engine.send_signal(signal.SIGKILL)
    engine.wait()
    deadline = time.monotonic() + 15
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        pytest.fail(f"the {name} (pid {pid}) outlived its engine by 15 s")
