# shellcheck shell=bash
# The guest image, made from Debian packages only (no internet): the cloud kernel as an `aki`, a
# busybox-static initramfs (lab/guest/init) as an `ari`, and a 1 MB raw root disk that boots them
# directly (properties kernel_id, ramdisk_id, os_command_line).

IMAGE_NAME=novalab-tiny
IMAGE_DIR=$LAB_CACHE/image

guest_source_hash() { cat "$LAB_HOME/guest/init" "$LAB_HOME/guest/udhcpc.script" "$LAB_HOME/lib/image.sh" | sha256sum | cut -c1-16; }

build_guest_image() {
  local want
  want=$(guest_source_hash)
  if [ -s "$IMAGE_DIR/vmlinuz" ] && [ -s "$IMAGE_DIR/initrd.gz" ] && [ -s "$IMAGE_DIR/root.raw" ] \
    && [ "$(cat "$IMAGE_DIR/source" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "image: kernel + busybox initramfs from Debian packages"
  local tmp kpkg kver
  tmp=$(mktemp -d)
  kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ && !k {k = $2} END {print k}')
  (cd "$tmp" && apt-get download -q "$kpkg" busybox-static >>"$LAB_LOGS/image.log" 2>&1) || die "apt-get download $kpkg busybox-static failed"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/x"; done
  kver=${kpkg#linux-image-}
  mkdir -p "$IMAGE_DIR" "$tmp/initrd/bin" "$tmp/initrd/etc" "$tmp/initrd/proc" "$tmp/initrd/sys" "$tmp/initrd/dev" "$tmp/initrd/tmp"
  cp "$tmp/x/boot/vmlinuz-$kver" "$IMAGE_DIR/vmlinuz"
  cp "$tmp/x/bin/busybox" "$tmp/initrd/bin/busybox"
  install -m 0755 "$LAB_HOME/guest/init" "$tmp/initrd/init"
  install -m 0755 "$LAB_HOME/guest/udhcpc.script" "$tmp/initrd/etc/udhcpc.script"
  # The virtio drivers and what they need, uncompressed for busybox modprobe.
  local mods=$tmp/x/lib/modules/$kver/kernel dest=$tmp/initrd/lib/modules/$kver/kernel
  local m
  for m in drivers/virtio drivers/net/virtio_net.ko drivers/net/net_failover.ko net/core/failover.ko drivers/block/virtio_blk.ko; do
    for f in "$mods/$m"*; do
      [ -e "$f" ] || continue
      mkdir -p "$dest/$(dirname "$m")"
      cp -r "$f" "$dest/$(dirname "$m")/"
    done
  done
  find "$tmp/initrd/lib/modules" -name '*.ko.xz' -exec xz -d {} +
  cp "$tmp/x/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$tmp/initrd/lib/modules/$kver/" 2>/dev/null || true
  depmod -b "$tmp/initrd" "$kver"
  (cd "$tmp/initrd" && find . | cpio -o -H newc --quiet | gzip -9) > "$IMAGE_DIR/initrd.gz"
  truncate -s 1M "$IMAGE_DIR/root.raw"
  echo "$want" > "$IMAGE_DIR/source"
  rm -rf "$tmp"
}

upload_guest_image() {
  local want current part
  want=$(cat "$IMAGE_DIR/source")
  # No image yet (a fresh lab) reads as "".
  current=$(os_cloud image-source "$IMAGE_NAME")
  [ "$current" = "$want" ] && return 0
  for part in "$IMAGE_NAME" "$IMAGE_NAME-kernel" "$IMAGE_NAME-ramdisk"; do
    os_admin image delete "$part" >/dev/null 2>&1 || true
  done
  log "image: uploading $IMAGE_NAME to glance"
  local kid rid
  kid=$(os_admin image create --public --disk-format aki --container-format aki --file "$IMAGE_DIR/vmlinuz" "$IMAGE_NAME-kernel" -f value -c id)
  rid=$(os_admin image create --public --disk-format ari --container-format ari --file "$IMAGE_DIR/initrd.gz" "$IMAGE_NAME-ramdisk" -f value -c id)
  os_admin image create --public --disk-format raw --container-format bare --file "$IMAGE_DIR/root.raw" \
    --property "kernel_id=$kid" --property "ramdisk_id=$rid" --property "os_command_line=console=ttyS0" \
    --property "novalab_source=$want" \
    "$IMAGE_NAME" >/dev/null
}
