//! The cluster suite (`tests/engines/cluster/`) against a real OpenSearch 2.19 node started from `tests/engine/opensearch` (or the engine at `TIDEWATCH_ENGINE_URL`).

#[path = "cluster/mod.rs"]
mod cluster;

/// The engine this suite runs against.
pub const KIND: crate::support::engine::Kind = crate::support::engine::Kind::OpenSearch;
