#!/usr/bin/env bash
# novalab's team-state tooling (./novalab state ..., ./novalab up --wait-lock): state/cli.py, in Python's
# standard library. `state/state.sh help` lists the commands; state/README.md explains them.
set -euo pipefail
exec "${NOVALAB_PYTHON:-python3}" "$(dirname "${BASH_SOURCE[0]}")" "$@"
