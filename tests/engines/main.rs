//! The integration tests that need a real search engine (Maven, Java 17: OpenSearch 2.19 and
//! Elasticsearch 7.17, Java 21+: OpenSearch 3.x, from `tests/engine/`) or a browser (node, Chromium): built only with the
//! `engines` feature. `bash scripts/test.sh` prepares the engines and runs them;
//! `cargo test --release --features engines --test engines` runs this binary alone.

// The cluster suite (`cluster/`) is compiled once per engine, each copy with its own `KIND`.
#![allow(clippy::duplicate_mod)]

#[path = "../support/mod.rs"]
mod support;

mod cluster_elasticsearch;
mod cluster_opensearch;
mod cluster_opensearch3;
mod two_nodes;
mod ui;
