//! The integration tests that need neither a Java search engine nor a browser: one binary,
//! one module per area. The cluster and browser tests are in `tests/engines/` (the `engines`
//! feature: `cargo test --release --features engines`, or `bash scripts/test.sh`).

#[path = "../support/mod.rs"]
mod support;

mod api_guard;
mod demo_pipeline;
mod forecast;
mod forecast_nasa;
mod functions;
mod geoip;
mod hostile_input;
mod influencers;
mod output_guard;
mod realtime;
mod restart;
mod vocabulary;

/// Says, in every run without the `engines` feature, that the cluster and browser tests were
/// not built and how to run them.
#[test]
fn engine_tests_need_the_engines_feature() {
    if cfg!(feature = "engines") {
        return;
    }
    eprintln!(
        "note: the cluster tests (a real OpenSearch 2.19 and Elasticsearch 7.17, Java 17 + Maven) \
         and the browser tests (node, Chromium) are SKIPPED: they are the `engines` test binary, \
         built only with the `engines` feature. Run them with \
         `cargo test --release --features engines` (after `bash scripts/engine.sh`), or run \
         everything with `bash scripts/test.sh`."
    );
}
