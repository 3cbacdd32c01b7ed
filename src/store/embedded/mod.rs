//! The embedded store: a directory on disk, queried in process, answering the subset of
//! Elasticsearch's `_search` JSON that tidewatch emits.
//!
//! # Why a small engine of its own
//! tidewatch needs a zero-setup default store that gives the *same JSON* as Elasticsearch for
//! a few dozen query and aggregation forms. A search library (tantivy) would still need a
//! translation layer for requests and responses, and costs minutes of compile time on small
//! machines. This engine parses each document once into columns (dotted field path -> typed
//! values per document) and answers requests by scanning those columns, which is fast enough
//! for millions of documents on one machine.
//!
//! # In memory
//! - Document ids and sources (compact JSON, serialised once per write straight into the
//!   segment record) live in 4 MB arena blocks, and ids are found through a map keyed by a
//!   64-bit hash of the id (with a side map for ids whose hash is taken): no heap allocation
//!   per stored document. Half a million small long-lived allocations interleaved with each
//!   bulk request's JSON trees had fragmented glibc's heap so badly that its `malloc` and
//!   `free` took most of an ingest.
//! - `bool` clauses after the first test only the documents the earlier ones kept.
//! - Composite paging: the groups of a request of the datafeed's shape (`size: 0`, one
//!   top-level `composite`) are kept for its next pages, keyed by the searched indices'
//!   versions (every write changes them) and the body without `after`; a further page is a
//!   binary search plus the page's own buckets, without evaluating the query again. The four
//!   most recent requests are kept; bodies with `now` never are.
//!
//! # On disk
//! `DIR/LOCK` (pid and host of the writing process) and `DIR/indices/<index>/` with a
//! `manifest.json` and append-only segment files of checksummed NDJSON-like records (see
//! `index.rs`). An index is loaded on its first use.
//! - **Durability**: every `bulk`, `put` and `delete_by_query` call fsyncs before it returns
//!   (one fsync per call, not per document; in `bulk` it runs on a helper thread beside the
//!   in-memory indexing of the same documents). `refresh` has nothing left to flush.
//! - **Crash safety**: a torn last record is detected by its checksum (or missing newline),
//!   ignored on load and cut off before the next append; a corrupted record elsewhere is
//!   skipped with a warning. Neither poisons the index.
//! - **Ids**: the same id overwrites (replays are idempotent). A document without an id gets
//!   `auto-<seq_no>`, deterministic for the same sequence of writes (a replay without ids
//!   appends, as in Elasticsearch).
//! - **Compaction**: when superseded or deleted versions outnumber live documents (and are
//!   more than 1,000), the index is rewritten into one segment, keeping each document's
//!   `seq_no`; the manifest switch is atomic (write, fsync, rename).
//! - **Versions**: `seq_no` increases per index across all writes; `primary_term` is always 1.
//! - **Lock**: per process. A second process opening the directory gets
//!   [`StoreError::Locked`] naming the holder's pid and host; a lock from a dead pid on this
//!   host is taken over; the same process may open the store many times, and all its
//!   writable handles share one in-memory state. Readers that must
//!   not take the lock (e.g. `tidewatch results` while `tidewatch run` works) use
//!   [`EmbeddedStore::open_read_only`]: a snapshot loaded lazily, reloaded by `refresh`.
//!
//! # Supported request subset
//! **Index expressions**: a name, a comma list, `*`/`?` patterns (`nginx-*`; a pattern
//! matches names starting with `.` only if it starts with `.`), `_all`. Missing indices give
//! no hits (as `ignore_unavailable`).
//!
//! **Search body keys**: `query`, `aggs`/`aggregations`, `size` (default 10), `from`,
//! `sort`, `search_after`, `_source`, `track_total_hits`; `from + size` is capped at 10,000
//! like `index.max_result_window`. Response: `took`, `timed_out`, `_shards`,
//! `hits.total {value, relation}` (exact up to `track_total_hits`, default 10,000, then
//! `gte`; `true` is always exact; `false` omits it), `hits.max_score`, `hits.hits[]` with
//! `_index`, `_id`, `_score` (1.0 unsorted, null when sorted), `_source`, `sort`.
//!
//! **Sort**: field names, `{field: "asc"|"desc"}`, `{field: {order}}`, arrays of these,
//! `_id`, `_doc`, `_score` (no-op). Multi-valued fields sort by min (asc) / max (desc);
//! missing values sort last; ties are broken by `_id`, then index order. `sort` values are
//! dates as epoch millis, numbers, strings; `null` for a missing value (Elasticsearch prints
//! a sentinel there), and `search_after` accepts `null` back.
//!
//! **Queries**: `match_all`, `match_none`, `bool` (`must`, `filter`, `should` with
//! `minimum_should_match` as integer, negative integer or percentage, `must_not`), `term`,
//! `terms`, `ids`, `range` (`gt`/`gte`/`lt`/`lte`, on numbers, on dates given as RFC 3339 or
//! other [`crate::time::parse_timestamp`] forms or epoch millis, with `format: epoch_millis`
//! or `epoch_second`, `now`/`now-15m`/`now+1h`; on strings lexicographically), `exists`,
//! `prefix`, `wildcard`, `match`/`match_phrase` (exact value, no text analysis),
//! `constant_score`, `query_string` (see `query_string.rs`: `field:value`, AND/OR/NOT,
//! parentheses, quotes, `field:*`, `_exists_:f`, wildcards, `[a TO b]`, `>=n`; exact,
//! case-sensitive matching). `term` on `_id` and `_index` works. Values compare across types
//! as Elasticsearch coerces them (`"503"` matches 503; a date string matches the same
//! instant).
//!
//! **Fields**: dotted paths through nested objects and flat dotted keys alike
//! (`http.response.status_code` finds both `{"http":{"response":{"status_code":503}}}` and
//! `{"http.response.status_code":503}`); `x.keyword` falls back to `x`; arrays match if any
//! element matches; `null` and `[]` are missing. Strings shaped like
//! `strict_date_optional_time` (`yyyy-MM-dd` or `yyyy-MM-ddT...`) are dates, as with
//! Elasticsearch's dynamic mapping; numbers are `long` for a field until a non-integral value
//! appears (then keys print as doubles). There are no mappings: a field may hold mixed types.
//!
//! **Aggregations** (nestable, in request order under `aggregations`):
//! - `date_histogram`: `field`, `fixed_interval` (or `interval`; `calendar_interval` only for
//!   minute/hour/day), `offset`, `min_doc_count` (default 0: empty buckets between the first
//!   and last, extended by `extended_bounds`, clipped by `hard_bounds`), `keyed`. Keys are
//!   epoch millis, `key_as_string` RFC 3339 with millis and `Z`.
//! - `histogram`: `field`, `interval`, `offset`, `min_doc_count`, `extended_bounds`,
//!   `hard_bounds`, `keyed`; keys are doubles.
//! - `terms`: `field`, `size` (default 10), `min_doc_count` (default 1), `order` by
//!   `_count`/`_key`/a single-value sub-aggregation (`"sub"`, `"stats.avg"`), ties by key
//!   ascending, `missing`, `include`/`exclude` as value lists, `include: {partition,
//!   num_partitions}`. Keys keep the field's type; dates get `key_as_string`, booleans are
//!   1/0 with `key_as_string`. Counts are exact (`doc_count_error_upper_bound` is 0).
//!   Partitions hash as Elasticsearch does (murmur3 x86_32 seed 31 of the UTF-8 string;
//!   HPPC `mix64` of longs, dates and booleans); non-integral numbers hash their text, which
//!   may differ from Elasticsearch.
//! - `composite`: `sources` of `terms`, `histogram`, `date_histogram` (with `order`,
//!   `missing_bucket`), `size` (default 10), `after`; answers `after_key` (the last bucket's
//!   key) when it returns buckets.
//! - `filter`, `filters` (keyed or anonymous, `other_bucket`, `other_bucket_key`).
//! - Metrics: `cardinality` (exact), `value_count`, `avg`, `sum`, `min`, `max` (with
//!   `value_as_string` for dates), `stats`, `percentiles` (`percents`, `keyed`; exact, linear
//!   interpolation between closest ranks, so values differ slightly from Elasticsearch's
//!   TDigest), `top_hits` (`size`, `from`, `sort`, `_source`).
//! - Sibling pipelines: `max_bucket`, `min_bucket`, `avg_bucket`, `sum_bucket` with
//!   `buckets_path` `"agg>metric"` or `"agg>_count"`.
//!
//! # Measured (release build, 2-core VM shared with other builds)
//! The pipeline as users run it, CPU time (steadier than wall time on the shared machine):
//! - `tidewatch ingest` of the demo log (549,839 lines, gzip, 1,000-document bulk requests,
//!   one fsync each): 4.0 to 4.7 s CPU, about 120,000 lines/s, parsing included (before
//!   the arena: 14 to 22 s); the 550 fsyncs add about 2 s of waiting on this disk;
//! - `tidewatch demo` (generate, ingest, run the 5 example jobs): 7 to 9 s CPU (before:
//!   28 to 36 s);
//! - `tidewatch run --once` over the ingested demo store (loading 550,000 documents
//!   included): about 5 s CPU.
//!
//! Reproduce: `cargo bench --bench store` (ingest through the ingest `Loader`, index load,
//! the demo jobs' lookback fetches; `TIDEWATCH_BENCH_DAYS` shortens the log). `perf_500k` in
//! `tests.rs` (`cargo test --release --lib store::embedded::tests::perf -- --ignored
//! --nocapture`, `TW_PERF_DOCS` changes the size) measures the store alone on documents
//! built up front, which flatters bulk indexing (it measured 130,000 docs/s while the real
//! pipeline ran at 37,000 lines/s).
//!
//! Not supported (answered with [`StoreError::BadRequest`] naming the alternative): scripts,
//! regular expressions in `include`/`exclude`, calendar months/years, time zones, date math
//! rounding (`now/d`), scoring, mappings and `ensure_templates`.

mod aggs;
mod index;
mod lock;
mod query;
mod query_string;
mod search;

use super::{BulkDoc, BulkItemResult, BulkResponse, PutMode, Store, StoreError, VersionedDoc};
use index::{check_index_name, IndexState, Interner, PRIMARY_TERM};
use query::Ctx;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

/// Compact an index once it holds more dead versions than this and than live documents.
const COMPACT_MIN_DEAD: usize = 1_000;
/// Elasticsearch's limit on `_id` length in bytes.
const MAX_ID_BYTES: usize = 512;

/// A store in a local directory. Its on-disk format, durability, lock, the exact request
/// subset it answers and measured figures are described at the top of
/// `src/store/embedded/mod.rs`.
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
    /// with [`StoreError::BadRequest`]. A missing directory reads as an empty store.
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

    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::BadRequest(format!(
                "the store {} was opened read-only; writes need `EmbeddedStore::open`",
                self.dir.display()
            )));
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
                            query::glob(pat, n) && (!n.starts_with('.') || pat.starts_with('.'))
                        })
                        .cloned(),
                );
            } else {
                check_index_name(part)?;
                out.push(part.to_string());
            }
        }
        if out.is_empty() && expr.trim().is_empty() {
            return Err(StoreError::BadRequest("an index name is required".into()));
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

    /// A read guard with `names` loaded. A read-only store (a reader such as `tidewatch
    /// results`) refuses an index holding records that fail their checksum
    /// ([`StoreError::Corrupt`]): an answer without them could hide an alert. The writer
    /// skips them with a warning, so a run goes on and `status` names the damage.
    fn read_loaded(&self, names: &[String]) -> Result<RwLockReadGuard<'_, Inner>, StoreError> {
        let inner = {
            let inner = self.read();
            if names.iter().all(|n| inner.indices.contains_key(n)) {
                inner
            } else {
                drop(inner);
                drop(self.write_loaded(names)?);
                self.read()
            }
        };
        if self.read_only {
            for n in names {
                let Some(st) = inner.indices.get(n) else {
                    continue;
                };
                if let Some((file, line)) = &st.first_skipped {
                    return Err(StoreError::Corrupt {
                        index: n.clone(),
                        file: file.clone(),
                        line: *line,
                        count: st.skipped_records,
                    });
                }
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

    fn maybe_compact(st: &mut IndexState, interner: &mut Interner) -> Result<(), StoreError> {
        let dead = st.dead_count();
        if dead > COMPACT_MIN_DEAD && dead > st.live_count {
            st.compact(interner)?;
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
        let mut ctx = Ctx {
            indices: names.iter().filter_map(|n| inner.indices.get(n)).collect(),
            interner: &inner.interner,
            extra: Vec::new(),
            pages: Some(&self.shared.pages),
        };
        search::search(&mut ctx, body)
    }

    fn bulk(&self, index: &str, mut docs: Vec<BulkDoc>) -> Result<BulkResponse, StoreError> {
        self.writable()?;
        check_index_name(index)?;
        let mut inner = self.write_loaded(&[index.to_string()])?;
        let Inner { interner, indices } = &mut *inner;
        let st = indices
            .get_mut(index)
            .ok_or_else(|| StoreError::IndexNotFound(index.to_string()))?;
        // Rejected items are marked with a `null` source and dropped in place: the request's
        // own vector carries the documents on (no second large allocation per request).
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
                    failed.push(BulkItemResult {
                        position,
                        status: 400,
                        error: Some(error),
                    });
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
            Self::maybe_compact(st, interner)?;
        }
        Ok(BulkResponse { failed, stored })
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
        let source = serde_json::from_str(st.doc_source(slot)).map_err(|e| {
            StoreError::BadRequest(format!("{index}/{id}: stored source is not JSON: {e}"))
        })?;
        Ok(Some(VersionedDoc {
            source,
            seq_no: st.docs[slot as usize].seq_no,
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
        check_id(id).map_err(StoreError::BadRequest)?;
        if !doc.is_object() {
            return Err(StoreError::BadRequest(format!(
                "{index}/{id}: a document must be a JSON object"
            )));
        }
        let mut inner = self.write_loaded(&[index.to_string()])?;
        let Inner { interner, indices } = &mut *inner;
        let st = indices
            .get_mut(index)
            .ok_or_else(|| StoreError::IndexNotFound(index.to_string()))?;
        let current = st.slot_of(id).map(|s| st.docs[s as usize].seq_no);
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
        let mut inner = self.write_loaded(&names)?;
        let per_index: Vec<(String, Vec<u32>)> = {
            let mut ctx = Ctx {
                indices: names.iter().filter_map(|n| inner.indices.get(n)).collect(),
                interner: &inner.interner,
                extra: Vec::new(),
                pages: None,
            };
            // Accept the `_delete_by_query` body form `{"query": {...}}` too.
            let query = match query.as_object() {
                Some(o) if o.len() == 1 && o.contains_key("query") => &o["query"],
                _ => query,
            };
            let q = query::parse(&mut ctx, query)?;
            let flags = query::eval(&ctx, &q);
            ctx.indices
                .iter()
                .zip(flags)
                .map(|(st, f)| {
                    let slots = f
                        .iter()
                        .enumerate()
                        .filter(|(_, &m)| m)
                        .map(|(i, _)| i as u32)
                        .collect();
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

    fn refresh(&self, index: &str) -> Result<(), StoreError> {
        // Writes are durable and visible when they return; a read-only handle re-reads.
        if self.read_only {
            let names = self.resolve(index)?;
            let mut inner = self.write();
            for n in names {
                inner.indices.remove(&n);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
