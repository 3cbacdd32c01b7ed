//! The whole pipeline against the real engine, run once per engine like [`super::cases`]:
//! the demo log ingested into the engine and into the embedded store, the demo jobs run on
//! both and their result documents compared one by one (conformance); the datafeed's
//! composite paging, job query and `query_delay` on a cluster; a lookback with faults injected
//! between tidewatch and the engine; two realtime runners sharing the jobs under leases.
//!
//! The embedded store is the reference: an independent implementation of the same request
//! and response JSON, evaluated in process. Nothing expected is copied from an engine answer.

use crate::support::engine::{engine, http, Engine};
use crate::support::proxy::{Fault, Proxy};
use crate::support::results::{assert_every_bucket_once, assert_same_documents, engine_docs, Doc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tidewatch::config::Job;
use tidewatch::datafeed::{self, SeriesValue};
use tidewatch::demo::{self, DemoConfig, DemoLog};
use tidewatch::ingest::{self, IngestOptions, IngestSummary};
use tidewatch::runner::{self, ManualClock, Realtime, RealtimeOptions};
use tidewatch::store::{ElasticOptions, ElasticStore, EmbeddedStore, RetryPolicy, Store};

/// Days of demo log: the incidents start after day 7, and the models need a week to learn.
const DAYS: u32 = 10;
const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// The demo jobs' bucket span.
const SPAN: i64 = 15 * MINUTE;
/// The datafeed's composite page size (`datafeed::PAGE_SIZE`).
const PAGE_SIZE: usize = 10_000;

/// The generated demo log and the demo jobs.
pub struct DemoFile {
    _dir: tempfile::TempDir,
    /// The generated log (gzip).
    pub path: PathBuf,
    /// What was generated.
    pub log: DemoLog,
    /// The demo jobs (from `jobs/`).
    pub jobs: Vec<Job>,
}

static DEMO_FILE: OnceLock<DemoFile> = OnceLock::new();

/// The demo log, generated on first use.
pub fn demo_file() -> &'static DemoFile {
    DEMO_FILE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("demo.log.gz");
        let cfg = DemoConfig {
            days: DAYS,
            ..DemoConfig::default()
        };
        let file = std::fs::File::create(&path).expect("create log");
        let mut gz =
            flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
        let log = demo::generate(&cfg, &mut gz).expect("generate");
        gz.finish().expect("gzip").flush().expect("flush");
        assert!(
            !log.incidents.is_empty(),
            "{DAYS} days must include incidents"
        );
        let jobs = demo::demo_jobs(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("jobs"))
            .expect("demo jobs");
        DemoFile {
            _dir: dir,
            path,
            log,
            jobs,
        }
    })
}

/// The demo log, ingested into an embedded store, with the demo jobs' results there.
pub struct Demo {
    _dir: tempfile::TempDir,
    /// What was generated.
    pub log: &'static DemoLog,
    /// The demo jobs (from `jobs/`).
    pub jobs: &'static [Job],
    /// The embedded store holding the log and the reference results.
    pub embedded: EmbeddedStore,
    /// The embedded ingest's counts.
    pub ingest: IngestSummary,
    /// Every result document of the lookback on the embedded store, by id.
    pub reference: BTreeMap<String, Value>,
    /// Latest document time in the log.
    pub latest: i64,
}

static DEMO: OnceLock<Demo> = OnceLock::new();

/// Both fixtures, the embedded one and the engine's ingest built side by side.
pub fn fixtures() -> (&'static Demo, &'static EngineDemo) {
    demo_file();
    std::thread::scope(|s| {
        let engine = s.spawn(engine_demo);
        let demo = DEMO.get_or_init(build_demo);
        (demo, engine.join().expect("engine ingest"))
    })
}

/// The shared demo fixture, built on first use (by whichever test asks first).
pub fn demo() -> &'static Demo {
    DEMO.get_or_init(build_demo)
}

fn build_demo() -> Demo {
    let started = Instant::now();
    let file = demo_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = EmbeddedStore::open(dir.path().join("store")).expect("embedded store");
    let ingest =
        ingest::run(&ingest_args(&file.log, &file.path), &embedded).expect("embedded ingest");
    let ingested = started.elapsed();
    let stop = AtomicBool::new(false);
    for job in &file.jobs {
        runner::run_lookback(&embedded, job, Some(runner::STATE_INDEX), &stop)
            .expect("embedded lookback");
    }
    let reference = crate::support::all_documents(&embedded, &file.jobs[0].results_index);
    let latest = datafeed::data_extent(&embedded, &file.jobs[0])
        .expect("extent")
        .expect("data")
        .1;
    eprintln!(
        "demo fixture: {} lines, {} stored, {} result documents; embedded ingest {:.1}s, lookback {:.1}s",
        file.log.lines,
        ingest.stored,
        reference.len(),
        ingested.as_secs_f64(),
        (started.elapsed() - ingested).as_secs_f64()
    );
    Demo {
        _dir: dir,
        log: &file.log,
        jobs: &file.jobs,
        embedded,
        ingest,
        reference,
        latest,
    }
}

fn ingest_args(log: &DemoLog, path: &std::path::Path) -> IngestOptions {
    IngestOptions {
        index: demo::DEMO_INDEX.to_string(),
        format: log.format.to_string(),
        batch_size: 5_000,
        any_time: false,
        geoip: None,
        geoip_asn: None,
        files: vec![path.to_path_buf()],
    }
}

/// The demo log in the engine's `nginx-logs` index.
pub struct EngineDemo {
    /// The engine's ingest counts.
    pub ingest: IngestSummary,
    /// Wall time of the ingest (printed when built; kept for a test that wants it).
    #[allow(dead_code)]
    pub ingest_time: Duration,
}

static ENGINE_DEMO: OnceLock<EngineDemo> = OnceLock::new();

fn the_engine() -> &'static Engine {
    engine(super::KIND)
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
    }
}

fn connect(url: &str) -> ElasticStore {
    ElasticStore::connect(
        url,
        ElasticOptions {
            retry: retry(),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// The demo log ingested into the engine (templates installed first, as `store::open` does).
pub fn engine_demo() -> &'static EngineDemo {
    let file = demo_file();
    let url = &the_engine().url;
    ENGINE_DEMO.get_or_init(|| {
        let store = connect(url);
        store.ensure_templates().expect("templates");
        http("DELETE", &format!("{url}/{}", demo::DEMO_INDEX), None);
        let started = Instant::now();
        let ingest =
            ingest::run(&ingest_args(&file.log, &file.path), &store).expect("engine ingest");
        let ingest_time = started.elapsed();
        eprintln!(
            "engine ingest: {} documents in {:.1}s",
            ingest.stored,
            ingest_time.as_secs_f64()
        );
        EngineDemo {
            ingest,
            ingest_time,
        }
    })
}

fn reference_for(jobs: &[&str], before: Option<i64>) -> BTreeMap<String, Value> {
    demo()
        .reference
        .iter()
        .filter(|(_, d)| jobs.contains(&d["job_id"].as_str().unwrap_or("")))
        .filter(|(_, d)| before.is_none_or(|t| d["timestamp"].as_i64().unwrap_or(0) < t))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn with_indices(job: &Job, results: &str) -> Job {
    let mut job = job.clone();
    job.results_index = results.to_string();
    job
}

#[test]
fn demo_jobs_give_the_same_result_documents_as_the_embedded_store() {
    skip_if_absent!();
    let (demo, engine_demo) = fixtures();
    let url = &the_engine().url;
    assert_eq!(
        (engine_demo.ingest.stored, engine_demo.ingest.rejected),
        (demo.ingest.stored, demo.ingest.rejected),
        "the engine stores exactly the documents the embedded store does (mapping accepts all)"
    );
    let (_, count) = http("GET", &format!("{url}/{}/_count", demo::DEMO_INDEX), None);
    assert_eq!(count["count"].as_u64(), Some(demo.ingest.stored));
    let (_, mapping) = http("GET", &format!("{url}/{}/_mapping", demo::DEMO_INDEX), None);
    let props = &mapping[demo::DEMO_INDEX]["mappings"]["properties"];
    assert_eq!(props["source"]["properties"]["address"]["type"], "ip");
    assert_eq!(props["@timestamp"]["type"], "date");

    let store = connect(url);
    let results = "tidewatch-results-conformance";
    let state = "tidewatch-state-conformance";
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    for job in demo.jobs {
        runner::run_lookback(&store, &with_indices(job, results), Some(state), &stop)
            .unwrap_or_else(|e| panic!("{}: {e}", job.job_id));
    }
    eprintln!(
        "engine lookback, {} jobs: {:.1}s",
        demo.jobs.len(),
        started.elapsed().as_secs_f64()
    );
    let got = engine_docs(url, results);
    assert_same_documents("engine vs embedded", &demo.reference, &got);
    // Every kind of document was compared, incidents included.
    let kinds: BTreeSet<&str> = got
        .values()
        .filter_map(|d| d.source["result_type"].as_str())
        .collect();
    for kind in ["bucket", "record", "influencer", "model_plot"] {
        assert!(kinds.contains(kind), "no {kind} documents: {kinds:?}");
    }
    assert!(
        got.values()
            .any(|d| d.source["record_score"].as_f64().unwrap_or(0.0) >= 75.0),
        "the incidents must score"
    );
    // The results mapping knows every field a result document has (`dynamic: false` would
    // keep an unmapped one in _source but make it unsearchable).
    let (_, mapping) = http("GET", &format!("{url}/{results}/_mapping"), None);
    let mapped = &mapping[results]["mappings"]["properties"];
    let mut unmapped = BTreeSet::new();
    for doc in got.values() {
        for key in doc.source.as_object().expect("object").keys() {
            if mapped.get(key).is_none() {
                unmapped.insert(key.clone());
            }
        }
    }
    assert!(unmapped.is_empty(), "unmapped result fields: {unmapped:?}");
    // State documents: checkpoints, stats and base64 snapshot parts, `data` not indexed.
    let state_docs = engine_docs(url, state);
    let parts = state_docs
        .values()
        .filter(|d| d.source["type"] == "model_snapshot_part")
        .count();
    assert!(parts >= demo.jobs.len(), "{parts} snapshot parts");
    let (_, mapping) = http("GET", &format!("{url}/{state}/_mapping"), None);
    assert_eq!(
        mapping[state]["mappings"]["properties"]["data"]["type"],
        "binary"
    );
    // The engine's checkpoint says the same as the embedded one.
    for job in demo.jobs {
        let id = format!("{}_checkpoint", job.job_id);
        let want = demo
            .embedded
            .get(runner::STATE_INDEX, &id)
            .expect("get")
            .expect("embedded checkpoint");
        assert_eq!(state_docs[&id].source, want.source, "{id}");
    }
    similar_shapes_on_the_engine(&store, results, demo);
}

/// Issue 20 on the engine's results: the 503 burst moved with Brazil's traffic (top 3), not
/// with the US's or Spain's, and the ranking is the embedded store's.
fn similar_shapes_on_the_engine(store: &ElasticStore, results: &str, demo: &Demo) {
    let burst = demo
        .log
        .incidents
        .iter()
        .find(|i| i.name == "503-burst")
        .expect("the fixture's days include the 503 burst");
    let req = tidewatch::similar::SimilarRequest {
        job_id: "status_code_rate".into(),
        partition: Some(("http.response.status_code".into(), "503".into())),
        at: burst.start_ms,
        window_ms: 6 * 3_600_000,
        top: 10,
        jobs_only: None,
        max_lag: 2,
        values: tidewatch::similar::Values::Actual,
        min_score: tidewatch::similar::MIN_SCORE,
    };
    let ranked = |s: &dyn Store, index: &str| -> Vec<String> {
        let out = tidewatch::similar::search(s, demo.jobs, &|_| index.to_string(), &req)
            .unwrap_or_else(|e| panic!("similar on {}: {e}", s.describe()));
        eprintln!("{}:\n{}", s.describe(), tidewatch::similar::table(&out));
        out.matches
            .iter()
            .map(|m| format!("{} {} {:.6}", m.job_id, m.partition, m.distance))
            .collect()
    };
    let got = ranked(store, results);
    let top3 = |r: &[String]| {
        r.iter()
            .take(3)
            .map(|l| l.rsplit_once(' ').map_or(l.clone(), |x| x.0.to_string()))
            .collect::<Vec<_>>()
    };
    let top = top3(&got);
    assert!(
        top.contains(&"country_traffic source.geo.country_iso_code=BR".to_string()),
        "{got:?}"
    );
    // Countries with no incident in the window (Spain's evening rise once ranked third).
    for quiet in ["US", "ES"] {
        let quiet = format!("country_traffic source.geo.country_iso_code={quiet}");
        assert!(!top.contains(&quiet), "{quiet} in the top 3: {got:?}");
    }
    assert_eq!(
        got,
        ranked(&demo.embedded, &demo.jobs[0].results_index),
        "engine vs embedded"
    );
}

#[test]
fn datafeed_pages_composites_and_applies_the_query_like_the_embedded_store() {
    skip_if_absent!();
    let (demo, _) = fixtures();
    let url = &the_engine().url;
    // The composite page stays below the engine's bucket limit.
    let (_, settings) = http(
        "GET",
        &format!("{url}/_cluster/settings?include_defaults=true&flat_settings=true"),
        None,
    );
    let max_buckets: usize = settings["defaults"]["search.max_buckets"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("search.max_buckets");
    assert!(PAGE_SIZE < max_buckets, "max_buckets {max_buckets}");

    let sorted = |mut b: datafeed::DetectorBuckets| {
        for v in b.values_mut() {
            v.sort_by(|x: &SeriesValue, y: &SeriesValue| {
                (&x.partition, &x.by, &x.over).cmp(&(&y.partition, &y.by, &y.over))
            });
        }
        b
    };
    let job = demo
        .jobs
        .iter()
        .find(|j| j.job_id == "client_request_rate")
        .expect("client_request_rate");
    let (start, end) = (demo.log.start_ms + 7 * DAY, demo.log.start_ms + 9 * DAY);
    let store = connect(url);
    let got = datafeed::fetch_detector(&store, job, &job.detectors[0], start, end).expect("fetch");
    let requests = store.stats().requests;
    let want =
        datafeed::fetch_detector(&demo.embedded, job, &job.detectors[0], start, end).expect("ref");
    let keys: usize = got.values().map(Vec::len).sum();
    assert!(
        keys > 2 * PAGE_SIZE,
        "{keys} (bucket, client) pairs: not enough to page"
    );
    assert!(
        requests as usize >= keys.div_ceil(PAGE_SIZE),
        "{requests} requests for {keys} keys"
    );
    assert_eq!(got.len(), ((end - start) / SPAN) as usize);
    assert_eq!(sorted(got), sorted(want));

    // The job's query applies to every request: errors only, the US left out.
    let mut job = demo
        .jobs
        .iter()
        .find(|j| j.job_id == "country_traffic")
        .expect("country_traffic")
        .clone();
    let all = datafeed::fetch_detector(&store, &job, &job.detectors[0], start, end).expect("all");
    job.query = json!({ "bool": {
        "filter": [{ "range": { "http.response.status_code": { "gte": 400 } } }],
        "must_not": [{ "term": { "source.geo.country_iso_code": "US" } }]
    } });
    let got = datafeed::fetch_detector(&store, &job, &job.detectors[0], start, end).expect("q");
    let want =
        datafeed::fetch_detector(&demo.embedded, &job, &job.detectors[0], start, end).expect("q");
    let total =
        |b: &datafeed::DetectorBuckets| -> u64 { b.values().flatten().map(|v| v.doc_count).sum() };
    assert!(
        total(&got) > 0 && total(&got) * 5 < total(&all),
        "the query filters"
    );
    assert!(got
        .values()
        .flatten()
        .all(|v| v.partition.as_deref() != Some("US")));
    assert_eq!(sorted(got), sorted(want));
    let counts = datafeed::event_counts(&store, &job, start, end).expect("counts");
    let want_counts = datafeed::event_counts(&demo.embedded, &job, start, end).expect("counts");
    assert_eq!(counts, want_counts);

    // Distinct counts (composite over the counted field, exact) agree.
    let job = demo
        .jobs
        .iter()
        .find(|j| j.job_id == "client_distinct_urls")
        .expect("client_distinct_urls");
    let got = datafeed::fetch_detector(&store, job, &job.detectors[0], start, end).expect("dc");
    let want =
        datafeed::fetch_detector(&demo.embedded, job, &job.detectors[0], start, end).expect("dc");
    assert_eq!(sorted(got), sorted(want));
}

#[test]
fn a_lookback_through_faults_writes_every_result_exactly_once() {
    skip_if_absent!();
    let (demo, _) = fixtures();
    let url = &the_engine().url;
    let proxy = Proxy::start(url);
    let store = connect(&proxy.url);
    // Searches (datafeed), bulks (results, snapshots), puts (checkpoints, stats), refreshes.
    proxy.inject("/_search", Fault::Reset, 2);
    proxy.inject("/_search", Fault::status(429, Some(1)), 1);
    proxy.inject("/_search", Fault::status(503, None), 2);
    proxy.inject("/_bulk", Fault::Reset, 2);
    proxy.inject("/_bulk", Fault::status(429, Some(1)), 1);
    proxy.inject("/_bulk", Fault::status(503, None), 1);
    proxy.inject("/_bulk", Fault::bulk_item_failures(3, 429), 3);
    proxy.inject("/_bulk", Fault::bulk_item_failures(2, 503), 2);
    proxy.inject("_checkpoint", Fault::status(503, None), 2);
    proxy.inject("/_refresh", Fault::Reset, 2);
    proxy.inject("/_search", Fault::Delay(Duration::from_millis(200)), 2);
    let faults = proxy.pending();

    let jobs = ["status_code_rate", "client_request_rate"];
    let results = "tidewatch-results-faults";
    let state = "tidewatch-state-faults";
    let stop = AtomicBool::new(false);
    for job in demo
        .jobs
        .iter()
        .filter(|j| jobs.contains(&j.job_id.as_str()))
    {
        runner::run_lookback(&store, &with_indices(job, results), Some(state), &stop)
            .unwrap_or_else(|e| panic!("{}: {e}", job.job_id));
    }
    assert_eq!(proxy.pending(), 0, "every planned fault happened");
    assert_eq!(proxy.injected(), faults);
    let stats = store.stats();
    // 2+1+2 search, 2+1+1 bulk, 2 checkpoint, 2 refresh faults: each retried once.
    assert!(stats.request_retries >= 13, "{stats:?}");
    assert!(stats.bulk_item_retries > 0, "{stats:?}");
    eprintln!("faults: {faults} injected, {stats:?}");

    let got = engine_docs(url, results);
    assert_same_documents("lookback through faults", &reference_for(&jobs, None), &got);
    let first = demo.log.start_ms;
    let end = bucket_after(demo.latest);
    for job in jobs {
        assert_every_bucket_once(&got, job, (first, end, SPAN), false);
    }
}

/// End of the bucket holding `t`.
fn bucket_after(t: i64) -> i64 {
    t - t.rem_euclid(SPAN) + SPAN
}

#[test]
fn two_runners_split_the_jobs_and_one_takes_over_when_the_other_stops() {
    skip_if_absent!();
    let (demo, _) = fixtures();
    let url = &the_engine().url;
    let results = "tidewatch-results-runners";
    let jobs: Vec<Job> = demo.jobs.iter().map(|j| with_indices(j, results)).collect();
    // Leases last a day of the manual clock, so the clock can jump hours between ticks (a
    // real runner renews every third of its TTL) without leases lapsing unless meant to.
    let ttl = DAY;
    let options = |holder: &str| RealtimeOptions {
        state_index: "tidewatch-state-runners".into(),
        holder: holder.into(),
        lease_ttl_ms: ttl,
    };
    let delay = jobs[0].query_delay.as_millis() as i64;
    assert!(jobs
        .iter()
        .all(|j| j.query_delay.as_millis() as i64 == delay));
    let t0 = demo.log.start_ms;
    // The bucket [6d, 6d+15m) closed 30 s ago: still within query_delay, so not analysed.
    let clock = ManualClock::new(t0 + 6 * DAY + SPAN + delay / 2);
    let (store_a, store_b) = (connect(url), connect(url));
    let mut a = Realtime::new(&store_a, &jobs, options("runner-a"), &clock).expect("a");
    let mut b = Realtime::new(&store_b, &jobs, options("runner-b"), &clock).expect("b");
    for _ in 0..jobs.len() {
        a.tick().expect("a ticks");
        b.tick().expect("b ticks");
    }
    let held_a: BTreeSet<String> = a.positions().into_iter().map(|(j, _)| j).collect();
    let held_b: BTreeSet<String> = b.positions().into_iter().map(|(j, _)| j).collect();
    assert!(
        held_a.len() >= 2 && held_b.len() >= 2,
        "split: {held_a:?} / {held_b:?}"
    );
    assert!(held_a.is_disjoint(&held_b), "{held_a:?} / {held_b:?}");
    assert_eq!(held_a.len() + held_b.len(), jobs.len());
    for (job, next) in a.positions().into_iter().chain(b.positions()) {
        assert_eq!(next, Some(t0 + 6 * DAY), "{job}: query_delay honoured");
    }
    // Past query_delay the bucket goes.
    clock.set(t0 + 6 * DAY + SPAN + delay + 1);
    a.tick().expect("a ticks");
    b.tick().expect("b ticks");
    for (job, next) in a.positions().into_iter().chain(b.positions()) {
        assert_eq!(next, Some(t0 + 6 * DAY + SPAN), "{job}");
    }
    // Both follow time for two days, in steps shorter than the lease.
    for t in [t0 + 7 * DAY, t0 + 8 * DAY - 7 * MINUTE] {
        clock.set(t);
        a.tick().expect("a ticks");
        b.tick().expect("b ticks");
    }
    let positions: BTreeSet<String> = a.positions().into_iter().map(|(j, _)| j).collect();
    assert_eq!(positions, held_a, "a kept its jobs");
    let positions: BTreeSet<String> = b.positions().into_iter().map(|(j, _)| j).collect();
    assert_eq!(positions, held_b, "b kept its jobs");

    // `a` stops without releasing its leases (a crash): `b` waits for them to lapse...
    drop(a);
    clock.set(t0 + 8 * DAY + 12 * 3_600_000);
    b.tick().expect("b ticks");
    let now_b: BTreeSet<String> = b.positions().into_iter().map(|(j, _)| j).collect();
    assert_eq!(now_b, held_b, "a's leases have not lapsed yet");
    // ...then takes every job over from a's checkpoints, at its first tick after they lapse.
    let end = t0 + 9 * DAY + 6 * 3_600_000;
    clock.set(end + delay + 1);
    for _ in 0..jobs.len() {
        b.tick().expect("b ticks");
    }
    let positions = b.positions();
    assert_eq!(
        positions.len(),
        jobs.len(),
        "b holds every job: {positions:?}"
    );
    for (job, next) in &positions {
        assert_eq!(*next, Some(end), "{job}");
    }
    drop(b);

    // No bucket missing, none written twice, and the same final documents as one lookback
    // (the interim result of the bucket in progress aside).
    let got: BTreeMap<String, Doc> = engine_docs(url, results)
        .into_iter()
        .filter(|(_, d)| d.source["is_interim"] != true)
        .collect();
    for job in &jobs {
        assert_every_bucket_once(&got, &job.job_id, (t0, end, SPAN), true);
    }
    let ids: Vec<&str> = jobs.iter().map(|j| j.job_id.as_str()).collect();
    let twice: Vec<(&String, u64)> = got
        .iter()
        .filter(|(_, d)| d.version != 1)
        .map(|(id, d)| (id, d.version))
        .collect();
    assert!(twice.is_empty(), "written more than once: {twice:?}");
    assert_same_documents(
        "two runners vs one lookback",
        &reference_for(&ids, Some(end)),
        &got,
    );
}

/// The holder (`host:pid`) of a job's lease in the default state index, if any.
fn lease_holder(url: &str, job_id: &str) -> Option<String> {
    let (status, body) = http(
        "GET",
        &format!("{url}/{}/_doc/{job_id}_lease", runner::STATE_INDEX),
        None,
    );
    if status != 200 {
        return None;
    }
    let expires = body["_source"]["expires"].as_i64().unwrap_or(0);
    let now = chrono::Utc::now().timestamp_millis();
    (expires > now).then(|| body["_source"]["holder"].as_str().unwrap_or("").to_string())
}

/// Polls `check` every 200 ms for at most `limit`; the last value it returned.
fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_runner_process_killed_with_sigkill_hands_its_jobs_to_another_process() {
    skip_if_absent!();
    let url = &the_engine().url;
    let dir = tempfile::tempdir().expect("tempdir");
    let index = format!("procs-events-{}", std::process::id());
    let results = "tidewatch-results-procs";
    // Three hours of events up to now, so `run` looks back a little and then follows real time.
    let now = chrono::Utc::now().timestamp_millis();
    let start = now - now.rem_euclid(SPAN) - 12 * SPAN;
    let mut docs = Vec::new();
    let mut t = start;
    while t < now {
        for (i, region) in ["eu", "us"].iter().enumerate() {
            docs.push(tidewatch::store::BulkDoc {
                id: Some(format!("{region}-{t}")),
                source: json!({ "@timestamp": tidewatch::time::format_millis(t + i as i64), "region": region }),
            });
        }
        t += MINUTE;
    }
    let mapping = json!({
        "settings": { "number_of_shards": 1, "number_of_replicas": 0 },
        "mappings": { "properties": {
            "@timestamp": { "type": "date" },
            "region": { "type": "keyword" }
        } }
    });
    let (status, body) = http("PUT", &format!("{url}/{index}"), Some(&mapping));
    assert_eq!(status, 200, "create {index}: {body}");
    let store = connect(url);
    store.bulk(&index, docs).expect("bulk events");
    store.refresh(&index).expect("refresh");
    let jobs_dir = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs_dir).expect("jobs dir");
    let job_ids = [
        format!("procs_a_{}", std::process::id()),
        format!("procs_b_{}", std::process::id()),
    ];
    for id in &job_ids {
        let yaml = format!(
            "job_id: {id}\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      partition_field_name: region\ndatafeed_config:\n  indices: [{index}]\n  query_delay: 1m\nresults_index: {results}\n"
        );
        std::fs::write(jobs_dir.join(format!("{id}.yml")), yaml).expect("job file");
    }
    let spawn = |name: &str| {
        let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).expect("log");
        std::process::Command::new(env!("CARGO_BIN_EXE_tidewatch"))
            .args(["--store", url, "run", "--lease-ttl", "3s", "--jobs"])
            .arg(&jobs_dir)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn tidewatch run")
    };
    let holders = || {
        job_ids
            .iter()
            .map(|id| lease_holder(url, id))
            .collect::<Option<Vec<_>>>()
    };

    // The first runner takes both jobs...
    let mut first = spawn("first");
    let pid_of = |child: &std::process::Child| format!(":{}", child.id());
    let first_pid = pid_of(&first);
    let taken = wait_for(Duration::from_secs(90), || {
        holders().filter(|h| h.iter().all(|h| h.ends_with(&first_pid)))
    });
    assert!(
        taken.is_some(),
        "the first runner never held both jobs: {:?}\n{}",
        holders(),
        std::fs::read_to_string(dir.path().join("first.log")).unwrap_or_default()
    );
    // ...and a second one, started later, cannot take them while the first renews its leases.
    let mut second = spawn("second");
    let second_pid = pid_of(&second);
    std::thread::sleep(Duration::from_secs(4));
    let still = holders().unwrap_or_default();
    assert!(
        still.iter().all(|h| h.ends_with(&first_pid)),
        "leases moved while held: {still:?}"
    );

    // SIGKILL the first: once its leases lapse (3 s), the second takes both jobs over.
    first.kill().expect("SIGKILL");
    first.wait().expect("reap");
    let killed_at = Instant::now();
    let moved = wait_for(Duration::from_secs(30), || {
        holders().filter(|h| h.iter().all(|h| h.ends_with(&second_pid)))
    });
    assert!(
        moved.is_some(),
        "the second runner never took over: {:?}",
        holders()
    );
    let took = killed_at.elapsed();
    assert!(took < Duration::from_secs(15), "take-over took {took:?}");

    // Stop the second gracefully and check every job's buckets: each once, none missing.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = second.wait().expect("wait");
    assert!(exit.success(), "the second runner exited with {exit:?}");
    let got = engine_docs(url, results);
    for id in &job_ids {
        let mut buckets: Vec<i64> = got
            .values()
            .filter(|d| {
                d.source["job_id"] == id.as_str()
                    && d.source["result_type"] == "bucket"
                    && d.source["is_interim"] == false
            })
            .map(|d| {
                assert_eq!(
                    d.version, 1,
                    "a bucket of {id} was written twice: {:?}",
                    d.source
                );
                d.source["timestamp"].as_i64().expect("timestamp")
            })
            .collect();
        buckets.sort_unstable();
        assert_eq!(
            buckets.first(),
            Some(&start),
            "{id} starts at the first event"
        );
        assert!(buckets.len() >= 11, "{id}: only {} buckets", buckets.len());
        for w in buckets.windows(2) {
            assert_eq!(
                w[1] - w[0],
                SPAN,
                "{id}: a bucket is missing after {}",
                w[0]
            );
        }
    }
}
