# shellcheck shell=bash
# Sourced by every stand-in of the scale benchmark (tests/support/fleet.py): where this namespace
# keeps the stand-ins' state, the fixed time a stand-in takes, and a log of the calls (what the
# smoke test reads to see that a no-op run called nothing).
state=${NLBENCH_STATE:?NLBENCH_STATE is unset: the stand-ins run only in a scale benchmark namespace}
mkdir -p "$state"
printf '%s %s\n' "$(basename "$0")" "$*" >> "$state/calls.log"

take() { sleep "${1:-0}"; }  # take SECONDS: the fixed time of the program this stands in for

# daemon NAME PIDFILE: a long-lived process whose name is NAME (a link to sleep), detached from the
# SSH session (a child holding its stdout would keep the session open), its PID in PIDFILE. It
# survives SIGHUP, as OpenStack's services do (they reload: reload_service.sh).
daemon() {
  local exe=$state/daemons/$1 pidfile=$2
  mkdir -p "$state/daemons" "$(dirname "$pidfile")"
  ln -sf "$(command -v sleep)" "$exe"
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # $$, $1, $2 expand in the inner bash
  setsid bash -c 'trap "" HUP && echo $$ > "$1.tmp" && mv "$1.tmp" "$1" && exec "$2" infinity' _ "$pidfile" "$exe" \
    </dev/null >/dev/null 2>&1 &
  until [ -s "$pidfile" ]; do sleep 0.01; done
}
