//! `tidewatch results`: a job's results, as a table or JSON, optionally as an alert.

use super::bad_option;
use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::results::{self, ResultsQuery};
use tidewatch::EXIT_MATCH;
use tidewatch::{config, outln, output, store, time};

/// Which result documents to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ResultType {
    /// One document per bucket with its overall `anomaly_score`.
    Bucket,
    /// One document per anomalous partition value with its `record_score`.
    Record,
    /// One document per influencer value per bucket.
    Influencer,
}

impl From<ResultType> for tidewatch::results::ResultType {
    fn from(v: ResultType) -> Self {
        match v {
            ResultType::Bucket => tidewatch::results::ResultType::Bucket,
            ResultType::Record => tidewatch::results::ResultType::Record,
            ResultType::Influencer => tidewatch::results::ResultType::Influencer,
        }
    }
}

/// Arguments of `tidewatch results`.
#[derive(clap::Args)]
pub(crate) struct ResultsArgs {
    /// The job (default: every job in --jobs).
    job_id: Option<String>,
    /// Which documents.
    #[arg(long = "type", value_enum, default_value = "record")]
    result_type: ResultType,
    /// Only results scoring at least this (0-100).
    #[arg(long, default_value_t = 0.0)]
    min_score: f64,
    /// Only buckets at or after this time (`2024-05-01T00:00:00Z`, `now-1h`, epoch seconds).
    #[arg(long)]
    from: Option<String>,
    /// Only buckets before this time.
    #[arg(long)]
    to: Option<String>,
    /// Only buckets in this last stretch of time, e.g. `15m` (same as `--from now-15m`).
    #[arg(long, conflicts_with = "from")]
    since: Option<String>,
    /// Exit with status 3 when any result matches (for cron-style alerting), 0 otherwise.
    #[arg(long)]
    exit_code: bool,
    /// At most this many, highest score first (default: all, in time order).
    #[arg(long)]
    limit: Option<usize>,
    /// Also interim results (the bucket still in progress, `is_interim: true`); left out
    /// by default, so an alert never fires on a half-filled bucket.
    #[arg(long)]
    include_interim: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Results index to read (default: the job's `results_index` from --jobs, else
    /// `tidewatch-results`).
    #[arg(long)]
    index: Option<String>,
    /// Directory (or file) of job definitions, to find the job's results index.
    #[arg(long, default_value = "jobs")]
    jobs: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    Table,
    Json,
    Ndjson,
}

/// `tidewatch results`. Before it may report "nothing matched", every job's results must be
/// readable ([`results::check_target`]: index present and open, job known and run; with
/// `--exit-code`, not stale), else exit 2.
pub(crate) fn run(store_spec: &str, args: ResultsArgs) -> tidewatch::Result<ExitCode> {
    let now = chrono::Utc::now().timestamp_millis();
    let parse = |option, t: &Option<String>| -> tidewatch::Result<Option<i64>> {
        t.as_deref()
            .map(|t| time::parse_cli_time(t, now).map_err(bad_option(option)))
            .transpose()
    };
    let from = match &args.since {
        Some(d) => Some(
            now - time::parse_duration(d)
                .map_err(bad_option("--since"))?
                .as_millis() as i64,
        ),
        None => parse("--from", &args.from)?,
    };
    let to = parse("--to", &args.to)?;
    let store = store::open_read_only(store_spec)?;
    // Which jobs, and where their results live: as recorded in the store, or from the job
    // files when they load, else the named job in the default (or --index) results index.
    let known =
        tidewatch::catalog::jobs_for_reading(store.as_ref(), &args.jobs).unwrap_or_default();
    let known_ids: Vec<String> = known.iter().map(|j| j.job_id.clone()).collect();
    let targets: Vec<(String, Option<&config::Job>, String)> = match &args.job_id {
        Some(id) => {
            let job = known.iter().find(|j| &j.job_id == id);
            let index = args.index.clone().unwrap_or_else(|| {
                job.map_or_else(
                    || config::DEFAULT_RESULTS_INDEX.to_string(),
                    |j| j.results_index.clone(),
                )
            });
            vec![(id.clone(), job, index)]
        }
        None if known.is_empty() => {
            return Err(tidewatch::Error::NoJobs {
                dir: args.jobs.clone(),
            })
        }
        None => known
            .iter()
            .map(|j| {
                let index = args
                    .index
                    .clone()
                    .unwrap_or_else(|| j.results_index.clone());
                (j.job_id.clone(), Some(j), index)
            })
            .collect(),
    };
    let jobs_dir = args.jobs.display().to_string();
    let mut docs = Vec::new();
    for (job_id, job, index) in &targets {
        let target = results::Target {
            job_id,
            job: *job,
            index,
            jobs_dir: &jobs_dir,
            known: &known_ids,
        };
        let alerting = args.exit_code.then_some(results::Alerting { now, to });
        results::check_target(store.as_ref(), &target, alerting)?;
        let q = ResultsQuery {
            job_id: job_id.clone(),
            result_type: args.result_type.into(),
            min_score: args.min_score,
            from,
            to,
            limit: args.limit,
            include_interim: args.include_interim,
        };
        docs.extend(results::fetch(store.as_ref(), index, &q)?);
    }
    let code = if args.exit_code && !docs.is_empty() {
        ExitCode::from(EXIT_MATCH)
    } else {
        ExitCode::SUCCESS
    };
    match write_results(args.result_type.into(), args.format, &docs) {
        // The reader went away (`| head -1`): the alert still stands.
        Err(e) if e.is_closed_pipe() => Ok(code),
        Err(e) => Err(e),
        Ok(()) => Ok(code),
    }
}

fn write_results(
    q_type: results::ResultType,
    format: OutputFormat,
    docs: &[serde_json::Value],
) -> tidewatch::Result<()> {
    match format {
        OutputFormat::Table => output::text(&results::table(q_type, docs))?,
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(docs).unwrap_or_default())?,
        OutputFormat::Ndjson => {
            for d in docs {
                outln!("{d}")?;
            }
        }
    }
    output::flush()
}
