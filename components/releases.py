"""OpenStack releases as a compute node meets them: what the controller's API and the host's packages
say about the release, one row each (https://releases.openstack.org, Debian's package versions).

novalab reads the cloud's release where it has to refuse what cannot work there: the controller step
reads the compute API's highest microversion, the packages step the candidate version of a package
before it installs anything (a backend's `unavailable`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    series: str  # "2025.1"
    codename: str  # "epoxy"
    # The compute API's highest microversion (nova/api/openstack/api_version_request.py); several
    # releases may share one, so it tells "this release or a later one".
    compute_microversion: str
    neutron_version: str  # neutron's Debian package version, epoch and major ("2:26")


RELEASES = (
    Release("2022.2", "zed", "2.93", "2:21"),
    Release("2023.1", "antelope", "2.95", "2:22"),
    Release("2023.2", "bobcat", "2.95", "2:23"),
    Release("2024.1", "caracal", "2.96", "2:24"),
    Release("2024.2", "dalmatian", "2.96", "2:25"),
    Release("2025.1", "epoxy", "2.100", "2:26"),
)


def release(codename: str) -> Release:
    for r in RELEASES:
        if r.codename == codename:
            return r
    raise KeyError(f"unknown OpenStack release {codename!r}")
