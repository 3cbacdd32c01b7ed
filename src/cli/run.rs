//! `tidewatch run`: a lookback over every job, then (by default) real time.

use super::bad_option;
use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::{config, outln, runner, store, time};

/// Arguments of `tidewatch run`.
#[derive(clap::Args)]
pub(crate) struct RunArgs {
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
}

/// Runs `tidewatch run`.
pub(crate) fn run(store_spec: &str, args: RunArgs) -> tidewatch::Result<ExitCode> {
    let RunArgs {
        jobs,
        once,
        http,
        token,
        allow_hosts,
        lease_ttl,
        from,
        to,
    } = args;
    // The handler first: a SIGTERM while jobs load or the store opens is a clean stop.
    let stop = stop_on_signal()?;
    let jobs = config::load_jobs(&[jobs])?;
    let store: std::sync::Arc<dyn store::Store> = store::open(store_spec)?.into();
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
    for outcome in lookback_all(store, jobs, stop, range) {
        let s = outcome?;
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

/// Jobs of one `run --once` looked back at the same time: their searches and bulks overlap
/// in the engine while tidewatch analyses, and a small limit keeps a 2-core machine (and the
/// cluster) from being swamped.
const JOBS_AT_ONCE: usize = 2;

/// Looks back every job, [`JOBS_AT_ONCE`] at a time; the outcomes in the order of `jobs`,
/// ending at the first failure (no job is started after one fails or `stop` is set).
fn lookback_all(
    store: &dyn store::Store,
    jobs: &[config::Job],
    stop: &std::sync::atomic::AtomicBool,
    range: &runner::LookbackRange,
) -> Vec<tidewatch::Result<runner::LookbackSummary>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let outcomes: std::sync::Mutex<Vec<Option<tidewatch::Result<runner::LookbackSummary>>>> =
        std::sync::Mutex::new(jobs.iter().map(|_| None).collect());
    let work = || loop {
        if stop.load(Ordering::SeqCst) || failed.load(Ordering::SeqCst) {
            break;
        }
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(job) = jobs.get(i) else { break };
        let outcome =
            runner::run_lookback_range(store, job, Some(runner::STATE_INDEX), stop, range)
                .inspect_err(|e| {
                    failed.store(true, Ordering::SeqCst);
                    runner::record_error(store, runner::STATE_INDEX, &job.job_id, &e.to_string())
                });
        // A poisoned lock still holds every outcome written so far: none is dropped.
        outcomes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(outcome);
    };
    std::thread::scope(|s| {
        for _ in 1..JOBS_AT_ONCE.min(jobs.len()) {
            s.spawn(work);
        }
        work();
    });
    let mut out = Vec::new();
    for outcome in outcomes
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .flatten()
    {
        let failed = outcome.is_err();
        out.push(outcome);
        if failed {
            break;
        }
    }
    out
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
