//! The cluster test cases, run once per engine: each test binary (`tests/cluster_*.rs`)
//! defines `KIND` and includes this module through `support`.
//!
//! Expected values are computed from the generated documents in Rust, never copied from an
//! engine's answer.

use crate::support::engine::{engine, http, launch, Engine, Kind};
use crate::support::proxy::{make_pki, Fault, Proxy};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tidewatch::store::{
    BulkDoc, Distribution, ElasticOptions, ElasticStore, IfVersion, PutMode, RetryPolicy, Store,
    StoreError, TemplateOutcome,
};

fn the_engine() -> &'static Engine {
    engine(super::KIND)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
    }
}

fn options() -> ElasticOptions {
    ElasticOptions {
        retry: fast_retry(),
        ..Default::default()
    }
}

fn connect(url: &str) -> ElasticStore {
    ElasticStore::connect(url, options()).unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// A fresh index name per call, so tests sharing the engine never collide.
pub(super) fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn create_index(url: &str, index: &str, properties: Value) {
    let (status, body) = http(
        "PUT",
        &format!("{url}/{index}"),
        Some(&json!({
            "settings": { "number_of_shards": 1, "number_of_replicas": 0 },
            "mappings": { "properties": properties }
        })),
    );
    assert_eq!(status, 200, "create {index}: {body}");
}

const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const HOUR: i64 = 3_600_000;
const HOSTS: [&str; 3] = ["web-1", "web-2", "web-3"];
const STATUSES: [i64; 5] = [200, 200, 404, 500, 200];

#[derive(Debug, Clone)]
struct Row {
    t: i64,
    host: &'static str,
    status: i64,
    bytes: i64,
    client: String,
}

fn rows() -> Vec<Row> {
    (0..120i64)
        .map(|i| Row {
            t: T0 + i * 10 * 60_000,
            host: HOSTS[(i % 3) as usize],
            status: STATUSES[(i % 5) as usize],
            bytes: (i * 37) % 1000,
            client: format!("10.0.0.{}", i % 7),
        })
        .collect()
}

fn load_rows(store: &ElasticStore, url: &str) -> String {
    let index = unique("tw-logs");
    create_index(
        url,
        &index,
        json!({
            "@timestamp": {"type": "date"}, "host": {"type": "keyword"}, "status": {"type": "long"},
            "bytes": {"type": "long"}, "client": {"type": "keyword"}
        }),
    );
    let docs = rows()
        .iter()
        .enumerate()
        .map(|(i, r)| BulkDoc {
            id: Some(format!("row-{i}")),
            source: json!({"@timestamp": r.t, "host": r.host, "status": r.status, "bytes": r.bytes, "client": r.client}),
        })
        .collect();
    let response = store.bulk(&index, docs).unwrap();
    assert!(response.failed.is_empty(), "{:?}", response.failed);
    assert_eq!(response.stored, 120);
    store.refresh(&index).unwrap();
    index
}

#[test]
fn detects_engine_and_version() {
    skip_if_absent!();
    let engine = the_engine();
    let store = connect(&engine.url);
    let info = store.engine().clone();
    if engine.owned {
        match super::KIND {
            Kind::OpenSearch => {
                assert_eq!(info.distribution, Distribution::OpenSearch);
                assert!(info.version.starts_with("2.19."), "{info}");
            }
            Kind::OpenSearch3 => {
                assert_eq!(info.distribution, Distribution::OpenSearch);
                assert!(info.version.starts_with("3."), "{info}");
            }
            Kind::Elasticsearch => {
                assert_eq!(info.distribution, Distribution::Elasticsearch);
                assert!(info.version.starts_with("7.17."), "{info}");
            }
        }
        assert!(
            engine.version.ends_with(&info.version),
            "launcher said {}, GET / said {info}",
            engine.version
        );
    }
    assert!(store.describe().contains(&info.version));
    assert!(store.describe().contains(&engine.url));
}

#[test]
fn bulk_then_search_with_bool_range_term_query() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = connect(url);
    let index = load_rows(&store, url);
    let (from, to) = (T0 + 2 * HOUR, T0 + 18 * HOUR);
    let body = json!({
        "size": 1000,
        "track_total_hits": true,
        "sort": [{"@timestamp": "asc"}],
        "query": {"bool": {"filter": [
            {"range": {"@timestamp": {"gte": from, "lt": to, "format": "epoch_millis"}}},
            {"term": {"status": 200}}
        ], "must_not": [{"term": {"host": "web-3"}}]}}
    });
    let response = store.search(&index, &body).unwrap();
    let expected: Vec<String> = rows()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.t >= from && r.t < to && r.status == 200 && r.host != "web-3")
        .map(|(i, _)| format!("row-{i}"))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        response["hits"]["total"]["value"],
        expected.len(),
        "{response}"
    );
    let ids: Vec<String> = response["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, expected);
}

#[test]
fn date_histogram_fills_empty_buckets_within_extended_bounds() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = connect(url);
    let index = load_rows(&store, url);
    let (min, max) = (T0 - 2 * HOUR, T0 + 23 * HOUR);
    let body = json!({
        "size": 0,
        "aggs": {"per_hour": {
            "date_histogram": {"field": "@timestamp", "fixed_interval": "1h", "min_doc_count": 0,
                               "extended_bounds": {"min": min, "max": max}},
            "aggs": {"bytes": {"sum": {"field": "bytes"}}}
        }}
    });
    let response = store.search(&index, &body).unwrap();
    let buckets = response["aggregations"]["per_hour"]["buckets"]
        .as_array()
        .unwrap();
    let expected_keys: Vec<i64> = (0..26).map(|h| min + h * HOUR).collect();
    let keys: Vec<i64> = buckets.iter().map(|b| b["key"].as_i64().unwrap()).collect();
    assert_eq!(keys, expected_keys);
    for b in buckets {
        let key = b["key"].as_i64().unwrap();
        let in_bucket: Vec<Row> = rows()
            .into_iter()
            .filter(|r| r.t >= key && r.t < key + HOUR)
            .collect();
        assert_eq!(
            b["doc_count"].as_u64().unwrap() as usize,
            in_bucket.len(),
            "bucket {key}"
        );
        let sum: i64 = in_bucket.iter().map(|r| r.bytes).sum();
        assert_eq!(
            b["bytes"]["value"].as_f64().unwrap(),
            sum as f64,
            "bucket {key}"
        );
        assert!(b["key_as_string"].is_string());
    }
    assert_eq!(buckets[0]["doc_count"], 0);
    assert_eq!(buckets[25]["doc_count"], 0);
}

#[test]
fn terms_cardinality_and_metric_aggs() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = connect(url);
    let index = load_rows(&store, url);
    let body = json!({
        "size": 0,
        "aggs": {
            "hosts": {"terms": {"field": "host", "size": 10, "order": {"_key": "asc"}},
                      "aggs": {"avg_bytes": {"avg": {"field": "bytes"}}}},
            "clients": {"cardinality": {"field": "client", "precision_threshold": 40000}},
            "min_bytes": {"min": {"field": "bytes"}},
            "max_bytes": {"max": {"field": "bytes"}},
            "avg_bytes": {"avg": {"field": "bytes"}},
            "sum_bytes": {"sum": {"field": "bytes"}}
        }
    });
    let aggs = store.search(&index, &body).unwrap()["aggregations"].clone();
    let all = rows();
    for (b, host) in aggs["hosts"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .zip(HOSTS)
    {
        let of_host: Vec<&Row> = all.iter().filter(|r| r.host == host).collect();
        assert_eq!(b["key"], host);
        assert_eq!(b["doc_count"].as_u64().unwrap() as usize, of_host.len());
        let avg = of_host.iter().map(|r| r.bytes as f64).sum::<f64>() / of_host.len() as f64;
        assert!((b["avg_bytes"]["value"].as_f64().unwrap() - avg).abs() < 1e-9);
    }
    let clients: BTreeSet<&str> = all.iter().map(|r| r.client.as_str()).collect();
    assert_eq!(
        aggs["clients"]["value"].as_u64().unwrap() as usize,
        clients.len()
    );
    let bytes: Vec<i64> = all.iter().map(|r| r.bytes).collect();
    assert_eq!(
        aggs["min_bytes"]["value"].as_f64().unwrap(),
        *bytes.iter().min().unwrap() as f64
    );
    assert_eq!(
        aggs["max_bytes"]["value"].as_f64().unwrap(),
        *bytes.iter().max().unwrap() as f64
    );
    assert_eq!(
        aggs["sum_bytes"]["value"].as_f64().unwrap(),
        bytes.iter().sum::<i64>() as f64
    );
    let avg = bytes.iter().sum::<i64>() as f64 / bytes.len() as f64;
    assert!((aggs["avg_bytes"]["value"].as_f64().unwrap() - avg).abs() < 1e-9);
}

#[test]
fn composite_pages_with_after_key() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = connect(url);
    let index = load_rows(&store, url);
    let mut after: Option<Value> = None;
    let mut seen: BTreeMap<(String, i64), u64> = BTreeMap::new();
    let mut pages = 0;
    loop {
        let mut composite = json!({"size": 2, "sources": [
            {"host": {"terms": {"field": "host"}}},
            {"status": {"terms": {"field": "status"}}}
        ]});
        if let Some(a) = &after {
            composite["after"] = a.clone();
        }
        let response = store
            .search(
                &index,
                &json!({"size": 0, "aggs": {"parts": {"composite": composite}}}),
            )
            .unwrap();
        let agg = &response["aggregations"]["parts"];
        let buckets = agg["buckets"].as_array().unwrap();
        if buckets.is_empty() {
            break;
        }
        pages += 1;
        for b in buckets {
            let key = (
                b["key"]["host"].as_str().unwrap().to_string(),
                b["key"]["status"].as_i64().unwrap(),
            );
            assert!(
                seen.insert(key, b["doc_count"].as_u64().unwrap()).is_none(),
                "a key came twice"
            );
        }
        after = Some(agg["after_key"].clone());
        assert!(pages < 100, "paging does not end");
    }
    let mut expected: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for r in rows() {
        *expected.entry((r.host.to_string(), r.status)).or_default() += 1;
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, expected.len().div_ceil(2));
}

#[test]
fn missing_index_searches_as_empty_and_bad_queries_say_why() {
    skip_if_absent!();
    let store = connect(&the_engine().url);
    let response = store
        .search("tw-does-not-exist", &json!({"query": {"match_all": {}}}))
        .unwrap();
    assert_eq!(response["hits"]["total"]["value"], 0);
    let index = load_rows(&store, &the_engine().url);
    let err = store
        .search(&index, &json!({"query": {"no_such_query": {}}}))
        .unwrap_err();
    match &err {
        StoreError::Refused { reason, .. } => assert!(reason.contains("no_such_query"), "{reason}"),
        other => panic!("expected Refused, got {other:?}"),
    }
    let err = store
        .refresh("tw-missing-for-refresh,tw-other-missing")
        .err();
    assert!(err.is_none(), "{err:?}");
}

/// What `tidewatch results` relies on before it may say "nothing matched" (issue 19): a
/// mistyped results index is `IndexNotFound`, a closed one names itself as closed; searching
/// either still answers with no hits, which alone would read as "all quiet".
#[test]
fn check_readable_tells_missing_and_closed_indices() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = connect(url);
    let index = unique("tw-closed");
    create_index(url, &index, json!({ "x": { "type": "long" } }));
    store
        .check_readable(&index)
        .expect("an open index is readable");
    let missing = unique("tw-resluts");
    let e = store.check_readable(&missing).unwrap_err();
    assert!(
        matches!(e, StoreError::IndexNotFound(ref i) if *i == missing),
        "{e}"
    );
    let (status, body) = http("POST", &format!("{url}/{index}/_close"), None);
    assert_eq!(status, 200, "close {index}: {body}");
    let e = store.check_readable(&index).unwrap_err();
    assert!(
        matches!(e, StoreError::NotFound(ref m) if m.contains(&format!("index `{index}` is closed"))),
        "{e}"
    );
    let hits = store.search(&index, &json!({ "query": { "match_all": {} } }));
    assert_eq!(
        hits.expect("search ignores the closed index")["hits"]["total"]["value"],
        0
    );
}

#[test]
fn conditional_puts_conflict_and_get_returns_versions() {
    skip_if_absent!();
    let store = connect(&the_engine().url);
    let index = unique("tidewatch-state-test");
    assert_eq!(
        store.get(&index, "lease-1").unwrap(),
        None,
        "missing index reads as no document"
    );
    let first = store
        .put(&index, "lease-1", &json!({"owner": "a"}), PutMode::Create)
        .unwrap();
    let err = store
        .put(&index, "lease-1", &json!({"owner": "b"}), PutMode::Create)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { id, .. } if id == "lease-1"),
        "{err:?}"
    );
    let got = store.get(&index, "lease-1").unwrap().unwrap();
    assert_eq!(got, first);
    assert_eq!(got.source, json!({"owner": "a"}));
    let version = IfVersion {
        seq_no: got.seq_no,
        primary_term: got.primary_term,
    };
    let second = store
        .put(
            &index,
            "lease-1",
            &json!({"owner": "a", "n": 2}),
            PutMode::IfMatch(version),
        )
        .unwrap();
    assert!(second.seq_no > first.seq_no);
    let stale = store
        .put(
            &index,
            "lease-1",
            &json!({"owner": "c"}),
            PutMode::IfMatch(version),
        )
        .unwrap_err();
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale:?}");
    let third = store
        .put(
            &index,
            "lease-1",
            &json!({"owner": "d"}),
            PutMode::Overwrite,
        )
        .unwrap();
    assert!(third.seq_no > second.seq_no);
    assert_eq!(
        store.get(&index, "lease-1").unwrap().unwrap().source,
        json!({"owner": "d"})
    );
    assert_eq!(store.get(&index, "nope").unwrap(), None);
}

#[test]
fn delete_by_query_removes_matching_documents() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = connect(url);
    let index = load_rows(&store, url);
    let deleted = store
        .delete_by_query(&index, &json!({"term": {"host": "web-2"}}))
        .unwrap();
    assert_eq!(
        deleted as usize,
        rows().iter().filter(|r| r.host == "web-2").count()
    );
    store.refresh(&index).unwrap();
    let left = store
        .search(&index, &json!({"size": 0, "track_total_hits": true}))
        .unwrap();
    assert_eq!(left["hits"]["total"]["value"], 120 - deleted);
}

#[test]
fn mapping_errors_are_reported_per_item_not_retried() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = connect(url);
    let index = unique("tw-typed");
    create_index(url, &index, json!({"bytes": {"type": "long"}}));
    let docs = (0..5)
        .map(|i| BulkDoc {
            id: Some(format!("d{i}")),
            source: if i == 3 {
                json!({"bytes": "not-a-number"})
            } else {
                json!({"bytes": i})
            },
        })
        .collect();
    let response = store.bulk(&index, docs).unwrap();
    assert_eq!(response.stored, 4);
    assert_eq!(response.failed.len(), 1);
    let failed = &response.failed[0];
    assert_eq!((failed.position, failed.status), (3, 400));
    let reason = failed.error.as_deref().unwrap_or_default();
    assert!(
        reason.contains("parsing_exception") && reason.contains("bytes"),
        "{reason}"
    );
    assert_eq!(store.stats().bulk_item_retries, 0);
}

#[test]
fn bulk_without_ids_assigns_unique_ids() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = connect(url);
    let index = unique("tw-noid");
    create_index(url, &index, json!({"n": {"type": "long"}}));
    let docs = (0..10)
        .map(|n| BulkDoc {
            id: None,
            source: json!({"n": n}),
        })
        .collect();
    assert_eq!(store.bulk(&index, docs).unwrap().stored, 10);
    store.refresh(&index).unwrap();
    let r = store.search(&index, &json!({"size": 100})).unwrap();
    let ids: HashSet<&str> = r["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 10);
}

#[test]
fn templates_install_once_and_shape_new_indices() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = connect(url);
    let first = store.ensure_templates().unwrap();
    assert_eq!(first.len(), tidewatch::store::TEMPLATES.len());
    let version_of = |name: &str| -> u64 {
        let (_, text) = tidewatch::store::TEMPLATES
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap();
        serde_json::from_str::<Value>(text).unwrap()["version"]
            .as_u64()
            .unwrap()
    };
    for (name, outcome) in store.ensure_templates().unwrap() {
        let want = version_of(&name);
        assert!(
            matches!(outcome, TemplateOutcome::UpToDate { version } if version == want),
            "{name}: {outcome:?}"
        );
    }
    // A results index created by a write gets the template's types.
    let index = unique("tidewatch-results-shape");
    let doc = json!({"job_id": "j", "result_type": "record", "timestamp": T0, "bucket_span": 900,
                     "record_score": 91.5, "typical": [1.0], "actual": [7.0],
                     "influencers": [{"influencer_field_name": "host", "influencer_field_values": ["web-1"]}]});
    assert_eq!(
        store
            .bulk(
                &index,
                vec![BulkDoc {
                    id: Some("r1".into()),
                    source: doc
                }]
            )
            .unwrap()
            .stored,
        1
    );
    let (status, mapping) = http("GET", &format!("{url}/{index}/_mapping"), None);
    assert_eq!(status, 200, "{mapping}");
    let props = &mapping[&index]["mappings"]["properties"];
    assert_eq!(props["job_id"]["type"], "keyword");
    assert_eq!(props["timestamp"]["type"], "date");
    assert_eq!(props["record_score"]["type"], "double");
    assert_eq!(props["influencers"]["type"], "nested");
    assert_eq!(
        mapping[&index]["mappings"]["_meta"]["version"],
        version_of("tidewatch-results")
    );
    let (_, health) = http(
        "GET",
        &format!("{url}/_cluster/health/{index}?wait_for_status=green&timeout=10s"),
        None,
    );
    assert_eq!(health["status"], "green", "{health}");
    // Upgrades replace older versions; older ones never replace newer ones.
    let name = unique("tw-upgrade");
    let mut template = json!({"index_patterns": [format!("{name}-*")], "version": 1,
                              "template": {"settings": {"number_of_replicas": 0}}});
    assert_eq!(
        store.ensure_template(&name, &template).unwrap(),
        TemplateOutcome::Installed { version: 1 }
    );
    template["version"] = 2.into();
    assert_eq!(
        store.ensure_template(&name, &template).unwrap(),
        TemplateOutcome::Upgraded { from: 1, to: 2 }
    );
    template["version"] = 1.into();
    assert_eq!(
        store.ensure_template(&name, &template).unwrap(),
        TemplateOutcome::UpToDate { version: 2 }
    );
}

/// The fields `ingest --geoip` adds, in an `nginx-*` index: the template maps the location
/// as a geo_point (a distance query finds it) and the names as keywords (terms aggregate).
#[test]
fn geoip_fields_are_mapped_by_the_logs_template() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = connect(url);
    store.ensure_templates().unwrap();
    let index = unique("nginx-geoip");
    // The shape src/ingest/geoip writes (its unit tests pin it).
    let doc = json!({"@timestamp": T0, "source": {"address": "81.2.69.160",
        "geo": {"country_iso_code": "GB", "country_name": "United Kingdom", "continent_code": "EU",
                "city_name": "London", "location": {"lat": 51.5142, "lon": -0.0931}},
        "as": {"number": 20712, "organization": {"name": "Andrews & Arnold Ltd"}}}});
    let bulk = vec![BulkDoc {
        id: Some("g1".into()),
        source: doc,
    }];
    assert_eq!(store.bulk(&index, bulk).unwrap().stored, 1);
    store.refresh(&index).unwrap();
    let (status, mapping) = http("GET", &format!("{url}/{index}/_mapping"), None);
    assert_eq!(status, 200, "{mapping}");
    let source = &mapping[&index]["mappings"]["properties"]["source"]["properties"];
    let geo = &source["geo"]["properties"];
    assert_eq!(geo["location"]["type"], "geo_point", "{mapping}");
    for field in [
        "country_iso_code",
        "country_name",
        "continent_code",
        "city_name",
    ] {
        assert_eq!(geo[field]["type"], "keyword", "{field}: {mapping}");
    }
    assert_eq!(source["as"]["properties"]["number"]["type"], "long");
    assert_eq!(
        source["as"]["properties"]["organization"]["properties"]["name"]["type"],
        "keyword"
    );
    let near = |km: u32| -> u64 {
        let body = json!({"query": {"geo_distance": {"distance": format!("{km}km"),
            "source.geo.location": {"lat": 51.5, "lon": -0.12}}}});
        let r = store.search(&index, &body).unwrap();
        r["hits"]["total"]["value"].as_u64().unwrap()
    };
    assert_eq!((near(10), near(1)), (1, 0));
}

#[test]
fn store_open_returns_the_elastic_backend() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = tidewatch::store::open(url).unwrap();
    assert!(store.describe().contains(url), "{}", store.describe());
    let (status, _) = http(
        "GET",
        &format!("{url}/_index_template/tidewatch-results"),
        None,
    );
    assert_eq!(status, 200);
}

/// Faults at every level; afterwards each document exists exactly once.
#[test]
fn faults_are_retried_and_every_document_lands_exactly_once() {
    skip_if_absent!();
    let url = &the_engine().url;
    let index = unique("tw-faults");
    create_index(
        url,
        &index,
        json!({"doc_id": {"type": "keyword"}, "n": {"type": "long"}}),
    );
    let proxy = Proxy::start(url);
    let store = connect(&proxy.url);
    proxy.inject("/_bulk", Fault::Reset, 2);
    proxy.inject("/_bulk", Fault::status(429, Some(1)), 1);
    proxy.inject("/_bulk", Fault::status(503, None), 1);
    proxy.inject("/_bulk", Fault::bulk_item_failures(3, 429), 1);
    proxy.inject("/_bulk", Fault::bulk_item_failures(2, 503), 1);
    proxy.inject("/_bulk", Fault::Delay(Duration::from_millis(300)), 1);
    proxy.inject("/_refresh", Fault::Reset, 1);
    proxy.inject("/_search", Fault::status(503, None), 2);
    let started = std::time::Instant::now();
    let total = 300;
    for batch in 0..6 {
        let docs = (batch * 50..(batch + 1) * 50)
            .map(|i| BulkDoc {
                id: Some(format!("doc-{i}")),
                source: json!({"doc_id": format!("doc-{i}"), "n": i}),
            })
            .collect();
        let response = store.bulk(&index, docs).unwrap();
        assert!(
            response.failed.is_empty(),
            "batch {batch}: {:?}",
            response.failed
        );
        assert_eq!(response.stored, 50);
    }
    store.refresh(&index).unwrap();
    let response = store
        .search(&index, &json!({"size": 0, "track_total_hits": true,
                                "aggs": {"ids": {"terms": {"field": "doc_id", "size": 1000, "min_doc_count": 1}}}}))
        .unwrap();
    assert_eq!(proxy.pending(), 0, "every planned fault happened");
    let stats = store.stats();
    assert!(stats.request_retries >= 7, "{stats:?}");
    // 17 of the first 50 items (every 3rd), then 9 of those 17 (every 2nd).
    assert!(stats.bulk_item_retries >= 17 + 9, "{stats:?}");
    assert_eq!(response["hits"]["total"]["value"], total);
    let buckets = response["aggregations"]["ids"]["buckets"]
        .as_array()
        .unwrap();
    assert_eq!(buckets.len(), total);
    assert!(
        buckets.iter().all(|b| b["doc_count"] == 1),
        "a document was stored twice"
    );
    let ids: BTreeSet<String> = buckets
        .iter()
        .map(|b| b["key"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = (0..total).map(|i| format!("doc-{i}")).collect();
    assert_eq!(ids, expected);
    // Direct check on the engine, bypassing the proxy and the store.
    let (_, count) = http("GET", &format!("{url}/{index}/_count"), None);
    assert_eq!(count["count"], total);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn non_retryable_item_failures_are_reported() {
    skip_if_absent!();
    let url = &the_engine().url;
    let index = unique("tw-item-400");
    create_index(url, &index, json!({"n": {"type": "long"}}));
    let proxy = Proxy::start(url);
    let store = connect(&proxy.url);
    proxy.inject("/_bulk", Fault::bulk_item_failures(2, 400), 1);
    let docs = (0..6)
        .map(|i| BulkDoc {
            id: Some(format!("x{i}")),
            source: json!({"n": i}),
        })
        .collect();
    let response = store.bulk(&index, docs).unwrap();
    let positions: Vec<usize> = response.failed.iter().map(|f| f.position).collect();
    assert_eq!(positions, vec![0, 2, 4]);
    assert!(response
        .failed
        .iter()
        .all(|f| f.status == 400 && f.error.as_deref().unwrap_or("").contains("mapper_parsing")));
    assert_eq!(response.stored, 3);
    assert_eq!(store.stats().bulk_item_retries, 0);
}

#[test]
fn retries_are_bounded_and_end_in_unavailable() {
    skip_if_absent!();
    let url = &the_engine().url;
    let proxy = Proxy::start(url);
    let options = ElasticOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        },
        ..Default::default()
    };
    let store = ElasticStore::connect(&proxy.url, options).unwrap();
    proxy.inject("/_search", Fault::status(503, None), 100);
    let err = store.search("anything", &json!({})).unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("503"), "{err}");
    let searches = proxy
        .seen()
        .iter()
        .filter(|s| s.path.contains("/_search"))
        .count();
    assert_eq!(searches, 3);
}

#[test]
fn non_idempotent_writes_are_not_retried_after_a_reset_but_are_after_429() {
    skip_if_absent!();
    let url = &the_engine().url;
    let proxy = Proxy::start(url);
    let store = connect(&proxy.url);
    let index = unique("tidewatch-state-retry");
    proxy.inject("/_doc/", Fault::status(429, None), 1);
    store
        .put(&index, "a", &json!({"v": 1}), PutMode::Create)
        .unwrap();
    proxy.inject("/_doc/", Fault::Reset, 1);
    let err = store
        .put(&index, "b", &json!({"v": 1}), PutMode::Create)
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let puts_of_b = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "PUT" && s.path.contains("/_doc/b"))
        .count();
    assert_eq!(
        puts_of_b, 1,
        "a create must not be blindly repeated after a reset"
    );
}

#[test]
fn slow_responses_time_out_and_are_retried() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store_index = {
        let store = connect(url);
        load_rows(&store, url)
    };
    let proxy = Proxy::start(url);
    let options = ElasticOptions {
        timeout: Some(Duration::from_millis(1500)),
        retry: fast_retry(),
        ..Default::default()
    };
    let store = ElasticStore::connect(&proxy.url, options).unwrap();
    proxy.inject("/_search", Fault::Delay(Duration::from_millis(4000)), 1);
    proxy.inject("/_search", Fault::Delay(Duration::from_millis(100)), 1);
    let r = store
        .search(&store_index, &json!({"size": 0, "track_total_hits": true}))
        .unwrap();
    assert_eq!(r["hits"]["total"]["value"], 120);
    assert!(store.stats().request_retries >= 1, "{:?}", store.stats());
}

#[test]
fn basic_auth_from_url_and_options_reaches_the_cluster() {
    skip_if_absent!();
    let url = &the_engine().url;
    let proxy = Proxy::start(url);
    proxy.require_authorization("Basic ZWxhc3RpYzpzM2NyM3QtcHc=");
    let host = proxy.url.trim_start_matches("http://");
    let store =
        ElasticStore::connect(&format!("http://elastic:s3cr3t-pw@{host}"), options()).unwrap();
    store.search("tw-nothing", &json!({})).unwrap();
    assert!(!store.describe().contains("s3cr3t"), "{}", store.describe());
    let options = ElasticOptions {
        user: Some("elastic".into()),
        password: Some("s3cr3t-pw".into()),
        ..options()
    };
    let store = ElasticStore::connect(&proxy.url, options).unwrap();
    store.search("tw-nothing", &json!({})).unwrap();
    let seen = proxy.seen();
    assert!(seen.len() >= 4);
    assert!(seen
        .iter()
        .all(|s| s.authorization.as_deref() == Some("Basic ZWxhc3RpYzpzM2NyM3QtcHc=")));
}

#[test]
fn api_key_and_bearer_headers() {
    skip_if_absent!();
    let url = &the_engine().url;
    let proxy = Proxy::start(url);
    proxy.require_authorization("ApiKey aWQxOmtleTE=");
    let store = ElasticStore::connect(
        &proxy.url,
        ElasticOptions {
            api_key: Some("id1:key1".into()),
            ..options()
        },
    )
    .unwrap();
    store.search("tw-nothing", &json!({})).unwrap();
    let store = ElasticStore::connect(
        &proxy.url,
        ElasticOptions {
            api_key: Some("aWQxOmtleTE=".into()),
            ..options()
        },
    )
    .unwrap();
    store.search("tw-nothing", &json!({})).unwrap();
    let proxy = Proxy::start(url);
    proxy.require_authorization("Bearer tok-123456");
    let store = ElasticStore::connect(
        &proxy.url,
        ElasticOptions {
            bearer: Some("tok-123456".into()),
            ..options()
        },
    )
    .unwrap();
    store.search("tw-nothing", &json!({})).unwrap();
}

#[test]
fn wrong_password_is_a_clear_error_without_the_password() {
    skip_if_absent!();
    let url = &the_engine().url;
    let proxy = Proxy::start(url);
    proxy.require_authorization("Basic ZWxhc3RpYzpzM2NyM3QtcHc=");
    let host = proxy.url.trim_start_matches("http://");
    let err = ElasticStore::connect(&format!("http://elastic:wrong-pass-77@{host}"), options())
        .unwrap_err();
    let text = err.to_string();
    assert!(!err.is_retryable(), "{err:?}");
    assert!(
        text.contains("401") && text.contains("authentication failed"),
        "{text}"
    );
    assert!(!text.contains("wrong-pass-77"), "{text}");
    assert!(text.contains(host), "the error names the cluster: {text}");
}

/// Captures everything logged (at TRACE) while a store with a password in its URL retries,
/// fails and succeeds; no line may contain the password or its base64 form.
#[test]
fn no_log_line_or_error_contains_the_secret() {
    skip_if_absent!();
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let url = &the_engine().url;
    let proxy = Proxy::start(url);
    proxy.require_authorization("Basic ZWxhc3RpYzpzM2NyM3QtcHc=");
    let host = proxy.url.trim_start_matches("http://").to_string();
    let mut messages = Vec::new();
    tracing::subscriber::with_default(subscriber, || {
        let store =
            ElasticStore::connect(&format!("http://elastic:s3cr3t-pw@{host}"), options()).unwrap();
        proxy.inject("/_search", Fault::status(503, None), 2);
        proxy.inject("/_search", Fault::Reset, 1);
        store.search("tw-nothing", &json!({})).unwrap();
        store.ensure_templates().unwrap();
        messages.push(store.describe());
        messages.push(format!("{store:?}"));
        let err = ElasticStore::connect(
            &format!("http://elastic:s3cr3t-pw@{host}/wrong-prefix"),
            options(),
        )
        .unwrap_err();
        tracing::error!(error = %err, "Could not connect");
        messages.push(err.to_string());
        let down = ElasticStore::connect(
            "http://elastic:s3cr3t-pw@127.0.0.1:1",
            ElasticOptions {
                retry: RetryPolicy {
                    max_attempts: 2,
                    ..fast_retry()
                },
                ..Default::default()
            },
        )
        .unwrap_err();
        tracing::error!(error = %down, "Could not connect");
        messages.push(down.to_string());
    });
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retrying") || logs.contains("retry"),
        "the retries were logged:\n{logs}"
    );
    for text in messages.iter().map(String::as_str).chain(logs.lines()) {
        assert!(!text.contains("s3cr3t-pw"), "secret leaked: {text}");
        assert!(
            !text.contains("ZWxhc3RpYzpzM2NyM3QtcHc"),
            "encoded secret leaked: {text}"
        );
    }
}

#[test]
fn https_with_a_private_ca() {
    skip_if_absent!();
    let url = &the_engine().url;
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let proxy = Proxy::start_tls(url, &pki.cert_pem, &pki.key_pem);
    assert!(proxy.url.starts_with("https://"));
    // Trusting the private CA: works end to end.
    let with_ca = ElasticOptions {
        ca_cert: Some(pki.ca_pem.clone()),
        ..options()
    };
    let store = ElasticStore::connect(&proxy.url, with_ca).unwrap();
    let r = store.search("tw-nothing", &json!({"size": 0})).unwrap();
    assert_eq!(r["hits"]["total"]["value"], 0);
    assert!(store.describe().contains(&proxy.url));
    // Without it the public roots reject the certificate at once, with a hint.
    let before = proxy.seen().len();
    let err = ElasticStore::connect(&proxy.url, options()).unwrap_err();
    let text = err.to_string();
    assert!(!err.is_retryable(), "{err:?}");
    assert!(text.contains("TIDEWATCH_ES_CA_CERT"), "{text}");
    assert_eq!(proxy.seen().len(), before, "no request got through");
}

#[test]
fn large_bulks_are_split_into_bounded_requests() {
    skip_if_absent!();
    let url = &the_engine().url;
    let index = unique("tw-large");
    create_index(url, &index, json!({"n": {"type": "long"}}));
    let proxy = Proxy::start(url);
    let store = connect(&proxy.url);
    let total = 10_001;
    let docs = (0..total)
        .map(|n| BulkDoc {
            id: Some(format!("n{n}")),
            source: json!({"n": n}),
        })
        .collect();
    let response = store.bulk(&index, docs).unwrap();
    assert_eq!(response.stored, total);
    let bulks = proxy
        .seen()
        .iter()
        .filter(|s| s.path.starts_with("/_bulk"))
        .count();
    assert_eq!(bulks, 3, "5,000 documents per request at most");
    store.refresh(&index).unwrap();
    let (_, count) = http("GET", &format!("{url}/{index}/_count"), None);
    assert_eq!(count["count"], total);
}

/// The fixture's own guarantees: an engine that dies during start-up or later fails loudly,
/// with its last log lines (a shell stands in for the launcher here).
#[test]
fn an_engine_crash_fails_loudly() {
    skip_if_absent!();
    let mut dies_early = std::process::Command::new("sh");
    dies_early.args(["-c", "echo 'fatal: cannot bind' >&2; exit 3"]);
    let err = launch(dies_early, Duration::from_secs(20))
        .err()
        .expect("start-up must fail");
    assert!(
        err.contains("exited during start-up") && err.contains("cannot bind"),
        "{err}"
    );

    let mut dies_later = std::process::Command::new("sh");
    dies_later.args(["-c", "echo TIDEWATCH_ENGINE_URL=http://127.0.0.1:9; echo 'OutOfMemoryError' >&2; sleep 0.2; exit 137"]);
    let engine = launch(dies_later, Duration::from_secs(20)).unwrap();
    assert_eq!(engine.url, "http://127.0.0.1:9");
    std::thread::sleep(Duration::from_millis(800));
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.check_alive()))
        .expect_err("a dead engine must fail the test");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("crashed") && message.contains("OutOfMemoryError"),
        "{message}"
    );
}

/// Issue 14: a source index closed while a job follows real time stops the job advancing
/// (the error is recorded and retried, never read as empty buckets); once the index is
/// reopened every document is analysed exactly once. Then `jobs reset` leaves no results.
#[test]
fn a_closed_source_index_stops_the_job_until_reopened_and_reset_clears_it() {
    skip_if_absent!();
    use tidewatch::runner::{self, Clock, ManualClock, Realtime, RealtimeOptions};
    let url = &the_engine().url;
    let store = connect(url);
    store.ensure_templates().expect("templates");
    let (source, results, job_id) = (
        unique("tw-src"),
        unique("tidewatch-results-lc"),
        unique("lc"),
    );
    create_index(
        url,
        &source,
        json!({ "@timestamp": { "type": "date" }, "region": { "type": "keyword" } }),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("lc.yml");
    let yaml = format!("job_id: {job_id}\nresults_index: {results}\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      partition_field_name: region\ndatafeed_config:\n  indices: [{source}]\n  query_delay: 1m\n  frequency: 5m\n");
    std::fs::write(&file, yaml).expect("job file");
    let job = tidewatch::config::load_job(&file).expect("job");
    const SPAN: i64 = 900_000;
    let t0 = 1_714_953_600_000i64; // 2024-05-06T00:00:00Z
                                   // 8 hours of documents, 3 per bucket and region: 2 regions x 32 buckets x 3.
    let docs: Vec<BulkDoc> = (0..32 * 6)
        .map(|i| BulkDoc {
            id: Some(format!("d{i}")),
            source: json!({ "@timestamp": t0 + (i / 6) * SPAN + (i % 3) * 60_000,
                            "region": if i % 6 < 3 { "eu" } else { "us" } }),
        })
        .collect();
    store.bulk(&source, docs).expect("bulk");
    store.refresh(&source).expect("refresh");
    let clock = ManualClock::new(t0 + 4 * 3_600_000 + 2 * 60_000);
    let opts = RealtimeOptions {
        state_index: runner::STATE_INDEX.into(),
        holder: "lc".into(),
        lease_ttl_ms: 3_600_000,
    };
    let mut rt = Realtime::new(&store, std::slice::from_ref(&job), opts, &clock).expect("rt");
    rt.tick().expect("tick");
    assert_eq!(rt.positions()[0].1, Some(t0 + 16 * SPAN));

    let (status, body) = http("POST", &format!("{url}/{source}/_close"), None);
    assert_eq!(status, 200, "close: {body}");
    for step in 1..=2 {
        clock.set(t0 + 4 * 3_600_000 + step * 10 * 60_000);
        rt.tick().expect("a failing job does not stop the runner");
        let stats = runner::load_stats(&store, runner::STATE_INDEX, &job_id)
            .expect("stats")
            .map(|d| runner::JobStats::from_doc(&d))
            .expect("stats doc");
        assert_eq!(
            stats.latest_bucket_timestamp,
            Some(t0 + 15 * SPAN),
            "did not advance"
        );
        let error = stats.last_error.unwrap_or_default();
        assert!(
            error.contains(&format!("source index `{source}` cannot be read")),
            "{error}"
        );
    }

    let (status, body) = http(
        "POST",
        &format!("{url}/{source}/_open?wait_for_active_shards=1"),
        None,
    );
    assert_eq!(status, 200, "open: {body}");
    let (status, body) = http(
        "GET",
        &format!("{url}/_cluster/health/{source}?wait_for_status=yellow&timeout=30s"),
        None,
    );
    assert_eq!(status, 200, "health: {body}");
    clock.set(t0 + 8 * 3_600_000 + 2 * 60_000);
    rt.tick().expect("tick");
    assert_eq!(rt.positions()[0].1, Some(t0 + 32 * SPAN));
    store.refresh(&results).expect("refresh");
    let stats = runner::load_stats(&store, runner::STATE_INDEX, &job_id)
        .expect("stats")
        .map(|d| runner::JobStats::from_doc(&d))
        .expect("stats doc");
    assert_eq!(
        (stats.processed_record_count, stats.bucket_count),
        (32 * 6, 32)
    );
    assert_eq!((stats.empty_bucket_count, stats.last_error), (0, None));
    let body = json!({ "size": 100, "query": { "bool": { "filter": [
        { "term": { "job_id": job_id } }, { "term": { "result_type": "bucket" } },
        { "term": { "is_interim": false } } ] } }, "sort": [{ "timestamp": "asc" }] });
    let buckets = store.search(&results, &body).expect("buckets")["hits"]["hits"].clone();
    let counts: Vec<i64> = buckets
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["_source"]["event_count"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(
        counts,
        vec![6; 32],
        "every bucket once, with every document"
    );
    rt.release_all().expect("release");

    tidewatch::catalog::record(&store, &job, clock.now()).expect("record");
    let done = tidewatch::catalog::reset_job(&store, &job, clock.now()).expect("reset");
    assert!(done.results >= 32 && done.state >= 3, "{done:?}");
    let left = store
        .search(
            &results,
            &json!({ "size": 0, "track_total_hits": true,
        "query": { "term": { "job_id": job_id } } }),
        )
        .expect("search");
    assert_eq!(left["hits"]["total"]["value"], 0);
    assert!(runner::load_checkpoint(&store, runner::STATE_INDEX, &job)
        .expect("get")
        .is_none());
    assert!(
        tidewatch::catalog::load(&store, &job_id)
            .expect("load")
            .is_some(),
        "reset keeps the definition"
    );
}
