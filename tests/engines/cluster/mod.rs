//! The cluster suite, compiled once per engine (`cluster_opensearch.rs`,
//! `cluster_opensearch3.rs`, `cluster_elasticsearch.rs`): each copy runs against its module's
//! `KIND`.

/// The engine this copy of the suite runs against.
pub use super::KIND;

/// The first line of every test: returns at once when this suite's engine cannot run on this
/// machine (OpenSearch 3.x without a Java 21+ JDK; `support::engine::absent` says so once).
macro_rules! skip_if_absent {
    () => {
        if crate::support::engine::absent(super::KIND) {
            return;
        }
    };
}

mod cases;
mod field_cases;
mod functions;
mod pipeline;
