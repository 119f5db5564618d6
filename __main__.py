"""novalab: the OpenStack compute-node tutorial as a Pulumi program (see README.md)."""

from components.program import run

run()
