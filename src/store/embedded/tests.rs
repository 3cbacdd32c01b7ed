//! Store-level tests: every query and aggregation form against hand-computed answers,
//! persistence, torn tails, conflicts, the lock, determinism.

use super::*;
use crate::store::IfVersion;
use serde_json::json;

/// 2015-05-17T00:00:00Z.
const T0: i64 = 1_431_820_800_000;
const MIN: i64 = 60_000;

fn fixture() -> Vec<BulkDoc> {
    let docs = [
        (
            "1",
            json!({"@timestamp": "2015-05-17T00:05:00Z", "http": {"response": {"status_code": 200}}, "source": {"geo": {"country_iso_code": "US"}, "address": "10.0.0.1"}, "url": {"original": "/a"}, "bytes": 100}),
        ),
        (
            "2",
            json!({"@timestamp": "2015-05-17T00:10:00Z", "http": {"response": {"status_code": 503}}, "source": {"geo": {"country_iso_code": "DE"}, "address": "10.0.0.2"}, "url": {"original": "/b"}, "bytes": 250}),
        ),
        (
            "3",
            json!({"@timestamp": "2015-05-17T00:20:00Z", "http.response.status_code": 503, "source.geo.country_iso_code": "US", "source.address": "10.0.0.1", "url": {"original": "/a"}, "bytes": 50}),
        ),
        (
            "4",
            json!({"@timestamp": "2015-05-17T00:50:00Z", "http": {"response": {"status_code": 404}}, "source": {"geo": {"country_iso_code": "US"}, "address": "10.0.0.3"}, "url": {"original": "/c"}, "bytes": 1000, "tags": ["x", "y"]}),
        ),
        (
            "5",
            json!({"@timestamp": "2015-05-17T01:40:00Z", "http": {"response": {"status_code": 200}}, "source": {"address": "10.0.0.1"}, "url": {"original": "/a"}, "bytes": 10, "latency": 0.5}),
        ),
        (
            "6",
            json!({"@timestamp": "2015-05-17T01:44:00Z", "http": {"response": {"status_code": 503}}, "source": {"geo": {"country_iso_code": "DE"}, "address": "10.0.0.2"}, "url": {"original": "/b"}, "bytes": 250, "latency": 2.0, "tags": []}),
        ),
    ];
    docs.into_iter()
        .map(|(id, source)| BulkDoc {
            id: Some(id.into()),
            source,
        })
        .collect()
}

fn store() -> (tempfile::TempDir, EmbeddedStore) {
    let tmp = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(tmp.path().join("data")).unwrap();
    let r = s.bulk("logs", fixture()).unwrap();
    assert_eq!(r.stored, 6);
    assert!(r.failed.is_empty());
    (tmp, s)
}

fn ids(resp: &Value) -> Vec<String> {
    resp["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_id"].as_str().unwrap().to_string())
        .collect()
}

/// Indexes one document with an id.
fn index_one(s: &EmbeddedStore, index: &str, id: &str, source: Value) {
    s.bulk(
        index,
        vec![BulkDoc {
            id: Some(id.into()),
            source,
        }],
    )
    .unwrap();
}

fn total(resp: &Value) -> u64 {
    resp["hits"]["total"]["value"].as_u64().unwrap()
}

/// Ids matching `query`, sorted by id.
fn matching(s: &EmbeddedStore, query: Value) -> Vec<String> {
    let r = s
        .search(
            "logs",
            &json!({"query": query, "size": 100, "sort": ["_id"]}),
        )
        .unwrap();
    assert_eq!(
        total(&r) as usize,
        r["hits"]["hits"].as_array().unwrap().len()
    );
    ids(&r)
}

#[test]
fn term_on_nested_and_flat_paths_and_coercion() {
    let (_t, s) = store();
    assert_eq!(
        matching(&s, json!({"term": {"http.response.status_code": 503}})),
        ["2", "3", "6"]
    );
    assert_eq!(
        matching(
            &s,
            json!({"term": {"http.response.status_code": {"value": "503"}}})
        ),
        ["2", "3", "6"]
    );
    assert_eq!(
        matching(&s, json!({"term": {"source.geo.country_iso_code": "US"}})),
        ["1", "3", "4"]
    );
    assert_eq!(
        matching(
            &s,
            json!({"term": {"source.geo.country_iso_code.keyword": "US"}})
        ),
        ["1", "3", "4"]
    );
    assert_eq!(
        matching(&s, json!({"term": {"source.geo.country_iso_code": "us"}})),
        Vec::<String>::new()
    );
    assert_eq!(matching(&s, json!({"term": {"tags": "y"}})), ["4"]);
    assert_eq!(
        matching(
            &s,
            json!({"term": {"@timestamp": "2015-05-17T00:50:00.000Z"}})
        ),
        ["4"]
    );
    assert_eq!(
        matching(&s, json!({"term": {"@timestamp": T0 + 50 * MIN}})),
        ["4"]
    );
    assert_eq!(matching(&s, json!({"term": {"_id": "5"}})), ["5"]);
    assert_eq!(
        matching(&s, json!({"ids": {"values": ["5", "9", "1"]}})),
        ["1", "5"]
    );
    assert_eq!(
        matching(&s, json!({"match": {"url.original": "/b"}})),
        ["2", "6"]
    );
    assert_eq!(
        matching(&s, json!({"match": {"url.original": {"query": "/c"}}})),
        ["4"]
    );
    assert_eq!(
        matching(
            &s,
            json!({"terms": {"source.geo.country_iso_code": ["DE", "FR"]}})
        ),
        ["2", "6"]
    );
    assert_eq!(
        matching(
            &s,
            json!({"terms": {"http.response.status_code": [404, "200"]}})
        ),
        ["1", "4", "5"]
    );
    assert_eq!(
        matching(&s, json!({"prefix": {"source.address": "10.0.0.2"}})),
        ["2", "6"]
    );
    assert_eq!(
        matching(&s, json!({"wildcard": {"url.original": {"value": "/?"}}})).len(),
        6
    );
    assert_eq!(matching(&s, json!({"match_all": {}})).len(), 6);
    assert_eq!(matching(&s, json!({"match_none": {}})).len(), 0);
}

/// Found by `benches/fuzz.rs` (target `query`): a multi-byte character after `now` made the
/// date-math parser slice inside it and panic.
#[test]
fn date_math_with_a_multibyte_character_is_refused_not_a_panic() {
    let (_t, s) = store();
    for bad in ["now\u{10ffff}-10y", "nowé", "now-\u{10ffff}"] {
        let body = json!({"query": {"range": {"@timestamp": {"gte": bad}}}});
        assert!(s.search("logs", &body).is_err(), "{bad}");
    }
}

#[test]
fn range_on_dates_numbers_and_strings() {
    let (_t, s) = store();
    let r = |spec: Value| matching(&s, json!({"range": {"@timestamp": spec}}));
    assert_eq!(
        r(json!({"gte": "2015-05-17T00:10:00Z", "lt": "2015-05-17T00:50:00Z"})),
        ["2", "3"]
    );
    assert_eq!(
        r(json!({"gt": "2015-05-17T00:10:00Z", "lte": "2015-05-17T00:50:00Z"})),
        ["3", "4"]
    );
    assert_eq!(
        r(json!({"gte": T0 + 10 * MIN, "lt": T0 + 50 * MIN, "format": "epoch_millis"})),
        ["2", "3"]
    );
    assert_eq!(
        r(json!({"gte": (T0 + 10 * MIN).to_string(), "format": "epoch_millis"})),
        ["2", "3", "4", "5", "6"]
    );
    assert_eq!(r(json!({"gte": "2015-05-17 01:00:00"})), ["5", "6"]);
    assert_eq!(r(json!({"lt": "now-1d"})).len(), 6);
    let n = |spec: Value| matching(&s, json!({"range": {"bytes": spec}}));
    assert_eq!(n(json!({"gt": 50, "lte": 250})), ["1", "2", "6"]);
    assert_eq!(n(json!({"gte": "1000"})), ["4"]);
    assert_eq!(
        matching(&s, json!({"range": {"latency": {"lt": 1}}})),
        ["5"]
    );
    assert_eq!(
        matching(
            &s,
            json!({"range": {"url.original": {"gte": "/b", "lt": "/c"}}})
        ),
        ["2", "6"]
    );
    assert!(s
        .search(
            "logs",
            &json!({"query": {"range": {"bytes": {"gte": "now/d"}}}})
        )
        .is_err());
}

#[test]
fn exists_and_bool() {
    let (_t, s) = store();
    assert_eq!(
        matching(
            &s,
            json!({"exists": {"field": "source.geo.country_iso_code"}})
        ),
        ["1", "2", "3", "4", "6"]
    );
    assert_eq!(
        matching(&s, json!({"exists": {"field": "source.geo"}})),
        ["1", "2", "3", "4", "6"]
    );
    // An empty array is missing.
    assert_eq!(matching(&s, json!({"exists": {"field": "tags"}})), ["4"]);
    let q = json!({"bool": {
        "filter": [{"range": {"bytes": {"gte": 50}}}],
        "must_not": [{"term": {"url.original": "/c"}}],
        "should": [{"term": {"http.response.status_code": 503}}, {"term": {"source.geo.country_iso_code": "US"}}],
        "minimum_should_match": 2
    }});
    assert_eq!(matching(&s, q), ["3"]);
    // should alone: at least one.
    let q =
        json!({"bool": {"should": [{"term": {"url.original": "/c"}}, {"term": {"bytes": 10}}]}});
    assert_eq!(matching(&s, q), ["4", "5"]);
    // should with a filter: optional.
    let q = json!({"bool": {"filter": {"term": {"url.original": "/a"}}, "should": [{"term": {"bytes": 10}}]}});
    assert_eq!(matching(&s, q), ["1", "3", "5"]);
    let q = json!({"bool": {"must": [{"term": {"url.original": "/a"}}], "should": [{"term": {"bytes": 10}}, {"term": {"bytes": 50}}], "minimum_should_match": "50%"}});
    assert_eq!(matching(&s, q), ["3", "5"]);
    assert!(s
        .search("logs", &json!({"query": {"bool": {"mustt": []}}}))
        .is_err());
}

#[test]
fn query_string_forms() {
    let (_t, s) = store();
    let qs = |q: &str| matching(&s, json!({"query_string": {"query": q}}));
    assert_eq!(
        qs("http.response.status_code:503 AND source.geo.country_iso_code:DE"),
        ["2", "6"]
    );
    assert_eq!(
        qs("url.original:\"/a\" OR url.original:\"/c\""),
        ["1", "3", "4", "5"]
    );
    assert_eq!(qs("url.original:\\/c"), ["4"]);
    assert_eq!(
        qs("http.response.status_code:503 AND NOT source.geo.country_iso_code:DE"),
        ["3"]
    );
    assert_eq!(
        qs("(url.original:\"/a\" OR url.original:\"/b\") AND bytes:>=100"),
        ["1", "2", "6"]
    );
    assert_eq!(qs("bytes:[50 TO 250}"), ["1", "3"]);
    assert_eq!(qs("latency:*"), ["5", "6"]);
    assert_eq!(qs("_exists_:tags"), ["4"]);
    assert_eq!(
        qs("source.address:10.0.0.*"),
        ["1", "2", "3", "4", "5", "6"]
    );
    assert_eq!(qs("DE"), ["2", "6"]);
    assert_eq!(qs("-url.original:\"/a\""), ["2", "4", "6"]);
    assert_eq!(qs("*").len(), 6);
    assert_eq!(qs("*:*").len(), 6);
    assert!(s
        .search(
            "logs",
            &json!({"query": {"query_string": {"query": "url.original:(a b"}}})
        )
        .is_err());
}

#[test]
fn hits_sort_paging_source() {
    let (_t, s) = store();
    let r = s
        .search("logs", &json!({"sort": [{"bytes": "desc"}, {"@timestamp": {"order": "asc"}}], "size": 3, "_source": ["url", "bytes"]}))
        .unwrap();
    assert_eq!(ids(&r), ["4", "2", "6"]);
    assert_eq!(total(&r), 6);
    assert_eq!(r["hits"]["total"]["relation"], "eq");
    let h = &r["hits"]["hits"][1];
    assert_eq!(h["_index"], "logs");
    assert_eq!(
        h["_source"],
        json!({"url": {"original": "/b"}, "bytes": 250})
    );
    assert_eq!(h["sort"], json!([250, T0 + 10 * MIN]));
    // search_after continues after the last hit.
    let last = r["hits"]["hits"][2]["sort"].clone();
    let r2 = s
        .search("logs", &json!({"sort": [{"bytes": "desc"}, {"@timestamp": "asc"}], "size": 10, "search_after": last}))
        .unwrap();
    assert_eq!(ids(&r2), ["1", "3", "5"]);
    // from/size; _source false.
    let r3 = s
        .search(
            "logs",
            &json!({"sort": ["_id"], "from": 4, "size": 5, "_source": false}),
        )
        .unwrap();
    assert_eq!(ids(&r3), ["5", "6"]);
    assert!(r3["hits"]["hits"][0].get("_source").is_none());
    // Ties on bytes (250) break by _id; missing values sort last in both directions.
    let r4 = s
        .search("logs", &json!({"sort": [{"latency": "desc"}], "size": 6}))
        .unwrap();
    assert_eq!(ids(&r4), ["6", "5", "1", "2", "3", "4"]);
    assert_eq!(r4["hits"]["hits"][2]["sort"], json!([null]));
    let r5 = s
        .search("logs", &json!({"sort": [{"latency": "asc"}], "size": 2}))
        .unwrap();
    assert_eq!(ids(&r5), ["5", "6"]);
    assert_eq!(r5["hits"]["hits"][0]["sort"], json!([0.5]));
    // includes/excludes with wildcards and flat keys.
    let r6 = s
        .search("logs", &json!({"query": {"ids": {"values": ["3"]}}, "_source": {"includes": ["http.*", "source*"], "excludes": ["source.address"]}}))
        .unwrap();
    assert_eq!(
        r6["hits"]["hits"][0]["_source"],
        json!({"http.response.status_code": 503, "source.geo.country_iso_code": "US"})
    );
    // size 0 and total tracking.
    let r7 = s
        .search("logs", &json!({"size": 0, "track_total_hits": 4}))
        .unwrap();
    assert_eq!(r7["hits"]["total"], json!({"value": 4, "relation": "gte"}));
    assert_eq!(r7["hits"]["hits"], json!([]));
    let r8 = s
        .search("logs", &json!({"size": 0, "track_total_hits": false}))
        .unwrap();
    assert!(r8["hits"].get("total").is_none());
    assert!(s.search("logs", &json!({"size": 10001})).is_err());
    assert!(s
        .search("logs", &json!({"sort": ["_id"], "search_after": [1, 2]}))
        .is_err());
    assert!(s.search("logs", &json!({"higlight": {}})).is_err());
}

#[test]
fn date_histogram_fills_empty_buckets_and_bounds() {
    let (_t, s) = store();
    let r = s
        .search("logs", &json!({"size": 0, "aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "15m"}}}}))
        .unwrap();
    let b = r["aggregations"]["h"]["buckets"].as_array().unwrap();
    let got: Vec<(i64, u64)> = b
        .iter()
        .map(|b| (b["key"].as_i64().unwrap(), b["doc_count"].as_u64().unwrap()))
        .collect();
    let q = 15 * MIN;
    assert_eq!(
        got,
        [
            (T0, 2),
            (T0 + q, 1),
            (T0 + 2 * q, 0),
            (T0 + 3 * q, 1),
            (T0 + 4 * q, 0),
            (T0 + 5 * q, 0),
            (T0 + 6 * q, 2)
        ]
    );
    assert_eq!(b[0]["key_as_string"], "2015-05-17T00:00:00.000Z");
    assert_eq!(b[6]["key_as_string"], "2015-05-17T01:30:00.000Z");
    // min_doc_count 1 drops empty buckets; extended_bounds widens; hard_bounds clips.
    let r = s
        .search(
            "logs",
            &json!({"size": 0, "aggs": {
                "a": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h", "min_doc_count": 1}},
                "b": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h", "extended_bounds": {"min": "2015-05-16T22:00:00Z", "max": T0 + 3 * 60 * MIN}}},
                "c": {"date_histogram": {"field": "@timestamp", "fixed_interval": "15m", "hard_bounds": {"min": T0 + 15 * MIN, "max": T0 + 60 * MIN}}},
                "d": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h", "offset": "30m"}}
            }}),
        )
        .unwrap();
    let keys = |name: &str| -> Vec<(i64, u64)> {
        r["aggregations"][name]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["key"].as_i64().unwrap(), b["doc_count"].as_u64().unwrap()))
            .collect()
    };
    let h = 60 * MIN;
    assert_eq!(keys("a"), [(T0, 4), (T0 + h, 2)]);
    assert_eq!(
        keys("b"),
        [
            (T0 - 2 * h, 0),
            (T0 - h, 0),
            (T0, 4),
            (T0 + h, 2),
            (T0 + 2 * h, 0),
            (T0 + 3 * h, 0)
        ]
    );
    assert_eq!(
        keys("c"),
        [
            (T0 + 15 * MIN, 1),
            (T0 + 30 * MIN, 0),
            (T0 + 45 * MIN, 1),
            (T0 + 60 * MIN, 0)
        ]
    );
    assert_eq!(
        keys("d"),
        [(T0 - 30 * MIN, 3), (T0 + 30 * MIN, 1), (T0 + 90 * MIN, 2)]
    );
}

#[test]
fn datafeed_shaped_request() {
    // date_histogram > terms > cardinality, plus a value metric: the datafeed's request.
    let (_t, s) = store();
    let body = json!({
        "size": 0,
        "query": {"bool": {"filter": [{"range": {"@timestamp": {"gte": T0, "lt": T0 + 60 * MIN, "format": "epoch_millis"}}}]}},
        "aggs": {"buckets": {
            "date_histogram": {"field": "@timestamp", "fixed_interval": "30m"},
            "aggs": {"by": {
                "terms": {"field": "source.geo.country_iso_code", "size": 10000},
                "aggs": {"dc": {"cardinality": {"field": "url.original"}}, "b": {"avg": {"field": "bytes"}}}
            }}
        }}
    });
    let r = s.search("logs", &body).unwrap();
    assert_eq!(
        r["aggregations"],
        json!({"buckets": {"buckets": [
            {"key_as_string": "2015-05-17T00:00:00.000Z", "key": T0, "doc_count": 3, "by": {
                "doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [
                    {"key": "US", "doc_count": 2, "dc": {"value": 1}, "b": {"value": 75.0}},
                    {"key": "DE", "doc_count": 1, "dc": {"value": 1}, "b": {"value": 250.0}}
                ]}},
            {"key_as_string": "2015-05-17T00:30:00.000Z", "key": T0 + 30 * MIN, "doc_count": 1, "by": {
                "doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [
                    {"key": "US", "doc_count": 1, "dc": {"value": 1}, "b": {"value": 1000.0}}
                ]}}
        ]}})
    );
}

#[test]
fn terms_options() {
    let (_t, s) = store();
    let agg = |spec: Value| -> Value {
        let r = s
            .search("logs", &json!({"size": 0, "aggs": {"t": {"terms": spec}}}))
            .unwrap();
        r["aggregations"]["t"].clone()
    };
    let keys = |v: &Value| -> Vec<(Value, u64)> {
        v["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["key"].clone(), b["doc_count"].as_u64().unwrap()))
            .collect()
    };
    // Numbers stay numbers; count desc then key asc.
    let t = agg(json!({"field": "http.response.status_code"}));
    assert_eq!(
        keys(&t),
        [(json!(503), 3), (json!(200), 2), (json!(404), 1)]
    );
    let t = agg(json!({"field": "http.response.status_code", "size": 1}));
    assert_eq!(keys(&t), [(json!(503), 3)]);
    assert_eq!(t["sum_other_doc_count"], 3);
    let t = agg(json!({"field": "http.response.status_code", "order": {"_key": "desc"}}));
    assert_eq!(
        keys(&t),
        [(json!(503), 3), (json!(404), 1), (json!(200), 2)]
    );
    let t = agg(json!({"field": "http.response.status_code", "order": {"_count": "asc"}}));
    assert_eq!(
        keys(&t),
        [(json!(404), 1), (json!(200), 2), (json!(503), 3)]
    );
    let t = agg(json!({"field": "url.original", "min_doc_count": 3}));
    assert_eq!(keys(&t), [(json!("/a"), 3)]);
    let t = agg(json!({"field": "source.geo.country_iso_code", "missing": "ZZ"}));
    assert_eq!(
        keys(&t),
        [(json!("US"), 3), (json!("DE"), 2), (json!("ZZ"), 1)]
    );
    let t = agg(json!({"field": "tags"}));
    assert_eq!(keys(&t), [(json!("x"), 1), (json!("y"), 1)]);
    let t = agg(json!({"field": "latency"}));
    assert_eq!(keys(&t), [(json!(0.5), 1), (json!(2.0), 1)]);
    let t = agg(json!({"field": "@timestamp", "size": 1, "order": {"_key": "asc"}}));
    assert_eq!(t["buckets"][0]["key"], json!(T0 + 5 * MIN));
    assert_eq!(t["buckets"][0]["key_as_string"], "2015-05-17T00:05:00.000Z");
    let t = agg(json!({"field": "url.original", "include": ["/a", "/c"], "exclude": ["/c"]}));
    assert_eq!(keys(&t), [(json!("/a"), 3)]);
    // Order by a sub-aggregation.
    let r = s
        .search("logs", &json!({"size": 0, "aggs": {"t": {"terms": {"field": "url.original", "order": {"m": "desc"}}, "aggs": {"m": {"max": {"field": "bytes"}}}}}}))
        .unwrap();
    let order: Vec<&str> = r["aggregations"]["t"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["/c", "/b", "/a"]);
}

#[test]
fn terms_partitions_split_terms_disjointly() {
    let tmp = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(tmp.path()).unwrap();
    let docs: Vec<BulkDoc> = (0..200)
        .map(|i| BulkDoc {
            id: Some(i.to_string()),
            source: json!({"ip": format!("10.0.{}.{}", i / 50, i % 50), "n": i}),
        })
        .collect();
    s.bulk("p", docs).unwrap();
    for field in ["ip", "n"] {
        let mut seen = std::collections::BTreeSet::new();
        let mut sizes = Vec::new();
        for part in 0..4 {
            let r = s
                .search("p", &json!({"size": 0, "aggs": {"t": {"terms": {"field": field, "size": 1000, "include": {"partition": part, "num_partitions": 4}}}}}))
                .unwrap();
            let b = r["aggregations"]["t"]["buckets"].as_array().unwrap();
            sizes.push(b.len());
            for x in b {
                assert!(
                    seen.insert(x["key"].to_string()),
                    "{field}: term {} in two partitions",
                    x["key"]
                );
            }
        }
        assert_eq!(
            seen.len(),
            200,
            "{field}: every term in exactly one partition"
        );
        assert!(
            sizes.iter().all(|&n| n > 25),
            "{field}: partitions are balanced: {sizes:?}"
        );
    }
    // Lucene's murmur3 with Elasticsearch's seed 31, computed independently for "a":
    // k = 0x61 * c1 -> rotl15 -> * c2; h = 31 ^ k; len 1; fmix.
    let want = {
        let mut k: u32 = 0x61u32
            .wrapping_mul(0xcc9e_2d51)
            .rotate_left(15)
            .wrapping_mul(0x1b87_3593);
        let mut h: u32 = 31 ^ k;
        h ^= 1;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^= h >> 16;
        k = h;
        k
    };
    assert_eq!(aggs::murmur3_x86_32(b"a", 31), want);
    assert!(s.search("p", &json!({"aggs": {"t": {"terms": {"field": "ip", "include": {"partition": 4, "num_partitions": 4}}}}})).is_err());
}

#[test]
fn composite_pages_with_after_key() {
    let (_t, s) = store();
    let mut after: Option<Value> = None;
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let mut comp = json!({
            "size": 2,
            "sources": [
                {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}}},
                {"c": {"terms": {"field": "source.geo.country_iso_code"}}}
            ]
        });
        if let Some(a) = &after {
            comp["after"] = a.clone();
        }
        let r = s
            .search("logs", &json!({"size": 0, "aggs": {"c": {"composite": comp, "aggs": {"u": {"cardinality": {"field": "url.original"}}}}}}))
            .unwrap();
        let agg = &r["aggregations"]["c"];
        let b = agg["buckets"].as_array().unwrap();
        if b.is_empty() {
            assert!(agg.get("after_key").is_none());
            break;
        }
        pages += 1;
        assert_eq!(agg["after_key"], b.last().unwrap()["key"]);
        for x in b {
            all.push((
                x["key"].clone(),
                x["doc_count"].as_u64().unwrap(),
                x["u"]["value"].as_u64().unwrap(),
            ));
        }
        after = Some(agg["after_key"].clone());
    }
    let h = 60 * MIN;
    assert_eq!(pages, 2);
    assert_eq!(
        all,
        [
            (json!({"t": T0, "c": "DE"}), 1, 1),
            (json!({"t": T0, "c": "US"}), 3, 2),
            (json!({"t": T0 + h, "c": "DE"}), 1, 1),
        ]
    );
    // missing_bucket and desc order.
    let r = s
        .search(
            "logs",
            &json!({"size": 0, "aggs": {"c": {"composite": {"size": 10, "sources": [{"c": {"terms": {"field": "source.geo.country_iso_code", "missing_bucket": true, "order": "desc"}}}]}}}}),
        )
        .unwrap();
    let keys: Vec<Value> = r["aggregations"]["c"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"]["c"].clone())
        .collect();
    assert_eq!(keys, [json!("US"), json!("DE"), Value::Null]);
}

/// Pages of `comp` (a composite body without `after`) over `index`, each as
/// `(aggregation, hits.total)`; `uncached` adds a second top-level aggregation, which
/// makes the store evaluate every page from scratch.
fn composite_pages(s: &EmbeddedStore, comp: &Value, uncached: bool) -> Vec<(Value, Value)> {
    let mut after: Option<Value> = None;
    let mut out = Vec::new();
    loop {
        let mut comp = comp.clone();
        if let Some(a) = &after {
            comp["after"] = a.clone();
        }
        let mut aggs =
            json!({"c": {"composite": comp, "aggs": {"u": {"cardinality": {"field": "url"}}}}});
        if uncached {
            aggs["n"] = json!({"value_count": {"field": "url"}});
        }
        let body = json!({"size": 0, "query": {"range": {"n": {"gte": 10}}}, "aggs": aggs});
        let r = s.search("p", &body).unwrap();
        let agg = r["aggregations"]["c"].clone();
        let done = agg.get("after_key").is_none();
        after = agg.get("after_key").cloned();
        out.push((agg, r["hits"]["total"].clone()));
        if done {
            return out;
        }
    }
}

#[test]
fn composite_pages_come_from_cached_groups_that_writes_invalidate() {
    let tmp = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(tmp.path().join("d")).unwrap();
    let docs = |from: usize, to: usize| -> Vec<BulkDoc> {
        (from..to)
            .map(|i| BulkDoc {
                id: Some(format!("d{i}")),
                source: json!({
                    "@timestamp": T0 + (i as i64 * 7 % 180) * MIN,
                    "ip": format!("10.0.0.{}", i * 13 % 37),
                    "url": format!("/u{}", i % 11),
                    "n": i % 50,
                }),
            })
            .collect()
    };
    s.bulk("p", docs(0, 400)).unwrap();
    let comp = json!({"size": 7, "sources": [
        {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "30m"}}},
        {"o": {"terms": {"field": "ip"}}}
    ]});
    let cached = composite_pages(&s, &comp, false);
    let fresh = composite_pages(&s, &comp, true);
    assert!(cached.len() > 10, "{} pages", cached.len());
    assert_eq!(cached, fresh);
    assert_eq!(cached[0].1, json!({"value": 320, "relation": "eq"}));
    // A page asked for first with `after` (no groups kept yet for this body) agrees too.
    let mut comp2 = comp.clone();
    comp2["size"] = json!(5);
    let mid = cached[3].0["after_key"].clone();
    comp2["after"] = mid;
    let body = |c: &Value| json!({"size": 0, "query": {"range": {"n": {"gte": 10}}}, "aggs": {"c": {"composite": c, "aggs": {"u": {"cardinality": {"field": "url"}}}}}});
    let a = s.search("p", &body(&comp2)).unwrap();
    let mut with_other = body(&comp2);
    with_other["aggs"]["n"] = json!({"value_count": {"field": "url"}});
    let b = s.search("p", &with_other).unwrap();
    assert_eq!(a["aggregations"]["c"], b["aggregations"]["c"]);
    // A write between pages changes the next page: kept groups are dropped with the version.
    let first = s.search("p", &body(&comp)).unwrap();
    s.bulk("p", docs(400, 700)).unwrap();
    let mut next = comp.clone();
    next["after"] = first["aggregations"]["c"]["after_key"].clone();
    let a = s.search("p", &body(&next)).unwrap();
    let mut with_other = body(&next);
    with_other["aggs"]["n"] = json!({"value_count": {"field": "url"}});
    let b = s.search("p", &with_other).unwrap();
    assert_eq!(a["aggregations"]["c"], b["aggregations"]["c"]);
    assert_eq!(a["hits"]["total"], json!({"value": 560, "relation": "eq"}));
    assert_eq!(
        composite_pages(&s, &comp, false),
        composite_pages(&s, &comp, true)
    );
}

#[test]
fn filter_filters_and_metrics() {
    let (_t, s) = store();
    let r = s
        .search(
            "logs",
            &json!({"size": 0, "aggs": {
                "f": {"filter": {"term": {"http.response.status_code": 503}}, "aggs": {"s": {"sum": {"field": "bytes"}}}},
                "fs": {"filters": {"filters": {"err": {"term": {"http.response.status_code": 503}}, "ok": {"term": {"http.response.status_code": 200}}}, "other_bucket_key": "rest"}},
                "fa": {"filters": {"filters": [{"term": {"url.original": "/a"}}]}},
                "vc": {"value_count": {"field": "tags"}},
                "avg": {"avg": {"field": "bytes"}},
                "sum": {"sum": {"field": "bytes"}},
                "min": {"min": {"field": "bytes"}},
                "max": {"max": {"field": "@timestamp"}},
                "none": {"avg": {"field": "nope"}},
                "st": {"stats": {"field": "bytes"}},
                "p": {"percentiles": {"field": "bytes", "percents": [0, 50, 90, 100]}},
                "card": {"cardinality": {"field": "source.address"}},
                "h": {"histogram": {"field": "bytes", "interval": 100}},
                "top": {"top_hits": {"size": 2, "sort": [{"bytes": "desc"}], "_source": {"includes": ["bytes"]}}},
                "by_url": {"terms": {"field": "url.original"}, "aggs": {"b": {"sum": {"field": "bytes"}}}},
                "best": {"max_bucket": {"buckets_path": "by_url>b"}}
            }}),
        )
        .unwrap();
    let a = &r["aggregations"];
    assert_eq!(a["f"], json!({"doc_count": 3, "s": {"value": 550.0}}));
    assert_eq!(
        a["fs"]["buckets"],
        json!({"err": {"doc_count": 3}, "ok": {"doc_count": 2}, "rest": {"doc_count": 1}})
    );
    assert_eq!(a["fa"]["buckets"], json!([{"doc_count": 3}]));
    assert_eq!(a["vc"], json!({"value": 2}));
    assert_eq!(a["avg"], json!({"value": 1660.0 / 6.0}));
    assert_eq!(a["sum"], json!({"value": 1660.0}));
    assert_eq!(a["min"], json!({"value": 10.0}));
    assert_eq!(
        a["max"],
        json!({"value": (T0 + 104 * MIN) as f64, "value_as_string": "2015-05-17T01:44:00.000Z"})
    );
    assert_eq!(a["none"], json!({"value": null}));
    assert_eq!(
        a["st"],
        json!({"count": 6, "min": 10.0, "max": 1000.0, "avg": 1660.0 / 6.0, "sum": 1660.0})
    );
    // Sorted bytes: 10 50 100 250 250 1000; p90 at rank 4.5 -> 250 + 0.5 * 750.
    assert_eq!(
        a["p"],
        json!({"values": {"0.0": 10.0, "50.0": 175.0, "90.0": 625.0, "100.0": 1000.0}})
    );
    assert_eq!(a["card"], json!({"value": 3}));
    let h: Vec<(f64, u64)> = a["h"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["key"].as_f64().unwrap(), b["doc_count"].as_u64().unwrap()))
        .collect();
    assert_eq!(h.len(), 11);
    assert_eq!(h[0], (0.0, 2));
    assert_eq!(h[1], (100.0, 1));
    assert_eq!(h[2], (200.0, 2));
    assert_eq!(h[3], (300.0, 0));
    assert_eq!(h[10], (1000.0, 1));
    let top = &a["top"]["hits"];
    assert_eq!(top["total"]["value"], 6);
    assert_eq!(top["hits"][0]["_id"], "4");
    assert_eq!(top["hits"][0]["_source"], json!({"bytes": 1000}));
    assert_eq!(top["hits"][1]["_id"], "2");
    assert_eq!(top["hits"][1]["sort"], json!([250]));
    assert_eq!(a["best"], json!({"value": 1000.0, "keys": ["/c"]}));
    assert!(s
        .search(
            "logs",
            &json!({"aggs": {"x": {"geohash_grid": {"field": "a"}}}})
        )
        .unwrap_err()
        .to_string()
        .contains("not supported"));
}

#[test]
fn index_patterns_and_missing_indices() {
    let (_t, s) = store();
    index_one(&s, "nginx-a", "a1", json!({"v": 1}));
    index_one(&s, "nginx-b", "b1", json!({"v": 2}));
    index_one(&s, ".hidden", "h", json!({"v": 3}));
    let r = s
        .search("nginx-*", &json!({"sort": [{"v": "asc"}]}))
        .unwrap();
    assert_eq!(ids(&r), ["a1", "b1"]);
    assert_eq!(r["hits"]["hits"][1]["_index"], "nginx-b");
    let r = s.search("nginx-b,logs", &json!({"size": 0})).unwrap();
    assert_eq!(total(&r), 7);
    assert_eq!(total(&s.search("*", &json!({"size": 0})).unwrap()), 8);
    assert_eq!(total(&s.search(".h*", &json!({"size": 0})).unwrap()), 1);
    assert_eq!(total(&s.search("nope", &json!({})).unwrap()), 0);
    assert_eq!(
        total(
            &s.search("nope-*", &json!({"aggs": {"x": {"terms": {"field": "v"}}}}))
                .unwrap()
        ),
        0
    );
    let r = s
        .search(
            "nginx-*",
            &json!({"query": {"term": {"_index": "nginx-a"}}}),
        )
        .unwrap();
    assert_eq!(ids(&r), ["a1"]);
    assert!(s.search("../etc", &json!({})).is_err());
    assert!(s.bulk("Bad", vec![]).is_err());
}

#[test]
fn bulk_ids_overwrite_and_generated_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(tmp.path()).unwrap();
    let r = s
        .bulk(
            "x",
            vec![
                BulkDoc {
                    id: Some("a".into()),
                    source: json!({"v": 1}),
                },
                BulkDoc {
                    id: None,
                    source: json!({"v": 2}),
                },
                BulkDoc {
                    id: Some("b".into()),
                    source: json!([1]),
                },
                BulkDoc {
                    id: Some(String::new()),
                    source: json!({"v": 3}),
                },
                BulkDoc {
                    id: Some("a".into()),
                    source: json!({"v": 4}),
                },
            ],
        )
        .unwrap();
    assert_eq!(r.stored, 3);
    assert_eq!(
        r.failed
            .iter()
            .map(|f| (f.position, f.status))
            .collect::<Vec<_>>(),
        [(2, 400), (3, 400)]
    );
    let all = s.search("x", &json!({"sort": ["_id"]})).unwrap();
    assert_eq!(ids(&all), ["a", "auto-000000000001"]);
    assert_eq!(all["hits"]["hits"][0]["_source"], json!({"v": 4}));
    // A replay with ids changes nothing.
    index_one(&s, "x", "a", json!({"v": 4}));
    assert_eq!(total(&s.search("x", &json!({})).unwrap()), 2);
    assert_eq!(
        total(
            &s.search("x", &json!({"query": {"term": {"v": 1}}}))
                .unwrap()
        ),
        0
    );
}

#[test]
fn persistence_across_reopen_and_delete_by_query() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let before;
    {
        let s = EmbeddedStore::open(&dir).unwrap();
        s.bulk("logs", fixture()).unwrap();
        assert_eq!(
            s.delete_by_query("logs", &json!({"term": {"url.original": "/b"}}))
                .unwrap(),
            2
        );
        s.put("state", "ck", &json!({"t": 5}), PutMode::Overwrite)
            .unwrap();
        before = s
            .search(
                "logs",
                &json!({"sort": ["_id"], "aggs": {"t": {"terms": {"field": "url.original"}}}}),
            )
            .unwrap();
        assert_eq!(ids(&before), ["1", "3", "4", "5"]);
    }
    let s = EmbeddedStore::open(&dir).unwrap();
    let mut after = s
        .search(
            "logs",
            &json!({"sort": ["_id"], "aggs": {"t": {"terms": {"field": "url.original"}}}}),
        )
        .unwrap();
    let mut before = before;
    before["took"] = json!(0);
    after["took"] = json!(0);
    assert_eq!(before, after);
    let ck = s.get("state", "ck").unwrap().unwrap();
    assert_eq!(ck.source, json!({"t": 5}));
    assert_eq!(ck.seq_no, 0);
    assert_eq!(s.get("state", "nope").unwrap(), None);
    assert_eq!(s.get("never", "x").unwrap(), None);
}

fn segment_path(dir: &Path, index: &str) -> PathBuf {
    let m: Value = serde_json::from_slice(
        &std::fs::read(dir.join("indices").join(index).join("manifest.json")).unwrap(),
    )
    .unwrap();
    dir.join("indices").join(index).join(
        m["segments"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap(),
    )
}

#[test]
fn torn_tail_is_ignored_and_cut_before_the_next_append() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    {
        let s = EmbeddedStore::open(&dir).unwrap();
        s.bulk("logs", fixture()).unwrap();
    }
    let seg = segment_path(&dir, "logs");
    let good = std::fs::read(&seg).unwrap();
    // A crash mid-write: half a record, no newline.
    let mut torn = good.clone();
    let extra = {
        let mut b = Vec::new();
        index::tests_support::encode(&mut b, 99, "7", r#"{"bytes":7}"#);
        b
    };
    torn.extend_from_slice(&extra[..extra.len() / 2]);
    std::fs::write(&seg, &torn).unwrap();
    {
        let s = EmbeddedStore::open(&dir).unwrap();
        assert_eq!(total(&s.search("logs", &json!({})).unwrap()), 6);
        index_one(&s, "logs", "8", json!({"bytes": 8}));
    }
    let s = EmbeddedStore::open(&dir).unwrap();
    assert_eq!(
        matching(&s, json!({"range": {"bytes": {"lt": 50}}})),
        ["5", "8"]
    );
    drop(s);
    // A complete last line with a bad checksum (a torn sector) is recovery too: ignored.
    let mut bytes = std::fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x20;
    std::fs::write(&seg, &bytes).unwrap();
    let s = EmbeddedStore::open(&dir).unwrap();
    assert_eq!(
        matching(&s, json!({"match_all": {}})),
        ["1", "2", "3", "4", "5", "6"]
    );
    drop(s);
    // A bad record before the last is corruption: reads are refused (in a writer and a
    // reader alike), naming the file, line and byte offset; appends still work.
    let first_nl = bytes.iter().position(|&b| b == b'\n').unwrap();
    let second_nl = first_nl
        + 1
        + bytes[first_nl + 1..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap();
    bytes[second_nl - 3] ^= 0x20;
    std::fs::write(&seg, &bytes).unwrap();
    let want = format!(
        "store: index `logs` is corrupt: {}:2 (byte {}): a record fails its checksum (1 such record)",
        seg.display(),
        first_nl + 1
    );
    {
        let s = EmbeddedStore::open(&dir).unwrap();
        let e = s.search("logs", &json!({})).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        assert!(e.to_string().starts_with(&want), "{e}");
        assert!(matches!(
            s.get("logs", "3"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            s.check_readable("logs"),
            Err(StoreError::Corrupt { .. })
        ));
        index_one(&s, "logs", "9", json!({"bytes": 9}));
    }
    let r = EmbeddedStore::open_read_only(&dir).unwrap();
    let e = r.search("logs", &json!({})).unwrap_err();
    assert!(e.to_string().starts_with(&want), "{e}");
}

#[test]
fn put_conflicts_and_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let s = EmbeddedStore::open(&dir).unwrap();
    let v1 = s
        .put("leases", "job-a", &json!({"owner": "r1"}), PutMode::Create)
        .unwrap();
    assert_eq!((v1.seq_no, v1.primary_term), (0, 1));
    let e = s
        .put("leases", "job-a", &json!({"owner": "r2"}), PutMode::Create)
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict { ref index, ref id } if index == "leases" && id == "job-a"),
        "{e}"
    );
    let v2 = s
        .put(
            "leases",
            "job-a",
            &json!({"owner": "r1", "renewed": 1}),
            PutMode::IfMatch(IfVersion {
                seq_no: 0,
                primary_term: 1,
            }),
        )
        .unwrap();
    assert_eq!(v2.seq_no, 1);
    // The old version no longer matches; nor does another term, nor any version of a missing id.
    for (id, seq_no, primary_term) in [("job-a", 0, 1), ("job-a", 1, 2), ("nobody", 0, 1)] {
        let mode = PutMode::IfMatch(IfVersion {
            seq_no,
            primary_term,
        });
        let put = s.put("leases", id, &json!({"owner": "r2"}), mode);
        assert!(
            matches!(put, Err(StoreError::Conflict { .. })),
            "{id} at {seq_no}/{primary_term}: {put:?}"
        );
    }
    let got = s.get("leases", "job-a").unwrap().unwrap();
    assert_eq!((got.seq_no, got.source["renewed"].clone()), (1, json!(1)));
    drop(s);
    // Versions survive a restart; a deleted id can be created again with a fresh seq_no.
    let s = EmbeddedStore::open(&dir).unwrap();
    assert_eq!(s.get("leases", "job-a").unwrap().unwrap().seq_no, 1);
    assert_eq!(
        s.delete_by_query("leases", &json!({"ids": {"values": ["job-a"]}}))
            .unwrap(),
        1
    );
    let v3 = s
        .put("leases", "job-a", &json!({"owner": "r3"}), PutMode::Create)
        .unwrap();
    assert_eq!(v3.seq_no, 3);
}

#[test]
fn compaction_keeps_live_documents_and_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let s = EmbeddedStore::open(&dir).unwrap();
    s.bulk(
        "c",
        (0..10)
            .map(|i| BulkDoc {
                id: Some(format!("k{i}")),
                source: json!({"v": i}),
            })
            .collect(),
    )
    .unwrap();
    let seg0 = segment_path(&dir, "c");
    for round in 0..250 {
        let docs = (0..10)
            .map(|i| BulkDoc {
                id: Some(format!("k{i}")),
                source: json!({"v": i, "round": round}),
            })
            .collect();
        s.bulk("c", docs).unwrap();
    }
    // 2,510 writes, 10 live: compaction ran (a new segment) and the file is small.
    let seg1 = segment_path(&dir, "c");
    assert_ne!(seg0, seg1);
    assert!(!seg0.exists());
    let r = s.search("c", &json!({"size": 0, "aggs": {"r": {"max": {"field": "round"}}, "n": {"value_count": {"field": "v"}}}})).unwrap();
    assert_eq!(total(&r), 10);
    assert_eq!(r["aggregations"]["r"]["value"], 249.0);
    assert_eq!(r["aggregations"]["n"]["value"], 10);
    let k3 = s.get("c", "k3").unwrap().unwrap();
    assert_eq!(k3.seq_no, 2503);
    s.compact("c").unwrap();
    drop(s);
    // Leftovers of an interrupted compaction are removed on the next load.
    let orphan = dir.join("indices/c/seg-00000099.log");
    std::fs::write(&orphan, b"junk").unwrap();
    let s = EmbeddedStore::open(&dir).unwrap();
    assert_eq!(s.get("c", "k3").unwrap().unwrap().seq_no, 2503);
    assert_eq!(
        s.put("c", "k0", &json!({}), PutMode::Overwrite)
            .unwrap()
            .seq_no,
        2510
    );
}

#[test]
fn lock_is_per_process_and_names_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let a = EmbeddedStore::open(&dir).unwrap();
    let b = EmbeddedStore::open(&dir).unwrap();
    index_one(&a, "x", "1", json!({"v": 1}));
    assert_eq!(total(&b.search("x", &json!({})).unwrap()), 1);
    let lock_path = dir.join("LOCK");
    assert!(std::fs::read_to_string(&lock_path)
        .unwrap()
        .contains(&format!("pid={}", std::process::id())));
    drop(a);
    assert!(lock_path.exists(), "still held by the second handle");
    drop(b);
    assert!(!lock_path.exists());
    // Another live process on this host holds it: pid 1 always exists.
    let host = lock::hostname();
    std::fs::write(&lock_path, format!("pid=1\nhost={host}\n")).unwrap();
    let e = EmbeddedStore::open(&dir).err().unwrap();
    let msg = e.to_string();
    assert!(matches!(e, StoreError::Locked(_)));
    assert!(
        msg.contains("in use by process 1 on host") && msg.contains(&host) && msg.contains("LOCK"),
        "{msg}"
    );
    // Read-only handles need no lock.
    let ro = EmbeddedStore::open_read_only(&dir).unwrap();
    assert_eq!(total(&ro.search("x", &json!({})).unwrap()), 1);
    assert!(ro.bulk("x", vec![]).is_err());
    // A bare directory is not a `--store` spec (issue 19: a mistyped scheme became a path).
    for open in [crate::store::open, crate::store::open_read_only] {
        assert!(matches!(
            open(&dir.display().to_string()),
            Err(StoreError::NotFound(_))
        ));
    }
    // The same through `store::open_read_only`.
    {
        let spec = format!("embedded:{}", dir.display());
        assert!(matches!(
            crate::store::open(&spec),
            Err(StoreError::Locked(_))
        ));
        let ro = crate::store::open_read_only(&spec).unwrap();
        assert_eq!(total(&ro.search("x", &json!({})).unwrap()), 1);
        assert!(ro.describe().contains("read-only"), "{}", ro.describe());
        let e = ro
            .put("x", "2", &json!({}), PutMode::Overwrite)
            .unwrap_err();
        assert!(matches!(e, StoreError::ReadOnly { .. }), "{e}");
    }
    // Another host: never taken over.
    std::fs::write(&lock_path, "pid=4194999\nhost=elsewhere\n").unwrap();
    assert!(matches!(
        EmbeddedStore::open(&dir),
        Err(StoreError::Locked(_))
    ));
    // A dead pid on this host: taken over.
    std::fs::write(&lock_path, format!("pid=4194999\nhost={host}\n")).unwrap();
    let c = EmbeddedStore::open(&dir).unwrap();
    assert!(std::fs::read_to_string(&lock_path)
        .unwrap()
        .contains(&format!("pid={}", std::process::id())));
    drop(c);
}

#[test]
fn handles_of_one_process_share_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let a = EmbeddedStore::open(&dir).unwrap();
    let b = EmbeddedStore::open(tmp.path().join("d/../d")).unwrap();
    index_one(&a, "x", "1", json!({"v": 1}));
    assert_eq!(total(&b.search("x", &json!({})).unwrap()), 1);
    index_one(&b, "x", "2", json!({"v": 2}));
    index_one(&a, "x", "3", json!({"v": 3}));
    assert_eq!(total(&b.search("x", &json!({})).unwrap()), 3);
    drop((a, b));
    let c = EmbeddedStore::open(&dir).unwrap();
    assert_eq!(matching_in(&c, "x"), ["1", "2", "3"]);
}

fn matching_in(s: &EmbeddedStore, index: &str) -> Vec<String> {
    ids(&s.search(index, &json!({"sort": ["_id"]})).unwrap())
}

#[test]
fn read_only_refresh_sees_new_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let w = EmbeddedStore::open(&dir).unwrap();
    index_one(&w, "x", "1", json!({"v": 1}));
    let ro = EmbeddedStore::open_read_only(&dir).unwrap();
    assert_eq!(total(&ro.search("x", &json!({})).unwrap()), 1);
    index_one(&w, "x", "2", json!({"v": 2}));
    assert_eq!(
        total(&ro.search("x", &json!({})).unwrap()),
        1,
        "a snapshot until refresh"
    );
    ro.refresh("x").unwrap();
    assert_eq!(total(&ro.search("x", &json!({})).unwrap()), 2);
    assert!(ro.describe().contains("read-only"));
    assert_eq!(
        total(
            &EmbeddedStore::open_read_only(tmp.path().join("none"))
                .unwrap()
                .search("x", &json!({}))
                .unwrap()
        ),
        0
    );
}

#[test]
fn read_only_handles_follow_a_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let w = EmbeddedStore::open(&dir).unwrap();
    for v in 0..3 {
        let docs = (0..50)
            .map(|i| BulkDoc {
                id: Some(format!("id{i}")),
                source: json!({"v": v, "i": i}),
            })
            .collect();
        w.bulk("x", docs).unwrap();
    }
    let ro = EmbeddedStore::open_read_only(&dir).unwrap();
    assert_eq!(total(&ro.search("x", &json!({})).unwrap()), 50);
    let seg = |n: u32, ext: &str| dir.join(format!("indices/x/seg-{n:08}.{ext}"));
    assert!(seg(1, "log").exists());
    w.compact("x").unwrap();
    assert!(
        !seg(1, "log").exists() && seg(2, "col").exists() && seg(3, "log").exists(),
        "compaction switched segments"
    );
    ro.refresh("x").unwrap();
    let r = ro
        .search("x", &json!({"query": {"term": {"v": 2}}, "size": 0}))
        .unwrap();
    assert_eq!(total(&r), 50);
}

/// Sources stay on disk: hits and `get` read them back from the segment, also through a
/// read-only handle whose segment a compaction removed, and a source that cannot be read
/// fails the request with the file's name instead of answering without it.
#[test]
fn sources_are_read_back_from_the_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let w = EmbeddedStore::open(&dir).unwrap();
    for v in 0..3 {
        let docs = (0..20)
            .map(|i| BulkDoc {
                id: Some(format!("id{i}")),
                source: json!({"v": v, "i": i, "text": "é\"\\\t"}),
            })
            .collect();
        w.bulk("x", docs).unwrap();
    }
    let want = json!({"v": 2, "i": 7, "text": "é\"\\\t"});
    let ro = EmbeddedStore::open_read_only(&dir).unwrap();
    assert_eq!(ro.get("x", "id7").unwrap().unwrap().source, want);
    w.compact("x").unwrap();
    // Not refreshed: still the slots of the removed segment, read through its open handle.
    let r = ro
        .search("x", &json!({"query": {"term": {"i": 7}}}))
        .unwrap();
    assert_eq!(r["hits"]["hits"][0]["_source"], want);
    assert_eq!(w.get("x", "id7").unwrap().unwrap().source, want);
    let top = json!({"size": 0, "aggs": {"t": {"top_hits": {"size": 1, "sort": ["i"]}}}});
    let r = w.search("x", &top).unwrap();
    assert_eq!(r["aggregations"]["t"]["hits"]["hits"][0]["_source"]["i"], 0);

    // A newer version in the open segment (the log), whose file is then cut short.
    let newer = json!({"v": 3, "i": 7});
    w.put("x", "id7", &newer, PutMode::Overwrite).unwrap();
    assert_eq!(w.get("x", "id7").unwrap().unwrap().source, newer);
    let top =
        json!({"size": 0, "query": {"term": {"v": 3}}, "aggs": {"t": {"top_hits": {"size": 1}}}});
    let seg = segment_path(&dir, "x");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(10)
        .unwrap();
    let err = w.get("x", "id7").unwrap_err().to_string();
    assert!(err.contains(&seg.display().to_string()), "{err}");
    let err = w.search("x", &top).unwrap_err().to_string();
    assert!(err.contains(&seg.display().to_string()), "{err}");
}

#[test]
fn responses_are_deterministic() {
    let body = json!({"size": 3, "sort": [{"bytes": "desc"}], "aggs": {
        "t": {"terms": {"field": "source.address", "size": 10}, "aggs": {"u": {"terms": {"field": "url.original"}}}},
        "c": {"composite": {"sources": [{"a": {"terms": {"field": "source.address"}}}, {"u": {"terms": {"field": "url.original"}}}]}}
    }});
    let run = || {
        let (_t, s) = store();
        let mut r = s.search("logs", &body).unwrap();
        r["took"] = json!(0);
        serde_json::to_string(&r).unwrap()
    };
    let a = run();
    assert_eq!(a, run());
    // Equal counts order by key: 10.0.0.1 (3), then 10.0.0.2 (2), 10.0.0.3 (1); /a before /b.
    let v: Value = serde_json::from_str(&a).unwrap();
    let keys: Vec<&str> = v["aggregations"]["t"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert_eq!(
        v["aggregations"]["c"]["after_key"],
        json!({"a": "10.0.0.3", "u": "/c"})
    );
}

/// Nanoseconds this thread has run on a CPU (the machine is shared: wall time overstates).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// `count` documents of a synthetic access log of `n` documents over `span` ms from T0.
fn synthetic_docs(count: usize, n: usize, span: i64) -> Vec<BulkDoc> {
    let countries = [
        "US", "DE", "FR", "GB", "JP", "BR", "IN", "CN", "RU", "CA", "AU", "NL",
    ];
    let statuses = [200, 200, 200, 200, 304, 404, 500, 503];
    let mut x: u64 = 42;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..count)
        .map(|i| {
            let r = rnd();
            let t = T0 + (i as i64 * span / n as i64);
            BulkDoc {
                id: Some(format!("d{i}")),
                source: json!({
                    "@timestamp": crate::time::format_millis(t),
                    "source": {"address": format!("10.{}.{}.{}", r % 8, (r >> 8) % 64, (r >> 16) % 50), "geo": {"country_iso_code": countries[(r >> 24) as usize % countries.len()]}},
                    "http": {"request": {"method": "GET"}, "response": {"status_code": statuses[(r >> 32) as usize % statuses.len()], "body": {"bytes": (r >> 40) % 50_000}}},
                    "url": {"original": format!("/page/{}", ((r >> 20) % 5000) / (1 + (r >> 50) % 20))},
                    "user_agent": {"original": "Mozilla/5.0"}
                }),
            }
        })
        .collect()
}

/// Pages through the datafeed-shaped composite request over the perf index.
fn composite_page_count(s: &EmbeddedStore) -> usize {
    let mut pages = 0;
    let mut after: Option<Value> = None;
    loop {
        let mut comp = json!({"size": 1000, "sources": [
            {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "15m"}}},
            {"c": {"terms": {"field": "source.geo.country_iso_code"}}}]});
        if let Some(a) = &after {
            comp["after"] = a.clone();
        }
        let r = s.search("nginx", &json!({"size": 0, "aggs": {"c": {"composite": comp, "aggs": {"dc": {"cardinality": {"field": "url.original"}}}}}})).unwrap();
        pages += 1;
        match r["aggregations"]["c"].get("after_key") {
            Some(a) => after = Some(a.clone()),
            None => break,
        }
    }
    pages
}

/// Throughput over a synthetic access log. Run in release:
/// `cargo test --release --lib store::embedded::tests::perf -- --ignored --nocapture`.
#[test]
#[ignore]
fn perf_500k() {
    let n: usize = std::env::var("TW_PERF_DOCS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500_000);
    let tmp = tempfile::tempdir().unwrap();
    // TW_PERF_DIR keeps the data; a second run over it only loads and queries (to measure
    // the memory of a loaded store alone with `/usr/bin/time -v`).
    let dir = std::env::var("TW_PERF_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| tmp.path().join("d"));
    let reuse = dir.join("indices/nginx/manifest.json").exists();
    let t0 = T0;
    let span = 14 * 86_400_000i64;
    let docs = synthetic_docs(if reuse { 0 } else { n }, n, span);
    let s = EmbeddedStore::open(&dir).unwrap();
    let start = std::time::Instant::now();
    let c0 = cpu_ns();
    let mut it = docs.into_iter();
    loop {
        let chunk: Vec<BulkDoc> = it.by_ref().take(10_000).collect();
        if chunk.is_empty() {
            break;
        }
        s.bulk("nginx", chunk).unwrap();
    }
    let bulk = start.elapsed();
    let bulk_cpu = (cpu_ns() - c0) as f64 / 1e9;
    drop(s);
    let start = std::time::Instant::now();
    let c0 = cpu_ns();
    let s = EmbeddedStore::open(&dir).unwrap();
    assert_eq!(
        total(
            &s.search("nginx", &json!({"size": 0, "track_total_hits": true}))
                .unwrap()
        ),
        n as u64
    );
    let load = start.elapsed();
    let load_cpu = (cpu_ns() - c0) as f64 / 1e9;
    let body = json!({
        "size": 0,
        "query": {"bool": {"filter": [{"range": {"@timestamp": {"gte": t0, "lt": t0 + span, "format": "epoch_millis"}}}]}},
        "aggs": {"buckets": {"date_histogram": {"field": "@timestamp", "fixed_interval": "15m"},
            "aggs": {"by": {"terms": {"field": "source.geo.country_iso_code", "size": 10000},
                "aggs": {"dc": {"cardinality": {"field": "url.original"}}}}}}}
    });
    let start = std::time::Instant::now();
    let c0 = cpu_ns();
    let r = s.search("nginx", &body).unwrap();
    let q1 = start.elapsed();
    let q1_cpu = (cpu_ns() - c0) as f64 / 1e9;
    assert_eq!(
        r["aggregations"]["buckets"]["buckets"]
            .as_array()
            .unwrap()
            .len(),
        14 * 96
    );
    let start = std::time::Instant::now();
    let pages = composite_page_count(&s);
    let comp = start.elapsed();
    let rss = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_string();
    let disk: u64 = std::fs::read_dir(dir.join("indices").join("nginx"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    eprintln!("perf: peak {rss}; on disk {:.0} MB", disk as f64 / 1e6);
    eprintln!(
        "perf: CPU time: bulk {bulk_cpu:.2}s ({:.0} docs/s); load {load_cpu:.2}s ({:.0} docs/s); datafeed request {:.0} ms",
        n as f64 / bulk_cpu,
        n as f64 / load_cpu,
        q1_cpu * 1000.0
    );
    eprintln!(
        "perf: {n} docs; bulk {:.2}s ({:.0} docs/s); reopen+load {:.2}s ({:.0} docs/s); datafeed request {:.0} ms; composite paging {} pages in {:.2}s",
        bulk.as_secs_f64(),
        n as f64 / bulk.as_secs_f64(),
        load.as_secs_f64(),
        n as f64 / load.as_secs_f64(),
        q1.as_secs_f64() * 1000.0,
        pages,
        comp.as_secs_f64()
    );
}

fn shared_data() -> Option<PathBuf> {
    let dir = crate::shared_data::shared_data_dir();
    dir.join("logs").exists().then_some(dir)
}

/// The real nginx sample, loaded with a minimal parser; the store's aggregations must agree
/// with counts computed directly from the lines.
#[test]
fn real_nginx_log_aggregations_match_direct_counts() {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::BufRead;
    let Some(data) = shared_data() else {
        eprintln!("shared data not found (set TIDEWATCH_SHARED_DATA); skipping");
        return;
    };
    let file = std::fs::File::open(data.join("logs/nginx_access_elastic_example.log.gz")).unwrap();
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    let mut docs = Vec::new();
    let mut by_status: BTreeMap<i64, u64> = BTreeMap::new();
    let mut ips = BTreeSet::new();
    let mut by_day: BTreeMap<i64, u64> = BTreeMap::new();
    let mut ips_404 = BTreeSet::new();
    for line in reader.lines() {
        let line = line.unwrap();
        let ip = line.split_whitespace().next().unwrap().to_string();
        let ts = &line[line.find('[').unwrap() + 1..line.find(']').unwrap()];
        let t = crate::time::parse_timestamp(ts).unwrap();
        let after_req = &line[line.find("\" ").unwrap() + 2..];
        let status: i64 = after_req
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        *by_status.entry(status).or_default() += 1;
        *by_day
            .entry(t.div_euclid(86_400_000) * 86_400_000)
            .or_default() += 1;
        if status == 404 {
            ips_404.insert(ip.clone());
        }
        ips.insert(ip.clone());
        docs.push(BulkDoc {
            id: None,
            source: json!({"@timestamp": crate::time::format_millis(t), "source": {"address": ip}, "http": {"response": {"status_code": status}}}),
        });
    }
    let n = docs.len() as u64;
    let tmp = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(tmp.path()).unwrap();
    assert_eq!(s.bulk("nginx", docs).unwrap().stored as u64, n);
    let r = s
        .search(
            "nginx",
            &json!({"size": 0, "track_total_hits": true, "aggs": {
                "status": {"terms": {"field": "http.response.status_code", "size": 100, "order": {"_key": "asc"}}},
                "ips": {"cardinality": {"field": "source.address"}},
                "days": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1d", "min_doc_count": 1}},
                "nf": {"filter": {"term": {"http.response.status_code": 404}}, "aggs": {"ips": {"cardinality": {"field": "source.address"}}}}
            }}),
        )
        .unwrap();
    assert_eq!(total(&r), n);
    let a = &r["aggregations"];
    let got: BTreeMap<i64, u64> = a["status"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["key"].as_i64().unwrap(), b["doc_count"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, by_status);
    assert_eq!(a["ips"]["value"].as_u64().unwrap(), ips.len() as u64);
    let days: BTreeMap<i64, u64> = a["days"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["key"].as_i64().unwrap(), b["doc_count"].as_u64().unwrap()))
        .collect();
    assert_eq!(days, by_day);
    assert_eq!(a["nf"]["doc_count"].as_u64().unwrap(), by_status[&404]);
    assert_eq!(
        a["nf"]["ips"]["value"].as_u64().unwrap(),
        ips_404.len() as u64
    );
}

#[test]
fn concurrent_searches_and_writes() {
    let (_t, s) = store();
    let s = std::sync::Arc::new(s);
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            for i in 0..50 {
                let doc = BulkDoc {
                    id: Some(format!("w{i}")),
                    source: json!({"url": {"original": "/w"}, "bytes": i}),
                };
                s.bulk("logs", vec![doc]).unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut last = 0;
                for _ in 0..50 {
                    let r = s
                        .search(
                            "logs",
                            &json!({"size": 0, "query": {"term": {"url.original": "/w"}}}),
                        )
                        .unwrap();
                    let n = total(&r);
                    assert!(n >= last, "counts never go backwards");
                    last = n;
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(total(&s.search("logs", &json!({"size": 0})).unwrap()), 56);
}

#[test]
fn search_after_pages_through_ties_with_an_id_key() {
    let (_t, s) = store();
    // bytes 250 appears twice (docs 2 and 6); `_id` as second key makes pages exact.
    let mut seen = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let mut body = json!({"size": 2, "sort": [{"latency": "desc"}, "_id"], "_source": false});
        if let Some(a) = &after {
            body["search_after"] = a.clone();
        }
        let r = s.search("logs", &body).unwrap();
        let hits = r["hits"]["hits"].as_array().unwrap();
        if hits.is_empty() {
            break;
        }
        seen.extend(ids(&r));
        after = Some(hits.last().unwrap()["sort"].clone());
    }
    // latency: 6 -> 2.0, 5 -> 0.5, then the missing ones by id.
    assert_eq!(seen, ["6", "5", "1", "2", "3", "4"]);
}

#[test]
fn too_many_buckets_fails_like_search_max_buckets() {
    let tmp = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(tmp.path().join("data")).unwrap();
    index_one(&s, "b", "1", json!({"@timestamp": T0}));
    index_one(&s, "b", "2", json!({"@timestamp": T0 + 65_535}));
    let histo = |interval: &str| json!({"size": 0, "aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": interval}}}});
    // 65,536 buckets (empty ones filled) are allowed.
    let r = s.search("b", &histo("1ms")).unwrap();
    assert_eq!(
        r["aggregations"]["h"]["buckets"].as_array().unwrap().len(),
        65_536
    );
    // One more is not: Elasticsearch's too_many_buckets_exception, as a bad request.
    index_one(&s, "b", "3", json!({"@timestamp": T0 + 65_536}));
    let err = s.search("b", &histo("1ms")).unwrap_err().to_string();
    assert!(
        err.contains("too_many_buckets_exception: Trying to create too many buckets. Must be less than or equal to: [65536] but was [65537]. This limit can be set by changing the [search.max_buckets] cluster level setting."),
        "{err}"
    );
    assert!(
        matches!(
            s.search("b", &histo("1ms")),
            Err(StoreError::TooManyBuckets {
                limit: 65_536,
                requested: 65_537
            })
        ),
        "{err}"
    );
    // Buckets count across the whole response (here under a composite), and a `1ms`
    // histogram over two hours (7.2 M buckets) fails before filling them.
    index_one(&s, "b", "4", json!({"@timestamp": T0 + 120 * MIN}));
    let started = std::time::Instant::now();
    let body = json!({"size": 0, "aggs": {"c": {
        "composite": {"sources": [{"t": {"histogram": {"field": "@timestamp", "interval": 1e15}}}]},
        "aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1ms"}}}
    }}});
    let err = s.search("b", &body).unwrap_err().to_string();
    assert!(err.contains("too_many_buckets_exception"), "{err}");
    let err = s.search("b", &histo("1ms")).unwrap_err().to_string();
    assert!(err.contains("but was [7200001]"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // Many buckets made of documents count too (terms here): 4 + 65,536 > 65,536.
    let body = json!({"size": 0, "aggs": {
        "t": {"terms": {"field": "@timestamp"}},
        "h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1ms", "hard_bounds": {"min": T0, "max": T0 + 65_535}}}
    }});
    let err = s.search("b", &body).unwrap_err().to_string();
    assert!(err.contains("but was [65540]"), "{err}");
}

/// Seals the open segment of `index` (as a write does once it holds `SEAL_DOCS` versions).
fn seal(s: &EmbeddedStore, index: &str) {
    let mut inner = s.write_loaded(&[index.to_string()]).unwrap();
    let Inner { interner, indices } = &mut *inner;
    indices.get_mut(index).unwrap().seal(interner).unwrap();
}

/// Every response to `bodies`, without `took`.
fn answers(s: &EmbeddedStore, bodies: &[Value]) -> Vec<Value> {
    bodies
        .iter()
        .map(|b| {
            let mut r = s.search("logs", b).unwrap();
            r.as_object_mut().unwrap().remove("took");
            r
        })
        .collect()
}

/// Sealed (columnar) segments answer every request exactly as the log they were sealed from,
/// before and after a reopen: mixed types, arrays, decimals, dates, booleans, ids of every
/// shape, deletes and overwrites of sealed documents by a later log.
#[test]
fn sealed_segments_answer_like_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let s = EmbeddedStore::open(&dir).unwrap();
    s.bulk("logs", fixture()).unwrap();
    let extra: Vec<BulkDoc> = (0..300)
        .map(|i| {
            let latency = [0.1, 2.0, 0.044, 1e300, -0.0, 12.5][i % 6];
            BulkDoc {
            id: Some(if i % 3 == 0 {
                format!("{:032x}", i * 7919)
            } else {
                format!("doc-é-{i}")
            }),
            source: json!({
                "@timestamp": format!("2015-05-17T0{}:{:02}:{:02}.{:03}Z", i % 3, i % 60, (i * 7) % 60, i % 1000),
                "bytes": i * 37 % 1000,
                "latency": latency,
                "mixed": if i % 4 == 0 { json!("x") } else { json!(i) },
                "tags": if i % 5 == 0 { json!(["a", "b"]) } else { json!("c") },
                "ok": i % 2 == 0,
                "source": {"address": format!("10.0.{}.{}", i % 3, i % 7)},
                "neg": -(i as i64) * 1000,
            }),
        }})
        .collect();
    s.bulk("logs", extra).unwrap();
    let bodies = [
        json!({"size": 400, "sort": ["_id"]}),
        json!({"size": 50, "sort": [{"latency": "desc"}, {"@timestamp": "asc"}], "_source": ["bytes", "tags"]}),
        json!({"query": {"range": {"@timestamp": {"gte": "2015-05-17T01:00:00Z", "lt": "2015-05-17T02:00:00Z"}}}, "size": 5}),
        json!({"query": {"term": {"mixed": "x"}}, "size": 0}),
        // Ranges a segment's bounds answer whole: all inside, all outside, negated, absent.
        json!({"query": {"range": {"neg": {"lte": 0}}}, "size": 0}),
        json!({"query": {"range": {"@timestamp": {"gt": "2016-01-01T00:00:00Z"}}}, "size": 0}),
        json!({"query": {"bool": {"must_not": {"range": {"bytes": {"gte": 0}}}}}, "size": 20}),
        json!({"query": {"bool": {"filter": [{"range": {"ok": {"gte": 0}}}, {"range": {"nothere": {"gte": 0}}}]}}, "size": 0}),
        json!({"query": {"range": {"latency": {"gte": 0.1, "lt": 12.5}}}, "size": 0}),
        json!({"query": {"terms": {"tags": ["a", "y"]}}, "size": 3}),
        json!({"query": {"query_string": {"query": "ok:true AND bytes:>=500"}}, "size": 0}),
        json!({"query": {"bool": {"must_not": {"exists": {"field": "latency"}}}}, "size": 10}),
        json!({"size": 0, "aggs": {
            "t": {"terms": {"field": "source.address", "size": 50}, "aggs": {"s": {"stats": {"field": "bytes"}}}},
            "m": {"terms": {"field": "mixed", "size": 5}},
            "l": {"terms": {"field": "latency"}},
            "h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "10m"}, "aggs": {"c": {"cardinality": {"field": "source.address"}}}},
            "p": {"percentiles": {"field": "neg"}},
            "b": {"terms": {"field": "ok"}},
            "top": {"top_hits": {"size": 3, "sort": [{"bytes": "desc"}]}},
            "x": {"max": {"field": "@timestamp"}},
        }}),
        json!({"size": 0, "aggs": {"c": {"composite": {"size": 100, "sources": [
            {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "15m"}}},
            {"a": {"terms": {"field": "source.address"}}}]}}}}),
    ];
    let before = answers(&s, &bodies);
    let caps = s.field_caps("logs", &["*".to_string()]).unwrap();
    seal(&s, "logs");
    let col = dir.join("indices/logs/seg-00000002.col");
    assert!(col.exists(), "sealed");
    assert_eq!(answers(&s, &bodies), before);
    assert_eq!(s.field_caps("logs", &["*".to_string()]).unwrap(), caps);
    drop(s);
    let s = EmbeddedStore::open(&dir).unwrap();
    assert_eq!(answers(&s, &bodies), before);
    let got = s.get("logs", "doc-é-7").unwrap().unwrap();
    assert_eq!(got.source["bytes"], 7 * 37);

    // A later log deletes and overwrites sealed documents; sealed again, they stay so.
    let n = s
        .delete_by_query("logs", &json!({"term": {"mixed": "x"}}))
        .unwrap();
    assert_eq!(n, 75);
    s.put("logs", "doc-é-7", &json!({"bytes": 1}), PutMode::Overwrite)
        .unwrap();
    let after_writes = answers(&s, &bodies);
    seal(&s, "logs");
    assert_eq!(answers(&s, &bodies), after_writes);
    drop(s);
    let s = EmbeddedStore::open(&dir).unwrap();
    assert_eq!(answers(&s, &bodies), after_writes);
    assert_eq!(total(&s.search("logs", &json!({})).unwrap()), 306 - 75);
    let v = s.get("logs", "doc-é-7").unwrap().unwrap();
    assert_eq!(v.source, json!({"bytes": 1}));
    s.compact("logs").unwrap();
    assert_eq!(answers(&s, &bodies), after_writes);
}

/// A sealed segment whose bytes changed is corruption: reads are refused naming the file.
#[test]
fn a_corrupted_sealed_segment_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let s = EmbeddedStore::open(&dir).unwrap();
    s.bulk("logs", fixture()).unwrap();
    seal(&s, "logs");
    drop(s);
    let col = dir.join("indices/logs/seg-00000002.col");
    let mut bytes = std::fs::read(&col).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&col, bytes).unwrap();
    let s = EmbeddedStore::open(&dir).unwrap();
    let err = s.search("logs", &json!({})).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("seg-00000002.col"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// Every document of `index`, by id, with its seq_no.
fn all_docs(s: &EmbeddedStore, index: &str) -> Vec<(String, u64, Value)> {
    let r = s
        .search(
            index,
            &json!({"size": 10_000, "sort": ["_id"], "seq_no_primary_term": true}),
        )
        .unwrap();
    let mut out = Vec::new();
    for h in r["hits"]["hits"].as_array().unwrap() {
        let id = h["_id"].as_str().unwrap().to_string();
        let v = s.get(index, &id).unwrap().unwrap();
        out.push((id, v.seq_no, h["_source"].clone()));
    }
    out
}

/// A process killed at any step of a seal leaves a store that opens with every acknowledged
/// document exactly once: before the manifest switch (the new sealed segment, the new log
/// and a manifest draft are leftovers, removed on open) and after it (the old log is the
/// leftover).
#[test]
fn a_seal_killed_at_any_step_keeps_every_document_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let s = EmbeddedStore::open(&dir).unwrap();
    s.bulk("logs", fixture()).unwrap();
    seal(&s, "logs");
    let more: Vec<BulkDoc> = (0..50)
        .map(|i| BulkDoc {
            id: Some(format!("m{i}")),
            source: json!({"i": i}),
        })
        .collect();
    s.bulk("logs", more).unwrap();
    s.delete_by_query("logs", &json!({"term": {"_id": "2"}}))
        .unwrap();
    let expected = all_docs(&s, "logs");
    drop(s);
    let before = tmp.path().join("before");
    copy_dir(&dir, &before);
    let s = EmbeddedStore::open(&dir).unwrap();
    seal(&s, "logs");
    assert_eq!(all_docs(&s, "logs"), expected);
    drop(s);
    let ix = |root: &Path| root.join("indices/logs");
    let names = |root: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(ix(root))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let after_names = names(&dir);
    let before_names = names(&before);

    // Killed before the manifest switch: the new files are there, the manifest is the old one.
    let crashed = tmp.path().join("crash-before-switch");
    copy_dir(&before, &crashed);
    for n in after_names.iter().filter(|n| n.starts_with("seg-")) {
        std::fs::copy(ix(&dir).join(n), ix(&crashed).join(n)).unwrap();
    }
    std::fs::write(ix(&crashed).join("manifest.json.tmp"), b"{\"format\":").unwrap();
    let s = EmbeddedStore::open(&crashed).unwrap();
    assert_eq!(all_docs(&s, "logs"), expected);
    assert_eq!(names(&crashed), before_names, "leftovers removed");
    s.put("logs", "n", &json!({"n": 1}), PutMode::Create)
        .unwrap();
    drop(s);

    // Killed after the switch, before the old log was removed.
    let crashed = tmp.path().join("crash-after-switch");
    copy_dir(&dir, &crashed);
    for n in before_names.iter().filter(|n| n.ends_with(".log")) {
        std::fs::copy(ix(&before).join(n), ix(&crashed).join(n)).unwrap();
    }
    let s = EmbeddedStore::open(&crashed).unwrap();
    assert_eq!(all_docs(&s, "logs"), expected);
    assert_eq!(names(&crashed), after_names, "old log removed");
}

/// The segment files and manifest of `index` under the store root `root`, sorted.
fn index_files(root: &Path, index: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("indices").join(index))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs `op` on the store in `dir`, then rebuilds the two states a kill -9 around its
/// manifest switch leaves, and checks that each opens with every document exactly once and
/// without leftovers: killed before the switch (the new segments written, a manifest draft,
/// the old manifest) it holds what it held before `op`; killed after it (the replaced
/// segments not yet removed) it holds what it holds after `op`.
fn check_kill_around_switch(tmp: &Path, label: &str, dir: &Path, op: impl Fn(&EmbeddedStore)) {
    let s = EmbeddedStore::open(dir).unwrap();
    let expected_before = all_docs(&s, "logs");
    drop(s);
    let before = tmp.join(format!("{label}-before"));
    copy_dir(dir, &before);
    let s = EmbeddedStore::open(dir).unwrap();
    op(&s);
    let expected_after = all_docs(&s, "logs");
    drop(s);
    let ix = |root: &Path| root.join("indices/logs");
    let (before_names, after_names) = (index_files(&before, "logs"), index_files(dir, "logs"));
    assert_ne!(
        before_names, after_names,
        "{label}: the operation switched segments"
    );

    let crashed = tmp.join(format!("{label}-killed-before-switch"));
    copy_dir(&before, &crashed);
    for n in after_names.iter().filter(|n| n.ends_with(".col")) {
        std::fs::copy(ix(dir).join(n), ix(&crashed).join(n)).unwrap();
    }
    std::fs::write(ix(&crashed).join("manifest.json.tmp"), b"{\"segm").unwrap();
    let s = EmbeddedStore::open(&crashed).unwrap();
    assert_eq!(
        all_docs(&s, "logs"),
        expected_before,
        "{label}: killed before"
    );
    assert_eq!(
        index_files(&crashed, "logs"),
        before_names,
        "{label}: leftovers"
    );
    s.put("logs", "after-crash", &json!({"n": 1}), PutMode::Create)
        .unwrap();
    drop(s);

    let crashed = tmp.join(format!("{label}-killed-after-switch"));
    copy_dir(dir, &crashed);
    for n in before_names.iter().filter(|n| n.starts_with("seg-")) {
        if !after_names.contains(n) {
            std::fs::copy(ix(&before).join(n), ix(&crashed).join(n)).unwrap();
        }
    }
    let s = EmbeddedStore::open(&crashed).unwrap();
    assert_eq!(
        all_docs(&s, "logs"),
        expected_after,
        "{label}: killed after"
    );
    assert_eq!(
        index_files(&crashed, "logs"),
        after_names,
        "{label}: leftovers"
    );
}

/// `batches` batches of 50 documents, one day per batch (batch 0 the oldest, from day 0 of
/// May 2015), each sealed into its own segment; a later batch overwrites two documents of
/// the one before.
fn sealed_batches(dir: &Path, batches: usize) {
    let s = EmbeddedStore::open(dir).unwrap();
    for b in 0..batches {
        let docs = (0..50)
            .map(|i| BulkDoc {
                id: Some(format!("b{b}-{i}")),
                source: json!({"@timestamp": format!("2015-05-{:02}T{:02}:00:00Z", b + 1, i % 24), "b": b, "i": i}),
            })
            .chain((0..2).filter(|_| b > 0).map(|i| BulkDoc {
                id: Some(format!("b{}-{i}", b - 1)),
                source: json!({"@timestamp": format!("2015-05-{:02}T00:30:00Z", b + 1), "b": b, "over": i}),
            }))
            .collect();
        s.bulk("logs", docs).unwrap();
        seal(&s, "logs");
    }
}

/// Compaction, the merge of small segments and both steps of a prune (dropping whole
/// segments, rewriting the ones holding deleted documents), each killed around its manifest
/// switch: every acknowledged document is there once, as before or as after the step.
#[test]
fn compaction_merge_and_prune_killed_around_their_switch_keep_every_document_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    sealed_batches(&dir, 5);
    EmbeddedStore::open(&dir)
        .unwrap()
        .delete_by_query("logs", &json!({"term": {"i": 7}}))
        .unwrap();
    check_kill_around_switch(tmp.path(), "merge", &dir, |s| {
        let mut inner = s.write_loaded(&["logs".to_string()]).unwrap();
        let Inner { interner, indices } = &mut *inner;
        indices
            .get_mut("logs")
            .unwrap()
            .merge_small(interner)
            .unwrap();
    });
    sealed_batches(&dir, 3);
    check_kill_around_switch(tmp.path(), "compact", &dir, |s| s.compact("logs").unwrap());
    let dir = tmp.path().join("p");
    sealed_batches(&dir, 6);
    // Day 3 (batch 2) noon: batches 0 and 1 go whole, batch 2 in part.
    let cutoff = crate::time::parse_timestamp("2015-05-03T12:00:00Z").unwrap();
    check_kill_around_switch(tmp.path(), "prune-drop", &dir, |s| {
        let mut inner = s.write_loaded(&["logs".to_string()]).unwrap();
        let Inner { interner, indices } = &mut *inner;
        let st = indices.get_mut("logs").unwrap();
        let col = st.columns.id("@timestamp").unwrap();
        assert!(
            st.drop_older_segments(col, cutoff as f64, interner)
                .unwrap()
                > 0
        );
    });
    check_kill_around_switch(tmp.path(), "prune-rest", &dir, |s| {
        s.prune_older("logs", "@timestamp", cutoff).unwrap();
    });
    let s = EmbeddedStore::open(&dir).unwrap();
    let old = json!({"query": {"range": {"@timestamp": {"lt": cutoff, "format": "epoch_millis"}}}});
    assert_eq!(total(&s.search("logs", &old).unwrap()), 0);
}

/// A prune drops the oldest segments whole (their files removed, the newer ones untouched),
/// deletes the older documents of the segment the cutoff falls in and rewrites only that one.
#[test]
fn prune_drops_whole_segments_and_rewrites_only_the_one_the_cutoff_cuts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    sealed_batches(&dir, 5);
    let before = index_files(&dir, "logs");
    let s = EmbeddedStore::open(&dir).unwrap();
    let all = total(&s.search("logs", &json!({})).unwrap());
    let cutoff = crate::time::parse_timestamp("2015-05-03T12:00:00Z").unwrap();
    let old = json!({"query": {"range": {"@timestamp": {"lt": cutoff, "format": "epoch_millis"}}}});
    let n_old = total(&s.search("logs", &old).unwrap());
    let removed = s.prune_older("logs", "@timestamp", cutoff).unwrap();
    assert_eq!(removed, n_old);
    assert_eq!(total(&s.search("logs", &json!({})).unwrap()), all - n_old);
    assert_eq!(total(&s.search("logs", &old).unwrap()), 0);
    let after = index_files(&dir, "logs");
    // Segments 1 and 2 (batches 0, 1) are gone, 3 (batch 2) rewritten, 4 and 5 kept.
    let cols = |v: &[String]| -> Vec<String> {
        v.iter().filter(|n| n.ends_with(".col")).cloned().collect()
    };
    let (b, a) = (cols(&before), cols(&after));
    assert_eq!(b.len(), 5);
    assert_eq!(a.len(), 3, "{a:?}");
    assert!(
        !a.contains(&b[0]) && !a.contains(&b[1]) && !a.contains(&b[2]),
        "{a:?}"
    );
    assert!(a.contains(&b[3]) && a.contains(&b[4]), "{a:?}");
    drop(s);
    let s = EmbeddedStore::open(&dir).unwrap();
    assert_eq!(total(&s.search("logs", &json!({})).unwrap()), all - n_old);
}

/// Small sealed segments side by side are merged once there are four of them, keeping
/// every answer.
#[test]
fn small_sealed_segments_are_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    sealed_batches(&dir, 3);
    let s = EmbeddedStore::open(&dir).unwrap();
    let bodies = [
        json!({"query": {"exists": {"field": "b"}}, "size": 500, "sort": ["_id"], "seq_no_primary_term": true}),
        json!({"query": {"exists": {"field": "b"}}, "size": 0, "aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}, "aggs": {"m": {"max": {"field": "i"}}}}}}),
    ];
    let before = answers(&s, &bodies);
    let docs: Vec<BulkDoc> = (0..SEAL_ON_REFRESH)
        .map(|i| BulkDoc {
            id: Some(format!("r{i}")),
            source: json!({"@timestamp": "2015-06-01T00:00:00Z", "r": i}),
        })
        .collect();
    s.bulk("logs", docs).unwrap();
    s.refresh("logs").unwrap();
    let cols = index_files(&dir, "logs")
        .into_iter()
        .filter(|n| n.ends_with(".col"))
        .count();
    assert_eq!(cols, 1, "{:?}", index_files(&dir, "logs"));
    let r = s.search(
        "logs",
        &json!({"query": {"exists": {"field": "r"}}, "size": 0, "track_total_hits": true}),
    );
    assert_eq!(total(&r.unwrap()), SEAL_ON_REFRESH as u64);
    assert_eq!(answers(&s, &bodies), before);
    drop(s);
    let s = EmbeddedStore::open(&dir).unwrap();
    assert_eq!(answers(&s, &bodies), before);
}

/// Documents as ingest hands them over: each source serialised, its scalar leaves in
/// `_source` order (arrays give each element at the same path).
fn flat_of(docs: &[BulkDoc]) -> FlatDocs {
    fn walk(path: &str, v: &Value, out: &mut FlatDocs) {
        let value = match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&p, child, out);
                }
                return;
            }
            Value::Array(items) => {
                items.iter().for_each(|item| walk(path, item, out));
                return;
            }
            Value::Number(n) => crate::store::LeafValue::Num(n.as_f64().unwrap(), n.is_f64()),
            Value::String(s) => {
                let start = out.text.len();
                out.text.push_str(s);
                crate::store::LeafValue::Str(start..out.text.len())
            }
            _ => return,
        };
        let field = match out.fields.iter().position(|f| f == path) {
            Some(i) => i,
            None => {
                out.fields.push(path.to_owned());
                out.fields.len() - 1
            }
        } as u32;
        out.leaves.push(crate::store::Leaf { field, value });
    }
    let mut out = FlatDocs::default();
    for d in docs {
        let id_start = out.text.len();
        out.text.push_str(d.id.as_deref().unwrap());
        let id = id_start..out.text.len();
        let source_start = out.json.len();
        out.json
            .push_str(&serde_json::to_string(&d.source).unwrap());
        let source = source_start..out.json.len();
        let leaves_start = out.leaves.len();
        walk("", &d.source, &mut out);
        let leaves = leaves_start..out.leaves.len();
        out.docs.push(crate::store::FlatDoc { id, source, leaves });
    }
    out
}

/// Every file of an index folder, by name.
fn index_file_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn flat_documents_are_stored_byte_for_byte_as_their_trees() {
    let mut docs = fixture();
    docs.push(BulkDoc {
        id: Some(String::new()),
        source: json!({"a": 1}),
    });
    docs.extend(synthetic_docs(20_000, 20_000, 86_400_000));
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let (sa, sb) = (
        EmbeddedStore::open(a.clone()).unwrap(),
        EmbeddedStore::open(b.clone()).unwrap(),
    );
    let flat = flat_of(&docs);
    let (ra, rb) = (
        sa.bulk("logs", docs).unwrap(),
        sb.bulk_flat("logs", &flat).unwrap(),
    );
    assert_eq!((ra.stored, &ra.failed), (rb.stored, &rb.failed));
    assert_eq!(rb.failed[0].position, 6);
    sa.refresh("logs").unwrap();
    sb.refresh("logs").unwrap();
    let (fa, fb) = (
        index_file_bytes(&a.join("indices/logs")),
        index_file_bytes(&b.join("indices/logs")),
    );
    assert!(fa.keys().any(|f| f.ends_with(".col")), "{:?}", fa.keys());
    assert_eq!(fa, fb);
    let q = json!({"size": 3, "sort": [{"@timestamp": "desc"}]});
    assert_eq!(
        sa.search("logs", &q).unwrap()["hits"],
        sb.search("logs", &q).unwrap()["hits"]
    );
}

/// A load finds the live documents of the sealed segments in several bounded passes
/// (`RESOLVE_IDS` is small under test) without a map of every id: versions replaced by
/// later segments, by tombstones and by the log's records are dead; `get`, `ids` and the
/// first write after the load (which builds the full id map) agree with what was written.
#[test]
fn a_load_resolves_replaced_sealed_versions_in_passes() {
    use std::collections::BTreeMap;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    // Hex ids as `ingest` makes them (stored as bytes) and text ids, in turns.
    let id = |i: usize| match i % 3 {
        0 => format!(
            "{:032x}",
            (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
        ),
        _ => format!("doc-{i}"),
    };
    let mut expect: BTreeMap<String, i64> = BTreeMap::new();
    {
        let s = EmbeddedStore::open(&dir).unwrap();
        for round in 0..5usize {
            let docs: Vec<BulkDoc> = (round * 60..round * 60 + 200)
                .map(|i| BulkDoc {
                    id: Some(id(i)),
                    source: json!({"n": (i * 10 + round) as i64}),
                })
                .collect();
            for d in &docs {
                expect.insert(d.id.clone().unwrap(), d.source["n"].as_i64().unwrap());
            }
            s.bulk("logs", docs).unwrap();
            let gone = round as i64 * 600 + 300;
            s.delete_by_query(
                "logs",
                &json!({"range": {"n": {"lt": gone, "gte": gone - 40}}}),
            )
            .unwrap();
            expect.retain(|_, n| !(gone - 40..gone).contains(n));
            seal(&s, "logs");
        }
        // The log: new versions and deletes of sealed documents.
        let docs: Vec<BulkDoc> = (0..500)
            .step_by(7)
            .map(|i| BulkDoc {
                id: Some(id(i)),
                source: json!({"n": -(i as i64)}),
            })
            .collect();
        for d in &docs {
            expect.insert(d.id.clone().unwrap(), d.source["n"].as_i64().unwrap());
        }
        s.bulk("logs", docs).unwrap();
        s.delete_by_query("logs", &json!({"range": {"n": {"gte": 1000, "lt": 1100}}}))
            .unwrap();
        expect.retain(|_, n| !(1000..1100).contains(n));
    }
    let check = |s: &EmbeddedStore, expect: &BTreeMap<String, i64>| {
        let got: BTreeMap<String, i64> = all_docs(s, "logs")
            .into_iter()
            .map(|(id, _, src)| (id, src["n"].as_i64().unwrap()))
            .collect();
        assert_eq!(&got, expect);
        for i in [0, 3, 7, 60, 299, 300, 301, 499, 510] {
            let want = expect.get(&id(i)).copied();
            let got = s
                .get("logs", &id(i))
                .unwrap()
                .map(|d| d.source["n"].as_i64().unwrap());
            assert_eq!(got, want, "get {}", id(i));
            let r = s
                .search("logs", &json!({"query": {"ids": {"values": [id(i)]}}}))
                .unwrap();
            assert_eq!(total(&r), u64::from(want.is_some()));
        }
    };
    check(&EmbeddedStore::open_read_only(&dir).unwrap(), &expect);
    let s = EmbeddedStore::open(&dir).unwrap();
    check(&s, &expect);
    // A write replacing a sealed document: the old version is dead at the next read.
    index_one(&s, "logs", &id(1), json!({"n": 7}));
    expect.insert(id(1), 7);
    check(&s, &expect);
    let conflict = s.put("logs", &id(2), &json!({"n": 8}), PutMode::Create);
    assert!(matches!(conflict, Err(StoreError::Conflict { .. })));
    // Many at once, sealed and loaded again: every id once.
    let docs: Vec<BulkDoc> = (100..400)
        .map(|i| BulkDoc {
            id: Some(id(i)),
            source: json!({"n": 5000 + i as i64}),
        })
        .collect();
    for d in &docs {
        expect.insert(d.id.clone().unwrap(), d.source["n"].as_i64().unwrap());
    }
    s.bulk("logs", docs).unwrap();
    seal(&s, "logs");
    check(&s, &expect);
    drop(s);
    check(&EmbeddedStore::open(&dir).unwrap(), &expect);
}

/// Aggregations evaluated a batch of documents at a time (`size: 0`, histograms without
/// sub-aggregations and the `stats` family) answer as over the list of all documents (what
/// a request with hits uses), empty buckets, dates and mixed values included.
#[test]
fn batched_aggregations_answer_as_over_all_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(tmp.path().join("d")).unwrap();
    let docs: Vec<BulkDoc> = (0..300i64)
        .map(|i| BulkDoc {
            id: Some(format!("d{i}")),
            source: match i % 5 {
                0 => json!({"t": 1_700_000_000_000i64 + i * 7_000_000, "x": i as f64 / 3.0}),
                1 => json!({"t": 1_700_000_000_000i64 + i * 7_000_000, "x": [i, i + 1]}),
                2 => json!({"x": "text"}),
                _ => json!({"t": 1_700_000_000_000i64 + i * 7_000_000, "x": i * 2}),
            },
        })
        .collect();
    s.bulk("logs", docs).unwrap();
    seal(&s, "logs");
    index_one(
        &s,
        "logs",
        "late",
        json!({"t": 1_700_000_000_000i64, "x": -4}),
    );
    let aggs = json!({
        "h": {"date_histogram": {"field": "t", "fixed_interval": "1h"}},
        "h1": {"date_histogram": {"field": "t", "fixed_interval": "1h", "min_doc_count": 1}},
        "n": {"histogram": {"field": "x", "interval": 25}},
        "lo": {"min": {"field": "t"}}, "hi": {"max": {"field": "t"}},
        "a": {"avg": {"field": "x"}}, "su": {"sum": {"field": "x"}}, "st": {"stats": {"field": "x"}},
        "none": {"min": {"field": "missing"}}
    });
    for query in [
        json!({"match_all": {}}),
        json!({"range": {"x": {"gte": 100}}}),
    ] {
        let batched = s
            .search("logs", &json!({"size": 0, "query": query, "aggs": aggs}))
            .unwrap();
        let listed = s
            .search("logs", &json!({"size": 1, "query": query, "aggs": aggs}))
            .unwrap();
        assert_eq!(batched["aggregations"], listed["aggregations"]);
        assert_eq!(batched["hits"]["total"], listed["hits"]["total"]);
    }
}
