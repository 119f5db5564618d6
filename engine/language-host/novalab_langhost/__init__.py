"""novalab's Pulumi language host for Python programs and policy packs (see host.py)."""
