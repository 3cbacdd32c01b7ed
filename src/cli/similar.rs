//! `tidewatch similar`: partitions that moved like one partition.

use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::similar;

/// `tidewatch similar` arguments.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SimilarArgs {
    /// The job of the series to match.
    #[arg(long)]
    job: String,
    /// The series to match, as `field=value` (a partition or by split); optional when the
    /// job has a single series.
    #[arg(long, value_name = "FIELD=VALUE")]
    partition: Option<String>,
    /// The moment of interest (`2024-05-14T18:15:00Z`, `now-1h`, epoch seconds); the window
    /// is centred on it.
    #[arg(long)]
    at: String,
    /// Length of the window compared.
    #[arg(long, default_value = "6h")]
    window: String,
    /// How many matches to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Only compare with series of these jobs (comma-separated).
    #[arg(long, value_name = "J1,J2", value_delimiter = ',')]
    jobs_only: Option<Vec<String>>,
    /// Largest lag searched, in buckets either way.
    #[arg(long, default_value_t = 2)]
    max_lag: usize,
    /// Which value of each bucket makes the shape: `actual` (the observed values, as the
    /// single-metric view draws them) or `deviation` (actual − model median: the daily
    /// rhythm taken out).
    #[arg(long, value_enum, default_value = "actual")]
    values: Values,
    /// Only series whose own model scored a record at least this high in the window, and
    /// that moved like the query (correlation 0.5 or more at the best lag); 0 ranks every
    /// shape, scored or not (Oculus's plain shape search).
    #[arg(long, default_value_t = similar::MIN_SCORE)]
    min_score: f64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Directory (or file) of job definitions.
    #[arg(long, default_value = "jobs")]
    jobs: PathBuf,
    /// Results index to read (default: each job's `results_index`).
    #[arg(long)]
    index: Option<String>,
}

impl From<SimilarArgs> for tidewatch::similar::SimilarOptions {
    fn from(a: SimilarArgs) -> Self {
        tidewatch::similar::SimilarOptions {
            job: a.job,
            partition: a.partition,
            at: a.at,
            window: a.window,
            top: a.top,
            jobs_only: a.jobs_only,
            max_lag: a.max_lag,
            values: a.values.into(),
            min_score: a.min_score,
            format: a.format.into(),
            jobs: a.jobs,
            index: a.index,
        }
    }
}

/// Output format of `tidewatch similar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document.
    Json,
    /// One JSON line per match.
    Ndjson,
}

impl From<Format> for tidewatch::similar::Format {
    fn from(v: Format) -> Self {
        match v {
            Format::Table => tidewatch::similar::Format::Table,
            Format::Json => tidewatch::similar::Format::Json,
            Format::Ndjson => tidewatch::similar::Format::Ndjson,
        }
    }
}

/// Which value of a bucket the shapes are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Values {
    /// What was observed (`actual`): the shape people see in the single-metric view.
    Actual,
    /// How far it was from what the model expected (`actual − model_median`): the daily
    /// and weekly rhythm taken out, so only what moved unexpectedly has a shape.
    Deviation,
}

impl From<Values> for tidewatch::similar::Values {
    fn from(v: Values) -> Self {
        match v {
            Values::Actual => tidewatch::similar::Values::Actual,
            Values::Deviation => tidewatch::similar::Values::Deviation,
        }
    }
}

/// Runs `tidewatch similar`.
pub(crate) fn run(store_spec: &str, args: SimilarArgs) -> tidewatch::Result<ExitCode> {
    let args = similar::SimilarOptions::from(args);
    similar::run(store_spec, &args).map(|_| ExitCode::SUCCESS)
}
