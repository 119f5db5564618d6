"""The `novalab` script's own rules, before any engine runs."""

from __future__ import annotations

import os
import subprocess

import pytest

from support.mocks import ROOT


@pytest.mark.parametrize("command", ["up", "preview"])
def test_the_dev_stack_is_refused_here(command):
    # Pulumi.dev.yaml holds the tutorial's 10.0.0.x: they are not this machine's to touch.
    result = subprocess.run([str(ROOT / "novalab"), command, "dev"], capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "NOVALAB_ALLOW_DEV"}, timeout=60)
    assert result.returncode == 2
    assert "refusing to run the engine on the dev stack here" in result.stderr


def novalab_function(function: str, *args: str, then: str = "", unset: str = "", **env: str) -> str:
    """What FUNCTION of the `novalab` script prints for ARGS (then the shell code THEN), run on its
    own with ENV added to this process's environment and UNSET removed from it."""
    script = (f'source <(sed -n "/^{function}() {{/,/^}}/p" {ROOT / "novalab"}); '
              f'{function} "$@"{"; " + then if then else ""}')
    base = {k: v for k, v in os.environ.items() if k != unset}
    base.update(env)
    return subprocess.run(["bash", "-c", script, "x", *args], capture_output=True, text=True, check=True,
                          env=base).stdout.strip()


def lab_config_args(*args: str, state: str) -> list[str]:
    return novalab_function("lab_config_args", *args, state=state).split()


def test_the_lab_stacks_config_file_is_added_where_pulumi_takes_one(tmp_path):
    (tmp_path / "Pulumi.lab.yaml").write_text("config: {}\n")
    flag = ["--config-file", str(tmp_path / "Pulumi.lab.yaml")]
    assert lab_config_args("config", "set", "-s", "lab", "k", state=str(tmp_path)) == flag
    assert lab_config_args("up", "--stack=lab", state=str(tmp_path)) == flag
    assert lab_config_args("destroy", "--stack", "lab", "--yes", state=str(tmp_path)) == flag
    assert lab_config_args("stack", "output", "-s", "lab", state=str(tmp_path)) == []  # takes no config file
    assert lab_config_args("up", "-s", "mycloud", state=str(tmp_path)) == []
    assert lab_config_args("up", "-s", "lab", state=str(tmp_path / "nowhere")) == []  # no lab config yet


def engine_default(name: str, **env: str) -> str:
    """NAME after the script's engine_defaults (with a backend and passphrase given, so it touches
    nothing)."""
    return novalab_function("engine_defaults", then=f'echo "${name}"', unset=name,
                            PULUMI_BACKEND_URL="file:///nonexistent", PULUMI_CONFIG_PASSPHRASE="x", **env)


def engine_parallel(**env: str) -> str:
    return engine_default("PULUMI_PARALLEL", **env)


def test_the_engine_runs_every_hosts_steps_at_once_unless_told_otherwise():
    # The CLI's own default (4 x cores) ran the steps of two hosts at a time on 2 cores.
    assert int(engine_parallel()) >= 128
    assert engine_parallel(PULUMI_PARALLEL="4") == "4"


def test_the_clis_automatic_log_is_off_unless_asked_for():
    # It logged every verbose engine message of every command to ~/.pulumi/logs (up to 500 MB).
    assert engine_default("PULUMI_DISABLE_AUTOMATIC_LOGS") == "true"
    assert engine_default("PULUMI_DISABLE_AUTOMATIC_LOGS", PULUMI_DISABLE_AUTOMATIC_LOGS="false") == "false"


def sdk_debug_logs(*args: str) -> str:
    return novalab_function("sdk_debug_if_asked", *args, then='echo "${NOVALAB_SDK_DEBUG_LOGS:-unset}"',
                            unset="NOVALAB_SDK_DEBUG_LOGS")


def test_debug_output_includes_the_sdks_own_debug_lines():
    assert sdk_debug_logs("lab", "--debug") == "on"
    assert sdk_debug_logs("up", "-s", "lab", "-d") == "on"
    assert sdk_debug_logs("preview", "--event-log=events.json") == "on"
    assert sdk_debug_logs("lab", "--diff") == "unset"
    assert sdk_debug_logs("lab", "--debug=false") == "unset"


def stack_named(*args: str) -> str:
    return novalab_function("stack_named", *args)


def test_up_and_preview_take_the_lab_stack_unless_their_first_argument_names_another():
    assert stack_named() == "lab"
    assert stack_named("--debug") == "lab"  # ./novalab up --debug: the lab, with --debug for pulumi
    assert stack_named("mycloud", "--debug") == "mycloud"
