# shellcheck shell=bash
# A one-node Ceph for cinder (RBD is the only volume transport this kernel has): mon, mgr and one
# memstore OSD, no auth, pool `volumes` of size 1.

# ceph_ctl ARGS...: `ceph ARGS` in the controller, giving up on an unreachable monitor (the client's
# default is to wait for ever).
ceph_ctl() { in_ctl ceph --connect-timeout 10 "$@"; }

# ceph_retry ARGS...: `ceph ARGS` in the controller, retried while a freshly started mon settles
# (it answers EPERM "problem getting command descriptions" for a moment after its quorum).
ceph_retry() {
  local try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    ceph_ctl "$@" 2>>"$LAB_LOGS/ceph-setup.out" && return 0
    sleep 2
  done
  die "ceph $* keeps failing (see $LAB_LOGS/ceph-setup.out)"
}

osd_up() { ceph_ctl osd stat | has '1 up'; }
# volumes_active: every placement group of the volumes pool active+clean, so I/O to it is served
# rather than queued for ever. (Only this pool: the .mgr pool's group stays "unknown" after the
# memstore OSD restarts empty, and nothing here uses it.)
volumes_active() {
  ceph_ctl pg ls-by-pool volumes | awk '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == "STATE") col = i; next }
    $1 ~ /^[0-9]+\.[0-9a-f]+$/ { pgs++; if ($col != "active+clean") waiting++ }
    END { exit !(col && pgs > 0 && !waiting) }'
}
osd_up_or_dead() { ! pid_alive "$LAB_RUN/ceph-osd.pid" || osd_up; }

# osd_start_empty: a new memstore osd.0 under the uuid the monitor knows.
osd_start_empty() {
  local uuid_file=$CLOUD_STATE/osd-uuid
  if [ ! -s "$uuid_file" ]; then
    local existing
    existing=$(ceph_retry osd dump | awk '$1 == "osd.0" {print $NF}')
    echo "${existing:-$(cat /proc/sys/kernel/random/uuid)}" > "$uuid_file"
  fi
  ceph_retry osd create "$(cat "$uuid_file")" >/dev/null
  # The monitor keeps osd.0 "up" in its map when the last OSD process died without telling it (seen
  # in CI: a new OSD failed its init, the stale "up" passed for it, and `rbd pool init` then waited
  # for ever). Marked down here, "up" below can only mean this process booted.
  ceph_retry osd down 0 >/dev/null
  in_ctl rm -rf /var/lib/ceph/osd/ceph-0 && ctl_dirs ceph /var/lib/ceph/osd/ceph-0
  as_user ceph ceph-osd -i 0 --mkfs --osd-uuid "$(cat "$uuid_file")" >>"$LAB_LOGS/ceph-setup.out" 2>&1
  daemon ceph-osd ceph "$CTL_NS" /usr/bin/ceph-osd -f -i 0
}

ceph_conf() {
  ctl_conf /etc/ceph/ceph.conf root 0644 <<CONF
[global]
fsid = $1
mon_host = $CTL_IP
public_network = $MGMT_NET.0/24
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_allow_pool_delete = true
osd_objectstore = memstore
memstore_device_bytes = 4294967296
osd_crush_chooseleaf_type = 0
log_file = $LAB_LOGS/ceph-\$name.log
[mon.a]
mon_data = /var/lib/ceph/mon/ceph-a
[osd.0]
osd_data = /var/lib/ceph/osd/ceph-0
CONF
}

ceph_up() {
  local fsid
  if [ ! -s "$CLOUD_STATE/ceph-fsid" ]; then
    cat /proc/sys/kernel/random/uuid > "$CLOUD_STATE/ceph-fsid"
  fi
  fsid=$(cat "$CLOUD_STATE/ceph-fsid")
  ceph_conf "$fsid"
  ctl_dirs ceph /var/lib/ceph/mon /var/lib/ceph/osd /run/ceph
  if ! in_ctl test -e /var/lib/ceph/mon/ceph-a/done; then
    log "controller: one-node Ceph (mon, mgr, memstore osd)"
    in_ctl rm -rf /var/lib/ceph/mon/ceph-a
    in_ctl monmaptool --create --clobber --add a "$CTL_IP" --fsid "$fsid" /tmp/monmap >/dev/null
    as_user ceph ceph-mon --mkfs -i a --monmap /tmp/monmap >>"$LAB_LOGS/ceph-setup.out" 2>&1
    in_ctl touch /var/lib/ceph/mon/ceph-a/done
  fi
  daemon ceph-mon ceph "$CTL_NS" /usr/bin/ceph-mon -f -i a
  wait_for ceph-mon 60 "$LAB_LOGS/ceph-mon.a.log" in_ctl ceph quorum_status --connect-timeout 3
  ctl_dirs ceph /var/lib/ceph/mgr/ceph-a
  daemon ceph-mgr ceph "$CTL_NS" /usr/bin/ceph-mgr -f -i a
  # memstore keeps data in RAM: a restarted OSD starts empty, so it is recreated each time, under
  # the same uuid (the monitor ignores an osd.0 with another one), and the pool is made anew.
  # An OSD process that runs while the monitor has it down (seen once on a second `up`) is replaced.
  local fresh_osd=""
  if pid_alive "$LAB_RUN/ceph-osd.pid" && ! within 30 osd_up; then
    info "ceph: osd.0 runs but the monitor has it down: starting it afresh"
    stop_pidfile "$LAB_RUN/ceph-osd.pid"
  fi
  if ! pid_alive "$LAB_RUN/ceph-osd.pid"; then
    local attempt
    for attempt in 1 2 3 4 5; do
      osd_start_empty
      within 60 osd_up_or_dead && osd_up && break
      # Seen: an OSD started a moment after its monitor restarted sent its first command with a
      # zero fsid ("wrong fsid"), failed its init and exited. A later start gets past it; three
      # starts within a few seconds once all failed, so each waits longer for the monitor to settle.
      [ "$attempt" -lt 5 ] || break
      info "ceph: osd.0 did not come up (attempt $attempt, see $LAB_LOGS/ceph-osd.0.log): starting it afresh"
      stop_pidfile "$LAB_RUN/ceph-osd.pid"
      sleep $((attempt * 5))
    done
    fresh_osd=yes
  fi
  wait_for ceph-osd 120 "$LAB_LOGS/ceph-osd.0.log" osd_up
  if [ -n "$fresh_osd" ] && ceph_retry osd pool ls | has -x volumes; then
    info "ceph: the OSD started empty (memstore): recreating the volumes pool"
    local try
    for try in 1 2 3 4 5 6 7 8 9 10; do
      ceph_ctl osd pool delete volumes volumes --yes-i-really-really-mean-it >/dev/null 2>&1 && break
      [ "$try" -lt 10 ] || die "could not delete the stale volumes pool (see ceph -s)"
      sleep 2
    done
  fi
  local new_pool=""
  if ! ceph_retry osd pool ls | has -x volumes; then
    new_pool=yes
    ceph_retry osd pool create volumes 16 >/dev/null
    ceph_retry osd pool set volumes size 1 --yes-i-really-mean-it >/dev/null
  fi
  if ! within 120 volumes_active; then
    ceph_ctl -s >&2 || true
    die "ceph: the volumes pool's placement groups did not become active+clean within 120 s (ceph -s above, $LAB_LOGS/ceph-osd.0.log)"
  fi
  if [ -n "$new_pool" ]; then
    in_ctl timeout 120 rbd pool init volumes || die "ceph: rbd pool init volumes failed or hung (see ceph -s)"
  fi
}
