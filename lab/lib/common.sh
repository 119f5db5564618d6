# shellcheck shell=bash
# shellcheck disable=SC2034 # settings used by the other lab files
# Shared helpers of the lab scripts: settings, logging, readiness waits, daemons by PID file.

LAB_DIR=${NOVALAB_LAB_DIR:-/var/lib/novalab-lab}   # state: keys, secrets, host roots, PIDs, logs
LAB_LOGS=$LAB_DIR/logs
LAB_RUN=$LAB_DIR/run
LAB_CACHE=${NOVALAB_LAB_CACHE:-/var/cache/novalab-lab}  # kept by `down`: debootstrap tarball, images

# Addresses: everything lives in 10.77.0.0/16, on bridges and namespaces the lab creates.
MGMT_NET=10.77.0           # management: .1 this machine, .10 controller, host_address N for compute-N
MGMT_BRIDGE=novalab-mgmt
PUB_NET=10.77.1            # provider network "public" (physnet1): .1 the "outside" host
# Tunnel endpoints (geneve/vxlan) of the Open vSwitch backends, on the public network's wire: OVS's
# userspace datapath sends tunnel packets only from an address on one of its own bridges
# (lib/controller/openvswitch.sh). .10 the controller, tunnel_address N for compute-N.
TUN_NET=10.77.2
PUB_BRIDGE=novalab-pub
CTL_NS=novalab-ctl
OUT_NS=novalab-out
CTL_IP=$MGMT_NET.10
HOST_IP=$MGMT_NET.1
APT_PROXY=http://$HOST_IP:3142

# The one place a compute host's address is made: compute-N is $MGMT_NET.(20 + N).
host_address() { echo "$MGMT_NET.$((20 + $1))"; }
tunnel_address() { echo "$TUN_NET.$((20 + $1))"; }
# host_mac NIC N: compute-N's NIC ethNIC keeps its MAC address when `new-hosts` re-images the host,
# as a real machine's NIC does. With a new random one, this machine's ARP entry for the host stayed
# REACHABLE on the old address for up to 45 s (1.5 x base_reachable_time, arp(7)), longer
# than the wait for the new host's sshd. Locally administered: 02:...
host_mac() { printf '02:4e:4c:%02x:%02x:%02x\n' "$1" $(($2 / 256)) $(($2 % 256)); }
CTL_TUN_IP=$TUN_NET.10
SYSTEM_PYTHON=/usr/bin/python3   # not pyenv's: OpenStack's tools live in Debian's python

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }
die() { printf 'lab: %s\n' "$*" >&2; exit 1; }

# PRODUCER | has GREP_ARGS...: grep -q that reads all of its input first. A plain `| grep -q` quits at
# the first match; the producer then dies of SIGPIPE and pipefail turns the match into a failure
# (seen: "Address already assigned" when the address check missed an address that was there).
has() { local input; input=$(cat); grep -q "$@" <<<"$input"; }

# wait_for NAME TIMEOUT LOGFILE COMMAND...: poll COMMAND until it succeeds; on timeout, name the
# service and show the tail of its log.
wait_for() {
  local name=$1 timeout=$2 logfile=$3
  shift 3
  if ! within "$timeout" "$@"; then
    printf 'lab: %s did not come up within %ss.\n' "$name" "$timeout" >&2
    local f
    for f in "$logfile" "${logfile%.log}.out"; do
      [ -s "$f" ] && { printf -- '--- last lines of %s\n' "$f" >&2; tail -n 25 "$f" >&2; }
    done
    exit 1
  fi
}

# within TIMEOUT COMMAND...: poll COMMAND once a second; false if it has not succeeded in time.
within() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
}

# The controller's PATH inside its root; CTL_PATH=DIR:$CTL_PATH before a call puts DIR first.
CTL_PATH=/usr/sbin:/usr/bin:/sbin:/bin

# ctl_enter: CTL_ENTER, the command prefix that runs a program in the controller: the network and
# mount namespaces lib/controller-init.sh holds, chrooted into its root (CTL_ROOT, lib/release.sh).
ctl_enter() {
  CTL_ENTER=(nsenter "--target=$(cat "$LAB_RUN/controller.pid")" --mount --net -- chroot "$CTL_ROOT" env "PATH=$CTL_PATH")
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# daemon NAME USER NETNS COMMAND...: start COMMAND in the background as USER inside NETNS (unless
# its PID file names a live process; NETNS $CTL_NS is the controller: its namespaces and its root); its stdout/stderr go to $LAB_LOGS/NAME.out (the service's own
# log, if it writes one, is $LAB_LOGS/NAME.log).
daemon() {
  local name=$1 user=$2 netns=$3
  shift 3
  local pidfile=$LAB_RUN/$name.pid logfile=$LAB_LOGS/$name.out
  if pid_alive "$pidfile"; then
    return 0
  fi
  local -a prefix=()
  if [ "$netns" = "$CTL_NS" ]; then
    ctl_enter
    prefix=("${CTL_ENTER[@]}")
  elif [ -n "$netns" ]; then
    prefix=(ip netns exec "$netns")
  fi
  if [ "$user" != root ]; then
    prefix+=(setpriv "--reuid=$user" "--regid=$user" --init-groups)
  fi
  info "starting $name"
  setsid "${prefix[@]}" "$@" >>"$logfile" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}

# newest_first FILE...: the files that exist, the most recently modified first (a PID file's time
# is its daemon's start).
newest_first() {
  local f
  for f in "$@"; do
    if [ -e "$f" ]; then printf '%s %s\n' "$(stat -c %.9Y "$f")" "$f"; fi
  done | sort -rn | cut -d' ' -f2-
}

# stop_pidfiles PIDFILE...: each daemon's process group gets SIGTERM, in the order given, without
# waiting for one to end before the next; whatever still runs 10 s later gets SIGKILL. (One after the
# other, each waited for, `down` spent 75 s on the controller's 25 daemons.)
stop_pidfiles() {
  local pidfile pid
  local -a pids=()
  for pidfile in "$@"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  local deadline=$((SECONDS + 10))
  while [ "$SECONDS" -lt "$deadline" ]; do
    local alive=()
    for pid in "${pids[@]}"; do if kill -0 "$pid" 2>/dev/null; then alive+=("$pid"); fi; done
    pids=("${alive[@]}")
    [ "${#pids[@]}" -gt 0 ] || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true; done
  for pidfile in "$@"; do rm -f "$pidfile"; done
}

stop_pidfile() { stop_pidfiles "$1"; }

# A generated secret, stored 0600 in the lab's state (never in the repo).
secret() {
  local file=$LAB_DIR/secrets/$1
  if [ ! -s "$file" ]; then
    (umask 077 && mkdir -p "$LAB_DIR/secrets" && head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$file")
  fi
  cat "$file"
}

ensure_dirs() {
  mkdir -p "$LAB_DIR" "$LAB_LOGS" "$LAB_RUN" "$LAB_CACHE" "$LAB_DIR/controller" "$LAB_DIR/ssh"
  # Service users (keystone, nova, ...) write their logs here and read their uwsgi files;
  # secrets, keys and the admin credentials stay root-only (0700/0600).
  chmod 0711 "$LAB_DIR"
  chmod 1777 "$LAB_LOGS"
  chmod 0755 "$LAB_RUN" "$LAB_DIR/controller"
  chmod 0700 "$LAB_DIR/ssh"
  [ -s "$LAB_DIR/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C novalab-lab -f "$LAB_DIR/ssh/id_ed25519"
  # nova's own key between the compute hosts (resize copies disks over it): the stack's secret
  # novaMigrationSshKey.
  [ -s "$LAB_DIR/ssh/nova_migration" ] || ssh-keygen -q -t ed25519 -N '' -C novalab-nova-migration -f "$LAB_DIR/ssh/nova_migration"
}
