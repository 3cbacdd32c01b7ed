#!/usr/bin/env bash
# Installs what tests/engines/ui.rs needs, on a fresh Debian machine too:
#   - node and npm (Debian packages) if missing;
#   - the node modules of tests/kibana (vega, vega-lite, resvg) and tests/ui (playwright-core),
#     exactly as their package-lock.json pin them, from the npm registry only, with install
#     scripts off (`npm ci --ignore-scripts`); skipped when node_modules is already current;
#   - Debian's chromium at /usr/bin/chromium (playwright-core only drives it; no browser
#     download). Installing Debian packages needs root (CI runs as root).
# Exits non-zero, naming what is missing, when something cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/ui/setup.sh: $* missing and cannot be installed here (needs root and apt-get):" \
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

for dir in tests/kibana tests/ui; do
  stamp="$dir/node_modules/.package-lock.json"
  if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ]; then
    continue
  fi
  echo "tests/ui/setup.sh: npm ci in $dir"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
done

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  apt_install chromium
fi
"$chromium" --version 2>/dev/null || true
echo "tests/ui/setup.sh: node $(node --version), chromium at $chromium: ready"
