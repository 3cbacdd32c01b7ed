//! Helpers shared by the integration tests.

// Each test binary that includes this module uses only some of it.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::BTreeMap;
use tidewatch::store::Store;

/// The hits of `body` run over `index`, as the store returns them (`_id`, `_source`, ...).
pub fn search_hits(store: &dyn Store, index: &str, body: &Value) -> Vec<Value> {
    let resp = store.search(index, body).expect("search");
    resp["hits"]["hits"].as_array().cloned().unwrap_or_default()
}

/// Every document of `index`, by id, read with `search_after` in id order; panics on a
/// duplicate id (a store must never hold two documents with one id).
pub fn all_documents(store: &dyn Store, index: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut after: Option<Value> = None;
    loop {
        let mut body =
            json!({ "size": 5000, "query": { "match_all": {} }, "sort": [{ "_id": "asc" }] });
        if let Some(a) = &after {
            body["search_after"] = a.clone();
        }
        let hits = search_hits(store, index, &body);
        if hits.is_empty() {
            break;
        }
        for h in hits {
            let id = h["_id"].as_str().expect("every hit has an id").to_string();
            after = h.get("sort").cloned();
            assert!(
                out.insert(id.clone(), h["_source"].clone()).is_none(),
                "duplicate id {id}"
            );
        }
    }
    out
}

/// `n` requests of `client` spread over the `span_ms` milliseconds from `t`, as documents of
/// `{"@timestamp", "client"}` with ids unique per client, bucket and request.
pub fn client_docs(
    t: i64,
    span_ms: i64,
    client: &str,
    n: usize,
) -> impl Iterator<Item = tidewatch::store::BulkDoc> + '_ {
    (0..n).map(move |i| tidewatch::store::BulkDoc {
        id: Some(format!("{client}-{t}-{i}")),
        source: json!({
            "@timestamp": tidewatch::time::format_millis(t + (i as i64 * span_ms) / n as i64),
            "client": client,
        }),
    })
}
