#!/usr/bin/env bash
# Stop the Ceph daemons that scripts/ceph/up.sh started in DIR, by their pid files only.
#
#   scripts/ceph/down.sh [DIR]          graceful: SIGTERM, about 2 s per daemon; memstore saves
#                                       its data, so `REUSE=1 up.sh DIR` brings it back
#   FAST=1 scripts/ceph/down.sh [DIR]   SIGKILL (test teardown; memstore data is lost)
#
# Never kills by process name: other clusters (other tests, other users) may be running.
set -uo pipefail

DIR=$(realpath -m "${1:-${TMPDIR:-/tmp}/agentkeys-ceph}")
SIG=TERM
[ "${FAST:-0}" = 1 ] && SIG=KILL

# gone PID: true once the process has exited. A zombie counts as gone: the daemons are reparented
# to pid 1, which may reap them late.
gone() {
  ! kill -0 "$1" 2>/dev/null && return 0
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# Gateway first, monitor last: the others talk to the monitor while they shut down.
for f in "$DIR"/run/client.rgw.pid "$DIR"/run/osd.*.pid "$DIR"/run/mon.*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  # A stale pid file may name a pid that the kernel has since given to an unrelated process.
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  if [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$comm" =~ ^(ceph-mon|ceph-osd|radosgw) ]]; then
    kill -s "$SIG" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      gone "$pid" && break
      sleep 0.1
    done
    gone "$pid" || kill -s KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
done
exit 0
