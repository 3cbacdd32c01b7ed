//! Result documents read straight from a test engine and compared with a reference: the
//! checks the pipeline and two-node tests share.

use super::engine::http;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A document read from the engine, with how many times it was written.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Its `_source`.
    pub source: Value,
    /// Its `_version`: 1 when written once.
    pub version: u64,
}

/// Every document of an engine index, read with a scroll straight from the engine.
pub fn engine_docs(url: &str, index: &str) -> BTreeMap<String, Doc> {
    let (status, body) = http("POST", &format!("{url}/{index}/_refresh"), None);
    assert_eq!(status, 200, "refresh {index}: {body}");
    let (status, mut resp) = http(
        "POST",
        &format!("{url}/{index}/_search?scroll=1m"),
        Some(&json!({ "size": 5000, "version": true, "sort": ["_doc"] })),
    );
    assert_eq!(status, 200, "search {index}: {resp}");
    let mut out = BTreeMap::new();
    loop {
        let hits = resp["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        for h in hits {
            let id = h["_id"].as_str().expect("id").to_string();
            let doc = Doc {
                source: h["_source"].clone(),
                version: h["_version"].as_u64().expect("_version"),
            };
            assert!(out.insert(id.clone(), doc).is_none(), "duplicate {id}");
        }
        let scroll_id = resp["_scroll_id"].as_str().expect("scroll id").to_string();
        let (status, next) = http(
            "POST",
            &format!("{url}/_search/scroll"),
            Some(&json!({ "scroll": "1m", "scroll_id": scroll_id })),
        );
        assert_eq!(status, 200, "scroll {index}: {next}");
        resp = next;
    }
    if let Some(id) = resp["_scroll_id"].as_str() {
        http(
            "DELETE",
            &format!("{url}/_search/scroll"),
            Some(&json!({ "scroll_id": id })),
        );
    }
    out
}

/// Compares two JSON documents; floats must be equal to the bit, except that a difference
/// within 1e-12 relative is listed apart (`last_bits`) so a report can say where.
fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>, last_bits: &mut Vec<String>) {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) if a != b => {
            let (x, y) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            let list = if (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0) {
                last_bits
            } else {
                out
            };
            list.push(format!("{path}: {a} != {b}"));
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(&format!("{path}.{k}"), x, y, out, last_bits),
                    (x, y) => out.push(format!("{path}.{k}: {x:?} != {y:?}")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out, last_bits);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}

/// Asserts that `got` holds exactly the documents of `want` (same ids, same content).
pub fn assert_same_documents(
    what: &str,
    want: &BTreeMap<String, Value>,
    got: &BTreeMap<String, Doc>,
) {
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} documents missing (e.g. {:?}), {} unexpected (e.g. {:?})",
        missing.len(),
        &missing[..missing.len().min(5)],
        extra.len(),
        &extra[..extra.len().min(5)]
    );
    let mut differences = Vec::new();
    let mut last_bits = Vec::new();
    for (id, doc) in want {
        diff(id, doc, &got[id].source, &mut differences, &mut last_bits);
    }
    assert!(
        differences.is_empty(),
        "{what}: {} differences, first ones:\n{}",
        differences.len(),
        differences[..differences.len().min(20)].join("\n")
    );
    assert!(
        last_bits.is_empty(),
        "{what}: {} numbers differ in their last bits:\n{}",
        last_bits.len(),
        last_bits[..last_bits.len().min(20)].join("\n")
    );
}

/// Final bucket documents of `job_id`: one per bucket of `span` from `first` to `end` (exclusive), and with
/// `written_once` each with `_version` 1 (a proxy that fails bulk items the engine applied
/// makes the client send them again, so that check only holds without one).
pub fn assert_every_bucket_once(
    docs: &BTreeMap<String, Doc>,
    job_id: &str,
    (first, end, span): (i64, i64, i64),
    written_once: bool,
) {
    let mut times: Vec<(i64, u64)> = docs
        .values()
        .filter(|d| d.source["result_type"] == "bucket" && d.source["job_id"] == job_id)
        .filter(|d| d.source["is_interim"] == false)
        .map(|d| {
            (
                d.source["timestamp"].as_i64().expect("timestamp"),
                d.version,
            )
        })
        .collect();
    times.sort();
    let expected = ((end - first) / span) as usize;
    assert_eq!(times.len(), expected, "{job_id}: bucket documents");
    for (i, (t, version)) in times.iter().enumerate() {
        assert_eq!(*t, first + i as i64 * span, "{job_id}: bucket {i} missing");
        if written_once {
            assert_eq!(*version, 1, "{job_id}: bucket {t} written {version} times");
        }
    }
}
