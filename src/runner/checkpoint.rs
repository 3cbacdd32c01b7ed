//! Checkpoints and model snapshots in the state index, written so that a crash at any
//! instant resumes to exactly the results an uninterrupted run gives.
//!
//! Order of writes for one step: results (idempotent by id) → snapshot parts into the slot
//! the checkpoint does *not* point at → the checkpoint, naming that slot. A crash before the
//! checkpoint leaves the previous checkpoint and its intact slot; the replayed buckets rewrite
//! identical result documents, because the model is deterministic.

use crate::analysis::JobAnalysis;
use crate::config::Job;
use crate::store::{BulkDoc, PutMode, Store, StoreError};
use crate::time::EpochMillis;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Default index for checkpoints, snapshots and leases.
pub const STATE_INDEX: &str = "tidewatch-state";

/// Snapshot bytes per state document (base64 inflates by a third).
const PART_BYTES: usize = 4 << 20;

/// Where a job stands, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Start of the first bucket not analysed yet.
    pub next_bucket: EpochMillis,
    /// Which of the two snapshot slots holds the state for `next_bucket`.
    pub slot: u32,
    /// Number of snapshot parts in that slot.
    pub parts: u32,
    /// Fingerprint of the job definition the state belongs to.
    pub fingerprint: String,
    /// Documents analysed in each recent bucket (start, count): the delayed-data check
    /// compares them with what is present later, also after a restart.
    pub recent_counts: Vec<(EpochMillis, u64)>,
}

/// The recent bucket counts of a checkpoint document (`[{bucket, count}]`).
fn recent_counts_of(doc: &Value) -> Vec<(EpochMillis, u64)> {
    let Some(items) = doc.get("recent_counts").and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| Some((i.get("bucket")?.as_i64()?, i.get("count")?.as_u64()?)))
        .collect()
}

/// A fingerprint of everything in a job that shapes its models: a changed job starts over
/// instead of resuming from state that no longer fits it.
pub fn fingerprint(job: &Job) -> String {
    let shape = format!(
        "{:?}|{:?}|{:?}|{:?}|{}|{:?}|{:?}",
        job.bucket_span,
        job.detectors,
        job.influencers,
        job.indices,
        job.query,
        job.time_field,
        job.model
    );
    let digest = Sha256::digest(shape.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

fn checkpoint_id(job_id: &str) -> String {
    format!("{job_id}_checkpoint")
}

fn part_id(job_id: &str, slot: u32, part: u32) -> String {
    format!("{job_id}_snapshot_{slot}_{part}")
}

/// Reads the job's checkpoint, if any.
pub fn load_checkpoint(
    store: &dyn Store,
    index: &str,
    job: &Job,
) -> Result<Option<Checkpoint>, StoreError> {
    let Some(doc) = store.get(index, &checkpoint_id(&job.job_id))? else {
        return Ok(None);
    };
    let s = &doc.source;
    let field = |k: &str| s.get(k).and_then(Value::as_i64);
    Ok(
        match (
            field("next_bucket"),
            field("slot"),
            field("parts"),
            s.get("fingerprint").and_then(Value::as_str),
        ) {
            (Some(next_bucket), Some(slot), Some(parts), Some(fp)) => Some(Checkpoint {
                next_bucket,
                slot: slot as u32,
                parts: parts as u32,
                fingerprint: fp.to_string(),
                recent_counts: recent_counts_of(s),
            }),
            _ => None,
        },
    )
}

/// Restores the analysis a checkpoint points at; `None` when the job changed or the snapshot
/// cannot be read (the caller then starts over and says so).
pub fn load_snapshot(
    store: &dyn Store,
    index: &str,
    job: &Job,
    cp: &Checkpoint,
) -> Result<Option<JobAnalysis>, StoreError> {
    if cp.fingerprint != fingerprint(job) {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    for part in 0..cp.parts {
        let Some(doc) = store.get(index, &part_id(&job.job_id, cp.slot, part))? else {
            return Ok(None);
        };
        let Some(data) = doc.source.get("data").and_then(Value::as_str) else {
            return Ok(None);
        };
        match base64::engine::general_purpose::STANDARD.decode(data) {
            Ok(b) => bytes.extend_from_slice(&b),
            Err(_) => return Ok(None),
        }
    }
    Ok(JobAnalysis::from_snapshot(job, &bytes))
}

/// Writes the analysis into the free slot, then the checkpoint naming it. Returns the new
/// checkpoint.
pub fn save(
    store: &dyn Store,
    index: &str,
    job: &Job,
    previous: Option<&Checkpoint>,
    analysis: &JobAnalysis,
    next_bucket: EpochMillis,
    recent_counts: Vec<(EpochMillis, u64)>,
) -> Result<Checkpoint, StoreError> {
    let slot = previous.map(|c| 1 - c.slot.min(1)).unwrap_or(0);
    let bytes = analysis.to_snapshot();
    let engine = base64::engine::general_purpose::STANDARD;
    let docs: Vec<BulkDoc> = bytes
        .chunks(PART_BYTES)
        .enumerate()
        .map(|(i, chunk)| BulkDoc {
            id: Some(part_id(&job.job_id, slot, i as u32)),
            source: json!({ "job_id": job.job_id, "type": "model_snapshot_part", "slot": slot,
                            "part": i, "next_bucket": next_bucket, "data": engine.encode(chunk) }),
        })
        .collect();
    let parts = docs.len() as u32;
    if !docs.is_empty() {
        let resp = store.bulk(index, docs)?;
        if let Some(f) = resp.failed.first() {
            return Err(StoreError::Unavailable(format!(
                "writing the model snapshot of `{}` failed: {}",
                job.job_id,
                f.error.as_deref().unwrap_or("no reason given")
            )));
        }
    }
    // No refresh: the parts are read back with realtime GETs, and an acknowledged bulk is
    // durable before the checkpoint naming them is written.
    let cp = Checkpoint {
        next_bucket,
        slot,
        parts,
        fingerprint: fingerprint(job),
        recent_counts,
    };
    let counts: Vec<Value> = cp
        .recent_counts
        .iter()
        .map(|(t, n)| json!({ "bucket": t, "count": n }))
        .collect();
    let doc = json!({ "job_id": job.job_id, "type": "checkpoint", "next_bucket": next_bucket,
                      "slot": slot, "parts": parts, "fingerprint": cp.fingerprint,
                      "snapshot_bytes": bytes.len(), "recent_counts": counts });
    store.put(index, &checkpoint_id(&job.job_id), &doc, PutMode::Overwrite)?;
    Ok(cp)
}
