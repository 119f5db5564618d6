"""neutron.conf for the neutron agents on a compute host (every backend's agents read it)."""

from __future__ import annotations

from typing import Optional, Sequence

from ..render import HEADER, SectionOverrides, render_ini

NEUTRON_CONF = "/etc/neutron/neutron.conf"


def render_neutron_conf(
    host: str,
    transport: str,
    overrides: Optional[SectionOverrides] = None,
    rabbit_options: Sequence[tuple[str, str]] = (),
) -> str:
    """/etc/neutron/neutron.conf for the L2 agent: the message bus, and how it becomes root.

    The agent runs as user neutron and reaches root through rootwrap; the distribution's own
    neutron.conf sets that, and since this file replaces it, it must say so too (without it the
    agent runs `sudo privsep-helper`, which sudoers refuses, and dies at start)."""
    return HEADER + render_ini(
        [
            (
                "DEFAULT",
                [("host", host), ("transport_url", transport), ("auth_strategy", "keystone")],
            ),
            (
                "agent",
                [
                    ("root_helper", "sudo neutron-rootwrap /etc/neutron/rootwrap.conf"),
                    ("root_helper_daemon", "sudo neutron-rootwrap-daemon /etc/neutron/rootwrap.conf"),
                ],
            ),
            ("oslo_concurrency", [("lock_path", "/var/lib/neutron/tmp")]),
            *([("oslo_messaging_rabbit", list(rabbit_options))] if rabbit_options else []),
        ],
        overrides,
    )
