# shellcheck shell=bash
# Whether a service runs, as the host scripts judge it (restart_service.sh, read_host_state.sh). A
# script sources this file from its folder; script_command (scripts/__init__.py) puts this text in
# place of that line, so a host needs nothing of novalab installed.

have_systemd() { [ -d /run/systemd/system ]; }

# Debian's OpenStack init scripts write /run/<project>/<service>.pid, but their `status` looks the
# process up by name, and the agents rename themselves (setproctitle) a few seconds after starting:
# `status` then says "not running" about a live agent. The PID file answers; `status` is the fallback.
run_dir=${NOVALAB_RUN_DIR:-/run}
running() {
  if have_systemd; then systemctl is-active --quiet "$1"; return; fi
  local pidfile=$run_dir/${1%%-*}/$1.pid pid=""
  if [ -r "$pidfile" ]; then
    read -r pid < "$pidfile" || true
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
    return
  fi
  service "$1" status >/dev/null 2>&1
}
