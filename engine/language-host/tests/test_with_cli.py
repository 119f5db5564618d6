"""novalab's language host driven by the real CLI: what a user sees of it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests"))

from support.engine import VENV, Pulumi, diagnostics, write_project  # noqa: E402
from support.pins import plugin_versions  # noqa: E402

pytestmark = pytest.mark.engine

EXPORTS = """
import pulumi
config = pulumi.Config()
pulumi.export("greeting", "hello " + config.require("who"))
pulumi.export("token", config.require_secret("token"))
"""


@pytest.fixture
def stack(tmp_path):
    project = write_project(tmp_path / "project", EXPORTS, name="langhost")
    pulumi = Pulumi(project, tmp_path / "state").init()
    pulumi.config("who", "novalab")
    pulumi.config("token", "tok-0123-secret", secret=True)
    return pulumi


def test_config_reaches_the_program_and_secrets_stay_secret(stack):
    result = stack.up()
    assert "tok-0123-secret" not in result.output
    assert stack.outputs() == {"greeting": "hello novalab", "token": "[secret]"}
    assert stack.outputs(show_secrets=True)["token"] == "tok-0123-secret"
    assert not any("tok-0123-secret" in p.read_text(errors="replace") for p in stack.state_files())


def test_about_names_the_programs_python_and_sdk(stack):
    about = stack.run("about").stdout
    assert f"executable='{VENV / 'bin' / 'python'}'" in about
    assert "sdk='pulumi 3." in about
    # The plugins are those of the installed provider SDKs, exact versions.
    pins = plugin_versions()
    assert f"resource  command    {pins['command']}" in about and f"resource  openstack  {pins['openstack']}" in about
    assert "language  python" in about


def test_a_program_bug_is_shown_once_with_its_traceback(tmp_path):
    project = write_project(tmp_path / "project", "import pulumi\nraise ValueError('boom-7f3a')\n", name="buggy")
    pulumi = Pulumi(project, tmp_path / "state").init()
    result = pulumi.preview(check=False)
    assert result.returncode != 0
    assert diagnostics(result).count("ValueError: boom-7f3a") == 1, result.output
    assert "Traceback" in result.output
    assert "exited with non-zero exit code" not in result.output
    assert diagnostics(result).count("error:") == 1


def test_a_run_error_is_the_message_alone(tmp_path):
    program = "import pulumi\nraise pulumi.RunError('the config is wrong: key x')\n"
    pulumi = Pulumi(write_project(tmp_path / "project", program, name="runerror"), tmp_path / "state").init()
    result = pulumi.preview(check=False)
    assert result.returncode != 0
    shown = diagnostics(result)
    assert shown.count("the config is wrong: key x") == 1, result.output
    assert shown.count("error:") == 1  # no second "program exited" error from the engine
    assert "Traceback" not in result.output


def test_a_missing_virtualenv_says_how_to_create_it(tmp_path):
    project = write_project(tmp_path / "project", EXPORTS, name="novenv", virtualenv=tmp_path / "nowhere")
    pulumi = Pulumi(project, tmp_path / "state").init()
    result = pulumi.preview(check=False)
    assert result.returncode != 0
    assert str(tmp_path / "nowhere") in result.output and "pulumi install" in result.output


def test_pulumi_install_creates_the_virtualenv(tmp_path):
    project = write_project(tmp_path / "project", EXPORTS, name="installs", virtualenv=Path("venv"))
    (project / "requirements.txt").write_text("")  # nothing to download: the test stays offline
    pulumi = Pulumi(project, tmp_path / "state")
    pulumi.run("install")
    assert (project / "venv" / "bin" / "python").exists()
