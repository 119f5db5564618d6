#!/usr/bin/env bash
# The first process of one scale benchmark machine (a compute host or the controller), as
# tests/support/fleet.py starts it:
#   ip netns exec NS unshare --mount --uts --pid --fork --kill-child --mount-proc \
#     namespace_init.sh DIR NAME [LISTEN_ADDRESS LISTEN_PORT]
# In its own mount namespace the machine gets a private /etc (an overlay over the real one: what
# novalab writes there lands in DIR/etc.upper), /run and /tmp, its own host name and process list,
# root's home, and the users nova and neutron its files belong to; then its sshd takes over this
# process (PID 1 of the namespace: when it dies, the kernel kills every process the machine started).
# With LISTEN_ADDRESS and LISTEN_PORT, a port that accepts connections (the controller's RabbitMQ).
set -euo pipefail

[ "$#" -eq 2 ] || [ "$#" -eq 4 ] || { echo "usage: $0 DIR NAME [LISTEN_ADDRESS LISTEN_PORT]" >&2; exit 2; }
dir=$1 name=$2
here=$(dirname "${BASH_SOURCE[0]}")

hostname "$name"
# This mount namespace is a copy of the machine's, with every named network namespace mounted under
# /run/netns (the lab's too): unmounted here, so this machine holds none of them alive.
if mountpoint -q /run/netns; then umount -R -l /run/netns; fi
mkdir -p "$dir/etc.upper" "$dir/etc.work"
mount -t overlay nlbench-etc -o "lowerdir=/etc,upperdir=$dir/etc.upper,workdir=$dir/etc.work" /etc
mount -t tmpfs -o mode=0755 nlbench-run /run
mkdir -p /run/sshd /run/lock
mount -t tmpfs -o mode=1777 nlbench-tmp /tmp
if ! grep -q '^nova:' /etc/passwd; then
  printf '%s\n' 'nova:x:64060:' 'neutron:x:64061:' >> /etc/group
  printf '%s\n' 'nova:x:64060:64060::/var/lib/nova:/usr/sbin/nologin' \
    'neutron:x:64061:64061::/var/lib/neutron:/usr/sbin/nologin' >> /etc/passwd
fi
# root's home as on a fresh Debian host (base-files' dot files), not this machine's /root: bash
# reads ~/.bashrc in every SSH session, and a developer's (here pyenv's init, which takes a lock)
# made the sessions of 60 machines wait on each other.
home=/run/root-home
mkdir -m 0700 "$home"
cp /usr/share/base-files/dot.bashrc "$home/.bashrc"
cp /usr/share/base-files/dot.profile "$home/.profile"
sed -i "s|^\(root:[^:]*:[^:]*:[^:]*:[^:]*:\)[^:]*|\1$home|" /etc/passwd
if [ "$#" -eq 4 ]; then
  /usr/bin/python3 "$here/port_listener.py" "$3" "$4" &
fi
exec /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log"
