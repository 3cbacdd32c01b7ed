//! `composite`: buckets keyed by a combination of `terms`, `histogram` and `date_histogram`
//! sources, sorted by key and paged with `after`.

use super::super::common::{check_params, date_key, get_field, get_u64, interval_ms, key_json};
use super::super::common::{obj, offset_ms};
use super::super::{with_subs, Agg};
use crate::store::embedded::ctx::{bad, Ctx, DocRef, Field};
use crate::store::embedded::index::{FastMap, Val};
use crate::store::StoreError;
use serde_json::{Map, Value};
use std::cmp::Ordering;

const PARAMS: &[&str] = &["sources", "size", "after"];
const DATE_HISTOGRAM_SOURCE: &[&str] = &[
    "field",
    "fixed_interval",
    "interval",
    "calendar_interval",
    "offset",
    "order",
    "missing_bucket",
    "time_zone",
    "format",
];
const TERMS_SOURCE: &[&str] = &["field", "interval", "order", "missing_bucket"];

pub(in crate::store::embedded::aggs) struct Composite<'a> {
    sources: Vec<Source<'a>>,
    size: usize,
    after: Option<Vec<Option<Val>>>,
}

struct Source<'a> {
    name: String,
    field: Field<'a>,
    /// `Some(interval, offset)` for a date_histogram source.
    date: Option<(i64, i64)>,
    /// `Some(interval, offset)` for a histogram source.
    hist: Option<(f64, f64)>,
    desc: bool,
    missing_bucket: bool,
}

/// Every bucket of a composite aggregation after an optional key, sorted by key: what the
/// pages of one request are cut from.
pub(crate) struct CompositeGroups {
    keys: Vec<Vec<Option<Val>>>,
    docs: Vec<Vec<DocRef>>,
}

impl<'a> Composite<'a> {
    pub(in crate::store::embedded::aggs) fn parse(
        ctx: &mut Ctx<'a>,
        v: &Value,
        what: &str,
    ) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        let s = obj(v, what)?;
        let srcs = s.get("sources").and_then(Value::as_array).ok_or_else(|| {
            bad(
                what,
                "`sources` must be an array of {name: {terms|date_histogram: ..}}".to_string(),
            )
        })?;
        let mut sources = Vec::new();
        for src in srcs {
            sources.push(Source::parse(ctx, src, what)?);
        }
        if sources.is_empty() {
            return Err(bad(what, "`sources` is empty".to_string()));
        }
        let after = match s.get("after") {
            None | Some(Value::Null) => None,
            Some(a) => Some(parse_after(ctx, &sources, a, what)?),
        };
        Ok(Composite {
            sources,
            size: get_u64(s, "size", 10, what)? as usize,
            after,
        })
    }

    pub(in crate::store::embedded::aggs) fn eval(
        &self,
        ctx: &Ctx,
        subs: &[Agg],
        docs: &[DocRef],
    ) -> Value {
        let groups = self.groups(ctx, true, docs);
        self.render(ctx, subs, &groups)
    }

    /// Orders composite keys source by source (missing values first, `desc` sources reversed).
    fn cmp_key(&self, ctx: &Ctx, x: &[Option<Val>], y: &[Option<Val>]) -> Ordering {
        for ((s, a), b) in self.sources.iter().zip(x).zip(y) {
            let o = s.cmp(ctx, a, b);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }

    /// Groups `docs` by composite key, sorted; with `use_after`, only keys after `after`.
    pub(in crate::store::embedded::aggs) fn groups(
        &self,
        ctx: &Ctx,
        use_after: bool,
        docs: &[DocRef],
    ) -> CompositeGroups {
        let after = self.after.as_deref().filter(|_| use_after);
        let sources = &self.sources;
        let mut groups: FastMap<Vec<Option<Val>>, u32> = FastMap::default();
        let mut keys: Vec<Vec<Option<Val>>> = Vec::new();
        let mut lists: Vec<Vec<DocRef>> = Vec::new();
        let mut key: Vec<Option<Val>> = Vec::with_capacity(sources.len());
        let mut per: Vec<Vec<Option<Val>>> = vec![Vec::new(); sources.len()];
        let mut idx = vec![0usize; sources.len()];
        for &d in docs {
            if !self.doc_keys(ctx, after, d, &mut per) {
                continue;
            }
            // Cartesian product of the sources' values.
            idx.iter_mut().for_each(|i| *i = 0);
            loop {
                key.clear();
                key.extend(per.iter().zip(&idx).map(|(vals, &i)| vals[i]));
                if after.is_none_or(|aft| self.cmp_key(ctx, &key, aft) == Ordering::Greater) {
                    match groups.get(&key) {
                        Some(&g) => lists[g as usize].push(d),
                        None => {
                            groups.insert(key.clone(), keys.len() as u32);
                            keys.push(key.clone());
                            lists.push(vec![d]);
                        }
                    }
                }
                if !next_combination(&mut idx, &per) {
                    break;
                }
            }
        }
        drop(groups);
        // Keys in first-seen order, then sorted stably: the same order for the same documents.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&x, &y| self.cmp_key(ctx, &keys[x], &keys[y]));
        let mut sorted_keys = Vec::with_capacity(keys.len());
        let mut sorted_docs = Vec::with_capacity(keys.len());
        for i in order {
            sorted_keys.push(std::mem::take(&mut keys[i]));
            sorted_docs.push(std::mem::take(&mut lists[i]));
        }
        CompositeGroups {
            keys: sorted_keys,
            docs: sorted_docs,
        }
    }

    /// Fills `per` with each source's keys for document `d`; `false` when some source has
    /// none (the document is in no bucket).
    fn doc_keys(
        &self,
        ctx: &Ctx,
        after: Option<&[Option<Val>]>,
        d: DocRef,
        per: &mut [Vec<Option<Val>>],
    ) -> bool {
        for (i, s) in self.sources.iter().enumerate() {
            s.values(d, &mut per[i]);
            if i == 0 {
                // Keys sort by the first source first: values before `after`'s cannot follow it.
                if let Some(first) = after.and_then(|a| a.first()) {
                    per[0].retain(|v| s.cmp(ctx, v, first) != Ordering::Less);
                }
            }
            if per[i].is_empty() {
                return false;
            }
        }
        true
    }

    /// One page: the first `size` groups after `after`.
    pub(in crate::store::embedded::aggs) fn render(
        &self,
        ctx: &Ctx,
        subs: &[Agg],
        groups: &CompositeGroups,
    ) -> Value {
        let from = match self.after.as_deref() {
            Some(aft) => groups
                .keys
                .partition_point(|k| self.cmp_key(ctx, k, aft) != Ordering::Greater),
            None => 0,
        };
        let to = (from + self.size).min(groups.keys.len());
        let key_obj = |k: &[Option<Val>]| -> Value {
            let mut m = Map::new();
            for (s, v) in self.sources.iter().zip(k) {
                let j = match v {
                    None => Value::Null,
                    Some(Val::Date(ms)) => Value::from(*ms),
                    Some(v) => key_json(ctx, *v, s.field.float).0,
                };
                m.insert(s.name.clone(), j);
            }
            Value::Object(m)
        };
        let mut buckets = Vec::with_capacity(to - from);
        if ctx.add_buckets(to - from) {
            for (k, ds) in groups.keys[from..to].iter().zip(&groups.docs[from..to]) {
                let mut b = Map::new();
                b.insert("key".into(), key_obj(k));
                b.insert("doc_count".into(), Value::from(ds.len()));
                buckets.push(with_subs(ctx, subs, ds, b));
            }
        }
        let mut out = Map::new();
        if to > from {
            out.insert("after_key".into(), key_obj(&groups.keys[to - 1]));
        }
        out.insert("buckets".into(), Value::Array(buckets));
        Value::Object(out)
    }
}

/// Advances `idx` to the next combination of one value per source (the last source
/// fastest); `false` after the last one.
fn next_combination(idx: &mut [usize], per: &[Vec<Option<Val>>]) -> bool {
    for p in (0..idx.len()).rev() {
        idx[p] += 1;
        if idx[p] < per[p].len() {
            return true;
        }
        idx[p] = 0;
    }
    false
}

impl<'a> Source<'a> {
    fn parse(ctx: &mut Ctx<'a>, src: &Value, what: &str) -> Result<Self, StoreError> {
        let (sname, sdef) = obj(src, what)?
            .iter()
            .next()
            .ok_or_else(|| bad(what, "empty source".to_string()))?;
        let (stype, sspec) = obj(sdef, what)?
            .iter()
            .next()
            .ok_or_else(|| bad(what, format!("source `{sname}` has no type")))?;
        let sw = format!("{what}: source `{sname}`");
        let allowed = match stype.as_str() {
            "date_histogram" => Some(DATE_HISTOGRAM_SOURCE),
            "terms" | "histogram" => Some(TERMS_SOURCE),
            _ => None,
        };
        if let Some(allowed) = allowed {
            check_params(allowed, sspec, &sw)?;
        }
        let sspec = obj(sspec, &sw)?;
        let (date, hist) = match stype.as_str() {
            "terms" => (None, None),
            "date_histogram" => (
                Some((interval_ms(sspec, &sw)?, offset_ms(sspec, &sw)?)),
                None,
            ),
            "histogram" => {
                let i = sspec
                    .get("interval")
                    .and_then(Value::as_f64)
                    .filter(|i| *i > 0.0);
                let i = i.ok_or_else(|| bad(&sw, "`interval` required".to_string()))?;
                (None, Some((i, 0.0)))
            }
            other => return Err(bad(&sw, format!("source type `{other}` is not supported; use terms, histogram or date_histogram"))),
        };
        Ok(Source {
            name: sname.clone(),
            field: get_field(ctx, sspec, &sw)?,
            date,
            hist,
            desc: sspec.get("order").and_then(Value::as_str) == Some("desc"),
            missing_bucket: sspec
                .get("missing_bucket")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// Orders two keys of this source (missing first, reversed when `desc`).
    fn cmp(&self, ctx: &Ctx, a: &Option<Val>, b: &Option<Val>) -> Ordering {
        let o = match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(p), Some(q)) => ctx.cmp(*p, *q),
        };
        if self.desc {
            o.reverse()
        } else {
            o
        }
    }

    /// The distinct keys of document `d` under this source (`[None]` for a missing bucket).
    fn values(&self, d: DocRef, out: &mut Vec<Option<Val>>) {
        out.clear();
        for v in self.field.values(d) {
            let k = match (self.date, self.hist) {
                (Some((i, o)), _) => date_key(v, i, o).map(Val::Date),
                (_, Some((i, _))) => v.as_f64().map(|x| Val::Num((x / i).floor() * i)),
                _ => Some(v),
            };
            if let Some(k) = k {
                if !out.contains(&Some(k)) {
                    out.push(Some(k));
                }
            }
        }
        if out.is_empty() && self.missing_bucket {
            out.push(None);
        }
    }
}

/// The `after` key: one value per source, by name.
fn parse_after(
    ctx: &mut Ctx,
    sources: &[Source],
    a: &Value,
    what: &str,
) -> Result<Vec<Option<Val>>, StoreError> {
    let a = obj(a, &format!("{what}: after"))?;
    let mut key = Vec::new();
    for src in sources {
        let v = a
            .get(&src.name)
            .ok_or_else(|| bad(what, format!("after lacks `{}`", src.name)))?;
        key.push(match v {
            Value::Null => None,
            Value::String(t) if src.date.is_some() => {
                let ms = crate::time::parse_timestamp(t)
                    .ok_or_else(|| bad(what, format!("after: bad date {t}")))?;
                Some(Val::Date(ms))
            }
            Value::Number(n) if src.date.is_some() => {
                Some(Val::Date(n.as_f64().unwrap_or(0.0) as i64))
            }
            Value::String(t) => Some(ctx.str_val(t)),
            Value::Number(n) => Some(Val::Num(n.as_f64().unwrap_or(0.0))),
            Value::Bool(b) => Some(Val::Bool(*b)),
            other => return Err(bad(what, format!("after: unsupported value {other}"))),
        });
    }
    Ok(key)
}
