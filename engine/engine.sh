#!/usr/bin/env bash
# The Pulumi engine novalab runs on: the CLI, novalab's Python language host, and the command and
# openstack resource plugins.
#
#   engine/engine.sh setup   use a Pulumi install on PATH that has what the project needs, or build
#                            the missing pieces into the cache and install the plugins where Pulumi
#                            looks for them (no download attempt); prints the directory to put on PATH
#   engine/engine.sh path    the directory to put first on PATH (after setup)
#
# Each piece is built once per pin: its cache directory is named by a hash of its sources (go.mod,
# go.sum, code) and the version it is built for, so a rebuild happens only when one of them changes.
# The plugin versions come from the installed provider SDKs (pulumi-plugin.json of pulumi_command,
# pulumi_openstack, pinned in requirements.txt): one pin, read here.
set -euo pipefail

ENGINE_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$ENGINE_HOME/.." && pwd)
CACHE=${NOVALAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/novalab}
VENV_PYTHON=${NOVALAB_VENV:-$ROOT/venv}/bin/python
PULUMI_HOME=${PULUMI_HOME:-$HOME/.pulumi}
LANGUAGE_HOST=$ENGINE_HOME/language-host/pulumi-language-python
DYNAMIC_PROVIDER=$ENGINE_HOME/dynamic-provider/pulumi-resource-pulumi-python

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'engine: %s\n' "$*" >&2; exit 1; }

# The resource plugins the program needs: "name version" lines from the venv's provider SDKs.
required_plugins() {
  [ -x "$VENV_PYTHON" ] || die "no venv at $VENV_PYTHON: run ./novalab setup"
  "$VENV_PYTHON" -I "$ENGINE_HOME/language-host/novalab_langhost/inspect_env.py" |
    "$VENV_PYTHON" -c 'import json, sys; [print(p["name"], p["version"]) for p in json.load(sys.stdin)["plugins"]]'
}

plugin_version() {  # plugin_version NAME
  required_plugins | awk -v n="$1" '$1 == n {print $2; found = 1} END {exit !found}' ||
    die "the venv has no provider SDK for plugin $1 (requirements.txt)"
}

# source_key DIR EXTRA...: a hash of every tracked-or-not source file of DIR (no build output, no
# test data) plus EXTRA words (versions, the Go toolchain).
source_key() {
  local dir=$1
  shift
  {
    printf '%s\n' "$@" "$(go env GOVERSION)"
    (cd "$dir" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' -o -name '*.sh' -o -name '*.patch' -o -name '*.json' -o -name '*.py' \) \
      -not -name '*_test.go' -not -path '*/testdata/*' -not -path './tests/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-16
}

# build PIECE OUTDIR SCRIPT [ARGS...]: `SCRIPT DIR ARGS...` builds into a temp DIR that becomes
# OUTDIR when it succeeds; nothing happens when OUTDIR is complete. Shows progress and time.
build() {
  local piece=$1 out=$2 script=$3
  shift 3
  if [ -f "$out/.complete" ]; then
    return 0
  fi
  log "building $piece (first time for these pins; cached in $out)"
  local tmp=$out.tmp.$$ start=$SECONDS
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # A heartbeat, so a long cold build is not mistaken for a hang.
  ( while sleep 30; do printf '    %s: still building, %d s\n' "$piece" $((SECONDS - start)) >&2; done ) &
  local beat=$!
  if ! "$script" "$tmp" "$@" > "$tmp.log" 2>&1; then
    kill "$beat" 2>/dev/null || true
    tail -n 40 "$tmp.log" >&2
    printf 'engine: building %s failed (full log: %s)\n' "$piece" "$tmp.log" >&2
    return 1
  fi
  kill "$beat" 2>/dev/null || true
  rm -rf "$out"
  mv "$tmp" "$out"
  mv "$tmp.log" "$out/build.log"
  touch "$out/.complete"
  # Builds for older pins of this piece are not used any more: keep the cache to one per piece.
  local old
  for old in "$(dirname "$out")"/*; do
    [ "$old" = "$out" ] || [ ! -f "$old/.complete" ] || rm -rf "$old"
  done
  log "built $piece in $((SECONDS - start)) s"
}

cli_dir() { echo "$CACHE/cli/$(source_key "$ENGINE_HOME/cli")"; }

# install_plugin NAME VERSION BUILT_DIR: where `pulumi` looks first, so it never tries to download.
install_plugin() {
  local name=$1 version=$2 built=$3
  local dir=$PULUMI_HOME/plugins/resource-$name-v$version
  mkdir -p "$dir"
  local f
  for f in "$built"/*; do
    [ -f "$f" ] || continue
    case "$(basename "$f")" in build.log|.complete) continue ;; esac
    cmp -s "$f" "$dir/$(basename "$f")" || cp -f "$f" "$dir/$(basename "$f")"
  done
  # Pulumi treats a plugin directory with a .partial marker as unfinished; make sure none is left.
  rm -f "$PULUMI_HOME/plugins/resource-$name-v$version.partial"
}

# An install already on PATH is used when it has every plugin this project needs.
usable_path_install() {
  local own
  own=$(cli_dir)
  local found
  found=$(command -v pulumi 2>/dev/null) || return 1
  [ "$(dirname "$(readlink -f "$found")")" != "$own" ] || return 1
  # The official CLI ships its Python plugins beside `pulumi`; ours (on PATH under `novalab`) do not count.
  local bundled
  for bundled in pulumi-language-python pulumi-resource-pulumi-python; do
    [ -x "$(dirname "$found")/$bundled" ] || return 1
  done
  local have name version
  have=$(pulumi plugin ls 2>/dev/null) || return 1
  while read -r name version; do
    awk -v n="$name" -v v="$version" '$1 == n && $2 == "resource" && ($3 == v || $3 == "v" v) {f = 1} END {exit !f}' <<<"$have" || return 1
  done < <(required_plugins)
  echo "$found"
}

setup() {
  local found
  if [ "${NOVALAB_ENGINE:-}" != build ] && found=$(usable_path_install); then
    log "engine: using the Pulumi install on PATH: $found ($(pulumi version)); NOVALAB_ENGINE=build builds novalab's own"
    dirname "$found"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "Go is needed to build the engine (https://go.dev/dl or Debian's golang); or put an official Pulumi install on PATH"
  # One setup at a time per cache: a second one (another terminal, a test) waits, then finds it built.
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.setup.lock"
  flock 9
  local cli failed=() name version dir
  cli=$(cli_dir)
  if build "the Pulumi CLI ($(cd "$ENGINE_HOME/cli" && go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3))" \
    "$cli" "$ENGINE_HOME/cli/build.sh"; then
    # The CLI looks for language hosts beside itself first (and warns about ones found on PATH).
    ln -sfn "$LANGUAGE_HOST" "$cli/pulumi-language-python"
    # Python dynamic providers (components/host_state.py) run through this plugin, bundled like the
    # language host: the CLI looks for it beside itself.
    ln -sfn "$DYNAMIC_PROVIDER" "$cli/pulumi-resource-pulumi-python"
  else
    failed+=(cli)
  fi
  # One provider failing to build must not hide the others: each is tried, failures are listed.
  for name in command openstack; do
    version=$(plugin_version "$name")
    dir=$CACHE/provider-$name/$(source_key "$ENGINE_HOME/provider-$name" "$version")
    if build "the $name provider v$version" "$dir" "$ENGINE_HOME/provider-$name/build.sh" "$version"; then
      install_plugin "$name" "$version" "$dir"
    else
      failed+=("$name")
    fi
  done
  echo "$cli"
  [ "${#failed[@]}" -eq 0 ] || die "not built: ${failed[*]} (see above)"
}

cmd=${1:-}
case "$cmd" in
  setup) setup ;;
  path) cli_dir ;;
  plugins) required_plugins ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
