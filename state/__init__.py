"""novalab's team-state tooling: its own PostgreSQL for Pulumi's `postgres://` backend, and the lock
handling Pulumi leaves to the user (state/README.md). Standard library only, so Debian 12's python3
runs it (`state/state.sh` uses python3, as ./novalab does, before any venv exists)."""
