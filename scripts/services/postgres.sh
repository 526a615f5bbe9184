#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster on 127.0.0.1 for the postgres backend's tests and
# prints the variable to export:
#
#     eval "$(scripts/services/postgres.sh)"          # start (or reuse) and export
#     scripts/services/postgres.sh start [DIR] [PORT] # same; DIR and PORT are optional
#     scripts/services/postgres.sh stop [DIR]         # stop the cluster in DIR
#
# * DIR (default $OS_POSTGRES_DIR, else ${TMPDIR:-/tmp}/objectstore-postgres) holds the data
#   directory, the log, the socket and the generated password. PORT (default $OS_POSTGRES_PORT,
#   else a free one) is chosen at the first start and kept in DIR/port.
# * Idempotent: when the cluster in DIR already runs, nothing is started and the same line is
#   printed again; a stopped cluster is started again with its data; the database
#   `objectstore_test` is created when missing.
# * Installs the Debian `postgresql` package when `initdb`/`pg_ctl` are missing.
# * initdb refuses to run as root: as root, the cluster belongs to the user `postgres`.
# * Listens on 127.0.0.1 only (TCP, password auth) plus a Unix socket in DIR (trust, for this
#   script). fsync is off: this cluster is for tests, its data is disposable.
#
# Only the `export` line goes to stdout; progress goes to stderr.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

cmd=start
case "${1:-}" in
  start | stop) cmd=$1; shift ;;
esac
DIR=${1:-${OS_POSTGRES_DIR:-${TMPDIR:-/tmp}/objectstore-postgres}}
WANT_PORT=${2:-${OS_POSTGRES_PORT:-}}
DB=objectstore_test
DB_USER=postgres

# --- Binaries ------------------------------------------------------------------------------

find_bindir() {
  local d
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return 0
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

BIN=$(find_bindir || true)
if [ -z "$BIN" ]; then
  [ "$cmd" = stop ] && die "PostgreSQL is not installed, nothing to stop"
  log "initdb/pg_ctl not found: installing the Debian postgresql package"
  [ "$(id -u)" = 0 ] || die "installing needs root (apt-get install -y postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y postgresql >&2; then
    apt-get update >&2
    apt-get install -y postgresql >&2
  fi
  BIN=$(find_bindir) || die "postgresql installed, but initdb/pg_ctl are still missing"
fi

# As root, everything touching the cluster runs as `postgres` (initdb refuses root).
if [ "$(id -u)" = 0 ]; then
  id "$DB_USER" >/dev/null 2>&1 || die "user $DB_USER does not exist (install the postgresql package)"
  as_owner() { runuser -u "$DB_USER" -- "$@"; }
else
  as_owner() { "$@"; }
fi

pgctl() { as_owner "$BIN/pg_ctl" -D "$DIR/data" "$@"; }

running() { [ -f "$DIR/data/PG_VERSION" ] && pgctl status >/dev/null 2>&1; }

if [ "$cmd" = stop ]; then
  if running; then
    pgctl stop -m fast -w >&2
    log "stopped the cluster in $DIR"
  else
    log "no cluster runs in $DIR"
  fi
  exit 0
fi

# --- Cluster -------------------------------------------------------------------------------

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown "$DB_USER:" "$DIR"
chmod 700 "$DIR"
as_owner test -w "$DIR" ||
  die "user $(as_owner id -un) cannot write to $DIR (a parent directory is private?): pick another DIR"

if [ ! -f "$DIR/data/PG_VERSION" ]; then
  log "creating a cluster in $DIR/data"
  rm -rf "$DIR/data"
  as_owner sh -c "umask 077; head -c 18 /dev/urandom | base64 | tr '+/' 'xy' > '$DIR/password'"
  init() {
    as_owner "$BIN/initdb" -D "$DIR/data" -U "$DB_USER" --pwfile="$DIR/password" --no-sync \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale="$1" >&2
  }
  init C.UTF-8 || { rm -rf "$DIR/data"; init C; }
fi
[ -s "$DIR/password" ] || die "$DIR/password is missing: remove $DIR and run again"
PASSWORD=$(as_owner cat "$DIR/password")

if [ -s "$DIR/port" ]; then
  PORT=$(cat "$DIR/port")
  [ -z "$WANT_PORT" ] || [ "$WANT_PORT" = "$PORT" ] ||
    die "the cluster in $DIR uses port $PORT; stop it and remove $DIR to change the port"
else
  PORT=${WANT_PORT:-$(free_port)}
  echo "$PORT" | as_owner tee "$DIR/port" >/dev/null
fi

if running; then
  log "the cluster in $DIR already runs on port $PORT"
else
  mkdir -p "$DIR/sock"
  [ "$(id -u)" = 0 ] && chown "$DB_USER:" "$DIR/sock"
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  pgctl start -w -t 60 -l "$DIR/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR/sock -c max_connections=300 -c fsync=off -c full_page_writes=off -c synchronous_commit=off" >&2 ||
    { tail -n 20 "$DIR/server.log" >&2 || true; die "PostgreSQL did not start"; }
fi

psql_local() { as_owner psql -X -q -h "$DIR/sock" -p "$PORT" -U "$DB_USER" -d postgres -v ON_ERROR_STOP=1 "$@"; }

for _ in $(seq 1 100); do
  if pg_isready -q -h 127.0.0.1 -p "$PORT" && psql_local -tAc 'SELECT 1' >/dev/null 2>&1; then
    break
  fi
  sleep 0.1
done
psql_local -tAc 'SELECT 1' >/dev/null || die "PostgreSQL on port $PORT does not accept connections"

if [ "$(psql_local -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  psql_local -c "CREATE DATABASE $DB" >&2
  log "created database $DB"
fi

echo "export OS_TEST_POSTGRES_URL=postgres://$DB_USER:$PASSWORD@127.0.0.1:$PORT/$DB"
