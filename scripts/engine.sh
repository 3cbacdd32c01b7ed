#!/usr/bin/env bash
# Prepares the real search engines the cluster tests run against (tests/engine/), on a fresh
# machine: a Java 17 JDK and Maven (installed from Debian's packages when missing), then the
# OpenSearch 2.19 and Elasticsearch 7.17 launchers built from Maven Central artifacts, and the
# OpenSearch 3.x launcher with a Java 21+ JDK (engine_java21_home).
#
#   bash scripts/engine.sh            # install what is missing and build the launchers
#   source scripts/engine.sh && engine_prepare   # the same, as a function for another script
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
    engine_build_opensearch3 "$root"
    echo "engine: launchers built in $((SECONDS - start))s"
}

# A JDK of Java 21 or later, as tests/support/engine.rs `java21_home` finds it:
# TIDEWATCH_JAVA21_HOME, else the Temurin 25 JDK this machine kind ships beside Java 17, else
# the last JDK under /usr/lib/jvm whose `release` says 21 or later. Debian 12 packages no JDK
# newer than 17, so there is nothing to install when none is found.
engine_java21_home() {
    if [ -n "${TIDEWATCH_JAVA21_HOME:-}" ]; then
        if [ -x "$TIDEWATCH_JAVA21_HOME/bin/java" ]; then echo "$TIDEWATCH_JAVA21_HOME"; fi
        return
    fi
    local home found=""
    for home in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
        [ -x "$home/bin/javac" ] && [ -f "$home/release" ] || continue
        if [[ "$(grep '^JAVA_VERSION=' "$home/release")" =~ \"([0-9]+) ]] \
            && [ "${BASH_REMATCH[1]}" -ge 21 ]; then
            found="$home"
            [ "$home" = /usr/lib/jvm/temurin-25-jdk-amd64 ] && break
        fi
    done
    echo "$found"
}

# The OpenSearch 3.x launcher (tests/engine/opensearch3), built with the Java 21+ JDK; without
# one, a note: the cluster_opensearch3 tests then return at once, saying why.
engine_build_opensearch3() {
    local root="$1" jdk
    jdk="$(engine_java21_home)"
    if [ -z "$jdk" ]; then
        echo "engine: NOTE: no Java 21+ JDK (TIDEWATCH_JAVA21_HOME, /usr/lib/jvm): OpenSearch 3.x is not built and its suite (cluster_opensearch3) will be skipped"
        return 0
    fi
    echo "engine: OpenSearch 3.x with $("$jdk/bin/java" -version 2>&1 | head -1)"
    # Maven on Java 25 warns about sun.misc.Unsafe in its own jars: only a failure is shown.
    local out
    if ! out="$(cd "$root/tests/engine/opensearch3" && JAVA_HOME="$jdk" mvn -B -q -o package 2>&1)" \
        && ! out="$(cd "$root/tests/engine/opensearch3" && JAVA_HOME="$jdk" mvn -B -q package 2>&1)"; then
        echo "$out" >&2
        return 1
    fi
    touch "$root/tests/engine/opensearch3/target/.tidewatch-built"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    engine_prepare "$@"
fi
