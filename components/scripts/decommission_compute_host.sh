#!/usr/bin/env bash
# A compute host leaves the stack: nova lets it go the way operators take a compute node out (kolla's
# compute-removal runbook), in two parts around the host stopping its own services:
#   drain HOST   (the gate's delete, first) refuse while a server still lives there, with nothing
#                changed; else disable its nova-compute service, so the scheduler stops choosing it.
#   forget HOST  (the controller step's delete, last: after the host's config step stopped
#                nova-compute and the L2 agent) delete the service record (nova deletes its compute
#                node and placement resource provider with it, so the machine can come back under any
#                name) and its network agents. Done while nova-compute still ran, it would re-create
#                its provider within seconds. Then nova's soft-deleted rows are archived: nova joins
#                a server to every service record of its host's name, deleted ones included, so a
#                host that came back under this name would have its servers refused as "down" (409
#                "Service is unavailable at this time" on resize, seen in the e2e).
# Usage: decommission_compute_host.sh drain|forget HOST   (stdin: the gate's clouds.yaml; never in
# argv or env). Safe to re-run: what nova no longer has is reported and left alone. Every API call is
# bounded (NOVALAB_API_TIMEOUT, 60 s; the archive NOVALAB_ARCHIVE_TIMEOUT, 600 s): a call that gets no
# answer fails the step, naming it, and the next run starts over.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/controller.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/controller.sh"

usage() { echo "usage: $0 drain|forget HOST < clouds.yaml" >&2; exit 2; }
[ "$#" -eq 2 ] || usage
case "$1" in drain|forget) ;; *) usage ;; esac
part=$1 host=$2

read_clouds_yaml

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
# nova-manage has no narrower way to drop a deleted service record: this is the operators' routine
# archive of every soft-deleted row (it keeps them in nova's shadow tables). One at a time on this
# controller: two hosts leaving at once archived the same rows and one failed (exit 255).
# (It exits 1 when it archived something, 0 when there was nothing to archive.)
rc=0
api_timeout=${NOVALAB_ARCHIVE_TIMEOUT:-600} with_lock novalab-nova-archive 300 \
  nova_manage db archive_deleted_rows --until-complete --all-cells >"$workdir/archive.out" 2>&1 || rc=$?
if [ "$rc" -gt 1 ]; then
  tail -n 20 "$workdir/archive.out" >&2
  echo "nova-manage db archive_deleted_rows failed ($rc): a host of the name $host would have its servers refused as down until it is run" >&2
  exit 1
fi
echo "archived nova's deleted rows: $host can come back under its name"
# A listing that fails fails the step: otherwise it would report the host out while its agents stay
# in neutron (dead, listed for ever).
if ! agents=$(openstack network agent list --host "$host" -f value -c ID); then
  echo "could not list the network agents of $host; they are still in neutron; the next pulumi up runs this step again" >&2
  exit 1
fi
for agent in $agents; do
  openstack network agent delete "$agent"
  echo "deleted network agent $agent of $host"
done
echo "compute host $host is out of nova"
