//! API tests through `oneshot`, over a test double of the store.

use super::metrics::tests::parse_prometheus;
use super::*;
use crate::config::{Detector, Function, ModelOptions, Side};
use crate::results::{
    bucket_doc, influencer_doc, model_plot_doc, record_doc, BucketResult, InfluencerResult,
    ModelPlotPoint, RecordResult, SeriesPoint,
};
use crate::store::{BulkDoc, BulkResponse, PutMode, StoreError, VersionedDoc};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::cmp::Ordering;
use std::sync::Mutex;
use std::time::Duration;
use tower::ServiceExt;

// ---------------------------------------------------------------------------------------------
// Test double of the store: holds documents in a Vec and evaluates only what the API sends
// (bool filter of term/range, sort with asc/desc, from, size, search_after, track_total_hits).
// It is NOT a search engine; anything else is refused, so a handler that starts sending other
// queries fails these tests until the double (or the real embedded store) is used.
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct StoreDouble {
    docs: Mutex<Vec<(String, String, Value)>>,
}

fn bad(msg: String) -> StoreError {
    StoreError::InvalidSearch {
        at: "store double".into(),
        problem: msg,
    }
}

fn index_matches(pattern: &str, index: &str) -> bool {
    pattern.split(',').any(|p| match p.strip_suffix('*') {
        Some(prefix) => index.starts_with(prefix),
        None => p == index,
    })
}

fn field<'a>(id: &'a str, doc: &'a Value, name: &str) -> Option<Value> {
    if name == "_id" {
        return Some(Value::String(id.to_string()));
    }
    doc.get(name).cloned()
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.as_str().unwrap_or("").cmp(b.as_str().unwrap_or("")),
    }
}

fn eq_values(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn matches(q: &Value, id: &str, doc: &Value) -> Result<bool, StoreError> {
    let (kind, body) = q
        .as_object()
        .and_then(|m| m.iter().next())
        .ok_or_else(|| bad(format!("bad query {q}")))?;
    match kind.as_str() {
        "bool" => {
            for clause in ["filter", "must"] {
                if let Some(list) = body.get(clause).and_then(Value::as_array) {
                    for c in list {
                        if !matches(c, id, doc)? {
                            return Ok(false);
                        }
                    }
                }
            }
            for k in body.as_object().into_iter().flat_map(|m| m.keys()) {
                if k != "filter" && k != "must" {
                    return Err(bad(format!("bool.{k} not supported")));
                }
            }
            Ok(true)
        }
        "term" => {
            let (f, v) = body
                .as_object()
                .and_then(|m| m.iter().next())
                .ok_or_else(|| bad("empty term".into()))?;
            let v = v.get("value").unwrap_or(v);
            Ok(field(id, doc, f).is_some_and(|x| eq_values(&x, v)))
        }
        "range" => {
            let (f, r) = body
                .as_object()
                .and_then(|m| m.iter().next())
                .ok_or_else(|| bad("empty range".into()))?;
            let Some(x) = field(id, doc, f) else {
                return Ok(false);
            };
            for (op, bound) in r.as_object().into_iter().flatten() {
                let c = cmp_values(&x, bound);
                let ok = match op.as_str() {
                    "gte" => c != Ordering::Less,
                    "gt" => c == Ordering::Greater,
                    "lte" => c != Ordering::Greater,
                    "lt" => c == Ordering::Less,
                    other => return Err(bad(format!("range op {other}"))),
                };
                if !ok {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        other => Err(bad(format!("query `{other}` not supported"))),
    }
}

fn sort_keys(sort: &Value) -> Result<Vec<(String, bool)>, StoreError> {
    let mut out = Vec::new();
    for s in sort
        .as_array()
        .ok_or_else(|| bad("sort not an array".into()))?
    {
        let (f, o) = s
            .as_object()
            .and_then(|m| m.iter().next())
            .ok_or_else(|| bad(format!("bad sort {s}")))?;
        let order = o.get("order").unwrap_or(o).as_str().unwrap_or("asc");
        out.push((f.clone(), order == "desc"));
    }
    Ok(out)
}

fn cmp_sort(keys: &[(String, bool)], a: &[Value], b: &[Value]) -> Ordering {
    for (i, (_, desc)) in keys.iter().enumerate() {
        let c = match (a[i].is_null(), b[i].is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => return Ordering::Greater, // missing last
            (false, true) => return Ordering::Less,
            _ => cmp_values(&a[i], &b[i]),
        };
        let c = if *desc { c.reverse() } else { c };
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

impl StoreDouble {
    fn insert(&self, index: &str, id: &str, doc: Value) {
        let mut docs = self.docs.lock().unwrap();
        docs.retain(|(i, d, _)| !(i == index && d == id));
        docs.push((index.to_string(), id.to_string(), doc));
    }
}

impl Store for StoreDouble {
    fn describe(&self) -> String {
        "store-double".into()
    }
    fn search(&self, index: &str, body: &Value) -> Result<Value, StoreError> {
        for k in body.as_object().into_iter().flat_map(|m| m.keys()) {
            if ![
                "query",
                "sort",
                "size",
                "from",
                "search_after",
                "track_total_hits",
            ]
            .contains(&k.as_str())
            {
                return Err(bad(format!("body key `{k}` not supported")));
            }
        }
        let docs = self.docs.lock().unwrap();
        let keys = sort_keys(body.get("sort").unwrap_or(&json!([])))?;
        let mut hits = Vec::new();
        for (i, id, doc) in docs.iter() {
            if !index_matches(index, i) {
                continue;
            }
            let q = body.get("query").cloned().unwrap_or(json!({"bool": {}}));
            if matches(&q, id, doc)? {
                let sort: Vec<Value> = keys
                    .iter()
                    .map(|(f, _)| field(id, doc, f).unwrap_or(Value::Null))
                    .collect();
                hits.push((id.clone(), doc.clone(), sort));
            }
        }
        hits.sort_by(|a, b| cmp_sort(&keys, &a.2, &b.2));
        let total = hits.len();
        if let Some(after) = body.get("search_after").and_then(Value::as_array) {
            hits.retain(|h| cmp_sort(&keys, &h.2, after) == Ordering::Greater);
        }
        let from = body.get("from").and_then(Value::as_u64).unwrap_or(0) as usize;
        let size = body.get("size").and_then(Value::as_u64).unwrap_or(10) as usize;
        let hits: Vec<Value> = hits
            .into_iter()
            .skip(from)
            .take(size)
            .map(|(id, src, sort)| json!({ "_id": id, "_source": src, "sort": sort }))
            .collect();
        let mut resp = json!({ "hits": { "hits": hits } });
        if body.get("track_total_hits") == Some(&json!(true)) {
            resp["hits"]["total"] = json!({ "value": total, "relation": "eq" });
        }
        Ok(resp)
    }
    fn bulk(&self, index: &str, docs: Vec<BulkDoc>) -> Result<BulkResponse, StoreError> {
        let n = docs.len();
        for (k, d) in docs.into_iter().enumerate() {
            let id = d.id.unwrap_or_else(|| format!("auto-{k}"));
            self.insert(index, &id, d.source);
        }
        Ok(BulkResponse {
            failed: vec![],
            stored: n,
        })
    }
    fn get(&self, index: &str, id: &str) -> Result<Option<VersionedDoc>, StoreError> {
        let docs = self.docs.lock().unwrap();
        Ok(docs
            .iter()
            .find(|(i, d, _)| i == index && d == id)
            .map(|(_, _, s)| VersionedDoc {
                source: s.clone(),
                seq_no: 0,
                primary_term: 1,
            }))
    }
    fn put(
        &self,
        index: &str,
        id: &str,
        doc: &Value,
        _mode: PutMode,
    ) -> Result<VersionedDoc, StoreError> {
        self.insert(index, id, doc.clone());
        Ok(VersionedDoc {
            source: doc.clone(),
            seq_no: 0,
            primary_term: 1,
        })
    }
    fn delete_by_query(&self, _index: &str, _query: &Value) -> Result<u64, StoreError> {
        Err(bad("delete_by_query not supported".into()))
    }
    fn refresh(&self, _index: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A store that is down.
struct DownStore;

impl Store for DownStore {
    fn describe(&self) -> String {
        "down".into()
    }
    fn search(&self, _: &str, _: &Value) -> Result<Value, StoreError> {
        Err(StoreError::Unavailable(
            "connection refused to 10.1.2.3:9200 (secret detail)".into(),
        ))
    }
    fn bulk(&self, _: &str, _: Vec<BulkDoc>) -> Result<BulkResponse, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    fn get(&self, _: &str, _: &str) -> Result<Option<VersionedDoc>, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    fn put(&self, _: &str, _: &str, _: &Value, _: PutMode) -> Result<VersionedDoc, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    fn delete_by_query(&self, _: &str, _: &Value) -> Result<u64, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    fn refresh(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture: one job split by country, one day of 15-minute buckets, written with the real
// document builders of `results`.
// ---------------------------------------------------------------------------------------------

const T0: i64 = 1_431_907_200_000; // 2015-05-18T00:00:00Z
const SPAN_MS: i64 = 900_000;
const SPAN_S: u64 = 900;
const BUCKETS: i64 = 96;
const INDEX: &str = "tidewatch-results";
const COUNTRIES: [&str; 2] = ["DE", "FR"];

fn job(id: &str) -> Job {
    Job {
        job_id: id.into(),
        description: format!("requests per country ({id})"),
        source_file: format!("jobs/{id}.yml").into(),
        bucket_span: Duration::from_secs(SPAN_S),
        detectors: vec![Detector {
            index: 0,
            function: Function::Count(Side::High),
            field_name: None,
            by_field_name: None,
            over_field_name: None,
            partition_field_name: Some("country".into()),
            description: "high_count partitionfield=country".into(),
            use_null: false,
            rules: Vec::new(),
        }],
        influencers: vec!["country".into(), "client.ip".into()],
        time_field: "@timestamp".into(),
        time_format: "epoch_ms".into(),
        indices: vec!["nginx-logs".into()],
        scroll_size: 1000,
        chunking_time_span: None,
        chunking_off: false,
        delayed_check_enabled: true,
        delayed_check_window: None,
        query: json!({"match_all": {}}),
        query_delay: Duration::from_secs(60),
        frequency: None,
        schedule: None,
        schedule_time_zone: None,
        model_plot: true,
        model_memory_limit: 1 << 30,
        results_index: INDEX.into(),
        custom_settings: None,
        model: ModelOptions::default(),
        groups: Vec::new(),
        calendars: Vec::new(),
        field_sources: Default::default(),
    }
}

/// Records: (bucket number, country, score).
const RECORDS: [(i64, &str, f64); 6] = [
    (10, "DE", 12.0),
    (40, "DE", 91.5),
    (41, "DE", 60.0),
    (40, "FR", 30.0),
    (70, "FR", 80.0),
    (95, "FR", 5.0),
];

fn fixture() -> Arc<StoreDouble> {
    let store = StoreDouble::default();
    let j = "web";
    for b in 0..BUCKETS {
        let t = T0 + b * SPAN_MS;
        let recs: Vec<&(i64, &str, f64)> = RECORDS.iter().filter(|r| r.0 == b).collect();
        let score = recs.iter().map(|r| r.2).fold(0.0, f64::max);
        let bucket = BucketResult {
            timestamp: t,
            anomaly_score: score,
            initial_anomaly_score: score,
            event_count: 100,
            probability: 0.5,
            record_count: recs.len(),
        };
        store.insert(
            INDEX,
            &crate::results::bucket_id(j, t, SPAN_S),
            bucket_doc(j, &bucket, SPAN_S),
        );
        for c in COUNTRIES {
            let m = ModelPlotPoint {
                series: SeriesPoint {
                    timestamp: t,
                    detector_index: 0,
                    function: "high_count".into(),
                    field_name: None,
                    partition: Some(("country".into(), c.into())),
                    by: None,
                },
                actual: Some(50.0),
                median: 50.0,
                lower: 40.0,
                upper: 60.0,
            };
            let (id, doc) = model_plot_doc(j, &m, SPAN_S);
            store.insert(INDEX, &id, doc);
        }
        for (_, c, s) in recs {
            let r = RecordResult {
                timestamp: t,
                detector_index: 0,
                function: "high_count".into(),
                function_description: "count".into(),
                field_name: None,
                partition: Some(("country".into(), c.to_string())),
                by: None,
                over: None,
                probability: 1e-6,
                initial_record_score: *s,
                record_score: *s,
                actual: 500.0,
                typical: 50.0,
                lower: 40.0,
                upper: 60.0,
                multi_bucket_impact: 0.0,
                explanation: format!("spike: 10× higher than typical in {c}"),
                influencers: vec![("country".into(), vec![c.to_string()])],
                influence: Vec::new(),
            };
            store.insert(
                INDEX,
                &crate::results::record_id(j, &r, SPAN_S),
                record_doc(j, &r, SPAN_S),
            );
            let i = InfluencerResult {
                timestamp: t,
                field: "country".into(),
                value: c.to_string(),
                influencer_score: *s,
                initial_influencer_score: *s,
                probability: 1e-6,
            };
            let (id, doc) = influencer_doc(j, &i, SPAN_S);
            store.insert(INDEX, &id, doc);
        }
    }
    // Two forecast points for DE.
    for k in 0..2 {
        let t = T0 + (BUCKETS + k) * SPAN_MS;
        store.insert(
            INDEX,
            &format!("web_model_forecast_f1_{t}"),
            json!({
                "job_id": j, "result_type": "model_forecast", "forecast_id": "f1",
                "forecast_create_timestamp": T0 + BUCKETS * SPAN_MS, "timestamp": t,
                "detector_index": 0, "partition_field_name": "country", "partition_field_value": "DE",
                "forecast_prediction": 50.0, "forecast_lower": 35.0, "forecast_upper": 65.0,
            }),
        );
    }
    // Another job's results in the same index must never leak into "web".
    let other = BucketResult {
        timestamp: T0,
        anomaly_score: 99.0,
        initial_anomaly_score: 99.0,
        event_count: 1,
        probability: 0.0,
        record_count: 0,
    };
    store.insert(INDEX, "other-bucket", bucket_doc("other", &other, SPAN_S));
    store.insert(
        crate::runner::STATE_INDEX,
        "web_checkpoint",
        json!({ "next_bucket": T0 + BUCKETS * SPAN_MS, "slot": 0, "parts": 1, "fingerprint": "x" }),
    );
    Arc::new(store)
}

fn state() -> AppState {
    AppState::new(fixture(), vec![job("web"), job("empty")])
}

async fn call(state: AppState, uri: &str, token: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app(state)
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, body.to_vec())
}

async fn get_json(state: AppState, uri: &str) -> (StatusCode, Value) {
    let (status, body) = call(state, uri, None).await;
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, v)
}

async fn ok_json(state: AppState, uri: &str) -> Value {
    let (status, v) = get_json(state, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {v}");
    v
}

/// Asserts a 400 naming `param`.
async fn bad_param(state: AppState, uri: &str, param: &str) {
    let (status, v) = get_json(state, uri).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {v}");
    assert_eq!(v["error"]["type"], "illegal_argument_exception", "{v}");
    let reason = v["error"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("parameter `{param}`")),
        "{uri}: {reason}"
    );
}

fn scores(v: &Value, field: &str) -> Vec<f64> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d[field].as_f64().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn health_is_open_and_says_ok() {
    let v = ok_json(state(), "/health").await;
    assert_eq!(v["status"], "ok");
    assert_eq!(v["jobs"], 2);
    assert_eq!(v["store"], "store-double");
}

#[tokio::test]
async fn health_off_loopback_says_only_ok() {
    for (peer, detailed) in [("10.1.2.3:5555", false), ("127.0.0.1:5555", true)] {
        let mut req = Request::builder()
            .uri("/health")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
        let resp = app(state()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        if detailed {
            assert_eq!(v["store"], "store-double", "{v}");
        } else {
            assert_eq!(v, json!({ "status": "ok" }), "{peer}");
        }
    }
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_follow_the_runner() {
    let st = state();
    let m = st.metrics.job("web");
    m.add_buckets(96);
    m.set_lag_seconds(42.0);
    m.set_partitions(2);
    st.metrics.store_retry();
    let resp = app(st.clone())
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let (status, body) = call(st.clone(), "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    let samples = parse_prometheus(&text).unwrap();
    let value = |name: &str| {
        samples
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.value)
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
    };
    assert_eq!(value("tidewatch_buckets_processed_total"), 96.0);
    assert_eq!(value("tidewatch_lag_seconds"), 42.0);
    assert_eq!(value("tidewatch_partitions"), 2.0);
    assert_eq!(value("tidewatch_store_errors_total"), 0.0);
    assert_eq!(value("tidewatch_store_retries_total"), 1.0);
}

#[tokio::test]
async fn job_list_has_definitions_latest_bucket_and_recent_maxima() {
    let st = state();
    st.metrics.job("web").set_running(true);
    let v = ok_json(st, "/api/jobs").await;
    assert_eq!(v["count"], 2);
    let web = &v["jobs"][0];
    assert_eq!(web["job_id"], "web");
    assert_eq!(web["bucket_span"], "15m");
    assert_eq!(web["detectors"][0]["function"], "high_count");
    assert_eq!(web["detectors"][0]["partition_field_name"], "country");
    assert_eq!(web["state"], "opened");
    let last = T0 + (BUCKETS - 1) * SPAN_MS;
    assert_eq!(web["latest_bucket_timestamp"], last);
    assert_eq!(web["latest_anomaly_score"], 5.0);
    // The whole day is within 24 hours of the last bucket: the maximum is 91.5 (not the other
    // job's 99).
    assert_eq!(web["recent"]["max_record_score"], 91.5);
    assert_eq!(web["recent"]["max_anomaly_score"], 91.5);
    assert_eq!(web["recent"]["max_record_timestamp"], T0 + 40 * SPAN_MS);
    let empty = &v["jobs"][1];
    assert_eq!(empty["state"], "closed");
    assert!(empty["latest_bucket_timestamp"].is_null());
    assert!(empty["recent"].is_null());
}

#[tokio::test]
async fn one_job_has_datafeed_and_checkpoint_and_unknown_is_404() {
    let v = ok_json(state(), "/api/jobs/web").await;
    assert_eq!(v["datafeed"]["indices"], json!(["nginx-logs"]));
    assert_eq!(v["datafeed"]["query_delay"], "1m");
    assert_eq!(v["checkpoint"]["next_bucket"], T0 + BUCKETS * SPAN_MS);
    assert_eq!(
        v["checkpoint"]["next_bucket_string"],
        "2015-05-19T00:00:00.000Z"
    );

    for uri in ["/api/jobs/nope", "/api/jobs/nope/results/records"] {
        let (status, v) = get_json(state(), uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(v["error"]["type"], "resource_not_found_exception");
        assert_eq!(v["error"]["reason"], "no job `nope`");
    }
    let (status, v) = get_json(state(), "/api/nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("/api/nothing/here"));
}

#[tokio::test]
async fn each_result_kind_returns_its_documents_of_its_job_only() {
    let base = "/api/jobs/web/results";
    let v = ok_json(state(), &format!("{base}/buckets?size=10000")).await;
    assert_eq!(v["result_type"], "bucket");
    assert_eq!(v["total"], BUCKETS);
    assert_eq!(v["count"], BUCKETS);
    assert!(v["next"].is_null());
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["job_id"] == "web"));
    let v = ok_json(state(), &format!("{base}/records")).await;
    assert_eq!(v["total"], RECORDS.len());
    let times: Vec<i64> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["timestamp"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "time order: {times:?}"
    );
    assert_eq!(v["results"][0]["actual"], json!([500.0]));
    assert_eq!(
        v["results"][0]["influencers"][0]["influencer_field_name"],
        "country"
    );
    let v = ok_json(state(), &format!("{base}/influencers")).await;
    assert_eq!(v["total"], RECORDS.len());
    let v = ok_json(state(), &format!("{base}/model_plot?size=1")).await;
    assert_eq!(v["total"], BUCKETS * 2);
    assert_eq!(v["results"][0]["model_upper"], 60.0);
    let v = ok_json(state(), &format!("{base}/forecasts")).await;
    assert_eq!(v["total"], 2);
    assert_eq!(v["results"][0]["forecast_upper"], 65.0);
    bad_param(state(), &format!("{base}/anomalies"), "kind").await;
}

#[tokio::test]
async fn filters_by_time_score_partition_and_detector() {
    let base = "/api/jobs/web/results";
    // [bucket 40, bucket 70) in RFC 3339 and in epoch ms give the same answer.
    let from = T0 + 40 * SPAN_MS;
    let to = T0 + 70 * SPAN_MS;
    let a = ok_json(state(), &format!("{base}/records?from={from}&to={to}")).await;
    let b = ok_json(
        state(),
        &format!("{base}/records?from=2015-05-18T10:00:00Z&to=2015-05-18T17:30:00%2B00:00"),
    )
    .await;
    assert_eq!(a["results"], b["results"]);
    let mut s = scores(&a, "record_score");
    s.sort_by(f64::total_cmp);
    assert_eq!(s, vec![30.0, 60.0, 91.5]);

    let v = ok_json(state(), &format!("{base}/records?min_score=50&sort=score")).await;
    assert_eq!(scores(&v, "record_score"), vec![91.5, 80.0, 60.0]);
    let v = ok_json(state(), &format!("{base}/buckets?min_score=75")).await;
    assert_eq!(scores(&v, "anomaly_score"), vec![91.5, 80.0]);

    let v = ok_json(
        state(),
        &format!("{base}/records?partition=country=FR&sort=score"),
    )
    .await;
    assert_eq!(scores(&v, "record_score"), vec![80.0, 30.0, 5.0]);
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["partition_field_value"] == "FR"));
    let v = ok_json(
        state(),
        &format!("{base}/model_plot?partition=country=DE&size=1000"),
    )
    .await;
    assert_eq!(v["count"], BUCKETS);
    let v = ok_json(state(), &format!("{base}/influencers?partition=country=DE")).await;
    assert_eq!(v["count"], 3);
    let v = ok_json(state(), &format!("{base}/records?detector=0")).await;
    assert_eq!(v["count"], RECORDS.len());

    bad_param(
        state(),
        &format!("{base}/records?partition=host=a"),
        "partition",
    )
    .await;
    bad_param(
        state(),
        &format!("{base}/influencers?partition=host=a"),
        "partition",
    )
    .await;
    bad_param(state(), &format!("{base}/records?detector=1"), "detector").await;
    bad_param(state(), &format!("{base}/buckets?detector=0"), "detector").await;
    bad_param(
        state(),
        &format!("{base}/records?from=last+tuesday"),
        "from",
    )
    .await;
    bad_param(
        state(),
        &format!("{base}/model_plot?min_score=10"),
        "min_score",
    )
    .await;
    bad_param(state(), &format!("{base}/model_plot?sort=score"), "sort").await;
    bad_param(state(), &format!("{base}/records?size=20000"), "size").await;
    bad_param(state(), &format!("{base}/records?limit=5"), "limit").await;
}

#[tokio::test]
async fn paging_with_offsets_and_tokens_reads_every_document_once() {
    let base = "/api/jobs/web/results/model_plot";
    let all = ok_json(state(), &format!("{base}?size=10000")).await;
    let all = all["results"].as_array().unwrap().clone();
    assert_eq!(all.len() as i64, BUCKETS * 2);

    // Token paging.
    let mut seen = Vec::new();
    let mut uri = format!("{base}?size=50");
    let mut pages = 0;
    loop {
        let v = ok_json(state(), &uri).await;
        pages += 1;
        seen.extend(v["results"].as_array().unwrap().iter().cloned());
        match v["next"].as_str() {
            Some(t) => uri = format!("{base}?size=50&search_after={t}"),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen, all);
    assert_eq!(pages, 4); // 50 + 50 + 50 + 42

    // Offset paging.
    let mut seen = Vec::new();
    for off in (0..all.len()).step_by(70) {
        let v = ok_json(state(), &format!("{base}?size=70&from_offset={off}")).await;
        seen.extend(v["results"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(seen, all);

    // Score-ordered token paging over records, one per page.
    let mut uri = "/api/jobs/web/results/records?sort=score&size=1".to_string();
    let mut got = Vec::new();
    loop {
        let v = ok_json(state(), &uri).await;
        got.extend(scores(&v, "record_score"));
        match v["next"].as_str() {
            Some(t) => {
                uri = format!("/api/jobs/web/results/records?sort=score&size=1&search_after={t}")
            }
            None => break,
        }
    }
    assert_eq!(got, vec![91.5, 80.0, 60.0, 30.0, 12.0, 5.0]);

    bad_param(
        state(),
        &format!("{base}?from_offset=10&search_after=WzFd"),
        "search_after",
    )
    .await;
    bad_param(
        state(),
        &format!("{base}?search_after=bm9wZQ"),
        "search_after",
    )
    .await;
}

#[tokio::test]
async fn token_guards_api_routes_but_not_health_or_metrics() {
    let st = state().with_token(Some("s3cret".into()));
    for uri in [
        "/api/jobs",
        "/api/jobs/web",
        "/api/jobs/web/results/records",
        "/api/openapi.json",
        "/api/unknown",
    ] {
        let (status, body) = call(st.clone(), uri, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["type"], "security_exception");
        let (status, _) = call(st.clone(), uri, Some("wrong")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let (status, _) = call(st.clone(), "/api/jobs", Some("s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    // The scheme is case-insensitive (RFC 9110); a token with a different suffix is refused.
    for (header, want) in [
        ("bearer s3cret", StatusCode::OK),
        ("Basic s3cret", StatusCode::UNAUTHORIZED),
        ("Bearer s3cret2", StatusCode::UNAUTHORIZED),
        ("Bearer s3cre", StatusCode::UNAUTHORIZED),
        ("s3cret", StatusCode::UNAUTHORIZED),
    ] {
        let req = Request::builder()
            .uri("/api/jobs")
            .header("authorization", header)
            .body(Body::empty())
            .unwrap();
        let resp = app(st.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), want, "{header}");
    }
    for uri in ["/health", "/metrics", "/"] {
        let (status, _) = call(st.clone(), uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
    }
    // Without a token, /api is open.
    let (status, _) = call(state(), "/api/jobs", None).await;
    assert_eq!(status, StatusCode::OK);
    // An empty token is no token.
    assert!(state().with_token(Some("  ".into())).token.is_none());
}

#[test]
fn binding_beyond_loopback_needs_a_token() {
    let public: SocketAddr = "0.0.0.0:9280".parse().unwrap();
    let v6: SocketAddr = "[::]:9280".parse().unwrap();
    let local: SocketAddr = "127.0.0.1:9280".parse().unwrap();
    let local6: SocketAddr = "[::1]:9280".parse().unwrap();
    assert!(check_bind(local, None).is_ok());
    assert!(check_bind(local6, None).is_ok());
    let err = check_bind(public, None).unwrap_err().to_string();
    assert!(err.contains("--token"), "{err}");
    assert!(check_bind(v6, Some("")).is_err());
    assert!(check_bind(public, Some("t")).is_ok());
}

#[tokio::test]
async fn serve_refuses_a_public_address_without_token_before_binding() {
    let st = state();
    let err = serve("0.0.0.0:0".parse().unwrap(), st).await.unwrap_err();
    assert!(err.to_string().contains("non-loopback"), "{err}");
}

#[tokio::test]
async fn serve_answers_on_loopback_and_stops_on_shutdown() {
    // Find a free port, then serve on it.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with_shutdown(addr, state(), async {
        let _ = rx.await;
    }));
    let resp = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = None;
        for _ in 0..200 {
            match std::net::TcpStream::connect(addr) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        let mut stream = stream.expect("server did not start");
        stream
            .write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        stream.read_to_string(&mut resp).unwrap();
        resp
    })
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"status\":\"ok\""), "{resp}");
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn store_failure_is_502_with_a_plain_reason_and_is_counted() {
    let st = AppState::new(Arc::new(DownStore), vec![job("web")]);
    for uri in [
        "/api/jobs",
        "/api/jobs/web",
        "/api/jobs/web/results/buckets",
    ] {
        let (status, v) = get_json(st.clone(), uri).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{uri}");
        let reason = v["error"]["reason"].as_str().unwrap();
        assert!(!reason.contains("10.1.2.3"), "leaks internals: {reason}");
        assert_eq!(v["error"]["type"], "store_exception");
    }
    assert_eq!(st.metrics.store_errors(), 3);
}

#[tokio::test]
async fn openapi_document_covers_every_route_and_kind() {
    let v = ok_json(state(), "/api/openapi.json").await;
    assert_eq!(v["openapi"], "3.1.0");
    let paths: Vec<&str> = v["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = ROUTES.to_vec();
    want.extend(POST_ROUTES);
    want.sort();
    let mut have = paths.clone();
    have.sort();
    assert_eq!(have, want);
    // Every route really is served (no 404 from the router for a documented path).
    for route in ROUTES {
        let uri = route.replace("{id}", "web").replace("{kind}", "buckets");
        let (status, _) = call(state(), &uri, None).await;
        // `/api/similar` needs parameters: its own handler answers 400 naming one.
        let want = match *route {
            "/api/similar" => StatusCode::BAD_REQUEST,
            _ => StatusCode::OK,
        };
        assert_eq!(status, want, "{uri}");
    }
    let kinds = v
        .pointer("/paths/~1api~1jobs~1{id}~1results~1{kind}/get/parameters/1/schema/enum")
        .unwrap();
    assert_eq!(kinds, &json!(results::Kind::PATHS));
    // Every documented query parameter is one the handler accepts, and vice versa.
    let params: Vec<&str> = v
        .pointer("/paths/~1api~1jobs~1{id}~1results~1{kind}/get/parameters")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in &params {
        let uri = format!("/api/jobs/web/results/records?{p}=%00bad");
        let (_, v) = get_json(state(), &uri).await;
        let reason = v["error"]["reason"].as_str().unwrap_or("");
        assert!(!reason.contains("unknown parameter"), "{p}: {reason}");
    }
    assert_eq!(params.len(), 9);
}

#[tokio::test]
async fn web_ui_is_served_and_needs_nothing_from_the_network() {
    let (status, body) = call(state(), "/", None).await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("/ui/app.js") && html.contains("/ui/app.css"));
    for asset in [
        "/ui/app.js",
        "/ui/app.css",
        "/ui/vega/swimlane.vl.json",
        "/ui/vega/single_metric.vl.json",
        "/kibana/tidewatch.ndjson",
    ] {
        let (status, body) = call(state(), asset, None).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(!body.is_empty(), "{asset}");
    }
    // No CDN or remote asset: the only URLs are the SVG namespace and the Vega-Lite schema id.
    for (name, text) in [
        ("index.html", ui::INDEX_HTML),
        ("app.js", ui::APP_JS),
        ("app.css", ui::APP_CSS),
    ] {
        for (i, _) in text.match_indices("http") {
            let rest = &text[i..];
            assert!(
                rest.starts_with("http://www.w3.org/2000/svg"),
                "{name} refers to a remote URL: {}",
                &rest[..rest.len().min(60)]
            );
        }
    }
    // The UI reads the severity scale from the shared swimlane spec.
    assert!(ui::APP_JS.contains("/ui/vega/swimlane.vl.json"));
    assert!(ui::APP_JS.contains("encoding.color.scale"));
}

/// Serves the fixture for a look in a browser (`cargo test --lib api::tests::ui_preview --
/// --ignored --nocapture`), on 127.0.0.1:9281 for TIDEWATCH_UI_PREVIEW_SECS seconds (60).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "manual preview of the web UI"]
async fn ui_preview() {
    let secs: u64 = std::env::var("TIDEWATCH_UI_PREVIEW_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let addr: SocketAddr = "127.0.0.1:9281".parse().unwrap();
    println!("web UI on http://{addr}/ for {secs} s");
    serve_with_shutdown(addr, state(), async move {
        let wait = std::time::Duration::from_secs(secs);
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(wait)).await;
    })
    .await
    .unwrap();
}
