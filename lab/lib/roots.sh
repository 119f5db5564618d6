# shellcheck shell=bash
# The lab's Debian roots, made with debootstrap from the release's suite through the lab's apt cache,
# so this machine's own packages never decide the lab's release:
#   $LAB_CACHE/SUITE-minbase.tar.zst   minbase + sshd: every compute host's root, the controller's base
#   $LAB_CACHE/roots/RELEASE-controller   that + lab/controller-packages.txt, installed, never
#       configured: the lower layer of the controller's root (an overlay; its upper layer, in the
#       cloud's directory, holds the cloud's configuration and databases)
# Both are kept by `down`: a warm `up` builds nothing.

ROOTS_CACHE=$LAB_CACHE/roots
ROOT_EXTRA_PACKAGES=openssh-server,iproute2,procps,ca-certificates,less

suite_tarball() { echo "$LAB_CACHE/$1-minbase.tar.zst"; }
controller_lower() { echo "$ROOTS_CACHE/$1-controller"; }

# The Debian archives this machine itself uses (deb822 or one-line sources) serve every suite the
# lab needs; the roots use them through the lab's apt cache.
machine_archive() {  # machine_archive SUITE_SUFFIX -> the first URI serving <this machine's suite>$SUITE_SUFFIX
  local suffix=$1 f codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  local -a files=()
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    if [ -f "$f" ]; then files+=("$f"); fi
  done
  [ "${#files[@]}" -gt 0 ] || return 0
  awk -v s="$codename$suffix" '
    /^URIs:/ {uri=$2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == s) {print uri; exit}}
    /^deb / {for (i = 3; i <= NF; i++) if ($i == s) {print $2; exit}}' "${files[@]}"
}

build_suite_tarball() {  # build_suite_tarball SUITE
  local suite=$1 tarball tmp main security
  tarball=$(suite_tarball "$suite")
  [ -s "$tarball" ] && return 0
  log "roots: debootstrap $suite minbase (cached as $tarball)"
  main=$(machine_archive "")
  security=$(machine_archive -security)
  [ -n "$main" ] || die "no Debian archive in this machine's apt sources"
  mkdir -p "$LAB_CACHE"
  tmp=$(mktemp -d "$LAB_CACHE/debootstrap.XXXXXX")
  http_proxy=$APT_PROXY nice debootstrap --variant=minbase --include="$ROOT_EXTRA_PACKAGES" \
    "$suite" "$tmp" "$main" >>"$LAB_LOGS/debootstrap.log" 2>&1 \
    || { tail -n 20 "$LAB_LOGS/debootstrap.log" >&2; rm -rf "$tmp"; die "debootstrap $suite failed"; }
  {
    echo "deb $main $suite main"
    echo "deb $main $suite-updates main"
    if [ -n "$security" ]; then echo "deb $security $suite-security main"; fi
  } > "$tmp/etc/apt/sources.list"
  # Roots reach Debian only through the lab's caching proxy, so host 2..N install from cache.
  echo "Acquire::http::Proxy \"$APT_PROXY\";" > "$tmp/etc/apt/apt.conf.d/01novalab-proxy"
  # No init system here: package scripts must not try to start daemons (the lab and novalab do).
  printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"
  chmod 0755 "$tmp/usr/sbin/policy-rc.d"
  rm -f "$tmp"/etc/ssh/ssh_host_*
  chmod 0755 "$tmp"  # mktemp made it 0700: the root's "/" must be traversable by its users
  sed -i 's/^#\?PermitRootLogin.*/PermitRootLogin prohibit-password/' "$tmp/etc/ssh/sshd_config"
  echo "UseDNS no" >> "$tmp/etc/ssh/sshd_config"
  tar -C "$tmp" -cf - . | nice zstd -q -T0 -3 -o "$tarball.tmp"
  mv "$tarball.tmp" "$tarball"
  rm -rf "$tmp"
}

unpack_suite() {  # unpack_suite SUITE DIR
  mkdir -p "$2"
  zstd -q -dc "$(suite_tarball "$1")" | tar -C "$2" -xf -
}

# The package list of RELEASE's controller (lab/controller-packages.txt).
controller_packages() {
  awk -v r="$1" '!/^#/ && NF { if (NF == 1) {print $1; next} for (i = 2; i <= NF; i++) if ($i == r) print $1 }' \
    "$LAB_HOME/controller-packages.txt"
}

# What the controller's lower layer was built from: a change rebuilds it.
controller_recipe() {
  { echo "$1"; controller_packages "$1"; cat "$LAB_HOME/lib/roots.sh"; } | sha256sum | cut -c1-16
}

# in_build_root DIR COMMAND...: COMMAND chrooted into DIR with /proc, /sys and /dev, in a mount
# namespace of its own (the mounts end with it).
in_build_root() {
  local dir=$1
  shift
  # shellcheck disable=SC2016 # expanded by the inner bash
  unshare --mount --propagation private bash -c '
    set -e
    mount -t proc proc "$0/proc"; mount -t sysfs sysfs "$0/sys"; mount --rbind /dev "$0/dev"
    exec chroot "$0" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"' \
    "$dir" "$@"
}

build_controller_lower() {  # build_controller_lower RELEASE
  local release=$1 suite lower want tmp
  suite=$(release_field "$release" 2)
  lower=$(controller_lower "$release")
  want=$(controller_recipe "$release")
  [ "$(cat "$lower/.novalab-recipe" 2>/dev/null)" = "$want" ] && return 0
  build_suite_tarball "$suite"
  log "roots: the $release controller's packages ($suite, ~5 min cold; cached in $lower)"
  mkdir -p "$ROOTS_CACHE"
  tmp=$(mktemp -d "$ROOTS_CACHE/build.XXXXXX")
  unpack_suite "$suite" "$tmp"
  local -a packages
  mapfile -t packages < <(controller_packages "$release")
  if ! { in_build_root "$tmp" apt-get update -q \
      && in_build_root "$tmp" nice apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${packages[@]}"; } \
      >>"$LAB_LOGS/controller-apt.log" 2>&1; then
    tail -n 20 "$LAB_LOGS/controller-apt.log" >&2
    rm -rf "$tmp"
    die "installing the $release controller's packages failed"
  fi
  in_build_root "$tmp" apt-get clean
  echo "$want" > "$tmp/.novalab-recipe"
  rm -rf "$lower"
  mv "$tmp" "$lower"
}
