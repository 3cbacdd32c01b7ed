//! The `elastic` store: an Elasticsearch (7.17, 8.x, 9.x) or OpenSearch (2.x) cluster over HTTP.
//!
//! Why a hand-written client on `ureq` rather than the official `elasticsearch` crate: the
//! runner needs seven endpoints, the official crate is async and published only as
//! pre-releases, and it performs a product check that OpenSearch fails. A small synchronous
//! client keeps the [`Store`] trait sync, speaks to both engines, and lets us decide retries on
//! HTTP status (Elasticsearch says `es_rejected_execution_exception` where OpenSearch says
//! `rejected_execution_exception`; both say 429).
//!
//! Retries:
//! - whole requests: connection errors and 502/503/504 are retried for idempotent calls
//!   (search, get, refresh, bulk with ids, overwrite puts); 429 is retried for every call since
//!   the cluster rejected it before doing anything; `Retry-After` is honoured (capped);
//! - bulk items: items answering 429 or 503 are re-sent alone with backoff and jitter; other
//!   item failures (e.g. `mapper_parsing_exception`) are returned in [`BulkResponse::failed`]
//!   with the engine's reason, never dropped.
//!
//! Credentials (URL userinfo, `TIDEWATCH_ES_USER`/`TIDEWATCH_ES_PASSWORD`,
//! `TIDEWATCH_ES_API_KEY`, `TIDEWATCH_ES_BEARER`) are kept out of [`Store::describe`], logs
//! and errors: every message built here passes through a redactor that knows the secrets.

use super::{
    BulkDoc, BulkItemResult, BulkResponse, FlatDocs, IfVersion, PutMode, Store, StoreError,
    VersionedDoc,
};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The index templates tidewatch installs, as `(template name, JSON)`.
///
/// Each file under `mappings/` is a composable index template body (`index_patterns`,
/// `template.settings`, `template.mappings`, `version`, `_meta.version`): the nginx access
/// logs `tidewatch ingest` writes (`nginx-*`, ECS types), the results and the runner's state.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "tidewatch-nginx-logs",
        include_str!("../../mappings/nginx-logs.json"),
    ),
    (
        "tidewatch-results",
        include_str!("../../mappings/results.json"),
    ),
    ("tidewatch-state", include_str!("../../mappings/state.json")),
];

/// The body that creates an index for `tidewatch ingest` whatever its name: the `settings`
/// and `mappings` of the nginx logs template (`mappings/nginx-logs.json`), which otherwise
/// only reaches indices named `nginx-*`.
pub(crate) fn ecs_logs_index() -> Result<Value, StoreError> {
    let (name, text) = TEMPLATES[0];
    let template: Value = serde_json::from_str(text).map_err(|e| StoreError::InvalidTemplate {
        name: name.to_string(),
        problem: format!("mappings/nginx-logs.json: invalid JSON: {e}"),
    })?;
    match template.get("template") {
        Some(body) => Ok(body.clone()),
        None => Err(StoreError::InvalidTemplate {
            name: name.to_string(),
            problem: "mappings/nginx-logs.json: no `template` object".into(),
        }),
    }
}

/// Largest response body read into memory (search responses with many buckets can be large).
const MAX_RESPONSE_BYTES: u64 = 1 << 30;
/// Largest `_bulk` body sent in one request; bigger batches are split (clusters refuse bodies
/// over `http.max_content_length`, 100 MB by default, and large bodies cost heap).
const MAX_BULK_BYTES: usize = 8 << 20;
/// Most documents sent in one `_bulk` request.
const MAX_BULK_DOCS: usize = 5_000;
/// `(status, error)` of each item of one `_bulk` request.
type ItemOutcomes = Vec<(u16, Option<String>)>;

/// `_bulk` requests one [`Store::bulk`] call keeps in flight at once, so the engine indexes
/// on several threads while the client waits (Elastic's tuning advice: concurrent bulks).
const BULK_IN_FLIGHT: usize = 3;
/// Fewest documents in a request split off for concurrency (tiny bulks cost more than they
/// overlap).
const MIN_SPLIT_DOCS: usize = 500;
/// Searches per `_msearch` request: a chunk's influencer lookups are a few hundred small
/// searches at most; the engine runs the items of one request a few at a time
/// (`max_concurrent_searches`), so bigger requests would only delay the first answers.
const MSEARCH_MAX_SEARCHES: usize = 200;
/// Longest `Retry-After` honoured, so a misbehaving proxy cannot stall a run for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Which search engine answered `GET /`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// Elasticsearch (any licence).
    Elasticsearch,
    /// OpenSearch (`version.distribution == "opensearch"`).
    OpenSearch,
}

/// The engine and version detected on connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    /// Elasticsearch or OpenSearch.
    pub distribution: Distribution,
    /// `version.number` as reported, e.g. `7.17.29` or `2.19.6`.
    pub version: String,
    /// Major version number.
    pub major: u32,
    /// Minor version number.
    pub minor: u32,
}

impl std::fmt::Display for EngineInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.distribution {
            Distribution::Elasticsearch => "elasticsearch",
            Distribution::OpenSearch => "opensearch",
        };
        write!(f, "{name} {}", self.version)
    }
}

/// Bounded retries with exponential backoff and jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (default 6).
    pub max_attempts: u32,
    /// Delay before the second attempt (default 100 ms); doubles each attempt.
    pub initial_backoff: Duration,
    /// Upper bound on one delay (default 5 s).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// How to reach and authenticate against the cluster, besides its URL.
#[derive(Clone, Default)]
pub struct ElasticOptions {
    /// Basic-auth user (overridden by userinfo in the URL).
    pub user: Option<String>,
    /// Basic-auth password.
    pub password: Option<String>,
    /// API key: the base64 `encoded` form, or `id:api_key` (encoded here).
    pub api_key: Option<String>,
    /// Bearer token (e.g. an OAuth or service-account token).
    pub bearer: Option<String>,
    /// PEM file with the CA certificate(s) to trust instead of the public roots.
    pub ca_cert: Option<std::path::PathBuf>,
    /// Timeout of one HTTP call, connect to last byte (default 60 s).
    pub timeout: Option<Duration>,
    /// Retry policy (default [`RetryPolicy::default`]).
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for ElasticOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |o: &Option<String>| o.as_ref().map(|_| "***");
        f.debug_struct("ElasticOptions")
            .field("user", &self.user)
            .field("password", &hidden(&self.password))
            .field("api_key", &hidden(&self.api_key))
            .field("bearer", &hidden(&self.bearer))
            .field("ca_cert", &self.ca_cert)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

impl ElasticOptions {
    /// Reads `TIDEWATCH_ES_USER`, `TIDEWATCH_ES_PASSWORD`, `TIDEWATCH_ES_API_KEY`,
    /// `TIDEWATCH_ES_BEARER` and `TIDEWATCH_ES_CA_CERT` (empty values count as unset).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        ElasticOptions {
            user: var("TIDEWATCH_ES_USER"),
            password: var("TIDEWATCH_ES_PASSWORD"),
            api_key: var("TIDEWATCH_ES_API_KEY"),
            bearer: var("TIDEWATCH_ES_BEARER"),
            ca_cert: var("TIDEWATCH_ES_CA_CERT").map(Into::into),
            timeout: None,
            retry: RetryPolicy::default(),
        }
    }
}

/// Counters of what the client retried, for tests and progress output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ElasticStats {
    /// HTTP requests sent (every attempt counts).
    pub requests: u64,
    /// Whole requests retried after a connection error, 429 or 5xx.
    pub request_retries: u64,
    /// Bulk items re-sent after a 429/503 item status.
    pub bulk_item_retries: u64,
    /// `_search` requests answered.
    pub searches: u64,
    /// `_bulk` requests answered.
    pub bulks: u64,
    /// The engine's own time: the sum of `took` (milliseconds) of the searches and bulks.
    pub took_ms: u64,
}

/// Whether every outcome of a request can safely be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idempotent {
    Yes,
    /// Retry only on 429 (rejected before any work was done).
    No,
}

/// A request that got no HTTP answer.
#[derive(Debug)]
enum TransportError {
    /// Connection refused/reset, timeout, DNS: worth another attempt.
    Retryable(String),
    /// Certificate rejected, bad URL: the same request fails the same way.
    Fatal(String),
}

impl From<ureq::Error> for TransportError {
    fn from(e: ureq::Error) -> Self {
        let message = e.to_string();
        match e {
            ureq::Error::Tls(_)
            | ureq::Error::Pem(_)
            | ureq::Error::Rustls(_)
            | ureq::Error::BadUri(_)
            | ureq::Error::Http(_) => TransportError::Fatal(message),
            // rustls reports a rejected handshake (e.g. an unknown certificate issuer) as
            // InvalidData; repeating it cannot help.
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => TransportError::Fatal(format!(
                "TLS: {message} (if the cluster uses a private CA, set TIDEWATCH_ES_CA_CERT to its PEM file)"
            )),
            _ => TransportError::Retryable(message),
        }
    }
}

/// One HTTP exchange's outcome.
struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A store on an Elasticsearch or OpenSearch cluster.
pub struct ElasticStore {
    agent: ureq::Agent,
    /// `scheme://host:port[/prefix]`, without userinfo or trailing slash.
    base: String,
    authorization: Option<String>,
    /// Strings that must never appear in messages.
    secrets: Vec<String>,
    engine: EngineInfo,
    retry: RetryPolicy,
    requests: AtomicU64,
    request_retries: AtomicU64,
    bulk_item_retries: AtomicU64,
    searches: AtomicU64,
    bulks: AtomicU64,
    took_ms: AtomicU64,
    id_counter: AtomicU64,
    jitter: AtomicU64,
    /// Data streams found by [`Store::create_index`]: bulk writes to them as `create` (the
    /// only op type a data stream takes), and a 409 for an id already there counts as stored.
    data_streams: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for ElasticStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticStore")
            .field("base", &self.base)
            .field("engine", &self.engine)
            .finish()
    }
}

impl ElasticStore {
    /// Connects to the cluster at `url` (`http(s)://[user:password@]host:port[/prefix]`),
    /// detects the engine and version with `GET /`, and checks it is supported
    /// (Elasticsearch ≥ 7.10, OpenSearch ≥ 1.0).
    ///
    /// ```no_run
    /// use tidewatch::store::{ElasticOptions, ElasticStore, Store};
    /// let store = ElasticStore::connect("https://es.example:9200", ElasticOptions::from_env())?;
    /// store.ensure_templates()?;
    /// println!("{}", store.describe()); // e.g. `elasticsearch 8.15.0 at https://es.example:9200`
    /// # Ok::<(), tidewatch::store::StoreError>(())
    /// ```
    pub fn connect(url: &str, options: ElasticOptions) -> Result<Self, StoreError> {
        let parsed = ParsedUrl::parse(url)?;
        let mut secrets = Vec::new();
        let user = parsed.user.clone().or(options.user.clone());
        let password = parsed.password.clone().or(options.password.clone());
        // Precedence: userinfo in the URL, then an API key, then a bearer token, then
        // TIDEWATCH_ES_USER/TIDEWATCH_ES_PASSWORD.
        let basic_wins =
            parsed.user.is_some() || (options.api_key.is_none() && options.bearer.is_none());
        let authorization = if let Some(user) = user.filter(|_| basic_wins) {
            let password = password.unwrap_or_default();
            if !password.is_empty() {
                secrets.push(password.clone());
            }
            let encoded = base64(format!("{user}:{password}").as_bytes());
            secrets.push(encoded.clone());
            Some(format!("Basic {encoded}"))
        } else if let Some(key) = options.api_key.clone() {
            secrets.push(key.clone());
            let encoded = if key.contains(':') {
                base64(key.as_bytes())
            } else {
                key
            };
            secrets.push(encoded.clone());
            Some(format!("ApiKey {encoded}"))
        } else if let Some(token) = options.bearer.clone() {
            secrets.push(token.clone());
            Some(format!("Bearer {token}"))
        } else {
            None
        };
        secrets.retain(|s| s.len() >= 3);
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(options.timeout.unwrap_or(Duration::from_secs(60))))
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent(concat!("tidewatch/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections_per_host(8);
        if let Some(path) = &options.ca_cert {
            let certs = load_ca(path)?;
            let tls = ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::from(certs))
                .build();
            config = config.tls_config(tls);
        }
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9)
            ^ u64::from(std::process::id()).rotate_left(32);
        let mut store = ElasticStore {
            agent: config.build().into(),
            base: parsed.base,
            authorization,
            secrets,
            engine: EngineInfo {
                distribution: Distribution::Elasticsearch,
                version: String::new(),
                major: 0,
                minor: 0,
            },
            retry: options.retry,
            requests: AtomicU64::new(0),
            request_retries: AtomicU64::new(0),
            bulk_item_retries: AtomicU64::new(0),
            searches: AtomicU64::new(0),
            bulks: AtomicU64::new(0),
            took_ms: AtomicU64::new(0),
            id_counter: AtomicU64::new(0),
            jitter: AtomicU64::new(seed | 1),
            data_streams: Default::default(),
        };
        store.engine = store.detect_engine()?;
        tracing::debug!(store = %store.describe(), "Connected to cluster");
        Ok(store)
    }

    /// The engine and version detected on connect.
    pub fn engine(&self) -> &EngineInfo {
        &self.engine
    }

    /// What was sent and retried so far.
    pub fn stats(&self) -> ElasticStats {
        ElasticStats {
            requests: self.requests.load(Ordering::Relaxed),
            request_retries: self.request_retries.load(Ordering::Relaxed),
            bulk_item_retries: self.bulk_item_retries.load(Ordering::Relaxed),
            searches: self.searches.load(Ordering::Relaxed),
            bulks: self.bulks.load(Ordering::Relaxed),
            took_ms: self.took_ms.load(Ordering::Relaxed),
        }
    }

    /// Creates the data stream `name` unless it exists, and writes to it as a data stream
    /// from now on.
    fn create_data_stream(&self, name: &str) -> Result<(), StoreError> {
        let path = format!("/_data_stream/{}", encode_path(name));
        let reply = self.send("PUT", &path, None, Idempotent::Yes)?;
        let exists = reply
            .json()
            .and_then(|b| {
                b.pointer("/error/type")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .is_some_and(|t| t == "resource_already_exists_exception");
        if !(200..300).contains(&reply.status) && !exists {
            return Err(self.error_for("PUT", &path, name, None, &reply));
        }
        if let Ok(mut streams) = self.data_streams.lock() {
            streams.insert(name.to_string());
        }
        Ok(())
    }

    /// Adds a response's `took` to the engine's time.
    fn count_took(&self, counter: &AtomicU64, body: &Value) {
        counter.fetch_add(1, Ordering::Relaxed);
        let took = body.get("took").and_then(Value::as_u64).unwrap_or(0);
        self.took_ms.fetch_add(took, Ordering::Relaxed);
    }

    fn is_data_stream(&self, index: &str) -> bool {
        self.data_streams
            .lock()
            .map(|s| s.contains(index))
            .unwrap_or(false)
    }

    /// Installs every template in [`TEMPLATES`] that is missing or older; see
    /// [`ElasticStore::ensure_template`].
    pub fn ensure_templates(&self) -> Result<Vec<(String, TemplateOutcome)>, StoreError> {
        let mut outcomes = Vec::new();
        for (name, text) in TEMPLATES {
            let template: Value =
                serde_json::from_str(text).map_err(|e| StoreError::InvalidTemplate {
                    name: name.to_string(),
                    problem: format!("invalid JSON at line {}: {e}", e.line()),
                })?;
            outcomes.push((name.to_string(), self.ensure_template(name, &template)?));
        }
        Ok(outcomes)
    }

    /// Installs the composable index template `name` unless the cluster already has one with
    /// the same or a higher `version` (so an older tidewatch never downgrades a newer one).
    /// Indices created earlier keep their mapping; new indices (and rollovers) get the new one.
    pub fn ensure_template(
        &self,
        name: &str,
        template: &Value,
    ) -> Result<TemplateOutcome, StoreError> {
        let wanted = template
            .get("version")
            .and_then(Value::as_u64)
            .ok_or_else(|| StoreError::InvalidTemplate {
                name: name.to_string(),
                problem: "expected a top-level numeric `version`".into(),
            })?;
        let path = format!("/_index_template/{}", encode_path(name));
        let reply = self.send("GET", &path, None, Idempotent::Yes)?;
        let installed = match reply.status {
            200 => reply.json().and_then(|v| {
                v.pointer("/index_templates/0/index_template/version")
                    .and_then(Value::as_u64)
            }),
            404 => None,
            _ => return Err(self.error_for("GET", &path, name, None, &reply)),
        };
        let outcome = match installed {
            Some(v) if v >= wanted => return Ok(TemplateOutcome::UpToDate { version: v }),
            Some(v) => TemplateOutcome::Upgraded {
                from: v,
                to: wanted,
            },
            None => TemplateOutcome::Installed { version: wanted },
        };
        let body = serde_json::to_vec(template)?;
        let reply = self.send(
            "PUT",
            &path,
            Some((&body, "application/json")),
            Idempotent::Yes,
        )?;
        if !(200..300).contains(&reply.status) {
            return Err(self.error_for("PUT", &path, name, None, &reply));
        }
        tracing::info!(template = name, ?outcome, "Installed index template");
        Ok(outcome)
    }

    fn detect_engine(&self) -> Result<EngineInfo, StoreError> {
        let reply = self.send("GET", "/", None, Idempotent::Yes)?;
        if reply.status == 401 || reply.status == 403 {
            return Err(self.error_for("GET", "/", "", None, &reply));
        }
        let body = reply
            .json()
            .filter(|_| reply.status == 200)
            .ok_or_else(|| StoreError::UnsupportedEngine {
                url: self.redact(&self.base),
                found: self.redact(&format!(
                    "expected an Elasticsearch or OpenSearch root response (HTTP 200 with `version.number`), got HTTP {}: {}",
                    reply.status,
                    snippet(&reply.body)
                )),
            })?;
        let version = body
            .pointer("/version/number")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let distribution = match body
            .pointer("/version/distribution")
            .and_then(Value::as_str)
        {
            Some("opensearch") => Distribution::OpenSearch,
            _ => Distribution::Elasticsearch,
        };
        let mut parts = version.split(['.', '-']).map(|p| p.parse::<u32>().ok());
        let (major, minor) = match (parts.next().flatten(), parts.next().flatten()) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                return Err(StoreError::UnsupportedEngine {
                    url: self.redact(&self.base),
                    found: format!("`version.number` is `{version}`, expected MAJOR.MINOR.PATCH"),
                })
            }
        };
        let info = EngineInfo {
            distribution,
            version,
            major,
            minor,
        };
        let supported = match distribution {
            Distribution::OpenSearch => major >= 1,
            Distribution::Elasticsearch => major > 7 || (major == 7 && minor >= 10),
        };
        if !supported {
            return Err(StoreError::UnsupportedEngine {
                url: self.redact(&self.base),
                found: format!("{info} is not supported"),
            });
        }
        Ok(info)
    }

    /// Sends one request with retries; returns the final reply, whatever its status.
    /// POSTs a JSON body to an idempotent endpoint (search, delete-by-query); anything but
    /// 200 becomes the store error for `index`.
    fn post_json(&self, path: &str, index: &str, body: &Value) -> Result<Reply, StoreError> {
        let bytes = serde_json::to_vec(body)?;
        let reply = self.send(
            "POST",
            path,
            Some((&bytes, "application/json")),
            Idempotent::Yes,
        )?;
        if reply.status != 200 {
            return Err(self.error_for("POST", path, index, None, &reply));
        }
        Ok(reply)
    }

    /// POSTs newline-delimited JSON (`_bulk`, `_msearch`): both are safe to resend, as
    /// their items are idempotent or checked one by one.
    fn post_ndjson(&self, path: &str, body: &[u8]) -> Result<Reply, StoreError> {
        self.send(
            "POST",
            path,
            Some((body, "application/x-ndjson")),
            Idempotent::Yes,
        )
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&[u8], &str)>,
        idempotent: Idempotent,
    ) -> Result<Reply, StoreError> {
        let url = format!("{}{}", self.base, path);
        let mut attempt = 1;
        loop {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = self.send_once(method, &url, body);
            let retry_after = match outcome {
                Ok((reply, retry_after)) => {
                    let retryable = reply.status == 429
                        || (idempotent == Idempotent::Yes && matches!(reply.status, 502..=504));
                    if !retryable || attempt >= self.retry.max_attempts {
                        return Ok(reply);
                    }
                    tracing::warn!(
                        method,
                        path,
                        status = reply.status,
                        attempt,
                        "Cluster asked to retry"
                    );
                    retry_after
                }
                Err(TransportError::Fatal(message)) => {
                    return Err(StoreError::Unreachable {
                        request: self.redact(&format!("{method} {}{path}", self.base)),
                        reason: self.redact(&message),
                    });
                }
                Err(TransportError::Retryable(message)) => {
                    if idempotent == Idempotent::No || attempt >= self.retry.max_attempts {
                        return Err(StoreError::Unavailable(self.redact(&format!(
                            "{method} {}{path} failed after {attempt} attempt(s): {message}",
                            self.base
                        ))));
                    }
                    tracing::warn!(method, path, attempt, error = %self.redact(&message), "Cluster request failed, retrying");
                    None
                }
            };
            self.request_retries.fetch_add(1, Ordering::Relaxed);
            let delay = self
                .backoff(attempt)
                .max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER));
            std::thread::sleep(delay);
            attempt += 1;
        }
    }

    /// One attempt: `Ok((reply, Retry-After))` for any HTTP status, `Err` for transport errors.
    fn send_once(
        &self,
        method: &str,
        url: &str,
        body: Option<(&[u8], &str)>,
    ) -> Result<(Reply, Option<Duration>), TransportError> {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("accept", "application/json");
        if let Some(auth) = &self.authorization {
            builder = builder.header("authorization", auth.as_str());
        }
        if let Some((_, content_type)) = body {
            builder = builder.header("content-type", content_type);
        }
        let request = builder
            .body(body.map_or(&[][..], |(b, _)| b))
            .map_err(|e| TransportError::Fatal(e.to_string()))?;
        let mut response = self.agent.run(request).map_err(TransportError::from)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| TransportError::Retryable(format!("reading the response body: {e}")))?;
        Ok((Reply { status, body }, retry_after))
    }

    /// Exponential backoff with full jitter in [d/2, d].
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.retry.max_backoff);
        let nanos = cap.as_nanos() as u64;
        if nanos == 0 {
            return cap;
        }
        let r = self.next_random();
        Duration::from_nanos(nanos / 2 + r % (nanos / 2 + 1))
    }

    fn next_random(&self) -> u64 {
        // xorshift64*; races between threads only perturb the sequence, which is fine for jitter.
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.jitter.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A fresh document id for [`BulkDoc`]s without one, so retried bulks never duplicate.
    fn new_id(&self) -> String {
        let n = self.id_counter.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        format!("tw{t:x}{:08x}{n:x}", self.next_random() as u32)
    }

    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }

    /// Maps a non-success reply to a [`StoreError`], keeping the engine's reason.
    fn error_for(
        &self,
        method: &str,
        path: &str,
        index: &str,
        id: Option<&str>,
        reply: &Reply,
    ) -> StoreError {
        let body = reply.json();
        let error_type = body
            .as_ref()
            .and_then(|b| b.pointer("/error/type"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let reason = body
            .as_ref()
            .and_then(|b| {
                b.pointer("/error/reason")
                    .or_else(|| b.pointer("/error/root_cause/0/reason"))
                    .or_else(|| b.get("error").filter(|e| e.is_string()))
            })
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| snippet(&reply.body));
        let reason = match body.as_ref().and_then(|b| root_cause(b, &reason)) {
            Some(cause) => format!("{reason} (root cause: {cause})"),
            None => reason,
        };
        let request = self.redact(&format!("{method} {}{path}", self.base));
        let reason = match error_type {
            "" => self.redact(&reason),
            _ => self.redact(&format!("{error_type}: {reason}")),
        };
        let what = format!("{request}: HTTP {}: {reason}", reply.status);
        match reply.status {
            404 if error_type == "index_not_found_exception" => {
                StoreError::IndexNotFound(index.to_string())
            }
            409 => StoreError::Conflict {
                index: index.to_string(),
                id: id.unwrap_or_default().to_string(),
            },
            401 => StoreError::Unauthorized(what),
            403 => StoreError::Forbidden(what),
            429 | 500..=599 => StoreError::Unavailable(what),
            status => StoreError::Refused {
                request,
                status,
                reason,
            },
        }
    }

    /// A search answer refused when a shard failed: a shard whose every copy failed (a node
    /// lost on a cluster without replicas) must fail the search, as a partial answer would be
    /// analysed as if it were the whole data.
    fn whole_answer(&self, path: &str, json: Value) -> Result<Value, StoreError> {
        match json.pointer("/_shards/failed").and_then(Value::as_u64) {
            Some(failed) if failed > 0 => {
                let failures = json.pointer("/_shards/failures").map(Value::to_string);
                Err(StoreError::Unavailable(format!(
                    "POST {}{path}: {failed} of {} shards failed, the answer would be partial: {}",
                    self.base,
                    json.pointer("/_shards/total").unwrap_or(&Value::Null),
                    snippet(failures.unwrap_or_default().as_bytes())
                )))
            }
            _ => Ok(json),
        }
    }

    /// One `_msearch` request for `searches` (at most [`MSEARCH_MAX_SEARCHES`]). Each item is
    /// checked as [`Store::search`] checks its answer; an item the engine turned away for
    /// load (429, 502-504) is sent again on its own through [`Store::search`], which retries.
    fn msearch_once(
        &self,
        searches: &[(&str, &Value)],
    ) -> Result<Vec<Result<Value, StoreError>>, StoreError> {
        let mut body = Vec::new();
        for (index, search) in searches {
            // The header carries what `search` puts in its query string.
            let indices: Vec<&str> = index.split(',').collect();
            let header = json!({
                "index": indices,
                "ignore_unavailable": true,
                "allow_no_indices": true,
                "allow_partial_search_results": false,
            });
            serde_json::to_writer(&mut body, &header)?;
            body.push(b'\n');
            serde_json::to_writer(&mut body, search)?;
            body.push(b'\n');
        }
        let path = "/_msearch";
        let reply = self.post_ndjson(path, &body)?;
        let first = searches.first().map_or("", |s| s.0);
        if reply.status != 200 {
            return Err(self.error_for("POST", path, first, None, &reply));
        }
        let not_json = || {
            StoreError::Unavailable(format!(
                "POST {}{path}: response is not a multi-search answer: {}",
                self.base,
                snippet(&reply.body)
            ))
        };
        let items = match reply.json() {
            Some(Value::Object(mut json)) => match json.remove("responses") {
                Some(Value::Array(items)) if items.len() == searches.len() => items,
                _ => return Err(not_json()),
            },
            _ => return Err(not_json()),
        };
        Ok(items
            .into_iter()
            .zip(searches)
            .map(|(item, (index, search))| self.msearch_item(path, item, index, search))
            .collect())
    }

    /// One item of a `_msearch` answer as [`Store::search`] would have answered it.
    fn msearch_item(
        &self,
        path: &str,
        item: Value,
        index: &str,
        search: &Value,
    ) -> Result<Value, StoreError> {
        let status = item
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(200);
        if item.get("error").is_some() || status != 200 {
            if matches!(status, 429 | 502..=504) {
                return self.search(index, search);
            }
            // The item's error is shaped as a whole reply's: its root cause is kept the same way.
            let reply = Reply {
                status,
                body: serde_json::to_vec(&json!({ "error": item.get("error") }))?,
            };
            return Err(self.error_for("POST", path, index, None, &reply));
        }
        self.count_took(&self.searches, &item);
        self.whole_answer(path, item)
    }

    /// Sends `count` documents as `_bulk` items (an action line and a source line each):
    /// `item(k, line)` appends document `k`'s id and source after its action's head.
    /// Retryable items are sent again; the answer's positions are `k`.
    fn bulk_items(
        &self,
        index: &str,
        count: usize,
        mut item: impl FnMut(usize, &mut Vec<u8>) -> Result<(), StoreError>,
    ) -> Result<BulkResponse, StoreError> {
        if count == 0 {
            return Ok(BulkResponse::default());
        }
        let stream = self.is_data_stream(index);
        let op = if stream { "create" } else { "index" };
        // The action line differs only by id: its head is encoded once, not per document.
        let head = format!(
            "{{\"{op}\":{{\"_index\":{},\"_id\":",
            serde_json::to_string(index)?
        );
        let mut lines = Vec::with_capacity(count);
        for k in 0..count {
            let mut line = Vec::with_capacity(256);
            line.extend_from_slice(head.as_bytes());
            item(k, &mut line)?;
            line.push(b'\n');
            lines.push(line);
        }
        let mut pending: Vec<usize> = (0..lines.len()).collect();
        let mut response = BulkResponse::default();
        let mut attempt = 1;
        loop {
            let mut again = Vec::new();
            let chunks = concurrent_chunks(&lines, &pending);
            for (chunk, outcomes) in chunks.iter().zip(self.bulk_all(index, &lines, &chunks)?) {
                for (&position, (status, error)) in chunk.iter().zip(outcomes) {
                    match status {
                        200..=299 => response.stored += 1,
                        // The same id is the same line (ids are content hashes): stored.
                        409 if stream => response.stored += 1,
                        429 | 503 if attempt < self.retry.max_attempts => again.push(position),
                        _ => response.failed.push(BulkItemResult {
                            position,
                            status,
                            error,
                        }),
                    }
                }
            }
            if again.is_empty() {
                break;
            }
            tracing::warn!(
                index,
                items = again.len(),
                attempt,
                "Bulk items rejected by the cluster, retrying"
            );
            self.bulk_item_retries
                .fetch_add(again.len() as u64, Ordering::Relaxed);
            std::thread::sleep(self.backoff(attempt));
            attempt += 1;
            pending = again;
        }
        response.failed.sort_by_key(|f| f.position);
        Ok(response)
    }

    /// Sends the `_bulk` requests of `chunks`, [`BULK_IN_FLIGHT`] at a time; the outcomes in
    /// the order of `chunks`. An error stops the call (earlier requests stay applied; ids
    /// make sending them again harmless).
    fn bulk_all(
        &self,
        index: &str,
        lines: &[Vec<u8>],
        chunks: &[&[usize]],
    ) -> Result<Vec<ItemOutcomes>, StoreError> {
        let mut out = Vec::with_capacity(chunks.len());
        for group in chunks.chunks(BULK_IN_FLIGHT) {
            if let [only] = group {
                out.push(self.bulk_once(index, lines, only)?);
                continue;
            }
            let replies: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = group
                    .iter()
                    .map(|c| s.spawn(move || self.bulk_once(index, lines, c)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(StoreError::Unavailable(
                                "a bulk request thread panicked".into(),
                            ))
                        })
                    })
                    .collect()
            });
            for reply in replies {
                out.push(reply?);
            }
        }
        Ok(out)
    }

    /// Sends one `_bulk` request made of `lines[positions]` (each an action line and a source
    /// line); returns `(status, error)` per position.
    fn bulk_once(
        &self,
        index: &str,
        lines: &[Vec<u8>],
        positions: &[usize],
    ) -> Result<ItemOutcomes, StoreError> {
        let mut body = Vec::with_capacity(positions.iter().map(|&p| lines[p].len()).sum());
        for &p in positions {
            body.extend_from_slice(&lines[p]);
        }
        // Only what is read back: an item's status and error (the full answer repeats index,
        // id, version and shard counts per item, as many bytes as the request to serialise
        // and parse), and an error reply's `error` with its root cause.
        let path = "/_bulk?filter_path=took,errors,items.*.status,items.*.error,error,status";
        let reply = self.post_ndjson(path, &body)?;
        if !(200..300).contains(&reply.status) {
            return Err(self.error_for("POST", path, index, None, &reply));
        }
        let parsed = reply.json().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "POST {}{path}: response is not JSON: {}",
                self.base,
                snippet(&reply.body)
            ))
        })?;
        self.count_took(&self.bulks, &parsed);
        let items = parsed
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                StoreError::Unavailable(format!(
                    "POST {}{path}: response has no `items` array",
                    self.base
                ))
            })?;
        if items.len() != positions.len() {
            return Err(StoreError::Unavailable(format!(
                "POST {}{path}: sent {} items, response has {}",
                self.base,
                positions.len(),
                items.len()
            )));
        }
        Ok(items
            .iter()
            .map(|item| {
                let result = item.as_object().and_then(|o| o.values().next());
                let status = result
                    .and_then(|r| r.get("status"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as u16;
                let error = result.and_then(|r| r.get("error")).map(describe_item_error);
                (status, error)
            })
            .collect())
    }
}

/// Ends an action line with the document's id, ready for its source.
fn action_id(line: &mut Vec<u8>, id: &str) -> Result<(), StoreError> {
    serde_json::to_writer(&mut *line, id)?;
    line.extend_from_slice(b"}}\n");
    Ok(())
}

/// What [`ElasticStore::ensure_template`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateOutcome {
    /// The template was missing and is now installed.
    Installed {
        /// Its version.
        version: u64,
    },
    /// An older version was replaced.
    Upgraded {
        /// Version found.
        from: u64,
        /// Version installed.
        to: u64,
    },
    /// The cluster already had this version or a newer one.
    UpToDate {
        /// Version found.
        version: u64,
    },
}

impl Store for ElasticStore {
    fn describe(&self) -> String {
        format!("{} at {}", self.engine, self.base)
    }

    fn search(&self, index: &str, body: &Value) -> Result<Value, StoreError> {
        // A shard whose every copy failed (a node lost on a cluster without replicas) must
        // fail the search: a partial answer would be analysed as if it were the whole data.
        let path = format!(
            "/{}/_search?ignore_unavailable=true&allow_no_indices=true&allow_partial_search_results=false",
            encode_path(index)
        );
        let reply = self.post_json(&path, index, body)?;
        let json = reply.json().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "POST {}{path}: response is not JSON: {}",
                self.base,
                snippet(&reply.body)
            ))
        })?;
        self.count_took(&self.searches, &json);
        self.whole_answer(&path, json)
    }

    fn msearch(
        &self,
        searches: &[(&str, &Value)],
    ) -> Result<Vec<Result<Value, StoreError>>, StoreError> {
        let mut out = Vec::with_capacity(searches.len());
        for group in searches.chunks(MSEARCH_MAX_SEARCHES) {
            out.extend(self.msearch_once(group)?);
        }
        Ok(out)
    }

    fn check_readable(&self, index: &str) -> Result<(), StoreError> {
        // Without `ignore_unavailable`, a missing index is a 404 and a closed one a 400; a
        // pattern is expanded to closed indices too, so one it matches is reported.
        let path = format!(
            "/{}/_search?size=0&expand_wildcards=open,closed",
            encode_path(index)
        );
        match self.post_json(
            &path,
            index,
            &json!({ "size": 0, "track_total_hits": false }),
        ) {
            Ok(_) => Ok(()),
            Err(StoreError::Refused { reason, .. })
                if reason.contains("index_closed_exception") =>
            {
                Err(StoreError::NotFound(format!(
                    "index `{index}` is closed at {} (open it with `POST /{index}/_open`)",
                    self.base
                )))
            }
            Err(e) => Err(e),
        }
    }

    fn create_index(&self, index: &str, body: &Value) -> Result<bool, StoreError> {
        let path = format!("/{}", encode_path(index));
        let bytes = serde_json::to_vec(body)?;
        let reply = self.send(
            "PUT",
            &path,
            Some((&bytes, "application/json")),
            Idempotent::Yes,
        )?;
        let error_type = reply.json().and_then(|b| {
            b.pointer("/error/type")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let reason = reply
            .json()
            .and_then(|b| {
                b.pointer("/error/reason")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        match (reply.status, error_type.as_deref()) {
            (200..=299, _) => Ok(true),
            (400, Some("resource_already_exists_exception")) => Ok(false),
            // A name a data stream template matches (Elastic Agent's `logs-*-*`): the stream
            // is created (if new) with the template's mappings, which the caller then checks.
            (400, Some("illegal_argument_exception")) if reason.contains("data stream") => {
                self.create_data_stream(index)?;
                Ok(false)
            }
            _ => Err(self.error_for("PUT", &path, index, None, &reply)),
        }
    }

    fn field_caps(&self, index: &str, fields: &[String]) -> Result<Value, StoreError> {
        let names: Vec<String> = fields.iter().map(|f| encode_path(f)).collect();
        let path = format!(
            "/{}/_field_caps?fields={}&include_unmapped=true&ignore_unavailable=true&allow_no_indices=true",
            encode_path(index),
            names.join(",")
        );
        let reply = self.send("GET", &path, None, Idempotent::Yes)?;
        if reply.status != 200 {
            return Err(self.error_for("GET", &path, index, None, &reply));
        }
        reply.json().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "GET {}{path}: response is not JSON: {}",
                self.base,
                snippet(&reply.body)
            ))
        })
    }

    fn bulk(&self, index: &str, docs: Vec<BulkDoc>) -> Result<BulkResponse, StoreError> {
        self.bulk_items(index, docs.len(), |k, line| {
            let doc = &docs[k];
            match &doc.id {
                Some(id) => action_id(line, id)?,
                None => action_id(line, &self.new_id())?,
            }
            serde_json::to_writer(line, &doc.source)?;
            Ok(())
        })
    }

    fn bulk_flat(&self, index: &str, docs: &FlatDocs) -> Result<BulkResponse, StoreError> {
        // The sources are already JSON: copied into the request as they are.
        self.bulk_items(index, docs.len(), |k, line| {
            action_id(line, docs.id(k))?;
            line.extend_from_slice(docs.source(k).as_bytes());
            Ok(())
        })
    }

    fn get(&self, index: &str, id: &str) -> Result<Option<VersionedDoc>, StoreError> {
        let path = format!("/{}/_doc/{}", encode_path(index), encode_path(id));
        let reply = self.send("GET", &path, None, Idempotent::Yes)?;
        match reply.status {
            200 => {
                let body = reply.json().unwrap_or(Value::Null);
                Ok(Some(versioned(
                    &body,
                    body.get("_source").cloned().unwrap_or(Value::Null),
                )?))
            }
            404 => Ok(None),
            _ => Err(self.error_for("GET", &path, index, Some(id), &reply)),
        }
    }

    fn put(
        &self,
        index: &str,
        id: &str,
        doc: &Value,
        mode: PutMode,
    ) -> Result<VersionedDoc, StoreError> {
        let mut path = format!("/{}/_doc/{}", encode_path(index), encode_path(id));
        let idempotent = match mode {
            PutMode::Overwrite => Idempotent::Yes,
            PutMode::Create => {
                path.push_str("?op_type=create");
                Idempotent::No
            }
            PutMode::IfMatch(IfVersion {
                seq_no,
                primary_term,
            }) => {
                let _ = write!(path, "?if_seq_no={seq_no}&if_primary_term={primary_term}");
                Idempotent::No
            }
        };
        let bytes = serde_json::to_vec(doc)?;
        let reply = self.send("PUT", &path, Some((&bytes, "application/json")), idempotent)?;
        if !(200..300).contains(&reply.status) {
            return Err(self.error_for("PUT", &path, index, Some(id), &reply));
        }
        versioned(&reply.json().unwrap_or(Value::Null), doc.clone())
    }

    fn delete_by_query(&self, index: &str, query: &Value) -> Result<u64, StoreError> {
        let path = format!(
            "/{}/_delete_by_query?conflicts=proceed&refresh=true&ignore_unavailable=true&allow_no_indices=true",
            encode_path(index)
        );
        let reply = self.post_json(&path, index, &json!({ "query": query }))?;
        Ok(reply
            .json()
            .and_then(|b| b.get("deleted").and_then(Value::as_u64))
            .unwrap_or(0))
    }

    fn refresh(&self, index: &str) -> Result<(), StoreError> {
        let path = format!(
            "/{}/_refresh?ignore_unavailable=true&allow_no_indices=true",
            encode_path(index)
        );
        let reply = self.send("POST", &path, None, Idempotent::Yes)?;
        if reply.status != 200 {
            return Err(self.error_for("POST", &path, index, None, &reply));
        }
        Ok(())
    }
}

/// A batch split into up to [`BULK_IN_FLIGHT`] requests of at least [`MIN_SPLIT_DOCS`] and at
/// most [`MAX_BULK_DOCS`] documents (see [`split_bulk`]), sent at once.
fn concurrent_chunks<'a>(lines: &[Vec<u8>], positions: &'a [usize]) -> Vec<&'a [usize]> {
    let per = positions
        .len()
        .div_ceil(BULK_IN_FLIGHT)
        .clamp(MIN_SPLIT_DOCS, MAX_BULK_DOCS);
    split_bulk(lines, positions, per)
}

/// Splits `positions` into runs of at most `max_docs` documents whose request bodies stay
/// under [`MAX_BULK_BYTES`] (a document larger than the limit goes alone).
fn split_bulk<'a>(lines: &[Vec<u8>], positions: &'a [usize], max_docs: usize) -> Vec<&'a [usize]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, &p) in positions.iter().enumerate() {
        let len = lines[p].len();
        if i > start && (bytes + len > MAX_BULK_BYTES || i - start >= max_docs) {
            chunks.push(&positions[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += len;
    }
    if start < positions.len() {
        chunks.push(&positions[start..]);
    }
    chunks
}

/// Reads `_seq_no`/`_primary_term` from a document or write response.
fn versioned(body: &Value, source: Value) -> Result<VersionedDoc, StoreError> {
    let field = |name: &str| body.get(name).and_then(Value::as_u64);
    match (field("_seq_no"), field("_primary_term")) {
        (Some(seq_no), Some(primary_term)) => Ok(VersionedDoc {
            source,
            seq_no,
            primary_term,
        }),
        _ => Err(StoreError::Unavailable(format!(
            "response lacks `_seq_no`/`_primary_term` (expected numbers): {}",
            snippet(body.to_string().as_bytes())
        ))),
    }
}

/// The engine's first `root_cause` of an error reply (`type: reason`, with the index when
/// it names one), or the deepest `caused_by` of its first failed shard: what actually went
/// wrong behind a `search_phase_execution_exception: all shards failed`. `None` when it adds
/// nothing to `top_reason`.
fn root_cause(body: &Value, top_reason: &str) -> Option<String> {
    let error = body.get("error")?;
    let cause = error
        .pointer("/root_cause/0")
        .filter(|c| c.get("reason").is_some())
        .or_else(|| {
            let mut c = error.pointer("/failed_shards/0/reason")?;
            while let Some(deeper) = c.get("caused_by") {
                c = deeper;
            }
            Some(c)
        })?;
    let reason = cause.get("reason").and_then(Value::as_str)?;
    if top_reason.contains(reason) {
        return None;
    }
    let mut text = match cause.get("type").and_then(Value::as_str) {
        Some(t) => format!("{t}: {reason}"),
        None => reason.to_string(),
    };
    let index = cause
        .get("index")
        .or_else(|| error.pointer("/failed_shards/0/index"))
        .and_then(Value::as_str);
    if let Some(index) = index {
        let _ = write!(text, " [index `{index}`]");
    }
    Some(text)
}

/// `type: reason (caused by: type: reason)` from a bulk item's `error`.
fn describe_item_error(error: &Value) -> String {
    let part = |v: &Value| {
        let t = v.get("type").and_then(Value::as_str).unwrap_or("error");
        let r = v.get("reason").and_then(Value::as_str).unwrap_or("");
        format!("{t}: {r}")
    };
    match error {
        Value::String(s) => s.clone(),
        Value::Object(_) => match error.get("caused_by") {
            Some(cause) => format!("{} (caused by {})", part(error), part(cause)),
            None => part(error),
        },
        other => other.to_string(),
    }
}

/// The start of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        s.push('…');
    }
    s
}

/// Percent-encodes a path segment, keeping the characters index patterns use (`*`, `,`, `-`).
fn encode_path(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'*'
            | b','
            | b':'
            | b'+'
            | b'@' => out.push(b as char),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding (for basic auth and `id:key` API keys).
fn base64(input: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(input)
}

/// A cluster URL split into its credential-free base and its userinfo.
#[derive(Debug, PartialEq)]
struct ParsedUrl {
    base: String,
    user: Option<String>,
    password: Option<String>,
}

impl ParsedUrl {
    fn parse(url: &str) -> Result<Self, StoreError> {
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| *s == "http" || *s == "https")
            .ok_or_else(|| StoreError::InvalidUrl {
                problem: "expected http://host:port or https://host:port".to_string(),
            })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(StoreError::InvalidUrl {
                problem: format!("{scheme}://…: expected a host after `{scheme}://`"),
            });
        }
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)), Some(percent_decode(p))),
                None => (Some(percent_decode(info)), None),
            },
            None => (None, None),
        };
        Ok(ParsedUrl {
            base: format!("{scheme}://{host}{path}"),
            user,
            password,
        })
    }
}

/// Reads the CA certificates to trust from a PEM file.
fn load_ca(path: &std::path::Path) -> Result<Vec<ureq::tls::Certificate<'static>>, StoreError> {
    let pem = std::fs::read(path).map_err(|source| StoreError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => {
                return Err(StoreError::CaCert {
                    path: path.display().to_string(),
                    problem: format!("not a valid PEM file: {e}"),
                })
            }
        }
    }
    if certs.is_empty() {
        return Err(StoreError::CaCert {
            path: path.display().to_string(),
            problem: "no certificate found; expected PEM with `-----BEGIN CERTIFICATE-----`".into(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk_chunks<'a>(lines: &[Vec<u8>], positions: &'a [usize]) -> Vec<&'a [usize]> {
        split_bulk(lines, positions, MAX_BULK_DOCS)
    }

    #[test]
    fn concurrent_chunks_split_a_batch_for_the_requests_in_flight() {
        let lines: Vec<Vec<u8>> = vec![vec![b'z'; 10]; 10_001];
        let all: Vec<usize> = (0..lines.len()).collect();
        let sizes = |n: usize| {
            concurrent_chunks(&lines, &all[..n])
                .iter()
                .map(|c| c.len())
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(10_001), vec![3_334, 3_334, 3_333]);
        assert_eq!(sizes(1_000), vec![500, 500]);
        assert_eq!(sizes(700), vec![500, 200]);
        assert_eq!(sizes(400), vec![400]);
        assert!(sizes(0).is_empty());
    }

    #[test]
    fn bulk_chunks_respect_bytes_and_counts() {
        let lines: Vec<Vec<u8>> = vec![vec![b'x'; MAX_BULK_BYTES / 2]; 5];
        let positions = [0, 1, 2, 3, 4];
        let chunks = bulk_chunks(&lines, &positions);
        assert_eq!(chunks, vec![&[0, 1][..], &[2, 3][..], &[4][..]]);
        let huge = vec![vec![b'x'; MAX_BULK_BYTES * 2], vec![b'y'; 10]];
        assert_eq!(bulk_chunks(&huge, &[0, 1]), vec![&[0][..], &[1][..]]);
        let small: Vec<Vec<u8>> = vec![vec![b'z'; 10]; MAX_BULK_DOCS + 1];
        let all: Vec<usize> = (0..small.len()).collect();
        let chunks = bulk_chunks(&small, &all);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![MAX_BULK_DOCS, 1]
        );
        assert!(bulk_chunks(&small, &[]).is_empty());
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"elastic:changeme"), "ZWxhc3RpYzpjaGFuZ2VtZQ==");
    }

    #[test]
    fn url_userinfo_is_split_off_and_decoded() {
        let p = ParsedUrl::parse("https://elastic:p%40ss%3Aw@es.example:9200/prefix/").unwrap();
        assert_eq!(p.base, "https://es.example:9200/prefix");
        assert_eq!(p.user.as_deref(), Some("elastic"));
        assert_eq!(p.password.as_deref(), Some("p@ss:w"));
        let p = ParsedUrl::parse("http://127.0.0.1:9200").unwrap();
        assert_eq!(
            p,
            ParsedUrl {
                base: "http://127.0.0.1:9200".into(),
                user: None,
                password: None
            }
        );
    }

    #[test]
    fn bad_urls_are_rejected_without_echoing_secrets() {
        let err = ParsedUrl::parse("ftp://u:secret@h")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected http://host:port"), "{err}");
        assert!(!err.contains("secret"));
        let err = ParsedUrl::parse("http://u:secret@")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_path("logs-*,results"), "logs-*,results");
        assert_eq!(encode_path("a b/c?d#e"), "a%20b%2Fc%3Fd%23e");
    }

    #[test]
    fn percent_decode_handles_edges() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%41"), "A");
    }

    #[test]
    fn error_replies_carry_their_root_cause() {
        let all_failed = json!({"error": {
            "root_cause": [{"type": "illegal_argument_exception", "index": "weblogs",
                "reason": "Text fields are not optimised for operations that require per-document field data"}],
            "type": "search_phase_execution_exception", "reason": "all shards failed",
            "failed_shards": [{"index": "weblogs", "reason": {"type": "illegal_argument_exception", "reason": "x"}}]
        }, "status": 400});
        assert_eq!(
            root_cause(&all_failed, "all shards failed").as_deref(),
            Some("illegal_argument_exception: Text fields are not optimised for operations that require per-document field data [index `weblogs`]")
        );
        // Without `root_cause`, the first failed shard's deepest cause (and its index).
        let shards = json!({"error": {"type": "search_phase_execution_exception", "reason": "all shards failed",
            "failed_shards": [{"index": "logs", "reason": {"type": "query_shard_exception", "reason": "failed to create query",
                "caused_by": {"type": "number_format_exception", "reason": "For input string: \"abc\""}}}]}});
        assert_eq!(
            root_cause(&shards, "all shards failed").as_deref(),
            Some("number_format_exception: For input string: \"abc\" [index `logs`]")
        );
        // A root cause that says what the reason already says adds nothing.
        let same = json!({"error": {"root_cause": [{"type": "index_not_found_exception", "reason": "no such index [x]"}],
            "type": "index_not_found_exception", "reason": "no such index [x]"}});
        assert_eq!(root_cause(&same, "no such index [x]"), None);
    }

    #[test]
    fn item_errors_keep_type_reason_and_cause() {
        let e = json!({"type": "mapper_parsing_exception", "reason": "failed to parse field [bytes]",
                       "caused_by": {"type": "number_format_exception", "reason": "For input string: \"x\""}});
        let text = describe_item_error(&e);
        assert!(
            text.starts_with("mapper_parsing_exception: failed to parse field [bytes]"),
            "{text}"
        );
        assert!(text.contains("number_format_exception"), "{text}");
    }

    #[test]
    fn templates_parse_and_carry_versions() {
        for (name, text) in TEMPLATES {
            let v: Value = serde_json::from_str(text).unwrap();
            let version = v["version"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: no version"));
            assert_eq!(v["_meta"]["version"].as_u64(), Some(version), "{name}");
            assert_eq!(
                v["template"]["mappings"]["_meta"]["version"].as_u64(),
                Some(version),
                "{name}"
            );
            assert_eq!(
                v["template"]["settings"]["index"]["number_of_replicas"], 0,
                "{name}"
            );
        }
    }

    #[test]
    fn options_debug_hides_secrets() {
        let o = ElasticOptions {
            user: Some("u".into()),
            password: Some("hunter2".into()),
            api_key: Some("key123".into()),
            bearer: Some("tok456".into()),
            ..Default::default()
        };
        let text = format!("{o:?}");
        for secret in ["hunter2", "key123", "tok456"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn missing_ca_file_names_the_path() {
        let err = load_ca(std::path::Path::new("/nonexistent/ca.pem"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a pem").unwrap();
        let err = load_ca(&path).unwrap_err().to_string();
        assert!(err.contains("no certificate found"), "{err}");
    }

    #[test]
    fn connect_to_a_closed_port_is_unavailable_and_redacted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let options = ElasticOptions {
            retry: RetryPolicy {
                max_attempts: 2,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(2),
            },
            ..Default::default()
        };
        let err = ElasticStore::connect(
            &format!("http://elastic:sup3rsecret@127.0.0.1:{port}"),
            options,
        )
        .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        let text = err.to_string();
        assert!(!text.contains("sup3rsecret"), "{text}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(text.contains("2 attempt(s)"), "{text}");
    }
}
