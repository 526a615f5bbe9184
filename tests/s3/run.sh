#!/usr/bin/env bash
# Run the S3 compatibility suite: boto3, the aws cli and rclone against the S3 listener of
# our server binary.
#
#   tests/s3/run.sh [pytest args...]
#
# Environment:
#   OBJECTSTORE_BIN  server binary (default <repo>/target/debug/objectstore)
#   VENV             virtualenv to create/use (default <repo>/target/s3venv)
#   PYTHON           interpreter used to create the venv (default python3)
#
# rclone comes from the distribution (Debian package `rclone`); when it is missing this
# script installs it with apt-get if it can (root), else the rclone tests fail under CI=true
# and are skipped loudly otherwise.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${VENV:-$REPO/target/s3venv}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS="$HERE/requirements.txt"

die() { echo "run.sh: error: $*" >&2; exit 2; }

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

if ! command -v rclone >/dev/null; then
  if [[ "$(id -u)" = 0 ]] && command -v apt-get >/dev/null; then
    if ! apt-get install -y -q rclone >/dev/null 2>&1; then
      apt-get update -q >/dev/null 2>&1 || true
      apt-get install -y -q rclone >/dev/null 2>&1 || echo "run.sh: warning: could not install rclone" >&2
    fi
  fi
fi

BIN="${OBJECTSTORE_BIN:-$REPO/target/debug/objectstore}"
[[ "$BIN" = /* ]] || BIN="$PWD/$BIN"
[[ -x "$BIN" ]] || die "objectstore server binary not found: $BIN (cargo build, or set OBJECTSTORE_BIN)"
export OBJECTSTORE_BIN="$BIN"
# The aws cli of the venv, not whatever `aws` is on PATH.
export PATH="$VENV/bin:$PATH"

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
