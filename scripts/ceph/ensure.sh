#!/usr/bin/env bash
# Make sure the programs scripts/ceph/up.sh needs are installed (Debian/Ubuntu).
#
#   scripts/ceph/ensure.sh
#
# As root, installs only what is missing (apt-get update runs only when something is missing, and
# only once). As another user, prints the missing packages and exits 1: it never asks for sudo.
# Prints nothing and exits 0 when everything is already there, so callers can run it every time.
set -euo pipefail

# command -> Debian package that provides it
declare -A PROVIDER=(
  [ceph-mon]=ceph-mon
  [monmaptool]=ceph-mon
  [ceph]=ceph-mon # ceph-common, pulled in by ceph-mon
  [ceph-osd]=ceph-osd
  [radosgw]=radosgw
  [radosgw-admin]=radosgw
  [uuidgen]=uuid-runtime
  [curl]=curl
)

missing=()
for cmd in "${!PROVIDER[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 && continue
  pkg=${PROVIDER[$cmd]}
  [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure.sh: missing packages: ${missing[*]}" >&2
  echo "ensure.sh: install them as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure.sh: missing packages: ${missing[*]} (and no apt-get to install them)" >&2
  exit 1
fi

echo "ensure.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet (install would fail with "unable to locate"): update
# first then. Lists that exist may be stale (a 404 on download): update and try once more.
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
  apt-get update >&2
  apt-get install -y --no-install-recommends "${missing[@]}" >&2
elif ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
  apt-get update >&2
  apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi
