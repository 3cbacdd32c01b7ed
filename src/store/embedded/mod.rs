//! The embedded store: a directory on disk, queried in process, answering the subset of
//! Elasticsearch's `_search` JSON that tidewatch emits. Its on-disk format, what it keeps in
//! memory and the exact request subset are described in `src/store/embedded/README.md`.

mod aggs;
mod caps;
mod codec;
mod column;
mod ctx;
mod dsl;
mod hits;
mod index;
mod lock;
mod query;
mod query_string;
mod sealed;
mod search;

use super::{
    BulkDoc, BulkItemResult, BulkResponse, FlatDocs, PutMode, Store, StoreError, VersionedDoc,
};
use ctx::Ctx;
use index::{check_index_name, IndexState, Interner, PRIMARY_TERM, SEAL_DOCS};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

/// Compact an index once it holds more dead versions than this and than live documents.
const COMPACT_MIN_DEAD: usize = 1_000;
/// `refresh` seals an open segment holding at least this many document versions.
const SEAL_ON_REFRESH: usize = 16_384;
/// Elasticsearch's limit on `_id` length in bytes.
const MAX_ID_BYTES: usize = 512;

/// A store in a local directory. Its on-disk format, durability, lock and the exact request
/// subset it answers are described in `src/store/embedded/README.md`.
///
/// ```
/// use tidewatch::store::{BulkDoc, EmbeddedStore, Store};
/// use serde_json::json;
/// # let tmp = tempfile::tempdir().unwrap();
/// let store = EmbeddedStore::open(tmp.path().join("data"))?;
/// store.bulk("logs", vec![BulkDoc { id: Some("1".into()), source: json!({"status": 503}) }])?;
/// let resp = store.search("logs", &json!({"query": {"term": {"status": 503}}}))?;
/// assert_eq!(resp["hits"]["total"]["value"], 1);
/// # Ok::<(), tidewatch::store::StoreError>(())
/// ```
pub struct EmbeddedStore {
    dir: PathBuf,
    read_only: bool,
    shared: Arc<Shared>,
}

/// The state of one open directory. Writable handles of one process share it, so they never
/// hold diverging copies of an index (and never append over each other's records).
struct Shared {
    _lock: Option<lock::DirLock>,
    inner: RwLock<Inner>,
    pages: search::PageCache,
}

/// Writable stores open in this process, by canonical directory.
static OPEN: Mutex<Option<HashMap<PathBuf, Weak<Shared>>>> = Mutex::new(None);

#[derive(Default)]
struct Inner {
    interner: Interner,
    indices: BTreeMap<String, IndexState>,
}

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir` for reading and writing, taking the
    /// directory lock (shared by every handle of this process).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        let indices = dir.join("indices");
        std::fs::create_dir_all(&indices).map_err(|e| io_err(&indices, e))?;
        let canon = dir.canonicalize().map_err(|e| io_err(&dir, e))?;
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        let map = open.get_or_insert_with(HashMap::new);
        map.retain(|_, w| w.strong_count() > 0);
        let shared = match map.get(&canon).and_then(Weak::upgrade) {
            Some(s) => s,
            None => {
                let s = Arc::new(Shared {
                    _lock: Some(lock::DirLock::acquire(&canon)?),
                    inner: RwLock::new(Inner::default()),
                    pages: search::PageCache::default(),
                });
                map.insert(canon, Arc::downgrade(&s));
                s
            }
        };
        Ok(EmbeddedStore {
            dir,
            read_only: false,
            shared,
        })
    }

    /// Opens the store in `dir` for reading only, without the lock, so it works while another
    /// process writes. Each index is read on first use; `refresh` re-reads it. Writes fail
    /// with [`StoreError::ReadOnly`]. A missing directory reads as an empty store.
    pub fn open_read_only(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let shared = Arc::new(Shared {
            _lock: None,
            inner: RwLock::new(Inner::default()),
            pages: search::PageCache::default(),
        });
        Ok(EmbeddedStore {
            dir: dir.into(),
            read_only: true,
            shared,
        })
    }

    /// Rewrites `index` into one segment holding only live documents.
    pub fn compact(&self, index: &str) -> Result<(), StoreError> {
        self.writable()?;
        check_index_name(index)?;
        let mut inner = self.write_loaded(&[index.to_string()])?;
        let Inner { interner, indices } = &mut *inner;
        match indices.get_mut(index) {
            Some(st) => st.compact(interner),
            None => Ok(()),
        }
    }

    /// Removes the documents of `index` whose `time_field` is before `cutoff_ms` (epoch
    /// milliseconds), as `tidewatch store prune` does: the oldest sealed segments that hold
    /// only such documents are dropped whole (one manifest switch, nothing rewritten); the
    /// remaining older documents are deleted (durable delete records), the sealed segments
    /// that held some are rewritten without them, and the log is sealed. Every step is
    /// an atomic switch or a durable append: a crash anywhere leaves each document kept or
    /// removed, once, and pruning again finishes the job. Returns the documents removed.
    pub fn prune_older(
        &self,
        index: &str,
        time_field: &str,
        cutoff_ms: i64,
    ) -> Result<u64, StoreError> {
        self.writable()?;
        check_index_name(index)?;
        let names = [index.to_string()];
        let mut dropped = 0;
        {
            let mut inner = self.write_loaded(&names)?;
            let Inner { interner, indices } = &mut *inner;
            if let Some(st) = indices.get_mut(index) {
                if let Some(col) = st.columns.id(time_field) {
                    dropped = st.drop_older_segments(col, cutoff_ms as f64, interner)?;
                }
            }
        }
        let query =
            serde_json::json!({"range": {time_field: {"lt": cutoff_ms, "format": "epoch_millis"}}});
        let deleted = Store::delete_by_query(self, index, &query)?;
        if deleted > 0 {
            let mut inner = self.write_loaded(&names)?;
            let Inner { interner, indices } = &mut *inner;
            if let Some(st) = indices.get_mut(index) {
                let Some(col) = st.columns.id(time_field) else {
                    return Ok(dropped + deleted);
                };
                let run = st.sealed_reaching_below(col, cutoff_ms as f64);
                st.rewrite_sealed(run, interner)?;
                st.seal(interner)?;
            }
        }
        Ok(dropped + deleted)
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                dir: self.dir.display().to_string(),
            });
        }
        Ok(())
    }

    fn index_dir(&self, name: &str) -> PathBuf {
        self.dir.join("indices").join(name)
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.shared.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.shared.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Names of the indices an expression refers to, sorted.
    fn resolve(&self, expr: &str) -> Result<Vec<String>, StoreError> {
        let mut known: Vec<String> = Vec::new();
        let listing = || -> Vec<String> {
            let mut names: Vec<String> = match std::fs::read_dir(self.dir.join("indices")) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().join("manifest.json").exists())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect(),
                Err(_) => Vec::new(),
            };
            names.extend(
                self.read()
                    .indices
                    .iter()
                    .filter(|(_, st)| st.next_seq() > 0)
                    .map(|(k, _)| k.clone()),
            );
            names
        };
        let mut out = Vec::new();
        for part in expr.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "_all" || part.contains(['*', '?']) {
                if known.is_empty() {
                    known = listing();
                }
                let pat = if part == "_all" { "*" } else { part };
                out.extend(
                    known
                        .iter()
                        .filter(|n| {
                            ctx::glob(pat, n) && (!n.starts_with('.') || pat.starts_with('.'))
                        })
                        .cloned(),
                );
            } else {
                check_index_name(part)?;
                out.push(part.to_string());
            }
        }
        if out.is_empty() && expr.trim().is_empty() {
            return Err(StoreError::NoIndexName);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// A write guard with `names` loaded.
    fn write_loaded(&self, names: &[String]) -> Result<RwLockWriteGuard<'_, Inner>, StoreError> {
        let mut inner = self.write();
        for n in names {
            if !inner.indices.contains_key(n) {
                let Inner { interner, indices } = &mut *inner;
                let st = IndexState::load(n, self.index_dir(n), interner)?;
                if !self.read_only {
                    st.remove_orphans();
                }
                indices.insert(n.clone(), st);
            }
        }
        Ok(inner)
    }

    /// [`EmbeddedStore::write_loaded`] with the live flags of `names` resolved (see
    /// `IndexState::resolve_pending`), as a read needs them.
    fn write_resolved(&self, names: &[String]) -> Result<RwLockWriteGuard<'_, Inner>, StoreError> {
        let mut inner = self.write_loaded(names)?;
        for n in names {
            if let Some(st) = inner.indices.get_mut(n) {
                st.resolve_pending();
            }
        }
        Ok(inner)
    }

    /// A read guard with `names` loaded. An index holding records that fail their checksum
    /// (not a torn last record, which is recovery) is refused ([`StoreError::Corrupt`]), in
    /// a reader such as `tidewatch results` and in a writer such as `run` alike: an answer
    /// without them could hide an alert or teach a model a hole. Writes still go through.
    fn read_loaded(&self, names: &[String]) -> Result<RwLockReadGuard<'_, Inner>, StoreError> {
        // Another thread may write between the two locks: then resolve again.
        let inner = loop {
            let inner = self.read();
            let ready = |n: &String| inner.indices.get(n).is_some_and(|st| !st.unresolved());
            if names.iter().all(ready) {
                break inner;
            }
            drop(inner);
            drop(self.write_resolved(names)?);
        };
        for n in names {
            let Some(st) = inner.indices.get(n) else {
                continue;
            };
            if let Some((file, line, offset)) = &st.first_skipped {
                return Err(StoreError::Corrupt {
                    index: n.clone(),
                    file: file.clone(),
                    line: *line,
                    offset: *offset,
                    count: st.skipped_records,
                });
            }
        }
        Ok(inner)
    }

    /// Whether `index` exists: it has a manifest on disk or documents written by this
    /// process.
    pub fn index_exists(&self, index: &str) -> Result<bool, StoreError> {
        check_index_name(index)?;
        if self.index_dir(index).join("manifest.json").exists() {
            return Ok(true);
        }
        Ok(self
            .read()
            .indices
            .get(index)
            .is_some_and(|st| st.next_seq() > 0))
    }

    /// Runs a bulk write on index `index` (which must exist), then compacts or seals it when
    /// due.
    fn write_index(
        &self,
        index: &str,
        write: impl FnOnce(&mut IndexState, &mut Interner) -> Result<BulkResponse, StoreError>,
    ) -> Result<BulkResponse, StoreError> {
        self.writable()?;
        check_index_name(index)?;
        let mut inner = self.write_loaded(&[index.to_string()])?;
        let Inner { interner, indices } = &mut *inner;
        let st = indices
            .get_mut(index)
            .ok_or_else(|| StoreError::IndexNotFound(index.to_string()))?;
        let response = write(st, interner)?;
        if response.stored > 0 {
            Self::maybe_compact(st, interner)?;
        }
        Ok(response)
    }

    /// After a write: compacts an index that holds more dead versions than live documents,
    /// else seals its open segment once it holds [`SEAL_DOCS`] versions.
    fn maybe_compact(st: &mut IndexState, interner: &mut Interner) -> Result<(), StoreError> {
        // Resolving costs a pass over the sealed ids: only when a compaction may be due.
        if st.may_be_compactable(COMPACT_MIN_DEAD) {
            st.resolve_pending();
        }
        let dead = st.dead_count();
        if dead > COMPACT_MIN_DEAD && dead > st.live_count {
            st.compact(interner)?;
        } else if st.open_docs() >= SEAL_DOCS {
            st.seal(interner)?;
            st.merge_small(interner)?;
        }
        Ok(())
    }
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("document id must not be empty".into());
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "document id is {} bytes long; the limit is {MAX_ID_BYTES}",
            id.len()
        ));
    }
    Ok(())
}

/// A bulk item refused as a bad request.
fn refused(position: usize, error: String) -> BulkItemResult {
    BulkItemResult {
        position,
        status: 400,
        error: Some(error),
    }
}

impl Store for EmbeddedStore {
    fn describe(&self) -> String {
        if self.read_only {
            format!("embedded:{} (read-only)", self.dir.display())
        } else {
            format!("embedded:{}", self.dir.display())
        }
    }

    fn search(&self, index: &str, body: &Value) -> Result<Value, StoreError> {
        let names = self.resolve(index)?;
        let inner = self.read_loaded(&names)?;
        let indices = names.iter().filter_map(|n| inner.indices.get(n)).collect();
        let mut ctx = Ctx::new(indices, &inner.interner);
        let answer = search::search(&mut ctx, Some(&self.shared.pages), body);
        for n in &names {
            if let Some(st) = inner.indices.get(n) {
                st.release_pages();
            }
        }
        answer
    }

    fn bulk(&self, index: &str, mut docs: Vec<BulkDoc>) -> Result<BulkResponse, StoreError> {
        self.write_index(index, |st, interner| {
            // Rejected items are marked with a `null` source and dropped in place: the
            // request's own vector carries the documents on (no second large allocation per
            // request).
            let mut failed = Vec::new();
            let mut next = st.next_seq();
            for (position, doc) in docs.iter_mut().enumerate() {
                let problem = if !doc.source.is_object() {
                    Some(format!("document {position} is not a JSON object"))
                } else {
                    match &doc.id {
                        Some(id) => check_id(id)
                            .err()
                            .map(|e| format!("document {position}: {e}")),
                        None => {
                            doc.id = Some(format!("auto-{next:012}"));
                            None
                        }
                    }
                };
                match problem {
                    Some(error) => {
                        failed.push(refused(position, error));
                        doc.source = Value::Null;
                    }
                    None => next += 1,
                }
            }
            if !failed.is_empty() {
                docs.retain(|d| !d.source.is_null());
            }
            let stored = docs.len();
            if stored > 0 {
                st.write_docs(docs, interner)?;
            }
            Ok(BulkResponse { failed, stored })
        })
    }

    fn bulk_flat(&self, index: &str, docs: &FlatDocs) -> Result<BulkResponse, StoreError> {
        self.write_index(index, |st, interner| {
            let mut failed = Vec::new();
            let mut keep = Vec::with_capacity(docs.len());
            for position in 0..docs.len() {
                match check_id(docs.id(position)) {
                    Ok(()) => keep.push(position),
                    Err(e) => failed.push(refused(position, format!("document {position}: {e}"))),
                }
            }
            let stored = keep.len();
            if stored > 0 {
                st.write_flat(docs, &keep, interner)?;
            }
            Ok(BulkResponse { failed, stored })
        })
    }

    fn get(&self, index: &str, id: &str) -> Result<Option<VersionedDoc>, StoreError> {
        check_index_name(index)?;
        let inner = self.read_loaded(&[index.to_string()])?;
        let Some(st) = inner.indices.get(index) else {
            return Ok(None);
        };
        let Some(slot) = st.slot_of(id) else {
            return Ok(None);
        };
        let source =
            serde_json::from_str(&st.doc_source(slot)?).map_err(|e| StoreError::Damaged {
                path: format!("{index}/{id}"),
                problem: format!("stored source is not JSON: {e}"),
            })?;
        Ok(Some(VersionedDoc {
            source,
            seq_no: st.seq_no(slot),
            primary_term: PRIMARY_TERM,
        }))
    }

    fn put(
        &self,
        index: &str,
        id: &str,
        doc: &Value,
        mode: PutMode,
    ) -> Result<VersionedDoc, StoreError> {
        self.writable()?;
        check_index_name(index)?;
        check_id(id).map_err(|problem| StoreError::InvalidDocument {
            index: index.to_string(),
            id: id.to_string(),
            problem,
        })?;
        if !doc.is_object() {
            return Err(StoreError::InvalidDocument {
                index: index.to_string(),
                id: id.to_string(),
                problem: "a document must be a JSON object".into(),
            });
        }
        let mut inner = self.write_loaded(&[index.to_string()])?;
        let Inner { interner, indices } = &mut *inner;
        let st = indices
            .get_mut(index)
            .ok_or_else(|| StoreError::IndexNotFound(index.to_string()))?;
        st.resolve_pending();
        let current = st.slot_of(id).map(|s| st.seq_no(s));
        let conflict = || StoreError::Conflict {
            index: index.to_string(),
            id: id.to_string(),
        };
        match mode {
            PutMode::Overwrite => {}
            PutMode::Create => {
                if current.is_some() {
                    return Err(conflict());
                }
            }
            PutMode::IfMatch(v) => {
                if current != Some(v.seq_no) || v.primary_term != PRIMARY_TERM {
                    return Err(conflict());
                }
            }
        }
        let one = BulkDoc {
            id: Some(id.to_string()),
            source: doc.clone(),
        };
        let seqs = st.write_docs(vec![one], interner)?;
        Self::maybe_compact(st, interner)?;
        Ok(VersionedDoc {
            source: doc.clone(),
            seq_no: seqs[0],
            primary_term: PRIMARY_TERM,
        })
    }

    fn delete_by_query(&self, index: &str, query: &Value) -> Result<u64, StoreError> {
        self.writable()?;
        let names = self.resolve(index)?;
        let mut inner = self.write_resolved(&names)?;
        let per_index: Vec<(String, Vec<u32>)> = {
            let indices = names.iter().filter_map(|n| inner.indices.get(n)).collect();
            let mut ctx = Ctx::new(indices, &inner.interner);
            // Accept the `_delete_by_query` body form `{"query": {...}}` too.
            let query = match query.as_object() {
                Some(o) if o.len() == 1 && o.contains_key("query") => &o["query"],
                _ => query,
            };
            let q = dsl::parse(&mut ctx, query)?;
            let flags = query::eval(&ctx, &q);
            ctx.indices
                .iter()
                .zip(flags)
                .map(|(st, f)| {
                    let slots = f.ones().map(|i| i as u32).collect();
                    (st.name.clone(), slots)
                })
                .collect()
        };
        let Inner { interner, indices } = &mut *inner;
        let mut n = 0;
        for (name, slots) in per_index {
            if let Some(st) = indices.get_mut(&name) {
                n += st.delete_slots(&slots)?;
                Self::maybe_compact(st, interner)?;
            }
        }
        Ok(n)
    }

    fn check_readable(&self, index: &str) -> Result<(), StoreError> {
        if !self.index_exists(index)? {
            return Err(StoreError::IndexNotFound(index.to_string()));
        }
        drop(self.read_loaded(&[index.to_string()])?);
        Ok(())
    }

    fn field_caps(&self, index: &str, fields: &[String]) -> Result<Value, StoreError> {
        let mut names = Vec::new();
        for n in self.resolve(index)? {
            if self.index_exists(&n)? {
                names.push(n);
            }
        }
        let inner = self.read_loaded(&names)?;
        let mapped = |field: &str| -> Vec<(&str, Option<&'static str>)> {
            names
                .iter()
                .map(|n| {
                    let t = inner
                        .indices
                        .get(n)
                        .and_then(|st| st.columns.type_name(field));
                    (n.as_str(), t)
                })
                .collect()
        };
        Ok(caps::response(&names, fields, mapped))
    }

    fn refresh(&self, index: &str) -> Result<(), StoreError> {
        // Writes are durable and visible when they return; a read-only handle re-reads. A
        // writer seals an open segment holding more than a few thousand documents (the end
        // of an `ingest` or a batch of results), so the store stays compact on disk.
        let names = self.resolve(index)?;
        let mut inner = self.write();
        let Inner { interner, indices } = &mut *inner;
        for n in names {
            if self.read_only {
                indices.remove(&n);
            } else if let Some(st) = indices.get_mut(&n) {
                if st.open_docs() >= SEAL_ON_REFRESH {
                    st.seal(interner)?;
                    st.merge_small(interner)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
