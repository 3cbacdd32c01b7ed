//! What keeps a web page in the user's browser from driving the API (docs/api.md, "Threat
//! model"): the `Host` check against DNS rebinding, `Content-Type: application/json` and a
//! same-origin `Origin` on every state-changing request against cross-site requests, and
//! the connection loop with a header-read timeout against slow clients.

use super::{AppError, AppState};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How long a client may take to send a request's headers before its connection is closed.
pub(crate) const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long open connections get to finish their requests after shutdown is asked.
const DRAIN: Duration = Duration::from_secs(10);

/// The peer of a connection, set on each request by [`serve_connections`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub SocketAddr);

/// The `Host` values a served API answers to: the bound address, loopback names and
/// addresses, and names given with `--allow-host`.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// The address the server listens on.
    pub bound: SocketAddr,
    /// Further host names (lowercase, without port).
    pub names: Vec<String>,
}

/// The host part of a `Host` header value: `[::1]:9280` → `::1`, `localhost:9280` →
/// `localhost`, lowercased.
fn host_part(value: &str) -> String {
    let v = value.trim();
    let host = match v.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => v.rsplit_once(':').map_or(v, |(h, _)| h),
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl HostPolicy {
    /// Whether a request with this `Host` header value is for this server. A name must be
    /// `localhost` or one given with `--allow-host` (a rebound DNS name is neither); an
    /// address must be loopback or the bound one (any, when bound to `0.0.0.0`/`::`).
    pub fn allows(&self, host_header: &str) -> bool {
        let host = host_part(host_header);
        if host.is_empty() {
            return false;
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == self.bound.ip() || self.bound.ip().is_unspecified(),
            Err(_) => host == "localhost" || self.names.contains(&host),
        }
    }
}

fn refused(status: StatusCode, kind: &'static str, reason: String) -> Response {
    AppError::Refused {
        status,
        kind,
        reason,
    }
    .into_response()
}

/// Whether a `Content-Type` value is JSON (`application/json`, any parameters).
fn is_json(value: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// The middleware in front of every route: `Host` (when served), then for anything but
/// GET/HEAD/OPTIONS a JSON content type and a same-origin `Origin` when one is sent.
pub(crate) async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if let Some(policy) = &state.hosts {
        if !policy.allows(&host) {
            return refused(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected_request_exception",
                format!(
                    "Host `{host}` is not this server; use http://{}/ or http://localhost:{}/, or start the server with --allow-host NAME",
                    policy.bound,
                    policy.bound.port()
                ),
            );
        }
    }
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_json(content_type) {
        return refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "media_type_exception",
            format!(
                "a {} request needs `Content-Type: application/json` (got `{content_type}`)",
                req.method()
            ),
        );
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let same = ["http://", "https://"].iter().any(|scheme| {
            !host.is_empty() && origin.eq_ignore_ascii_case(&format!("{scheme}{host}"))
        });
        if !same {
            return refused(
                StatusCode::FORBIDDEN,
                "cross_origin_exception",
                format!("Origin `{origin}` is not this server's (`{host}`): cross-site requests may not change anything"),
            );
        }
    }
    next.run(req).await
}

/// Serves `router` on `listener` over HTTP/1.1 until `shutdown` completes: each connection
/// gets `header_read_timeout` to send each request's headers, and each request carries its
/// [`PeerAddr`]. Open connections get [`DRAIN`] to finish after shutdown.
pub(crate) async fn serve_connections(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_read_timeout: Duration,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let (close_tx, close_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "Could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let service = hyper_util::service::TowerToHyperService::new(
            router.clone().layer(axum::Extension(PeerAddr(peer))),
        );
        let mut close = close_rx.clone();
        tasks.spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let mut conn = std::pin::pin!(builder.serve_connection(io, service));
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "Connection ended with an error");
                    }
                }
                _ = close.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
        });
    }
    let _ = close_tx.send(true);
    let drained = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::warn!("Closing connections that did not finish in time");
        tasks.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let p = HostPolicy {
            bound: "127.0.0.1:9280".parse().unwrap(),
            names: vec!["tidewatch.internal".into()],
        };
        for ok in [
            "127.0.0.1:9280",
            "localhost:9280",
            "LOCALHOST",
            "[::1]:9280",
            "tidewatch.internal:80",
            "127.0.0.2",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for no in [
            "evil.example",
            "evil.example:9280",
            "",
            "10.0.0.1:9280",
            "localhost.evil.example",
        ] {
            assert!(!p.allows(no), "{no}");
        }
        let any = HostPolicy {
            bound: "0.0.0.0:9280".parse().unwrap(),
            names: vec![],
        };
        assert!(any.allows("10.0.0.1:9280"));
        assert!(!any.allows("evil.example:9280"));
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
        assert!(!is_json(""));
    }
}
