//! The `tidewatch` command line: parses arguments, calls the library, prints.
#![warn(clippy::too_many_lines)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::results::{self, ResultType, ResultsQuery};
use tidewatch::{config, outln, output, runner, store, time};
use tidewatch::{EXIT_MATCH, EXIT_OK, EXIT_USAGE};

/// Anomaly detection jobs over the operational data you keep in Elasticsearch.
#[derive(Parser)]
#[command(name = "tidewatch", version, about, long_about = None)]
struct Cli {
    /// Where documents live: `embedded:DIR` (default `embedded:./tidewatch-data`) or an
    /// `http(s)://` cluster URL. With `validate`, also checks the jobs' fields in its indices.
    #[arg(long, global = true, env = "TIDEWATCH_STORE")]
    store: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "human")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Generates 14 days of nginx logs with four known incidents, ingests them, runs the
    /// example jobs, and shows what was found next to what was injected.
    Demo(tidewatch::demo::DemoArgs),
    /// Checks job files and prints every problem as `file:line:column: field: message`.
    Validate(config::ValidateArgs),
    /// Converts an Elastic ML job (and datafeed) JSON into a tidewatch job file on stdout.
    ImportElastic(config::ImportArgs),
    /// Loads access logs (plain, .gz, or - for stdin) into an index as ECS documents.
    Ingest(tidewatch::ingest::IngestArgs),
    /// Scores one CSV series with the model, online (each row sees only earlier rows).
    Detect(tidewatch::detect::DetectArgs),
    /// Measures detection quality on labelled CSV series, side by side with a z-score baseline.
    Evaluate(tidewatch::detect::EvaluateArgs),
    /// Looks back over the data present for every job and writes results.
    Run {
        /// Directory (or file) of job definitions.
        #[arg(long, default_value = "jobs")]
        jobs: PathBuf,
        /// Analyse the complete buckets up to now, then exit (default: then follow real time until
        /// Ctrl-C or SIGTERM).
        #[arg(long)]
        once: bool,
        /// Also serve the HTTP API, metrics and web UI on this address (real time only).
        #[arg(long, value_name = "ADDR", conflicts_with = "once")]
        http: Option<std::net::SocketAddr>,
        /// Bearer token for the API (required when --http is not a loopback address).
        #[arg(long, env = "TIDEWATCH_API_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// A host name the API also answers to in the `Host` header (besides the bound
        /// address, `localhost` and loopback addresses); repeatable.
        #[arg(long = "allow-host", value_name = "NAME", requires = "http")]
        allow_hosts: Vec<String>,
        /// How long a job's lease lasts without renewal: after a runner dies, another takes
        /// its jobs over once this has passed (renewed every third of it).
        #[arg(long, default_value = "60s", value_parser = parse_lease_ttl)]
        lease_ttl: std::time::Duration,
        /// With --once: start here (Elastic's datafeed `start`), or at the job's checkpoint
        /// when that is later (`2024-05-01T00:00:00Z`, `now-1d`, epoch seconds).
        #[arg(long, requires = "once")]
        from: Option<String>,
        /// With --once: analyse buckets ending at or before this (Elastic's datafeed `end`;
        /// never past now minus the query delay). Default: the newest document before now.
        #[arg(long, requires = "once")]
        to: Option<String>,
    },
    /// Job definitions recorded in the store: list, show, put, reset, delete.
    Jobs(tidewatch::catalog::JobsArgs),
    /// Prints a job's results.
    Results(ResultsArgs),
    /// Projects a job's models forward and writes `model_forecast` documents.
    Forecast(tidewatch::forecast::ForecastArgs),
    /// Serves the HTTP API (`/api`, `/metrics`, `/health`) and the web UI.
    Serve(tidewatch::api::ServeArgs),
    /// Ranks every partition of every job by how closely it moved like one partition.
    Similar(tidewatch::similar::SimilarArgs),
    /// Maintenance of the store: `store prune --index NAME --older-than 30d`.
    Store(store::StoreArgs),
    /// Shows where each job stands: buckets, documents, partitions, memory, delayed data.
    Status {
        /// Only this job.
        job_id: Option<String>,
        /// Directory (or file) of job definitions.
        #[arg(long, default_value = "jobs")]
        jobs: PathBuf,
        /// Print the stats documents as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct ResultsArgs {
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
enum OutputFormat {
    Table,
    Json,
    Ndjson,
}

/// Exit statuses (README, "Exit status"): 0 success, 1 usage or validation error, 2 could
/// not read or write what was needed, 3 `results --exit-code` matched. A closed standard
/// output (`| head`) ends a command quietly with the status it had reached.
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout and succeed; anything else is a usage error.
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.log_format);
    let outcome = run(cli).and_then(|code| output::flush().map(|()| code));
    match outcome {
        Ok(code) => code,
        Err(e) if e.is_closed_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIDEWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The store used when neither `--store` nor `TIDEWATCH_STORE` names one.
const DEFAULT_STORE: &str = "embedded:./tidewatch-data";

fn run(cli: Cli) -> tidewatch::Result<ExitCode> {
    let named_store = cli.store.clone();
    let store_spec = cli.store.unwrap_or_else(|| DEFAULT_STORE.to_string());
    match cli.command {
        Command::Validate(args) => {
            config::run(&args, &mut output::writer())?;
            if let Some(spec) = named_store {
                validate_fields(&spec, &config::load_jobs(&args.files)?)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportElastic(args) => {
            config::run_import(&args, &mut output::writer())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            let store = store::open(&store_spec)?;
            let started = std::time::Instant::now();
            let report = tidewatch::demo::run(&args, store.as_ref())?;
            print_demo(&report, &store_spec, started.elapsed())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Detect(args) => {
            tidewatch::detect::run_detect(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Evaluate(args) => {
            tidewatch::detect::run_evaluate(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest(args) => {
            let store = store::open(&store_spec)?;
            let summary = tidewatch::ingest::run(&args, store.as_ref())?;
            outln!("{summary}")?;
            tidewatch::ingest::check_stored(&summary)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            jobs,
            once,
            http,
            token,
            allow_hosts,
            lease_ttl,
            from,
            to,
        } => {
            // The handler first: a SIGTERM while jobs load or the store opens is a clean stop.
            let stop = stop_on_signal()?;
            let jobs = config::load_jobs(&[jobs])?;
            let store: std::sync::Arc<dyn store::Store> = store::open(&store_spec)?.into();
            record_jobs(store.as_ref(), &jobs)?;
            if !once {
                let api = http.map(|addr| ApiOptions {
                    addr,
                    token,
                    allow_hosts,
                });
                let options = runner::RealtimeOptions {
                    lease_ttl_ms: lease_ttl.as_millis() as i64,
                    ..runner::RealtimeOptions::default()
                };
                return follow_real_time(store, &jobs, &stop, api, options);
            }
            let now = chrono::Utc::now().timestamp_millis();
            let parse = |option, t: Option<String>| {
                t.map(|t| time::parse_cli_time(&t, now).map_err(bad_option(option)))
                    .transpose()
            };
            let range = runner::LookbackRange {
                clock: &runner::SystemClock,
                from: parse("--from", from)?,
                to: parse("--to", to)?,
            };
            run_once(store.as_ref(), &jobs, &stop, &range)
        }
        Command::Jobs(args) => {
            tidewatch::catalog::run_jobs_command(&store_spec, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Results(args) => print_results(&store_spec, args),
        Command::Store(args) => store_command(&store_spec, args),
        Command::Forecast(args) => {
            let store = store::open(&store_spec)?;
            let outcome = tidewatch::forecast::run(&args, store.as_ref())?;
            outln!("{}", tidewatch::forecast::summary(&outcome))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve(&store_spec, &args),
        Command::Similar(args) => {
            tidewatch::similar::run(&store_spec, &args).map(|_| ExitCode::SUCCESS)
        }
        Command::Status { job_id, jobs, json } => status(&store_spec, job_id, &jobs, json),
    }
}

/// `validate --store`: resolves every job's analysis and influencer fields in its source
/// indices as a run would (`_field_caps`), printing how text fields are read and every field
/// that cannot be aggregated; exit 1 when there is any.
fn validate_fields(spec: &str, jobs: &[config::Job]) -> tidewatch::Result<()> {
    let store = store::open_read_only(spec)?;
    let mut problems = Vec::new();
    for job in jobs {
        match tidewatch::datafeed::resolve_fields(store.as_ref(), job) {
            Ok(resolved) if resolved.notes.is_empty() => {
                outln!("{}: fields aggregate in {}", job.job_id, store.describe())?
            }
            Ok(resolved) => {
                for note in &resolved.notes {
                    outln!("{}: {note}", job.job_id)?;
                }
            }
            Err(tidewatch::Error::Fields(p)) => problems.extend(p.0),
            Err(e) => return Err(e),
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    for p in &problems {
        outln!("{p}")?;
    }
    Err(tidewatch::Error::FieldsUnreadable {
        count: problems.len(),
        store: store.describe(),
    })
}

/// `tidewatch serve`: the web UI and the API over the store's results.
fn serve(store_spec: &str, args: &tidewatch::api::ServeArgs) -> tidewatch::Result<ExitCode> {
    let jobs = {
        let store = store::open_read_only(store_spec)?;
        tidewatch::catalog::jobs_for_reading(store.as_ref(), &args.jobs)?
    };
    // Beside a running `run` (which holds an embedded store's lock) the API still
    // serves results, read-only; forecasts through it then need `run --http` instead.
    let store: std::sync::Arc<dyn store::Store> = match store::open(store_spec) {
        Ok(s) => s.into(),
        Err(store::StoreError::Locked(holder)) => {
            eprintln!("note: {holder}; serving read-only (POST /api/jobs/ID/_forecast will fail)");
            store::open_read_only(store_spec)?.into()
        }
        Err(e) => return Err(e.into()),
    };
    let state = tidewatch::api::AppState::new(store, jobs)
        .with_token(args.token.clone())
        .with_allowed_hosts(args.allow_hosts.clone())
        .with_header_read_timeout(args.header_read_timeout);
    eprintln!("serving the web UI and API on http://{}/", args.http);
    tidewatch::api::serve_blocking(args.http, state)?;
    Ok(ExitCode::SUCCESS)
}

/// `tidewatch store ...`: maintenance of the store.
fn store_command(store_spec: &str, args: store::StoreArgs) -> tidewatch::Result<ExitCode> {
    match args.command {
        store::StoreCommand::Prune(p) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let summary = store::prune(store_spec, &p, now)?;
            outln!(
                "{}: deleted {} documents with {} before {}",
                p.index,
                summary.deleted,
                p.time_field,
                time::format_millis(summary.cutoff_ms)
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn parse_lease_ttl(text: &str) -> Result<std::time::Duration, String> {
    let d = time::parse_duration(text)?;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!(
            "`{text}` is too short a lease; expected at least `1s`"
        ));
    }
    Ok(d)
}

/// Records the validated definitions in the store (as Elastic's `.ml-config`), telling what
/// changed; refuses an analysis change over existing results.
fn record_jobs(store: &dyn store::Store, jobs: &[config::Job]) -> tidewatch::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    for job in jobs {
        let (outcome, version) = tidewatch::catalog::record(store, job, now)?;
        if let Some(line) = tidewatch::catalog::describe(&job.job_id, &outcome, version) {
            eprintln!("{line}");
        }
    }
    Ok(())
}

/// `run --once`: a lookback per job, one summary line each. A job that cannot read its
/// sources is reported in its stats (for `status`) and ends the command with exit status 2.
fn run_once(
    store: &dyn store::Store,
    jobs: &[config::Job],
    stop: &std::sync::atomic::AtomicBool,
    range: &runner::LookbackRange,
) -> tidewatch::Result<ExitCode> {
    for job in jobs {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let s = runner::run_lookback_range(store, job, Some(runner::STATE_INDEX), stop, range)
            .inspect_err(|e| {
                runner::record_error(store, runner::STATE_INDEX, &job.job_id, &e.to_string())
            })?;
        outln!(
            "{}: {} buckets, {} partitions, {} records ({} scoring >= 75), {} documents in {:.1}s",
            s.job_id,
            s.buckets,
            s.partitions,
            s.records,
            s.critical_records,
            s.documents,
            s.elapsed.as_secs_f64()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A flag that Ctrl-C or SIGTERM sets: work stops after the current chunk and checkpoint.
fn stop_on_signal() -> tidewatch::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        eprintln!("stopping after the current batch and its checkpoint...");
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    })
    .map_err(|e| tidewatch::Error::Setup {
        what: "install the signal handler",
        message: e.to_string(),
    })?;
    Ok(stop)
}

/// `run --http` options.
struct ApiOptions {
    addr: std::net::SocketAddr,
    token: Option<String>,
    allow_hosts: Vec<String>,
}

/// Follows real time until `stop`; with `api`, also serves the HTTP API and web UI from a
/// background thread, its metrics fed after every tick.
fn follow_real_time(
    store: std::sync::Arc<dyn store::Store>,
    jobs: &[config::Job],
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    api: Option<ApiOptions>,
    options: runner::RealtimeOptions,
) -> tidewatch::Result<ExitCode> {
    let metrics = std::sync::Arc::new(tidewatch::api::Metrics::new());
    if let Some(ApiOptions {
        addr,
        token,
        allow_hosts,
    }) = api
    {
        tidewatch::api::check_bind(addr, token.as_deref())?;
        let state = tidewatch::api::AppState::new(store.clone(), jobs.to_vec())
            .with_token(token)
            .with_allowed_hosts(allow_hosts)
            .with_metrics(metrics.clone());
        let flag = stop.clone();
        std::thread::spawn(move || {
            // The server stops with the runner (the stop flag), not on its own signal handler.
            let watched = flag.clone();
            let shutdown = async move {
                while !watched.load(std::sync::atomic::Ordering::SeqCst) {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            };
            let served = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| tidewatch::Error::Setup {
                    what: "start the HTTP runtime",
                    message: e.to_string(),
                })
                .and_then(|rt| {
                    rt.block_on(tidewatch::api::serve_with_shutdown(addr, state, shutdown))
                });
            if let Err(e) = served {
                eprintln!("error: HTTP API: {e}");
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        eprintln!("serving the web UI and API on http://{addr}/");
    }
    let clock = runner::SystemClock;
    let mut realtime = runner::Realtime::new(store.as_ref(), jobs, options, &clock)?;
    eprintln!(
        "following {} job(s) in real time; Ctrl-C to stop",
        jobs.len()
    );
    let mut counted: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    realtime.run(stop, |rt| {
        let now = chrono::Utc::now().timestamp_millis();
        for p in rt.progress() {
            let m = metrics.job(&p.job_id);
            let seen = counted.entry(p.job_id.clone()).or_insert(0);
            m.add_buckets(p.buckets.saturating_sub(*seen));
            *seen = p.buckets;
            m.set_running(p.held);
            m.set_partitions(p.partitions as u64);
            if let Some(next) = p.next_bucket {
                m.set_lag_seconds((now - next).max(0) as f64 / 1000.0);
            }
        }
    })?;
    for (job_id, next) in realtime.positions() {
        let at = next
            .map(time::format_millis)
            .unwrap_or_else(|| "no data yet".into());
        eprintln!("{job_id}: stopped; next bucket {at}");
    }
    Ok(ExitCode::SUCCESS)
}

fn status(
    store_spec: &str,
    job_id: Option<String>,
    jobs: &std::path::Path,
    json: bool,
) -> tidewatch::Result<ExitCode> {
    let store = store::open_read_only(store_spec)?;
    let jobs = tidewatch::catalog::jobs_for_reading(store.as_ref(), jobs)?;
    let selected: Vec<_> = jobs
        .iter()
        .filter(|j| job_id.as_ref().is_none_or(|id| &j.job_id == id))
        .collect();
    if let (Some(id), true) = (&job_id, selected.is_empty()) {
        let known: Vec<_> = jobs.iter().map(|j| j.job_id.as_str()).collect();
        return Err(tidewatch::Error::Unavailable(format!(
            "no job `{id}`; known jobs: {}",
            known.join(", ")
        )));
    }
    for job in selected {
        check_not_corrupt(store.as_ref(), job)?;
        let doc = runner::load_stats(store.as_ref(), runner::STATE_INDEX, &job.job_id)?;
        match (doc, json) {
            (None, _) => outln!("{}: not run yet", job.job_id)?,
            (Some(d), true) => outln!("{d}")?,
            (Some(d), false) => print_status_line(&job.job_id, &d)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads every index a job depends on far enough to find records that fail their checksum
/// (a missing index is fine here: `status` reports what exists).
fn check_not_corrupt(store: &dyn store::Store, job: &config::Job) -> tidewatch::Result<()> {
    let mut indices: Vec<&str> = job.indices.iter().map(String::as_str).collect();
    indices.push(&job.results_index);
    indices.push(runner::STATE_INDEX);
    for index in indices {
        match store.check_readable(index) {
            Ok(()) | Err(store::StoreError::IndexNotFound(_)) => {}
            Err(e @ store::StoreError::Corrupt { .. }) => {
                return Err(tidewatch::Error::Unavailable(format!(
                    "job `{}`: {e} (in {})",
                    job.job_id,
                    store.describe()
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn print_status_line(job_id: &str, d: &serde_json::Value) -> tidewatch::Result<()> {
    let s = runner::JobStats::from_doc(d);
    let m = |k: &str| {
        d.pointer(&format!("/model_size_stats/{k}"))
            .cloned()
            .unwrap_or_default()
    };
    let at = |t: Option<i64>| t.map(time::format_millis).unwrap_or_else(|| "-".into());
    outln!(
        "{}: {} buckets ({} empty), {} documents, latest bucket {}, {} partitions, model {} bytes, memory {}, {} delayed documents",
        job_id,
        s.bucket_count,
        s.empty_bucket_count,
        s.processed_record_count,
        at(s.latest_bucket_timestamp),
        m("partitions"),
        m("model_bytes"),
        m("memory_status").as_str().unwrap_or("?"),
        s.delayed_data_count
    )?;
    if !s.delayed_buckets.is_empty() {
        let buckets: Vec<String> = s
            .delayed_buckets
            .iter()
            .map(|&t| time::format_millis(t))
            .collect();
        outln!(
            "{job_id}: late documents in buckets {} (annotated; consider a longer query_delay)",
            buckets.join(", ")
        )?;
    }
    for note in &s.field_notes {
        outln!("{job_id}: {note}")?;
    }
    if let Some(e) = &s.last_error {
        outln!("{job_id}: not advancing: {e}")?;
    }
    Ok(())
}

fn print_demo(
    report: &tidewatch::demo::DemoReport,
    store_spec: &str,
    elapsed: std::time::Duration,
) -> tidewatch::Result<()> {
    outln!("Generated {} log lines; {}", report.lines, report.ingest)?;
    outln!()?;
    for s in &report.jobs {
        outln!(
            "  {:<22} {:>5} buckets  {:>6} partitions  {:>5} records  {:>3} scoring >= 75",
            s.job_id,
            s.buckets,
            s.partitions,
            s.records,
            s.critical_records
        )?;
    }
    outln!()?;
    outln!("Injected incidents, and the best record tidewatch wrote for each:")?;
    for (incident, best) in &report.found {
        outln!("  * {incident}")?;
        match best {
            Some(d) => outln!(
                "      found by {} at {}: score {:.0}, {}",
                d["job_id"].as_str().unwrap_or("?"),
                d["timestamp"]
                    .as_i64()
                    .map(time::format_short)
                    .unwrap_or_default(),
                d["record_score"].as_f64().unwrap_or(0.0),
                d["explanation"].as_str().unwrap_or("")
            )?,
            None => outln!("      not found")?,
        }
    }
    outln!()?;
    outln!("Top anomalies across all jobs:")?;
    for line in results::table(ResultType::Record, &report.top).lines() {
        outln!("  {line}")?;
    }
    outln!()?;
    let store_arg = if store_spec == "embedded:./tidewatch-data" {
        String::new()
    } else {
        format!(" --store {store_spec}")
    };
    outln!("Done in {:.1}s. Look further:", elapsed.as_secs_f64())?;
    outln!("  tidewatch{store_arg} results status_code_rate --min-score 50       # one job's anomalies")?;
    outln!("  tidewatch{store_arg} results country_traffic --type bucket --format ndjson")?;
    outln!("  tidewatch{store_arg} status                                        # buckets, partitions, memory")?;
    outln!("  tidewatch{store_arg} serve                                         # web UI on http://127.0.0.1:9280/")
}

/// An option's value that could not be read, for `map_err`.
fn bad_option(option: &'static str) -> impl Fn(String) -> tidewatch::Error {
    move |message| tidewatch::Error::BadOption { option, message }
}

/// `tidewatch results`. Before it may report "nothing matched", every job's results must be
/// readable ([`results::check_target`]: index present and open, job known and run; with
/// `--exit-code`, not stale), else exit 2.
fn print_results(store_spec: &str, args: ResultsArgs) -> tidewatch::Result<ExitCode> {
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
            result_type: args.result_type,
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
    match write_results(args.result_type, args.format, &docs) {
        // The reader went away (`| head -1`): the alert still stands.
        Err(e) if e.is_closed_pipe() => Ok(code),
        Err(e) => Err(e),
        Ok(()) => Ok(code),
    }
}

fn write_results(
    q_type: ResultType,
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
