//! Where documents live: the [`Store`] trait and its backends.
//!
//! Both backends speak **Elasticsearch's request and response JSON** for the few operations
//! the runner needs, so the datafeed and the results writer are written once:
//! - [`Store::search`] takes a `_search` body (`query`, `aggs`, `size`, `sort`,
//!   `search_after`, `_source`) and answers in Elasticsearch's response shape
//!   (`hits.hits[]._id/_source/sort`, `hits.total.value`, `aggregations.NAME.buckets[]` with
//!   `key`, `key_as_string`, `doc_count`, `after_key`).
//! - [`Store::bulk`] indexes documents by id (idempotent: the same id overwrites).
//! - [`Store::get`] and [`Store::put`] with optimistic concurrency for checkpoints and leases.
//!
//! `embedded` is the zero-setup default: a directory on disk, evaluated in process.
//! `elastic` talks to an Elasticsearch or OpenSearch cluster over HTTP (`http(s)://` specs).

mod elastic;
mod embedded;
mod flat;
mod prune;

use serde_json::Value;

pub(crate) use elastic::ecs_logs_index;
pub use elastic::{
    Distribution, ElasticOptions, ElasticStats, ElasticStore, EngineInfo, RetryPolicy,
    TemplateOutcome, TEMPLATES,
};
pub use embedded::EmbeddedStore;
pub use flat::{FlatDoc, FlatDocs, Leaf, LeafValue};
pub use prune::{prune, PruneOptions, PruneSummary};

/// Errors from a store backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A search request with a part the store cannot read: where in the request (the
    /// aggregation, the query clause, `sort`, `search_after`...) and what was expected there.
    #[error("store: search request: {at}: {problem}")]
    InvalidSearch {
        /// The part of the request at fault, e.g. ``aggregation `by_host` ``, ``sort on `bytes` ``.
        at: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A query type the embedded store does not implement (a cluster answers with
    /// [`StoreError::Refused`]).
    #[error(
        "store: query `{kind}` is not supported by the embedded store; supported: {supported}"
    )]
    UnsupportedQuery {
        /// The query type asked for, e.g. `fuzzy`.
        kind: String,
        /// The query types it does support.
        supported: &'static str,
    },
    /// An aggregation type the embedded store does not implement.
    #[error("store: aggregation type `{kind}` (in `{name}`) is not supported by the embedded store; supported: {supported}")]
    UnsupportedAggregation {
        /// The aggregation's name in the request.
        name: String,
        /// Its type, e.g. `geohash_grid`.
        kind: String,
        /// The aggregation types it does support.
        supported: &'static str,
    },
    /// A search whose aggregations would make more buckets than the store answers at once
    /// (Elasticsearch's `search.max_buckets`).
    #[error("store: too_many_buckets_exception: Trying to create too many buckets. Must be less than or equal to: [{limit}] but was [{requested}]. This limit can be set by changing the [search.max_buckets] cluster level setting.")]
    TooManyBuckets {
        /// The most buckets one search may make.
        limit: usize,
        /// How many this one would make.
        requested: usize,
    },
    /// A request that names no index (an empty name or pattern).
    #[error("store: an index name is required")]
    NoIndexName,
    /// A document the store cannot hold as given: which, why, and what is expected.
    #[error("store: document `{index}/{id}`: {problem}")]
    InvalidDocument {
        /// The index written to.
        index: String,
        /// The document's id.
        id: String,
        /// What is wrong, e.g. `a document must be a JSON object`.
        problem: String,
    },
    /// Something over a size the store's format can represent.
    #[error("store: {what} is too large: {limit}")]
    TooLarge {
        /// What, with where, e.g. ``<dir>/nginx-logs/seg-7: column `url.original` ``.
        what: String,
        /// The limit it passes, e.g. `a document is at most 4 GiB`.
        limit: String,
    },
    /// A store file that is not what the store wrote (hand-edited, truncated by another
    /// tool): which file, and what was found; restore it from a backup or re-ingest.
    #[error("store: {path}: {problem}; restore the index from a backup or re-ingest it")]
    Damaged {
        /// The file (or `index/id` for a stored document).
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The cluster answered a request with an error status other than the ones given their
    /// own variant (authentication, privileges, a missing index, a version conflict, an
    /// overloaded or failing cluster): mostly HTTP 400, a request it cannot parse.
    #[error("store: {request}: HTTP {status}: {reason}")]
    Refused {
        /// The request, `METHOD URL` (credentials removed).
        request: String,
        /// The HTTP status.
        status: u16,
        /// The engine's error type and reason (and root cause when it says more).
        reason: String,
    },
    /// A request that cannot reach the cluster and would fail the same way again: a
    /// certificate the client rejects, a URL it cannot use.
    #[error("store: {request}: {reason}")]
    Unreachable {
        /// The request, `METHOD URL` (credentials removed).
        request: String,
        /// Why it cannot be sent.
        reason: String,
    },
    /// The store URL answers, but not as Elasticsearch or OpenSearch, or as a version
    /// tidewatch cannot use.
    #[error("store: {url}: {found}; tidewatch needs Elasticsearch 7.10 or later (7.17, 8.x, 9.x) or OpenSearch 1.x/2.x")]
    UnsupportedEngine {
        /// The store URL (credentials removed).
        url: String,
        /// What answered, e.g. `Elasticsearch 6.8.23 is not supported`.
        found: String,
    },
    /// A `--store` URL that cannot be used: what is wrong and what was expected.
    #[error("store: store URL: {problem}")]
    InvalidUrl {
        /// What is wrong and what was expected.
        problem: String,
    },
    /// The CA certificate file named by `TIDEWATCH_ES_CA_CERT` cannot be used.
    #[error("store: TIDEWATCH_ES_CA_CERT {path}: {problem}")]
    CaCert {
        /// The file.
        path: String,
        /// What is wrong with it and what was expected.
        problem: String,
    },
    /// An index template tidewatch installs (`mappings/`) that does not read as one: a
    /// defect of this build, not of the cluster.
    #[error("store: index template `{name}` (mappings/): {problem}")]
    InvalidTemplate {
        /// The template's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An operation that takes exactly one index was given a pattern or a list.
    #[error("store: --index `{index}`: {operation} takes one index name, not a pattern or list")]
    NotOneIndex {
        /// What was given.
        index: String,
        /// The operation, e.g. `prune`.
        operation: &'static str,
    },
    /// The cluster refused the credentials (HTTP 401).
    #[error("store: {0} (authentication failed: check the user and password in the URL or TIDEWATCH_ES_USER/TIDEWATCH_ES_PASSWORD, TIDEWATCH_ES_API_KEY or TIDEWATCH_ES_BEARER)")]
    Unauthorized(String),
    /// The credentials lack a privilege the request needs (HTTP 403).
    #[error("store: {0} (the credentials lack the privilege for this request)")]
    Forbidden(String),
    /// A request body could not be written as JSON.
    #[error("store: could not encode a request as JSON: {0}")]
    Encode(#[from] serde_json::Error),
    /// A write through a store opened read-only (`results`, `status`, `serve`).
    #[error("store: the store {dir} was opened read-only; writes need `EmbeddedStore::open`")]
    ReadOnly {
        /// The store's directory.
        dir: String,
    },
    /// An index name Elasticsearch would refuse too.
    #[error("store: invalid index name `{name}`: expected lowercase, without spaces or any of \\ / * ? \" < > | , # :, not starting with - _ +")]
    InvalidIndexName {
        /// The name given.
        name: String,
    },
    /// The store refused a result document for good (not worth retrying): which, and why.
    #[error(
        "store: writing results to `{index}` failed for document {id}: {reason} (status {status})"
    )]
    Rejected {
        /// The index written to.
        index: String,
        /// The document's id (`?` when it had none).
        id: String,
        /// The store's reason.
        reason: String,
        /// The HTTP-like status of the item.
        status: u16,
    },
    /// A search answer without the part tidewatch reads (a proxy in between, or an engine
    /// that answers differently).
    #[error("store: unexpected search response: {0}")]
    UnexpectedResponse(String),
    /// The index does not exist.
    #[error("store: no such index `{0}`")]
    IndexNotFound(String),
    /// A conditional write lost: someone else wrote the document first.
    #[error("store: version conflict on `{index}/{id}`")]
    Conflict {
        /// Index of the document.
        index: String,
        /// Id of the document.
        id: String,
    },
    /// The store could not be reached or failed; worth retrying.
    #[error("store: unavailable: {0}")]
    Unavailable(String),
    /// Local disk I/O failed.
    #[error("store: {path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The store is held by another process.
    #[error("store: {0}")]
    Locked(String),
    /// A `--store` argument that names no store, or names one that is not there.
    #[error("store: {0}")]
    NotFound(String),
    /// A stored record failed its checksum: the index cannot be read whole.
    #[error("store: index `{index}` is corrupt: {file}:{line} (byte {offset}): a record fails its checksum ({count} such record{s}); restore the index from a backup or re-ingest it", s = if *count == 1 { "" } else { "s" })]
    Corrupt {
        /// The index.
        index: String,
        /// The segment file holding the first bad record.
        file: String,
        /// Its line in that file.
        line: usize,
        /// Its byte offset in that file.
        offset: u64,
        /// How many records fail their checksum in the index.
        count: usize,
    },
}

impl StoreError {
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// One document to index, with its id.
#[derive(Debug, Clone)]
pub struct BulkDoc {
    /// Document id; `None` lets the store assign one.
    pub id: Option<String>,
    /// The document body.
    pub source: Value,
}

/// Outcome of one bulk item.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkItemResult {
    /// Position of the item in the request.
    pub position: usize,
    /// HTTP-like status (200/201 ok, 4xx rejected, 429/503 retryable).
    pub status: u16,
    /// The reason when the item failed.
    pub error: Option<String>,
}

/// Outcome of a bulk request.
#[derive(Debug, Clone, Default)]
pub struct BulkResponse {
    /// Items that failed, in request order; empty when all succeeded.
    pub failed: Vec<BulkItemResult>,
    /// Number of items stored.
    pub stored: usize,
}

/// A document with its concurrency token.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionedDoc {
    /// The document body.
    pub source: Value,
    /// Sequence number of the last write.
    pub seq_no: u64,
    /// Primary term of the last write.
    pub primary_term: u64,
}

/// Condition on a [`Store::put`]: the write succeeds only if the stored document still has
/// this `seq_no`/`primary_term` (`None` in [`Store::put`] means "must not exist yet").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfVersion {
    /// Expected sequence number.
    pub seq_no: u64,
    /// Expected primary term.
    pub primary_term: u64,
}

/// How a [`Store::put`] treats an existing document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Overwrite whatever is there.
    Overwrite,
    /// Create only; fail with [`StoreError::Conflict`] if the id exists.
    Create,
    /// Replace only if the stored version matches.
    IfMatch(IfVersion),
}

/// The operations tidewatch needs from a document store.
pub trait Store: Send + Sync {
    /// A short human description, e.g. `embedded:./tidewatch-data` (never with credentials).
    fn describe(&self) -> String;
    /// Runs a `_search` over `index` (a name, a comma-separated list, or a `*` pattern).
    /// A missing index answers with no hits rather than an error, as with
    /// `ignore_unavailable: true`.
    fn search(&self, index: &str, body: &Value) -> Result<Value, StoreError>;
    /// Runs several searches (each an index as [`Store::search`] takes it, and a body) in as
    /// few round trips as the store can; one answer per search, in order, each what
    /// [`Store::search`] would have answered, its own error included. The outer error is for
    /// a failure of the whole call. The default runs them one after the other.
    fn msearch(
        &self,
        searches: &[(&str, &Value)],
    ) -> Result<Vec<Result<Value, StoreError>>, StoreError> {
        Ok(searches
            .iter()
            .map(|(index, body)| self.search(index, body))
            .collect())
    }
    /// Indexes documents; the same id overwrites.
    fn bulk(&self, index: &str, docs: Vec<BulkDoc>) -> Result<BulkResponse, StoreError>;
    /// Indexes documents given serialised, with their leaves (what `tidewatch ingest`
    /// hands over): the same as [`Store::bulk`] of the same documents, item positions
    /// included. The default parses each source back into a tree for [`Store::bulk`].
    fn bulk_flat(&self, index: &str, docs: &FlatDocs) -> Result<BulkResponse, StoreError> {
        self.bulk(index, docs.to_bulk()?)
    }
    /// Reads one document by id.
    fn get(&self, index: &str, id: &str) -> Result<Option<VersionedDoc>, StoreError>;
    /// Writes one document by id under `mode`; returns the new version.
    fn put(
        &self,
        index: &str,
        id: &str,
        doc: &Value,
        mode: PutMode,
    ) -> Result<VersionedDoc, StoreError>;
    /// Deletes every document matching `query` (a query DSL object); returns how many.
    fn delete_by_query(&self, index: &str, query: &Value) -> Result<u64, StoreError>;
    /// Makes earlier writes visible to search and durable.
    fn refresh(&self, index: &str) -> Result<(), StoreError>;
    /// Checks that `index` (one name) exists and can be searched, unlike [`Store::search`]
    /// which answers a missing index with no hits: [`StoreError::IndexNotFound`] when it does
    /// not exist, another error when it is closed, corrupt or unreadable. The default, for
    /// stores that cannot tell, accepts every index.
    fn check_readable(&self, index: &str) -> Result<(), StoreError> {
        let _ = index;
        Ok(())
    }
    /// Creates `index` with `body` (`settings` and `mappings`, as `PUT /INDEX` takes them)
    /// unless it exists; returns whether it was created. The default, for stores without
    /// mappings (the embedded store keeps every value whole, aggregatable), creates nothing.
    fn create_index(&self, index: &str, body: &Value) -> Result<bool, StoreError> {
        let _ = (index, body);
        Ok(false)
    }
    /// How `fields` (exact dotted names) are mapped across the indices `index` names (a
    /// comma-separated list or `*` patterns; missing indices are left out), in the shape of
    /// Elasticsearch's `_field_caps?include_unmapped=true`: `indices` (the indices that
    /// exist), and `fields.NAME.TYPE` with `aggregatable`, `searchable` and, when the field's
    /// types differ between indices, the `indices` of each type (`unmapped` for indices
    /// without the field). A field mapped nowhere is absent from `fields`. The default, for
    /// stores that cannot tell, names no index (nothing to check).
    fn field_caps(&self, index: &str, fields: &[String]) -> Result<Value, StoreError> {
        let _ = (index, fields);
        Ok(serde_json::json!({ "indices": [], "fields": {} }))
    }
}

/// What a `--store` argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreSpec<'a> {
    /// `embedded:DIR`: the directory.
    Embedded(&'a str),
    /// An `http://` or `https://` cluster URL, as given.
    Cluster(&'a str),
}

/// Reads a `--store` argument: `embedded:DIR` or an `http(s)://` URL, nothing else (a
/// mistyped scheme such as `htp://host:9200` must not become a local directory).
pub(crate) fn parse_spec(spec: &str) -> Result<StoreSpec<'_>, StoreError> {
    if let Some(dir) = spec.strip_prefix("embedded:") {
        if dir.trim().is_empty() {
            return Err(StoreError::NotFound(
                "`embedded:` needs a directory, e.g. `embedded:./tidewatch-data`".into(),
            ));
        }
        return Ok(StoreSpec::Embedded(dir));
    }
    if spec.starts_with("http://") || spec.starts_with("https://") {
        return Ok(StoreSpec::Cluster(spec));
    }
    let shown = match spec.split_once("://") {
        // Never echo credentials of a URL-like argument.
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => spec.to_string(),
        },
        None => spec.to_string(),
    };
    Err(StoreError::NotFound(format!(
        "`{shown}` is not a store: expected `embedded:DIR` or an `http://` or `https://` URL"
    )))
}

/// Opens the store named by a `--store` argument like [`open`], but for reading only: an
/// embedded store is opened without taking its directory lock (see
/// [`EmbeddedStore::open_read_only`]), so `results`, `status` and `serve` work while a `run`
/// process holds the lock; writes through it fail with [`StoreError::ReadOnly`] and
/// [`Store::refresh`] re-reads what the writer has stored since. It never creates anything:
/// an embedded directory that does not exist is [`StoreError::NotFound`]. For `http(s)://`
/// specs it is the same as [`open`].
pub fn open_read_only(spec: &str) -> Result<Box<dyn Store>, StoreError> {
    match parse_spec(spec)? {
        StoreSpec::Cluster(url) => open_cluster(url),
        StoreSpec::Embedded(dir) => {
            let path = std::path::Path::new(dir);
            match std::fs::read_dir(path) {
                Ok(_) => Ok(Box::new(EmbeddedStore::open_read_only(dir)?)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(StoreError::NotFound(format!(
                        "no store at `{dir}`: the directory does not exist (check --store; nothing was ingested or run there)"
                    )))
                }
                Err(source) => Err(StoreError::Io {
                    path: dir.to_string(),
                    source,
                }),
            }
        }
    }
}

/// Opens the store named by a `--store` argument: `embedded:DIR` (created if missing), or an
/// `http(s)://[user:password@]host:port` cluster URL (credentials also from
/// `TIDEWATCH_ES_*`, see [`ElasticOptions::from_env`]). A cluster gets tidewatch's index
/// templates installed on first use; a user without the privilege to do so gets a warning.
/// Any other argument is [`StoreError::NotFound`] (see `parse_spec`).
pub fn open(spec: &str) -> Result<Box<dyn Store>, StoreError> {
    match parse_spec(spec)? {
        StoreSpec::Embedded(dir) => Ok(Box::new(EmbeddedStore::open(dir)?)),
        StoreSpec::Cluster(url) => open_cluster(url),
    }
}

fn open_cluster(url: &str) -> Result<Box<dyn Store>, StoreError> {
    let store = ElasticStore::connect(url, ElasticOptions::from_env())?;
    match store.ensure_templates() {
        Ok(_) => {}
        Err(StoreError::Forbidden(reason)) => {
            tracing::warn!(store = %store.describe(), %reason, "Could not install index templates");
        }
        Err(e) => return Err(e),
    }
    Ok(Box::new(store))
}
