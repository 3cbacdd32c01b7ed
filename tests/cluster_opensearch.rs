//! The cluster suite against a real OpenSearch 2.19 node started from `tests/engine/opensearch`
//! (or the engine at `TIDEWATCH_ENGINE_URL`).

mod common;
mod support;

/// The engine this binary runs against.
pub const KIND: support::engine::Kind = support::engine::Kind::OpenSearch;
