//! `tidewatch jobs list|show|put|reset|delete`.

use std::process::ExitCode;
use tidewatch::catalog;

/// Runs `tidewatch jobs ...`.
pub(crate) fn run(store_spec: &str, args: catalog::JobsArgs) -> tidewatch::Result<ExitCode> {
    catalog::run_jobs_command(store_spec, &args)?;
    Ok(ExitCode::SUCCESS)
}
