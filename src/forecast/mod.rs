//! Forecasts: every partition's baseline projected forward, written as Elastic ML-shaped
//! `model_forecast` documents with a `model_forecast_request_stats` document per request.
//!
//! Why it works this way:
//! - A forecast reads the job's **latest model snapshot** from the state index (the
//!   runner's checkpoint), not a live runner: `tidewatch forecast` can run beside
//!   `tidewatch run`, on another machine, and always starts at the job's next bucket.
//! - The projection is the model's own ([`crate::model::Baseline::forecast`]): the seasonal
//!   typical value, bounds that widen with the horizon. Nothing here learns; the model's
//!   state is not changed by a forecast.
//! - [`Calibration`] measures a model's real multi-step errors from forecasts it made at
//!   earlier origins, and widens over-confident bounds to those errors' 95 % range. It needs
//!   the series' history, so [`backtest`] uses it; see `docs/forecast.md` for the figures.
//! - Each request gets a new `forecast_id` (a forecast is a new request, as in Elastic ML);
//!   within it, document ids are deterministic from the job, time, detector and partition.
//! - Forecasts expire (`--expires-in`, 14 days by default, `0` for never): every forecast
//!   request first deletes the expired forecasts in the job's results index
//!   ([`delete_expired`]).
//! - Population detectors (`over_field_name`) are not forecast, like in Elastic ML.

mod backtest;
mod fit;
mod history;
mod project;
mod request;

pub use backtest::{backtest, BacktestReport};
pub use fit::{fit, FittedForecast, Origin};
pub use history::{replay, SeriesHistory};
pub use project::{Calibration, Projected, Seasonality};
pub use request::{delete_expired, forecast_job, ForecastOutcome, ForecastRequest};

use crate::config::Job;
use crate::store::{Store, StoreError};
use crate::time::{format_millis, parse_duration};
use std::path::PathBuf;

/// Why a forecast could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    /// No job with that id among the job files.
    #[error("no job `{job_id}` in {jobs}; known jobs: {known}")]
    UnknownJob {
        /// The id asked for.
        job_id: String,
        /// Where the job files were read from.
        jobs: String,
        /// The ids that exist, comma-separated.
        known: String,
    },
    /// The job has no checkpoint: it never ran against this store.
    #[error("job `{job_id}` has not run yet (no checkpoint in `{state_index}`): run it first, e.g. `tidewatch run --once`, then forecast")]
    NeverRun {
        /// The job.
        job_id: String,
        /// Where checkpoints are kept.
        state_index: String,
    },
    /// The checkpoint's snapshot does not fit the job file any more, or is unreadable.
    #[error("job `{job_id}` changed since its last run (or its model snapshot is unreadable): run it again with `tidewatch run --once`, then forecast")]
    StaleSnapshot {
        /// The job.
        job_id: String,
    },
    /// Only population detectors: nothing Elastic ML or tidewatch forecasts.
    #[error(
        "job `{job_id}` has only population detectors (over_field_name), which cannot be forecast"
    )]
    NothingToForecast {
        /// The job.
        job_id: String,
    },
    /// A duration option is out of range or malformed.
    #[error("--{option} `{value}`: expected {expected}")]
    BadDuration {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Options of `tidewatch forecast`.
#[derive(Debug, Clone)]
pub struct ForecastOptions {
    /// The job to forecast (it must have run: the forecast starts from its latest snapshot).
    pub job_id: String,
    /// How far ahead, from the job's next bucket: e.g. `1d`, `12h`, `3d`.
    pub duration: String,
    /// How long to keep the forecast's documents; `0` keeps them for good.
    pub expires_in: String,
    /// Directory (or file) of job definitions.
    pub jobs: PathBuf,
    /// Project the models as they are, without replaying the job's recent history to fit
    /// each series' forecast (faster; bounds are the model's own).
    pub no_fit: bool,
}

fn duration_arg(option: &'static str, text: &str) -> Result<std::time::Duration, ForecastError> {
    let t = text.trim();
    if t == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    parse_duration(t).map_err(|_| ForecastError::BadDuration {
        option,
        value: text.to_string(),
        expected: "a duration such as `90m`, `12h` or `3d`",
    })
}

/// Turns the command-line arguments into a request at `now` (epoch ms).
pub(crate) fn request_from_args(
    args: &ForecastOptions,
    now: crate::time::EpochMillis,
) -> Result<ForecastRequest, ForecastError> {
    let duration = duration_arg("duration", &args.duration)?;
    let expires = duration_arg("expires-in", &args.expires_in)?;
    Ok(ForecastRequest {
        duration,
        expires_in: (!expires.is_zero()).then_some(expires),
        now,
        state_index: crate::runner::STATE_INDEX.to_string(),
        fit: !args.no_fit,
    })
}

/// Finds `job_id` among `jobs`, or says which jobs exist.
pub fn find_job<'a>(jobs: &'a [Job], job_id: &str, from: &str) -> Result<&'a Job, ForecastError> {
    jobs.iter()
        .find(|j| j.job_id == job_id)
        .ok_or_else(|| ForecastError::UnknownJob {
            job_id: job_id.to_string(),
            jobs: from.to_string(),
            known: jobs
                .iter()
                .map(|j| j.job_id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// `tidewatch forecast`: loads the job files, forecasts the job, and returns what was done.
pub fn run(args: &ForecastOptions, store: &dyn Store) -> crate::Result<ForecastOutcome> {
    let jobs = crate::catalog::jobs_for_reading(store, &args.jobs)?;
    let job = find_job(&jobs, &args.job_id, &args.jobs.display().to_string())?;
    let now = chrono::Utc::now().timestamp_millis();
    let request = request_from_args(args, now)?;
    Ok(forecast_job(store, job, &request)?)
}

/// A short report of a forecast, for the terminal.
pub fn summary(o: &ForecastOutcome) -> String {
    let mut s = format!(
        "{}: forecast {} of {} series, {} buckets each from {} to {}: {} documents",
        o.job_id,
        o.forecast_id,
        o.series,
        o.buckets,
        format_millis(o.start),
        format_millis(o.end),
        o.documents
    );
    match o.expiry {
        Some(e) => s.push_str(&format!("; expires {}", format_millis(e))),
        None => s.push_str("; never expires"),
    }
    if o.expired_deleted > 0 {
        s.push_str(&format!(
            "; deleted {} expired forecast(s)",
            o.expired_deleted
        ));
    }
    for m in &o.messages {
        s.push_str(&format!("\n  note: {m}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(duration: &str, expires: &str) -> ForecastOptions {
        ForecastOptions {
            job_id: "j".into(),
            duration: duration.into(),
            expires_in: expires.into(),
            jobs: "jobs".into(),
            no_fit: false,
        }
    }

    #[test]
    fn arguments_become_a_request() {
        let r = request_from_args(&args("3d", "14d"), 5).expect("valid");
        assert_eq!(r.duration.as_secs(), 3 * 86_400);
        assert_eq!(r.expires_in.map(|d| d.as_secs()), Some(14 * 86_400));
        assert_eq!(r.now, 5);
        let r = request_from_args(&args("90m", "0"), 5).expect("valid");
        assert_eq!(r.expires_in, None);
        let e = request_from_args(&args("soon", "0"), 5).unwrap_err();
        assert!(e.to_string().contains("--duration `soon`"), "{e}");
        let e = request_from_args(&args("1d", "-"), 5).unwrap_err();
        assert!(e.to_string().contains("--expires-in"), "{e}");
    }
}
