#!/usr/bin/env bash
# A compute host leaves the stack: nova lets it go the way operators take a compute node out (kolla's
# compute-removal runbook), in two parts around the host stopping its own services:
#   drain HOST   (the gate's delete, first) refuse while a server still lives there, with nothing
#                changed; else disable its nova-compute service, so the scheduler stops choosing it.
#   forget HOST  (the controller step's delete, last: after the host's config step stopped
#                nova-compute and the L2 agent) delete the service record (nova deletes its compute
#                node and placement resource provider with it, so the machine can come back under any
#                name) and its network agents. Done while nova-compute still ran, it would re-create
#                its provider within seconds.
# Usage: decommission_compute_host.sh drain|forget HOST   (stdin: the gate's clouds.yaml; never in
# argv or env). Safe to re-run: what nova no longer has is reported and left alone.
set -euo pipefail

usage() { echo "usage: $0 drain|forget HOST < clouds.yaml" >&2; exit 2; }
[ "$#" -eq 2 ] || usage
case "$1" in drain|forget) ;; *) usage ;; esac
part=$1 host=$2

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
(umask 077 && cat > "$workdir/clouds.yaml")
export OS_CLIENT_CONFIG_FILE="$workdir/clouds.yaml" OS_CLOUD=novalab

# 2.53: services by UUID, which stays unambiguous with several cells.
compute() { openstack --os-compute-api-version 2.53 "$@"; }

servers_on_host() { compute server list --all-projects --host "$host" -f value -c ID -c Name -c Status; }

refuse() {  # refuse SERVERS
  {
    echo "compute host $host still runs servers; it stays in nova and in the stack until they are gone:"
    printf '%s\n' "$1" | sed 's/^/  /'
    echo "migrate them (openstack server migrate --live-migration ...) or delete them, then run pulumi up again."
  } >&2
  exit 1
}

service=$(compute compute service list --service nova-compute --host "$host" -f value -c ID)

if [ "$part" = drain ]; then
  servers=$(servers_on_host)
  [ -z "$servers" ] || refuse "$servers"
  if [ -z "$service" ]; then
    echo "nova has no nova-compute service on $host"
    exit 0
  fi
  compute compute service set --disable --disable-reason "novalab: leaving the stack" "$host" nova-compute
  # A server scheduled between the check and the disable: undo the disable, refuse.
  servers=$(servers_on_host)
  if [ -n "$servers" ]; then
    compute compute service set --enable "$host" nova-compute
    refuse "$servers"
  fi
  echo "compute host $host is disabled in nova; its services stop next"
  exit 0
fi

if [ -n "$service" ]; then
  compute compute service delete "$service"
  echo "deleted nova-compute service $service of $host (its compute node and resource provider with it)"
else
  echo "nova has no nova-compute service on $host"
fi
for agent in $(openstack network agent list --host "$host" -f value -c ID); do
  openstack network agent delete "$agent"
  echo "deleted network agent $agent of $host"
done
echo "compute host $host is out of nova"
