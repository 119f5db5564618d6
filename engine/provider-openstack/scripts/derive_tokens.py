#!/usr/bin/env python3
"""Derive tokens.json (the provider's explicit token table) from the installed pulumi_openstack SDK
and the resource / data source list of the bridged terraform-provider-openstack.

Run once per upgrade, review the diff, commit tokens.json:

    go run ./cmd/tf-schema-names > /tmp/tf-names.json
    ../../venv/bin/python scripts/derive_tokens.py /tmp/tf-names.json > tokens.json

Each SDK class / function is matched to the TF resource / data source whose attribute names are
closest to the property names the SDK sends and reads (Jaccard over names with case, `_` and a
plural `s` ignored), with the token's module and the names as tie-breakers. The SDK's deprecated
classes (e.g. `openstack:index/bgpvpnV2:BgpvpnV2`, superseded by `openstack:bgpvpn/v2:V2`) become
`legacy` tokens of the same TF name: the provider serves them as deprecated aliases. A TF name no SDK
class claims gets no entry and the script fails, naming it.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sdk_shape  # noqa: E402

# TF name prefix -> Pulumi module (as upstream pulumi-openstack groups them).
TF_PREFIX_MODULES = {
    "blockstorage": "blockstorage",
    "bgpvpn": "bgpvpn",
    "compute": "compute",
    "containerinfra": "containerinfra",
    "db": "database",
    "dns": "dns",
    "identity": "identity",
    "images": "images",
    "keymanager": "keymanager",
    "networking": "networking",
    "lb": "loadbalancer",
    "loadbalancer": "loadbalancer",
    "fw": "firewall",
    "objectstorage": "objectstorage",
    "orchestration": "orchestration",
    "sharedfilesystem": "sharedfilesystem",
    "vpnaas": "vpnaas",
}
MIN_SCORE = 0.6  # below this a match is a guess: fail instead


def tf_module(tf_name: str) -> str:
    return TF_PREFIX_MODULES.get(tf_name.removeprefix("openstack_").split("_")[0], "index")


def norm(name: str) -> str:
    return re.sub(r"s$", "", name.replace("_", "").lower())


def token_module(token: str) -> str:
    return token.split(":")[1].split("/")[0]


def score(member: sdk_shape.Member, tf_name: str, tf: dict) -> float:
    sdk = {norm(n) for n in {**member.inputs, **member.outputs}} - {"id"}
    tf_attrs = {norm(a) for a in tf["attributes"]} - {"id"}
    jaccard = len(sdk & tf_attrs) / max(1, len(sdk | tf_attrs))
    # compare "<module><rest>" on both sides: openstack_lb_flavor_v2 ~ loadbalancer/getFlavorV2
    rest = re.sub(r"_v\d+$", "", tf_name.removeprefix("openstack_")).split("_", 1)[-1]
    bare_tf = (tf_module(tf_name) + rest).replace("_", "")
    member_name = token_module(member.token) + member.token.rsplit(":", 1)[1]
    bare_sdk = re.sub(r"^(.*/)?get", "", member_name.lower()).replace("v2", "").replace("v3", "").replace("v1", "")
    similarity = difflib.SequenceMatcher(None, bare_tf, bare_sdk).ratio()
    same_module = 1.0 if token_module(member.token) in (tf_module(tf_name), "index") else 0.0
    # a TF name deprecated in favour of a twin goes to the SDK member named for it
    # (openstack_loadbalancer_flavor_v2 -> getLbFlavorDeprecated)
    deprecation_agrees = 1.0 if bool(tf.get("deprecated")) == ("deprecated" in member_name.lower()) else 0.0
    return jaccard + 0.3 * similarity + 0.2 * same_module + 0.1 * deprecation_agrees


def match(members: dict[str, sdk_shape.Member], tf: dict[str, dict], kind: str) -> dict[str, dict]:
    table: dict[str, dict] = {}
    problems: list[str] = []
    for token, member in sorted(members.items()):
        ranked = sorted(((score(member, n, e), n) for n, e in tf.items()), reverse=True)
        (best, tf_name), (second, runner_up) = ranked[0], ranked[1]
        if best < MIN_SCORE or best - second < 0.02:
            problems.append(f"{kind} {token}: best {tf_name} ({best:.2f}), then {runner_up} ({second:.2f})")
            continue
        entry = table.setdefault(tf_name, {})
        if member.deprecated:
            entry.setdefault("legacy", []).append(token)
        elif "token" in entry:
            problems.append(f"{kind} {tf_name}: claimed by {entry['token']} and {token}")
        else:
            entry["token"] = token
    for tf_name in sorted(tf):
        if "token" not in table.get(tf_name, {}):
            problems.append(f"{kind} {tf_name}: no SDK token claims it")
    if problems:
        raise SystemExit("cannot derive the token table:\n  " + "\n  ".join(problems))
    return {name: table[name] for name in sorted(table)}


def main() -> None:
    tf_names = json.loads(Path(sys.argv[1]).read_text())
    pkg = sdk_shape.installed_package()
    shape = sdk_shape.read_shape(pkg)
    out = {
        "sdk": {"package": "pulumi_openstack", "version": sdk_shape.plugin_version(pkg)},
        "resources": match(shape.resources, tf_names["resources"], "resource"),
        "dataSources": match(shape.functions, tf_names["dataSources"], "data source"),
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
