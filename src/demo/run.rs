//! `tidewatch demo`: generate a log with known incidents, ingest it, run the example jobs,
//! and show what was found next to what was injected.

use super::generate::{self, DemoConfig, Incident, IncidentKind};
use crate::config::{self, Job};
use crate::ingest::{self, IngestOptions, IngestSummary};
use crate::results::{self, ResultType, ResultsQuery};
use crate::runner::{self, LookbackSummary};
use crate::store::Store;
use serde_json::{json, Value};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// Index the demo log is ingested into (the example jobs read it).
pub const DEMO_INDEX: &str = "nginx-logs";

/// The example jobs, built into the binary so `demo` works from any directory.
const BUILT_IN_JOBS: &[(&str, &str)] = &[
    (
        "jobs/status_code_rate.yml",
        include_str!("../../jobs/status_code_rate.yml"),
    ),
    (
        "jobs/country_traffic.yml",
        include_str!("../../jobs/country_traffic.yml"),
    ),
    (
        "jobs/unique_visitors.yml",
        include_str!("../../jobs/unique_visitors.yml"),
    ),
    (
        "jobs/client_request_rate.yml",
        include_str!("../../jobs/client_request_rate.yml"),
    ),
    (
        "jobs/client_distinct_urls.yml",
        include_str!("../../jobs/client_distinct_urls.yml"),
    ),
];

/// Options of `tidewatch demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where to write the generated access log (gzip).
    pub log: PathBuf,
    /// Job files to run; the built-in example jobs when the directory does not exist.
    pub jobs: PathBuf,
    /// How many top anomalies to print.
    pub top: usize,
}

/// What the demo did and found.
#[derive(Debug)]
pub struct DemoReport {
    /// The injected incidents.
    pub incidents: Vec<Incident>,
    /// Lines written to the log.
    pub lines: u64,
    /// The ingest summary.
    pub ingest: IngestSummary,
    /// One summary per job.
    pub jobs: Vec<LookbackSummary>,
    /// Each incident with the best record found for it, if any.
    pub found: Vec<(Incident, Option<Value>)>,
    /// The highest-scoring records across all jobs.
    pub top: Vec<Value>,
}

/// The example jobs: from `dir` when it exists, else the built-in copies.
pub fn demo_jobs(dir: &Path) -> crate::Result<Vec<Job>> {
    if dir.exists() {
        return Ok(config::load_jobs(&[dir.to_path_buf()])?);
    }
    let mut jobs = Vec::new();
    for (name, text) in BUILT_IN_JOBS {
        jobs.push(config::load_job_str(name, text)?);
    }
    Ok(jobs)
}

/// Runs the whole demo against `store`, starting from a clean slate for its index and jobs.
pub fn run(args: &DemoOptions, store: &dyn Store) -> crate::Result<DemoReport> {
    let jobs = demo_jobs(&args.jobs)?;
    reset(store, &jobs)?;

    let cfg = DemoConfig::default();
    let file = std::fs::File::create(&args.log).map_err(|source| crate::Error::Io {
        path: args.log.display().to_string(),
        source,
    })?;
    let mut gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let log = generate::generate(&cfg, &mut gz)
        .and_then(|log| gz.finish().and_then(|mut w| w.flush()).map(|_| log))
        .map_err(|source| crate::Error::Io {
            path: args.log.display().to_string(),
            source,
        })?;

    let ingest_args = IngestOptions {
        index: DEMO_INDEX.to_string(),
        format: log.format.to_string(),
        batch_size: ingest::DEFAULT_BATCH_SIZE,
        any_time: false,
        geoip: None,
        geoip_asn: None,
        files: vec![args.log.clone()],
    };
    let ingest = ingest::run(&ingest_args, store)?;

    let stop = AtomicBool::new(false);
    let mut summaries = Vec::new();
    for job in &jobs {
        summaries.push(runner::run_lookback(
            store,
            job,
            Some(runner::STATE_INDEX),
            &stop,
        )?);
    }

    let mut found = Vec::new();
    for incident in &log.incidents {
        let best = best_record_for(store, &jobs, incident)?;
        found.push((incident.clone(), best));
    }
    let mut top = Vec::new();
    for job in &jobs {
        let q = ResultsQuery {
            job_id: job.job_id.clone(),
            result_type: ResultType::Record,
            min_score: 50.0,
            from: None,
            to: None,
            limit: Some(args.top),
            include_interim: false,
        };
        top.extend(results::fetch(store, &job.results_index, &q)?);
    }
    top.sort_by(|a, b| {
        score_of(b)
            .total_cmp(&score_of(a))
            .then_with(|| time_of(a).cmp(&time_of(b)))
    });
    top.truncate(args.top);
    Ok(DemoReport {
        incidents: log.incidents,
        lines: log.lines,
        ingest,
        jobs: summaries,
        found,
        top,
    })
}

fn score_of(d: &Value) -> f64 {
    d.get("record_score").and_then(Value::as_f64).unwrap_or(0.0)
}

fn time_of(d: &Value) -> i64 {
    d.get("timestamp").and_then(Value::as_i64).unwrap_or(0)
}

/// The example job meant to catch each kind of incident.
pub fn job_for(kind: IncidentKind) -> &'static str {
    match kind {
        IncidentKind::ErrorBurst | IncidentKind::ErrorRamp => "status_code_rate",
        IncidentKind::TrafficDrop => "country_traffic",
        IncidentKind::Scan => "client_distinct_urls",
    }
}

/// Whether a record document is about the incident's partition (its split field and value).
pub fn is_about(doc: &Value, incident: &Incident) -> bool {
    ["partition", "by", "over"].iter().any(|k| {
        doc.get(format!("{k}_field_name")).and_then(Value::as_str) == Some(incident.partition_field)
            && doc.get(format!("{k}_field_value")).and_then(Value::as_str)
                == Some(incident.partition_value.as_str())
    })
}

/// The highest-scoring record of the incident's job in the incident's window whose split
/// value is the incident's.
pub(crate) fn best_record_for(
    store: &dyn Store,
    jobs: &[Job],
    incident: &Incident,
) -> crate::Result<Option<Value>> {
    let Some(job) = jobs.iter().find(|j| j.job_id == job_for(incident.kind)) else {
        return Ok(None);
    };
    let q = ResultsQuery {
        job_id: job.job_id.clone(),
        result_type: ResultType::Record,
        min_score: 0.0,
        from: Some(incident.start_ms),
        to: Some(incident.end_ms),
        limit: None,
        include_interim: false,
    };
    let docs = results::fetch(store, &job.results_index, &q)?;
    Ok(docs
        .into_iter()
        .filter(|d| is_about(d, incident))
        .max_by(|a, b| {
            score_of(a)
                .total_cmp(&score_of(b))
                .then_with(|| time_of(b).cmp(&time_of(a)))
        }))
}

/// Deletes the demo's log documents, and the results and state of its jobs, so a second
/// demo starts from scratch.
fn reset(store: &dyn Store, jobs: &[Job]) -> crate::Result<()> {
    store.delete_by_query(DEMO_INDEX, &json!({ "match_all": {} }))?;
    for job in jobs {
        let this_job = json!({ "term": { "job_id": job.job_id } });
        store.delete_by_query(&job.results_index, &this_job)?;
        store.delete_by_query(runner::STATE_INDEX, &this_job)?;
    }
    for index in std::iter::once(DEMO_INDEX).chain(jobs.iter().map(|j| j.results_index.as_str())) {
        store.refresh(index)?;
    }
    store.refresh(runner::STATE_INDEX)?;
    Ok(())
}
