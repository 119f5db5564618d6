# shellcheck shell=bash
# What the cloud admin had ready before the tutorial's chapter: m1 flavors, a `public` external
# network and a `net1` tenant network with a router, ssh + icmp in `default`, a bootable image.

M1_FLAVORS_FILE=$LAB_HOME/../policies/m1_flavors.txt  # the m1 sizes' one source (novalab reads it too)

cloud_bootstrap() {
  log "cloud: flavors m1.*, networks public + net1, router, security group, image"
  os_cloud bootstrap "$M1_FLAVORS_FILE" "$PUB_NET"
  build_guest_image
  upload_guest_image
}
