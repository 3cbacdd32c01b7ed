#!/usr/bin/env bash
# Installs the GeoIP databases tests/it/geoip.rs reads, from the npm registry, exactly as
# tests/geoip/package-lock.json pins them (`npm ci --ignore-scripts`; skipped when
# node_modules is already current). Installs Debian's npm first when it is missing and this
# is root (CI). Exits non-zero, naming what is missing, when something cannot be installed.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/geoip/setup.sh: npm missing and cannot be installed here (needs root and apt-get):" \
      "install it, e.g. 'sudo apt-get install -y npm'" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi

stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ ! package-lock.json -nt "$stamp" ]; then
  echo "tests/geoip/setup.sh: databases already installed"
  exit 0
fi
echo "tests/geoip/setup.sh: npm ci in tests/geoip"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
