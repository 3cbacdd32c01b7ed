//! tidewatch: an open-source anomaly-detection job runner for operational data kept in
//! Elasticsearch (or in its own embedded store).
//!
//! One bucket's path through the crate follows the folder names:
//! [`config`] checks a job file into a [`config::Job`]; [`datafeed`] turns it into
//! aggregation requests that a [`store::Store`] answers as per-partition bucket values;
//! [`model`] keeps one baseline per partition and returns a probability; [`score`] turns
//! probabilities into 0-100 scores; [`analysis`] runs one job's models and scores over a
//! bucket; [`results`] shapes Elastic ML-like documents, with their explanations, and writes
//! them back through the store; [`runner`] decides when a job advances. [`api`] and
//! [`kibana`] read the results back. [`ingest`] loads
//! access logs, [`demo`] makes a realistic log with known incidents, and [`detect`] runs the
//! model over a CSV series and evaluates it on labelled data.
#![warn(clippy::too_many_lines)]
#![warn(missing_docs)]

pub mod analysis;
pub mod api;
pub mod catalog;
pub mod config;
pub mod datafeed;
pub mod demo;
pub mod detect;
pub mod forecast;
pub mod ingest;
pub mod kibana;
pub mod model;
pub mod output;
pub mod results;
pub mod runner;
pub mod score;
pub mod similar;
pub mod store;
pub mod time;

mod error;

/// The shared data sets the unit tests read (one lookup for every test and bench).
#[cfg(test)]
#[path = "../tests/support/shared_data.rs"]
#[allow(dead_code)]
mod shared_data;
pub use error::{Error, Result, EXIT_MATCH, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE};
