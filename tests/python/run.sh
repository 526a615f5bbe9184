#!/usr/bin/env bash
# Run the Python compatibility suite: the official objectstore-client (PyPI) against
# our server binary.
#
#   tests/python/run.sh [pytest args...]
#
# Environment:
#   OBJECTSTORE_BIN  server binary (default <repo>/target/debug/objectstore)
#   VENV             virtualenv to create/use (default <repo>/target/pyvenv)
#   PYTHON           interpreter used to create the venv (default python3)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../venv.sh
source "$HERE/../venv.sh"

# (a) virtualenv with the pinned requirements; reinstalled when requirements.txt changes.
ensure_venv "${VENV:=$REPO/target/pyvenv}" "${PYTHON:-python3}" "$HERE/requirements.txt"

# (b) the server binary; collection alone does not need it.
BIN="${OBJECTSTORE_BIN:-$REPO/target/debug/objectstore}"
[[ "$BIN" = /* ]] || BIN="$PWD/$BIN"
export OBJECTSTORE_BIN="$BIN"
collect_only=false
for arg in "$@"; do
  [[ "$arg" == "--collect-only" || "$arg" == "--co" ]] && collect_only=true
done
if ! $collect_only && [[ ! -x "$BIN" ]]; then
  die "objectstore server binary not found or not executable: $BIN
       build it first (cargo build) or set OBJECTSTORE_BIN=/path/to/objectstore"
fi

# (c) the given paths, else the whole suite.
run_pytest "$VENV" "$HERE" "$@"
