# shellcheck shell=bash
# What the cloud admin had ready before the tutorial's chapter: m1 flavors, a `public` external
# network and a `net1` tenant network with a router, ssh + icmp in `default`, a bootable image.

M1_FLAVORS_FILE=$LAB_HOME/../policies/m1_flavors.txt  # the m1 sizes' one source (novalab reads it too)

cloud_bootstrap() {
  log "cloud: flavors m1.*, networks public + net1, router, security group, image"
  local name id ram disk vcpus
  # On fd 3: the openstack CLI must not eat the list from stdin.
  while read -r name id ram disk vcpus <&3; do
    case "$name" in '' | '#'*) continue ;; esac
    os_admin flavor show "$name" >/dev/null 2>&1 || os_admin flavor create --public --id "$id" --ram "$ram" --disk "$disk" --vcpus "$vcpus" "$name" >/dev/null
  done 3< "$M1_FLAVORS_FILE"
  if ! os_admin network show public >/dev/null 2>&1; then
    os_admin network create --external --share --provider-network-type flat --provider-physical-network physnet1 public >/dev/null
    os_admin subnet create --network public --subnet-range "$PUB_NET.0/24" --gateway "$PUB_NET.1" --no-dhcp \
      --allocation-pool "start=$PUB_NET.100,end=$PUB_NET.200" public-subnet >/dev/null
  fi
  if ! os_admin network show net1 >/dev/null 2>&1; then
    os_admin network create net1 >/dev/null
    os_admin subnet create --network net1 --subnet-range 192.168.100.0/24 --dns-nameserver 192.168.100.1 net1-subnet >/dev/null
  fi
  if ! os_admin router show router1 >/dev/null 2>&1; then
    os_admin router create router1 >/dev/null
    os_admin router set --external-gateway public router1
    os_admin router add subnet router1 net1-subnet
  fi
  local sg proto
  sg=$(os_admin security group list --project admin -f value -c ID -c Name | awk '$2 == "default" && !sg {sg = $1} END {print sg}')
  for proto in icmp tcp; do
    if ! os_admin security group rule list "$sg" -f value -c 'IP Protocol' -c 'Port Range' | has "^$proto"; then
      if [ "$proto" = tcp ]; then
        os_admin security group rule create --ingress --protocol tcp --dst-port 22 "$sg" >/dev/null
      else
        os_admin security group rule create --ingress --protocol icmp "$sg" >/dev/null
      fi
    fi
  done
  build_guest_image
  upload_guest_image
}
