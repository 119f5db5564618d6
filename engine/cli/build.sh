#!/usr/bin/env bash
# Builds the Pulumi CLI from github.com/pulumi/pulumi/pkg/v3 (the version this module's go.mod pins)
# into OUTDIR/pulumi. pkg's own go.mod has a local replace, so `go install pkg@version` is refused;
# this module requires it instead and repeats pkg's one non-local replace (clipboard).
# patches/*.patch (paths relative to pkg/v3, applied in order) change a copy of pkg/v3 that a
# temporary go.mod puts in its place (go refuses overlays of the module cache, and embed refuses
# symlinks): the module cache stays as downloaded.
# Usage: build.sh OUTDIR      build the CLI
#        build.sh --test      run the patched packages' tests (upstream's and the patches' own)
set -euo pipefail
[ "$#" -eq 1 ] || { echo "usage: $0 OUTDIR | --test" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
module=github.com/pulumi/pulumi/pkg/v3
version=$(go list -m -f '{{.Version}}' "$module")
go mod download "$module"
pkg=$(go list -m -f '{{.Dir}}' "$module")

modfile=()
patched_packages=()
shopt -s nullglob
patches=("$here"/patches/*.patch)
if [ "${#patches[@]}" -gt 0 ]; then
  command -v patch >/dev/null || { echo "patch is missing: install it (Debian: apt-get install patch)" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp -r "$pkg" "$work/pkg"
  chmod -R u+w "$work/pkg"
  for p in "${patches[@]}"; do
    (cd "$work/pkg" && patch --quiet --forward -p1 < "$p") || { echo "patch $p does not apply to $module $version" >&2; exit 1; }
    while read -r file; do
      patched_packages+=("$module/$(dirname "$file")")
    done < <(sed -n 's|^+++ b/||p' "$p")
  done
  cp go.mod go.sum "$work/"
  go mod edit -modfile="$work/go.mod" -replace="$module=$work/pkg"
  modfile=(-modfile="$work/go.mod")
fi

if [ "$1" = --test ]; then
  read -r -a GO_TEST_FLAGS <<<"${GO_TEST_FLAGS:-}"
  [ "${#patched_packages[@]}" -gt 0 ] || { echo "no patches: nothing to test"; exit 0; }
  mapfile -t packages < <(printf '%s\n' "${patched_packages[@]}" | sort -u)
  # Upstream's tests of the automatic log expect it on, whatever the caller's shell says (patch 0003).
  env -u PULUMI_DISABLE_AUTOMATIC_LOGS go test -mod=mod "${modfile[@]}" -count=1 "${GO_TEST_FLAGS[@]}" "${packages[@]}"
  exit 0
fi

out=$1
mkdir -p "$out"
# Without the version stamp the CLI reports an empty version (and plugins' compatibility checks see 0.0.0).
go build -trimpath -mod=readonly "${modfile[@]}" \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
  -o "$out/pulumi" "$module/cmd/pulumi"
