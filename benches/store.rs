//! Embedded store throughput in the real pipeline: `cargo bench --bench store`.
//!
//! Prints, in one run, CPU and wall time of:
//! - ingesting the demo log (14 days, about 550,000 lines, generated in memory) through the
//!   ingest [`Loader`] (parse, ECS documents, 1,000-document bulk requests) into an embedded
//!   store, the way `tidewatch ingest` does;
//! - reopening the store and loading the index;
//! - every detector of the built-in demo jobs fetched the way a lookback does: one-day chunks,
//!   each a composite aggregation paged with `after_key` (the over-field jobs have thousands
//!   of client IPs, so several pages per chunk).
//!
//! `TIDEWATCH_BENCH_DAYS` changes the 14 days (e.g. 2 for a quick look).

use std::path::Path;
use std::time::Instant;
use tidewatch::datafeed;
use tidewatch::demo::{self, DemoConfig, DEMO_LOG_FORMAT};
use tidewatch::ingest::{Loader, LogFormat};
use tidewatch::store::{EmbeddedStore, Store};

const DAY: i64 = 86_400_000;

/// CPU time of this process (user + system), in seconds.
fn cpu_s() -> f64 {
    // /proc/self/stat fields 14 and 15: utime and stime in clock ticks (100 per second).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let (c0, t0) = (cpu_s(), Instant::now());
    let out = f();
    eprintln!(
        "{what}: {:.2} s wall, {:.2} s CPU",
        t0.elapsed().as_secs_f64(),
        cpu_s() - c0
    );
    out
}

fn main() {
    let days: u32 = std::env::var("TIDEWATCH_BENCH_DAYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(14);
    let cfg = DemoConfig {
        days,
        ..DemoConfig::default()
    };
    let mut log = Vec::new();
    let generated = demo::generate(&cfg, &mut log).expect("generate the demo log");
    eprintln!(
        "demo log: {} lines, {} MB",
        generated.lines,
        log.len() / 1_000_000
    );
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = tmp.path().join("store");
    {
        let store = EmbeddedStore::open(&dir).expect("open the store");
        let summary = timed("ingest", || {
            let format = LogFormat::compile(DEMO_LOG_FORMAT).expect("demo format");
            let mut loader = Loader::new(&store, "nginx-logs", format);
            loader.read("demo.log", &log[..]).expect("ingest");
            loader.finish().expect("refresh")
        });
        eprintln!(
            "  {} documents stored, {:.0} lines/s",
            summary.stored,
            summary.lines as f64 / summary.elapsed.as_secs_f64()
        );
    }
    drop(log);
    let store = EmbeddedStore::open(&dir).expect("reopen the store");
    let jobs = demo::demo_jobs(Path::new("/nonexistent-use-built-in-jobs")).expect("demo jobs");
    let extent = timed("reopen and load", || {
        datafeed::data_extent(&store, &jobs[0]).expect("data extent")
    });
    let Some((first, last)) = extent else {
        eprintln!("no data");
        return;
    };
    for job in &jobs {
        let mut values = 0usize;
        timed(&format!("lookback fetch {}", job.job_id), || {
            let mut t = first - first.rem_euclid(DAY);
            while t <= last {
                for d in &job.detectors {
                    let b = datafeed::fetch_detector(&store, job, d, t, t + DAY)
                        .expect("fetch detector");
                    values += b.values().map(Vec::len).sum::<usize>();
                }
                t += DAY;
            }
        });
        eprintln!("  {values} bucket values");
    }
    eprintln!("store: {}", store.describe());
}
