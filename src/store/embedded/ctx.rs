//! The documents as a request sees them: the searched indices ([`Ctx`]), a document
//! ([`DocRef`]), a field's values ([`Field`]), value order and JSON, and the request-wide
//! bucket limit. Every layer above (query, hits, aggregations, `_search`) builds on this.

use super::index::{Bits, IndexState, Interner, Val, Vals};
use crate::store::StoreError;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::cmp::Ordering;

/// Elasticsearch's default `search.max_buckets`: a response may hold at most this many
/// buckets in total.
pub(crate) const MAX_BUCKETS: usize = 65_536;

/// A document of one of the searched indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DocRef {
    /// Position of the index in [`Ctx::indices`].
    pub(crate) ix: u32,
    /// Slot within the index.
    pub(crate) doc: u32,
}

/// Everything a request is evaluated against.
pub(crate) struct Ctx<'a> {
    pub(crate) indices: Vec<&'a IndexState>,
    pub(crate) interner: &'a Interner,
    /// Strings the request mentions that no document holds (see [`Val::Ext`]).
    pub(crate) extra: Vec<String>,
    /// The first error of a part of the answer that cannot return one itself (a `top_hits`
    /// source that could not be read); the request fails with it.
    pub(crate) failure: RefCell<Option<StoreError>>,
    /// Buckets created so far by the request's aggregations (see [`MAX_BUCKETS`]).
    buckets: Cell<usize>,
}

/// A field resolved against every searched index.
pub(crate) struct Field<'a> {
    /// Per searched index: the index and the field's column id there.
    cols: Vec<Option<(&'a IndexState, u32)>>,
    /// Some index holds non-integral numbers in it (`double` rather than `long`).
    pub(crate) float: bool,
}

impl<'a> Field<'a> {
    /// The index at position `ix` of the request and the field's column id there.
    pub(crate) fn col(&self, ix: usize) -> Option<(&'a IndexState, u32)> {
        self.cols.get(ix).copied().flatten()
    }
    #[inline]
    pub(crate) fn values(&self, d: DocRef) -> Vals<'a> {
        match self.cols.get(d.ix as usize) {
            Some(Some((ix, col))) => ix.values(*col, d.doc),
            _ => Vals::NONE,
        }
    }
}

/// A search request with a part the store cannot read: `at` names the part (an
/// aggregation, a query clause, `sort`...), `problem` says what was expected there.
pub(crate) fn bad(at: &str, problem: impl Into<String>) -> StoreError {
    StoreError::InvalidSearch {
        at: at.to_string(),
        problem: problem.into(),
    }
}

impl<'a> Ctx<'a> {
    /// A request over `indices`.
    pub(crate) fn new(indices: Vec<&'a IndexState>, interner: &'a Interner) -> Self {
        Ctx {
            indices,
            interner,
            extra: Vec::new(),
            failure: RefCell::new(None),
            buckets: Cell::new(0),
        }
    }

    /// Whether a part of the answer has failed (the rest need not be computed).
    pub(crate) fn failed(&self) -> bool {
        self.failure.borrow().is_some()
    }

    /// Records the first failure of the request.
    pub(crate) fn fail(&self, e: StoreError) {
        self.failure.borrow_mut().get_or_insert(e);
    }

    /// Counts `n` more buckets; over [`MAX_BUCKETS`] in total the request fails as
    /// Elasticsearch's `too_many_buckets_exception` and this returns `false`.
    pub(crate) fn add_buckets(&self, n: usize) -> bool {
        let total = self.buckets.get().saturating_add(n);
        self.buckets.set(total);
        if total > MAX_BUCKETS {
            self.fail(too_many_buckets(total));
            return false;
        }
        true
    }

    /// Whether `n` more buckets would stay within [`MAX_BUCKETS`] (without counting them);
    /// when not, the request fails. Checked before filling empty buckets, so a `1ms`
    /// histogram over hours never allocates millions first.
    pub(crate) fn room_for_buckets(&self, n: usize) -> bool {
        let total = self.buckets.get().saturating_add(n);
        if total > MAX_BUCKETS {
            self.fail(too_many_buckets(total));
            return false;
        }
        true
    }
    /// Resolves a field path; `x.keyword` falls back to `x` (dynamic mappings' keyword
    /// sub-field).
    pub(crate) fn field(&self, name: &str) -> Field<'a> {
        let mut cols = Vec::with_capacity(self.indices.len());
        let mut float = false;
        for ix in &self.indices {
            let c = ix
                .columns
                .id(name)
                .or_else(|| name.strip_suffix(".keyword").and_then(|n| ix.columns.id(n)));
            float |= c.is_some_and(|c| ix.columns.has_float(c));
            cols.push(c.map(|c| (*ix, c)));
        }
        Field { cols, float }
    }

    /// The text of a string value.
    pub(crate) fn text(&self, v: Val) -> Option<&str> {
        match v {
            Val::Str(id) => Some(self.interner.get(id)),
            Val::Ext(i) => self.extra.get(i as usize).map(String::as_str),
            _ => None,
        }
    }

    /// A string as a value: interned id when some document holds it, else a request-local one.
    pub(crate) fn str_val(&mut self, s: &str) -> Val {
        match self.interner.lookup(s) {
            Some(id) => Val::Str(id),
            None => {
                self.extra.push(s.to_string());
                Val::Ext(self.extra.len() as u32 - 1)
            }
        }
    }

    /// Total order used for sorting and keys: numbers and dates (by number), then strings
    /// (by text), then booleans.
    pub(crate) fn cmp(&self, a: Val, b: Val) -> Ordering {
        fn rank(v: Val) -> u8 {
            match v {
                Val::Num(_) | Val::Date(_) => 0,
                Val::Str(_) | Val::Ext(_) => 1,
                Val::Bool(_) => 2,
            }
        }
        match (a, b) {
            (Val::Date(x), Val::Date(y)) => x.cmp(&y),
            (Val::Str(x), Val::Str(y)) if x == y => Ordering::Equal,
            (Val::Bool(x), Val::Bool(y)) => x.cmp(&y),
            _ => match (rank(a), rank(b)) {
                (0, 0) => a
                    .as_f64()
                    .unwrap_or(0.0)
                    .total_cmp(&b.as_f64().unwrap_or(0.0)),
                (1, 1) => self.text(a).cmp(&self.text(b)),
                (x, y) => x.cmp(&y),
            },
        }
    }

    /// A value as JSON, numbers kept integral for `long`-like fields.
    pub(crate) fn json(&self, v: Val, float: bool) -> Value {
        match v {
            Val::Num(f) => num_json(f, float),
            Val::Date(ms) => Value::from(ms),
            Val::Str(_) | Val::Ext(_) => Value::from(self.text(v).unwrap_or("")),
            Val::Bool(b) => Value::from(b),
        }
    }

    /// Every live document of every searched index.
    pub(crate) fn all_docs(&self) -> Vec<Bits> {
        self.indices.iter().map(|ix| ix.live.clone()).collect()
    }
}

/// A number as JSON: integral values of integral fields print without a fraction.
pub(crate) fn num_json(f: f64, float: bool) -> Value {
    if !float && f.fract() == 0.0 && f.abs() < 9.007e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// Elasticsearch's answer to a response of more than [`MAX_BUCKETS`] buckets.
fn too_many_buckets(n: usize) -> StoreError {
    StoreError::TooManyBuckets {
        limit: MAX_BUCKETS,
        requested: n,
    }
}

/// Shell-style `*` and `?` matching.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            pi += 1;
            mark = ti;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches() {
        assert!(glob("nginx-*", "nginx-2015"));
        assert!(glob("*", "x"));
        assert!(glob("a*b?c", "axxbyc"));
        assert!(!glob("nginx-*", "apache"));
        assert!(!glob("a?", "a"));
    }

    #[test]
    fn num_json_keeps_longs_integral() {
        assert_eq!(num_json(503.0, false), serde_json::json!(503));
        assert_eq!(num_json(2.0, true), serde_json::json!(2.0));
    }
}
