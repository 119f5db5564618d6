# shellcheck shell=bash
# sshd on the controller: the gate runs there over SSH, as it would on a real api-node.

sshd_up() {
  local dir=$LAB_DIR/controller
  [ -s "$dir/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C controller -f "$dir/ssh_host_ed25519_key"
  install -m 0600 "$LAB_DIR/ssh/id_ed25519.pub" "$dir/authorized_keys"
  write_conf "$dir/sshd_config" root 0644 <<CONF
ListenAddress $CTL_IP
HostKey $dir/ssh_host_ed25519_key
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PidFile $LAB_RUN/controller-sshd-internal.pid
Subsystem sftp internal-sftp
CONF
  in_ctl mkdir -p /run/sshd
  # A running sshd is left alone, without an SSH check: its log counts novalab's sessions.
  pid_alive "$LAB_RUN/controller-sshd.pid" && return 0
  daemon controller-sshd root "$CTL_NS" /usr/sbin/sshd -D -e -f "$dir/sshd_config"
  wait_for controller-sshd 20 "$LAB_LOGS/controller-sshd.log" host_ssh "$CTL_IP" true
}
