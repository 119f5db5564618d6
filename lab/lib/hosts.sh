# shellcheck shell=bash
# Empty compute hosts: Debian 12 minbase chroots, each with its own network/mount/UTS namespaces,
# two NICs (eth1 management, eth2 the VM network novalab bridges as br100) and sshd. No nova:
# provisioning them is novalab's job.

HOST_TARBALL=$LAB_CACHE/bookworm-host.tar.gz
HOST_EXTRA_PACKAGES=openssh-server,iproute2,procps,ca-certificates,less

host_root() { echo "$LAB_DIR/hosts/compute-$1/root"; }

# The Debian archives this machine itself uses (deb822 or one-line sources): the hosts use the same,
# through the lab's apt cache.
machine_archive() {  # machine_archive SUITE_SUFFIX -> the first URI serving bookworm$SUITE_SUFFIX
  local suffix=$1 f
  local -a files=()
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    if [ -f "$f" ]; then files+=("$f"); fi
  done
  [ "${#files[@]}" -gt 0 ] || return 0
  awk -v s="bookworm$suffix" '
    /^URIs:/ {uri=$2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == s) {print uri; exit}}
    /^deb / {for (i = 3; i <= NF; i++) if ($i == s) {print $2; exit}}' "${files[@]}"
}

build_host_tarball() {
  [ -s "$HOST_TARBALL" ] && return 0
  log "hosts: debootstrap bookworm minbase (cached as $HOST_TARBALL for the next hosts)"
  local tmp main security
  main=$(machine_archive "")
  security=$(machine_archive -security)
  [ -n "$main" ] || die "no Debian bookworm archive in this machine's apt sources"
  tmp=$(mktemp -d "$LAB_CACHE/debootstrap.XXXXXX")
  http_proxy=$APT_PROXY debootstrap --variant=minbase --include="$HOST_EXTRA_PACKAGES" \
    bookworm "$tmp" "$main" >>"$LAB_LOGS/debootstrap.log" 2>&1 \
    || { tail -n 20 "$LAB_LOGS/debootstrap.log" >&2; rm -rf "$tmp"; die "debootstrap failed"; }

  {
    echo "deb $main bookworm main"
    echo "deb $main bookworm-updates main"
    if [ -n "$security" ]; then echo "deb $security bookworm-security main"; fi
  } > "$tmp/etc/apt/sources.list"
  # Hosts reach Debian only through the lab's caching proxy, so host 2..N install from cache.
  echo "Acquire::http::Proxy \"$APT_PROXY\";" > "$tmp/etc/apt/apt.conf.d/01novalab-proxy"
  # No init system here: package scripts must not try to start daemons (novalab starts them).
  printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"
  chmod 0755 "$tmp/usr/sbin/policy-rc.d"
  rm -f "$tmp"/etc/ssh/ssh_host_*
  chmod 0755 "$tmp"  # mktemp made it 0700: the host's "/" must be traversable by its users
  sed -i 's/^#\?PermitRootLogin.*/PermitRootLogin prohibit-password/' "$tmp/etc/ssh/sshd_config"
  echo "UseDNS no" >> "$tmp/etc/ssh/sshd_config"
  tar -C "$tmp" -czf "$HOST_TARBALL.tmp" .
  mv "$HOST_TARBALL.tmp" "$HOST_TARBALL"
  rm -rf "$tmp"
}

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
  if [ ! -x "$root/usr/sbin/sshd" ]; then
    info "compute-$n: unpacking the host image"
    forget_host_records "compute-$n"
    mkdir -p "$root"
    tar -C "$root" -xzf "$HOST_TARBALL"
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
  build_host_tarball
  for n in $(seq 1 "$count"); do
    create_host "$n"
    start_host "$n"
  done
  info "compute-1..$count up: empty Debian 12, sshd on $(host_address 1)..$(host_address "$count")"
}

host_key() {  # the public host key, as Pulumi's hostKey wants it: "ssh-ed25519 AAAA..."
  cut -d' ' -f1,2 "$(host_root "$1")/etc/ssh/ssh_host_ed25519_key.pub"
}

hosts_down() {
  local pidfile
  for pidfile in "$LAB_RUN"/compute-*.pid; do
    if [ -e "$pidfile" ]; then stop_pidfile "$pidfile"; fi
  done
}
