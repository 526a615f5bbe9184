# Shared helpers of the service scripts (sourced, not executed).
#
# Every script keeps its installation and its running server's state (pid, port, logs) under
# $OS_SERVICES_DIR/<service> (default ~/.cache/objectstore-services), so that a second run
# finds the running server and only prints the exports again.

OS_SERVICES_DIR="${OS_SERVICES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/objectstore-services}"

log() { echo "[$(basename "$0")] $*" >&2; }
die() { log "error: $*"; exit 1; }

# A free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Whether the process in pid file $1 is alive.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits up to $2 seconds (default 60) for 127.0.0.1:$1 to accept connections; gives up early
# when the process in pid file $3 (optional) has died.
wait_port() {
  local port=$1 secs=${2:-60} pidfile=${3:-} i
  for ((i = 0; i < secs * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    if [ -n "$pidfile" ] && ! pid_alive "$pidfile"; then return 1; fi
    sleep 0.1
  done
  return 1
}

# Stops the process in pid file $1 (TERM, then KILL after 10 s) and removes the file.
stop_pidfile() {
  if pid_alive "$1"; then
    local pid; pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# A script's server is the process in pid file $DIR/pid (or $2) listening on the port kept in
# $DIR/port. When it still answers: sets PORT, logs that $1 (the server's name) is already
# running, and succeeds; otherwise fails, and the caller starts one.
reuse_running() {
  local name=$1 pidfile=${2:-$DIR/pid}
  pid_alive "$pidfile" && [ -f "$DIR/port" ] && wait_port "$(cat "$DIR/port")" 2 || return 1
  PORT=$(cat "$DIR/port")
  log "$name already running (pid $(cat "$pidfile"), port $PORT)"
}

# Records the server just started in the background (pid $1, port $PORT) in $DIR and waits up
# to $2 seconds for its port; when it does not answer, shows $DIR/server.log and dies saying
# that $3 (the server's name) did not start.
record_started() {
  local pid=$1 secs=$2 name=$3
  echo "$pid" >"$DIR/pid"
  echo "$PORT" >"$DIR/port"
  wait_port "$PORT" "$secs" "$DIR/pid" || { cat "$DIR/server.log" >&2; die "$name did not start"; }
}
