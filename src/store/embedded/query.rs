//! The query DSL subset: parsed once per request into a [`Query`], then evaluated column by
//! column into one boolean per document slot.

use super::ctx::{bad, glob, Ctx, DocRef, Field};
use super::index::{Bits, Bounds, Val};
use crate::store::StoreError;
use serde_json::Value;

/// A parsed query.
pub(crate) enum Query<'a> {
    All,
    None,
    Bool {
        must: Vec<Query<'a>>,
        should: Vec<Query<'a>>,
        must_not: Vec<Query<'a>>,
        min_should: usize,
    },
    /// The field has one of these values.
    Terms(Field<'a>, Vec<Val>),
    Ids(Vec<String>),
    Index(Vec<String>),
    Range(Field<'a>, Range),
    Exists(Vec<Field<'a>>),
    Prefix(Field<'a>, String),
    Wildcard(Field<'a>, String),
    /// Any field has one of these values (query_string without a field).
    AnyField(Vec<Field<'a>>, Vec<Val>),
}

/// Range bounds, prepared for each kind of value a field may hold.
#[derive(Default)]
pub(crate) struct Range {
    num: [Option<(f64, bool)>; 2],
    date: [Option<(i64, bool)>; 2],
    text: [Option<(String, bool)>; 2],
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses a date bound: epoch millis (number), RFC 3339 and the other forms of
/// [`crate::time::parse_timestamp`], `now`, `now-15m`, `now+1h`.
fn date_bound(v: &Value, format: Option<&str>) -> Option<i64> {
    match v {
        Value::Number(n) => {
            let f = n.as_f64()?;
            Some(if format == Some("epoch_second") {
                (f * 1000.0) as i64
            } else {
                f as i64
            })
        }
        Value::String(s) => {
            let s = s.trim();
            if let Some(rest) = s.strip_prefix("now") {
                let now = now_ms();
                if rest.is_empty() {
                    return Some(now);
                }
                // `now` followed by anything: never slice inside a character (fuzzing found
                // `now\u{10ffff}-10y`).
                let (sign, dur) = match (rest.strip_prefix('-'), rest.strip_prefix('+')) {
                    (Some(d), _) => (-1, d),
                    (None, Some(d)) => (1, d),
                    _ => return None,
                };
                let d = crate::time::parse_duration(dur).ok()?;
                return Some(now + sign * d.as_millis() as i64);
            }
            match format {
                Some("epoch_millis") => s.parse::<f64>().ok().map(|f| f as i64),
                Some("epoch_second") => s.parse::<f64>().ok().map(|f| (f * 1000.0) as i64),
                _ => crate::time::parse_timestamp(s),
            }
        }
        _ => None,
    }
}

impl Range {
    pub(crate) fn parse(field: &str, spec: &Value) -> Result<Range, StoreError> {
        let obj = spec.as_object().ok_or_else(|| {
            bad(
                "query",
                format!("range on `{field}`: expected an object of gt/gte/lt/lte"),
            )
        })?;
        let format = obj.get("format").and_then(Value::as_str);
        let mut r = Range::default();
        for (k, v) in obj {
            let (side, incl) = match k.as_str() {
                "gt" => (0, false),
                "gte" | "from" => (0, true),
                "lt" => (1, false),
                "lte" | "to" => (1, true),
                "format" | "boost" | "time_zone" | "relation" | "include_lower"
                | "include_upper" => continue,
                other => {
                    return Err(bad(
                        "query",
                        format!("range on `{field}`: unknown parameter `{other}`"),
                    ))
                }
            };
            if v.is_null() {
                continue;
            }
            let incl = match (k.as_str(), side) {
                ("from", _) => obj
                    .get("include_lower")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                ("to", _) => obj
                    .get("include_upper")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                _ => incl,
            };
            let num = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .or_else(|| date_bound(v, format).map(|d| d as f64)),
                _ => None,
            };
            let date = date_bound(v, format);
            if num.is_none() && date.is_none() && !v.is_string() {
                return Err(bad(
                    "query",
                    format!("range on `{field}`: `{k}` must be a number or a string, got {v}"),
                ));
            }
            if let Value::String(s) = v {
                if s.starts_with("now") && date.is_none() {
                    return Err(bad("query", format!(
                        "range on `{field}`: `{s}` is not supported date math; expected `now`, `now-15m` or `now+1h` (no rounding)"
                    )));
                }
            }
            r.num[side] = num.map(|n| (n, incl));
            r.date[side] = date.map(|d| (d, incl));
            r.text[side] = v.as_str().map(|s| (s.to_string(), incl));
        }
        Ok(r)
    }

    fn matches(&self, ctx: &Ctx, v: Val) -> bool {
        fn within<T: PartialOrd>(x: &T, b: &[Option<(T, bool)>; 2]) -> bool {
            let lo = match &b[0] {
                Some((l, true)) => x >= l,
                Some((l, false)) => x > l,
                None => true,
            };
            let hi = match &b[1] {
                Some((h, true)) => x <= h,
                Some((h, false)) => x < h,
                None => true,
            };
            lo && hi
        }
        match v {
            Val::Num(f) => self.usable(|i| self.num[i].is_some()) && within(&f, &self.num),
            Val::Date(d) => self.usable(|i| self.date[i].is_some()) && within(&d, &self.date),
            Val::Str(_) | Val::Ext(_) => {
                let t = ctx.text(v).unwrap_or("");
                let b = [0, 1].map(|i| self.text[i].as_ref().map(|(s, inc)| (s.as_str(), *inc)));
                self.usable(|i| self.text[i].is_some()) && within(&t, &b)
            }
            Val::Bool(_) => false,
        }
    }

    /// Every bound given can be read as the kind `has` checks.
    /// For the values from `lo` to `hi` (of one kind) of a segment's column: whether all of
    /// them match (`Some(true)`), none does (`Some(false)`), or it depends (`None`).
    fn span(&self, ctx: &Ctx, lo: Val, hi: Val) -> Option<bool> {
        fn outside<T: PartialOrd>(lo: &T, hi: &T, b: &[Option<(T, bool)>; 2]) -> bool {
            let below = match &b[0] {
                Some((l, true)) => hi < l,
                Some((l, false)) => hi <= l,
                None => false,
            };
            let above = match &b[1] {
                Some((h, true)) => lo > h,
                Some((h, false)) => lo >= h,
                None => false,
            };
            below || above
        }
        if self.matches(ctx, lo) && self.matches(ctx, hi) {
            // Number and date ranges are intervals: everything between matches too.
            return Some(true);
        }
        let none = match (lo, hi) {
            (Val::Num(a), Val::Num(b)) => {
                !self.usable(|i| self.num[i].is_some()) || outside(&a, &b, &self.num)
            }
            (Val::Date(a), Val::Date(b)) => {
                !self.usable(|i| self.date[i].is_some()) || outside(&a, &b, &self.date)
            }
            (Val::Bool(_), Val::Bool(_)) => true,
            _ => false,
        };
        none.then_some(false)
    }

    fn usable(&self, has: impl Fn(usize) -> bool) -> bool {
        (0..2).all(|i| {
            !(self.num[i].is_some() || self.date[i].is_some() || self.text[i].is_some()) || has(i)
        })
    }
}

/// Values a query term stands for, across the types a field may have.
pub(crate) fn term_vals(ctx: &mut Ctx, v: &Value) -> Vec<Val> {
    let mut out = Vec::new();
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                out.push(Val::Num(f));
                out.push(Val::Date(f as i64));
                if let Some(id) = ctx.interner.lookup(&n.to_string()) {
                    out.push(Val::Str(id));
                }
            }
        }
        Value::String(s) => {
            out.push(ctx.str_val(s));
            if let Ok(f) = s.trim().parse::<f64>() {
                out.push(Val::Num(f));
            }
            if let Some(ms) = crate::time::parse_timestamp(s) {
                out.push(Val::Date(ms));
            }
            match s.as_str() {
                "true" => out.push(Val::Bool(true)),
                "false" => out.push(Val::Bool(false)),
                _ => {}
            }
        }
        Value::Bool(b) => {
            out.push(Val::Bool(*b));
            if let Some(id) = ctx.interner.lookup(if *b { "true" } else { "false" }) {
                out.push(Val::Str(id));
            }
        }
        _ => {}
    }
    out
}

pub(crate) fn term_query<'a>(ctx: &mut Ctx<'a>, field: &str, values: &[Value]) -> Query<'a> {
    match field {
        "_id" => Query::Ids(
            values
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect(),
        ),
        "_index" => Query::Index(
            values
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
        ),
        _ => {
            let mut vals = Vec::new();
            for v in values {
                vals.extend(term_vals(ctx, v));
            }
            Query::Terms(ctx.field(field), vals)
        }
    }
}

pub(crate) fn exists_query<'a>(ctx: &Ctx<'a>, field: &str) -> Query<'a> {
    let prefix = format!("{field}.");
    let mut fields = vec![ctx.field(field)];
    let mut names: Vec<&String> = Vec::new();
    for ix in &ctx.indices {
        names.extend(ix.columns.with_prefix(&prefix));
    }
    names.sort();
    names.dedup();
    fields.extend(names.into_iter().map(|n| ctx.field(n)));
    Query::Exists(fields)
}

/// The per-document test of a query that looks at one document at a time; `None` for the
/// others (`bool`, `ids`, `_index`, `match_all`, `match_none`).
#[allow(clippy::type_complexity)]
fn leaf_pred<'q>(ctx: &'q Ctx, q: &'q Query) -> Option<Box<dyn Fn(DocRef) -> bool + 'q>> {
    Some(match q {
        Query::Terms(f, vals) if vals.len() <= 8 => {
            Box::new(move |d| f.values(d).iter().any(|v| vals.contains(v)))
        }
        Query::Terms(f, vals) => {
            let set: std::collections::HashSet<Val> = vals.iter().copied().collect();
            Box::new(move |d| f.values(d).iter().any(|v| set.contains(v)))
        }
        Query::Range(f, r) => Box::new(move |d| f.values(d).iter().any(|&v| r.matches(ctx, v))),
        Query::Exists(fields) => Box::new(move |d| fields.iter().any(|f| !f.values(d).is_empty())),
        Query::Prefix(f, p) => Box::new(move |d| {
            f.values(d)
                .iter()
                .any(|&v| ctx.text(v).is_some_and(|t| t.starts_with(p.as_str())))
        }),
        Query::Wildcard(f, p) => Box::new(move |d| {
            f.values(d)
                .iter()
                .any(|&v| ctx.text(v).is_some_and(|t| glob(p, t)))
        }),
        Query::AnyField(fields, vals) => Box::new(move |d| {
            fields
                .iter()
                .any(|f| f.values(d).iter().any(|v| vals.contains(v)))
        }),
        _ => return None,
    })
}

/// `acc &= q` (or `acc &= !q` when `negate`), testing only the documents `acc` still holds:
/// the clauses of a `bool` after the first look at the survivors of the earlier ones.
fn and_into(ctx: &Ctx, q: &Query, negate: bool, acc: &mut [Bits]) {
    match q {
        Query::All if !negate => {}
        Query::Bool {
            must,
            should,
            must_not,
            min_should,
        } if !negate && (should.is_empty() || *min_should == 0) => {
            for m in must {
                and_into(ctx, m, false, acc);
            }
            for m in must_not {
                and_into(ctx, m, true, acc);
            }
        }
        _ => match leaf_pred(ctx, q) {
            Some(pred) => {
                for (ix, a) in acc.iter_mut().enumerate() {
                    for (span, verdict) in spans(ctx, q, ix, a.len()) {
                        for doc in span {
                            if a.get(doc as usize) {
                                let hit =
                                    verdict.unwrap_or_else(|| pred(DocRef { ix: ix as u32, doc }));
                                a.set(doc as usize, hit != negate);
                            }
                        }
                    }
                }
            }
            None => {
                let r = eval(ctx, q);
                for (a, r) in acc.iter_mut().zip(&r) {
                    a.and(r, negate);
                }
            }
        },
    }
}

/// Evaluates a query into a match flag per slot of each index (dead slots never match).
pub(crate) fn eval(ctx: &Ctx, q: &Query) -> Vec<Bits> {
    match q {
        Query::All => ctx.all_docs(),
        Query::None => no_docs(ctx),
        Query::Bool {
            must,
            should,
            must_not,
            min_should,
        } => eval_bool(ctx, must, should, must_not, *min_should),
        Query::Ids(ids) => {
            let mut out = no_docs(ctx);
            for (ix, st) in ctx.indices.iter().enumerate() {
                for id in ids {
                    if let Some(slot) = st.slot_of(id) {
                        out[ix].set(slot as usize, true);
                    }
                }
            }
            out
        }
        Query::Index(names) => ctx
            .indices
            .iter()
            .map(|ix| {
                let hit = names.iter().any(|n| glob(n, &ix.name));
                if hit {
                    ix.live.clone()
                } else {
                    Bits::new(ix.live.len(), false)
                }
            })
            .collect(),
        _ => match leaf_pred(ctx, q) {
            Some(pred) => per_doc(ctx, q, &*pred),
            None => no_docs(ctx),
        },
    }
}

/// No document of any searched index.
fn no_docs(ctx: &Ctx) -> Vec<Bits> {
    ctx.indices
        .iter()
        .map(|ix| Bits::new(ix.live.len(), false))
        .collect()
}

/// The live documents for which `pred` (the test of `q`) holds.
fn per_doc(ctx: &Ctx, q: &Query, pred: &dyn Fn(DocRef) -> bool) -> Vec<Bits> {
    ctx.indices
        .iter()
        .enumerate()
        .map(|(ix, st)| {
            let mut out = Bits::new(st.live.len(), false);
            for (span, verdict) in spans(ctx, q, ix, st.live.len()) {
                for doc in span {
                    let d = doc as usize;
                    let hit = st.live.get(d)
                        && verdict.unwrap_or_else(|| pred(DocRef { ix: ix as u32, doc }));
                    out.set(d, hit);
                }
            }
            out
        })
        .collect()
}

/// The slots `0..len` of index `ix` by segment, each with the answer of `q` for all its
/// documents when the segment's bounds tell it (a `range` on a number or date column whose
/// values in the segment lie all inside or all outside), else `None` (test each document).
fn spans(ctx: &Ctx, q: &Query, ix: usize, len: usize) -> Vec<(std::ops::Range<u32>, Option<bool>)> {
    let all = vec![(0..len as u32, None)];
    let Query::Range(f, r) = q else {
        return all;
    };
    let Some((st, col)) = f.col(ix) else {
        return all;
    };
    st.spans(col)
        .into_iter()
        .map(|(span, b)| {
            let verdict = match b {
                Bounds::Absent => Some(false),
                Bounds::Range { lo, hi, full } => match r.span(ctx, lo, hi) {
                    Some(true) if !full => None,
                    v => v,
                },
                Bounds::Unknown => None,
            };
            (
                span.start.min(len as u32)..span.end.min(len as u32),
                verdict,
            )
        })
        .collect()
}

/// A `bool` query: every `must`, at least `min_should` of `should`, no `must_not`.
fn eval_bool(
    ctx: &Ctx,
    must: &[Query],
    should: &[Query],
    must_not: &[Query],
    min_should: usize,
) -> Vec<Bits> {
    let mut acc = ctx.all_docs();
    for m in must {
        and_into(ctx, m, false, &mut acc);
    }
    if min_should > 0 {
        let mut counts: Vec<Vec<u32>> = acc.iter().map(|a| vec![0; a.len()]).collect();
        for s in should {
            let r = eval(ctx, s);
            for (c, r) in counts.iter_mut().zip(&r) {
                for d in r.ones() {
                    c[d] += 1;
                }
            }
        }
        for (a, c) in acc.iter_mut().zip(&counts) {
            for (d, &c) in c.iter().enumerate() {
                if (c as usize) < min_should {
                    a.set(d, false);
                }
            }
        }
    }
    for m in must_not {
        and_into(ctx, m, true, &mut acc);
    }
    acc
}

/// Gives the documents `flags` mark to `f`, in order, at most `batch` at a time; returns
/// how many.
pub(crate) fn doc_batches(flags: &[Bits], batch: usize, mut f: impl FnMut(&[DocRef])) -> usize {
    let mut buf = Vec::with_capacity(batch);
    let mut total = 0;
    for (ix, fl) in flags.iter().enumerate() {
        for doc in fl.ones() {
            buf.push(DocRef {
                ix: ix as u32,
                doc: doc as u32,
            });
            if buf.len() == batch {
                total += buf.len();
                f(&buf);
                buf.clear();
            }
        }
    }
    total += buf.len();
    if !buf.is_empty() {
        f(&buf);
    }
    total
}

/// The matching documents in index order (allocated once at their exact count: a doubling
/// vector of all of a large index's documents peaked at twice their 8 bytes each).
pub(crate) fn doc_list(flags: &[Bits]) -> Vec<DocRef> {
    let n = flags.iter().map(Bits::count_ones).sum();
    let mut out = Vec::with_capacity(n);
    for (ix, f) in flags.iter().enumerate() {
        out.extend(f.ones().map(|doc| DocRef {
            ix: ix as u32,
            doc: doc as u32,
        }));
    }
    out
}
