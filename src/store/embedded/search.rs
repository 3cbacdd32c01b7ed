//! `_search`: the response envelope (hits with `from`/`size`, `search_after` and total,
//! around the aggregations) and the page cache of composite requests.

use super::aggs;
use super::ctx::{bad, Ctx, DocRef};
use super::dsl;
use super::hits::{
    cmp_vals, parse_search_after, parse_sort, parse_source, render_hit, sort_docs, sort_vals,
};
use super::query::{self, doc_list};
use crate::store::StoreError;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Elasticsearch's default `index.max_result_window`.
const MAX_RESULT_WINDOW: usize = 10_000;

/// Composite requests whose groups are kept for their next pages.
const PAGE_CACHE_ENTRIES: usize = 4;

/// The groups of recent composite requests (`size: 0` with one top-level `composite`
/// aggregation, the datafeed's shape), keyed by the searched indices' versions and the body
/// without `after`: the first page groups every matching document once, each further page
/// is cut from those groups by binary search, without evaluating the query again. Bodies
/// with `now` (relative time) are never kept.
#[derive(Default)]
pub(crate) struct PageCache {
    entries: Mutex<VecDeque<(String, Arc<CachedGroups>)>>,
}

struct CachedGroups {
    total: usize,
    groups: aggs::CompositeGroups,
}

impl PageCache {
    fn get(&self, key: &str) -> Option<Arc<CachedGroups>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| Arc::clone(v))
    }

    fn put(&self, key: String, value: Arc<CachedGroups>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(k, _)| *k != key);
        if entries.len() >= PAGE_CACHE_ENTRIES {
            entries.pop_front();
        }
        entries.push_back((key, value));
    }
}

/// The [`PageCache`] key of a request whose single aggregation is the composite `name`.
fn page_key(ctx: &Ctx, body: &Value, name: &str) -> Option<String> {
    let mut b = body.clone();
    let aggs_key = if b.get("aggs").is_some() {
        "aggs"
    } else {
        "aggregations"
    };
    b.get_mut(aggs_key)?
        .get_mut(name)?
        .get_mut("composite")?
        .as_object_mut()?
        .remove("after");
    let text = b.to_string();
    if text.contains("\"now") {
        return None;
    }
    let mut key = String::new();
    for ix in &ctx.indices {
        key.push_str(&ix.name);
        key.push('@');
        key.push_str(&ix.version.to_string());
        key.push(';');
    }
    key.push_str(&text);
    Some(key)
}

fn usize_param(v: Option<&Value>, key: &str, default: usize) -> Result<usize, StoreError> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(|n| n as usize)
            .ok_or_else(|| {
                bad(
                    "body",
                    format!("`{key}` must be a non-negative integer, got {v}"),
                )
            }),
    }
}

const KNOWN_KEYS: &[&str] = &[
    "query",
    "aggs",
    "aggregations",
    "size",
    "from",
    "sort",
    "search_after",
    "_source",
    "track_total_hits",
    "timeout",
    "version",
    "seq_no_primary_term",
    "track_scores",
    "stored_fields",
];

/// Answers a `_search` body; composite pages are kept in `pages` when given.
pub(crate) fn search(
    ctx: &mut Ctx,
    pages: Option<&PageCache>,
    body: &Value,
) -> Result<Value, StoreError> {
    let started = std::time::Instant::now();
    let empty = Map::new();
    let obj = match body {
        Value::Object(o) => o,
        Value::Null => &empty,
        other => {
            return Err(bad(
                "body",
                format!("a search body must be a JSON object, got {other}"),
            ))
        }
    };
    let (from, size) = check_body(obj)?;
    let q = match obj.get("query") {
        None | Some(Value::Null) => query::Query::All,
        Some(q) => dsl::parse(ctx, q)?,
    };
    let keys = parse_sort(ctx, obj.get("sort"))?;
    let after = parse_search_after(ctx, &keys, body.get("search_after"), from)?;
    let source = parse_source(obj.get("_source"))?;
    let agg_reqs = match obj.get("aggs").or_else(|| obj.get("aggregations")) {
        None | Some(Value::Null) => None,
        Some(a) => Some(aggs::parse(ctx, a)?),
    };
    let ctx: &Ctx = ctx;
    let pages = pages.filter(|_| size == 0);
    let (docs, total, aggregations) = match agg_reqs {
        Some(reqs) => {
            let (docs, total, a) = aggregate(ctx, pages, body, &q, &reqs, size > 0);
            (docs, total, Some(a))
        }
        None => {
            let docs = doc_list(&query::eval(ctx, &q));
            let total = docs.len();
            (docs, total, None)
        }
    };
    if let Some(e) = ctx.failure.take() {
        return Err(e);
    }
    let mut hits = Vec::new();
    if size > 0 {
        let candidates: Vec<DocRef> = match &after {
            Some(a) => docs
                .iter()
                .copied()
                .filter(|&d| {
                    cmp_vals(ctx, &keys, &sort_vals(ctx, &keys, d), a) == Ordering::Greater
                })
                .collect(),
            None => docs,
        };
        if keys.is_empty() {
            for d in candidates.into_iter().skip(from).take(size) {
                hits.push(render_hit(ctx, d, &source, None)?);
            }
        } else {
            let rows = sort_docs(ctx, &keys, candidates, from + size);
            for (d, vals) in rows.iter().skip(from).take(size) {
                hits.push(render_hit(ctx, *d, &source, Some((&keys, vals)))?);
            }
        }
    }
    let mut hits_obj = Map::new();
    if let Some(t) = total_json(obj.get("track_total_hits"), total) {
        hits_obj.insert("total".into(), t);
    }
    let max_score = if keys.is_empty() && !hits.is_empty() {
        json!(1.0)
    } else {
        Value::Null
    };
    hits_obj.insert("max_score".into(), max_score);
    hits_obj.insert("hits".into(), Value::Array(hits));
    let mut resp = Map::new();
    let took = started.elapsed().as_millis() as u64;
    resp.insert("took".into(), Value::from(took));
    resp.insert("timed_out".into(), Value::Bool(false));
    let n = ctx.indices.len();
    resp.insert(
        "_shards".into(),
        json!({"total": n, "successful": n, "skipped": 0, "failed": 0}),
    );
    resp.insert("hits".into(), Value::Object(hits_obj));
    if let Some(aggregations) = aggregations {
        resp.insert("aggregations".into(), Value::Object(aggregations));
    }
    Ok(Value::Object(resp))
}

/// Checks the body's keys; returns its `from` and `size`.
fn check_body(obj: &Map<String, Value>) -> Result<(usize, usize), StoreError> {
    for k in obj.keys() {
        if !KNOWN_KEYS.contains(&k.as_str()) {
            return Err(bad(
                "body",
                format!(
                    "search body key `{k}` is not supported by the embedded store; supported: {}",
                    KNOWN_KEYS.join(", ")
                ),
            ));
        }
    }
    let body = |k: &str| obj.get(k);
    let size = usize_param(body("size"), "size", 10)?;
    let from = usize_param(body("from"), "from", 0)?;
    if from + size > MAX_RESULT_WINDOW {
        return Err(bad("body", format!(
            "from + size must be at most {MAX_RESULT_WINDOW} (index.max_result_window), got {}; page with search_after",
            from + size
        )));
    }
    Ok((from, size))
}

/// Matching documents listed at once by an aggregation evaluated in batches (a few under
/// test, so that the tests' requests run through several batches).
#[cfg(not(test))]
const DOC_BATCH: usize = 1 << 16;
#[cfg(test)]
const DOC_BATCH: usize = 7;

/// The matching documents (none when a cached composite page answered, or when the
/// aggregations took them in batches and no hits are wanted), their number and the
/// aggregations. A request of the datafeed's shape keeps its groups in `pages`.
fn aggregate(
    ctx: &Ctx,
    pages: Option<&PageCache>,
    body: &Value,
    q: &query::Query,
    reqs: &[aggs::Agg],
    hits_wanted: bool,
) -> (Vec<DocRef>, usize, Map<String, Value>) {
    let key = pages.and_then(|_| aggs::single_composite(reqs).and_then(|n| page_key(ctx, body, n)));
    if let (Some(k), Some(pages)) = (&key, pages) {
        if let Some(c) = pages.get(k) {
            return (
                Vec::new(),
                c.total,
                aggs::eval_composite_page(ctx, reqs, &c.groups),
            );
        }
    }
    let flags = query::eval(ctx, q);
    if let Some(mut batched) = aggs::Batched::new(reqs).filter(|_| !hits_wanted) {
        let total = query::doc_batches(&flags, DOC_BATCH, |docs| batched.add(docs));
        return (Vec::new(), total, batched.finish(ctx));
    }
    let docs = doc_list(&flags);
    drop(flags);
    let total = docs.len();
    let groups = match (&key, pages) {
        (Some(_), Some(_)) => aggs::all_composite_groups(ctx, reqs, &docs),
        _ => None,
    };
    let (Some(key), Some(pages), Some(groups)) = (key, pages, groups) else {
        let a = aggs::eval(ctx, reqs, &docs);
        return (docs, total, a);
    };
    let page = aggs::eval_composite_page(ctx, reqs, &groups);
    pages.put(key, Arc::new(CachedGroups { total, groups }));
    (docs, total, page)
}

/// `hits.total` under `track_total_hits` (`None` when it is `false`).
fn total_json(track: Option<&Value>, total: usize) -> Option<Value> {
    match track {
        Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(json!({"value": total, "relation": "eq"})),
        other => {
            let limit = other
                .and_then(Value::as_u64)
                .map(|n| n as usize)
                .unwrap_or(MAX_RESULT_WINDOW);
            Some(if total > limit {
                json!({"value": limit, "relation": "gte"})
            } else {
                json!({"value": total, "relation": "eq"})
            })
        }
    }
}
