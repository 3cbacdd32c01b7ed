//! The embedded store against a real search engine, side by side in one run: ingest rate
//! (documents per second through `tidewatch::ingest`) and lookback time of the demo jobs,
//! for the demo log and for Elastic's nginx example log (`../shared/data/logs/`). On the same
//! node: the rate of plain `_bulk` requests of the same documents (the reference for
//! tidewatch's ingest), and per job the wall time, the engine's own time (the sum of `took`
//! of its searches and bulks, from `ElasticStore::stats`) and the embedded store's time.
//!
//! ```sh
//! cargo bench --bench cluster                          # OpenSearch 2.19, 14-day demo log
//! cargo bench --bench cluster -- --engine elasticsearch --days 10
//! cargo bench --bench cluster -- --days 1 --job status_code_rate   # one job only
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
    /// Each job's lookback: (job id, wall time, the engine's own time, result documents).
    jobs: Vec<(String, Duration, Duration, u64)>,
}

impl Figures {
    fn lookback(&self) -> Duration {
        self.jobs.iter().map(|j| j.1).sum()
    }
    fn results(&self) -> u64 {
        self.jobs.iter().map(|j| j.3).sum()
    }
}

fn main() {
    let mut kind = engine::Kind::OpenSearch;
    let mut days = DemoConfig::default().days;
    let mut only_job: Option<String> = None;
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
            "--job" => only_job = Some(args.next().expect("--job: expected a job id")),
            "--bench" => {}
            other => panic!("unknown argument `{other}` (expected --engine, --days, --job)"),
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
    let mut jobs = demo::demo_jobs(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("jobs"))
        .expect("demo jobs");
    if let Some(only) = &only_job {
        jobs.retain(|j| &j.job_id == only);
        assert!(!jobs.is_empty(), "--job {only}: no such demo job");
    }

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
            (name == "cluster").then_some(&cluster),
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
                (name == "cluster").then_some(&cluster),
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
    let plain = plain_bulk(&engine.url, log.format, &log_path);

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
                f.lookback().as_secs_f64(),
                f.results()
            );
        }
    }
    let (lines, plain_time) = plain;
    let plain_rate = lines as f64 / plain_time.as_secs_f64();
    let cluster_demo = &rows[1].1;
    let rate = cluster_demo.docs as f64 / cluster_demo.ingest.as_secs_f64();
    println!();
    println!(
        "ingest, demo log on the engine: tidewatch {rate:.0} lines/s, plain _bulk ({PLAIN_BULK_DOCS} documents a request, one connection) {plain_rate:.0} lines/s: ratio {:.2}",
        rate / plain_rate
    );
    println!();
    println!(
        "{:<8} {:<24} {:>9} {:>9} {:>7} {:>11} {:>9}",
        "log", "job", "wall s", "took s", "wall/took", "embedded s", "wall/emb"
    );
    for (i, log_name) in ["demo", "elastic"].iter().enumerate() {
        let pick = |row: &(&str, Figures, Option<Figures>)| -> Option<Vec<(String, Duration, Duration, u64)>> {
            if i == 0 { Some(row.1.jobs.clone()) } else { row.2.as_ref().map(|f| f.jobs.clone()) }
        };
        let (Some(emb), Some(clu)) = (pick(&rows[0]), pick(&rows[1])) else {
            continue;
        };
        for ((job, wall, took, _), (_, emb_wall, _, _)) in clu.iter().zip(&emb) {
            println!(
                "{:<8} {:<24} {:>9.2} {:>9.2} {:>9.2} {:>11.2} {:>9.2}",
                log_name,
                job,
                wall.as_secs_f64(),
                took.as_secs_f64(),
                wall.as_secs_f64() / took.as_secs_f64().max(1e-3),
                emb_wall.as_secs_f64(),
                wall.as_secs_f64() / emb_wall.as_secs_f64().max(1e-3)
            );
        }
    }
}

/// Documents in one plain `_bulk` request of the reference (about 5 MB of JSON, within the
/// 5-15 MB Elastic suggests starting from).
const PLAIN_BULK_DOCS: usize = 5_000;

/// The reference: the same ECS documents (parsed before the clock starts) sent with plain
/// `_bulk` requests over one connection into an index of their own; (lines, time).
fn plain_bulk(url: &str, format: &str, path: &Path) -> (u64, Duration) {
    let format = tidewatch::ingest::LogFormat::named(format).expect("format");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(path).expect("open log")),
        &mut text,
    )
    .expect("read log");
    let docs: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| format.parse_line(l).ok().map(|p| p.document))
        .collect();
    let index = "nginx-plain-bulk";
    engine::http("DELETE", &format!("{url}/{index}"), None);
    engine::http(
        "PUT",
        &format!("{url}/{index}"),
        Some(&serde_json::json!({})),
    );
    let bodies: Vec<Vec<u8>> = docs
        .chunks(PLAIN_BULK_DOCS)
        .enumerate()
        .map(|(c, chunk)| {
            let mut body = Vec::new();
            for (i, doc) in chunk.iter().enumerate() {
                let action =
                    serde_json::json!({ "index": { "_index": index, "_id": format!("p{c}-{i}") } });
                serde_json::to_writer(&mut body, &action).expect("json");
                body.push(b'\n');
                serde_json::to_writer(&mut body, doc).expect("json");
                body.push(b'\n');
            }
            body
        })
        .collect();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let started = Instant::now();
    for body in bodies {
        let response = agent
            .post(&format!("{url}/_bulk"))
            .header("content-type", "application/x-ndjson")
            .send(&body[..])
            .expect("plain _bulk");
        assert_eq!(response.status().as_u16(), 200, "plain _bulk");
    }
    engine::http("POST", &format!("{url}/{index}/_refresh"), None);
    let elapsed = started.elapsed();
    engine::http("DELETE", &format!("{url}/{index}"), None);
    (docs.len() as u64, elapsed)
}

/// Ingests `path` into `index` and runs `jobs` over it (results in an index of their own).
#[allow(clippy::too_many_arguments)]
fn run(
    store: &dyn Store,
    cluster: Option<&ElasticStore>,
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
    let took = || cluster.map_or(0, |c| c.stats().took_ms);
    let requests = || cluster.map_or(0, |c| c.stats().requests);
    let mut figures = Vec::new();
    for job in jobs {
        let mut job = job.clone();
        job.results_index = results.clone();
        let (took_before, requests_before) = (took(), requests());
        let started = Instant::now();
        let s = runner::run_lookback(store, &job, Some(&state), &stop).expect("lookback");
        let wall = started.elapsed();
        let engine_ms = took() - took_before;
        eprintln!(
            "{name} {index} {}: {:.2}s, engine took {engine_ms} ms in {} requests, {} results",
            job.job_id,
            wall.as_secs_f64(),
            requests() - requests_before,
            s.documents
        );
        figures.push((
            job.job_id.clone(),
            wall,
            Duration::from_millis(engine_ms),
            s.documents,
        ));
    }
    eprintln!(
        "{name} {index}: {} docs in {:.1}s",
        summary.stored,
        ingest.as_secs_f64()
    );
    Figures {
        docs: summary.stored,
        ingest,
        jobs: figures,
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
