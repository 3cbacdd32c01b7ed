//! `tidewatch evaluate`: detection quality on labelled CSV series.

use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::detect;

/// Arguments of `tidewatch evaluate`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct EvaluateArgs {
    /// Directory searched recursively for CSV files with a label column.
    #[arg(long)]
    labelled: PathBuf,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A peer detector's scores to evaluate side by side: a directory holding, for each
    /// labelled file, `<its path relative to --labelled, without .gz>` as CSV with columns
    /// `timestamp,score,grade`, one row per input row (`scripts/peer-rcf.sh` writes them).
    /// The peer alerts where `grade > 0`.
    #[arg(long)]
    peer_scores: Option<PathBuf>,
}

impl From<EvaluateArgs> for tidewatch::detect::EvaluateOptions {
    fn from(a: EvaluateArgs) -> Self {
        tidewatch::detect::EvaluateOptions {
            labelled: a.labelled,
            json: a.json,
            peer_scores: a.peer_scores,
        }
    }
}

/// Runs `tidewatch evaluate`.
pub(crate) fn run(args: EvaluateArgs) -> tidewatch::Result<ExitCode> {
    let args = detect::EvaluateOptions::from(args);
    detect::run_evaluate(&args)?;
    Ok(ExitCode::SUCCESS)
}
