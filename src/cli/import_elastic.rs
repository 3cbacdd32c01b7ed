//! `tidewatch import-elastic`: an Elastic ML job as a tidewatch job file.

use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::{config, output};

/// Arguments of `tidewatch import-elastic`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ImportArgs {
    /// The Elastic ML job as JSON (a recipe's job.json, or GET _ml/anomaly_detectors/ID).
    #[arg(value_name = "JOB.json")]
    job: PathBuf,
    /// Its datafeed as JSON (data_feed.json, or GET _ml/datafeeds/ID); not needed when the
    /// job embeds `datafeed_config`.
    #[arg(value_name = "DATAFEED.json")]
    datafeed: Option<PathBuf>,
}

impl From<ImportArgs> for tidewatch::config::ImportOptions {
    fn from(a: ImportArgs) -> Self {
        tidewatch::config::ImportOptions {
            job: a.job,
            datafeed: a.datafeed,
        }
    }
}

/// Runs `tidewatch import-elastic`.
pub(crate) fn run(args: ImportArgs) -> tidewatch::Result<ExitCode> {
    let args = config::ImportOptions::from(args);
    config::run_import(&args, &mut output::writer())?;
    Ok(ExitCode::SUCCESS)
}
