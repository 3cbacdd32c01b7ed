#!/usr/bin/env bash
# The project's test command (README: "Run the tests"). Prepares the real search engines the
# cluster tests run against (Java 17 + Maven, OpenSearch 2.19 and Elasticsearch 7.17 from
# Maven Central; OpenSearch 3.x with a Java 21+ JDK), then runs every test in release mode:
# the end-to-end and quality tests process hundreds of thousands of log lines and points.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/engine.sh
# The test suite's npm project, tests/js: the GeoIP databases tests/it/geoip.rs reads, the Kibana
# renderer and the UI driver of tests/engines/ui.rs (installs Debian's npm when missing).
bash scripts/setup-js.sh
# `engines`: the cluster and browser tests (tests/engines/), which a plain `cargo test` skips.
cargo test --release --locked --features engines
