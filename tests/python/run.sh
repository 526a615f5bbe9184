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
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${VENV:-$REPO/target/pyvenv}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS="$HERE/requirements.txt"

die() { echo "run.sh: error: $*" >&2; exit 2; }

# (a) virtualenv with the pinned requirements; reinstalled when requirements.txt changes.
if [[ ! -x "$VENV/bin/python" ]]; then
  command -v "$PYTHON" >/dev/null || die "'$PYTHON' not found (set PYTHON=...)"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV" || die "could not create virtualenv at $VENV"
fi
STAMP="$VENV/.objectstore-requirements.sha256"
WANT="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" \
    || die "pip install -r $REQUIREMENTS failed"
  echo "$WANT" > "$STAMP"
fi

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

# Paths given on the command line (relative to the caller's directory) replace the
# default of running the whole suite.
has_path=false
for arg in "$@"; do
  case "$arg" in
    -*) ;;
    *) [[ -e "${arg%%::*}" ]] && has_path=true ;;
  esac
done
if $has_path; then
  exec "$VENV/bin/python" -m pytest -q "$@"
fi
exec "$VENV/bin/python" -m pytest -q "$HERE" "$@"
