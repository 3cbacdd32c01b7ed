//! Hits: sort keys and values, `_source` filtering, and one rendered hit. Used by the
//! `_search` envelope and by the `top_hits` aggregation.

use super::ctx::{bad, glob, Ctx, DocRef, Field};
use super::index::Val;
use crate::store::StoreError;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;

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
    Id(Cow<'a, str>),
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
                let (k, v) = o
                    .iter()
                    .next()
                    .ok_or_else(|| bad("sort", "empty sort object"))?;
                let order = match v {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(spec) => {
                        if let Some(m) = spec.get("missing").and_then(Value::as_str) {
                            if m != "_last" {
                                return Err(bad(
                                    "sort",
                                    format!(
                                    "sort on `{k}`: only `missing: _last` is supported, got `{m}`"
                                ),
                                ));
                            }
                        }
                        spec.get("order").and_then(Value::as_str)
                    }
                    _ => {
                        return Err(bad(
                            "sort",
                            format!(
                                "sort on `{k}`: expected \"asc\", \"desc\" or {{\"order\": ..}}"
                            ),
                        ))
                    }
                };
                (k.as_str(), order)
            }
            other => {
                return Err(bad(
                    "sort",
                    format!("sort: expected a field name or {{field: order}}, got {other}"),
                ))
            }
        };
        let desc = match order {
            Some("desc") => true,
            Some("asc") => false,
            None => name == "_score",
            Some(o) => {
                return Err(bad(
                    "sort",
                    format!("sort on `{name}`: order must be asc or desc, got `{o}`"),
                ))
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

fn doc_id<'a>(ctx: &Ctx<'a>, d: DocRef) -> Cow<'a, str> {
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
            .then_with(|| doc_id(ctx, a.0).cmp(&doc_id(ctx, b.0)))
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
                SortVal::Id(s) => Value::from(&**s),
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
                x.as_str().map(String::from).ok_or_else(|| {
                    bad("_source", format!("_source: expected field names, got {x}"))
                })
            })
            .collect(),
        Some(other) => Err(bad(
            "_source",
            format!("_source: expected a field name or a list, got {other}"),
        )),
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
        glob(p, path)
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
) -> Result<Value, StoreError> {
    let ix = ctx.indices[d.ix as usize];
    let mut hit = Map::new();
    hit.insert("_index".into(), Value::from(ix.name.as_str()));
    hit.insert("_id".into(), Value::from(ix.doc_id(d.doc).into_owned()));
    hit.insert(
        "_score".into(),
        if sort.is_some() {
            Value::Null
        } else {
            json!(1.0)
        },
    );
    let src = || -> Result<Value, StoreError> {
        Ok(serde_json::from_str::<Value>(&ix.doc_source(d.doc)?).unwrap_or(Value::Null))
    };
    match source {
        SourceFilter::All => {
            hit.insert("_source".into(), src()?);
        }
        SourceFilter::None => {}
        SourceFilter::Paths { includes, excludes } => {
            let v = filter_value(src()?, "", includes, excludes).unwrap_or_else(|| json!({}));
            hit.insert("_source".into(), v);
        }
    }
    if let Some((keys, vals)) = sort {
        hit.insert("sort".into(), sort_json(ctx, keys, vals));
    }
    Ok(Value::Object(hit))
}

/// Parses `search_after`: one value per sort key (`null` for a missing value).
pub(crate) fn parse_search_after<'b>(
    ctx: &mut Ctx,
    keys: &[SortKey],
    spec: Option<&'b Value>,
    from: usize,
) -> Result<Option<Vec<SortVal<'b>>>, StoreError> {
    let a = match spec {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(bad(
                "search_after",
                format!("search_after must be an array, got {other}"),
            ))
        }
    };
    if keys.is_empty() || a.len() != keys.len() {
        return Err(bad("search_after", format!(
            "search_after has {} values but the request sorts on {} keys; give one value per sort key",
            a.len(),
            keys.len()
        )));
    }
    if from > 0 {
        return Err(bad(
            "search_after",
            "`from` must be 0 when `search_after` is used",
        ));
    }
    let mut vals = Vec::new();
    for (k, v) in keys.iter().zip(a) {
        vals.push(match (&k.kind, v) {
            (_, Value::Null) => SortVal::Missing,
            (SortKind::Id, Value::String(s)) => SortVal::Id(Cow::Borrowed(s.as_str())),
            (SortKind::Doc, v) => SortVal::Doc(v.as_u64().unwrap_or(0)),
            (SortKind::Score, _) => SortVal::Score,
            (SortKind::Field(_), Value::String(s)) => SortVal::V(ctx.str_val(s)),
            (SortKind::Field(_), Value::Number(n)) => {
                SortVal::V(Val::Num(n.as_f64().unwrap_or(0.0)))
            }
            (SortKind::Field(_), Value::Bool(b)) => SortVal::V(Val::Bool(*b)),
            (_, other) => {
                return Err(bad(
                    "search_after",
                    format!("search_after: unsupported value {other}"),
                ))
            }
        });
    }
    Ok(Some(vals))
}
