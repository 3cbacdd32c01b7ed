//! `POST /api/jobs/{id}/_forecast`: Elastic ML's forecast API over [`crate::forecast`].
//! `duration` and `expires_in` come from the query string or a JSON body, as in Elastic;
//! the answer is `{"acknowledged": true, "forecast_id": ...}` once the documents are written.
//!
//! Over HTTP a forecast is bounded (the command line is not): one at a time (429 while one
//! runs), and at most [`API_MAX_FORECAST_DOCUMENTS`] documents, estimated as the job's
//! series (from its stats) times the buckets asked for.

use super::{AppError, AppState};
use crate::forecast::{self, ForecastError, ForecastOptions};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The most documents one forecast through the API may write.
pub(crate) const API_MAX_FORECAST_DOCUMENTS: u64 = 20_000;

/// Clears the "a forecast is running" flag when the request ends, however it ends.
struct Running(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Refuses a forecast that would write more than [`API_MAX_FORECAST_DOCUMENTS`].
async fn check_cost(
    state: &AppState,
    job: &crate::config::Job,
    duration: std::time::Duration,
) -> Result<(), AppError> {
    let job_id = job.job_id.clone();
    let stats = state
        .blocking(move |s| crate::runner::load_stats(s, crate::runner::STATE_INDEX, &job_id))
        .await?;
    let series = stats
        .as_ref()
        .and_then(|d| d.pointer("/model_size_stats/partitions"))
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1);
    let buckets = duration
        .as_millis()
        .div_ceil(job.bucket_span.as_millis().max(1));
    let documents = u128::from(series) * buckets;
    if documents > u128::from(API_MAX_FORECAST_DOCUMENTS) {
        return Err(AppError::bad_param(
            "duration",
            format!(
                "would write about {documents} documents ({series} series x {buckets} buckets of {}); the API writes at most {API_MAX_FORECAST_DOCUMENTS} per forecast: ask for a shorter duration, or run `tidewatch forecast` on the command line",
                crate::time::format_duration(job.bucket_span)
            ),
        ));
    }
    Ok(())
}

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
    let args = ForecastOptions {
        job_id: id,
        duration: param("duration", "1d")?,
        expires_in: param("expires_in", "14d")?,
        jobs: Default::default(),
        no_fit: false,
    };
    let now = chrono::Utc::now().timestamp_millis();
    let request = forecast::request_from_args(&args, now).map_err(to_app_error)?;
    check_cost(&state, &job, request.duration).await?;
    let flag = state.forecast_running.clone();
    if flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Err(AppError::Refused {
            status: axum::http::StatusCode::TOO_MANY_REQUESTS,
            kind: "too_many_requests_exception",
            reason: "a forecast is already running; try again once it has finished".into(),
        });
    }
    let _running = Running(flag);
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
