//! The `tidewatch` command line: parses arguments, calls the library, prints.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::results::{self, ResultType, ResultsQuery};
use tidewatch::{config, runner, store, time};

/// Anomaly detection jobs over the operational data you keep in Elasticsearch.
#[derive(Parser)]
#[command(name = "tidewatch", version, about, long_about = None)]
struct Cli {
    /// Where documents live: `embedded:DIR` (default) or an `http(s)://` cluster URL.
    #[arg(
        long,
        global = true,
        env = "TIDEWATCH_STORE",
        default_value = "embedded:./tidewatch-data"
    )]
    store: String,
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
        /// Analyse the history present, then exit (default: then follow real time until
        /// Ctrl-C or SIGTERM).
        #[arg(long)]
        once: bool,
        /// Also serve the HTTP API, metrics and web UI on this address (real time only).
        #[arg(long, value_name = "ADDR", conflicts_with = "once")]
        http: Option<std::net::SocketAddr>,
        /// Bearer token for the API (required when --http is not a loopback address).
        #[arg(long, env = "TIDEWATCH_API_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// How long a job's lease lasts without renewal: after a runner dies, another takes
        /// its jobs over once this has passed (renewed every third of it).
        #[arg(long, default_value = "60s", value_parser = parse_lease_ttl)]
        lease_ttl: std::time::Duration,
    },
    /// Prints a job's results.
    Results(ResultsArgs),
    /// Projects a job's models forward and writes `model_forecast` documents.
    Forecast(tidewatch::forecast::ForecastArgs),
    /// Serves the HTTP API (`/api`, `/metrics`, `/health`) and the web UI.
    Serve(tidewatch::api::ServeArgs),
    /// Ranks every partition of every job by how closely it moved like one partition.
    Similar(tidewatch::similar::SimilarArgs),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
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

fn run(cli: Cli) -> tidewatch::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => {
            config::run(&args, &mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportElastic(args) => {
            config::run_import(&args, &mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            let store = store::open(&cli.store)?;
            let started = std::time::Instant::now();
            let report = tidewatch::demo::run(&args, store.as_ref())?;
            print_demo(&report, &cli.store, started.elapsed());
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
            let store = store::open(&cli.store)?;
            let summary = tidewatch::ingest::run(&args, store.as_ref())?;
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            jobs,
            once,
            http,
            token,
            lease_ttl,
        } => {
            let jobs = config::load_jobs(&[jobs])?;
            let store: std::sync::Arc<dyn store::Store> = store::open(&cli.store)?.into();
            let stop = stop_on_signal()?;
            if !once {
                let api = http.map(|addr| (addr, token));
                let options = runner::RealtimeOptions {
                    lease_ttl_ms: lease_ttl.as_millis() as i64,
                    ..runner::RealtimeOptions::default()
                };
                return follow_real_time(store, &jobs, &stop, api, options);
            }
            for job in &jobs {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let s =
                    runner::run_lookback(store.as_ref(), job, Some(runner::STATE_INDEX), &stop)?;
                println!(
                    "{}: {} buckets, {} partitions, {} records ({} scoring >= 75), {} documents in {:.1}s",
                    s.job_id,
                    s.buckets,
                    s.partitions,
                    s.records,
                    s.critical_records,
                    s.documents,
                    s.elapsed.as_secs_f64()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Results(args) => print_results(&cli.store, args),
        Command::Forecast(args) => {
            let store = store::open(&cli.store)?;
            let outcome = tidewatch::forecast::run(&args, store.as_ref())?;
            println!("{}", tidewatch::forecast::summary(&outcome));
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            let jobs = config::load_jobs(std::slice::from_ref(&args.jobs))?;
            // Beside a running `run` (which holds an embedded store's lock) the API still
            // serves results, read-only; forecasts through it then need `run --http` instead.
            let store: std::sync::Arc<dyn store::Store> = match store::open(&cli.store) {
                Ok(s) => s.into(),
                Err(store::StoreError::Locked(holder)) => {
                    eprintln!(
                        "note: {holder}; serving read-only (POST /api/jobs/ID/_forecast will fail)"
                    );
                    store::open_read_only(&cli.store)?.into()
                }
                Err(e) => return Err(e.into()),
            };
            let state = tidewatch::api::AppState::new(store, jobs).with_token(args.token.clone());
            eprintln!("serving the web UI and API on http://{}/", args.http);
            tidewatch::api::serve_blocking(args.http, state)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Similar(args) => {
            tidewatch::similar::run(&cli.store, &args).map(|_| ExitCode::SUCCESS)
        }
        Command::Status { job_id, jobs, json } => status(&cli.store, job_id, &jobs, json),
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

/// A flag that Ctrl-C or SIGTERM sets: work stops after the current chunk and checkpoint.
fn stop_on_signal() -> tidewatch::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        eprintln!("stopping after the current batch and its checkpoint...");
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    })
    .map_err(|e| tidewatch::Error::Other(format!("cannot install the signal handler: {e}")))?;
    Ok(stop)
}

/// Follows real time until `stop`; with `api`, also serves the HTTP API and web UI from a
/// background thread, its metrics fed after every tick.
fn follow_real_time(
    store: std::sync::Arc<dyn store::Store>,
    jobs: &[config::Job],
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    api: Option<(std::net::SocketAddr, Option<String>)>,
    options: runner::RealtimeOptions,
) -> tidewatch::Result<ExitCode> {
    let metrics = std::sync::Arc::new(tidewatch::api::Metrics::new());
    if let Some((addr, token)) = api {
        tidewatch::api::check_bind(addr, token.as_deref())?;
        let state = tidewatch::api::AppState::new(store.clone(), jobs.to_vec())
            .with_token(token)
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
                .map_err(|e| tidewatch::Error::Other(format!("cannot start the HTTP runtime: {e}")))
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
    let jobs = config::load_jobs(&[jobs.to_path_buf()])?;
    let selected: Vec<_> = jobs
        .iter()
        .filter(|j| job_id.as_ref().is_none_or(|id| &j.job_id == id))
        .collect();
    if let (Some(id), true) = (&job_id, selected.is_empty()) {
        let known: Vec<_> = jobs.iter().map(|j| j.job_id.as_str()).collect();
        return Err(tidewatch::Error::Other(format!(
            "no job `{id}`; known jobs: {}",
            known.join(", ")
        )));
    }
    let store = store::open_read_only(store_spec)?;
    for job in selected {
        let doc = runner::load_stats(store.as_ref(), runner::STATE_INDEX, &job.job_id)?;
        match (doc, json) {
            (None, _) => println!("{}: not run yet", job.job_id),
            (Some(d), true) => println!("{d}"),
            (Some(d), false) => {
                let s = runner::JobStats::from_doc(&d);
                let m = |k: &str| {
                    d.pointer(&format!("/model_size_stats/{k}"))
                        .cloned()
                        .unwrap_or_default()
                };
                let at = |t: Option<i64>| t.map(time::format_millis).unwrap_or_else(|| "-".into());
                println!(
                    "{}: {} buckets ({} empty), {} documents, latest bucket {}, {} partitions, model {} bytes, memory {}, {} delayed documents",
                    job.job_id,
                    s.bucket_count,
                    s.empty_bucket_count,
                    s.processed_record_count,
                    at(s.latest_bucket_timestamp),
                    m("partitions"),
                    m("model_bytes"),
                    m("memory_status").as_str().unwrap_or("?"),
                    s.delayed_data_count
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_demo(
    report: &tidewatch::demo::DemoReport,
    store_spec: &str,
    elapsed: std::time::Duration,
) {
    println!("Generated {} log lines; {}", report.lines, report.ingest);
    println!();
    for s in &report.jobs {
        println!(
            "  {:<22} {:>5} buckets  {:>6} partitions  {:>5} records  {:>3} scoring >= 75",
            s.job_id, s.buckets, s.partitions, s.records, s.critical_records
        );
    }
    println!();
    println!("Injected incidents, and the best record tidewatch wrote for each:");
    for (incident, best) in &report.found {
        println!("  * {incident}");
        match best {
            Some(d) => println!(
                "      found by {} at {}: score {:.0}, {}",
                d["job_id"].as_str().unwrap_or("?"),
                d["timestamp"]
                    .as_i64()
                    .map(time::format_short)
                    .unwrap_or_default(),
                d["record_score"].as_f64().unwrap_or(0.0),
                d["explanation"].as_str().unwrap_or("")
            ),
            None => println!("      not found"),
        }
    }
    println!();
    println!("Top anomalies across all jobs:");
    let rows: Vec<serde_json::Value> = report.top.clone();
    for line in results::table(ResultType::Record, &rows).lines() {
        println!("  {line}");
    }
    println!();
    let store_arg = if store_spec == "embedded:./tidewatch-data" {
        String::new()
    } else {
        format!(" --store {store_spec}")
    };
    println!("Done in {:.1}s. Look further:", elapsed.as_secs_f64());
    println!("  tidewatch{store_arg} results status_code_rate --min-score 50       # one job's anomalies");
    println!("  tidewatch{store_arg} results country_traffic --type bucket --format ndjson");
    println!("  tidewatch{store_arg} status                                        # buckets, partitions, memory");
    println!("  tidewatch{store_arg} serve                                         # web UI on http://127.0.0.1:9280/");
}

fn print_results(store_spec: &str, args: ResultsArgs) -> tidewatch::Result<ExitCode> {
    let now = chrono::Utc::now().timestamp_millis();
    let parse = |t: &Option<String>| -> tidewatch::Result<Option<i64>> {
        t.as_deref()
            .map(|t| time::parse_cli_time(t, now).map_err(tidewatch::Error::Other))
            .transpose()
    };
    let from = match &args.since {
        Some(d) => Some(
            now - time::parse_duration(d)
                .map_err(tidewatch::Error::Other)?
                .as_millis() as i64,
        ),
        None => parse(&args.from)?,
    };
    let store = store::open_read_only(store_spec)?;
    // Which jobs, and where their results live: from the job files when they load, else the
    // named job in the default (or --index) results index.
    let known = config::load_jobs(std::slice::from_ref(&args.jobs)).unwrap_or_default();
    let targets: Vec<(String, String)> = match &args.job_id {
        Some(id) => {
            let index = args.index.clone().unwrap_or_else(|| {
                known.iter().find(|j| &j.job_id == id).map_or_else(
                    || config::DEFAULT_RESULTS_INDEX.to_string(),
                    |j| j.results_index.clone(),
                )
            });
            vec![(id.clone(), index)]
        }
        None if known.is_empty() => {
            return Err(tidewatch::Error::Other(format!(
                "name a job, or point --jobs at job files (no jobs found in {})",
                args.jobs.display()
            )))
        }
        None => known
            .iter()
            .map(|j| {
                (
                    j.job_id.clone(),
                    args.index
                        .clone()
                        .unwrap_or_else(|| j.results_index.clone()),
                )
            })
            .collect(),
    };
    let mut docs = Vec::new();
    for (job_id, index) in targets {
        let q = ResultsQuery {
            job_id,
            result_type: args.result_type,
            min_score: args.min_score,
            from,
            to: parse(&args.to)?,
            limit: args.limit,
        };
        docs.extend(results::fetch(store.as_ref(), &index, &q)?);
    }
    let q_type = args.result_type;
    match args.format {
        OutputFormat::Table => print!("{}", results::table(q_type, &docs)),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&docs).unwrap_or_default()
        ),
        OutputFormat::Ndjson => {
            for d in &docs {
                println!("{d}");
            }
        }
    }
    if args.exit_code && !docs.is_empty() {
        return Ok(ExitCode::from(ALERT_EXIT_CODE));
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit status of `results --exit-code` when something matched: distinct from 1 (an error)
/// so a cron wrapper can tell "alert" from "broken".
const ALERT_EXIT_CODE: u8 = 3;
