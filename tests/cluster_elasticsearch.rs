//! The cluster suite against a real Elasticsearch 7.17 node started from
//! `tests/engine/elasticsearch` (or the engine at `TIDEWATCH_ENGINE_URL`).

mod common;
mod support;

/// The engine this binary runs against.
pub const KIND: support::engine::Kind = support::engine::Kind::Elasticsearch;
