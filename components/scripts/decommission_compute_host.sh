#!/usr/bin/env bash
# A compute host leaves the stack: take it out of nova as operators do (kolla's compute-removal
# runbook), on the controller, before its own services are stopped (its config step does that next).
#   1. refuse while a server still lives there (move or delete it first): nothing is changed then;
#   2. disable its nova-compute service, so the scheduler stops choosing it;
#   3. delete the service record: nova deletes its compute node and placement resource provider with
#      it, so the machine can come back, under this name or another;
#   4. delete its network agents.
# Usage: decommission_compute_host.sh HOST   (stdin: the gate's clouds.yaml; never in argv or env)
# Safe to re-run: a host nova no longer knows is reported and left alone.
set -euo pipefail

[ "$#" -eq 1 ] || { echo "usage: $0 HOST < clouds.yaml" >&2; exit 2; }
host=$1

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

servers=$(servers_on_host)
[ -z "$servers" ] || refuse "$servers"

service=$(compute compute service list --service nova-compute --host "$host" -f value -c ID)
if [ -n "$service" ]; then
  compute compute service set --disable --disable-reason "novalab: leaving the stack" "$host" nova-compute
  # A server scheduled between the check and the disable: undo the disable, refuse.
  servers=$(servers_on_host)
  if [ -n "$servers" ]; then
    compute compute service set --enable "$host" nova-compute
    refuse "$servers"
  fi
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
