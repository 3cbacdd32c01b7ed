//! Elastic's job vocabulary end to end on the embedded store: custom rules, filter lists and
//! calendars (job, filter list and calendar files in a jobs directory, documents, a lookback,
//! the result documents), and the jobs of Elastic's nginx module on the shared nginx log.
//!
//! Three days of two clients' requests, then both burst at 10:00 on day 3 (the incident), and
//! traffic is mildly high again at 10:00 on day 4. Five jobs read the same documents:
//! - `scoped` skips the results of the clients in the `scanners` filter list; `unscoped` does
//!   not: `scoped` has exactly `unscoped`'s records minus the scanner's.
//! - `learns` models the total count; `skips` is the same job with a `skip_model_update` rule
//!   for counts above 100; `silenced` belongs to the group a calendar event covering the
//!   incident names. `silenced` writes nothing for the incident; `skips` writes its record;
//!   after it, both score exactly alike (neither model saw it) and unlike `learns`.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use tidewatch::config;
use tidewatch::ingest::{self, IngestOptions};
use tidewatch::runner;
use tidewatch::store::{BulkDoc, EmbeddedStore, Store};

const MIN: i64 = 60_000;
const SPAN: i64 = 15 * MIN;
const DAY: i64 = 24 * 60 * MIN;
/// Monday 2024-05-06T00:00:00Z.
const T0: i64 = 1_714_953_600_000;
/// The incident: 10:00 on day 3.
const INCIDENT: i64 = T0 + 2 * DAY + 10 * 60 * MIN;

const FILES: &[(&str, &str)] = &[
    (
        "scanners.yml",
        "filter_id: scanners\ndescription: Known vulnerability scanners\nitems: [\"scanner-*\"]\n",
    ),
    (
        "maintenance.yml",
        "calendar_id: maintenance\njob_ids: [web]\nevents:\n  - description: Upgrade\n    start_time: \"2024-05-08T10:05:00Z\"\n    end_time: \"2024-05-08T10:10:00Z\"\n  - description: New Year backup, outside the data\n    schedule: \"0 3 1 1 *\"\n    duration: 1h\n    time_zone: Asia/Tokyo\n",
    ),
    (
        "scoped.yml",
        "job_id: scoped\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      by_field_name: client\n      custom_rules:\n        - actions: [skip_result]\n          scope: {client: {filter_id: scanners, filter_type: include}}\ndatafeed_config:\n  indices: [events]\n",
    ),
    (
        "unscoped.yml",
        "job_id: unscoped\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      by_field_name: client\ndatafeed_config:\n  indices: [events]\n",
    ),
    (
        "learns.yml",
        "job_id: learns\nanalysis_config:\n  bucket_span: 15m\n  detectors: [{function: count}]\ndatafeed_config:\n  indices: [events]\n",
    ),
    (
        "skips.yml",
        "job_id: skips\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      custom_rules:\n        - actions: [skip_model_update]\n          conditions: [{applies_to: actual, operator: gt, value: 100}]\ndatafeed_config:\n  indices: [events]\n",
    ),
    (
        "silenced.yml",
        "job_id: silenced\ngroups: [web]\nanalysis_config:\n  bucket_span: 15m\n  detectors: [{function: count}]\ndatafeed_config:\n  indices: [events]\n",
    ),
];

/// Requests of one client in the bucket starting at `t`.
fn docs(t: i64, client: &str, n: usize) -> impl Iterator<Item = BulkDoc> + '_ {
    crate::support::client_docs(t, SPAN, client, n)
}

fn load(store: &dyn Store) {
    let mut batch = Vec::new();
    let mut t = T0;
    while t < T0 + 4 * DAY {
        let hour = ((t - T0) / (60 * MIN)) % 24;
        let (mut alice, mut scanner) = (20 + (hour as usize % 5), 6);
        if t == INCIDENT {
            (alice, scanner) = (200, 150);
        } else if t == INCIDENT + DAY {
            alice = 60;
        }
        batch.extend(docs(t, "alice", alice));
        batch.extend(docs(t, "scanner-1", scanner));
        t += SPAN;
    }
    store.bulk("events", batch).expect("bulk");
    store.refresh("events").expect("refresh");
}

/// Result documents by job, keyed by (result type, timestamp, by value), without `job_id`.
type Results = BTreeMap<(String, i64, String), Value>;

fn results(store: &dyn Store) -> BTreeMap<String, Results> {
    let mut out: BTreeMap<String, Results> = BTreeMap::new();
    for (_, mut doc) in crate::support::all_documents(store, "tidewatch-results") {
        let job = doc["job_id"].as_str().unwrap_or_default().to_string();
        let kind = doc["result_type"].as_str().unwrap_or_default().to_string();
        if !matches!(kind.as_str(), "record" | "bucket") {
            continue;
        }
        let t = doc["timestamp"].as_i64().expect("timestamp");
        let by = doc["by_field_value"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(m) = doc.as_object_mut() {
            m.remove("job_id");
        }
        out.entry(job).or_default().insert((kind, t, by), doc);
    }
    out
}

fn after(results: &Results, t: i64) -> Results {
    results
        .iter()
        .filter(|((_, ts, _), _)| *ts > t)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn run_all(dir: &Path) -> BTreeMap<String, Results> {
    let jobs_dir = dir.join("jobs");
    std::fs::create_dir_all(&jobs_dir).expect("jobs dir");
    for (name, text) in FILES {
        std::fs::write(jobs_dir.join(name), text).expect("write job file");
    }
    let jobs = config::load_jobs(&[jobs_dir]).expect("the jobs directory validates");
    assert_eq!(jobs.len(), 5, "filter lists and calendars are not jobs");
    let store = EmbeddedStore::open(dir.join("store")).expect("store");
    load(&store);
    let stop = AtomicBool::new(false);
    for job in &jobs {
        runner::run_lookback(&store, job, None, &stop).expect("lookback");
    }
    results(&store)
}

#[test]
fn rules_filter_lists_and_calendars_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let by_job = run_all(dir.path());
    let record_keys = |job: &str| -> Vec<(i64, String)> {
        by_job[job]
            .keys()
            .filter(|(kind, _, _)| kind == "record")
            .map(|(_, t, by)| (*t, by.clone()))
            .collect()
    };

    // The scope removes exactly the scanner's records.
    let unscoped = record_keys("unscoped");
    assert!(
        unscoped.contains(&(INCIDENT, "scanner-1".to_string())),
        "without the rule the scanner's burst is a record: {unscoped:?}"
    );
    let expected: Vec<(i64, String)> = unscoped
        .into_iter()
        .filter(|(_, by)| by != "scanner-1")
        .collect();
    assert!(expected.contains(&(INCIDENT, "alice".to_string())));
    assert_eq!(record_keys("scoped"), expected);

    // The calendar event silences its bucket; skip_model_update keeps the record.
    let silenced = &by_job["silenced"];
    assert!(
        !silenced.keys().any(|(_, t, _)| *t == INCIDENT),
        "no result inside the event"
    );
    assert!(silenced.contains_key(&("bucket".into(), INCIDENT - SPAN, String::new())));
    assert!(by_job["skips"].contains_key(&("record".into(), INCIDENT, String::new())));

    // Neither model learned the incident: identical results after it, unlike a model that did.
    let (skips, learns) = (
        after(&by_job["skips"], INCIDENT),
        after(&by_job["learns"], INCIDENT),
    );
    assert!(skips.keys().any(|(_, t, _)| *t == INCIDENT + DAY));
    assert_eq!(skips, after(silenced, INCIDENT));
    assert_ne!(
        skips, learns,
        "learning the incident changes what comes after it"
    );
}

#[test]
fn validate_names_the_file_line_and_field_of_a_missing_filter_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = "job_id: scoped\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      by_field_name: client\n      custom_rules:\n        - scope: {client: {filter_id: scaners}}\ndatafeed_config:\n  indices: [events]\n";
    std::fs::write(dir.path().join("scoped.yml"), job).expect("write");
    std::fs::write(dir.path().join("scanners.yml"), FILES[0].1).expect("write");
    let (valid, errors) = config::validate_report(&[dir.path().join("scoped.yml")]);
    assert_eq!(valid, 0);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert!(e.file.ends_with("scoped.yml"));
    assert_eq!((e.line, e.column), (Some(8), Some(39)));
    assert_eq!(
        e.field.as_deref(),
        Some("analysis_config.detectors[0].custom_rules[0].scope.client.filter_id")
    );
    assert!(
        e.message.contains("did you mean `scanners`?"),
        "{}",
        e.message
    );
}

/// The five jobs of `jobs/nginx-module` (written as Elastic's nginx ML module writes them)
/// validate and run on the shared nginx log, and the status-code job blames client IPs.
#[test]
fn the_nginx_module_jobs_run_on_the_shared_nginx_log() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("store");
    let args = IngestOptions {
        index: "nginx-logs".into(),
        format: "combined".into(),
        batch_size: 10_000,
        any_time: false,
        geoip: None,
        geoip_asn: None,
        files: vec![crate::support::shared_data().join("logs/nginx_access_elastic_example.log.gz")],
    };
    let summary = ingest::run(&args, &store).expect("ingest");
    assert_eq!(summary.stored, 51_462);
    let jobs = config::load_jobs(&[root.join("jobs/nginx-module")]).expect("the module validates");
    assert_eq!(jobs.len(), 5);
    let stop = AtomicBool::new(false);
    for job in &jobs {
        let run = runner::run_lookback(&store, job, None, &stop).expect("lookback");
        // 17 May 08:00 to 4 Jun 07:15: 1,725 buckets of 15 minutes.
        assert_eq!(run.buckets, 1_725, "{}", job.job_id);
    }
    let docs = crate::support::all_documents(&store, "tidewatch-results");
    let clients: Vec<&Value> = docs
        .values()
        .filter(|d| {
            d["job_id"] == "status_code_rate_nginx"
                && d["result_type"] == "influencer"
                && d["influencer_field_name"] == "source.address"
        })
        .collect();
    assert!(!clients.is_empty(), "no client influencers");
    for d in clients {
        let ip = d["influencer_field_value"].as_str().unwrap_or_default();
        assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{d}");
    }
}

/// `jobs put` records each job's filter lists and calendars beside it; the job read back from
/// the store (no files) keeps its scoped rule and its calendar, and `jobs show` prints them.
#[test]
fn filter_lists_and_calendars_are_recorded_with_their_jobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jobs_dir = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs_dir).expect("jobs dir");
    for (name, text) in FILES {
        std::fs::write(jobs_dir.join(name), text).expect("write job file");
    }
    let store_spec = format!("embedded:{}", dir.path().join("store").display());
    let tidewatch = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tidewatch"))
            .args(["--store", &store_spec])
            .args(args)
            .output()
            .expect("tidewatch runs");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    tidewatch(&["jobs", "put", &jobs_dir.display().to_string()]);
    // The files are gone: what follows reads the store only.
    std::fs::remove_dir_all(&jobs_dir).expect("remove the files");
    let store = EmbeddedStore::open(dir.path().join("store")).expect("store");
    let scoped = tidewatch::catalog::load(&store, "scoped")
        .expect("load")
        .expect("recorded");
    let scope = &scoped.job.detectors[0].rules[0].scope[0];
    assert_eq!(scope.filter.filter_id, "scanners");
    assert!(scope.filter.contains("scanner-7"));
    let silenced = tidewatch::catalog::load(&store, "silenced")
        .expect("load")
        .expect("recorded");
    assert_eq!(silenced.job.calendars.len(), 1);
    assert!(silenced.job.scheduled_event(INCIDENT).is_some());
    let all = tidewatch::catalog::load_all(&store).expect("load all");
    assert_eq!(all.len(), 5);
    drop(store);

    let shown = tidewatch(&["jobs", "show", "scoped"]);
    assert!(
        shown.contains("# filter list `scanners`, recorded with the job"),
        "{shown}"
    );
    assert!(shown.contains("items: [\"scanner-*\"]"), "{shown}");
    let shown = tidewatch(&["jobs", "show", "silenced"]);
    assert!(shown.contains("calendar_id: \"maintenance\""), "{shown}");
    assert!(shown.contains("\"description\":\"Upgrade\""), "{shown}");
}
