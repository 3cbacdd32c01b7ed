//! Helpers shared by the two integration-test binaries (`tests/it`, everything that runs on
//! the embedded store; `tests/engines`, the cluster and browser tests behind the `engines`
//! feature): store reads, the shared-data folder, a seeded RNG, the test search engine and
//! the fault-injection proxy, and the constructed series of the analysis functions.

// Each binary uses only some of it.
#![allow(dead_code)]

pub mod engine;
pub mod function_cases;
pub mod proxy;
pub mod results;
mod shared_data;

#[allow(unused_imports)] // tests/engines reads no shared data
pub use shared_data::shared_data;

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

/// The tests' seeded pseudo-random numbers (SplitMix64): the same seed, the same sequence.
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..max` (`0` when `max` is 0).
    pub fn below(&mut self, max: u64) -> u64 {
        self.next_u64() % max.max(1)
    }
}
