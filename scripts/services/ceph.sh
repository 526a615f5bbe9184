#!/usr/bin/env bash
# Starts a real single-node Ceph cluster (Debian's Ceph 16: one monitor, one OSD on memstore,
# one radosgw S3 gateway) on 127.0.0.1, creates an S3 user and the test bucket, and prints the
# variables the cloud backend's Ceph tests read:
#
#   eval "$(scripts/services/ceph.sh)"     # then: cargo test -p objectstore-service --features s3 cloud
#   scripts/services/ceph.sh stop          # stops gateway, OSD and monitor (in that order)
#
# Idempotent: a second run finds the running gateway and prints the same exports.
# Needs root (installs radosgw ceph-mon ceph-osd with apt-get when missing; no systemd used).
# Options (environment): CEPH_RGW_PORT (default: a free port), OS_SERVICES_DIR (state).
#
# The gateway runs with `rgw multipart min part size = 1`: the conformance suite completes
# multipart uploads of small parts, which S3 (and a default gateway) reject as EntityTooSmall.
# The OSD keeps everything in memory (memstore, 2 GiB); data is lost when it stops.
set -euo pipefail
source "$(dirname "$0")/common.sh"

DIR="$OS_SERVICES_DIR/ceph"
C="$DIR/cluster"
BUCKET=lt-test
ACCESS_KEY=objectstoretest
SECRET_KEY=objectstoretestsecret
mkdir -p "$DIR"

stop() {
  # The gateway hangs on shutdown when the monitor is gone first: gateway, OSD, monitor.
  for name in rgw osd mon; do stop_pidfile "$DIR/$name.pid"; done
}

if [ "${1:-}" = stop ]; then stop; log "stopped"; exit 0; fi

if ! command -v radosgw >/dev/null || ! command -v ceph-mon >/dev/null || ! command -v ceph-osd >/dev/null; then
  log "installing radosgw ceph-mon ceph-osd (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd; } \
    >"$DIR/apt.log" 2>&1 || { tail -20 "$DIR/apt.log" >&2; die "apt-get failed (see $DIR/apt.log)"; }
fi

if ! reuse_running "ceph gateway" "$DIR/rgw.pid"; then
  stop
  rm -rf "$C"
  mkdir -p "$C/run" "$C/log" "$C/mon.a" "$C/osd.0"
  PORT="${CEPH_RGW_PORT:-$(free_port)}"
  MON2=$(free_port); MON1=$(free_port)
  FSID=$(python3 -c 'import uuid; print(uuid.uuid4())')
  cat >"$C/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON2,v1:127.0.0.1:$MON1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
# Required with "auth none", else the gateway fails to authenticate (-13).
ms mon client mode = crc secure
ms client mode = crc secure
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 2147483648
run dir = $C/run
admin socket = $C/run/\$name.asok
log file = $C/log/\$name.log
keyring = $C/keyring
[mon]
mon data = $C/mon.\$id
[osd]
osd data = $C/osd.\$id
[client.rgw.ci]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw multipart min part size = 1
CONF
  cd "$C"
  log "creating the cluster in $C"
  {
    ceph-authtool --create-keyring keyring --gen-key -n mon. --cap mon 'allow *'
    ceph-authtool keyring --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *'
    monmaptool --create --addv a "[v2:127.0.0.1:$MON2,v1:127.0.0.1:$MON1]" --fsid "$FSID" \
      --clobber monmap
    ceph-mon -c ceph.conf --mkfs -i a --monmap monmap --keyring keyring
  } >"$C/log/setup.out" 2>&1 || die "cluster setup failed (see $C/log/setup.out)"
  nohup ceph-mon -c ceph.conf -i a -f >"$C/log/mon.out" 2>&1 </dev/null &
  echo $! >"$DIR/mon.pid"
  timeout 60 ceph -c ceph.conf osd create >>"$C/log/setup.out" 2>&1 ||
    die "monitor did not come up (see $C/log)"
  ceph-osd -c ceph.conf -i 0 --mkfs >>"$C/log/setup.out" 2>&1 || die "OSD mkfs failed (see $C/log)"
  nohup ceph-osd -c ceph.conf -i 0 -f >"$C/log/osd.out" 2>&1 </dev/null &
  echo $! >"$DIR/osd.pid"
  for i in $(seq 600); do
    ceph -c ceph.conf osd stat 2>/dev/null | grep -q "1 up" && break
    [ "$i" = 600 ] && die "the OSD did not come up (see $C/log)"
    sleep 0.2
  done
  log "starting radosgw on 127.0.0.1:$PORT"
  nohup radosgw -c ceph.conf -n client.rgw.ci -f >"$C/log/rgw.out" 2>&1 </dev/null &
  echo $! >"$DIR/rgw.pid"
  echo "$PORT" >"$DIR/port"
  wait_port "$PORT" 120 "$DIR/rgw.pid" || die "radosgw did not start (see $C/log)"
  radosgw-admin -c ceph.conf user create --uid ci --display-name ci \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >/dev/null 2>&1 ||
    die "could not create the S3 user"
fi

ENDPOINT="http://127.0.0.1:$PORT"
# Create the bucket with a SigV4-signed request (200 created, 409 if it exists).
python3 - "$ENDPOINT" "$BUCKET" "$ACCESS_KEY" "$SECRET_KEY" <<'PY' || die "could not create bucket $BUCKET"
import datetime, hashlib, hmac, sys, urllib.request, urllib.error
endpoint, bucket, ak, sk = sys.argv[1:]
host = endpoint.split("://", 1)[1]
now = datetime.datetime.now(datetime.timezone.utc)
amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
region, empty = "us-east-1", hashlib.sha256(b"").hexdigest()
canonical = "\n".join(["PUT", f"/{bucket}", "", f"host:{host}",
                       f"x-amz-content-sha256:{empty}", f"x-amz-date:{amz_date}", "",
                       "host;x-amz-content-sha256;x-amz-date", empty])
scope = f"{day}/{region}/s3/aws4_request"
to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
k = ("AWS4" + sk).encode()
for part in (day, region, "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT", data=b"", headers={
    "x-amz-date": amz_date, "x-amz-content-sha256": empty,
    "Authorization": f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, "
                     f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}"})
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    if e.code != 409:
        sys.exit(f"HTTP {e.code}: {e.read().decode(errors='replace')}")
PY

cat <<OUT
export OS_TEST_CEPH_ENDPOINT=$ENDPOINT
export OS_TEST_CEPH_BUCKET=$BUCKET
export OS_TEST_CEPH_REGION=us-east-1
export OS_TEST_CEPH_ACCESS_KEY_ID=$ACCESS_KEY
export OS_TEST_CEPH_SECRET_ACCESS_KEY=$SECRET_KEY
OUT
