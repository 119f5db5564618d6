"""The m1 family as every cloud of the tutorial's era ships it, read from m1_flavors.txt beside this
file (columns: name id ram_mb disk_gb vcpus): the one reader of the m1 sizes' one source, stdlib only,
for the program (components/config/cloud.py), the lab (lab/lib/cloud.py) and the policy pack
(novalab_rules.py, through the links policies/m1_flavors.py and .txt)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

M1_FLAVORS_FILE = Path(__file__).resolve().parent / "m1_flavors.txt"


class M1Flavor(NamedTuple):
    name: str
    id: str
    ram_mb: int
    disk_gb: int
    vcpus: int


def read_m1_flavors(path: Path = M1_FLAVORS_FILE) -> tuple[M1Flavor, ...]:
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, fid, ram, disk, vcpus = line.split()
            rows.append(M1Flavor(name, fid, int(ram), int(disk), int(vcpus)))
    return tuple(rows)
