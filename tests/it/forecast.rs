//! `tidewatch forecast` on the embedded store: after a lookback, every partition of a
//! demo-like job gets `model_forecast` documents and the request a stats document; expired
//! forecasts are deleted; a job that never ran, an unknown job and a population-only job
//! get clear errors.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tidewatch::config;
use tidewatch::forecast::{self, ForecastError, ForecastRequest};
use tidewatch::runner;
use tidewatch::store::{BulkDoc, EmbeddedStore, Store};
use tidewatch::time::format_millis;

const MIN: i64 = 60_000;
const SPAN: i64 = 15 * MIN;
const HOUR: i64 = 60 * MIN;
/// Monday 2024-05-06T00:00:00Z.
const T0: i64 = 1_714_953_600_000;
const DAYS: i64 = 3;
const RESULTS: &str = "tidewatch-results";

fn job_with(yaml_detector: &str) -> config::Job {
    config::load_job_str(
        "jobs/web.yml",
        &format!(
            r#"
job_id: web
analysis_config:
  bucket_span: 15m
  detectors:
{yaml_detector}
  influencers: [country]
datafeed_config:
  indices: [events]
"#
        ),
    )
    .expect("job parses")
}

fn country_job() -> config::Job {
    job_with("    - function: count\n      partition_field_name: country")
}

/// Three countries with a daily cycle, `DAYS` days from `T0`.
fn load(store: &dyn Store) {
    load_days(store, DAYS)
}

fn load_days(store: &dyn Store, days: i64) {
    let mut batch = Vec::new();
    let mut t = T0;
    while t < T0 + days * 24 * HOUR {
        let hour = ((t % (24 * HOUR)) / HOUR) as usize;
        for (country, base) in [("DE", 8usize), ("FR", 4), ("US", 12)] {
            let n = base + (hour * base / 12) % (base + 1);
            for i in 0..n {
                batch.push(BulkDoc {
                    id: Some(format!("{country}-{t}-{i}")),
                    source: json!({
                        "@timestamp": format_millis(t + (i as i64 * SPAN) / n as i64),
                        "country": country,
                        "client": format!("10.0.0.{}", i % 7),
                    }),
                });
            }
        }
        t += SPAN;
    }
    store.bulk("events", batch).expect("bulk");
    store.refresh("events").expect("refresh");
}

fn hits(store: &dyn Store, query: Value) -> Vec<(String, Value)> {
    let body = json!({ "size": 10_000, "query": query, "sort": [{ "_id": "asc" }] });
    crate::support::search_hits(store, RESULTS, &body)
        .into_iter()
        .map(|h| {
            (
                h["_id"].as_str().unwrap_or("").to_string(),
                h["_source"].clone(),
            )
        })
        .collect()
}

fn of_forecast(store: &dyn Store, result_type: &str, forecast_id: &str) -> Vec<(String, Value)> {
    hits(
        store,
        json!({ "bool": { "filter": [
            { "term": { "result_type": result_type } },
            { "term": { "forecast_id": forecast_id } }
        ] } }),
    )
}

fn request(now: i64, duration_h: u64, expires_h: Option<u64>) -> ForecastRequest {
    ForecastRequest {
        duration: Duration::from_secs(duration_h * 3600),
        expires_in: expires_h.map(|h| Duration::from_secs(h * 3600)),
        now,
        state_index: runner::STATE_INDEX.to_string(),
        fit: true,
    }
}

fn ran_store(dir: &tempfile::TempDir, job: &config::Job) -> EmbeddedStore {
    let store = EmbeddedStore::open(dir.path()).expect("store");
    load(&store);
    let stop = AtomicBool::new(false);
    let s = runner::run_lookback(&store, job, Some(runner::STATE_INDEX), &stop).expect("lookback");
    assert_eq!(s.buckets as i64, DAYS * 96);
    store
}

#[test]
fn every_partition_is_forecast_with_a_stats_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = country_job();
    let store = ran_store(&dir, &job);
    let now = T0 + DAYS * 24 * HOUR + 5 * MIN;
    let out = forecast::forecast_job(&store, &job, &request(now, 6, Some(24))).expect("forecast");
    let next = T0 + DAYS * 24 * HOUR;
    assert_eq!(out.start, next, "starts at the job's next bucket");
    assert_eq!(out.buckets, 24);
    assert_eq!(out.end, next + 24 * SPAN);
    assert_eq!(out.series, 3);
    assert_eq!(out.documents, 3 * 24);
    assert_eq!(out.expiry, Some(now + 24 * HOUR));

    let docs = of_forecast(&store, "model_forecast", &out.forecast_id);
    assert_eq!(docs.len(), 3 * 24);
    let mut per_country: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (id, d) in &docs {
        assert!(
            id.starts_with(&format!("web_model_forecast_{}_", out.forecast_id)),
            "{id}"
        );
        assert_eq!(d["job_id"], "web");
        assert_eq!(d["bucket_span"], 900);
        assert_eq!(d["detector_index"], 0);
        assert_eq!(d["model_feature"], "count");
        assert_eq!(d["forecast_create_timestamp"], now);
        assert_eq!(d["partition_field_name"], "country");
        let (lo, mid, hi) = (
            d["forecast_lower"].as_f64().expect("lower"),
            d["forecast_prediction"].as_f64().expect("prediction"),
            d["forecast_upper"].as_f64().expect("upper"),
        );
        assert!(0.0 <= lo && lo <= mid && mid <= hi && hi > lo, "{d}");
        per_country
            .entry(
                d["partition_field_value"]
                    .as_str()
                    .expect("value")
                    .to_string(),
            )
            .or_default()
            .push(d["timestamp"].as_i64().expect("timestamp"));
    }
    assert_eq!(
        per_country.keys().collect::<Vec<_>>(),
        ["DE", "FR", "US"],
        "every partition"
    );
    for times in per_country.values_mut() {
        times.sort();
        let want: Vec<i64> = (0..24).map(|k| next + k * SPAN).collect();
        assert_eq!(*times, want);
    }
    // The busiest country is forecast busier than the quietest.
    let mean = |c: &str| {
        let v: Vec<f64> = docs
            .iter()
            .filter(|(_, d)| d["partition_field_value"] == c)
            .map(|(_, d)| d["forecast_prediction"].as_f64().unwrap_or(0.0))
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(
        mean("US") > mean("FR"),
        "US {} FR {}",
        mean("US"),
        mean("FR")
    );

    let stats = of_forecast(&store, "model_forecast_request_stats", &out.forecast_id);
    assert_eq!(stats.len(), 1);
    let (id, s) = &stats[0];
    assert_eq!(
        *id,
        format!("web_model_forecast_request_stats_{}", out.forecast_id)
    );
    assert_eq!(s["forecast_status"], "finished");
    assert_eq!(s["forecast_progress"], 1.0);
    assert_eq!(s["forecast_start_timestamp"], next);
    assert_eq!(s["forecast_end_timestamp"], next + 24 * SPAN);
    assert_eq!(s["forecast_expiry_timestamp"], now + 24 * HOUR);
    assert_eq!(s["forecast_create_timestamp"], now);
    assert_eq!(s["processed_record_count"], 72);
    assert!(s["forecast_memory_bytes"].as_u64().unwrap_or(0) > 0);
    assert!(s["processing_time_ms"].is_u64());
    assert_eq!(s["forecast_messages"], json!([]));

    // Forecasting never changes the model: a second forecast gives the same numbers under a
    // new id, with the same per-forecast id scheme.
    let again = forecast::forecast_job(&store, &job, &request(now, 6, Some(24))).expect("again");
    assert_ne!(again.forecast_id, out.forecast_id);
    let strip = |docs: Vec<(String, Value)>, fid: &str| -> Vec<(String, Value)> {
        docs.into_iter()
            .map(|(id, mut d)| {
                d["forecast_id"] = json!("-");
                (id.replace(fid, "-"), d)
            })
            .collect()
    };
    assert_eq!(
        strip(docs, &out.forecast_id),
        strip(
            of_forecast(&store, "model_forecast", &again.forecast_id),
            &again.forecast_id
        )
    );
}

#[test]
fn expired_forecasts_are_deleted_and_others_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = country_job();
    let store = ran_store(&dir, &job);
    let now = T0 + DAYS * 24 * HOUR;
    let short = forecast::forecast_job(&store, &job, &request(now, 1, Some(1))).expect("short");
    let forever = forecast::forecast_job(&store, &job, &request(now, 1, None)).expect("forever");
    let long = forecast::forecast_job(&store, &job, &request(now, 1, Some(48))).expect("long");
    assert_eq!(short.expired_deleted, 0);
    for f in [&short, &forever, &long] {
        assert_eq!(
            of_forecast(&store, "model_forecast", &f.forecast_id).len(),
            12
        );
    }
    let stats = of_forecast(&store, "model_forecast_request_stats", &forever.forecast_id);
    assert!(stats[0].1.get("forecast_expiry_timestamp").is_none());

    // Two hours later the one-hour forecast has expired: the next request deletes it.
    let later =
        forecast::forecast_job(&store, &job, &request(now + 2 * HOUR, 1, Some(1))).expect("later");
    assert_eq!(later.expired_deleted, 1);
    assert!(of_forecast(&store, "model_forecast", &short.forecast_id).is_empty());
    assert!(of_forecast(&store, "model_forecast_request_stats", &short.forecast_id).is_empty());
    for f in [&forever, &long, &later] {
        assert_eq!(
            of_forecast(&store, "model_forecast", &f.forecast_id).len(),
            12
        );
        assert_eq!(
            of_forecast(&store, "model_forecast_request_stats", &f.forecast_id).len(),
            1
        );
    }
    // The job's other results are untouched.
    let buckets = hits(&store, json!({ "term": { "result_type": "bucket" } }));
    assert_eq!(buckets.len() as i64, DAYS * 96);
    // delete_expired on its own: far in the future only the forecast without expiry stays.
    let n = forecast::delete_expired(&store, RESULTS, now + 1000 * HOUR).expect("delete");
    assert_eq!(n, 2);
    let left = hits(
        &store,
        json!({ "term": { "result_type": "model_forecast_request_stats" } }),
    );
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1["forecast_id"], json!(forever.forecast_id));
}

#[test]
fn clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("store");
    load(&store);
    let job = country_job();
    let now = T0 + DAYS * 24 * HOUR;

    // Never run: no checkpoint.
    let e = forecast::forecast_job(&store, &job, &request(now, 1, None)).unwrap_err();
    assert!(matches!(e, ForecastError::NeverRun { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("`web` has not run yet") && text.contains("tidewatch run"),
        "{text}"
    );
    assert!(
        hits(&store, json!({ "match_all": {} })).is_empty(),
        "nothing written"
    );

    // Unknown job.
    let e = forecast::find_job(std::slice::from_ref(&job), "nope", "jobs/").unwrap_err();
    assert_eq!(e.to_string(), "no job `nope` in jobs/; known jobs: web");

    // Bad durations.
    let mut r = request(now, 0, None);
    let e = forecast::forecast_job(&store, &job, &r).unwrap_err();
    assert!(e.to_string().starts_with("--duration `0"), "{e}");
    r.duration = Duration::from_secs(4000 * 86_400);
    assert!(forecast::forecast_job(&store, &job, &r).is_err());

    // The job changed since it ran: its snapshot does not fit any more.
    let stop = AtomicBool::new(false);
    runner::run_lookback(&store, &job, Some(runner::STATE_INDEX), &stop).expect("lookback");
    let changed = job_with("    - function: high_count\n      partition_field_name: country");
    let e = forecast::forecast_job(&store, &changed, &request(now, 1, None)).unwrap_err();
    assert!(matches!(e, ForecastError::StaleSnapshot { .. }), "{e:?}");

    // Only a population detector: nothing to forecast.
    let population = job_with(
        "    - function: count\n      over_field_name: client\n      partition_field_name: country",
    );
    runner::run_lookback(&store, &population, Some(runner::STATE_INDEX), &stop)
        .expect("population lookback");
    let e = forecast::forecast_job(&store, &population, &request(now, 1, None)).unwrap_err();
    assert!(
        matches!(e, ForecastError::NothingToForecast { .. }),
        "{e:?}"
    );
}

#[test]
fn population_detectors_are_skipped_with_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mixed = job_with(
        "    - function: count\n      partition_field_name: country\n    - function: count\n      over_field_name: client",
    );
    let store = ran_store(&dir, &mixed);
    let out = forecast::forecast_job(&store, &mixed, &request(T0, 2, None)).expect("forecast");
    assert_eq!(out.series, 3);
    assert_eq!(out.documents, 3 * 8);
    assert_eq!(out.messages.len(), 1);
    assert!(out.messages[0].contains("population"), "{:?}", out.messages);
    let stats = of_forecast(&store, "model_forecast_request_stats", &out.forecast_id);
    assert_eq!(stats[0].1["forecast_messages"][0], json!(out.messages[0]));
    let summary = forecast::summary(&out);
    assert!(
        summary.contains("3 series") && summary.contains("never expires"),
        "{summary}"
    );
}

#[test]
fn the_fit_replays_history_exactly_as_the_runner_learned_it() {
    let days = 9;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("store");
    load_days(&store, days);
    let job = country_job();
    let stop = AtomicBool::new(false);
    runner::run_lookback(&store, &job, Some(runner::STATE_INDEX), &stop).expect("lookback");
    let cp = runner::load_checkpoint(&store, runner::STATE_INDEX, &job)
        .expect("read")
        .expect("checkpoint");
    let analysis = runner::load_snapshot(&store, runner::STATE_INDEX, &job, &cp)
        .expect("read")
        .expect("snapshot");
    let next = T0 + days * 24 * HOUR;
    assert_eq!(cp.next_bucket, next);
    let d = &job.detectors[0];
    let cfg = tidewatch::analysis::model_config(&job, d.function);
    let replayed = forecast::replay(&store, &job, d, &cfg, T0, next).expect("replay");
    let mut compared = 0;
    for s in analysis.series_models() {
        let key = (s.partition_value.map(str::to_string), None);
        let h = &replayed[&key];
        assert_eq!(
            h.model.as_ref(),
            Some(s.baseline),
            "{key:?}: same model as the runner"
        );
        assert_eq!(h.values.len() as i64, days * 96);
        // One origin a day at the forecast's time of day, after a week.
        assert_eq!(h.origins.len(), 2, "{key:?}");
        compared += 1;
    }
    assert_eq!(compared, 3);

    // Fitted and plain forecasts both cover every partition, with bounds.
    let now = next;
    let fitted = forecast::forecast_job(&store, &job, &request(now, 12, None)).expect("fitted");
    let mut plain_req = request(now, 12, None);
    plain_req.fit = false;
    let plain = forecast::forecast_job(&store, &job, &plain_req).expect("plain");
    assert_eq!(fitted.documents, 3 * 48);
    assert_eq!(plain.documents, 3 * 48);
    let width = |fid: &str| -> f64 {
        of_forecast(&store, "model_forecast", fid)
            .iter()
            .map(|(_, d)| {
                d["forecast_upper"].as_f64().unwrap_or(0.0)
                    - d["forecast_lower"].as_f64().unwrap_or(0.0)
            })
            .sum()
    };
    assert!(width(&fitted.forecast_id) > 0.0);
    assert!(width(&plain.forecast_id) > 0.0);
}

async fn post(app: axum::Router, uri: &str, body: &str) -> (u16, Value) {
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .expect("request");
    let resp = app.oneshot(req).await.expect("response");
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_forecasts_like_elastic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = country_job();
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(tokio::task::block_in_place(|| ran_store(&dir, &job)));
    let app = || {
        tidewatch::api::app(tidewatch::api::AppState::new(
            store.clone(),
            vec![job.clone()],
        ))
    };

    let (status, v) = post(app(), "/api/jobs/web/_forecast", r#"{"duration": "2h"}"#).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["acknowledged"], true);
    let fid = v["forecast_id"].as_str().expect("forecast_id").to_string();
    assert_eq!(v["documents"], 3 * 8);
    let docs = tokio::task::block_in_place(|| of_forecast(store.as_ref(), "model_forecast", &fid));
    assert_eq!(docs.len(), 3 * 8);

    // Query-string parameters, as Elastic also accepts.
    let (status, v) = post(
        app(),
        "/api/jobs/web/_forecast?duration=1h&expires_in=0",
        "",
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["documents"], 3 * 4);

    let (status, v) = post(app(), "/api/jobs/nope/_forecast", "").await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = post(app(), "/api/jobs/web/_forecast", r#"{"duration": "soon"}"#).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("duration"),
        "{v}"
    );
    let (status, v) = post(app(), "/api/jobs/web/_forecast", r#"{"horizon": "1d"}"#).await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = post(app(), "/api/jobs/web/_forecast", "{not json").await;
    assert_eq!(status, 400);
}
