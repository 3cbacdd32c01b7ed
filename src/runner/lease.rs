//! Leases: which runner process holds a job. A lease is a document in the state index,
//! taken and renewed with optimistic concurrency (`if_seq_no`/`if_primary_term`), so two
//! runners can never both believe they hold it; a runner that dies stops renewing and its
//! lease expires for another to take.

use crate::store::{IfVersion, PutMode, Store, StoreError};
use crate::time::EpochMillis;
use serde_json::{json, Value};

/// A held lease.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lease {
    /// The job (or job slice) the lease covers.
    pub key: String,
    /// Who holds it.
    pub holder: String,
    /// When it lapses unless renewed.
    pub expires: EpochMillis,
    version: IfVersion,
}

fn lease_id(key: &str) -> String {
    format!("{key}_lease")
}

fn lease_doc(key: &str, holder: &str, expires: EpochMillis) -> Value {
    json!({ "type": "lease", "job_id": key, "holder": holder, "expires": expires })
}

/// A name for this runner process: host and pid.
pub(crate) fn holder_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{}", std::process::id())
}

/// Takes the lease on `key` if it is free, expired, or already ours; `None` if another
/// runner holds it.
pub(crate) fn try_acquire(
    store: &dyn Store,
    index: &str,
    key: &str,
    holder: &str,
    now: EpochMillis,
    ttl_ms: i64,
) -> Result<Option<Lease>, StoreError> {
    let id = lease_id(key);
    let doc = lease_doc(key, holder, now + ttl_ms);
    let mode = match store.get(index, &id)? {
        None => PutMode::Create,
        Some(current) => {
            let owner = current
                .source
                .get("holder")
                .and_then(Value::as_str)
                .unwrap_or("");
            let expires = current
                .source
                .get("expires")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if owner != holder && expires > now {
                return Ok(None);
            }
            PutMode::IfMatch(IfVersion {
                seq_no: current.seq_no,
                primary_term: current.primary_term,
            })
        }
    };
    match store.put(index, &id, &doc, mode) {
        Ok(v) => Ok(Some(Lease {
            key: key.to_string(),
            holder: holder.to_string(),
            expires: now + ttl_ms,
            version: IfVersion {
                seq_no: v.seq_no,
                primary_term: v.primary_term,
            },
        })),
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Extends a held lease; `None` when it was lost (someone else took it after it lapsed).
pub(crate) fn renew(
    store: &dyn Store,
    index: &str,
    lease: &Lease,
    now: EpochMillis,
    ttl_ms: i64,
) -> Result<Option<Lease>, StoreError> {
    let doc = lease_doc(&lease.key, &lease.holder, now + ttl_ms);
    match store.put(
        index,
        &lease_id(&lease.key),
        &doc,
        PutMode::IfMatch(lease.version),
    ) {
        Ok(v) => Ok(Some(Lease {
            expires: now + ttl_ms,
            version: IfVersion {
                seq_no: v.seq_no,
                primary_term: v.primary_term,
            },
            ..lease.clone()
        })),
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Gives a lease up so another runner can take it at once.
pub fn release(store: &dyn Store, index: &str, lease: &Lease) -> Result<(), StoreError> {
    let doc = lease_doc(&lease.key, &lease.holder, 0);
    match store.put(
        index,
        &lease_id(&lease.key),
        &doc,
        PutMode::IfMatch(lease.version),
    ) {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
