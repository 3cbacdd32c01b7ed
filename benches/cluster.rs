//! The embedded store against a real search engine, side by side in one run: ingest rate
//! (documents per second through `tidewatch::ingest`) and lookback time of the demo jobs,
//! for the demo log and for Elastic's nginx example log (`../shared/data/logs/`).
//!
//! ```sh
//! cargo bench --bench cluster                          # OpenSearch 2.19, 14-day demo log
//! cargo bench --bench cluster -- --engine elasticsearch --days 10
//! ```
//!
//! The engine is started through the test fixture (`tests/support/engine.rs`: built with
//! Maven on first use, stopped when this process exits), or taken from `TIDEWATCH_ENGINE_URL`.

#[path = "../tests/support/engine.rs"]
#[allow(dead_code)]
mod engine;
#[path = "../tests/support/shared_data.rs"]
#[allow(dead_code)]
mod shared_data;

use shared_data::shared_data;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tidewatch::config::Job;
use tidewatch::demo::{self, DemoConfig};
use tidewatch::ingest::{self, IngestOptions};
use tidewatch::runner;
use tidewatch::store::{ElasticOptions, ElasticStore, EmbeddedStore, Store};

/// One store's figures for one log.
struct Figures {
    docs: u64,
    ingest: Duration,
    lookback: Duration,
    results: u64,
}

fn main() {
    let mut kind = engine::Kind::OpenSearch;
    let mut days = DemoConfig::default().days;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--engine" => {
                kind = match args.next().as_deref() {
                    Some("opensearch") => engine::Kind::OpenSearch,
                    Some("opensearch3") => engine::Kind::OpenSearch3,
                    Some("elasticsearch") => engine::Kind::Elasticsearch,
                    other => panic!(
                        "--engine: expected opensearch, opensearch3 or elasticsearch, got {other:?}"
                    ),
                }
            }
            "--days" => {
                days = args
                    .next()
                    .and_then(|d| d.parse().ok())
                    .expect("--days: expected a number of days")
            }
            "--bench" => {}
            other => panic!("unknown argument `{other}` (expected --engine, --days)"),
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("demo.log.gz");
    let cfg = DemoConfig {
        days,
        ..DemoConfig::default()
    };
    let file = std::fs::File::create(&log_path).expect("create log");
    let mut gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let log = demo::generate(&cfg, &mut gz).expect("generate");
    gz.finish().expect("gzip").flush().expect("flush");
    let jobs = demo::demo_jobs(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("jobs"))
        .expect("demo jobs");

    let started = Instant::now();
    let engine = engine::engine(kind);
    eprintln!(
        "engine {} at {} ready in {:.1}s",
        engine.version,
        engine.url,
        started.elapsed().as_secs_f64()
    );
    let cluster = ElasticStore::connect(&engine.url, ElasticOptions::default()).expect("connect");
    cluster.ensure_templates().expect("templates");
    let embedded = EmbeddedStore::open(dir.path().join("store")).expect("embedded store");

    let sample = shared_data().join("logs/nginx_access_elastic_example.log.gz");
    let sample_jobs: Vec<Job> = jobs
        .iter()
        .filter(|j| j.job_id != "country_traffic") // the combined format has no country
        .map(|j| {
            let mut j = j.clone();
            j.indices = vec!["nginx-sample".into()];
            j
        })
        .collect();

    let mut rows = Vec::new();
    for (name, store) in [
        ("embedded", &embedded as &dyn Store),
        ("cluster", &cluster as &dyn Store),
    ] {
        let demo_figures = run(
            store,
            &engine.url,
            name,
            demo::DEMO_INDEX,
            log.format,
            &log_path,
            &jobs,
        );
        let sample_figures = sample.is_file().then(|| {
            run(
                store,
                &engine.url,
                name,
                "nginx-sample",
                "combined",
                &sample,
                &sample_jobs,
            )
        });
        rows.push((name, demo_figures, sample_figures));
    }

    println!();
    println!(
        "demo log: {} days, {} lines; {} jobs; engine {}; 2 cores shared, load average {}",
        days,
        log.lines,
        jobs.len(),
        engine.version,
        load_average()
    );
    println!(
        "{:<10} {:>10} {:>10} {:>12} {:>12} {:>10}",
        "store", "log", "docs", "ingest s", "docs/s", "lookback s"
    );
    for (name, demo_figures, sample_figures) in &rows {
        for (log_name, f) in [
            ("demo", Some(demo_figures)),
            ("elastic", sample_figures.as_ref()),
        ] {
            let Some(f) = f else { continue };
            println!(
                "{:<10} {:>10} {:>10} {:>12.1} {:>12.0} {:>10.1}   ({} result documents)",
                name,
                log_name,
                f.docs,
                f.ingest.as_secs_f64(),
                f.docs as f64 / f.ingest.as_secs_f64(),
                f.lookback.as_secs_f64(),
                f.results
            );
        }
    }
}

/// Ingests `path` into `index` and runs `jobs` over it (results in an index of their own).
fn run(
    store: &dyn Store,
    url: &str,
    name: &str,
    index: &str,
    format: &str,
    path: &Path,
    jobs: &[Job],
) -> Figures {
    let results = format!("tidewatch-results-bench-{index}");
    let state = format!("tidewatch-state-bench-{index}");
    if name == "cluster" {
        for i in [index, &results, &state] {
            engine::http("DELETE", &format!("{url}/{i}"), None);
        }
    }
    let args = IngestOptions {
        index: index.to_string(),
        format: format.to_string(),
        batch_size: ingest::DEFAULT_BATCH_SIZE,
        any_time: false,
        geoip: None,
        geoip_asn: None,
        files: vec![path.to_path_buf()],
    };
    let started = Instant::now();
    let summary = ingest::run(&args, store).expect("ingest");
    let ingest = started.elapsed();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mut written = 0;
    for job in jobs {
        let mut job = job.clone();
        job.results_index = results.clone();
        let s = runner::run_lookback(store, &job, Some(&state), &stop).expect("lookback");
        written += s.documents;
    }
    let lookback = started.elapsed();
    eprintln!(
        "{name} {index}: {} docs in {:.1}s, lookback {:.1}s",
        summary.stored,
        ingest.as_secs_f64(),
        lookback.as_secs_f64()
    );
    Figures {
        docs: summary.stored,
        ingest,
        lookback,
        results: written,
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
