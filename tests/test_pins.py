"""One pin, one place: the plugin versions are pinned once (the provider SDKs in requirements.txt,
whose pulumi-plugin.json engine/engine.sh reads); what the READMEs say of them must be that pin."""

from __future__ import annotations

import re

import pytest

from support.engine import ROOT
from support.pins import plugin_versions

# "the `command` (1.2.1) ... plugins" and "pulumi plugin install resource command 1.2.1"
MENTIONS = (
    re.compile(r"`(command|openstack)` \((\d+\.\d+\.\d+)\)"),
    re.compile(r"plugin install resource (command|openstack) v?(\d+\.\d+\.\d+)"),
)
DOCS = ("README.md", "engine/provider-command/README.md", "engine/provider-openstack/README.md")


def mentions(text: str) -> list[tuple[str, str]]:
    return [m.groups() for pattern in MENTIONS for m in pattern.finditer(text)]


@pytest.mark.parametrize("doc", DOCS)
def test_the_plugin_versions_a_readme_names_are_the_pin(doc):
    pins = plugin_versions()
    assert {name: pins[name] for name in ("command", "openstack")}  # the venv has both SDKs
    for name, version in mentions((ROOT / doc).read_text()):
        assert version == pins[name], f"{doc} names {name} {version}; the pin is {pins[name]} (requirements.txt)"


def test_the_readme_says_which_plugins_to_install():
    # The check above is not vacuous: the README names both, in both places a user copies from.
    named = mentions((ROOT / "README.md").read_text())
    pins = plugin_versions()
    assert sorted(set(named)) == [("command", pins["command"]), ("openstack", pins["openstack"])]
    assert len(named) == 4


def test_a_wrong_version_is_caught():
    text = "the `command` (9.9.9) and `openstack` (5.5.3) resource plugins"
    assert mentions(text) == [("command", "9.9.9"), ("openstack", "5.5.3")]
