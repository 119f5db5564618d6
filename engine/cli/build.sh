#!/usr/bin/env bash
# Builds the Pulumi CLI from github.com/pulumi/pulumi/pkg/v3 (the version this module's go.mod pins)
# into OUTDIR/pulumi. pkg's own go.mod has a local replace, so `go install pkg@version` is refused;
# this module requires it instead and repeats pkg's one non-local replace (clipboard).
# Usage: build.sh OUTDIR
set -euo pipefail
[ "$#" -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
version=$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)
mkdir -p "$out"
# Without the version stamp the CLI reports an empty version (and plugins' compatibility checks see 0.0.0).
go build -trimpath -mod=readonly \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
  -o "$out/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
