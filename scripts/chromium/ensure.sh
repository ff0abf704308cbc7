#!/usr/bin/env bash
# Make sure the browser the console's tests drive (tests/console/) is installed: Debian's
# chromium at /usr/bin/chromium (playwright-core brings no browser of its own).
#
#   scripts/chromium/ensure.sh
#
# As root, installs it with apt when missing (apt-get update only when the lists are missing or
# stale). As another user, says what is missing and exits 1: it never asks for sudo. Prints
# nothing and exits 0 when chromium is already there, so callers can run it every time.
set -euo pipefail

BROWSER=/usr/bin/chromium
[ -x "$BROWSER" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure.sh: missing $BROWSER (Debian package chromium)" >&2
  echo "ensure.sh: install it as root: apt-get install -y chromium" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure.sh: missing $BROWSER (Debian package chromium), and no apt-get to install it" >&2
  exit 1
fi

echo "ensure.sh: installing chromium" >&2
export DEBIAN_FRONTEND=noninteractive
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
  apt-get update >&2
  apt-get install -y chromium >&2
elif ! apt-get install -y chromium >&2; then
  apt-get update >&2
  apt-get install -y chromium >&2
fi
[ -x "$BROWSER" ] || { echo "ensure.sh: chromium installed, but $BROWSER is missing" >&2; exit 1; }
