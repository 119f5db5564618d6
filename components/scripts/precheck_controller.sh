#!/usr/bin/env bash
# Before a compute host is touched, on the controller (the api-node): can the gate do its job later?
# The nova service user's credentials must work against keystone, and that user must see nova's
# compute services (the gate and the removal of a host need it). Failing here costs seconds; failing
# at the gate would come after the packages are installed. It also refuses what cannot work with this
# cloud: a network backend its release no longer has, and a queue type its services do not declare.
# Reads only.
# Usage: precheck_controller.sh HOST [--refuse-from-microversion VERSION WHY] [--rabbit-queues classic|quorum]
#   (stdin: the gate's clouds.yaml; never in argv or env)
#   --refuse-from-microversion  refuse (saying WHY) when the compute API's highest microversion is
#                               VERSION or later: the release where the backend is gone
#   --rabbit-queues             what the stack renders in [oslo_messaging_rabbit]; refused when the
#                               controller's nova.conf declares the other (all services on a RabbitMQ
#                               vhost must agree on queue types)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/controller.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/controller.sh"

usage="usage: $0 HOST [--refuse-from-microversion VERSION WHY] [--rabbit-queues classic|quorum] < clouds.yaml"
[ "$#" -ge 1 ] || { echo "$usage" >&2; exit 2; }
host=$1 refuse_from="" refuse_why="" queues=""
shift
while [ "$#" -gt 0 ]; do
  case "$1" in
    --refuse-from-microversion) [ "$#" -ge 3 ] || { echo "$usage" >&2; exit 2; }; refuse_from=$2 refuse_why=$3; shift 3 ;;
    --rabbit-queues) [ "$#" -ge 2 ] || { echo "$usage" >&2; exit 2; }; queues=$2; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

read_clouds_yaml

for tool in openstack nova-manage; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "$(hostname) has no $tool: the gate for $host runs here (controller.address must be the api-node)" >&2
    exit 1
  }
done
if ! openstack token issue -f value -c expires >/dev/null 2>"$workdir/err"; then
  echo "keystone refused nova's service user (for $host's gate): fix novaServicePassword, services.novaUser, serviceProject or keystoneUrl" >&2
  tail -n 3 "$workdir/err" >&2
  exit 1
fi
if ! openstack compute service list --service nova-compute -f value -c Host >/dev/null 2>"$workdir/err"; then
  echo "nova's service user cannot list compute services (for $host's gate): it needs the admin role in the service project" >&2
  tail -n 3 "$workdir/err" >&2
  exit 1
fi

# The cloud's release, as its compute API's highest microversion ("2.100" is 2025.1) tells it.
if [ -n "$refuse_from" ]; then
  newest=$(openstack versions show --service compute -f value -c "Max Microversion" 2>/dev/null |
    grep -E '^[0-9]+\.[0-9]+$' | sort -V | tail -n 1 || true)
  if [ -z "$newest" ]; then
    echo "note: the compute API named no microversion; the backend is not checked against the cloud's release"
  elif [ "$(printf '%s\n%s\n' "$refuse_from" "$newest" | sort -V | head -n 1)" = "$refuse_from" ]; then
    echo "refused for $host: the cloud's compute API is at microversion $newest: $refuse_why" >&2
    exit 1
  fi
fi

# The queue types this cloud's nova declares on the message bus: read from the api-node's own nova.conf
# (oslo.messaging's rabbit_quorum_queue, false when unset); by Python's INI parser, not by pattern.
nova_conf=${NOVALAB_NOVA_CONF:-/etc/nova/nova.conf}  # overridable for tests only
if [ -n "$queues" ] && [ ! -r "$nova_conf" ]; then
  # e.g. a containerised control plane keeps it elsewhere (kolla: /etc/kolla/nova-api/nova.conf)
  echo "note: no readable $nova_conf on $(hostname); services.rabbitQueues ($queues) is not checked against the controller's"
elif [ -n "$queues" ]; then
  theirs=$(/usr/bin/python3 - "$nova_conf" <<'PY'
import configparser, sys
conf = configparser.RawConfigParser(strict=False, default_section="\0")
conf.read(sys.argv[1])
value = conf.get("oslo_messaging_rabbit", "rabbit_quorum_queue", fallback="false").strip().lower()
print("quorum" if value in ("true", "1", "yes", "on") else "classic")
PY
  ) || theirs=""
  if [ -n "$theirs" ] && [ "$theirs" != "$queues" ]; then
    echo "refused for $host: the controller's nova declares $theirs queues on RabbitMQ, and every service on a vhost must declare the same: set services.rabbitQueues: $theirs" >&2
    exit 1
  fi
fi
echo "controller checks passed for $host"
