"""Set the lab's compute hosts (name, address, host key) and the controller's host key in
Pulumi.lab.yaml, keeping the rest. The addresses come from the lab (common.sh host_address).

Usage: set_host_keys.py STACK_FILE CONTROLLER_KEY [NAME ADDRESS KEY]...   (public keys only)
"""

import os
import sys

import yaml


def main() -> None:
    path, controller_key, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    if not rest or len(rest) % 3:
        sys.exit("usage: set_host_keys.py STACK_FILE CONTROLLER_KEY [NAME ADDRESS KEY]...")
    hosts = [rest[i : i + 3] for i in range(0, len(rest), 3)]
    with open(path) as f:
        doc = yaml.safe_load(f)
    cfg = doc["config"]
    cfg["novalab:controller"]["hostKey"] = controller_key
    template = cfg["novalab:computeHosts"][0]
    cfg["novalab:computeHosts"] = [dict(template, name=name, address=address, hostKey=key) for name, address, key in hosts]
    with open(path + ".tmp", "w") as f:
        f.write("# The lab (lab/README.md). `lab/lab up` sets the host keys and the secrets.\n")
        yaml.safe_dump(doc, f, sort_keys=False, default_flow_style=False)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
