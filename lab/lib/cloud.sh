# shellcheck shell=bash
# What the cloud admin had ready before the tutorial's chapter: m1 flavors, a `public` external
# network and a `net1` tenant network with a router, ssh + icmp in `default`, a bootable image.

cloud_bootstrap() {
  log "cloud: flavors m1.*, networks public + net1, router, security group, image"
  os_cloud bootstrap "$PUB_NET"  # m1 sizes from policies/m1_flavors.txt, their one source
  build_guest_image
  upload_guest_image
}
