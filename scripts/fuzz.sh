#!/usr/bin/env bash
# Runs every fuzz target of benches/fuzz.rs for a fixed number of executions (issue 19).
# Not part of CI's time budget; results go in docs/reliability.md.
#
#   bash scripts/fuzz.sh                 # 10 M executions per target
#   bash scripts/fuzz.sh 1000000         # 1 M each
#   bash scripts/fuzz.sh 1000000 7 job   # 1 M, seed 7, one target
#
# A crash prints the panic and saves its input under target/fuzz/crashes/; the script then
# exits 1. Seed corpora are read from ../shared/data and jobs/.
set -euo pipefail
cd "$(dirname "$0")/.."
executions="${1:-10000000}"
seed="${2:-24301}"
targets="${3:-log_format job files import query detect_csv detect_score}"
cargo build --release --locked --bench fuzz >/dev/null 2>&1 || cargo build --release --locked --bench fuzz
status=0
for t in $targets; do
  out="$(cargo bench --locked --bench fuzz -- "$t" "$executions" "$seed" 2>&1 | grep -v '^\(Finished\|Running\|Compiling\)' || true)"
  echo "$out"
  if ! grep -q "^$t: .* 0 crashes" <<<"$out"; then status=1; fi
done
exit "$status"
