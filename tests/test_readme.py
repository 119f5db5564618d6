"""The README's pointers into the code lead somewhere: every path it names exists, and every
"`name()` in `file`" is defined in that file (files moved when the network became its own unit)."""

from __future__ import annotations

import re

from support.mocks import ROOT

README = (ROOT / "README.md").read_text()
PATH = re.compile(r"`((?:components|lab|engine|state|policies|tests|benchmarks|docs)/[^`*<> ]+)`")
DEFINED_IN = re.compile(r"`([a-z_]+)\(\)` in `([a-z/_]+\.py)`")


def test_every_path_the_readme_names_exists():
    paths = set(PATH.findall(README))
    assert len(paths) > 20
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == []


def test_every_function_the_readme_places_is_there():
    places = DEFINED_IN.findall(README)
    assert ("host_steps", "components/steps.py") in places
    wrong = [(name, path) for name, path in places if not re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M)]
    assert wrong == []
