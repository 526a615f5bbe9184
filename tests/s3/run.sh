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
# shellcheck source=../venv.sh
source "$HERE/../venv.sh"

ensure_venv "${VENV:=$REPO/target/s3venv}" "${PYTHON:-python3}" "$HERE/requirements.txt"

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

run_pytest "$VENV" "$HERE" "$@"
