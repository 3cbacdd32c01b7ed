//! `tidewatch detect`: one CSV series scored online.

use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::detect;

/// Arguments of `tidewatch detect`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DetectArgs {
    /// CSV file to score (plain or `.gz`).
    #[arg(long)]
    input: PathBuf,
    /// Where to write `timestamp,value,score,typical,lower,upper` (default: standard output).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Name of the timestamp column (case-insensitive).
    #[arg(long, default_value = "timestamp")]
    timestamp_column: String,
    /// Name of the value column (case-insensitive).
    #[arg(long, default_value = "value")]
    value_column: String,
    /// What the values are: decides the distribution family.
    #[arg(long, value_enum, default_value = "mean")]
    function: SeriesFunction,
    /// Bucket span such as `1m` or `1h` (default: inferred from the timestamps).
    #[arg(long)]
    bucket_span: Option<String>,
}

impl From<DetectArgs> for tidewatch::detect::DetectOptions {
    fn from(a: DetectArgs) -> Self {
        tidewatch::detect::DetectOptions {
            input: a.input,
            output: a.output,
            timestamp_column: a.timestamp_column,
            value_column: a.value_column,
            function: a.function.into(),
            bucket_span: a.bucket_span,
        }
    }
}

/// What the values of a CSV series are, which decides the model's distribution family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SeriesFunction {
    /// Averages (heavy-tailed metric).
    Mean,
    /// Event counts (Poisson-like, count-aware).
    Count,
    /// Sums (heavy-tailed metric).
    Sum,
    /// Maxima (heavy-tailed metric).
    Max,
    /// Minima (heavy-tailed metric).
    Min,
}

impl From<SeriesFunction> for tidewatch::detect::SeriesFunction {
    fn from(v: SeriesFunction) -> Self {
        match v {
            SeriesFunction::Mean => tidewatch::detect::SeriesFunction::Mean,
            SeriesFunction::Count => tidewatch::detect::SeriesFunction::Count,
            SeriesFunction::Sum => tidewatch::detect::SeriesFunction::Sum,
            SeriesFunction::Max => tidewatch::detect::SeriesFunction::Max,
            SeriesFunction::Min => tidewatch::detect::SeriesFunction::Min,
        }
    }
}

/// Runs `tidewatch detect`.
pub(crate) fn run(args: DetectArgs) -> tidewatch::Result<ExitCode> {
    let args = detect::DetectOptions::from(args);
    detect::run_detect(&args)?;
    Ok(ExitCode::SUCCESS)
}
