#!/usr/bin/env bash
# The embedded store at log scale (issue 17): `bash scripts/store-bench.sh [COPIES...]`.
#
# For each COPIES (default: 1 4), builds the demo log with every line repeated COPIES times
# (copy k shifts an IPv4 client's second octet by 37*k and an IPv6 client's first group, so
# each copy is a new client population while the log stays in time order), then measures in
# one run:
#   zcat      the time to read the gzip file (the yardstick: ingest and lookback should take
#             at most 10x this)
#   ingest    `tidewatch ingest --index nginx-logs` of that file: wall time, peak RSS
#   lookback  `tidewatch run --once --jobs jobs` over the example jobs: wall time, peak RSS
#   disk      bytes of the store directory after ingest (before the jobs write results), per line
#   results   the first 12 hex digits of a SHA-256 of every bucket, record and influencer
#             (`tidewatch results --format ndjson --include-interim`): equal between two
#             builds when their results are identical
# and prints one table row per size. Needs a release build (`cargo build --release`);
# TIDEWATCH_BIN=path measures another build (e.g. main's, for a before/after in one run).
# Work files go to $TIDEWATCH_BENCH_DIR (default: a temporary directory, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${TIDEWATCH_BIN:-$PWD/target/release/tidewatch}"
jobs="$PWD/jobs"
# The demo generator's log_format (src/demo/generate.rs, DEMO_LOG_FORMAT).
format='$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time "$geoip_country_code"'
[[ -x "$bin" ]] || { echo "store-bench: $bin missing; run cargo build --release" >&2; exit 1; }
copies=("$@")
[[ ${#copies[@]} -gt 0 ]] || copies=(1 4)
work="${TIDEWATCH_BENCH_DIR:-$(mktemp -d)}"
[[ -n "${TIDEWATCH_BENCH_DIR:-}" ]] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"

# The demo's own log (generated, ingested and analysed once; only the log is kept).
base="$work/demo-x1.log.gz"
if [[ ! -s "$base" ]]; then
  "$bin" --store "embedded:$work/demo-store" demo --log "$base" --jobs "$jobs" >/dev/null
  rm -rf "$work/demo-store"
fi

# Prints "wall_seconds peak_rss_kb" of a command, its output to $work/last.out.
measure() {
  /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >"$work/last.out" 2>&1 || {
    echo "store-bench: failed: $*" >&2
    tail -20 "$work/last.out" >&2
    exit 1
  }
  cat "$work/time.txt"
}

printf '%-6s %10s %8s %10s %7s %9s %10s %7s %9s %10s %9s  %s\n' \
  copies lines zcat_s ingest_s x_zcat ingest_MB lookback_s x_zcat lookbk_MB disk_MB bytes/line \
  results
for n in "${copies[@]}"; do
  log="$work/demo-x$n.log.gz"
  if [[ ! -s "$log" ]]; then
    zcat "$base" | awk -v n="$n" '{
      rest = substr($0, length($1) + 1);
      if (index($1, ":") > 0) {
        # IPv6: copy k > 0 takes the first group 2a0k (k < 16 stays one hex digit).
        c = index($1, ":");
        for (k = 0; k < n; k++)
          print (k == 0 ? $1 : sprintf("2a0%x", k) substr($1, c)) rest
      } else {
        split($1, o, ".");
        for (k = 0; k < n; k++) print o[1] "." ((o[2] + 37 * k) % 256) "." o[3] "." o[4] rest
      }

    }' | gzip -1 >"$log"
  fi
  lines=$(zcat "$log" | wc -l)
  read -r zcat_s _ < <(measure sh -c "zcat '$log' >/dev/null")
  store="$work/store-x$n"
  rm -rf "$store"
  read -r ingest_s ingest_kb < <(measure "$bin" --store "embedded:$store" ingest --index nginx-logs --format "$format" "$log")
  disk=$(du -sb "$store" | cut -f1)
  read -r run_s run_kb < <(measure "$bin" --store "embedded:$store" run --once --jobs "$jobs")
  digest=$(for t in bucket record influencer; do
    "$bin" --store "embedded:$store" results --jobs "$jobs" --type "$t" --format ndjson \
      --include-interim --limit 100000000
  done | sha256sum | cut -c1-12)
  awk -v n="$n" -v l="$lines" -v z="$zcat_s" -v i="$ingest_s" -v ik="$ingest_kb" \
      -v r="$run_s" -v rk="$run_kb" -v d="$disk" -v h="$digest" 'BEGIN {
    printf "%-6s %10d %8.2f %10.2f %7.1f %9.0f %10.2f %7.1f %9.0f %10.1f %9.0f  %s\n",
      "x" n, l, z, i, i / z, ik / 1024, r, r / z, rk / 1024, d / 1e6, d / l, h
  }'
  rm -rf "$store"
done
