#!/usr/bin/env bash
# Starts the Azure Blob Storage emulator (Azurite 3.37.0) on 127.0.0.1, creates the test
# container and prints the variables the cloud backend's Azure tests read:
#
#   eval "$(scripts/services/azurite.sh)"  # then: cargo test -p objectstore-service --features azure cloud
#
# Idempotent: a second run finds the running server and prints the same exports.
# Options (environment): AZURITE_PORT (default: a free port), OS_SERVICES_DIR (state, npm cache).
# Stop it with: scripts/services/azurite.sh stop
#
# Azurite keeps everything in memory (--inMemoryPersistence) and uses the well-known
# development account `devstoreaccount1` with its published key.
set -euo pipefail
source "$(dirname "$0")/common.sh"

DIR="$OS_SERVICES_DIR/azurite"
CONTAINER=lt-test
ACCOUNT=devstoreaccount1
# The published Azurite development key (not a secret).
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
mkdir -p "$DIR"

if [ "${1:-}" = stop ]; then stop_pidfile "$DIR/pid"; log "stopped"; exit 0; fi

if [ ! -x "$DIR/node_modules/.bin/azurite-blob" ]; then
  log "installing azurite@3.37.0 into $DIR"
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error azurite@3.37.0 >&2
fi

if ! reuse_running azurite; then
  PORT="${AZURITE_PORT:-$(free_port)}"
  log "starting azurite on 127.0.0.1:$PORT (log: $DIR/server.log)"
  (cd "$DIR" && exec nohup node_modules/.bin/azurite-blob --blobHost 127.0.0.1 \
    --blobPort "$PORT" --inMemoryPersistence --disableTelemetry --skipApiVersionCheck \
    --silent >"$DIR/server.log" 2>&1 </dev/null) &
  record_started $! 60 azurite
fi

ENDPOINT="http://127.0.0.1:$PORT/$ACCOUNT"
# Create the container with a SharedKey-signed request (201 created, 409 already exists).
python3 - "$PORT" "$ACCOUNT" "$KEY" "$CONTAINER" <<'PY' || die "could not create container $CONTAINER"
import base64, hashlib, hmac, sys, urllib.request, urllib.error
from email.utils import formatdate
port, account, key, container = sys.argv[1:]
date, version = formatdate(usegmt=True), "2021-08-06"
string_to_sign = "\n".join(
    ["PUT", "", "", "", "", "", "", "", "", "", "", "",
     f"x-ms-date:{date}\nx-ms-version:{version}",
     f"/{account}/{account}/{container}\nrestype:container"])
sig = base64.b64encode(hmac.new(base64.b64decode(key), string_to_sign.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(
    f"http://127.0.0.1:{port}/{account}/{container}?restype=container", method="PUT",
    headers={"x-ms-date": date, "x-ms-version": version, "Content-Length": "0",
             "Authorization": f"SharedKey {account}:{sig}"})
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    if e.code != 409:
        sys.exit(f"HTTP {e.code}: {e.read().decode(errors='replace')}")
PY

cat <<OUT
export OS_TEST_AZURE_ENDPOINT=$ENDPOINT
export OS_TEST_AZURE_CONTAINER=$CONTAINER
export OS_TEST_AZURE_ACCOUNT=$ACCOUNT
export OS_TEST_AZURE_ACCESS_KEY=$KEY
OUT
