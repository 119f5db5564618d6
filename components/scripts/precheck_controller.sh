#!/usr/bin/env bash
# Before a compute host is touched, on the controller (the api-node): can the gate do its job later?
# The nova service user's credentials must work against keystone, and that user must see nova's
# compute services (the gate and the removal of a host need it). Failing here costs seconds; failing
# at the gate would come after the packages are installed. Reads only.
# Usage: precheck_controller.sh HOST   (stdin: the gate's clouds.yaml; never in argv or env)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/controller.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/controller.sh"

[ "$#" -eq 1 ] || { echo "usage: $0 HOST < clouds.yaml" >&2; exit 2; }
host=$1

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
echo "controller checks passed for $host"
