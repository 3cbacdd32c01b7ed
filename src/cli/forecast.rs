//! `tidewatch forecast`: a job's models projected forward.

use std::process::ExitCode;
use tidewatch::{forecast, outln, store};

/// Runs `tidewatch forecast`.
pub(crate) fn run(store_spec: &str, args: forecast::ForecastArgs) -> tidewatch::Result<ExitCode> {
    let store = store::open(store_spec)?;
    let outcome = forecast::run(&args, store.as_ref())?;
    outln!("{}", forecast::summary(&outcome))?;
    Ok(ExitCode::SUCCESS)
}
