//! tidewatch: an open-source anomaly-detection job runner for operational data kept in
//! Elasticsearch (or in its own embedded store).
//!
//! One bucket's path through the crate follows the folder names:
//! [`config`] checks a job file into a [`config::Job`]; [`datafeed`] turns it into
//! aggregation requests that a [`store::Store`] answers as per-partition bucket values;
//! [`model`] keeps one baseline per partition and returns a probability; [`score`] turns
//! probabilities into 0-100 scores; [`analysis`] runs one job's models and scores over a
//! bucket; [`results`] shapes Elastic ML-like documents, with their explanations, and writes
//! them back through the store; [`runner`] decides when a job advances. [`api`] and the
//! Kibana saved objects (`kibana/`) read the results back. [`ingest`] loads
//! access logs, [`demo`] makes a realistic log with known incidents, and [`detect`] runs the
//! model over a CSV series and evaluates it on labelled data.
//!
//! # Embedding tidewatch
//!
//! A program that runs jobs itself needs four modules and the crate [`Error`]:
//! - [`config`]: [`config::load_jobs`] (job files or folders) and [`config::load_job_str`]
//!   check job definitions into [`config::Job`]s, every problem with its file, line and column;
//! - [`store`]: [`store::open`] a store by its spec (`embedded:DIR` or an `http(s)://` URL),
//!   or [`store::EmbeddedStore`] / [`store::ElasticStore`] directly, all behind the
//!   [`store::Store`] trait;
//! - [`runner`]: [`runner::run_lookback`] analyses the data a store holds, and
//!   [`runner::Realtime`] follows new data on a schedule, checkpointing as it goes;
//! - [`detect`]: the same model over one series, without a store: [`detect::parse_series`]
//!   reads CSV text and [`detect::score_rows`] scores its rows.
//!
//! The other public modules are the stages and commands the `tidewatch` binary calls (its
//! command line is `src/cli/`, one file per command, outside this library: each command
//! fills a plain options struct and calls one entry point here). Within every module, what
//! no caller outside the crate needs is `pub(crate)`.
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
pub(crate) mod kibana;
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
