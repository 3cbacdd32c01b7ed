//! The cluster suite (`tests/engines/cluster/`) against a real OpenSearch 3.x node started from
//! `tests/engine/opensearch3` with a Java 21+ JDK (or the engine at `TIDEWATCH_ENGINE_URL`).
//! Without such a JDK the suite says so once and its tests return at once.

#[path = "cluster/mod.rs"]
mod cluster;

/// The engine this suite runs against.
pub const KIND: crate::support::engine::Kind = crate::support::engine::Kind::OpenSearch3;
