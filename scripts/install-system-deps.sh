#!/usr/bin/env bash
# What `make test` needs outside the Python venv, on Debian/Ubuntu:
#   - Chromium (admin browser tests): apt-get install chromium (system-wide; root or sudo)
#   - promtool (alert-rule checks): ONLY the promtool binary, extracted from Debian's
#     `prometheus` package into var/tools/bin/ of this checkout. The package itself is
#     not installed (no Prometheus server, no systemd service). `make test` puts
#     var/tools/bin first on PATH.
# ClickHouse is installed by scripts/services.sh. Idempotent and quiet when everything is present.
set -euo pipefail
PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TOOLS_BIN="$PROJECT_DIR/var/tools/bin"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else echo "install-system-deps: need root (or sudo) for: $*" >&2; return 1
  fi
}

apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  echo "install-system-deps: apt-get update" >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 update -q >&2
  apt_updated=1
}

if ! command -v chromium >/dev/null 2>&1; then
  echo "install-system-deps: apt-get install chromium" >&2
  apt_update
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium >&2
fi

# promtool: a promtool already on PATH (say /usr/bin from an installed prometheus) will do.
if ! command -v promtool >/dev/null 2>&1 && ! [ -x "$TOOLS_BIN/promtool" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  echo "install-system-deps: promtool from Debian's prometheus package (download and extract only, into var/tools/bin)" >&2
  # apt-get download needs no root, but current package lists; refresh them (as root) if it fails.
  if ! (cd "$work" && apt-get download -q prometheus >&2); then
    apt_update
    (cd "$work" && apt-get download -q prometheus >&2)
  fi
  deb="$(find "$work" -maxdepth 1 -name 'prometheus_*.deb' | head -n 1)"
  [ -n "$deb" ] || { echo "install-system-deps: apt-get download prometheus left no .deb" >&2; exit 1; }
  dpkg-deb -x "$deb" "$work/root"
  [ -x "$work/root/usr/bin/promtool" ] || { echo "install-system-deps: no usr/bin/promtool in $deb" >&2; exit 1; }
  mkdir -p "$TOOLS_BIN"
  install -m 0755 "$work/root/usr/bin/promtool" "$TOOLS_BIN/promtool.tmp.$$"
  mv -f "$TOOLS_BIN/promtool.tmp.$$" "$TOOLS_BIN/promtool"
  "$TOOLS_BIN/promtool" --version >/dev/null 2>&1 || { echo "install-system-deps: $TOOLS_BIN/promtool does not run" >&2; exit 1; }
  echo "install-system-deps: $TOOLS_BIN/promtool installed" >&2
fi
