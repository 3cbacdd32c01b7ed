#!/usr/bin/env bash
# The peer: AWS Random Cut Forest run over labelled CSVs as OpenSearch AD runs a real-time
# single-stream detector with default settings (tests/peer/rcf/, docs/quality.md "The peer").
#
#   scripts/peer-rcf.sh DATA_DIR OUT_DIR
#   scripts/peer-rcf.sh ../shared/data/kpi target/peer-rcf/kpi
#
# Writes OUT_DIR/<path of each labelled CSV under DATA_DIR, without .gz> with the columns
# timestamp,score,grade (one row per input row, in order) and OUT_DIR/summary.json (points,
# model CPU seconds, points/s on one core, bytes per model as AD checkpoints it).
#
# Needs Java 17+ and Maven (bash scripts/engine.sh installs both). Builds the harness offline
# first, then online (Maven Central) when ~/.m2 lacks the jars; runs it in one JVM, one thread.
# RCF_PEER_BOX_CACHE=1 runs 4-8x faster with byte-identical scores (only points/s changes;
# AD's real-time setting, and the default, is 0).
# RCF_PEER_SEED=N runs with another random seed (default 42).
set -euo pipefail
if [ "$#" -ne 2 ]; then
    echo "usage: scripts/peer-rcf.sh DATA_DIR OUT_DIR   (e.g. ../shared/data/kpi target/peer-rcf/kpi)" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$1"
out="$2"
[ -d "$data" ] || { echo "peer-rcf: $data is not a directory" >&2; exit 2; }
for tool in java mvn; do
    command -v "$tool" >/dev/null 2>&1 || { echo "peer-rcf: $tool not found; run: bash scripts/engine.sh" >&2; exit 2; }
done
dir="$root/tests/peer/rcf"
stamp="$dir/target/.tidewatch-built"
start=$SECONDS
if [ ! -f "$stamp" ] || [ -n "$(find "$dir/pom.xml" "$dir/src" -newer "$stamp" -print -quit)" ]; then
    # Offline first (fast when ~/.m2 already has the jars), then online.
    if ! (cd "$dir" && mvn -B -q -o package >/dev/null 2>&1); then
        (cd "$dir" && mvn -B -q package)
    fi
    touch "$stamp"
    echo "peer-rcf: harness built in $((SECONDS - start))s" >&2
fi
run=$SECONDS
mkdir -p "$out"
java -XX:+UseSerialGC -Xmx1g -cp "$dir/target/classes:$(cat "$dir/target/classpath.txt")" \
    tidewatch.peer.RcfPeer "$data" "$out"
echo "peer-rcf: $data -> $out in $((SECONDS - run))s (summary: $out/summary.json)" >&2
