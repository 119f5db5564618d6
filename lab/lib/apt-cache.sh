# shellcheck shell=bash
# This machine's side of the lab: apt-cacher-ng on the management bridge, the only way the compute
# hosts reach a Debian archive (host 2..N install from its cache).

apt_cache_up() {
  # Its own minimal config: no mirror remapping, so requests go to the host the client named
  # (the archive of this machine's own apt sources) and are cached for the next host.
  local conf=$LAB_DIR/acng
  mkdir -p "$conf/run" "$LAB_CACHE/acng" "$LAB_LOGS/acng"
  chown apt-cacher-ng: "$conf/run" "$LAB_CACHE/acng" "$LAB_LOGS/acng"
  write_conf "$conf/acng.conf" root 0644 <<CONF
CacheDir: $LAB_CACHE/acng
LogDir: $LAB_LOGS/acng
SupportDir: /usr/lib/apt-cacher-ng
Port: 3142
BindAddress: $HOST_IP
PidFile: $conf/run/acng.pid
SocketPath: $conf/run/acng.socket
ExThreshold: 4
CONF
  daemon apt-cacher-ng apt-cacher-ng "" /usr/sbin/apt-cacher-ng -c "$conf" ForeGround=1
  wait_for apt-cacher-ng 30 "$LAB_LOGS/apt-cacher-ng.log" port_open "$HOST_IP" 3142
}

apt_cache_down() { stop_pidfile "$LAB_RUN/apt-cacher-ng.pid"; }
