#!/usr/bin/env bash
# novalab's own PostgreSQL for Pulumi state (Pulumi's built-in DIY backend `postgres://`), for a team
# that has none. Debian's server, its own data directory, loopback only, its own port, role and
# database; the role's password lives only in a 0600 pgpass file (never on a command line, in the
# environment of a long-lived process, or in the printed URL: the URL names the file).
#
#   state/state.sh up                 create (first time) and start it; idempotent
#   state/state.sh down               stop it; the data stays (`up` brings it back)
#   state/state.sh status             running or not, where, its stacks and locks (exit 0 up, 3 down)
#   state/state.sh backend-url        the PULUMI_BACKEND_URL for it: exit 0 and print it when up,
#                                     1 (silent) when none is set up here, 2 with a message when down
#   state/state.sh locks STACK        who holds STACK's lock (host, pid, time) and whether it is alive
#   state/state.sh unlock STACK       clear STACK's lock with `pulumi cancel`, only when every holder
#                                     is a process of this host that is gone
#   state/state.sh wait-lock SECONDS -- COMMAND...
#                                     run COMMAND (pulumi up/preview); while it fails on the stack's
#                                     lock, retry until SECONDS have passed
#   state/state.sh backup FILE        pg_dump of the state database (custom format)
#   state/state.sh restore FILE       pg_restore of such a dump, in one transaction
#   state/state.sh psql [ARGS...]     psql as novalab's role on its database
#
# locks/unlock read the backend in PULUMI_BACKEND_URL (postgres:// or file://) when it is set, else
# this database; wait-lock reads the holders from Pulumi's own message (any backend).
# Environment: NOVALAB_STATE_DIR (default /var/lib/novalab-state), NOVALAB_STATE_PORT (the port at the
# first `up`, then kept in the data directory).
set -euo pipefail

PG_MAJOR=15                          # Debian 12's PostgreSQL: package postgresql-15
DEFAULT_PORT=55432                   # not 5432: the distribution's own cluster may want that one
ROLE=novalab
DATABASE=novalab_state
TABLE=pulumi_state                   # Pulumi's default table name for postgres://
LOCK_DIR=.pulumi/locks               # where Pulumi's DIY backends keep stack locks

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
STATE_DIR=${NOVALAB_STATE_DIR:-/var/lib/novalab-state}
PG_BIN=${NOVALAB_PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
SETTINGS=$STATE_DIR/settings
PASSFILE=$STATE_DIR/passfile
PGDATA=$STATE_DIR/pgdata
SOCKET_DIR=$STATE_DIR/run
LOG_DIR=$STATE_DIR/log

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'state: %s\n' "$1" >&2; exit "${2:-1}"; }

# --- the server ---------------------------------------------------------------------------------

# The server runs as `postgres` when we are root (PostgreSQL refuses root), else as ourselves.
server_user() { if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi; }
as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

configured() { [ -f "$SETTINGS" ]; }

setting() {  # setting KEY: one value of the settings file written at the first `up`
  awk -F= -v k="$1" '$1 == k {print substr($0, length(k) + 2); found = 1} END {exit !found}' "$SETTINGS" ||
    die "$SETTINGS has no $1"
}

port() { setting port; }

server_running() { [ -f "$PGDATA/PG_VERSION" ] && as_server "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

accepting() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$(port)" -t 3 >/dev/null 2>&1; }

ensure_binaries() {
  [ -x "$PG_BIN/postgres" ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's PostgreSQL server (postgresql-$PG_MAJOR)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$PG_MAJOR" >/dev/null
  fi
  [ -x "$PG_BIN/postgres" ] || die "no PostgreSQL $PG_MAJOR server in $PG_BIN: install Debian's postgresql-$PG_MAJOR (or set NOVALAB_PG_BIN)"
}

# A psql session as the cluster's superuser, over the private socket (peer authentication).
superuser_psql() {
  as_server "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$(port)" -U "$(setting superuser)" -d postgres
}

# A psql session as novalab's role over loopback TCP; the password comes from the pgpass file.
role_psql() {
  PGPASSFILE=$PASSFILE PGSSLMODE=disable PGCONNECT_TIMEOUT=10 \
    "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port)" -U "$ROLE" -d "$DATABASE" "$@"
}

write_server_config() {
  local conf=$PGDATA/novalab.conf tmp
  tmp=$(mktemp)
  cat > "$tmp" <<EOF
# Written by novalab's state/state.sh on every \`state up\`: edit there, not here.
listen_addresses = '127.0.0.1'
port = $(port)
unix_socket_directories = '$SOCKET_DIR'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
log_statement = 'none'
max_connections = 40
EOF
  install -m 0600 -o "$(server_user)" "$tmp" "$conf"
  cat > "$tmp" <<EOF
# Written by novalab's state/state.sh: the superuser on the private socket, novalab's role on loopback.
local all $(setting superuser) peer
host $DATABASE $ROLE 127.0.0.1/32 scram-sha-256
EOF
  install -m 0600 -o "$(server_user)" "$tmp" "$PGDATA/pg_hba.conf"
  rm -f "$tmp"
  grep -qsx "include_if_exists = 'novalab.conf'" "$PGDATA/postgresql.conf" ||
    echo "include_if_exists = 'novalab.conf'" | as_server tee -a "$PGDATA/postgresql.conf" >/dev/null
}

first_time_setup() {
  local user
  user=$(server_user)
  # The server user walks down to its data directory: a parent it cannot enter would fail later,
  # obscurely (pytest's /tmp/pytest-of-root is 0700, for one).
  as_server test -x "$STATE_DIR" ||
    die "user $user cannot enter $STATE_DIR: put NOVALAB_STATE_DIR where every parent is searchable (e.g. under /var/lib)"
  install -d -m 0700 -o "$user" "$SOCKET_DIR" "$LOG_DIR"
  if [ ! -f "$SETTINGS" ]; then
    local p=${NOVALAB_STATE_PORT:-$DEFAULT_PORT}
    printf 'port=%s\nsuperuser=%s\n' "$p" "$user" > "$SETTINGS.tmp"
    mv "$SETTINGS.tmp" "$SETTINGS"
  fi
  if [ ! -s "$PASSFILE" ]; then
    local password
    password=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)
    # pgpass format host:port:database:user:password; the file is the only place it is written.
    (umask 077 && printf '127.0.0.1:%s:%s:%s:%s\n' "$(port)" "$DATABASE" "$ROLE" "$password" > "$PASSFILE.tmp")
    mv "$PASSFILE.tmp" "$PASSFILE"
  fi
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    log "initialising the state cluster in $PGDATA"
    rm -rf "$PGDATA.tmp"
    install -d -m 0700 -o "$user" "$PGDATA.tmp"
    as_server "$PG_BIN/initdb" -D "$PGDATA.tmp" -U "$(setting superuser)" -E UTF8 --locale=C.UTF-8 \
      --auth-local=peer --auth-host=reject --no-instructions >"$LOG_DIR/initdb.log" 2>&1 ||
      die "initdb failed: see $LOG_DIR/initdb.log"
    mv "$PGDATA.tmp" "$PGDATA"
  fi
}

ensure_role_and_database() {
  {
    printf "SELECT 'CREATE ROLE %s LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s')\\gexec\n" "$ROLE" "$ROLE"
    printf "SELECT 'CREATE DATABASE %s OWNER %s' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '%s')\\gexec\n" \
      "$DATABASE" "$ROLE" "$DATABASE"
    printf 'REVOKE ALL ON DATABASE %s FROM PUBLIC;\n' "$DATABASE"
  } | superuser_psql >/dev/null
  role_psql -q -A -t -c 'SELECT 1' >/dev/null 2>&1 && return 0
  # First time (or a new passfile): the role gets the file's password. It reaches the server on
  # psql's stdin only (printf is a shell builtin: no command line), and log_statement is none.
  local password
  password=$(awk -F: 'NR == 1 {print $5}' "$PASSFILE")
  [ -n "$password" ] || die "$PASSFILE holds no password"
  printf "ALTER ROLE %s WITH LOGIN PASSWORD '%s';\n" "$ROLE" "$password" | superuser_psql >/dev/null
}

cmd_up() {
  ensure_binaries
  install -d -m 0755 "$STATE_DIR"
  exec 9>>"$STATE_DIR/.lock"         # one `up`/`down` at a time
  flock 9
  first_time_setup
  write_server_config
  if ! server_running; then
    log "starting the state database (127.0.0.1:$(port), data in $PGDATA)"
    # 9>&-: the server must not inherit (and so hold forever) the lock of this `up`.
    as_server "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$LOG_DIR/server.log" -w -t 60 start >/dev/null 9>&- ||
      die "the server did not start: see $LOG_DIR/server.log"
  else
    as_server "$PG_BIN/pg_ctl" -D "$PGDATA" reload >/dev/null
  fi
  ensure_role_and_database
  role_psql -q -A -t -c 'SELECT 1' >/dev/null || die "cannot log in as $ROLE on 127.0.0.1:$(port) with $PASSFILE"
  log "state database up; backend URL: $(backend_url)"
}

cmd_down() {
  configured || { log "no state database in $STATE_DIR"; return 0; }
  exec 9>>"$STATE_DIR/.lock"
  flock 9
  if server_running; then
    as_server "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    log "state database stopped (data kept in $PGDATA; ./novalab state up starts it again)"
  else
    log "state database already down (data in $PGDATA)"
  fi
}

urlencode_path() { printf '%s' "$1" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's/&/%26/g' -e 's/+/%2B/g' -e 's/?/%3F/g' -e 's/#/%23/g'; }

backend_url() {
  # No password in it: lib/pq reads it from the pgpass file named by `passfile`.
  printf 'postgres://%s@127.0.0.1:%s/%s?sslmode=disable&connect_timeout=10&passfile=%s\n' \
    "$ROLE" "$(port)" "$DATABASE" "$(urlencode_path "$PASSFILE")"
}

cmd_backend_url() {
  configured || exit 1
  accepting || die "novalab's state database ($STATE_DIR) is down: run ./novalab state up (or set PULUMI_BACKEND_URL to use another backend)" 2
  [ -r "$PASSFILE" ] || die "cannot read $PASSFILE (the state database's password file): run as its owner, or set PULUMI_BACKEND_URL" 2
  backend_url
}

cmd_status() {
  if ! configured; then
    echo "no state database in $STATE_DIR (./novalab state up creates one)"
    return 3
  fi
  echo "data directory: $PGDATA"
  echo "address:        127.0.0.1:$(port), database $DATABASE, role $ROLE, password file $PASSFILE"
  if ! server_running; then
    echo "server:         down (./novalab state up)"
    return 3
  fi
  echo "server:         up, pid $(head -n1 "$PGDATA/postmaster.pid")"
  echo "backend URL:    $(backend_url)"
  local table_exists
  table_exists=$(role_psql -A -t -c "SELECT to_regclass('$TABLE') IS NOT NULL")
  if [ "$table_exists" != t ]; then
    echo "stacks:         none yet"
    return 0
  fi
  echo "stacks (checkpoint bytes, rows with history and backups, bytes of those rows):"
  # Pulumi keys rows as files: [prefix/].pulumi/{stacks,history,backups}/PROJECT/STACK...
  role_psql -A -t -F ' ' <<EOF | awk '{printf "  %-40s %10s %6s %10s\n", $1, $2, $3, $4}'
SELECT s.stack, s.bytes,
       (SELECT count(*) FROM $TABLE r WHERE r.key ~ ('\.pulumi/(stacks|history|backups)/' || s.stack || '[./]')),
       (SELECT sum(pg_column_size(r.data)) FROM $TABLE r WHERE r.key ~ ('\.pulumi/(stacks|history|backups)/' || s.stack || '[./]'))
FROM (SELECT regexp_replace(key, '^.*\.pulumi/stacks/(.*)\.json$', '\1') AS stack, pg_column_size(data) AS bytes
      FROM $TABLE WHERE key ~ '\.pulumi/stacks/.*\.json$') s ORDER BY 1;
EOF
  local lines
  lines=$(lock_rows "$(backend_url)")
  if [ -z "$lines" ]; then
    echo "locks:          none"
  else
    echo "locks:"
    print_locks <<<"$lines"
  fi
}

# --- locks ----------------------------------------------------------------------------------------

# The backend the lock commands look at: the user's PULUMI_BACKEND_URL, else this database.
active_backend() {
  if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
    printf '%s\n' "$PULUMI_BACKEND_URL"
    return 0
  fi
  local rc=0
  cmd_backend_url || rc=$?
  [ "$rc" -ne 1 ] || die "no backend to look at: set PULUMI_BACKEND_URL (postgres:// or file://) or run ./novalab state up"
  [ "$rc" -eq 0 ] || exit "$rc"
}

pct_decode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }

# A psql for any postgres:// URL: its parts become libpq's environment (password, if the URL has
# one, included: only for this short psql), Pulumi's own `table` parameter is taken out.
url_psql() {
  local url=$1
  shift
  local rest=${url#postgres://} query='' auth='' hostport db user='' pass='' host port
  rest=${rest#postgresql://}
  case "$rest" in *\?*) query=${rest#*\?}; rest=${rest%%\?*} ;; esac
  case "$rest" in *@*) auth=${rest%@*}; rest=${rest##*@} ;; esac
  hostport=${rest%%/*}
  db=${rest#"$hostport"}; db=${db#/}
  if [ -n "$auth" ]; then
    user=$(pct_decode "${auth%%:*}")
    case "$auth" in *:*) pass=$(pct_decode "${auth#*:}") ;; esac
  fi
  host=${hostport%:*}; port=${hostport##*:}
  [ "$host" != "$hostport" ] || port=''
  local -a env=()
  [ -z "$host" ] || env+=("PGHOST=$host")
  [ -z "$port" ] || env+=("PGPORT=$port")
  [ -z "$user" ] || env+=("PGUSER=$user")
  [ -z "$db" ] || env+=("PGDATABASE=$(pct_decode "$db")")
  [ -z "$pass" ] || env+=("PGPASSWORD=$pass")
  local kv key value table=$TABLE
  local IFS='&'
  for kv in $query; do
    key=${kv%%=*}; value=$(pct_decode "${kv#*=}")
    case "$key" in
      table) table=$value ;;
      passfile) env+=("PGPASSFILE=$value") ;;
      sslmode) env+=("PGSSLMODE=$value") ;;
      connect_timeout) env+=("PGCONNECT_TIMEOUT=$value") ;;
      sslrootcert) env+=("PGSSLROOTCERT=$value") ;;
      sslcert) env+=("PGSSLCERT=$value") ;;
      sslkey) env+=("PGSSLKEY=$value") ;;
    esac
  done
  unset IFS
  env+=("NOVALAB_TABLE=$table")
  env "${env[@]}" "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"
}

# lock_rows URL: one line per lock: key<TAB>user<TAB>host<TAB>pid<TAB>timestamp.
lock_rows() {
  local url=$1
  case "$url" in
    postgres://* | postgresql://*)
      # The table is not there until Pulumi first used the database.
      url_psql "$url" -F $'\t' -v table="$(url_table "$url")" <<'EOF'
SELECT to_regclass(:'table') IS NOT NULL AS present \gset
\if :present
SELECT key, l->>'username', l->>'hostname', l->>'pid', l->>'timestamp'
FROM (SELECT key, convert_from(decode(data->>'data', 'base64'), 'UTF8')::json AS l
      FROM :"table" WHERE key LIKE '%.pulumi/locks/%.json') s ORDER BY key;
\endif
EOF
      ;;
    file://*)
      local dir=${url#file://} f
      dir=${dir%%\?*}
      dir=${dir/#\~/$HOME}
      [ -d "$dir/$LOCK_DIR" ] || return 0
      while IFS= read -r -d '' f; do
        # Pulumi writes the lock as compact JSON with these four fields.
        # (no newline at its end: awk, not `read`, takes the last line)
        sed -n 's/.*"pid":\([0-9]*\).*"username":"\([^"]*\)".*"hostname":"\([^"]*\)".*"timestamp":"\([^"]*\)".*/\2\t\3\t\1\t\4/p' "$f" |
          awk -v key="${f#"$dir"/}" '{print key "\t" $0}'
      done < <(find "$dir/$LOCK_DIR" -type f -name '*.json' -print0 | sort -z)
      ;;
    *) die "locks: only postgres:// and file:// backends can be read here (not ${url%%://*}://)" ;;
  esac
}

url_table() {
  local q=${1#*\?} kv
  [ "$q" != "$1" ] || { echo "$TABLE"; return; }
  local IFS='&'
  for kv in $q; do
    [ "${kv%%=*}" = table ] && { pct_decode "${kv#*=}"; echo; return; }
  done
  echo "$TABLE"
}

# lock_stack KEY: organization/project/stack (or the stack alone, for a backend without projects)
# from a lock's key, `[prefix/].pulumi/locks/organization/project/stack/ID.json`.
lock_stack() { sed -e 's|^.*\.pulumi/locks/||' -e 's|/[^/]*$||' <<<"$1"; }

# stack_filter STACK: keep the lock rows of STACK (`name`, `project/name` or `org/project/name`).
stack_filter() {
  local want=$1
  awk -F'\t' -v want="$want" '{
    key = $1; sub(/^.*\.pulumi\/locks\//, "", key)
    n = split(key, p, "/"); name = p[n - 1]; project = (n >= 3 ? p[n - 2] : ""); org = (n >= 4 ? p[n - 3] : "")
    m = split(want, w, "/")
    if ((m == 1 && w[1] == name) || (m == 2 && w[1] == project && w[2] == name) ||
        (m == 3 && w[1] == org && w[2] == project && w[3] == name)) print
  }'
}

# holder_state PID HOST TIMESTAMP: alive | gone | elsewhere. A pid on this host counts as the holder
# when that process started no later than the lock was written (a reused pid is not the holder), or
# when it is a `pulumi` process: a process start time is derived from the boot clock, which a paused
# VM stops while the wall clock moves on (seen: a live holder looked younger than its lock, so "gone").
holder_state() {
  local pid=$1 host=$2 when=$3
  [ "$host" = "$(hostname)" ] || { echo elsewhere; return; }
  if ! kill -0 "$pid" 2>/dev/null && [ ! -d "/proc/$pid" ]; then
    echo gone
    return
  fi
  local lock_epoch start_epoch ticks btime hz
  lock_epoch=$(date -d "$when" +%s 2>/dev/null) || { echo alive; return; }
  ticks=$(awk '{sub(/.*\) /, ""); print $20}' "/proc/$pid/stat" 2>/dev/null) || { echo gone; return; }
  btime=$(awk '$1 == "btime" {print $2}' /proc/stat)
  hz=$(getconf CLK_TCK)
  start_epoch=$((btime + ticks / hz))
  if [ "$start_epoch" -gt $((lock_epoch + 1)) ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != pulumi ]; then
    echo gone
  else
    echo alive
  fi
}

print_locks() {  # stdin: lock rows
  local key user host pid when
  while IFS=$'\t' read -r key user host pid when; do
    printf '  %s@%s pid %s since %s: %s  (%s)\n' "$user" "$host" "$pid" "$when" "$(describe_holder "$pid" "$host" "$when")" "$key"
  done
}

describe_holder() {
  case "$(holder_state "$@")" in
    alive) echo "running" ;;
    gone) echo "STALE: that process is gone" ;;
    elsewhere) echo "held from another host: check there" ;;
  esac
}

stack_locks() {  # stack_locks STACK URL
  lock_rows "$2" | stack_filter "$1"
}

cmd_locks() {
  local stack=${1:?usage: state.sh locks STACK} url rows
  url=$(active_backend)
  rows=$(stack_locks "$stack" "$url")
  if [ -z "$rows" ]; then
    echo "$stack: not locked"
    return 0
  fi
  echo "$stack is locked:"
  print_locks <<<"$rows"
}

pulumi_bin() {
  if command -v pulumi >/dev/null 2>&1; then command -v pulumi; return; fi
  local dir
  dir=$("$ROOT/engine/engine.sh" path 2>/dev/null) && [ -x "$dir/pulumi" ] && { echo "$dir/pulumi"; return; }
  die "no pulumi: run ./novalab setup"
}

cmd_unlock() {
  local stack=${1:?usage: state.sh unlock STACK} url rows key user host pid when blocked=0 qualified=''
  url=$(active_backend)
  rows=$(stack_locks "$stack" "$url")
  if [ -z "$rows" ]; then
    echo "$stack: not locked"
    return 0
  fi
  while IFS=$'\t' read -r key user host pid when; do
    case "$(holder_state "$pid" "$host" "$when")" in
      gone) echo "stale lock: $user@$host pid $pid since $when (that process is gone)" ;;
      alive) echo "$stack is held by a running process: $user@$host pid $pid since $when; not clearing it" >&2; blocked=1 ;;
      elsewhere) echo "$stack is held from another host: $user@$host pid $pid since $when; check there that the run is gone, then run \`pulumi cancel\` yourself" >&2; blocked=1 ;;
    esac
    qualified=$(lock_stack "$key")
  done <<<"$rows"
  [ "$blocked" -eq 0 ] || exit 1
  # `pulumi cancel` on a DIY backend deletes every lock file of the stack: it does not stop any process.
  PULUMI_BACKEND_URL=$url PULUMI_SKIP_UPDATE_CHECK=true "$(pulumi_bin)" cancel --yes -s "$qualified" >/dev/null
  echo "$stack: lock cleared (pulumi cancel deleted the stack's lock files)"
}

# --- waiting for a lock -----------------------------------------------------------------------

LOCKED_MESSAGE='the stack is currently locked by'

cmd_wait_lock() {
  local seconds=${1:?usage: state.sh wait-lock SECONDS -- COMMAND...}
  shift
  [ "${1:-}" = -- ] && shift
  [ "$#" -gt 0 ] || die "usage: state.sh wait-lock SECONDS -- COMMAND..."
  case "$seconds" in '' | *[!0-9]*) die "wait-lock: SECONDS must be a whole number, not '$seconds'" ;; esac
  local deadline=$((SECONDS + seconds)) rc pause=1 holders stale live seen_stale=''
  err=$(mktemp)                      # global: the EXIT trap runs after this function returned
  trap 'rm -f "$err"' EXIT
  while :; do
    rc=0
    # stdout streams as usual; stderr is held back until we know whether this was the lock error.
    "$@" 2>"$err" || rc=$?
    if [ "$rc" -eq 0 ] || ! grep -q "$LOCKED_MESSAGE" "$err"; then
      cat "$err" >&2
      return "$rc"
    fi
    # Pulumi's message lists each holder: "...: created by USER@HOST (pid PID) at TIME".
    holders=$(sed -n 's/.*: created by \([^@]*\)@\(.*\) (pid \([0-9]*\)) at \(.*\)$/\1\t\2\t\3\t\4/p' "$err")
    stale='' live=''
    while IFS=$'\t' read -r user host pid when; do
      [ -n "$pid" ] || continue
      if [ "$(holder_state "$pid" "$host" "$when")" = gone ]; then
        stale+="$user@$host pid $pid since $when; "
      else
        live+="$user@$host pid $pid since $when; "
      fi
    done <<<"$holders"
    # Pulumi's DIY lock writes, then checks, and a loser deletes its own lock: two runs started
    # together can both lose, each naming the other, which has already exited when we look (seen:
    # both waiters called a released lock stale). So a gone holder is stale only when the next try
    # names the same lock again.
    if [ -n "$stale" ] && [ -z "$live" ] && [ "$stale" != "$seen_stale" ] && [ "$SECONDS" -lt "$deadline" ]; then
      seen_stale=$stale
      log "the holder is gone (${stale%; }): trying again to see whether its lock is still there"
      sleep "$((RANDOM % 2)).$((RANDOM % 10))"
      continue
    fi
    if [ -n "$stale" ] && [ -z "$live" ]; then
      cat "$err" >&2
      local stack
      stack=$(sed -n 's|.*\.pulumi/locks/\(.*\)/[^/?]*\.json.*: created by .*|\1|p' "$err" | head -n1)
      die "the lock is stale: ${stale%; } (that process is gone). Waiting cannot help: clear it with ./novalab state unlock ${stack:-STACK}" "$rc"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      cat "$err" >&2
      die "gave up waiting for the lock after $seconds s (held by ${live%; })" "$rc"
    fi
    log "locked by ${live%; }: waiting (up to $((deadline - SECONDS)) s more)"
    # A random part, so two waiters that lost the same race do not retry in step.
    local nap=$((pause + RANDOM % 2))
    [ "$nap" -le $((deadline - SECONDS)) ] || nap=$((deadline - SECONDS))
    [ "$nap" -gt 0 ] || nap=1
    sleep "$nap"
    [ "$pause" -ge 4 ] || pause=$((pause * 2))
  done
}

# --- backup and restore ---------------------------------------------------------------------------

require_up() {
  configured || die "no state database in $STATE_DIR: run ./novalab state up"
  accepting || die "the state database is down: run ./novalab state up" 2
}

cmd_backup() {
  local file=${1:?usage: state.sh backup FILE}
  require_up
  # The dump holds every stack's state: secrets in it are ciphertext, the rest is not; keep it 0600.
  (umask 077 && PGPASSFILE=$PASSFILE PGSSLMODE=disable "$PG_BIN/pg_dump" -h 127.0.0.1 -p "$(port)" -U "$ROLE" \
    -d "$DATABASE" --format=custom --no-owner --file="$file.tmp")
  mv "$file.tmp" "$file"
  log "backup written: $file"
}

cmd_restore() {
  local file=${1:?usage: state.sh restore FILE}
  [ -f "$file" ] || die "no such file: $file"
  require_up
  local held
  held=$(lock_rows "$(backend_url)" | while IFS=$'\t' read -r key user host pid when; do
    [ "$(holder_state "$pid" "$host" "$when")" = gone ] || printf '%s@%s pid %s; ' "$user" "$host" "$pid"
  done)
  [ -z "$held" ] || die "a run holds a stack lock (${held%; }): restore when it is done"
  # One transaction: the database is either the dump's or unchanged.
  PGPASSFILE=$PASSFILE PGSSLMODE=disable "$PG_BIN/pg_restore" -h 127.0.0.1 -p "$(port)" -U "$ROLE" -d "$DATABASE" \
    --clean --if-exists --no-owner --single-transaction "$file"
  log "restored $file into $DATABASE"
}

cmd_psql() {
  require_up
  role_psql "$@"
}

cmd=${1:-help}
[ "$#" -gt 0 ] && shift
case "$cmd" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  backend-url) cmd_backend_url ;;
  locks) cmd_locks "$@" ;;
  unlock) cmd_unlock "$@" ;;
  wait-lock) cmd_wait_lock "$@" ;;
  backup) cmd_backup "$@" ;;
  restore) cmd_restore "$@" ;;
  psql) cmd_psql "$@" ;;
  help | -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
  *) die "unknown command: $cmd (state.sh help)" 2 ;;
esac
