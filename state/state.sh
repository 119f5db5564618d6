#!/usr/bin/env bash
# novalab's own PostgreSQL for Pulumi state (placeholder until issue 14 lands: nothing configured).
#   state/state.sh backend-url   exit 1: no novalab state database configured
set -euo pipefail
case "${1:-}" in
  backend-url) exit 1 ;;
  *) echo "state: not built yet" >&2; exit 2 ;;
esac
