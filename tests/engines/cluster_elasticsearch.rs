//! The cluster suite (`tests/engines/cluster/`) against a real Elasticsearch 7.17 node started from
//! `tests/engine/elasticsearch` (or the engine at `TIDEWATCH_ENGINE_URL`).

#[path = "cluster/mod.rs"]
mod cluster;

/// The engine this suite runs against.
pub const KIND: crate::support::engine::Kind = crate::support::engine::Kind::Elasticsearch;
