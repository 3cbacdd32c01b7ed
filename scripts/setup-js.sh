#!/usr/bin/env bash
# Installs the test suite's node side (tests/js: one npm project), on a fresh Debian machine
# too:
#   - node and npm (Debian packages) if missing;
#   - the node modules of tests/js, exactly as tests/js/package-lock.json pins them, from the
#     npm registry only, with install scripts off (`npm ci --ignore-scripts`); skipped when
#     node_modules is already current: the GeoIP databases tests/it/geoip.rs reads, vega,
#     vega-lite and resvg for tests/js/render.mjs, playwright-core for tests/js/ui.mjs;
#   - with --browser, Debian's chromium at /usr/bin/chromium (or $CHROMIUM) for
#     tests/engines/ui.rs (playwright-core only drives it; no browser download).
# Installing Debian packages needs root (CI runs as root). Exits non-zero, naming what is
# missing, when something cannot be installed.
#
#   bash scripts/setup-js.sh             # node, npm and tests/js/node_modules
#   bash scripts/setup-js.sh --browser   # the same, and Chromium
set -euo pipefail
cd "$(dirname "$0")/.."

browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    *) echo "usage: bash scripts/setup-js.sh [--browser]" >&2; exit 2 ;;
  esac
done

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/setup-js.sh: $* missing and cannot be installed here (needs root and apt-get):" \
      "install it, e.g. 'sudo apt-get install -y $*'" >&2
    exit 1
  fi
  if [ -z "${TIDEWATCH_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export TIDEWATCH_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi

dir=tests/js
stamp="$dir/node_modules/.package-lock.json"
if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ]; then
  echo "scripts/setup-js.sh: $dir/node_modules already current"
else
  echo "scripts/setup-js.sh: npm ci in $dir"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

if [ "$browser" = 1 ]; then
  chromium="${CHROMIUM:-/usr/bin/chromium}"
  if [ ! -x "$chromium" ]; then
    apt_install chromium
  fi
  "$chromium" --version 2>/dev/null || true
  echo "scripts/setup-js.sh: node $(node --version), chromium at $chromium: ready"
fi
