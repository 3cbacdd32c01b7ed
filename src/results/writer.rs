//! Buffers result documents and writes them through the store in bulk, retrying outages.

use crate::store::{BulkDoc, Store, StoreError};
use serde_json::Value;
use std::time::Duration;

/// Documents queued before they are written: one `Store::bulk` call, which the elastic store
/// splits into up to three concurrent requests (so about 1,700 documents, 1 MB, each).
const BATCH: usize = 5_000;
/// Attempts for one bulk request while the store is unavailable.
const ATTEMPTS: u32 = 8;

/// Writes result documents to one index; ids make every write idempotent, so retrying a
/// partly applied bulk request never duplicates a document.
pub(crate) struct ResultsWriter<'a> {
    store: &'a dyn Store,
    index: String,
    pending: Vec<BulkDoc>,
    written: u64,
}

impl<'a> ResultsWriter<'a> {
    /// A writer into `index`.
    pub fn new(store: &'a dyn Store, index: &str) -> Self {
        ResultsWriter {
            store,
            index: index.to_string(),
            pending: Vec::new(),
            written: 0,
        }
    }

    /// Queues one document; writes a batch when enough are queued, without a refresh (a
    /// refresh per batch cost a third of a results-heavy lookback on a real engine; the
    /// caller's [`ResultsWriter::flush`] makes everything searchable at once).
    pub fn push(&mut self, id: String, doc: Value) -> Result<(), StoreError> {
        self.pending.push(BulkDoc {
            id: Some(id),
            source: doc,
        });
        if self.pending.len() >= BATCH {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Writes everything queued and makes it visible to search.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.write_pending()?;
        self.store.refresh(&self.index)
    }

    /// Writes everything queued without a refresh: the documents are durable once the bulk
    /// is acknowledged (a later checkpoint may name them) and become searchable at the
    /// engine's next refresh or at [`ResultsWriter::flush`]. Per chunk this saves a refresh.
    pub fn write_pending(&mut self) -> Result<(), StoreError> {
        let mut docs = std::mem::take(&mut self.pending);
        let mut attempt = 0;
        while !docs.is_empty() {
            attempt += 1;
            let result = self.store.bulk(&self.index, docs.clone());
            let retry: Vec<BulkDoc> = match result {
                Ok(resp) => {
                    self.written += resp.stored as u64;
                    let mut retry = Vec::new();
                    for item in &resp.failed {
                        let retryable = item.status == 429 || item.status >= 500;
                        if !retryable || attempt >= ATTEMPTS {
                            return Err(StoreError::Rejected {
                                index: self.index.clone(),
                                id: docs[item.position].id.clone().unwrap_or("?".into()),
                                reason: item.error.clone().unwrap_or("no reason given".into()),
                                status: item.status,
                            });
                        }
                        retry.push(docs[item.position].clone());
                    }
                    retry
                }
                Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                    tracing::warn!(index = %self.index, attempt, error = %e, "Retrying results write");
                    docs
                }
                Err(e) => return Err(e),
            };
            if !retry.is_empty() {
                std::thread::sleep(backoff(attempt));
            }
            docs = retry;
        }
        Ok(())
    }

    /// Documents written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

/// Exponential backoff: 100 ms, 200 ms, ... capped at 5 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BulkResponse, PutMode, VersionedDoc};
    use std::sync::Mutex;

    /// Records the size of each bulk and each refresh, in order.
    #[derive(Default)]
    struct Calls(Mutex<Vec<String>>);

    impl Store for Calls {
        fn describe(&self) -> String {
            "calls".into()
        }
        fn search(&self, _: &str, _: &Value) -> Result<Value, StoreError> {
            Ok(Value::Null)
        }
        fn bulk(&self, _: &str, docs: Vec<BulkDoc>) -> Result<BulkResponse, StoreError> {
            let mut calls = self.0.lock().expect("calls");
            calls.push(format!("bulk {}", docs.len()));
            Ok(BulkResponse {
                failed: Vec::new(),
                stored: docs.len(),
            })
        }
        fn get(&self, _: &str, _: &str) -> Result<Option<VersionedDoc>, StoreError> {
            Ok(None)
        }
        fn put(&self, _: &str, _: &str, _: &Value, _: PutMode) -> Result<VersionedDoc, StoreError> {
            Err(StoreError::Unavailable("not used".into()))
        }
        fn delete_by_query(&self, _: &str, _: &Value) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn refresh(&self, _: &str) -> Result<(), StoreError> {
            self.0.lock().expect("calls").push("refresh".into());
            Ok(())
        }
    }

    #[test]
    fn a_full_batch_is_written_without_a_refresh_and_flush_refreshes_once() {
        let store = Calls::default();
        let mut writer = ResultsWriter::new(&store, "results");
        for i in 0..BATCH + 1 {
            writer.push(format!("id{i}"), Value::Null).expect("push");
        }
        assert_eq!(
            *store.0.lock().expect("calls"),
            vec![format!("bulk {BATCH}")]
        );
        writer.flush().expect("flush");
        assert_eq!(
            *store.0.lock().expect("calls"),
            vec![format!("bulk {BATCH}"), "bulk 1".into(), "refresh".into()]
        );
        assert_eq!(writer.written(), BATCH as u64 + 1);
    }
}
