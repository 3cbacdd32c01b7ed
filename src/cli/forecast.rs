//! `tidewatch forecast`: a job's models projected forward.

use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::{forecast, outln, store};

/// `tidewatch forecast` arguments.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ForecastArgs {
    /// The job to forecast (it must have run: the forecast starts from its latest snapshot).
    job_id: String,
    /// How far ahead, from the job's next bucket: e.g. `1d`, `12h`, `3d`.
    #[arg(long, default_value = "1d")]
    duration: String,
    /// How long to keep the forecast's documents; `0` keeps them for good.
    #[arg(long, default_value = "14d")]
    expires_in: String,
    /// Directory (or file) of job definitions.
    #[arg(long, default_value = "jobs")]
    jobs: PathBuf,
    /// Project the models as they are, without replaying the job's recent history to fit
    /// each series' forecast (faster; bounds are the model's own).
    #[arg(long)]
    no_fit: bool,
}

impl From<ForecastArgs> for tidewatch::forecast::ForecastOptions {
    fn from(a: ForecastArgs) -> Self {
        tidewatch::forecast::ForecastOptions {
            job_id: a.job_id,
            duration: a.duration,
            expires_in: a.expires_in,
            jobs: a.jobs,
            no_fit: a.no_fit,
        }
    }
}

/// Runs `tidewatch forecast`.
pub(crate) fn run(store_spec: &str, args: ForecastArgs) -> tidewatch::Result<ExitCode> {
    let args = forecast::ForecastOptions::from(args);
    let store = store::open(store_spec)?;
    let outcome = forecast::run(&args, store.as_ref())?;
    outln!("{}", forecast::summary(&outcome))?;
    Ok(ExitCode::SUCCESS)
}
