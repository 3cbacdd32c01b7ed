//! `POST /api/jobs/{id}/_forecast`: Elastic ML's forecast API over [`crate::forecast`].
//! `duration` and `expires_in` come from the query string or a JSON body, as in Elastic;
//! the answer is `{"acknowledged": true, "forecast_id": ...}` once the documents are written.

use super::{AppError, AppState};
use crate::forecast::{self, ForecastArgs, ForecastError};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The parameter a forecast error is about, for a 400 answer.
fn to_app_error(e: ForecastError) -> AppError {
    match e {
        ForecastError::Store(s) => AppError::Store(s),
        ForecastError::UnknownJob { job_id, .. } => AppError::NotFound {
            kind: "job",
            id: job_id,
        },
        ForecastError::BadDuration { option, .. } => {
            AppError::bad_param(option.replace('-', "_"), e.to_string())
        }
        other => AppError::bad_param("id", other.to_string()),
    }
}

pub(crate) async fn post_forecast(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let job = state.job(&id)?.clone();
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::bad_param("body", format!("not JSON: {e}")))?
    };
    let param = |name: &str, default: &str| -> Result<String, AppError> {
        match (q.get(name), body.get(name)) {
            (Some(v), _) => Ok(v.clone()),
            (None, Some(Value::String(s))) => Ok(s.clone()),
            (None, Some(Value::Number(n))) if n.as_u64() == Some(0) => Ok("0".into()),
            (None, Some(v)) => Err(AppError::bad_param(
                name,
                format!("`{v}` is not a duration; expected e.g. \"3d\""),
            )),
            (None, None) => Ok(default.to_string()),
        }
    };
    if let Some(k) = q
        .keys()
        .chain(body.as_object().into_iter().flat_map(|o| o.keys()))
        .find(|k| *k != "duration" && *k != "expires_in")
    {
        return Err(AppError::bad_param(
            k.clone(),
            "unknown parameter; expected `duration` or `expires_in`",
        ));
    }
    let args = ForecastArgs {
        job_id: id,
        duration: param("duration", "1d")?,
        expires_in: param("expires_in", "14d")?,
        jobs: Default::default(),
        no_fit: false,
    };
    let now = chrono::Utc::now().timestamp_millis();
    let request = forecast::request_from_args(&args, now).map_err(to_app_error)?;
    let store = state.store.clone();
    let outcome =
        tokio::task::spawn_blocking(move || forecast::forecast_job(store.as_ref(), &job, &request))
            .await
            .map_err(|e| AppError::Internal(format!("forecast task failed: {e}")))?
            .map_err(to_app_error)?;
    Ok(Json(json!({
        "acknowledged": true,
        "forecast_id": outcome.forecast_id,
        "forecast_start_timestamp": outcome.start,
        "forecast_end_timestamp": outcome.end,
        "documents": outcome.documents,
    })))
}
