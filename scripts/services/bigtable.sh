#!/usr/bin/env bash
# Starts the Bigtable emulator (`cbtemulator` from the Google Cloud CLI) on 127.0.0.1 and
# prints the variable the Bigtable backend's tests read:
#
#   eval "$(scripts/services/bigtable.sh)"   # then: cargo test -p objectstore-service --features bigtable bigtable
#
# Idempotent: a second run finds the running emulator and prints the same export.
# Options (environment): BIGTABLE_PORT (default: a free port), OS_SERVICES_DIR (state).
# Stop it with: scripts/services/bigtable.sh stop
#
# The emulator ships only with the Google Cloud CLI (`gcloud components install
# bigtable` or the image's SDK); it is not installable from the package registries. When it
# is absent this script says so in one line and exits 0 without exports, and the tests
# report that they did not run. Everything lives in memory and is lost when it stops.
set -euo pipefail
source "$(dirname "$0")/common.sh"

DIR="$OS_SERVICES_DIR/bigtable"
mkdir -p "$DIR"

if [ "${1:-}" = stop ]; then stop_pidfile "$DIR/pid"; log "stopped"; exit 0; fi

find_emulator() {
  local gcloud
  if [ -n "${CBTEMULATOR:-}" ] && [ -x "$CBTEMULATOR" ]; then echo "$CBTEMULATOR"; return 0; fi
  gcloud=$(command -v gcloud 2>/dev/null) || return 1
  local cbt
  cbt="$(dirname "$(readlink -f "$gcloud")")/../platform/bigtable-emulator/cbtemulator"
  [ -x "$cbt" ] && echo "$cbt"
}

if ! CBT=$(find_emulator); then
  log "bigtable: emulator not present on this machine (no gcloud SDK cbtemulator), Bigtable tests not run"
  exit 0
fi

if ! reuse_running "bigtable emulator"; then
  PORT="${BIGTABLE_PORT:-$(free_port)}"
  log "starting the bigtable emulator on 127.0.0.1:$PORT (log: $DIR/server.log)"
  nohup "$CBT" -host 127.0.0.1 -port "$PORT" >"$DIR/server.log" 2>&1 </dev/null &
  record_started $! 30 "the bigtable emulator"
fi

echo "export OS_TEST_BIGTABLE_EMULATOR=127.0.0.1:$PORT"
