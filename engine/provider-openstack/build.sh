#!/usr/bin/env bash
# Build novalab's pulumi-resource-openstack: tfgen, its schema, then the plugin with that schema
# compiled in.
#
#   engine/provider-openstack/build.sh OUTDIR VERSION
#
# VERSION is the plugin version (the caller reads it from the installed pulumi_openstack's
# pulumi-plugin.json). Everything is written under OUTDIR, which must be outside the repository:
#   OUTDIR/pulumi-resource-openstack   the plugin (schema + bridge metadata embedded)
#   OUTDIR/schema.json                 the generated Pulumi package schema
#   OUTDIR/bridge-metadata.json        the bridge's metadata, generated with it
# Scratch (removed when the build succeeds): OUTDIR/bin/pulumi-tfgen-openstack, the schema
# generator, and OUTDIR/src/provider/, a copy of this module the generated files are built in.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR VERSION" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
version=$2
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] || { echo "bad VERSION: $version" >&2; exit 2; }

module_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
outdir=$(realpath -m "$1")
repo_root=$(git -C "$module_dir" rev-parse --show-toplevel 2>/dev/null || echo "$module_dir")
case "$outdir/" in
    "$repo_root"/*) echo "OUTDIR must be outside the repository ($repo_root)" >&2; exit 2 ;;
esac
mkdir -p "$outdir"

since() { awk -v start="$1" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.1f", now - start }'; }

step() {
    local name=$1 started=$EPOCHREALTIME
    shift
    echo "==> $name"
    "$@"
    echo "==> $name: $(since "$started") s"
}

src=$outdir/src/provider # tfgen finds the TF provider's docs through a go.mod in a dir named "provider"
ldflags="-X novalab/engine/provider-openstack.Version=$version"

copy_sources() {
    rm -rf "$src"
    mkdir -p "$src"
    # only what `go build` needs: the module's Go files, go.mod/go.sum and the token table
    (cd "$module_dir" && find . -name '*.go' -o -name go.mod -o -name go.sum -o -name tokens.json) |
        while read -r f; do
            mkdir -p "$src/$(dirname "$f")"
            cp "$module_dir/$f" "$src/$f"
        done
}

build_tfgen() {
    (cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$outdir/bin/pulumi-tfgen-openstack" ./cmd/pulumi-tfgen-openstack)
}

generate_schema() {
    local gen=$outdir/gen
    rm -rf "$gen"
    # examples would be converted from HCL through a `pulumi` CLI; the SDK is already generated
    (cd "$src" && PULUMI_CONVERT=0 "$outdir/bin/pulumi-tfgen-openstack" schema --skip-examples --out "$gen" >"$outdir/tfgen.log" 2>&1) ||
        { tail -n 40 "$outdir/tfgen.log" >&2; return 1; }
    cp "$gen/schema.json" "$gen/bridge-metadata.json" "$src/cmd/pulumi-resource-openstack/"
    cp "$gen/schema.json" "$gen/bridge-metadata.json" "$outdir/"
    echo "    schema.json $(stat -c %s "$outdir/schema.json") bytes"
}

build_provider() {
    (cd "$src" && go build -trimpath -tags novalab_schema -ldflags "-s -w $ldflags" \
        -o "$outdir/pulumi-resource-openstack.new" ./cmd/pulumi-resource-openstack)
    mv "$outdir/pulumi-resource-openstack.new" "$outdir/pulumi-resource-openstack"
    echo "    pulumi-resource-openstack $(stat -c %s "$outdir/pulumi-resource-openstack") bytes"
}

total_started=$EPOCHREALTIME
step "copy sources to $src" copy_sources
step "build tfgen" build_tfgen
step "generate schema" generate_schema
step "build provider $version" build_provider
rm -rf "${outdir:?}/src" "${outdir:?}/gen" "${outdir:?}/bin"
echo "==> built $outdir/pulumi-resource-openstack in $(since "$total_started") s"
