//! A job's running statistics, kept in the state index beside its checkpoint and shown by
//! `tidewatch status`. Field names follow Elastic ML's `data_counts` and `model_size_stats`.

use crate::store::{PutMode, Store, StoreError};
use crate::time::{format_millis, EpochMillis};
use serde_json::{json, Value};

/// Counters of one job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobStats {
    /// Source documents analysed.
    pub processed_record_count: u64,
    /// Buckets analysed.
    pub bucket_count: u64,
    /// Buckets without any source document.
    pub empty_bucket_count: u64,
    /// Latest bucket (start) that held a source document.
    pub latest_record_bucket: Option<EpochMillis>,
    /// Latest bucket analysed.
    pub latest_bucket_timestamp: Option<EpochMillis>,
    /// Documents that arrived after their bucket was analysed.
    pub delayed_data_count: u64,
    /// Store errors that were retried or reported.
    pub errors: u64,
    /// Buckets that documents arrived late for, latest last (at most `MAX_DELAYED_BUCKETS`).
    pub delayed_buckets: Vec<EpochMillis>,
    /// The last error that stopped the job advancing, cleared once it advances again.
    pub last_error: Option<String>,
    /// How the datafeed reads fields the mappings made unaggregatable, one sentence each
    /// (e.g. a `text` field read through its `.keyword` sub-field).
    pub field_notes: Vec<String>,
}

/// How many late buckets the stats name.
pub(crate) const MAX_DELAYED_BUCKETS: usize = 10;

fn stats_id(job_id: &str) -> String {
    format!("{job_id}_stats")
}

fn opt_time(t: Option<EpochMillis>) -> Value {
    t.map_or(
        Value::Null,
        |t| json!({ "epoch_millis": t, "iso": format_millis(t) }),
    )
}

/// What `status` shows beyond the counters.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelStats {
    /// Series and populations modelled.
    pub partitions: usize,
    /// Bytes of model state accounted against the limit.
    pub model_bytes: u64,
    /// `ok`, `soft_limit` or `hard_limit`.
    pub memory_status: &'static str,
    /// Buckets in which new partitions were not modelled because of the memory limit.
    pub bucket_allocation_failures: u64,
    /// Start of the first bucket not analysed yet.
    pub next_bucket: Option<EpochMillis>,
}

impl JobStats {
    /// Notes `missing` late documents in bucket `t`.
    pub fn add_delayed(&mut self, t: EpochMillis, missing: u64) {
        self.delayed_data_count += missing;
        self.delayed_buckets.retain(|&b| b != t);
        self.delayed_buckets.push(t);
        let excess = self
            .delayed_buckets
            .len()
            .saturating_sub(MAX_DELAYED_BUCKETS);
        self.delayed_buckets.drain(..excess);
    }

    /// The stats document.
    pub fn to_doc(&self, job_id: &str, model: &ModelStats) -> Value {
        json!({
            "type": "job_stats",
            "job_id": job_id,
            "data_counts": {
                "processed_record_count": self.processed_record_count,
                "bucket_count": self.bucket_count,
                "empty_bucket_count": self.empty_bucket_count,
                "latest_record_bucket": opt_time(self.latest_record_bucket),
                "latest_bucket_timestamp": opt_time(self.latest_bucket_timestamp),
                "delayed_data_count": self.delayed_data_count,
                "errors": self.errors,
                "delayed_buckets": self.delayed_buckets,
            },
            "last_error": self.last_error,
            "field_notes": self.field_notes,
            "model_size_stats": {
                "partitions": model.partitions,
                "model_bytes": model.model_bytes,
                "memory_status": model.memory_status,
                "bucket_allocation_failures_count": model.bucket_allocation_failures,
            },
            "last_checkpoint": opt_time(model.next_bucket),
        })
    }

    /// The counters back from a stats document (missing fields read as zero).
    pub fn from_doc(doc: &Value) -> JobStats {
        let n = |k: &str| {
            doc.pointer(&format!("/data_counts/{k}"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        let t = |k: &str| {
            doc.pointer(&format!("/data_counts/{k}/epoch_millis"))
                .and_then(Value::as_i64)
        };
        JobStats {
            processed_record_count: n("processed_record_count"),
            bucket_count: n("bucket_count"),
            empty_bucket_count: n("empty_bucket_count"),
            latest_record_bucket: t("latest_record_bucket"),
            latest_bucket_timestamp: t("latest_bucket_timestamp"),
            delayed_data_count: n("delayed_data_count"),
            errors: n("errors"),
            delayed_buckets: doc
                .pointer("/data_counts/delayed_buckets")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default(),
            last_error: doc
                .get("last_error")
                .and_then(Value::as_str)
                .map(str::to_string),
            field_notes: doc
                .get("field_notes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Writes the stats document.
pub fn save(
    store: &dyn Store,
    index: &str,
    job_id: &str,
    stats: &JobStats,
    model: &ModelStats,
) -> Result<(), StoreError> {
    store.put(
        index,
        &stats_id(job_id),
        &stats.to_doc(job_id, model),
        PutMode::Overwrite,
    )?;
    Ok(())
}

/// Records an error that stopped `job_id` advancing in its stats document, so `status` shows
/// it (best effort: the store may be what failed).
pub fn record_error(store: &dyn Store, index: &str, job_id: &str, error: &str) {
    let mut doc = match load(store, index, job_id) {
        Ok(Some(doc)) => doc,
        Ok(None) => json!({ "type": "job_stats", "job_id": job_id, "data_counts": {} }),
        Err(e) => {
            tracing::warn!(job_id, error = %e, "Could not record the job's error in its stats");
            return;
        }
    };
    let errors = doc
        .pointer("/data_counts/errors")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if let Some(counts) = doc.get_mut("data_counts").and_then(Value::as_object_mut) {
        counts.insert("errors".into(), json!(errors + 1));
    }
    doc["last_error"] = json!(error);
    if let Err(e) = store.put(index, &stats_id(job_id), &doc, PutMode::Overwrite) {
        tracing::warn!(job_id, error = %e, "Could not record the job's error in its stats");
    }
}

/// Reads the stats document, if the job has one.
pub fn load(store: &dyn Store, index: &str, job_id: &str) -> Result<Option<Value>, StoreError> {
    Ok(store.get(index, &stats_id(job_id))?.map(|d| d.source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_round_trip_through_their_document() {
        let s = JobStats {
            processed_record_count: 10,
            bucket_count: 3,
            empty_bucket_count: 1,
            latest_record_bucket: Some(900_000),
            latest_bucket_timestamp: Some(1_800_000),
            delayed_data_count: 2,
            errors: 1,
            delayed_buckets: vec![0, 900_000],
            last_error: Some("source index `logs` is closed".into()),
            field_notes: vec![
                "`host` is `text` in `logs`: reading it through `host.keyword`".into(),
            ],
        };
        let m = ModelStats {
            partitions: 4,
            model_bytes: 100,
            memory_status: "ok",
            bucket_allocation_failures: 0,
            next_bucket: Some(2_700_000),
        };
        let doc = s.to_doc("j", &m);
        assert_eq!(JobStats::from_doc(&doc), s);
        assert_eq!(doc["model_size_stats"]["memory_status"], "ok");
        assert_eq!(doc["last_checkpoint"]["iso"], "1970-01-01T00:45:00.000Z");
    }
}
