#!/usr/bin/env bash
# Tutorial "Software installation": apt-get install nova-compute-qemu (+ the neutron L2 agent and
# what the br100 bridge needs). Usage: install_packages.sh PACKAGE...
# Idempotent: when every package is already installed, apt is not touched at all. Before installing,
# it waits for apt/dpkg's locks (a fresh cloud image runs unattended-upgrades at first boot), at most
# NOVALAB_DPKG_LOCK_TIMEOUT seconds (600), and finishes a dpkg run that was interrupted.
# Prints the host's facts last (novalab-facts ...), which the component exports for the policy pack.
set -euo pipefail

usage="usage: $0 [--refuse-from PACKAGE VERSION WHY] PACKAGE..."
# --refuse-from: before anything is installed, refuse (saying WHY) when PACKAGE's candidate version is
# VERSION or later: the release where what the stack asks for is gone (a backend's `unavailable`).
refuse_pkg="" refuse_version="" refuse_why=""
if [ "${1:-}" = --refuse-from ]; then
  [ "$#" -ge 4 ] || { echo "$usage" >&2; exit 2; }
  refuse_pkg=$2 refuse_version=$3 refuse_why=$4
  shift 4
fi
[ "$#" -gt 0 ] || { echo "$usage" >&2; exit 2; }
root=${NOVALAB_ROOT:-}  # overridable for tests only
lock_timeout=${NOVALAB_DPKG_LOCK_TIMEOUT:-600}
locks=("$root/var/lib/dpkg/lock-frontend" "$root/var/lib/dpkg/lock" "$root/var/lib/apt/lists/lock"
       "$root/var/cache/apt/archives/lock")

# "PID (COMMAND) LOCK" of one held lock of apt/dpkg (they take fcntl locks, which lslocks lists), or
# nothing. awk reads the whole list: quitting early would kill lslocks with SIGPIPE, which pipefail
# turns into "no lock".
lock_holder() {
  command -v lslocks >/dev/null 2>&1 || return 0  # util-linux, Essential on Debian; apt's own wait below
  lslocks --noheadings --raw --output PID,COMMAND,PATH 2>/dev/null |
    awk -v locks="${locks[*]}" 'BEGIN {n = split(locks, l, " "); for (i = 1; i <= n; i++) held[l[i]] = 1}
      !found && ($3 in held) {print $1 " (" $2 ") " $3; found = 1}'
}

wait_for_locks() {
  local holder said="" until=$((SECONDS + lock_timeout))
  while holder=$(lock_holder) && [ -n "$holder" ]; do
    if [ "$SECONDS" -ge "$until" ]; then
      echo "apt/dpkg is still locked on $(hostname) after ${lock_timeout}s, by $holder; wait for it to finish (ps -p ${holder%% *}) and run pulumi up again" >&2
      exit 1
    fi
    if [ "$holder" != "$said" ]; then
      echo "waiting for apt/dpkg's lock, held by $holder (on a fresh cloud image: unattended-upgrades), at most ${lock_timeout}s"
      said=$holder
    fi
    sleep "${NOVALAB_DPKG_LOCK_POLL:-2}"
  done
}

refuse_unavailable() {
  [ -n "$refuse_pkg" ] || return 0
  local candidate
  # apt-cache's deb822 record of the candidate (the version apt-get would install). It exits 100 when
  # there is none; awk reads to the end, so no writer dies of SIGPIPE under pipefail.
  candidate=$({ apt-cache show --no-all-versions "$refuse_pkg" 2>/dev/null || true; } |
    awk '$1 == "Version:" && v == "" {v = $2} END {print v}')
  if [ -z "$candidate" ]; then
    echo "note: no candidate for $refuse_pkg on $(hostname); not checked against its release"
  elif dpkg --compare-versions "$candidate" ge "$refuse_version"; then
    echo "refused on $(hostname), nothing installed: $refuse_pkg is $candidate here: $refuse_why" >&2
    exit 1
  fi
}

# dpkg keeps what it had not finished in updates/; apt refuses to run until `dpkg --configure -a`.
recover_dpkg() {
  compgen -G "$root/var/lib/dpkg/updates/[0-9]*" >/dev/null || return 0
  echo "dpkg was interrupted on $(hostname) (an earlier install stopped midway): dpkg --configure -a"
  if ! dpkg --force-confdef --force-confold --configure -a; then
    echo "dpkg --configure -a failed on $(hostname): see its messages above; fix the package it names and run pulumi up again" >&2
    exit 1
  fi
}

missing=()
for pkg in "$@"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep existing config files: novalab writes its own afterwards. No Recommends (as kolla's
  # images): with them nova-compute-qemu brings qemu's GTK/SDL front ends, a C toolchain and media
  # codecs, about 380 packages a compute node never uses (841 packages instead of 463 on a minimal
  # Debian 12, and twice the install time); what a compute node needs is a Depends.
  apt_opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  wait_for_locks
  recover_dpkg
  apt-get update -q
  refuse_unavailable
  # Should unattended-upgrades start again meanwhile, apt waits for dpkg's lock itself (apt >= 1.9.11).
  apt-get install "${apt_opts[@]}" -o DPkg::Lock::Timeout="$lock_timeout" "${missing[@]}"
else
  echo "already installed: $*"
fi

ram_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
vcpus=$(nproc)
disk_gb=$(df -P -B1G /var/lib 2>/dev/null | awk 'NR == 2 {print $2}')
echo "novalab-facts ram_mb=${ram_mb} vcpus=${vcpus} disk_gb=${disk_gb:-0}"
