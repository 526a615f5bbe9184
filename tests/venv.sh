# Shared by the Python suites' run.sh scripts (sourced, not run, after setting HERE to the
# suite's folder): REPO, `die`, the pinned virtualenv and the pytest invocation.
#
#   ensure_venv VENV PYTHON REQUIREMENTS  creates VENV with PYTHON if missing and installs
#                                         REQUIREMENTS; reinstalls when the file changes
#                                         (its SHA-256 is stamped in the venv)
#   run_pytest VENV SUITE [args...]       runs pytest on SUITE, or on the paths among args
#                                         when any is given (relative to the caller's
#                                         directory); never returns

REPO="$(cd "$HERE/../.." && pwd)"

die() { echo "run.sh: error: $*" >&2; exit 2; }

ensure_venv() {
  local venv=$1 python=$2 requirements=$3
  if [[ ! -x "$venv/bin/python" ]]; then
    command -v "$python" >/dev/null || die "'$python' not found (set PYTHON=...)"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" || die "could not create virtualenv at $venv"
  fi
  local stamp="$venv/.objectstore-requirements.sha256" want
  want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" \
      || die "pip install -r $requirements failed"
    echo "$want" > "$stamp"
  fi
}

run_pytest() {
  local venv=$1 suite=$2 arg has_path=false
  shift 2
  for arg in "$@"; do
    case "$arg" in
      -*) ;;
      *) [[ -e "${arg%%::*}" ]] && has_path=true ;;
    esac
  done
  if $has_path; then
    exec "$venv/bin/python" -m pytest -q "$@"
  fi
  exec "$venv/bin/python" -m pytest -q "$suite" "$@"
}
