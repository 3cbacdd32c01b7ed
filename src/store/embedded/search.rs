//! `_search`: hits (sort, `from`/`size`, `search_after`, `_source` filtering, total) and the
//! response envelope around the aggregations.

use super::aggs;
use super::index::Val;
use super::query::{self, bad, doc_list, Ctx, DocRef, Field};
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

/// One sort criterion.
pub(crate) struct SortKey<'a> {
    kind: SortKind<'a>,
    desc: bool,
}

enum SortKind<'a> {
    Field(Field<'a>),
    Id,
    Doc,
    Score,
}

/// A document's value for one sort criterion.
#[derive(Clone)]
pub(crate) enum SortVal<'a> {
    Missing,
    V(Val),
    Id(&'a str),
    Doc(u64),
    Score,
}

/// Parses `sort`: a field name, `{field: "asc"|"desc"}`, `{field: {"order": ..}}`, or an
/// array of those; `_id`, `_doc` and `_score` too.
pub(crate) fn parse_sort<'a>(
    ctx: &Ctx<'a>,
    spec: Option<&Value>,
) -> Result<Vec<SortKey<'a>>, StoreError> {
    let items: Vec<&Value> = match spec {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one) => vec![one],
    };
    let mut keys = Vec::new();
    for item in items {
        let (name, order) = match item {
            Value::String(s) => (s.as_str(), None),
            Value::Object(o) if o.len() == 1 => {
                let (k, v) = o.iter().next().ok_or_else(|| bad("empty sort object"))?;
                let order = match v {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(spec) => {
                        if let Some(m) = spec.get("missing").and_then(Value::as_str) {
                            if m != "_last" {
                                return Err(bad(format!(
                                    "sort on `{k}`: only `missing: _last` is supported, got `{m}`"
                                )));
                            }
                        }
                        spec.get("order").and_then(Value::as_str)
                    }
                    _ => {
                        return Err(bad(format!(
                            "sort on `{k}`: expected \"asc\", \"desc\" or {{\"order\": ..}}"
                        )))
                    }
                };
                (k.as_str(), order)
            }
            other => {
                return Err(bad(format!(
                    "sort: expected a field name or {{field: order}}, got {other}"
                )))
            }
        };
        let desc = match order {
            Some("desc") => true,
            Some("asc") => false,
            None => name == "_score",
            Some(o) => {
                return Err(bad(format!(
                    "sort on `{name}`: order must be asc or desc, got `{o}`"
                )))
            }
        };
        let kind = match name {
            "_id" => SortKind::Id,
            "_doc" => SortKind::Doc,
            "_score" => SortKind::Score,
            f => SortKind::Field(ctx.field(f)),
        };
        keys.push(SortKey { kind, desc });
    }
    Ok(keys)
}

fn doc_id<'a>(ctx: &Ctx<'a>, d: DocRef) -> &'a str {
    ctx.indices[d.ix as usize].doc_id(d.doc)
}

/// The sort values of `d` (min for ascending, max for descending on multi-valued fields).
pub(crate) fn sort_vals<'a>(ctx: &Ctx<'a>, keys: &[SortKey<'a>], d: DocRef) -> Vec<SortVal<'a>> {
    keys.iter()
        .map(|k| match &k.kind {
            SortKind::Field(f) => {
                let vals = f.values(d);
                let pick = vals.iter().copied().reduce(|a, b| {
                    let o = ctx.cmp(a, b);
                    if (o == Ordering::Greater) == k.desc {
                        a
                    } else {
                        b
                    }
                });
                pick.map_or(SortVal::Missing, SortVal::V)
            }
            SortKind::Id => SortVal::Id(doc_id(ctx, d)),
            SortKind::Doc => SortVal::Doc(((d.ix as u64) << 32) | d.doc as u64),
            SortKind::Score => SortVal::Score,
        })
        .collect()
}

fn cmp_one(ctx: &Ctx, k: &SortKey, a: &SortVal, b: &SortVal) -> Ordering {
    // Missing values sort last in both directions, as Elasticsearch's default `_last`.
    let o = match (a, b) {
        (SortVal::Missing, SortVal::Missing) => return Ordering::Equal,
        (SortVal::Missing, _) => return Ordering::Greater,
        (_, SortVal::Missing) => return Ordering::Less,
        (SortVal::V(x), SortVal::V(y)) => ctx.cmp(*x, *y),
        (SortVal::Id(x), SortVal::Id(y)) => x.cmp(y),
        (SortVal::Doc(x), SortVal::Doc(y)) => x.cmp(y),
        _ => Ordering::Equal,
    };
    if k.desc {
        o.reverse()
    } else {
        o
    }
}

/// Compares two documents' sort values key by key.
pub(crate) fn cmp_vals(ctx: &Ctx, keys: &[SortKey], a: &[SortVal], b: &[SortVal]) -> Ordering {
    for ((k, x), y) in keys.iter().zip(a).zip(b) {
        let o = cmp_one(ctx, k, x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Sorts documents by `keys`, ties broken by `_id` then index order. Without keys, index order.
pub(crate) fn sort_docs<'a>(
    ctx: &Ctx<'a>,
    keys: &[SortKey<'a>],
    docs: Vec<DocRef>,
    limit: usize,
) -> Vec<(DocRef, Vec<SortVal<'a>>)> {
    if keys.is_empty() {
        return docs
            .into_iter()
            .take(limit)
            .map(|d| (d, Vec::new()))
            .collect();
    }
    let mut rows: Vec<(DocRef, Vec<SortVal<'a>>)> = docs
        .into_iter()
        .map(|d| (d, sort_vals(ctx, keys, d)))
        .collect();
    let cmp = |a: &(DocRef, Vec<SortVal>), b: &(DocRef, Vec<SortVal>)| {
        cmp_vals(ctx, keys, &a.1, &b.1)
            .then_with(|| doc_id(ctx, a.0).cmp(doc_id(ctx, b.0)))
            .then_with(|| (a.0.ix, a.0.doc).cmp(&(b.0.ix, b.0.doc)))
    };
    // Only the first `limit` rows are needed: select them, then sort those.
    if limit == 0 {
        return Vec::new();
    }
    if limit < rows.len() {
        rows.select_nth_unstable_by(limit - 1, cmp);
        rows.truncate(limit);
    }
    rows.sort_by(cmp);
    rows
}

fn sort_json(ctx: &Ctx, keys: &[SortKey], vals: &[SortVal]) -> Value {
    Value::Array(
        keys.iter()
            .zip(vals)
            .map(|(k, v)| match v {
                SortVal::Missing | SortVal::Score => Value::Null,
                SortVal::V(x) => ctx.json(*x, matches!(&k.kind, SortKind::Field(f) if f.float)),
                SortVal::Id(s) => Value::from(*s),
                SortVal::Doc(n) => Value::from(*n),
            })
            .collect(),
    )
}

/// Which parts of `_source` to return.
#[derive(Clone)]
pub(crate) enum SourceFilter {
    All,
    None,
    Paths {
        includes: Vec<String>,
        excludes: Vec<String>,
    },
}

fn strings(v: Option<&Value>) -> Result<Vec<String>, StoreError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .ok_or_else(|| bad(format!("_source: expected field names, got {x}")))
            })
            .collect(),
        Some(other) => Err(bad(format!(
            "_source: expected a field name or a list, got {other}"
        ))),
    }
}

/// Parses `_source`: `true`, `false`, a pattern, a list, or `{includes, excludes}`.
pub(crate) fn parse_source(spec: Option<&Value>) -> Result<SourceFilter, StoreError> {
    Ok(match spec {
        None | Some(Value::Null) | Some(Value::Bool(true)) => SourceFilter::All,
        Some(Value::Bool(false)) => SourceFilter::None,
        Some(Value::Object(o)) => SourceFilter::Paths {
            includes: strings(o.get("includes").or_else(|| o.get("include")))?,
            excludes: strings(o.get("excludes").or_else(|| o.get("exclude")))?,
        },
        other => SourceFilter::Paths {
            includes: strings(other)?,
            excludes: Vec::new(),
        },
    })
}

fn path_matches(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|p| {
        query::glob(p, path)
            || (path.len() > p.len()
                && path.starts_with(p.as_str())
                && path.as_bytes()[p.len()] == b'.')
    })
}

/// Whether some pattern could match below `path`.
fn may_match_below(patterns: &[String], path: &str) -> bool {
    patterns
        .iter()
        .any(|p| p.contains('*') || p.starts_with(&format!("{path}.")))
}

fn filter_value(v: Value, path: &str, includes: &[String], excludes: &[String]) -> Option<Value> {
    let root = path.is_empty();
    if !root && path_matches(excludes, path) {
        return None;
    }
    let included = includes.is_empty() || (!root && path_matches(includes, path));
    match v {
        Value::Object(map) => {
            if !included && !root && !may_match_below(includes, path) {
                return None;
            }
            let mut out = Map::new();
            for (k, child) in map {
                let p = if root {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let inc: &[String] = if included { &[] } else { includes };
                if let Some(c) = filter_value(child, &p, inc, excludes) {
                    out.insert(k, c);
                }
            }
            if out.is_empty() && !included && !root {
                None
            } else {
                Some(Value::Object(out))
            }
        }
        Value::Array(items) if !included => {
            let kept: Vec<Value> = items
                .into_iter()
                .filter_map(|i| filter_value(i, path, includes, excludes))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => included.then_some(other),
    }
}

/// Renders one hit.
pub(crate) fn render_hit(
    ctx: &Ctx,
    d: DocRef,
    source: &SourceFilter,
    sort: Option<(&[SortKey], &[SortVal])>,
) -> Value {
    let ix = ctx.indices[d.ix as usize];
    let mut hit = Map::new();
    hit.insert("_index".into(), Value::from(ix.name.as_str()));
    hit.insert("_id".into(), Value::from(ix.doc_id(d.doc)));
    hit.insert(
        "_score".into(),
        if sort.is_some() {
            Value::Null
        } else {
            json!(1.0)
        },
    );
    let src = || serde_json::from_str::<Value>(ix.doc_source(d.doc)).unwrap_or(Value::Null);
    match source {
        SourceFilter::All => {
            hit.insert("_source".into(), src());
        }
        SourceFilter::None => {}
        SourceFilter::Paths { includes, excludes } => {
            let v = filter_value(src(), "", includes, excludes).unwrap_or_else(|| json!({}));
            hit.insert("_source".into(), v);
        }
    }
    if let Some((keys, vals)) = sort {
        hit.insert("sort".into(), sort_json(ctx, keys, vals));
    }
    Value::Object(hit)
}

fn usize_param(body: &Value, key: &str, default: usize) -> Result<usize, StoreError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(|n| n as usize)
            .ok_or_else(|| bad(format!("`{key}` must be a non-negative integer, got {v}"))),
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

/// Answers a `_search` body.
pub(crate) fn search<'b>(ctx: &mut Ctx, body: &'b Value) -> Result<Value, StoreError> {
    let started = std::time::Instant::now();
    let empty = Map::new();
    let obj = match body {
        Value::Object(o) => o,
        Value::Null => &empty,
        other => {
            return Err(bad(format!(
                "a search body must be a JSON object, got {other}"
            )))
        }
    };
    for k in obj.keys() {
        if !KNOWN_KEYS.contains(&k.as_str()) {
            return Err(bad(format!(
                "search body key `{k}` is not supported by the embedded store; supported: {}",
                KNOWN_KEYS.join(", ")
            )));
        }
    }
    let size = usize_param(body, "size", 10)?;
    let from = usize_param(body, "from", 0)?;
    if from + size > MAX_RESULT_WINDOW {
        return Err(bad(format!(
            "from + size must be at most {MAX_RESULT_WINDOW} (index.max_result_window), got {}; page with search_after",
            from + size
        )));
    }
    let q = match obj.get("query") {
        None | Some(Value::Null) => query::Query::All,
        Some(q) => query::parse(ctx, q)?,
    };
    let keys = parse_sort(ctx, obj.get("sort"))?;
    let after: Option<Vec<SortVal<'b>>> = match body.get("search_after") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => {
            if keys.is_empty() || a.len() != keys.len() {
                return Err(bad(format!(
                    "search_after has {} values but the request sorts on {} keys; give one value per sort key",
                    a.len(),
                    keys.len()
                )));
            }
            if from > 0 {
                return Err(bad("`from` must be 0 when `search_after` is used"));
            }
            let mut vals = Vec::new();
            for (k, v) in keys.iter().zip(a) {
                vals.push(match (&k.kind, v) {
                    (_, Value::Null) => SortVal::Missing,
                    (SortKind::Id, Value::String(s)) => SortVal::Id(s.as_str()),
                    (SortKind::Doc, v) => SortVal::Doc(v.as_u64().unwrap_or(0)),
                    (SortKind::Score, _) => SortVal::Score,
                    (SortKind::Field(_), Value::String(s)) => SortVal::V(ctx.str_val(s)),
                    (SortKind::Field(_), Value::Number(n)) => {
                        SortVal::V(Val::Num(n.as_f64().unwrap_or(0.0)))
                    }
                    (SortKind::Field(_), Value::Bool(b)) => SortVal::V(Val::Bool(*b)),
                    (_, other) => {
                        return Err(bad(format!("search_after: unsupported value {other}")))
                    }
                });
            }
            Some(vals)
        }
        Some(other) => return Err(bad(format!("search_after must be an array, got {other}"))),
    };
    let source = parse_source(obj.get("_source"))?;
    let agg_reqs = match obj.get("aggs").or_else(|| obj.get("aggregations")) {
        None | Some(Value::Null) => None,
        Some(a) => Some(aggs::parse(ctx, a)?),
    };
    let ctx: &Ctx = ctx;
    let page_key = match (&agg_reqs, ctx.pages) {
        (Some(reqs), Some(_)) if size == 0 => {
            aggs::single_composite(reqs).and_then(|name| page_key(ctx, body, name))
        }
        _ => None,
    };
    let cached = match (&page_key, ctx.pages) {
        (Some(k), Some(pages)) => pages.get(k),
        _ => None,
    };
    let (docs, total) = match &cached {
        Some(c) => (Vec::new(), c.total),
        None => {
            let docs = doc_list(&query::eval(ctx, &q));
            let total = docs.len();
            (docs, total)
        }
    };
    let aggregations = match (&agg_reqs, cached, page_key) {
        (None, ..) => None,
        (Some(reqs), Some(c), _) => Some(aggs::eval_composite_page(ctx, reqs, &c.groups)),
        (Some(reqs), None, Some(key)) => match aggs::all_composite_groups(ctx, reqs, &docs) {
            Some(groups) => {
                let page = aggs::eval_composite_page(ctx, reqs, &groups);
                if let Some(pages) = ctx.pages {
                    pages.put(key, Arc::new(CachedGroups { total, groups }));
                }
                Some(page)
            }
            None => Some(aggs::eval(ctx, reqs, &docs)),
        },
        (Some(reqs), None, None) => Some(aggs::eval(ctx, reqs, &docs)),
    };

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
            None => docs.clone(),
        };
        if keys.is_empty() {
            for d in candidates.into_iter().skip(from).take(size) {
                hits.push(render_hit(ctx, d, &source, None));
            }
        } else {
            let rows = sort_docs(ctx, &keys, candidates, from + size);
            for (d, vals) in rows.iter().skip(from).take(size) {
                hits.push(render_hit(ctx, *d, &source, Some((&keys, vals))));
            }
        }
    }
    let mut hits_obj = Map::new();
    match obj.get("track_total_hits") {
        Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            hits_obj.insert("total".into(), json!({"value": total, "relation": "eq"}));
        }
        other => {
            let limit = other
                .and_then(Value::as_u64)
                .map(|n| n as usize)
                .unwrap_or(MAX_RESULT_WINDOW);
            hits_obj.insert(
                "total".into(),
                if total > limit {
                    json!({"value": limit, "relation": "gte"})
                } else {
                    json!({"value": total, "relation": "eq"})
                },
            );
        }
    }
    hits_obj.insert(
        "max_score".into(),
        if keys.is_empty() && !hits.is_empty() {
            json!(1.0)
        } else {
            Value::Null
        },
    );
    hits_obj.insert("hits".into(), Value::Array(hits));
    let mut resp = Map::new();
    resp.insert(
        "took".into(),
        Value::from(started.elapsed().as_millis() as u64),
    );
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
