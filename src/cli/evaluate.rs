//! `tidewatch evaluate`: detection quality on labelled CSV series.

use std::process::ExitCode;
use tidewatch::detect;

/// Runs `tidewatch evaluate`.
pub(crate) fn run(args: detect::EvaluateArgs) -> tidewatch::Result<ExitCode> {
    detect::run_evaluate(&args)?;
    Ok(ExitCode::SUCCESS)
}
