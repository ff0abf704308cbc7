#!/usr/bin/env bash
# Start a single-node Ceph cluster that serves S3 (and STS) on 127.0.0.1, for tests and local runs.
#
#   scripts/ceph/up.sh [DIR]     all state, logs and pid files live under DIR
#                                (default ${TMPDIR:-/tmp}/agentkeys-ceph)
#   scripts/ceph/down.sh [DIR]   stops it (FAST=1 for SIGKILL)
#
# Environment:
#   RGW_PORT=7480  MON_PORT=3300      pick free ports to run several clusters side by side
#   S3_ACCESS_KEY  S3_SECRET_KEY      keys of the S3 user (defaults: fixed test keys)
#   S3_USER=agentkeys                 uid of that user
#   STS_KEY                           16 characters that RGW uses to seal STS session tokens
#   OBJECTSTORE=memstore|bluestore    memstore (default): RAM, fastest; bluestore: a sparse file
#   REUSE=1                           restart the daemons of an existing DIR and keep its data
#
# One monitor, one OSD, and radosgw with the beast frontend; no cephx, no mgr, no systemd: the
# daemons are started by hand and stopped by pid file. Runs as any user (everything is under DIR).
# Needs ceph-mon, ceph-osd, radosgw, uuidgen and curl: scripts/ceph/ensure.sh installs them.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=$(realpath -m "${1:-${TMPDIR:-/tmp}/agentkeys-ceph}")
OBJECTSTORE=${OBJECTSTORE:-memstore}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${MON_PORT:-3300}
S3_USER=${S3_USER:-agentkeys}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-AGENTKEYSTESTACCESS1}
S3_SECRET_KEY=${S3_SECRET_KEY:-agentkeys-test-secret-key-0000000000000001}
STS_KEY=${STS_KEY:-agentkeysstskey1}

for port in "$RGW_PORT" "$MON_PORT"; do
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && [ "$port" -lt 65536 ] ||
    { echo "up.sh: invalid port: $port" >&2; exit 2; }
done
[ "${#STS_KEY}" -eq 16 ] || { echo "up.sh: STS_KEY must be exactly 16 characters" >&2; exit 2; }
for cmd in ceph-mon ceph-osd monmaptool ceph radosgw radosgw-admin uuidgen curl; do
  command -v "$cmd" >/dev/null 2>&1 ||
    { echo "up.sh: $cmd not found: run scripts/ceph/ensure.sh (as root)" >&2; exit 3; }
done

# Elapsed time without bc: integer milliseconds from date's nanoseconds.
T0=$(date +%s%N)
ts() {
  local ms=$((($(date +%s%N) - T0) / 1000000))
  printf '[%3d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*"
}

# On any failure: show the end of the daemon logs (the only place Ceph says what went wrong) and
# stop whatever was started, so a failed start never leaves daemons behind. The summary comes last
# so that callers quoting the tail of the output show it.
on_error() {
  local rc=$? failed=$1
  trap - ERR
  for f in "$DIR"/log/*; do
    [ -s "$f" ] || continue
    echo "--- $f (last 15 lines)" >&2
    tail -n 15 "$f" >&2
  done
  FAST=1 "$HERE/down.sh" "$DIR" >&2 || true
  echo "up.sh: failed (exit $rc) at: $failed" >&2
  exit "$rc"
}
trap 'on_error "$BASH_COMMAND"' ERR

# waitfor SECONDS WHAT COMMAND...: poll every 0.2 s.
waitfor() {
  local secs=$1 what=$2
  shift 2
  for _ in $(seq $((secs * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "up.sh: timed out after ${secs}s waiting for $what" >&2
  return 1
}
osd_is_up() { ceph osd dump 2>/dev/null | grep -q '^osd.0 up'; }
rgw_answers() { curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/"; }
port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A cluster still running in DIR (an earlier run that was not stopped) is stopped first.
[ -d "$DIR/run" ] && { "$HERE/down.sh" "$DIR" || true; }

export CEPH_CONF="$DIR/ceph.conf"
if [ "${REUSE:-0}" = 1 ] && [ -f "$CEPH_CONF" ]; then
  ceph-mon -i a
  ceph-osd -i 0 2>>"$DIR/log/osd-start.err"
  waitfor 60 "osd.0 up" osd_is_up
  radosgw -n client.rgw
  waitfor 60 "radosgw on port $RGW_PORT" rgw_answers
  ts "restarted the cluster in $DIR"
  echo "S3 endpoint=http://127.0.0.1:$RGW_PORT"
  exit 0
fi

for port in "$MON_PORT" "$RGW_PORT"; do
  port_is_free "$port" || { echo "up.sh: port $port on 127.0.0.1 is in use" >&2; exit 4; }
done

rm -rf "$DIR"
mkdir -p "$DIR"/{mon,osd,rgw,log,run,crash}
: >"$DIR/keyring"
FSID=$(uuidgen)

cat >"$CEPH_CONF" <<CONF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
ms bind msgr1 = false
# No cephx: the cluster only listens on loopback and lives as long as a test run.
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
keyring = $DIR/keyring
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
crash dir = $DIR/crash
# One OSD: every pool has one replica and few placement groups.
osd crush chooseleaf type = 0
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
mon warn on pool no redundancy = false
# Commit map changes at once (default 1 s each): radosgw creates its pools on first start, and
# the start takes about 13 s instead of 3 without these two.
paxos propose interval = 0.05
paxos min wait = 0.01

[mon]
mon data = $DIR/mon

[osd]
osd data = $DIR/osd
osd objectstore = $OBJECTSTORE
osd class load list = *
osd class default list = *
# memstore saves its contents to disk only on a graceful (non-fast) shutdown: REUSE=1 needs this.
osd fast shutdown = false
memstore device bytes = 1073741824
bluestore block create = true
bluestore block size = 10737418240
bluestore cache autotune = false
bluestore cache size = 67108864
osd memory target = 939524096
bluestore fsck on mkfs = false
bluestore fsck on mount = false

[client.rgw]
rgw data = $DIR/rgw
# radosgw asks for a "secure" monitor connection by default, which needs cephx: without this line
# it hangs silently.
ms mon client mode = crc
# tcp_nodelay: without it every small answer waits ~40 ms (Nagle meets the client's delayed ACK).
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw dns name = localhost
rgw rados pool pg num min = 8
rgw s3 auth use sts = true
rgw sts key = $STS_KEY
rgw enable usage log = false
debug rgw = 1
debug rados = 0
debug objecter = 0
CONF

# --- monitor ---
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
ceph-mon -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/keyring" 2>"$DIR/log/mon-mkfs.err"
ceph-mon -i a 2>>"$DIR/log/mon-start.err"
ts "mon started on 127.0.0.1:$MON_PORT"

# --- object storage daemon ---
OSD_UUID=$(uuidgen)
OSD_ID=$(ceph osd new "$OSD_UUID") # 0 on a fresh cluster
ceph-osd -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >/dev/null 2>"$DIR/log/osd-mkfs.err"
ceph-osd -i "$OSD_ID" 2>>"$DIR/log/osd-start.err"
# Pools (and so radosgw) are usable only once the OSD is marked up.
waitfor 60 "osd.$OSD_ID up" osd_is_up
ts "osd.$OSD_ID up ($OBJECTSTORE)"

# --- gateway (creates its pools on first start) ---
radosgw -n client.rgw 2>>"$DIR/log/rgw-start.err"
waitfor 60 "radosgw on port $RGW_PORT" rgw_answers
ts "radosgw answering on 127.0.0.1:$RGW_PORT"

radosgw-admin user create --uid="$S3_USER" --display-name="$S3_USER" \
  --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" >/dev/null
# Caps for the IAM-style APIs (roles, OIDC providers) that the STS flow calls as this user.
radosgw-admin caps add --uid="$S3_USER" \
  --caps="roles=*;oidc-provider=*;users=*;buckets=*" >/dev/null
ts "S3 user $S3_USER created"
echo "S3 endpoint=http://127.0.0.1:$RGW_PORT"
