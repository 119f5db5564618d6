#!/usr/bin/env bash
# PID 1 of a lab compute host: runs inside the host's own network, mount, UTS and PID namespaces,
# mounts the host's filesystem (a debootstrap chroot) and runs its sshd. Everything the host later
# starts over SSH (libvirtd, nova-compute, ...) lives in these namespaces.
# Usage: host-init.sh ROOT HOSTNAME
set -euo pipefail
root=$1 name=$2

hostname "$name"
mount --make-rprivate /
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup" 2>/dev/null || true
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$root/run/sshd" "$root/run/lock"
exec chroot "$root" /usr/sbin/sshd -D -e
