//! The embedded store: a directory on disk, queried in process.

use super::{BulkDoc, BulkResponse, PutMode, Store, StoreError, VersionedDoc};
use serde_json::Value;
use std::path::PathBuf;

/// A store in a local directory.
pub struct EmbeddedStore {
    dir: PathBuf,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Ok(EmbeddedStore { dir: dir.into() })
    }
}

impl Store for EmbeddedStore {
    fn describe(&self) -> String {
        format!("embedded:{}", self.dir.display())
    }
    fn search(&self, _index: &str, _body: &Value) -> Result<Value, StoreError> {
        Err(StoreError::BadRequest("not yet".into()))
    }
    fn bulk(&self, _index: &str, _docs: Vec<BulkDoc>) -> Result<BulkResponse, StoreError> {
        Err(StoreError::BadRequest("not yet".into()))
    }
    fn get(&self, _index: &str, _id: &str) -> Result<Option<VersionedDoc>, StoreError> {
        Ok(None)
    }
    fn put(
        &self,
        _index: &str,
        _id: &str,
        _doc: &Value,
        _mode: PutMode,
    ) -> Result<VersionedDoc, StoreError> {
        Err(StoreError::BadRequest("not yet".into()))
    }
    fn delete_by_query(&self, _index: &str, _query: &Value) -> Result<u64, StoreError> {
        Ok(0)
    }
    fn refresh(&self, _index: &str) -> Result<(), StoreError> {
        Ok(())
    }
}
