#!/usr/bin/env bash
# Starts an S3 emulator (moto[server] 5.2.5) on 127.0.0.1, creates the test bucket and prints
# the variables the cloud backend's S3 tests read:
#
#   eval "$(scripts/services/moto.sh)"     # then: cargo test -p objectstore-service --features s3 cloud
#
# Idempotent: a second run finds the running server and prints the same exports.
# Options (environment): MOTO_PORT (default: a free port), OS_SERVICES_DIR (state and venv).
# Stop it with: scripts/services/moto.sh stop
#
# The server runs with S3_UPLOAD_PART_MIN_SIZE=1: the conformance suite completes multipart
# uploads of small parts, which real S3 rejects (EntityTooSmall, reported by the backend as a
# completion rejection). Everything lives in memory and is lost when the server stops.
set -euo pipefail
source "$(dirname "$0")/common.sh"

DIR="$OS_SERVICES_DIR/moto"
BUCKET=lt-test
mkdir -p "$DIR"

if [ "${1:-}" = stop ]; then stop_pidfile "$DIR/pid"; log "stopped"; exit 0; fi

if [ ! -x "$DIR/venv/bin/moto_server" ]; then
  log "installing moto[server]==5.2.5 into $DIR/venv"
  python3 -m venv "$DIR/venv"
  "$DIR/venv/bin/pip" install --quiet 'moto[server]==5.2.5' >&2
fi

if ! reuse_running moto; then
  PORT="${MOTO_PORT:-$(free_port)}"
  log "starting moto on 127.0.0.1:$PORT (log: $DIR/server.log)"
  S3_UPLOAD_PART_MIN_SIZE=1 MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=$((16 << 20)) \
    nohup "$DIR/venv/bin/moto_server" -H 127.0.0.1 -p "$PORT" \
    >"$DIR/server.log" 2>&1 </dev/null &
  record_started $! 60 moto
fi

ENDPOINT="http://127.0.0.1:$PORT"
# Creating an existing bucket is fine (moto answers 200 for the owner).
curl -sf -X PUT "$ENDPOINT/$BUCKET" -o /dev/null || die "could not create bucket $BUCKET"

cat <<OUT
export OS_TEST_S3_ENDPOINT=$ENDPOINT
export OS_TEST_S3_BUCKET=$BUCKET
export OS_TEST_S3_REGION=us-east-1
export OS_TEST_S3_ACCESS_KEY_ID=test
export OS_TEST_S3_SECRET_ACCESS_KEY=test
OUT
