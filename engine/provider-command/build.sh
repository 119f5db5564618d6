#!/usr/bin/env bash
# Build novalab's command provider: build.sh OUTDIR VERSION
# writes OUTDIR/pulumi-resource-command reporting VERSION (e.g. 1.2.1, the version in the
# installed pulumi_command package's pulumi-plugin.json, which the caller reads).
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 OUTDIR VERSION" >&2
    exit 2
fi
outdir=$1
version=${2#v}
if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]]; then
    echo "build.sh: VERSION must look like 1.2.3, got '$2'" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$outdir"
cd "$here"
# -trimpath: no build paths in the binary; -s -w: no symbol table or DWARF (a third smaller;
# panics still carry function names and lines).
go build -trimpath -ldflags "-s -w -X main.version=${version}" -o "$outdir/pulumi-resource-command" .
