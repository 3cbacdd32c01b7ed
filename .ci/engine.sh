#!/usr/bin/env bash
# Prepares the real search engines the cluster tests run against (tests/engine/), on a fresh
# machine: a Java 17 JDK and Maven (installed from Debian's packages when missing), then the
# OpenSearch 2.19 and Elasticsearch 7.17 launchers built from Maven Central artifacts.
#
#   bash .ci/engine.sh            # install what is missing and build both launchers
#   source .ci/engine.sh && engine_prepare   # the same, as a function for .ci/run
#
# The Rust tests (tests/engines/, the `engines` feature) start each engine
# themselves, once per test run; they also build the launcher if this script did not run.
engine_prepare() {
    set -euo pipefail
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local need=()
    local jv=""
    if command -v java >/dev/null 2>&1; then jv="$(java -version 2>&1 || true)"; fi
    if ! [[ "$jv" =~ version\ \"(17|18|19|20|21) ]]; then
        need+=(openjdk-17-jdk-headless)
    fi
    if ! command -v mvn >/dev/null 2>&1; then
        need+=(maven)
    fi
    if [ "${#need[@]}" -gt 0 ]; then
        echo "engine: installing ${need[*]}"
        if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    local mv
    jv="$(java -version 2>&1)"
    mv="$(mvn -version 2>&1)"
    echo "engine: ${jv%%$'\n'*}; ${mv%%$'\n'*}"
    local start=$SECONDS
    # Offline first (fast when ~/.m2 already has the jars), then online.
    if ! (cd "$root/tests/engine" && mvn -B -q -o package >/dev/null 2>&1); then
        (cd "$root/tests/engine" && mvn -B -q package)
    fi
    # The stamp tells the Rust fixture (tests/support/engine.rs) the build is current.
    touch "$root/tests/engine/opensearch/target/.tidewatch-built" \
        "$root/tests/engine/elasticsearch/target/.tidewatch-built"
    echo "engine: launchers built in $((SECONDS - start))s"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    engine_prepare "$@"
fi
