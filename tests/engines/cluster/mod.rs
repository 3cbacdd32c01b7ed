//! The cluster suite, compiled once per engine (`cluster_opensearch.rs`,
//! `cluster_elasticsearch.rs`): each copy runs against its module's `KIND`.

/// The engine this copy of the suite runs against.
pub use super::KIND;

mod cases;
mod field_cases;
mod functions;
mod pipeline;
