# shellcheck shell=bash
# Empty compute hosts: minbase roots of the release's Debian suite (lib/roots.sh), each with its own
# network/mount/UTS/PID namespaces, two NICs (eth1 management, eth2 the VM network novalab bridges as
# br100) and sshd. No nova: provisioning them is novalab's job.

host_root() { echo "$LAB_DIR/hosts/compute-$1/root"; }

# The lab's limits, not novalab's (lab/README.md): no dbus/polkit, so libvirt's default polkit auth
# would lock nova out (socket group auth instead); no AppArmor in a chroot; and qemu's private /dev
# per domain cannot be built inside the host's chroot. Pre-seeded before novalab installs libvirt
# (dpkg keeps an existing config file and leaves its own as .dpkg-dist).
preseed_libvirt() {
  local root=$1
  mkdir -p "$root/etc/libvirt"
  printf 'unix_sock_group = "libvirt"\nunix_sock_rw_perms = "0770"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n' \
    > "$root/etc/libvirt/libvirtd.conf"
  printf 'security_driver = "none"\nnamespaces = []\n' > "$root/etc/libvirt/qemu.conf"
}

# A new host root is a new machine: what the cloud still knows of an earlier compute-N (its database
# outlives `lab down`) is forgotten first, as an operator does before reusing a name (cloud.py forget).
forget_host_records() {  # forget_host_records NAME
  os_cloud forget "$1" "$LAB_LOGS/nova-manage.out" || die "$1: could not forget the earlier host of this name"
}

create_host() {  # create_host N
  local n=$1 root
  root=$(host_root "$n")
  # A root of another suite is left from another release's lab: this one is a new machine.
  if [ -x "$root/usr/sbin/sshd" ] && ! grep -qx "VERSION_CODENAME=$LAB_SUITE" "$root/etc/os-release"; then
    rm -rf "$(dirname "$root")"
  fi
  if [ ! -x "$root/usr/sbin/sshd" ]; then
    info "compute-$n: unpacking the host image ($LAB_SUITE)"
    forget_host_records "compute-$n"
    unpack_suite "$LAB_SUITE" "$root"
    preseed_libvirt "$root"
  fi
  chmod 0755 "$root"
  [ -s "$root/etc/ssh/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "compute-$n" -f "$root/etc/ssh/ssh_host_ed25519_key"
  echo "compute-$n" > "$root/etc/hostname"
  printf '127.0.0.1 localhost\n%s compute-%s\n%s controller\n' "$(host_address "$n")" "$n" "$CTL_IP" > "$root/etc/hosts"
  install -d -m 0700 "$root/root/.ssh"
  install -m 0600 "$LAB_DIR/ssh/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
}

host_ssh() {  # host_ssh ADDRESS COMMAND...
  ssh -i "$LAB_DIR/ssh/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 "root@$1" "${@:2}"
}

start_host() {  # start_host N
  local n=$1
  host_network_up "$n"
  # A running host is left alone, without an SSH check: its sshd log counts novalab's sessions.
  pid_alive "$LAB_RUN/compute-$n.pid" && return 0
  daemon "compute-$n" root "novalab-compute-$n" \
    unshare --mount --uts --pid --fork --kill-child --propagation private bash "$LAB_HOME/lib/host-init.sh" "$(host_root "$n")" "compute-$n"
  wait_for "compute-$n sshd" 30 "$LAB_LOGS/compute-$n.out" host_ssh "$(host_address "$n")" true
}

hosts_up() {  # hosts_up COUNT
  local count=$1 n
  for n in $(seq 1 "$count"); do
    create_host "$n"
    start_host "$n"
  done
  info "compute-1..$count up: empty Debian $LAB_SUITE, sshd on $(host_address 1)..$(host_address "$count")"
}

host_key() {  # the public host key, as Pulumi's hostKey wants it: "ssh-ed25519 AAAA..."
  cut -d' ' -f1,2 "$(host_root "$1")/etc/ssh/ssh_host_ed25519_key.pub"
}

hosts_down() { stop_pidfiles "$LAB_RUN"/compute-*.pid; }

# remove_hosts: the hosts stopped and their roots removed (their mounts went with their processes).
remove_hosts() {
  hosts_down
  if grep -qF "$LAB_DIR/hosts" /proc/mounts; then
    die "mounts under $LAB_DIR/hosts remain; not removing the host roots"
  fi
  rm -rf "$LAB_DIR/hosts"
}
