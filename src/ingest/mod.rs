//! Access logs into the store: parse each line into an ECS-named document and bulk-load it.
//!
//! `tidewatch ingest --index NAME [--format combined|'<log_format>'] FILE...`
//!
//! Choices a newcomer may question:
//! - **nginx `log_format` strings, not regular expressions.** Users already have the format
//!   in their nginx config; compiling it ([`LogFormat::compile`]) gives a parser that names
//!   the failing field in every error and runs a plain left-to-right substring scan (several
//!   hundred thousand lines a second).
//! - **Nested documents.** Fields are stored as nested objects
//!   (`{"http": {"response": {"status_code": 200}}}`), exactly what Elasticsearch users see
//!   in `_source`; queries, aggregations and the datafeed address them by dotted path
//!   (`http.response.status_code`), which both stores resolve.
//! - **No JSON tree per line.** A line fills a small trie of the format's fields (`doc.rs`)
//!   and is written once as its `_source` text and its leaves into a reused batch
//!   ([`crate::store::FlatDocs`]), which the embedded store copies into its log and columns
//!   and the cluster store into `_bulk`: building and walking a `serde_json` tree per line
//!   was most of an ingest's CPU (issue 17). [`LogFormat::parse_line`] still returns the
//!   tree, for callers that want one.
//! - **ECS names.** `@timestamp`, `source.address`, `user.name`, `http.request.method`,
//!   `url.original`, `http.version`, `http.response.status_code`,
//!   `http.response.body.bytes`, `http.request.referrer`, `user_agent.original`,
//!   `source.geo.country_iso_code`, `event.duration` (nanoseconds, from `$request_time`).
//!   A variable without an ECS home is kept as `nginx.<name>` (text). A value of `-` leaves
//!   the field out. `mappings/nginx-logs.json` is the index template with their types.
//! - **GeoIP from the address, at ingest** (`--geoip`, `--geoip-asn`; `geoip/`): the
//!   country, continent, city, a geo_point location and the AS are looked up once per line
//!   in MaxMind DB files, so jobs split or partition on them like any other field
//!   (docs/ingest.md).
//! - **Deterministic ids.** A document's id is the first 128 bits of the SHA-256 of its line
//!   (hex), so re-ingesting a file, or a rotated copy of it under another name, overwrites
//!   instead of duplicating. Identical lines within one input (two requests in the same
//!   second with the same everything) are real and are kept apart: the n-th repeat hashes
//!   the line together with n.
//! - **Bad lines are data, not failures.** A line that does not match is counted, skipped
//!   and reported (file, line number, field, what was expected); so is a document the store
//!   refuses. Only I/O errors and an unreachable store stop an ingest.

mod doc;
mod ecs;
mod format;
mod geoip;
mod load;
mod seen;

pub use format::{FormatError, LineError, LogFormat, ParsedLine, COMBINED};
pub use geoip::{GeoIp, GeoIpCounts, GeoIpError};
pub use load::{IngestSummary, Loader, Rejection, DEFAULT_BATCH_SIZE};

use crate::store::{Store, StoreError};
use std::io::IsTerminal;
use std::path::PathBuf;

/// How far ahead of now a line may be dated (clock skew between hosts, time zones written
/// wrong by an hour or so) before ingest rejects it.
pub(crate) const MAX_FUTURE_MS: i64 = 86_400_000;

/// Options of `tidewatch ingest`.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Index to store the documents in.
    pub index: String,
    /// `combined` (nginx's predefined format) or an nginx `log_format` string, e.g.
    /// '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$geoip_country_code"'.
    pub format: String,
    /// Documents per bulk request.
    pub batch_size: usize,
    /// Accept lines dated before 1990 or more than a day in the future. By default they are
    /// rejected (counted and reported): a wrong clock or a garbled year would otherwise
    /// start or carry a job where no data is.
    pub any_time: bool,
    /// A MaxMind DB file (`.mmdb`: MaxMind GeoLite2 Country/City, DB-IP Lite, or an
    /// `@ip-location-db/*-mmdb` npm package's file) to add `source.geo.*` from the client
    /// address. Private and reserved addresses get no geo fields and are counted.
    pub geoip: Option<PathBuf>,
    /// A second MaxMind DB file, for `source.as.number` and `source.as.organization.name`
    /// (MaxMind GeoLite2 ASN, DB-IP ASN Lite). Needs --geoip.
    pub geoip_asn: Option<PathBuf>,
    /// Access logs to read: plain text or gzip (detected from the content); `-` reads stdin.
    pub files: Vec<PathBuf>,
}

/// Why an ingest stopped (bad lines never stop it; see [`IngestSummary`]).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// `--format` is not a usable `log_format`.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// An input could not be opened.
    #[error("{path}: cannot open: {source}")]
    Open {
        /// The input.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Reading an input failed part-way (including a corrupt gzip stream).
    #[error("{path}:{line}: reading failed: {source}")]
    Read {
        /// The input.
        path: String,
        /// The line being read.
        line: u64,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The store failed a whole bulk request.
    #[error("{path}: lines {first_line}-{last_line} could not be stored: {source}")]
    Store {
        /// The input.
        path: String,
        /// First line of the failed batch.
        first_line: u64,
        /// Last line of the failed batch.
        last_line: u64,
        /// The store's error.
        source: StoreError,
    },
    /// An input or the store failed part-way: what was stored before stays (a re-run of the
    /// same ingest overwrites it, by id, without duplicates).
    #[error(
        "{source}; stopped after storing {stored} of the {lines} lines read into `{index}`{note}"
    )]
    Stopped {
        /// What stopped it.
        source: Box<IngestError>,
        /// Documents stored before it stopped (exact: a batch read before an input error is
        /// stored first).
        stored: u64,
        /// Non-blank lines read.
        lines: u64,
        /// The index.
        index: String,
        /// What else may be stored (a failed bulk request may be partly applied).
        note: String,
    },
    /// Every line was rejected, or there was none: nothing was stored.
    #[error("nothing was stored into `{index}`: {why}")]
    NothingStored {
        /// The index.
        index: String,
        /// Why, for a person.
        why: String,
    },
    /// A `--geoip`/`--geoip-asn` database cannot be used.
    #[error(transparent)]
    GeoIp(#[from] GeoIpError),
    /// The final refresh of the index failed.
    #[error("index `{index}`: refresh after loading failed: {source}")]
    Refresh {
        /// The index.
        index: String,
        /// The store's error.
        source: StoreError,
    },
}

/// Runs `tidewatch ingest`: reads every file in `args.files` into `args.index` and returns
/// the counts. A progress bar is drawn on stderr when it is a terminal.
///
/// ```
/// # use tidewatch::store::{BulkDoc, BulkResponse, PutMode, Store, StoreError, VersionedDoc};
/// # use serde_json::Value;
/// # use std::sync::Mutex;
/// # #[derive(Default)] struct Mem(Mutex<usize>);
/// # impl Store for Mem {
/// #     fn describe(&self) -> String { "mem".into() }
/// #     fn search(&self, _: &str, _: &Value) -> Result<Value, StoreError> { unimplemented!() }
/// #     fn bulk(&self, _: &str, docs: Vec<BulkDoc>) -> Result<BulkResponse, StoreError> {
/// #         *self.0.lock().unwrap() += docs.len();
/// #         Ok(BulkResponse { failed: vec![], stored: docs.len() })
/// #     }
/// #     fn get(&self, _: &str, _: &str) -> Result<Option<VersionedDoc>, StoreError> { Ok(None) }
/// #     fn put(&self, _: &str, _: &str, _: &Value, _: PutMode) -> Result<VersionedDoc, StoreError> { unimplemented!() }
/// #     fn delete_by_query(&self, _: &str, _: &Value) -> Result<u64, StoreError> { Ok(0) }
/// #     fn refresh(&self, _: &str) -> Result<(), StoreError> { Ok(()) }
/// # }
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("access.log");
/// std::fs::write(&path, concat!(
///     r#"1.2.3.4 - - [17/May/2015:08:05:32 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.0""#, "\n",
///     "garbage\n",
/// )).unwrap();
/// let args = tidewatch::ingest::IngestOptions {
///     index: "logs".into(),
///     format: "combined".into(),
///     batch_size: 5000,
///     any_time: false,
///     geoip: None,
///     geoip_asn: None,
///     files: vec![path],
/// };
/// let store = Mem::default();
/// let summary = tidewatch::ingest::run(&args, &store).unwrap();
/// assert_eq!((summary.stored, summary.rejected), (1, 1));
/// assert_eq!(summary.rejections[0].line, 2);
/// ```
pub fn run(args: &IngestOptions, store: &dyn Store) -> crate::Result<IngestSummary> {
    let format = LogFormat::named(&args.format).map_err(IngestError::from)?;
    let geoip = match &args.geoip {
        Some(db) => Some(open_geoip(&format, db, args.geoip_asn.as_deref())?),
        None => None,
    };
    for warning in prepare_index(store, &args.index)? {
        tracing::warn!(index = %args.index, "{warning}");
    }
    let mut loader = Loader::new(store, &args.index, format).batch_size(args.batch_size);
    if let Some(geoip) = geoip {
        loader = loader.with_geoip(geoip);
    }
    if !args.any_time {
        let now = chrono::Utc::now().timestamp_millis();
        loader = loader.with_time_bounds(crate::time::EARLIEST_PLAUSIBLE, now + MAX_FUTURE_MS);
    }
    if std::io::stderr().is_terminal() {
        loader = loader.with_progress(&args.files);
    }
    for path in &args.files {
        if let Err(e) = loader.read_path(path) {
            return Err(loader.stopped(e).into());
        }
    }
    Ok(loader.finish()?)
}

/// Before loading into `index`: creates it with the ECS mapping when it does not exist
/// (whatever its name; the nginx template alone reaches only `nginx-*`), else checks how it
/// maps the ECS fields that jobs aggregate and returns one warning per field it cannot
/// aggregate (dynamic mapping makes strings `text`), saying what a job will do with it.
pub fn prepare_index(store: &dyn Store, index: &str) -> Result<Vec<String>, StoreError> {
    let body = crate::store::ecs_logs_index()?;
    if store.create_index(index, &body)? {
        tracing::info!(
            index,
            "Created the index with the ECS mapping of mappings/nginx-logs.json"
        );
        return Ok(Vec::new());
    }
    let mut wanted = Vec::new();
    ecs_fields(&body["mappings"]["properties"], "", &mut wanted);
    let mut asked: Vec<String> = wanted.iter().map(|(f, _)| f.clone()).collect();
    asked.extend(wanted.iter().map(|(f, _)| format!("{f}.keyword")));
    let caps = store.field_caps(index, &asked)?;
    let mut warnings = Vec::new();
    for (field, ecs_type) in &wanted {
        for (name, t) in crate::datafeed::unaggregatable(&caps, field) {
            let keyword = format!("{field}.keyword");
            let what = if crate::datafeed::aggregatable_in(&caps, &keyword, name) {
                format!("jobs read it through `{keyword}`")
            } else {
                "jobs cannot split, count or influence by it; delete the index and ingest again to get the ECS mapping".to_string()
            };
            warnings.push(format!(
                "index `{name}` maps `{field}` as `{t}` (ECS: `{ecs_type}`), which cannot be aggregated: {what}"
            ));
        }
    }
    Ok(warnings)
}

/// The dotted names and types of the mapping's aggregatable fields (every typed field that
/// is not `text`).
fn ecs_fields(properties: &serde_json::Value, prefix: &str, out: &mut Vec<(String, String)>) {
    let Some(map) = properties.as_object() else {
        return;
    };
    for (name, def) in map {
        let path = format!("{prefix}{name}");
        if let Some(children) = def.get("properties") {
            ecs_fields(children, &format!("{path}."), out);
        } else if let Some(t) = def.get("type").and_then(serde_json::Value::as_str) {
            if t != "text" {
                out.push((path, t.to_string()));
            }
        }
    }
}

/// Opens the GeoIP databases, once the format is known to have a client address.
fn open_geoip(
    format: &LogFormat,
    db: &std::path::Path,
    asn: Option<&std::path::Path>,
) -> Result<GeoIp, IngestError> {
    let has_address = format
        .variables()
        .any(|v| matches!(v, "remote_addr" | "realip_remote_addr"));
    if !has_address {
        let format = format.as_str().to_owned();
        return Err(GeoIpError::NoAddress { format }.into());
    }
    Ok(GeoIp::open(db, asn)?)
}

/// Checks that an ingest stored something: an input of only rejected lines (a wrong
/// `--format`, a binary file) or of no lines at all is [`IngestError::NothingStored`].
pub fn check_stored(summary: &IngestSummary) -> Result<(), IngestError> {
    if summary.stored > 0 {
        return Ok(());
    }
    let why = if summary.lines == 0 {
        "the input has no lines".to_string()
    } else {
        format!(
            "all {} lines were rejected (is --format right? the first rejection is {})",
            summary.lines,
            summary
                .rejections
                .first()
                .map_or_else(|| "not recorded".to_string(), ToString::to_string)
        )
    };
    Err(IngestError::NothingStored {
        index: summary.index.clone(),
        why,
    })
}
