//! `tidewatch detect`: one CSV series scored online.

use std::process::ExitCode;
use tidewatch::detect;

/// Runs `tidewatch detect`.
pub(crate) fn run(args: detect::DetectArgs) -> tidewatch::Result<ExitCode> {
    detect::run_detect(&args)?;
    Ok(ExitCode::SUCCESS)
}
