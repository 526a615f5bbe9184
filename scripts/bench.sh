#!/usr/bin/env bash
# The objectstore benchmark, in one command, on a fresh clone:
#
#   scripts/bench.sh
#
# 1. Builds the release binaries (`objectstore`, `objectstore-bench`).
# 2. Installs nginx and fio with apt-get when they are missing (root or passwordless sudo).
# 3. In one temporary directory (so every figure comes from the same filesystem):
#    writes the static files /<bytes>.bin, runs fio (sequential write of the large size with
#    1 MiB blocks, once with `--end_fsync=1` = one fsync at the end, the PUT target's base,
#    and once with `--fsync=1` = an fsync after every block, for information; then a
#    buffered sequential read of the same file), starts nginx on a free 127.0.0.1 port
#    (sendfile on, keep-alive, access log off, 2 workers) and our server on another
#    (the default layout: tiered, embedded high-volume + filesystem long-term store, auth
#    off, logging at WARN).
# 4. Runs the standard workload set with `objectstore-bench` and writes the markdown report
#    docs/benchmarks/report-<UTC date>.md (targets table, baselines, one table per workload).
# 5. Runs the soak (`objectstore-bench soak`: 16 writers overwriting and deleting objects of
#    1 KiB to 2 MiB for BENCH_SOAK_DURATION seconds) against a second server instance on a
#    fresh data directory and appends the data directory's size against the live bytes.
# 6. Profiles the server under the 1 KiB and 100 KiB PUT and GET workloads (perf with
#    the cpu-clock event and callgrind, whichever work here) and appends the top symbols.
# 7. Stops everything it started and removes the temporary directory (trap on EXIT, also
#    after Ctrl-C or a failure).
#
# Knobs (environment): BENCH_DURATION (seconds per throughput workload, default 5),
# BENCH_ROUNDS (the workload list runs this many times, reference included; the report
# takes medians; default 3),
# BENCH_CONNECTIONS (default 32), BENCH_LARGE_SIZE (bytes, default 268435456),
# BENCH_LARGE_CONNECTIONS (default 8), BENCH_WORKLOADS (default "standard s3": the S3
# workloads run through the server's S3 listener, SigV4-signed with a configured credential,
# and the report compares them with the native ones of the same round),
# BENCH_REPORT (report path), BENCH_JSON (also keep the raw figures as JSON there),
# BENCH_TMP (parent of the temporary directory, default $TMPDIR or /tmp), BENCH_SERVER_BIN
# (measure this server binary instead of building target/release/objectstore),
# BENCH_SOAK_DURATION (seconds of the soak, default 300; 0 skips step 5),
# BENCH_PROFILE (0 skips step 6), BENCH_PROFILER (perf, callgrind or both: the default).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=server-config.sh
source "$root/scripts/server-config.sh"

duration=${BENCH_DURATION:-5}
rounds=${BENCH_ROUNDS:-3}
connections=${BENCH_CONNECTIONS:-32}
large_size=${BENCH_LARGE_SIZE:-268435456}
large_connections=${BENCH_LARGE_CONNECTIONS:-8}
workloads=${BENCH_WORKLOADS:-standard s3}
date_utc=$(date -u +%F)
report=${BENCH_REPORT:-docs/benchmarks/report-$date_utc.md}
target_dir=${CARGO_TARGET_DIR:-$root/target}
started=$(date +%s)

say() { echo "[bench.sh] $*" >&2; }

# --- cleanup: everything started below is registered here -------------------------------
work=""
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    # Wait (at most ~10 s) for each process we started to exit, then insist.
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "$work" ] && [ -d "$work" ]; then
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. build -------------------------------------------------------------------------------
if [ -n "${BENCH_SERVER_BIN:-}" ]; then
  say "building objectstore-bench (release); server binary given: $BENCH_SERVER_BIN"
  cargo build --release --locked -p objectstore-bench >&2
  server_bin=$BENCH_SERVER_BIN
  server_desc="\`$server_bin run\` (given with BENCH_SERVER_BIN)"
else
  say "building release binaries"
  cargo build --release --locked -p objectstore-server -p objectstore-bench >&2
  server_bin=$target_dir/release/objectstore
  server_desc="\`objectstore run\`, release build of this commit"
fi
bench_bin=$target_dir/release/objectstore-bench

# --- 2. tools -------------------------------------------------------------------------------
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else
    say "need root (or passwordless sudo) to run: $*"; return 1
  fi
}
nginx_bin=$(command -v nginx || true)
[ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx
missing=()
[ -z "$nginx_bin" ] && missing+=(nginx)
command -v fio >/dev/null || missing+=(fio)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} with apt-get"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
fi

# --- 3. baselines and servers ---------------------------------------------------------------
work=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/objectstore-bench.XXXXXX")
# nginx workers run as an unprivileged user: they must be able to read the static files.
chmod 0755 "$work"
mkdir -p "$work/www" "$work/nginx" "$work/fio" "$work/data"
say "working in $work ($(df -h --output=source,fstype,avail "$work" | tail -1 | tr -s ' '))"
# Every round keeps its large objects until the end: make sure they fit.
need_kib=$(( (rounds * large_connections + 3) * large_size / 1024 + 1024 * 1024 ))
avail_kib=$(df --output=avail -k "$work" | tail -1 | tr -d ' ')
if [ "$avail_kib" -lt "$need_kib" ]; then
  say "not enough disk space in $work: need $(( need_kib / 1024 )) MiB, have $(( avail_kib / 1024 )) MiB"
  say "(lower BENCH_ROUNDS, BENCH_LARGE_SIZE or BENCH_LARGE_CONNECTIONS, or set BENCH_TMP)"
  exit 1
fi

say "writing static files"
for size in 1024 16384 102400 262144 "$large_size"; do
  head -c "$size" /dev/urandom >"$work/www/$size.bin"
done
chmod -R a+rX "$work/www"

say "fio: sequential write of $large_size bytes, 1 MiB blocks (end_fsync=1, then fsync=1), then read"
fio_common=(--directory="$work/fio" --filename=seq.dat --bs=1m --size="$large_size" --ioengine=psync
  --numjobs=1 --output-format=json)
fio --name=seqwrite-end-fsync --rw=write --end_fsync=1 "${fio_common[@]}" \
  --output="$work/fio-write.json" >/dev/null
rm -f "$work"/fio/*
fio --name=seqwrite-fsync-each --rw=write --fsync=1 "${fio_common[@]}" \
  --output="$work/fio-write-fsync.json" >/dev/null
fio --name=seqread --rw=read "${fio_common[@]}" \
  --output="$work/fio-read.json" >/dev/null
rm -rf "$work/fio"

nginx_port=$("$bench_bin" free-port)
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 100000000;
  default_type application/octet-stream;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
  }
}
EOF
say "starting nginx on 127.0.0.1:$nginx_port"
"$nginx_bin" -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" \
  -g 'daemon off;' &
pids+=($!)

server_port=$("$bench_bin" free-port)
s3_port=$("$bench_bin" free-port)
write_server_config "$work/objectstore.yaml" "$work/data" "$server_port" "$s3_port"
say "starting objectstore on 127.0.0.1:$server_port"
"$server_bin" -c "$work/objectstore.yaml" run 2>"$work/objectstore.log" &
server_pid=$!
pids+=("$server_pid")

"$bench_bin" wait "http://127.0.0.1:$nginx_port/1024.bin" --timeout 30
# nginx's master and workers, for its CPU per request.
nginx_pids=("${pids[0]}")
while read -r child; do nginx_pids+=("$child"); done \
  < <(awk -v p="${pids[0]}" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null)
reference_pid_args=()
for pid in "${nginx_pids[@]}"; do reference_pid_args+=(--reference-pid "$pid"); done
if ! "$bench_bin" wait "http://127.0.0.1:$server_port/health" --timeout 60; then
  say "objectstore did not start; its log:"; cat "$work/objectstore.log" >&2; exit 1
fi

# --- 4. run ---------------------------------------------------------------------------------
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || echo unknown)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
nginx_version=$("$nginx_bin" -v 2>&1 | sed 's/.*: //')
fio_version=$(fio --version)
mkdir -p "$(dirname "$report")"
json_out=${BENCH_JSON:-$work/figures.json}

say "running workloads: $workloads"
"$bench_bin" run \
  --target "objectstore=http://127.0.0.1:$server_port" --pid "$server_pid" \
  --s3-target "http://127.0.0.1:$s3_port" --s3-access-key bench --s3-secret-key bench-secret \
  --reference "nginx=http://127.0.0.1:$nginx_port" "${reference_pid_args[@]}" \
  --connections "$connections" --duration "$duration" --rounds "$rounds" \
  --large-size "$large_size" --large-connections "$large_connections" \
  --fio-write "$work/fio-write.json" --fio-write-fsync "$work/fio-write-fsync.json" \
  --fio-read "$work/fio-read.json" \
  --json "$json_out" --report "$report" \
  --note "Date (UTC): $date_utc. Commit: \`$commit\`. Produced by \`scripts/bench.sh\`." \
  --note "Machine: $(nproc) cores ($cpu), $mem RAM, Linux $(uname -r). The load generator, nginx and the server share these cores. Filesystem of the data, static files and fio: $(df --output=fstype "$work" | tail -1 | tr -d ' ')." \
  --note "Reference: $nginx_version serving static files /<bytes>.bin (sendfile on, keep-alive, access log off, worker_processes 2). Disk baseline: $fio_version, sequential write of the large size in 1 MiB blocks with \`--end_fsync=1\` (one fsync at the end: what a durable streamed PUT has to do; the PUT target is measured against it) and with \`--fsync=1\` (for information), then a buffered sequential read." \
  --note "Server: $server_desc, default layout (tiered: embedded high-volume store + filesystem long-term store, both in the temporary directory), auth off, logging at WARN; the S3 listener in its zero-config mode, like the objectstore API with auth off: every S3 request is SigV4-signed in its headers with an unsigned payload, as SDKs do over TLS, and served without verifying the signature (the section S3 with SigV4 verification measures a server that verifies). Load: $connections keep-alive connections (TCP_NODELAY) for the small-object workloads, ${duration} s each; the whole set ran $rounds times; $large_connections concurrent streams of $large_size bytes for the large ones; batch and multipart on one connection." \
  $workloads

# The run above leaves tens of GiB in the server's data directory (every large upload of every
# round). The next steps need none of it: the server starts again on an empty directory, so
# the servers below never share the disk with it.
kill -TERM "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
rm -rf "$work/data" && mkdir -p "$work/data"
"$server_bin" -c "$work/objectstore.yaml" run 2>>"$work/objectstore.log" &
server_pid=$!
pids+=("$server_pid")
if ! "$bench_bin" wait "http://127.0.0.1:$server_port/health" --timeout 60; then
  say "objectstore did not start again; its log:"; tail -50 "$work/objectstore.log" >&2; exit 1
fi

# --- 4b. S3 with SigV4 verification ----------------------------------------------------------
# A second server with one S3 credential (signatures verified), same layout on a fresh data
# directory: the S3 and native small-object workloads again, their S3 target rows appended;
# its data is removed afterwards.
case " $workloads " in
  *" s3 "*)
    verified_port=$("$bench_bin" free-port)
    verified_s3_port=$("$bench_bin" free-port)
    mkdir -p "$work/verified"
    write_server_config "$work/verified/objectstore.yaml" "$work/verified" "$verified_port" \
      "$verified_s3_port" credential
    "$server_bin" -c "$work/verified/objectstore.yaml" run 2>"$work/verified.log" &
    verified_pid=$!
    pids+=("$verified_pid")
    "$bench_bin" wait "http://127.0.0.1:$verified_port/health" --timeout 60
    say "S3 with SigV4 verification"
    if ! "$bench_bin" run --target "objectstore=http://127.0.0.1:$verified_port" \
      --pid "$verified_pid" --s3-target "http://127.0.0.1:$verified_s3_port" \
      --s3-access-key bench --s3-secret-key bench-secret --connections "$connections" \
      --duration "$duration" --rounds "$rounds" --report "$work/verified.md" \
      get:1KiB s3-get:1KiB put:1KiB s3-put:1KiB get:100KiB s3-get:100KiB put:100KiB s3-put:100KiB \
      >"$work/verified.out" 2>&1; then
      say "the S3 run with verification failed:"; tail -5 "$work/verified.out" >&2
      say "its server's log:"; tail -50 "$work/verified.log" >&2
      exit 1
    fi
    {
      echo
      echo "## S3 with SigV4 verification"
      echo
      echo "A second server, the same build and layout on a fresh data directory, with one S3 credential: every S3 request's signature is verified (plain GET and HEAD requests by the front itself, the others by s3s; see docs/s3.md, Performance). Its S3 workloads against its own native ones, $rounds rounds, ratios as above:"
      echo
      awk '/^## Targets/ { on = 1; next } /^## / { on = 0 } on' "$work/verified.md" \
        | grep -E '^\|( workload|---| S3 )' || true
    } >>"$report"
    kill -TERM "$verified_pid" 2>/dev/null || true
    wait "$verified_pid" 2>/dev/null || true
    rm -rf "$work/verified"
    ;;
esac

# --- 5. soak ---------------------------------------------------------------------------------
# A second server on a fresh data directory, so that everything in it belongs to the soak.
soak_duration=${BENCH_SOAK_DURATION:-300}
if [ "$soak_duration" != 0 ]; then
  soak_port=$("$bench_bin" free-port)
  mkdir -p "$work/soak"
  # Without the S3 listener: the first server holds its port, and the soak speaks the
  # objectstore API only.
  OS__HTTP_ADDR="127.0.0.1:$soak_port" OS__S3__ENABLED=false \
    OS__STORAGE__HIGH_VOLUME__PATH="$work/soak/hv" \
    OS__STORAGE__LONG_TERM__PATH="$work/soak/lt" \
    "$server_bin" -c "$work/objectstore.yaml" run 2>"$work/soak.log" &
  soak_pid=$!
  pids+=("$soak_pid")
  "$bench_bin" wait "http://127.0.0.1:$soak_port/health" --timeout 60
  say "soak: ${soak_duration} s of overwrites and deletes"
  "$bench_bin" soak --target "http://127.0.0.1:$soak_port" --data-dir "$work/soak" \
    --duration "$soak_duration" --markdown "$work/soak.md" >/dev/null
  { echo; cat "$work/soak.md"; } >>"$report"
  kill -TERM "$soak_pid" 2>/dev/null || true
  wait "$soak_pid" 2>/dev/null || true
fi

# --- 6. profile ------------------------------------------------------------------------------
# Where the server's CPU goes under the small-object workloads, appended to the report:
# * perf: `perf record` with the software cpu-clock event (works where hardware counters
#   are "not supported") attached to the server above while the workload runs again;
#   real time, kernel included.
# * callgrind: a second, short-lived server instance (same configuration, fresh data
#   directory) under valgrind, instrumented only while a fixed number of requests runs;
#   instruction counts, user space only, repeatable whatever else the machine does.
profile_workloads=(put:1KiB get:1KiB put:100KiB get:100KiB)
callgrind_requests=2000
perf_top() { # $1 = data, $2 = sort keys, $3 = lines
  perf report -i "$1" --stdio --sort "$2" --percent-limit 0.5 2>/dev/null \
    | grep -v '^#' | grep -v '^$' \
    | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//' | head -"$3" || true
}
profile_perf() { # $1 = workload
  local data=$work/perf-$1.data
  perf record -q -e cpu-clock -F 999 -p "$server_pid" -o "$data" 2>/dev/null &
  local perf_pid=$!
  pids+=("$perf_pid")
  sleep 0.5
  "$bench_bin" run --target "objectstore=http://127.0.0.1:$server_port" --keys 50 \
    --connections "$connections" --duration "$duration" "$1" >/dev/null 2>&1 || true
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  {
    echo
    echo "### $1: perf, cpu-clock samples of the server process ($connections connections, ${duration} s)"
    echo
    echo '```'
    echo "by shared object:"
    perf_top "$data" dso 6
    echo
    echo "by symbol:"
    perf_top "$data" dso,symbol 30
    echo '```'
  } >>"$report"
}
profile_callgrind() { # $1 = workload
  local port out total
  port=$("$bench_bin" free-port)
  out=$work/callgrind-${1//:/-}.out
  OS__HTTP_ADDR="127.0.0.1:$port" OS__S3__ENABLED=false OS__STORAGE__HIGH_VOLUME__PATH="$work/cg-${1//:/-}/hv" \
    OS__STORAGE__LONG_TERM__PATH="$work/cg-${1//:/-}/lt" \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
    "$server_bin" -c "$work/objectstore.yaml" run 2>>"$work/callgrind.log" &
  local vg_pid=$!
  pids+=("$vg_pid")
  "$bench_bin" wait "http://127.0.0.1:$port/health" --timeout 120 >/dev/null
  callgrind_control -i on "$vg_pid" >/dev/null 2>&1 || true
  "$bench_bin" run --target "objectstore=http://127.0.0.1:$port" --keys 50 \
    --connections 8 --requests "$callgrind_requests" --duration 120 "$1" >/dev/null 2>&1 || true
  kill -TERM "$vg_pid" 2>/dev/null || true
  wait "$vg_pid" 2>/dev/null || true
  total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }' || true)
  {
    echo
    echo "### $1: callgrind, $callgrind_requests requests on 8 connections"
    echo
    if [ -n "$total" ]; then
      echo -n "About $(( total / callgrind_requests )) instructions per request in the server's user space"
      case "$1" in get:* | head:*) echo " (including the set-up that writes the 50 objects read)." ;; *) echo "." ;; esac
      echo
    fi
    echo '```'
    callgrind_annotate "$out" 2>/dev/null | sed -n '/file:function/,$p' | sed '1,2d' \
      | grep -v '^$' \
      | sed -E 's#\[/[^]]*/([^/]+)\]$#[\1]#; s#([0-9]%\)  )[^ ]*/([^/ ]+:)#\1\2#' | head -25 || true
    echo '```'
    echo
    echo "Who calls memcpy, memset and malloc (callers with at least 1 % of all instructions):"
    echo
    echo '```'
    callgrind_annotate --tree=caller --auto=no "$out" 2>/dev/null \
      | sed -E 's#\[/[^]]*/([^/]+)\]$#[\1]#; s#(%\)  [<*] +)[^ ]*/([^/ ]+:)#\1\2#' \
      | awk 'BEGIN { RS = "" } /[*]  .*:(__memcpy[^ ]*|__memset[^ ]*|malloc) / { print; print "" }' \
      | grep -E '^ *[0-9,]+ \( *[1-9][0-9]*\.[0-9]+%\)|^$' || true
    echo '```'
  } >>"$report"
}
if [ "${BENCH_PROFILE:-1}" != 0 ]; then
  profilers=()
  case "${BENCH_PROFILER:-both}" in
    perf | both)
      if command -v perf >/dev/null && perf record -q -e cpu-clock -o "$work/probe.data" true 2>/dev/null; then
        profilers+=(perf)
      fi ;;&
    callgrind | both)
      command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null \
        && profilers+=(callgrind) ;;
  esac
  if [ ${#profilers[@]} -gt 0 ]; then
    say "profiling the server with ${profilers[*]}"
    {
      echo
      echo "## Profile"
      echo
      echo "Produced by \`scripts/bench.sh\` after the run above. perf: \`perf record -e cpu-clock\` attached to the same server process while the workload ran again (real time, kernel included). callgrind: a second server instance (same configuration, fresh data directory) under \`valgrind --tool=callgrind\`, instrumented only while the requests ran (instruction counts in user space, repeatable whatever else the machine does)."
    } >>"$report"
    for profiler in "${profilers[@]}"; do
      for w in "${profile_workloads[@]}"; do
        "profile_$profiler" "$w"
      done
    done
  else
    say "no usable profiler (perf or valgrind); skipping the profile"
  fi
fi

say "report written to $report ($(( $(date +%s) - started )) s in all)"
