"""novalab's language host driven by the real CLI: what a user sees of it."""

from __future__ import annotations

import json
import re
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


# --- the SDK speedups (sdk_speedups.py) change nothing the engine records ------------------------

SPEEDUPS = "NOVALAB_SDK_SPEEDUPS"
COMPONENTS = """
import pulumi
from pulumi_command import local

class Step(pulumi.ComponentResource):
    def __init__(self, name, token, after, opts=None):
        super().__init__("test:index:Step", name, None, opts)
        self.run = local.Command(f"{name}-run", create=f"echo {name}", stdin=token,
                                 opts=pulumi.ResourceOptions(parent=self, depends_on=after))
        self.said = pulumi.Output.all(self.run.stdout, token).apply(lambda v: f"{v[0]}+{len(v[1])}")
        self.register_outputs({"said": self.said})

token = pulumi.Config().require_secret("token")
steps = []
for i in range(6):
    steps.append(Step(f"step-{i}", token, [s.run for s in steps[-2:]]))
pulumi.export("said", [s.said for s in steps])
pulumi.export("token", token)
"""


def recorded_state(pulumi: Pulumi) -> list[dict]:
    """The stack's resources as the engine stored them, minus what differs on every run (times,
    random ids, also in provider references) and the order of dependency lists; secrets decrypted."""
    out = json.loads(pulumi.run("stack", "export", "--show-secrets").stdout)
    rows = []
    for r in out["deployment"]["resources"]:
        r = {k: v for k, v in r.items() if k not in ("created", "modified", "id")}
        if "provider" in r:
            r["provider"] = r["provider"].rsplit("::", 1)[0]
        r["dependencies"] = sorted(r.get("dependencies") or [])
        r["propertyDependencies"] = {k: sorted(v) for k, v in (r.get("propertyDependencies") or {}).items()}
        rows.append(r)
    return sorted(rows, key=lambda r: r["urn"])


def test_a_program_leaves_the_same_state_and_outputs_with_and_without_the_sdk_speedups(tmp_path):
    seen = {}
    for speedups in ("on", "off"):
        project = write_project(tmp_path / speedups / "project", COMPONENTS, name="speedups")
        pulumi = Pulumi(project, tmp_path / speedups / "state", env={SPEEDUPS: speedups}).init()
        pulumi.config("token", "tok-5e77-secret", secret=True)
        pulumi.up()
        seen[speedups] = (recorded_state(pulumi), pulumi.outputs(), pulumi.outputs(show_secrets=True))
    assert seen["on"] == seen["off"]
    state, outputs, revealed = seen["on"]
    assert len(state) == 1 + 6 * 2 + 1  # the stack, 6 components with a command each, the provider
    assert outputs["token"] == "[secret]" and revealed["token"] == "tok-5e77-secret"
    assert revealed["said"][5] == "step-5+15"


def preview_steps(pulumi: Pulumi) -> list[str]:
    """`pulumi preview --json` steps, minus the command provider's random preview ids."""
    steps = json.loads(pulumi.preview("--json").stdout)["steps"]
    text = json.dumps(steps, sort_keys=True)
    text = re.sub(r"(compute-\d+-[a-z0-9-]+?)[0-9a-f]{8}\b", r"\1", text)
    rows = []
    for step in json.loads(text):
        state = step.get("newState") or {}
        state["dependencies"] = sorted(state.get("dependencies") or [])
        state["propertyDependencies"] = {k: sorted(v) for k, v in (state.get("propertyDependencies") or {}).items()}
        rows.append(json.dumps(step, sort_keys=True))
    return sorted(rows)


def test_novalabs_preview_is_the_same_with_and_without_the_sdk_speedups(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_engine import bench_stack

    pulumi = bench_stack(tmp_path, hosts=2, servers=4)
    pulumi.extra_env[SPEEDUPS] = "on"
    on = preview_steps(pulumi)
    pulumi.extra_env[SPEEDUPS] = "off"
    assert preview_steps(pulumi) == on
    assert len(on) > 2 * 7 + 4 * 5  # every host step and every server resource, plus components
