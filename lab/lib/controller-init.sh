#!/usr/bin/env bash
# The controller's mount namespace, held for as long as the controller runs: started inside the
# controller's network namespace with a mount namespace of its own (unshare --mount), it mounts the
# controller's root (an overlay: LOWER, the release's installed packages, under UPPER, the cloud's own
# files) with /proc, /sys, /dev and a fresh /run, binds the lab's directories the services need at the
# same paths inside, and waits. Every controller daemon enters these namespaces (nsenter) and chroots
# into ROOT, so all of the controller's mounts vanish with its last process: `down` leaves none.
# Usage: controller-init.sh LOWER UPPER WORK ROOT [rw:DIR|ro:DIR]...
set -euo pipefail
lower=$1 upper=$2 work=$3 root=$4
shift 4

mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$root/run/lock"
for bind in "$@"; do
  dir=${bind#*:}
  mkdir -p "$root$dir"
  mount --bind "$dir" "$root$dir"
  if [ "${bind%%:*}" = ro ]; then mount -o remount,bind,ro "$root$dir"; fi
done
touch "$root/run/novalab-controller-ready"
exec sleep infinity
