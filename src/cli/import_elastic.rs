//! `tidewatch import-elastic`: an Elastic ML job as a tidewatch job file.

use std::process::ExitCode;
use tidewatch::{config, output};

/// Runs `tidewatch import-elastic`.
pub(crate) fn run(args: config::ImportArgs) -> tidewatch::Result<ExitCode> {
    config::run_import(&args, &mut output::writer())?;
    Ok(ExitCode::SUCCESS)
}
