#!/usr/bin/env bash
# The project's test command (README: "Run the tests"). Builds in release mode because the
# end-to-end and quality tests process hundreds of thousands of log lines and points.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked
