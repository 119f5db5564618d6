"""How a bad config is told: one ConfigError listing every problem by its config path, never
showing a value of a secret key (also not a value inside a secret object, nor in a rule's message)."""

from __future__ import annotations

from typing import Iterable, Sequence, Union

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from .fields import BadValue

# Keys that hold secrets: set them with `pulumi config set --secret`, never in plain text.
SECRET_KEYS = (
    "rabbitPassword", "novaServicePassword", "neutronServicePassword", "sshPrivateKey", "novaMigrationSshKey",
    "metadataProxySharedSecret",
)

Loc = tuple[Union[str, int], ...]


class ConfigError(Exception):
    """Bad stack config: `problems` holds one line per bad field, by config path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"invalid stack config ({len(problems)} problem{'s' if len(problems) != 1 else ''}); "
            f"fix these keys in Pulumi.<stack>.yaml (or with `pulumi config set`):\n{lines}"
        )


def rule_errors(title: str, problems: Sequence[tuple[Loc, Exception]], given: Iterable[dict] = ()) -> ValidationError:
    """One pydantic ValidationError of the errors GIVEN (pydantic's own, as .errors() lists them) and
    the PROBLEMS a rule found, each at its config location (camelCase keys, as in the YAML)."""
    details: list = []
    for e in given:
        if e["type"] == "rule":  # a nested model's rule: raised again as the custom error it was
            details.append(_rule(e["loc"], e["ctx"]["problem"]))
        else:
            details.append({"type": e["type"], "loc": e["loc"], "input": e.get("input"), **({"ctx": e["ctx"]} if "ctx" in e else {})})
    details.extend(_rule(loc, problem) for loc, problem in problems)
    return ValidationError.from_exception_data(title, details)


def _rule(loc: Loc, problem: Exception) -> dict:
    return {"type": PydanticCustomError("rule", "{problem}", {"problem": problem}), "loc": loc, "input": None}


class Line(ValueError):
    """A problem whose text already names its config path (configOverrides' option paths)."""


def path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_EXPECTED = {
    "missing": "required key is missing",
    "extra_forbidden": "unknown key (a typo?); remove it or check the config reference in README.md",
}


def describe(err: dict, secret_keys: Iterable[str] = ()) -> str:
    """One problem line. The value is shown only when no part of its path is a secret key."""
    where = path(err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "missing" and where.startswith("services"):
        return f"{where}: required key is missing (it defaults to the controller's when controller.address is valid)"
    if kind in _EXPECTED:
        return f"{where}: {_EXPECTED[kind]}"
    secret = any(str(p) in set(SECRET_KEYS) | set(secret_keys) for p in err["loc"])
    cause = (err.get("ctx") or {}).get("problem") or (err.get("ctx") or {}).get("error")
    if isinstance(cause, Line):
        return str(cause)
    if isinstance(cause, BadValue):
        return f"{where}: {cause.hidden() if secret else cause}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    got = "" if secret or kind in ("value_error", "rule") else f" (got {err.get('input')!r})"
    return f"{where}: {msg}{got}"
