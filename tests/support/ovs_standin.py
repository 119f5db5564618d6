"""A stand-in for Open vSwitch's `ovs-vsctl` (the subset configure_ovs.sh uses) and for the
`service openvswitch-switch` of Debian's init script, keeping the database in a JSON file ($OVS_STATE).

It answers as the real tools do where a script depends on it (checked against ovs-vsctl 3.1 on a
scratch ovsdb-server): nothing answers while OVS is stopped; `get` quotes a string the way ovsdb
prints it (`"true"`, `"10.77.2.21"`, but `compute-1`); a missing key, row or bridge is an error; a
value given to `create` is parsed as ovsdb data, so an unquoted `ptcp:6640:127.0.0.1` is refused
("unexpected ":" parsing string"); the commands of one call are one transaction. Like ovs-vswitchd,
`add-br` makes the bridge's kernel interface (a tap, as on the userspace datapath: scripts run in a private network namespace),
and the service's start/restart sets external_ids:system-id from system-id.conf as Debian's
`ovs-ctl start --system-id=random` does (a random UUID there when the file is missing).

Every call is appended to $OVS_LOG; `service` calls to $OVS_SERVICE_LOG.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import uuid

DELIMITERS = set(':=, []{}!<>')
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
OPEN = {"open", "open_vswitch", "."}


class Failed(Exception):
    pass


def load() -> dict:
    try:
        with open(os.environ["OVS_STATE"]) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"running": False, "open": {"external_ids": {}, "other_config": {}}, "bridges": {}, "managers": []}


def save(db: dict) -> None:
    with open(os.environ["OVS_STATE"], "w") as f:
        json.dump(db, f, indent=1, sort_keys=True)


def shown(value: str) -> str:
    """A string as ovsdb prints it."""
    plain = re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", value) and value not in ("true", "false") and not UUID.match(value)
    return value if plain else json.dumps(value)


def atom(text: str) -> str:
    """One string atom of ovsdb's data syntax (`create`, `set` without a key)."""
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise Failed(f"{text}: missing quote at end of quoted string")
        return json.loads(text)
    for c in text:
        if c in DELIMITERS:
            raise Failed(f'{text}: unexpected "{c}" parsing string')
    return text


def record(db: dict, table: str, name: str) -> dict:
    if table.lower() in OPEN and name == ".":
        return db["open"]
    if table.lower() == "bridge":
        if name not in db["bridges"]:
            raise Failed(f'no row "{name}" in table Bridge')
        return db["bridges"][name]
    raise Failed(f"stand-in knows no table {table}")


def run_command(db: dict, opts: list[str], words: list[str], ids: dict, out: list[str]) -> None:
    cmd, args = words[0], words[1:]
    may_exist = "--may-exist" in opts
    if cmd == "show":
        out.append(json.dumps(db["bridges"]))
    elif cmd == "br-exists":
        if args[0] not in db["bridges"]:
            raise SystemExit(2)
    elif cmd == "add-br":
        (br,) = args
        if br in db["bridges"]:
            if not may_exist:
                raise Failed(f"cannot create a bridge named {br} because a bridge named {br} already exists")
        else:
            db["bridges"][br] = {"datapath_type": "", "ports": []}
            db.setdefault("links", []).append(br)
    elif cmd == "list-ports":
        if args[0] not in db["bridges"]:
            raise Failed(f"no bridge named {args[0]}")
        out.extend(sorted(db["bridges"][args[0]]["ports"]))
    elif cmd == "add-port":
        br, port = args
        if br not in db["bridges"]:
            raise Failed(f"no bridge named {br}")
        for name, b in db["bridges"].items():
            if port in b["ports"]:
                if may_exist and name == br:
                    return
                raise Failed(f"cannot create a port named {port} because a port named {port} already exists on bridge {name}")
        db["bridges"][br]["ports"].append(port)
    elif cmd == "get":
        row = record(db, args[0], args[1])
        for column in args[2:]:
            col, _, key = column.partition(":")
            if key:
                if key not in row.get(col, {}):
                    raise Failed(f'no key "{key}" in {args[0]} record "{args[1]}" column {col}')
                out.append(shown(row[col][key]))
            else:
                out.append(shown(row[col]) if row.get(col) else '""')
    elif cmd == "set":
        row = record(db, args[0], args[1])
        for setting in args[2:]:
            column, _, value = setting.partition("=")
            col, _, key = column.partition(":")
            if key:  # a map's key: the whole rest is one atom
                row.setdefault(col, {})[key] = json.loads(value) if value.startswith('"') else value
            else:
                row[col] = atom(value)
    elif cmd == "get-manager":
        out.extend(m for m in db["managers"])
    elif cmd == "create" and args[0] == "Manager":
        target = None
        for setting in args[1:]:
            column, _, value = setting.partition("=")
            if column == "target":
                target = atom(value)
        ident = next((o.split("=", 1)[1] for o in opts if o.startswith("--id=")), None)
        ids[ident] = target
    elif cmd == "add" and args[0].lower() in OPEN and args[2] == "manager_options":
        target = ids[args[3]]
        if target not in db["managers"]:
            db["managers"].append(target)
    else:
        raise Failed(f"stand-in does not know {' '.join(words)}")


def vsctl(argv: list[str]) -> int:
    db = load()
    with open(os.environ["OVS_LOG"], "a") as log:
        log.write(" ".join(argv) + "\n")
    while argv and argv[0].split("=")[0] in ("--timeout", "--db", "--no-wait"):
        argv = argv[1:]  # global options
    commands: list[list[str]] = [[]]
    for word in argv:
        if word == "--":
            commands.append([])
        else:
            commands[-1].append(word)
    if not db["running"]:
        print("ovs-vsctl: unix:/var/run/openvswitch/db.sock: database connection failed (No such file or directory)",
              file=sys.stderr)
        return 1
    before = copy.deepcopy(db)
    out: list[str] = []
    ids: dict = {}
    try:
        for words in (c for c in commands if c):
            opts = [w for w in words if w.startswith("--")]
            run_command(db, opts, [w for w in words if not w.startswith("--")], ids, out)
    except Failed as e:
        print(f"ovs-vsctl: {e}", file=sys.stderr)
        return 1
    except SystemExit as e:
        return int(e.code)
    for br in db.get("links", []):  # ovs-vswitchd makes the bridge's interface
        subprocess.run(["ip", "tuntap", "add", "dev", br, "mode", "tap"], check=True)
    db.pop("links", None)
    if db != before:
        save(db)
    if out:
        print("\n".join(out))
    return 0


def service(argv: list[str]) -> int:
    with open(os.environ["OVS_SERVICE_LOG"], "a") as log:
        log.write(" ".join(argv) + "\n")
    name, action = argv[0], argv[1]
    if name != "openvswitch-switch":
        return 0
    db = load()
    if action in ("start", "restart"):
        id_file = os.path.join(os.environ["NOVALAB_ETC"], "openvswitch", "system-id.conf")
        if not os.path.exists(id_file):
            os.makedirs(os.path.dirname(id_file), exist_ok=True)
            with open(id_file, "w") as f:
                f.write(f"{uuid.uuid4()}\n")
        with open(id_file) as f:
            db["open"]["external_ids"]["system-id"] = f.read().strip()
        db["running"] = True
        db["restarts"] = db.get("restarts", 0) + (action == "restart")
        save(db)
        return 0
    if action == "status":
        return 0 if db["running"] else 3
    return 0


if __name__ == "__main__":
    sys.exit(service(sys.argv[2:]) if sys.argv[1] == "service" else vsctl(sys.argv[2:]))
