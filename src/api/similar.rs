//! `GET /api/similar`: [`crate::similar`] over HTTP, for the web UI's "moved together" panel.
//! Parameters mirror `tidewatch similar`: `job`, `partition` (`field=value`), `at` (RFC 3339
//! or epoch milliseconds), `window` (`6h`), `top`, `jobs_only` (comma-separated), `max_lag`,
//! `values` (`actual` or `deviation`), `min_score` (0 to 100, default 50; 0 ranks every
//! shape). Unknown parameters are refused by name.

use super::results::parse_time;
use super::{AppError, AppState};
use crate::similar::{self, SimilarError, SimilarRequest, Values};
use axum::extract::{Query, State};
use axum::Json;
use serde_json::Value;
use std::collections::HashMap;

const KNOWN: &[&str] = &[
    "job",
    "partition",
    "at",
    "window",
    "top",
    "jobs_only",
    "max_lag",
    "values",
    "min_score",
];

/// Largest `top`.
const MAX_TOP: usize = 100;

fn to_app_error(e: SimilarError) -> AppError {
    match e {
        SimilarError::Store(s) => AppError::Store(s),
        SimilarError::UnknownJob { job_id, .. } => AppError::NotFound {
            kind: "job",
            id: job_id,
        },
        SimilarError::WindowTooShort { .. } => AppError::bad_param("window", e.to_string()),
        SimilarError::NoModelPlot(_) => AppError::bad_param("job", e.to_string()),
        SimilarError::BadArgument { option, .. } => AppError::bad_param(
            option.trim_start_matches('-').replace('-', "_"),
            e.to_string(),
        ),
        other => AppError::bad_param("partition", other.to_string()),
    }
}

fn number(
    q: &HashMap<String, String>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, AppError> {
    match q.get(name) {
        None => Ok(default),
        Some(t) => match t.trim().parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) || (name == "max_lag" && n <= max) => Ok(n),
            _ => Err(AppError::bad_param(
                name,
                format!("`{t}` is not an integer in 1..={max}"),
            )),
        },
    }
}

/// `min_score`: a score from 0 to 100, [`similar::MIN_SCORE`] when absent.
fn min_score(q: &HashMap<String, String>) -> Result<f64, AppError> {
    match q.get("min_score") {
        None => Ok(similar::MIN_SCORE),
        Some(t) => match t.trim().parse::<f64>() {
            Ok(s) if (0.0..=100.0).contains(&s) => Ok(s),
            _ => Err(AppError::bad_param(
                "min_score",
                format!("`{t}` is not a score from 0 to 100"),
            )),
        },
    }
}

/// Reads and checks the query string.
fn request(q: &HashMap<String, String>) -> Result<SimilarRequest, AppError> {
    if let Some(k) = q.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(AppError::bad_param(
            k.clone(),
            format!("unknown parameter; expected one of {}", KNOWN.join(", ")),
        ));
    }
    let job_id = q
        .get("job")
        .filter(|j| !j.trim().is_empty())
        .ok_or_else(|| AppError::bad_param("job", "required: the job of the series to match"))?;
    let at = parse_time(
        "at",
        q.get("at")
            .ok_or_else(|| AppError::bad_param("at", "required: RFC 3339 or epoch milliseconds"))?,
    )?;
    let window = crate::time::parse_duration(q.get("window").map_or("6h", String::as_str))
        .map_err(|r| AppError::bad_param("window", r))?;
    let values = match q.get("values").map(String::as_str) {
        None | Some("actual") => Values::Actual,
        Some("deviation") => Values::Deviation,
        Some(other) => {
            return Err(AppError::bad_param(
                "values",
                format!("`{other}`: expected `actual` or `deviation`"),
            ))
        }
    };
    Ok(SimilarRequest {
        job_id: job_id.clone(),
        partition: q
            .get("partition")
            .map(|p| similar::parse_split("partition", p).map_err(to_app_error))
            .transpose()?,
        at,
        window_ms: window.as_millis().min(90 * 86_400_000) as i64,
        top: number(q, "top", 10, MAX_TOP)?,
        jobs_only: q.get("jobs_only").map(|s| {
            s.split(',')
                .map(|j| j.trim().to_string())
                .filter(|j| !j.is_empty())
                .collect()
        }),
        max_lag: number(q, "max_lag", 2, 16)?,
        values,
        min_score: min_score(q)?,
    })
}

pub(crate) async fn get_similar(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let req = request(&q)?;
    let (store, jobs, index) = (
        state.store.clone(),
        state.jobs.clone(),
        state.results_index.clone(),
    );
    let out = tokio::task::spawn_blocking(move || {
        let index_of =
            |j: &crate::config::Job| index.clone().unwrap_or_else(|| j.results_index.clone());
        similar::search(store.as_ref(), &jobs, &index_of, &req)
    })
    .await
    .map_err(|e| AppError::Internal(format!("similar task failed: {e}")))?
    .map_err(|e| {
        if matches!(e, SimilarError::Store(_)) {
            state.metrics.store_error();
        }
        to_app_error(e)
    })?;
    serde_json::to_value(out)
        .map(Json)
        .map_err(|e| AppError::Internal(format!("similar answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{model_plot_doc, ModelPlotPoint, SeriesPoint};
    use crate::store::{BulkDoc, EmbeddedStore, Store};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::json;
    use std::sync::Arc;
    use tower::ServiceExt;

    const SPAN: i64 = 900_000;
    const T0: i64 = 1_715_000_400_000;

    /// Country traffic over a day: BR and AR share a spike at bucket 50 (records scored 95),
    /// the rest follow a daily wave (US with a minor record of 30); `web` has model plot,
    /// `quiet` has none.
    fn fixture(dir: &std::path::Path) -> AppState {
        let yaml = |id: &str, plot: bool| {
            format!(
                "job_id: {id}\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      partition_field_name: country\ndatafeed_config:\n  indices: [logs]\nmodel_plot_config:\n  enabled: {plot}\n"
            )
        };
        std::fs::create_dir_all(dir.join("jobs")).unwrap();
        std::fs::write(dir.join("jobs/web.yml"), yaml("web", true)).unwrap();
        std::fs::write(dir.join("jobs/quiet.yml"), yaml("quiet", false)).unwrap();
        let jobs = crate::config::load_jobs(&[dir.join("jobs")]).unwrap();
        let store = EmbeddedStore::open(dir.join("store")).unwrap();
        let mut docs = Vec::new();
        for (i, country) in ["BR", "AR", "US", "DE", "FR"].iter().enumerate() {
            for b in 0..96i64 {
                let wave = 100.0
                    + 30.0 * ((b as f64 / 96.0 + i as f64 / 5.0) * std::f64::consts::TAU).sin();
                let spike = matches!(*country, "BR" | "AR") && (50..52).contains(&b);
                let actual = if spike {
                    wave + 300.0 * (1.0 + i as f64)
                } else {
                    wave
                };
                let m = ModelPlotPoint {
                    series: SeriesPoint {
                        timestamp: T0 + b * SPAN,
                        detector_index: 0,
                        function: "count".into(),
                        field_name: None,
                        partition: Some(("country".into(), country.to_string())),
                        by: None,
                    },
                    actual: Some(actual),
                    median: wave,
                    lower: wave - 10.0,
                    upper: wave + 10.0,
                };
                let (id, source) = model_plot_doc("web", &m, 900);
                docs.push(BulkDoc {
                    id: Some(id),
                    source,
                });
            }
            let score = match *country {
                "BR" | "AR" => 95.0,
                "US" => 30.0,
                _ => continue,
            };
            docs.push(BulkDoc {
                id: Some(format!("web_record_{country}")),
                source: json!({
                    "job_id": "web", "result_type": "record", "timestamp": T0 + 50 * SPAN,
                    "detector_index": 0, "partition_field_name": "country",
                    "partition_field_value": country, "record_score": score,
                }),
            });
        }
        let index = crate::config::DEFAULT_RESULTS_INDEX;
        store.bulk(index, docs).unwrap();
        store.refresh(index).unwrap();
        AppState::new(Arc::new(store), jobs)
    }

    async fn get(state: AppState, uri: &str) -> (StatusCode, Value) {
        let resp = super::super::app(state)
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn the_shared_spike_ranks_first_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let state = fixture(dir.path());
        let at = T0 + 50 * SPAN;
        let (status, v) = get(
            state.clone(),
            &format!("/api/similar?job=web&partition=country=BR&at={at}&top=3"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["matches"][0]["partition"], "country=AR", "{v}");
        assert_eq!(v["matches"][0]["lag_buckets"], 0);
        assert!(v["matches"][0]["distance"].as_f64().unwrap() < 0.2, "{v}");
        // The waves moved too, but their models saw nothing major: left out by default.
        assert_eq!(v["matches"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v["left_out"], 3, "{v}");
        assert_eq!(v["values"].as_array().unwrap().len(), 24);
        let (_, all) = get(
            state.clone(),
            &format!("/api/similar?job=web&partition=country=BR&at={at}&top=3&min_score=0"),
        )
        .await;
        assert_eq!(all["matches"].as_array().unwrap().len(), 3, "{all}");
        assert_eq!(all["left_out"], 0, "{all}");
        let (status, bad) = get(
            state.clone(),
            &format!("/api/similar?job=web&partition=country=BR&at={at}&min_score=101"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            v["skipped"],
            json!(["quiet: model_plot_config is not enabled"])
        );
        // Against the model's median the daily waves cancel: the spikes alone, the same shape.
        let (status, v) = get(
            state.clone(),
            &format!("/api/similar?job=web&partition=country=BR&at={at}&values=deviation"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["compared"], "deviation");
        assert_eq!(v["matches"][0]["partition"], "country=AR", "{v}");
        assert!(v["matches"][0]["distance"].as_f64().unwrap() < 1e-6, "{v}");
        let (status, v) = get(
            state.clone(),
            &format!("/api/similar?job=web&partition=country=XX&at={at}"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["error"]["reason"]
                .as_str()
                .unwrap()
                .contains("country=AR"),
            "{v}"
        );
        let (status, v) = get(
            state.clone(),
            &format!("/api/similar?job=quiet&partition=country=BR&at={at}"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["error"]["reason"]
                .as_str()
                .unwrap()
                .contains("model_plot_config"),
            "{v}"
        );
        let (status, _) = get(state, &format!("/api/similar?job=nope&at={at}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_are_checked_by_name() {
        let ok = request(&q(&[
            ("job", "web"),
            ("at", "2024-05-14T18:15:00Z"),
            ("partition", "country=BR"),
            ("jobs_only", "a, b"),
        ]))
        .unwrap();
        assert_eq!(ok.window_ms, 6 * 3_600_000);
        assert_eq!(ok.jobs_only, Some(vec!["a".to_string(), "b".to_string()]));
        let param = |e: AppError| match e {
            AppError::BadParam { param, .. } => param,
            other => panic!("{other}"),
        };
        assert_eq!(param(request(&q(&[("at", "0")])).unwrap_err()), "job");
        assert_eq!(param(request(&q(&[("job", "w")])).unwrap_err()), "at");
        assert_eq!(
            param(request(&q(&[("job", "w"), ("at", "0"), ("top", "0")])).unwrap_err()),
            "top"
        );
        assert_eq!(
            param(request(&q(&[("job", "w"), ("at", "0"), ("partition", "BR")])).unwrap_err()),
            "partition"
        );
        assert_eq!(
            param(request(&q(&[("job", "w"), ("at", "0"), ("tpo", "3")])).unwrap_err()),
            "tpo"
        );
        assert_eq!(
            param(request(&q(&[("job", "w"), ("at", "0"), ("values", "raw")])).unwrap_err()),
            "values"
        );
    }
}
