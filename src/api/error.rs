//! The one HTTP error type: bad input gets its message back, server-side failures a plain
//! body (the details go to the log, once, here).

use crate::store::StoreError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppError {
    /// No such job (or other named thing).
    #[error("no {kind} `{id}`")]
    NotFound {
        /// What was looked for, e.g. `job`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A query or path parameter is wrong; names the parameter and says what was expected.
    #[error("parameter `{param}`: {reason}")]
    BadParam {
        /// The parameter.
        param: String,
        /// What is wrong with it and what was expected.
        reason: String,
    },
    /// A bearer token is required and was missing or wrong.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Refused before any handler ran (foreign `Host`, cross-site or non-JSON request, a
    /// forecast over the limits or while another runs).
    #[error("{reason}")]
    Refused {
        /// The HTTP status (403, 415, 421, 429, ...).
        status: StatusCode,
        /// The `error.type` value.
        kind: &'static str,
        /// What was refused and why.
        reason: String,
    },
    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// A [`AppError::BadParam`].
    pub fn bad_param(param: impl Into<String>, reason: impl Into<String>) -> Self {
        AppError::BadParam {
            param: param.into(),
            reason: reason.into(),
        }
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::BadParam { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Refused { status, .. } => *status,
            AppError::Store(e) if e.is_retryable() => StatusCode::BAD_GATEWAY,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error.type` value.
    fn kind(&self) -> &'static str {
        match self {
            AppError::NotFound { .. } => "resource_not_found_exception",
            AppError::BadParam { .. } => "illegal_argument_exception",
            AppError::Unauthorized => "security_exception",
            AppError::Refused { kind, .. } => kind,
            AppError::Store(_) => "store_exception",
            AppError::Internal(_) => "internal_exception",
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let reason = if status.is_server_error() {
            // The only place server-side failures are logged; the client gets no internals.
            tracing::error!(error = %self, status = status.as_u16(), "Request failed on the server side");
            match status {
                StatusCode::BAD_GATEWAY => "the result store is unavailable; see the server log",
                _ => "the server failed to answer; see the server log",
            }
            .to_string()
        } else {
            self.to_string()
        };
        let body = Json(json!({ "error": { "type": self.kind(), "reason": reason } }));
        let mut resp = (status, body).into_response();
        if matches!(self, AppError::Unauthorized) {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"tidewatch\""),
            );
        }
        resp
    }
}
