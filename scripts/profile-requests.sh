#!/usr/bin/env bash
# Work per request of the server, in figures that do not depend on how busy the machine is:
#
#   scripts/profile-requests.sh [WORKLOAD...]        (default: get:1KiB put:1KiB)
#
# For each workload (an `objectstore-bench` workload name such as get:1KiB, head:1KiB,
# put:1KiB, s3-get:1KiB), on the release server in the default layout of `scripts/bench.sh` (tiered:
# embedded high-volume + filesystem long-term store, auth off, logging at WARN; the S3
# listener with the bench's credential, so `s3-*` workloads are SigV4-verified as in the
# bench's verified section; PROFILE_S3_AUTH=open profiles the zero-config listener instead):
#
# 1. **Instructions and allocations** (callgrind, user space). The server runs under
#    `valgrind --tool=callgrind`, instrumented from its first request. The workload runs
#    twice on PROFILE_CONNECTIONS connections: first with PROFILE_WARMUP requests, then
#    with PROFILE_WARMUP + PROFILE_REQUESTS; after each run the counters are dumped and
#    reset. Both runs include the same set-up (the objects a GET workload writes first), so
#    the difference of the two dumps is exactly PROFILE_REQUESTS requests of the workload.
#    Allocations are the calls to malloc, calloc and realloc (Rust's and SQLite's alike).
# 2. **System calls** (`strace -c -f` attached to a plain release server): the same two
#    runs, the difference divided by PROFILE_REQUESTS.
# 3. **CPU per request** (user + system time of the server from /proc, 32 connections,
#    PROFILE_CPU_REQUESTS requests, PROFILE_CPU_ROUNDS times; the median), and the
#    context switches of the server's threads per request in the same runs (each a
#    wake-up of a parked thread or a preemption). Both depend on scheduling, so on how
#    busy the machine is: reported for comparison, next to the counts above.
#
# Prints one markdown table row per workload on stdout. Knobs (environment):
# BENCH_SERVER_BIN (server binary; default target/release/objectstore, built when missing),
# PROFILE_REQUESTS (2000), PROFILE_WARMUP (500), PROFILE_CONNECTIONS (8),
# PROFILE_CPU_REQUESTS (20000), PROFILE_CPU_ROUNDS (3), PROFILE_SKIP (space-separated
# steps to skip: callgrind, strace, cpu), PROFILE_KEEP (a directory to keep the callgrind
# dumps and strace tables in), PROFILE_S3_AUTH (`credential`, the default, or `open`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=server-config.sh
source "$root/scripts/server-config.sh"
target_dir=${CARGO_TARGET_DIR:-$root/target}
requests=${PROFILE_REQUESTS:-2000}
warmup=${PROFILE_WARMUP:-500}
connections=${PROFILE_CONNECTIONS:-8}
case ${PROFILE_S3_AUTH:-credential} in
  credential) s3_auth=credential ;;
  open) s3_auth= ;;
  *) echo "PROFILE_S3_AUTH must be credential or open" >&2; exit 2 ;;
esac
cpu_requests=${PROFILE_CPU_REQUESTS:-20000}
cpu_rounds=${PROFILE_CPU_ROUNDS:-3}
skip=" ${PROFILE_SKIP:-} "
workloads=("$@")
[ ${#workloads[@]} -eq 0 ] && workloads=(get:1KiB put:1KiB)

say() { echo "[profile-requests] $*" >&2; }

server_bin=${BENCH_SERVER_BIN:-$target_dir/release/objectstore}
bench_bin=$target_dir/release/objectstore-bench
if [ ! -x "$server_bin" ] || [ ! -x "$bench_bin" ]; then
  say "building release binaries"
  cargo build --release --locked -p objectstore-server -p objectstore-bench >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/objectstore-profile.XXXXXX")
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a server (optionally under a wrapper command) on a fresh data directory; sets
# `server_pid` and `server_url`.
start_server() { # $1 = name, then the wrapper command (may be empty)
  local name=$1 port
  shift
  port=$("$bench_bin" free-port)
  s3_port=$("$bench_bin" free-port)
  mkdir -p "$work/$name"
  write_server_config "$work/$name/objectstore.yaml" "$work/$name" "$port" "$s3_port" $s3_auth
  "$@" "$server_bin" -c "$work/$name/objectstore.yaml" run 2>"$work/$name/server.log" &
  server_pid=$!
  pids+=("$server_pid")
  server_url="http://127.0.0.1:$port"
  if ! "$bench_bin" wait "$server_url/health" --timeout 120 >/dev/null; then
    say "the server did not start; its log:"; cat "$work/$name/server.log" >&2; exit 1
  fi
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}

run_workload() { # $1 = workload, $2 = requests, $3 = connections
  "$bench_bin" run --target "objectstore=$server_url" --keys 50 --connections "$3" \
    --s3-target "http://127.0.0.1:$s3_port" --s3-access-key bench --s3-secret-key bench-secret \
    --requests "$2" --duration 600 "$1" >"$work/bench.out" 2>&1 \
    || { say "workload $1 failed:"; cat "$work/bench.out" >&2; exit 1; }
  if awk '$4 ~ /^[0-9]+$/ && $6 ~ /^[0-9]+$/ && $6 != 0 { bad = 1 } END { exit !bad }' "$work/bench.out"; then
    say "workload $1 had errors:"; cat "$work/bench.out" >&2; exit 1
  fi
}

# Total instructions and allocation calls of one callgrind dump: "<Ir> <allocs>".
callgrind_figures() { # $1 = dump file
  python3 - "$1" <<'EOF'
import re, sys
names = {}
ir = None
allocs = 0
callee = None
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if line.startswith("totals:") or line.startswith("summary:"):
        ir = int(line.split()[1])
    elif line.startswith("fn=") or line.startswith("cfn="):
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
        if m:
            if m.group(2) is not None:
                names[m.group(1)] = m.group(2)
            if line.startswith("cfn="):
                callee = names.get(m.group(1))
    elif line.startswith("calls="):
        if callee in ("malloc", "calloc", "realloc"):
            allocs += int(line[6:].split()[0])
        callee = None
print(ir, allocs)
EOF
}

profile_callgrind() { # $1 = workload; prints "<Ir/req> <allocs/req>"
  local out=$work/cg-${1//:/-}.out
  start_server "cg-${1//:/-}" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out"
  callgrind_control -i on "$server_pid" >/dev/null 2>&1
  run_workload "$1" "$warmup" "$connections"
  callgrind_control -d "$server_pid" >/dev/null 2>&1
  run_workload "$1" $((warmup + requests)) "$connections"
  callgrind_control -d "$server_pid" >/dev/null 2>&1
  stop_server
  local dumps first second
  dumps=$(ls "$out".* | sort -t. -k3 -n)
  first=$(echo "$dumps" | sed -n 1p)
  second=$(echo "$dumps" | sed -n 2p)
  if [ -n "${PROFILE_KEEP:-}" ]; then
    mkdir -p "$PROFILE_KEEP"
    cp "$first" "$PROFILE_KEEP/callgrind-${1//:/-}.warmup"
    cp "$second" "$PROFILE_KEEP/callgrind-${1//:/-}.measured"
  fi
  read -r ir1 al1 < <(callgrind_figures "$first")
  read -r ir2 al2 < <(callgrind_figures "$second")
  echo "$(( (ir2 - ir1) / requests )) $(awk -v a="$al1" -v b="$al2" -v n="$requests" 'BEGIN { printf "%.1f", (b - a) / n }')"
}

# System calls of the server while one workload run: total count.
strace_count() { # $1 = workload, $2 = requests
  local log=$work/strace.txt
  strace -c -f -p "$server_pid" -o "$log" 2>/dev/null &
  local strace_pid=$!
  sleep 1
  run_workload "$1" "$2" "$connections"
  kill -INT "$strace_pid" 2>/dev/null || true
  wait "$strace_pid" 2>/dev/null || true
  awk '$NF == "total" { print $(NF-2) } ' "$log"
  cp "$log" "$work/strace-$2.txt"
}

profile_strace() { # $1 = workload; prints "<syscalls/req>" and keeps the per-call table
  start_server "st-${1//:/-}"
  local c1 c2
  c1=$(strace_count "$1" "$warmup")
  c2=$(strace_count "$1" $((warmup + requests)))
  stop_server
  if [ -n "${PROFILE_KEEP:-}" ]; then
    mkdir -p "$PROFILE_KEEP"
    cp "$work/strace-$warmup.txt" "$PROFILE_KEEP/strace-${1//:/-}.warmup"
    cp "$work/strace-$((warmup + requests)).txt" "$PROFILE_KEEP/strace-${1//:/-}.measured"
  fi
  awk -v a="$c1" -v b="$c2" -v n="$requests" 'BEGIN { printf "%.1f\n", (b - a) / n }'
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Context switches of all the server's threads so far (voluntary and not). Threads that
# ended in between are not counted; the server's threads live as long as it does.
context_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null \
    | awk '/^(voluntary|nonvoluntary)_ctxt_switches/ { n += $2 } END { print n + 0 }'
}

median_range() { sort -n | awk '{ v[NR] = $1 } END { printf "%s (%s-%s)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }

# Prints the median CPU µs per request and the median context switches per request.
profile_cpu() { # $1 = workload
  start_server "cpu-${1//:/-}"
  local hz cpu=() switches=()
  hz=$(getconf CLK_TCK)
  for _ in $(seq "$cpu_rounds"); do
    local before after cs_before cs_after
    before=$(cpu_ticks "$server_pid")
    cs_before=$(context_switches "$server_pid")
    run_workload "$1" "$cpu_requests" 32
    after=$(cpu_ticks "$server_pid")
    cs_after=$(context_switches "$server_pid")
    cpu+=("$(awk -v a="$before" -v b="$after" -v hz="$hz" -v n="$cpu_requests" \
      'BEGIN { printf "%.1f", (b - a) * 1e6 / hz / n }')")
    switches+=("$(awk -v a="$cs_before" -v b="$cs_after" -v n="$cpu_requests" \
      'BEGIN { printf "%.2f", (b - a) / n }')")
  done
  stop_server
  echo "$(printf '%s\n' "${cpu[@]}" | median_range) | $(printf '%s\n' "${switches[@]}" | median_range)"
}

echo "| workload | instructions / request | allocations / request | system calls / request | CPU µs / request (median, range) | context switches / request (median, range) |"
echo "|---|---|---|---|---|---|"
for w in "${workloads[@]}"; do
  ir="-"; allocs="-"; sys="-"; cpu="- | -"
  case "$skip" in *" callgrind "*) ;; *) say "$w: callgrind"; read -r ir allocs < <(profile_callgrind "$w") ;; esac
  case "$skip" in *" strace "*) ;; *) say "$w: strace"; sys=$(profile_strace "$w") ;; esac
  case "$skip" in *" cpu "*) ;; *) say "$w: CPU"; cpu=$(profile_cpu "$w") ;; esac
  echo "| $w | $ir | $allocs | $sys | $cpu |"
done
