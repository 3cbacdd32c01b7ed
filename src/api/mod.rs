//! The HTTP API, Prometheus metrics and the built-in web UI.
//!
//! Read-only over the results index, except `POST /api/jobs/{id}/_forecast`, which writes a
//! forecast (see [`crate::forecast`]). The API answers from the store through the same
//! Elasticsearch-shaped `_search` bodies the rest of tidewatch uses, so it works on the
//! embedded store and on a cluster alike. The store is synchronous; handlers run its calls on
//! tokio's blocking pool so a slow cluster never stalls the server's I/O threads.
//!
//! Why these choices:
//! - [`app`] builds the whole router from an [`AppState`], so tests call it with
//!   `tower::ServiceExt::oneshot` and never open a socket.
//! - One `AppError` turns every failure into `{"error":{"type","reason"}}`; user errors
//!   name the parameter, server errors keep details in the log.
//! - Security by default: [`serve`] binds to loopback unless a bearer token is set, and with
//!   a token every `/api` route requires it (`/health`, `/metrics` and the UI's static files
//!   stay open; the UI asks for the token and sends it to `/api`).
//! - The OpenAPI document is written by hand (`openapi.json` beside this file) and a test
//!   checks that it names every route the router serves.
//! - The web UI is plain HTML, CSS and JavaScript embedded with `include_str!`: no CDN, no
//!   build step, works offline. Its severity colours come from the same Vega spec
//!   (`kibana/vega/swimlane.vl.json`) that the Kibana objects embed.

mod error;
mod forecast;
mod guard;
mod jobs;
mod metrics;
mod results;
mod similar;
#[cfg(test)]
#[allow(clippy::too_many_lines)] // test fixtures, not code paths
mod tests;
mod ui;

pub(crate) use error::AppError;
pub use guard::HostPolicy;
pub(crate) use guard::{PeerAddr, DEFAULT_HEADER_READ_TIMEOUT};
pub use metrics::{JobMetrics, Metrics};

use crate::config::Job;
use crate::store::Store;
use axum::extract::{OriginalUri, Path, Query, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    /// Where results are read from.
    pub store: Arc<dyn Store>,
    /// The jobs the API knows, as loaded from the job files.
    pub jobs: Arc<Vec<Job>>,
    /// Reads every job's results from this index (or pattern) instead of the job's own
    /// `results_index`; `None` uses each job's.
    pub results_index: Option<String>,
    /// When set, every `/api` route requires `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Counters and gauges the runner updates; `/metrics` prints them.
    pub metrics: Arc<Metrics>,
    /// Host names (besides the bound address and loopback) requests may name in `Host`.
    pub allow_hosts: Vec<String>,
    /// The `Host` check; set by [`serve_with_shutdown`] once the address is bound (`None`,
    /// as in tests through `oneshot`, checks nothing).
    pub hosts: Option<HostPolicy>,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: std::time::Duration,
    /// Set while a forecast runs: the API runs one at a time.
    pub forecast_running: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// State over `store` and `jobs`, each job read from its own results index, no token,
    /// and a fresh metrics registry.
    pub fn new(store: Arc<dyn Store>, jobs: Vec<Job>) -> Self {
        AppState {
            store,
            jobs: Arc::new(jobs),
            results_index: None,
            token: None,
            metrics: Arc::new(Metrics::new()),
            allow_hosts: Vec::new(),
            hosts: None,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            forecast_running: Arc::default(),
        }
    }

    /// Also answers requests whose `Host` is one of these names (`--allow-host`).
    pub fn with_allowed_hosts(mut self, names: Vec<String>) -> Self {
        self.allow_hosts = names
            .iter()
            .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        self
    }

    /// Closes a connection whose request headers take longer than this.
    pub fn with_header_read_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Requires this bearer token on `/api` routes (an empty token means none).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.trim().is_empty());
        self
    }

    /// Shares a metrics registry with the runner.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reads all results from `index` instead of each job's `results_index`.
    pub fn with_results_index(mut self, index: Option<String>) -> Self {
        self.results_index = index;
        self
    }

    fn job(&self, id: &str) -> Result<&Job, AppError> {
        self.jobs
            .iter()
            .find(|j| j.job_id == id)
            .ok_or_else(|| AppError::NotFound {
                kind: "job",
                id: id.to_string(),
            })
    }

    fn index_of(&self, job: &Job) -> String {
        self.results_index
            .clone()
            .unwrap_or_else(|| job.results_index.clone())
    }

    /// Runs a store call on the blocking pool; a store failure is counted in the metrics.
    async fn blocking<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, crate::store::StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        let out = tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| AppError::Internal(format!("store task failed: {e}")))?;
        out.map_err(|e| {
            self.metrics.store_error();
            AppError::Store(e)
        })
    }
}

/// The router: `/health`, `/metrics`, `/api/...` and the web UI at `/`.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/jobs", get(list_jobs))
        .route("/jobs/{id}", get(get_job))
        .route("/jobs/{id}/results/{kind}", get(get_results))
        .route("/jobs/{id}/_forecast", post(forecast::post_forecast))
        .route("/similar", get(similar::get_similar))
        .route("/openapi.json", get(openapi))
        .fallback(api_not_found)
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(prometheus))
        .merge(ui::routes())
        .nest("/api", api)
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// One debug line per request (server errors are logged once more, at ERROR, by [`AppError`]).
async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(
        %method,
        path,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "Answered a request"
    );
    resp
}

/// Refuses an address other than loopback when no token is set.
pub fn check_bind(addr: SocketAddr, token: Option<&str>) -> crate::Result<()> {
    let has_token = token.is_some_and(|t| !t.trim().is_empty());
    if !addr.ip().is_loopback() && !has_token {
        return Err(crate::Error::UnsafeBind { addr });
    }
    Ok(())
}

/// Serves [`app`] on `addr` until Ctrl-C or SIGTERM, then finishes open requests.
pub async fn serve(addr: SocketAddr, state: AppState) -> crate::Result<()> {
    serve_with_shutdown(addr, state, shutdown_signal()).await
}

/// Like [`serve`], stopping when `shutdown` completes (e.g. when the runner stops).
pub async fn serve_with_shutdown(
    addr: SocketAddr,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> crate::Result<()> {
    check_bind(addr, state.token.as_deref())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| crate::Error::Io {
            path: format!("--http {addr}"),
            source,
        })?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %local, auth = state.token.is_some(), "Serving the HTTP API and web UI");
    let mut state = state;
    state.hosts = Some(HostPolicy {
        bound: local,
        names: state.allow_hosts.clone(),
    });
    let timeout = state.header_read_timeout;
    guard::serve_connections(listener, app(state), shutdown, timeout).await;
    Ok(())
}

/// Runs [`serve`] on a new multi-threaded runtime (for a synchronous `main`).
pub fn serve_blocking(addr: SocketAddr, state: AppState) -> crate::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| crate::Error::Io {
            path: "tokio runtime".into(),
            source,
        })?;
    rt.block_on(serve(addr, state))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("Shutting down the HTTP API");
}

/// Compares in time independent of where the first difference is.
fn same_token(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

async fn require_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    if let Some(expected) = &state.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        if !given.is_some_and(|g| same_token(g, expected)) {
            return AppError::Unauthorized.into_response();
        }
    }
    next.run(req).await
}

/// `{"status":"ok"}`; on loopback also the version, job count and store (a client
/// elsewhere learns nothing about the engine or where the data lives).
async fn health(
    State(state): State<AppState>,
    peer: Option<axum::Extension<PeerAddr>>,
) -> Json<Value> {
    if peer.is_some_and(|p| !p.0 .0.ip().is_loopback()) {
        return Json(json!({ "status": "ok" }));
    }
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "jobs": state.jobs.len(),
        "store": state.store.describe(),
    }))
}

async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}

/// The hand-written OpenAPI 3.1 document served at `/api/openapi.json`.
pub(crate) const OPENAPI_JSON: &str = include_str!("openapi.json");

async fn api_not_found(uri: OriginalUri) -> AppError {
    AppError::NotFound {
        kind: "endpoint",
        id: uri.path().to_string(),
    }
}

async fn list_jobs(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let mut out = Vec::with_capacity(state.jobs.len());
    for job in state.jobs.iter() {
        let (job, index, metrics) = (job.clone(), state.index_of(job), state.metrics.clone());
        out.push(
            state
                .blocking(move |s| jobs::summary(s, &index, &job, &metrics))
                .await?,
        );
    }
    Ok(Json(json!({ "count": out.len(), "jobs": out })))
}

async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let job = state.job(&id)?.clone();
    let (index, metrics) = (state.index_of(&job), state.metrics.clone());
    let doc = state
        .blocking(move |s| jobs::detail(s, &index, &job, &metrics))
        .await?;
    Ok(Json(doc))
}

async fn get_results(
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let job = state.job(&id)?.clone();
    let kind = results::Kind::parse(&kind).ok_or_else(|| {
        AppError::bad_param(
            "kind",
            format!(
                "`{kind}` is not a result kind; expected one of {}",
                results::Kind::PATHS.join(", ")
            ),
        )
    })?;
    let params = results::parse_params(&q, kind)?;
    let body = results::search_body(&job, kind, &params)?;
    let index = state.index_of(&job);
    let resp = state.blocking(move |s| s.search(&index, &body)).await?;
    Ok(Json(results::page(&job.job_id, kind, &params, &resp)))
}

/// The routes the router serves, as OpenAPI paths (checked against `openapi.json` in tests).
#[cfg(test)]
pub(crate) const ROUTES: &[&str] = &[
    "/health",
    "/metrics",
    "/api/jobs",
    "/api/jobs/{id}",
    "/api/jobs/{id}/results/{kind}",
    "/api/similar",
    "/api/openapi.json",
];

/// Routes served for `POST` only (also in `openapi.json`).
#[cfg(test)]
pub(crate) const POST_ROUTES: &[&str] = &["/api/jobs/{id}/_forecast"];
