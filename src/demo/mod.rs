//! `tidewatch demo`: a realistic, deterministic nginx access log with known incidents.
//!
//! [`generate`] writes the log and returns its [`Incident`]s as data, so the demo can say what
//! it injected and tests can check that each one is found where it was put.

mod generate;
mod run;
mod tables;

pub use generate::{generate, DemoConfig, DemoLog, Incident, IncidentKind, DEMO_LOG_FORMAT};
pub use run::{demo_jobs, is_about, job_for, run, DemoOptions, DemoReport, DEMO_INDEX};
