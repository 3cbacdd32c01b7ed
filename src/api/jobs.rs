//! `GET /api/jobs` and `GET /api/jobs/{id}`: a job's definition with where its results stand.

use super::metrics::Metrics;
use crate::config::Job;
use crate::runner::STATE_INDEX;
use crate::store::{Store, StoreError};
use crate::time::{format_duration, format_millis, EpochMillis};
use serde_json::{json, Value};

/// The window, before the latest bucket, over which "recent" maximum scores are taken.
pub(crate) const RECENT_MS: EpochMillis = 24 * 3_600_000;

/// The top hit's `_source` for a query, or `None`.
fn top(
    store: &dyn Store,
    index: &str,
    filter: Vec<Value>,
    sort: Value,
) -> Result<Option<Value>, StoreError> {
    let body = json!({
        "size": 1,
        "query": { "bool": { "filter": filter } },
        "sort": sort,
        "track_total_hits": false,
    });
    let resp = store.search(index, &body)?;
    Ok(resp.pointer("/hits/hits/0/_source").cloned())
}

fn f64_field(doc: &Option<Value>, field: &str) -> Value {
    doc.as_ref()
        .and_then(|d| d.get(field))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The definition part of a job's description (no store access).
pub(crate) fn definition(job: &Job) -> Value {
    let detectors: Vec<Value> = job
        .detectors
        .iter()
        .map(|d| {
            json!({
                "detector_index": d.index,
                "function": d.function.name(),
                "field_name": d.field_name,
                "by_field_name": d.by_field_name,
                "over_field_name": d.over_field_name,
                "partition_field_name": d.partition_field_name,
                "detector_description": d.description,
            })
        })
        .collect();
    json!({
        "job_id": job.job_id,
        "description": job.description,
        "bucket_span": format_duration(job.bucket_span),
        "bucket_span_seconds": job.bucket_span.as_secs(),
        "detectors": detectors,
        "influencers": job.influencers,
        "results_index": job.results_index,
        "model_plot": job.model_plot,
        "custom_settings": job.custom_settings,
    })
}

/// A job with its state and latest results: the `/api/jobs` entry.
pub(crate) fn summary(
    store: &dyn Store,
    index: &str,
    job: &Job,
    metrics: &Metrics,
) -> Result<Value, StoreError> {
    let mut out = definition(job);
    let term = |f: &str, v: &str| json!({ "term": { f: v } });
    let latest = top(
        store,
        index,
        vec![term("job_id", &job.job_id), term("result_type", "bucket")],
        json!([{ "timestamp": "desc" }]),
    )?;
    let latest_time = latest
        .as_ref()
        .and_then(|d| d.get("timestamp"))
        .and_then(Value::as_i64);
    let mut recent = Value::Null;
    if let Some(t) = latest_time {
        let since = t - RECENT_MS;
        let window = json!({ "range": { "timestamp": { "gte": since } } });
        let record = top(
            store,
            index,
            vec![
                term("job_id", &job.job_id),
                term("result_type", "record"),
                window.clone(),
            ],
            json!([{ "record_score": "desc" }, { "timestamp": "desc" }]),
        )?;
        let bucket = top(
            store,
            index,
            vec![
                term("job_id", &job.job_id),
                term("result_type", "bucket"),
                window,
            ],
            json!([{ "anomaly_score": "desc" }, { "timestamp": "desc" }]),
        )?;
        recent = json!({
            "from": since,
            "to": t,
            "max_record_score": f64_field(&record, "record_score"),
            "max_record_timestamp": f64_field(&record, "timestamp"),
            "max_anomaly_score": f64_field(&bucket, "anomaly_score"),
        });
    }
    let running = metrics.get_job(&job.job_id);
    let state = match &running {
        Some(m) if m.running() => "opened",
        _ => "closed",
    };
    out["state"] = json!(state);
    out["latest_bucket_timestamp"] = json!(latest_time);
    out["latest_bucket_timestamp_string"] = json!(latest_time.map(format_millis));
    out["latest_anomaly_score"] = f64_field(&latest, "anomaly_score");
    out["recent"] = recent;
    out["metrics"] = match running {
        Some(m) => json!({
            "buckets_processed": m.buckets_processed(),
            "lag_seconds": m.lag_seconds(),
            "partitions": m.partitions(),
        }),
        None => Value::Null,
    };
    Ok(out)
}

/// The full description of one job: the summary plus its datafeed and checkpoint.
pub(crate) fn detail(
    store: &dyn Store,
    index: &str,
    job: &Job,
    metrics: &Metrics,
) -> Result<Value, StoreError> {
    let mut out = summary(store, index, job, metrics)?;
    out["datafeed"] = json!({
        "indices": job.indices,
        "query": job.query,
        "time_field": job.time_field,
        "query_delay": format_duration(job.query_delay),
        "frequency": job.frequency.map(format_duration),
        "schedule": job.schedule,
    });
    let checkpoint = store.get(STATE_INDEX, &format!("{}_checkpoint", job.job_id))?;
    out["checkpoint"] = match checkpoint
        .as_ref()
        .and_then(|c| c.source.get("next_bucket"))
        .and_then(Value::as_i64)
    {
        Some(next) => json!({ "next_bucket": next, "next_bucket_string": format_millis(next) }),
        None => Value::Null,
    };
    Ok(out)
}
