//! `jobs reset` and `jobs delete`: a job's results, state and checkpoints go, so the next
//! `run` starts over (as Elastic's `_reset`); delete also forgets the definition.

use super::forget;
use crate::config::Job;
use crate::runner::STATE_INDEX;
use crate::store::{Store, StoreError};
use crate::time::{format_millis, EpochMillis};
use serde_json::{json, Value};

/// What a reset removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetOutcome {
    /// Result documents (buckets, records, influencers, model plot, forecasts, annotations).
    pub results: u64,
    /// State documents (checkpoint, snapshot parts, stats, lease).
    pub state: u64,
}

/// Refuses while a runner holds the job's lease: it would write on over the reset.
fn check_not_running(store: &dyn Store, job_id: &str, now: EpochMillis) -> crate::Result<()> {
    let query = json!({ "size": 5, "query": { "bool": { "filter": [
        { "term": { "type": "lease" } },
        { "term": { "job_id": job_id } },
        { "range": { "expires": { "gt": now } } }
    ] } } });
    let resp = match store.search(STATE_INDEX, &query) {
        Ok(r) => r,
        Err(StoreError::IndexNotFound(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let lease = resp.pointer("/hits/hits/0/_source");
    if let Some(l) = lease {
        let holder = l.get("holder").and_then(Value::as_str).unwrap_or("?");
        let expires = l.get("expires").and_then(Value::as_i64).unwrap_or(now);
        return Err(crate::Error::JobRunning {
            job_id: job_id.to_string(),
            holder: holder.to_string(),
            until: format_millis(expires),
        });
    }
    Ok(())
}

/// Deletes the job's results (in its results index) and its state (checkpoint, snapshot,
/// stats, lease), keeping its recorded definition: the next `run` analyses from the start.
pub fn reset_job(store: &dyn Store, job: &Job, now: EpochMillis) -> crate::Result<ResetOutcome> {
    check_not_running(store, &job.job_id, now)?;
    let this_job = json!({ "term": { "job_id": job.job_id } });
    let results = delete_ignoring_missing(store, &job.results_index, &this_job)?;
    let state_query = json!({ "bool": {
        "filter": [this_job],
        "must_not": [{ "term": { "type": super::CONFIG_TYPE } }]
    } });
    let state = delete_ignoring_missing(store, STATE_INDEX, &state_query)?;
    store.refresh(&job.results_index)?;
    store.refresh(STATE_INDEX)?;
    Ok(ResetOutcome { results, state })
}

/// [`reset_job`], then forgets the job's definition.
pub(crate) fn delete_job(
    store: &dyn Store,
    job: &Job,
    now: EpochMillis,
) -> crate::Result<ResetOutcome> {
    let outcome = reset_job(store, job, now)?;
    forget(store, &job.job_id)?;
    store.refresh(STATE_INDEX)?;
    Ok(outcome)
}

fn delete_ignoring_missing(store: &dyn Store, index: &str, query: &Value) -> crate::Result<u64> {
    match store.delete_by_query(index, query) {
        Ok(n) => Ok(n),
        Err(StoreError::IndexNotFound(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}
