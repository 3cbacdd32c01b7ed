//! Job definitions kept with the store, as Elastic ML keeps them in `.ml-config`.
//!
//! `run` and `jobs put` record each validated job (its YAML text, as written) with a version;
//! `results`, `forecast`, `status`, `serve` and the API read the definitions back, so they work
//! from any directory against the store a job ran on. Why the YAML text and not the parsed
//! job: loading it back goes through the same validation, with the same messages, as a file.
//!
//! Each record is a state-index document `{type: "config", kind, config_id, version, ...}`.
//! `kind` is `job`, `filter` or `calendar`: the filter lists a job's custom rules name and the
//! calendars that apply to it are recorded beside it (as Elastic ML keeps them in
//! `.ml-config`), as JSON, and the job's record lists their ids, so a job read back from the
//! store has its rules' filter lists and its calendars without the files.

mod command;
mod reset;

pub use command::{run_jobs_command, JobsCommand};
pub(crate) use reset::delete_job;
pub use reset::{reset_job, ResetOutcome};

use crate::config::{self, Calendar, FilterList, Job};
use crate::runner::{self, STATE_INDEX};
use crate::store::{PutMode, Store, StoreError};
use crate::time::{format_millis, EpochMillis};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The `type` of every configuration record in the state index.
const CONFIG_TYPE: &str = "config";

/// Records read or written at once (far more jobs than anyone runs on one store).
const MAX_RECORDS: usize = 10_000;

/// A job definition as recorded in the store.
#[derive(Debug, Clone)]
pub struct StoredJob {
    /// The validated job.
    pub job: Job,
    /// 1 for the first recorded definition, one more for each change.
    pub version: u64,
    /// When this version was recorded.
    pub recorded_at: EpochMillis,
    /// The YAML text, as written.
    pub definition: String,
    /// The filter lists its rules name, as recorded with it.
    pub filters: Vec<FilterList>,
}

/// What recording a definition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The job was not recorded before: version 1.
    New,
    /// The same definition was recorded already.
    Unchanged,
    /// The definition changed in ways its models do not depend on (datafeed timing, scroll
    /// size, results index, description, custom settings...): recorded as a new version and
    /// applied from the next bucket.
    Compatible {
        /// The version it replaced.
        from: u64,
    },
    /// The analysis changed, but the job has no results or state yet: recorded as a new
    /// version.
    Replaced {
        /// The version it replaced.
        from: u64,
    },
}

fn record_id(kind: &str, id: &str) -> String {
    format!("config_{kind}_{id}")
}

fn sha(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// The job's file as recorded: absolute, so it names the file from any directory.
fn source_file(job: &Job) -> String {
    std::fs::canonicalize(&job.source_file)
        .unwrap_or_else(|_| job.source_file.clone())
        .display()
        .to_string()
}

/// The YAML text of a job's file.
fn definition_text(job: &Job) -> crate::Result<String> {
    std::fs::read_to_string(&job.source_file).map_err(|source| crate::Error::Io {
        path: job.source_file.display().to_string(),
        source,
    })
}

/// Records `job` (validated, from its file) with a version, unless the same definition is
/// recorded already. A change to what the job's models depend on (bucket span, detectors,
/// influencers, indices, query, time field, model options) is refused while the job has
/// results or state from the old one: the user is told to `jobs reset` it or use a new id.
pub fn record(store: &dyn Store, job: &Job, now: EpochMillis) -> crate::Result<(Recorded, u64)> {
    let text = definition_text(job)?;
    let hash = sha(&text);
    let fingerprint = runner::fingerprint(job);
    let id = record_id("job", &job.job_id);
    let (filter_ids, calendar_ids) = record_support(store, job, now)?;
    let previous = store.get(STATE_INDEX, &id)?.map(|d| d.source);
    let field = |d: &Value, k: &str| d.get(k).and_then(Value::as_str).map(str::to_string);
    let (outcome, version) = match &previous {
        None => (Recorded::New, 1),
        Some(p) if field(p, "source_hash").as_deref() == Some(hash.as_str()) => {
            let v = p.get("version").and_then(Value::as_u64).unwrap_or(1);
            if p.get("filter_ids") == Some(&json!(filter_ids))
                && p.get("calendar_ids") == Some(&json!(calendar_ids))
            {
                return Ok((Recorded::Unchanged, v));
            }
            // The same job text with other calendars or filter lists: the record follows
            // them, the version stays (the job's definition did not change).
            (Recorded::Unchanged, v)
        }
        Some(p) => {
            let from = p.get("version").and_then(Value::as_u64).unwrap_or(1);
            if field(p, "fingerprint").as_deref() == Some(fingerprint.as_str()) {
                (Recorded::Compatible { from }, from + 1)
            } else if has_state(store, job)? {
                return Err(crate::Error::DefinitionChanged {
                    file: job.source_file.clone(),
                    job_id: job.job_id.clone(),
                    version: from,
                    recorded_at: field(p, "recorded_at_string").unwrap_or_default(),
                });
            } else {
                (Recorded::Replaced { from }, from + 1)
            }
        }
    };
    let doc = json!({
        "type": CONFIG_TYPE, "kind": "job", "config_id": job.job_id, "job_id": job.job_id,
        "version": version, "fingerprint": fingerprint, "source_hash": hash,
        "source_file": source_file(job), "definition": text,
        "custom_settings": job.custom_settings,
        "filter_ids": filter_ids, "calendar_ids": calendar_ids,
        "recorded_at": now, "recorded_at_string": format_millis(now),
    });
    store.put(STATE_INDEX, &id, &doc, PutMode::Overwrite)?;
    store.refresh(STATE_INDEX)?;
    Ok((outcome, version))
}

/// Records the filter lists the job's rules name and the calendars that apply to it (each
/// written only when it changed); returns their ids.
fn record_support(
    store: &dyn Store,
    job: &Job,
    now: EpochMillis,
) -> crate::Result<(Vec<String>, Vec<String>)> {
    let mut filter_ids = Vec::new();
    for f in job.filter_lists() {
        record_support_item(store, "filter", &f.filter_id, json!(f), now)?;
        filter_ids.push(f.filter_id.clone());
    }
    let mut calendar_ids = Vec::new();
    for c in &job.calendars {
        record_support_item(store, "calendar", &c.calendar_id, json!(c), now)?;
        calendar_ids.push(c.calendar_id.clone());
    }
    Ok((filter_ids, calendar_ids))
}

fn record_support_item(
    store: &dyn Store,
    kind: &str,
    config_id: &str,
    definition: Value,
    now: EpochMillis,
) -> crate::Result<()> {
    let id = record_id(kind, config_id);
    let previous = store.get(STATE_INDEX, &id)?.map(|d| d.source);
    if previous.as_ref().and_then(|p| p.get("definition")) == Some(&definition) {
        return Ok(());
    }
    let doc = json!({
        "type": CONFIG_TYPE, "kind": kind, "config_id": config_id, "definition": definition,
        "recorded_at": now, "recorded_at_string": format_millis(now),
    });
    store.put(STATE_INDEX, &id, &doc, PutMode::Overwrite)?;
    Ok(())
}

/// Whether the job has a checkpoint (it has analysed something) in the store.
fn has_state(store: &dyn Store, job: &Job) -> Result<bool, StoreError> {
    Ok(runner::load_checkpoint(store, STATE_INDEX, job)?.is_some())
}

/// A line telling the user what recording did, `None` when nothing changed.
pub fn describe(job_id: &str, outcome: &Recorded, version: u64) -> Option<String> {
    match outcome {
        Recorded::Unchanged => None,
        Recorded::New => Some(format!("{job_id}: recorded version {version}")),
        Recorded::Compatible { from } => Some(format!(
            "{job_id}: definition changed (version {from} -> {version}); the change does not touch its models, so it applies from the next bucket and earlier results stay"
        )),
        Recorded::Replaced { from } => Some(format!(
            "{job_id}: analysis changed (version {from} -> {version}); the job has no results yet, so it starts with this definition"
        )),
    }
}

/// Every job recorded in the store, by job id.
pub fn load_all(store: &dyn Store) -> crate::Result<Vec<StoredJob>> {
    let body = json!({
        "size": MAX_RECORDS,
        "query": { "bool": { "filter": [{ "term": { "type": CONFIG_TYPE } }] } },
        "sort": [{ "job_id": "asc" }],
    });
    let resp = match store.search(STATE_INDEX, &body) {
        Ok(r) => r,
        Err(StoreError::IndexNotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let hits = resp
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let sources: Vec<&Value> = hits.iter().filter_map(|h| h.get("_source")).collect();
    let kind = |s: &Value| s.get("kind").and_then(Value::as_str).map(str::to_string);
    let lookup = |want: &str, id: &str| {
        sources
            .iter()
            .find(|s| {
                kind(s).as_deref() == Some(want)
                    && s.get("config_id").and_then(Value::as_str) == Some(id)
            })
            .map(|s| (*s).clone())
    };
    sources
        .iter()
        .filter(|s| kind(s).as_deref() == Some("job"))
        .map(|s| parse_record(s, &lookup))
        .collect()
}

/// The job `job_id` as recorded in the store, if it is.
pub fn load(store: &dyn Store, job_id: &str) -> crate::Result<Option<StoredJob>> {
    let lookup = |kind: &str, id: &str| {
        store
            .get(STATE_INDEX, &record_id(kind, id))
            .ok()
            .flatten()
            .map(|d| d.source)
    };
    match store.get(STATE_INDEX, &record_id("job", job_id)) {
        Ok(Some(d)) => parse_record(&d.source, &lookup).map(Some),
        Ok(None) | Err(StoreError::IndexNotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The recorded filter lists or calendars a job record names (`filter_ids`, `calendar_ids`),
/// read with `lookup(kind, id)`; one that is missing or unreadable is an error naming it.
fn support_items<T: serde::de::DeserializeOwned>(
    source: &Value,
    kind: &str,
    lookup: &dyn Fn(&str, &str) -> Option<Value>,
) -> crate::Result<Vec<T>> {
    let ids = source
        .get(format!("{kind}_ids"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    ids.iter()
        .filter_map(Value::as_str)
        .map(|id| {
            lookup(kind, id)
                .and_then(|r| serde_json::from_value(r.get("definition")?.clone()).ok())
                .ok_or_else(|| crate::Error::RecordMissing {
                    kind: kind.to_string(),
                    id: id.to_string(),
                    job_id: source
                        .get("job_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                })
        })
        .collect()
}

/// A stored record back into a job, through the same validation as a file, with the filter
/// lists and calendars recorded with it.
fn parse_record(
    source: &Value,
    lookup: &dyn Fn(&str, &str) -> Option<Value>,
) -> crate::Result<StoredJob> {
    let text = source
        .get("definition")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let file = source
        .get("source_file")
        .and_then(Value::as_str)
        .unwrap_or("(stored job)");
    let filters: Vec<FilterList> = support_items(source, "filter", lookup)?;
    let mut job = config::load_job_str_with_filters(file, text, &filters)?;
    job.calendars = support_items::<Calendar>(source, "calendar", lookup)?;
    Ok(StoredJob {
        job,
        filters,
        version: source.get("version").and_then(Value::as_u64).unwrap_or(1),
        recorded_at: source
            .get("recorded_at")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        definition: text.to_string(),
    })
}

/// Removes the job's recorded definition.
pub(crate) fn forget(store: &dyn Store, job_id: &str) -> Result<u64, StoreError> {
    let query = json!({ "ids": { "values": [record_id("job", job_id)] } });
    store.delete_by_query(STATE_INDEX, &query)
}

/// The jobs a reading command (`results`, `status`, `forecast`, `serve`) works with: those
/// recorded in the store, then any job file under `jobs` for a job the store does not know
/// (tried only when that path exists, so the commands work from any directory).
pub fn jobs_for_reading(store: &dyn Store, jobs: &Path) -> crate::Result<Vec<Job>> {
    let mut out: Vec<Job> = load_all(store)?.into_iter().map(|s| s.job).collect();
    if !jobs.exists() {
        return Ok(out);
    }
    match config::load_jobs(&[PathBuf::from(jobs)]) {
        Ok(files) => {
            for job in files {
                if !out.iter().any(|j| j.job_id == job.job_id) {
                    out.push(job);
                }
            }
        }
        Err(e) if out.is_empty() => return Err(e.into()),
        Err(e) => {
            tracing::warn!(jobs = %jobs.display(), error = %e, "Job files do not validate; using the definitions recorded in the store")
        }
    }
    Ok(out)
}
