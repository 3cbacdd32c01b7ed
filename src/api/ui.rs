//! The built-in web UI: static files embedded in the binary, plus the Vega specs and the
//! Kibana saved objects they share with Kibana.

use super::AppState;
use crate::kibana::{KIBANA_NDJSON, SINGLE_METRIC_SPEC, SWIMLANE_SPEC};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub(crate) const INDEX_HTML: &str = include_str!("../../web/index.html");
pub(crate) const APP_JS: &str = include_str!("../../web/app.js");
pub(crate) const APP_CSS: &str = include_str!("../../web/app.css");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// Routes of the UI's files.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/ui/vega/swimlane.vl.json",
            get(|| async { asset("application/json", SWIMLANE_SPEC) }),
        )
        .route(
            "/ui/vega/single_metric.vl.json",
            get(|| async { asset("application/json", SINGLE_METRIC_SPEC) }),
        )
        .route(
            "/kibana/tidewatch.ndjson",
            get(|| async { asset("application/x-ndjson", KIBANA_NDJSON) }),
        )
}
