# shellcheck shell=bash
# shellcheck disable=SC2034 # settings used by the other lab files
# Which OpenStack the lab runs: a release (its Debian suite, lab/releases.txt) and a network backend.
# Each (release, network) pair is a cloud of its own, with its own databases, kept across `down` in
# $LAB_DIR/clouds/RELEASE-NETWORK; one runs at a time.

RELEASES_FILE=$LAB_HOME/releases.txt

# release_field RELEASE N: field N of RELEASE's line (2 suite, 3 networks, 4 RabbitMQ queues).
release_field() { awk -v r="$1" -v n="$2" '!/^#/ && $1 == r {print $n}' "$RELEASES_FILE"; }
known_releases() { awk '!/^#/ && NF {printf "%s%s", sep, $1; sep = "|"}' "$RELEASES_FILE"; }
default_release() { awk '!/^#/ && NF {print $1; exit}' "$RELEASES_FILE"; }
release_networks() { release_field "$1" 3 | tr ',' ' '; }

# The lab's current cloud ("RELEASE NETWORK"), written when `up` starts it.
CLOUD_FILE=$LAB_DIR/cloud

# use_cloud RELEASE NETWORK: the settings every other lab file reads.
use_cloud() {
  LAB_RELEASE=$1
  LAB_NETWORK=$2
  LAB_SUITE=$(release_field "$1" 2)
  RABBIT_QUEUES=$(release_field "$1" 4)
  CLOUD_DIR=$LAB_DIR/clouds/$1-$2
  CLOUD_STATE=$CLOUD_DIR/state   # one-time steps done (db syncs, registrations), ceph's ids
  CTL_ROOT=$CLOUD_DIR/root       # the controller's root, mounted inside its own mount namespace
}

# The cloud of the last `up`, if any (down, status, openstack).
use_recorded_cloud() {
  [ -s "$CLOUD_FILE" ] || return 1
  local release network
  read -r release network < "$CLOUD_FILE"
  use_cloud "$release" "$network"
}

lab_running() { pid_alive "$LAB_RUN/controller.pid"; }

# choose_cloud RELEASE NETWORK (either may be empty: the running lab's, else the defaults): refuse
# what cannot run, and a switch while another cloud is up.
choose_cloud() {
  local release=$1 network=$2 running_release="" running_network=""
  if lab_running && [ -s "$CLOUD_FILE" ]; then
    read -r running_release running_network < "$CLOUD_FILE"
  fi
  if [ -z "$release" ]; then release=${running_release:-$(default_release)}; fi
  [ -n "$(release_field "$release" 2)" ] || die "--release $release: the lab knows $(known_releases)"
  if [ -z "$network" ]; then
    if [ "$release" = "$running_release" ]; then network=$running_network; else network=$(release_networks "$release" | cut -d' ' -f1); fi
  fi
  if ! release_networks "$release" | tr ' ' '\n' | has -xF "$network"; then
    case "$release/$network" in
      */linuxbridge) die "--network linuxbridge: neutron removed the Linux bridge driver in 2025.1 (neutron 26), so $release cannot run it; use --network $(release_networks "$release" | tr ' ' '|'), or --release zed for the tutorial's Linux bridge" ;;
      *) die "--network $network: the lab runs $release with $(release_networks "$release" | tr ' ' '|')" ;;
    esac
  fi
  if [ -n "$running_release" ] && [ "$release $network" != "$running_release $running_network" ]; then
    die "the lab is up as $running_release + $running_network; run lab/lab down first to switch to $release + $network (each keeps its own cloud)"
  fi
  use_cloud "$release" "$network"
}
