"""Set the lab's host keys (and the number of compute hosts) in Pulumi.lab.yaml, keeping the rest.

Usage: set_host_keys.py STACK_FILE COUNT NAME=KEY...   (public keys only: nothing secret here)
"""

import os
import sys

import yaml


def main() -> None:
    path, count, pairs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    keys = dict(p.split("=", 1) for p in pairs)
    with open(path) as f:
        doc = yaml.safe_load(f)
    cfg = doc["config"]
    cfg["novalab:controller"]["hostKey"] = keys["controller"]
    template = cfg["novalab:computeHosts"][0]
    cfg["novalab:computeHosts"] = [
        dict(template, name=f"compute-{n}", address=f"10.77.0.{20 + n}", hostKey=keys[f"compute-{n}"])
        for n in range(1, count + 1)
    ]
    with open(path + ".tmp", "w") as f:
        f.write("# The lab (lab/README.md). `lab/lab up` sets the host keys and the secrets.\n")
        yaml.safe_dump(doc, f, sort_keys=False, default_flow_style=False)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
