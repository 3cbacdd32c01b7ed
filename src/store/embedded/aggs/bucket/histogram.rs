//! `histogram` over numbers, and the bucket rendering it shares with `date_histogram`.

use super::super::common::{
    bucket_list, bucketize, bucketize_into, check_params, f64_json, get_field, get_u64, num_bounds,
    obj, Bounds,
};
use super::super::{with_subs, Agg};
use crate::store::embedded::ctx::{bad, Ctx, DocRef, Field};
use crate::store::embedded::index::{FastMap, Val};
use crate::store::StoreError;
use serde_json::{Map, Value};

const PARAMS: &[&str] = &[
    "field",
    "interval",
    "offset",
    "min_doc_count",
    "extended_bounds",
    "hard_bounds",
    "keyed",
];

/// A `date_histogram` (`T` = epoch milliseconds) or `histogram` (`T` = `f64`).
pub(in crate::store::embedded::aggs) struct Histogram<'a, T> {
    pub(super) field: Field<'a>,
    pub(super) interval: T,
    pub(super) offset: T,
    pub(super) min_doc_count: u64,
    pub(super) extended: Bounds<T>,
    pub(super) hard: Bounds<T>,
    pub(super) keyed: bool,
}

impl<'a> Histogram<'a, f64> {
    pub(in crate::store::embedded::aggs) fn parse_num(
        ctx: &Ctx<'a>,
        v: &Value,
        what: &str,
    ) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        let s = obj(v, what)?;
        let interval = s
            .get("interval")
            .and_then(Value::as_f64)
            .filter(|i| *i > 0.0)
            .ok_or_else(|| bad(what, "`interval` must be a positive number".to_string()))?;
        Ok(Histogram {
            field: get_field(ctx, s, what)?,
            interval,
            offset: s.get("offset").and_then(Value::as_f64).unwrap_or(0.0),
            min_doc_count: get_u64(s, "min_doc_count", 0, what)?,
            extended: num_bounds(s, "extended_bounds"),
            hard: num_bounds(s, "hard_bounds"),
            keyed: s.get("keyed").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    pub(in crate::store::embedded::aggs) fn eval_num(
        &self,
        ctx: &Ctx,
        subs: &[Agg],
        docs: &[DocRef],
    ) -> Value {
        if subs.is_empty() {
            let mut counts = FastMap::default();
            self.count_nums(&mut counts, docs);
            return self.nums_counted(ctx, &counts);
        }
        let key = |v: Val| v.as_f64().map(|x| self.num_key(x).to_bits());
        let map: FastMap<u64, Vec<DocRef>> = bucketize(&self.field, docs, key);
        let of = |k: f64| {
            map.get(&k.to_bits())
                .map_or((0, &[][..]), |v| (v.len(), &v[..]))
        };
        self.num_buckets(ctx, subs, map.keys(), of)
    }

    /// Adds the next `docs` to the bucket counts (by key bits) of a `histogram` without
    /// sub-aggregations (evaluated a batch of documents at a time).
    pub(in crate::store::embedded::aggs) fn count_nums(
        &self,
        counts: &mut FastMap<u64, usize>,
        docs: &[DocRef],
    ) {
        bucketize_into(counts, &self.field, docs, |v: Val| {
            v.as_f64().map(|x| self.num_key(x).to_bits())
        });
    }

    /// The key of the `histogram` bucket holding `x`.
    fn num_key(&self, x: f64) -> f64 {
        ((x - self.offset) / self.interval).floor() * self.interval + self.offset
    }

    /// The `histogram` of the bucket counts [`Histogram::count_nums`] gathered.
    pub(in crate::store::embedded::aggs) fn nums_counted(
        &self,
        ctx: &Ctx,
        counts: &FastMap<u64, usize>,
    ) -> Value {
        let count = |k: f64| (counts.get(&k.to_bits()).copied().unwrap_or(0), &[][..]);
        self.num_buckets(ctx, &[], counts.keys(), count)
    }

    /// [`Histogram::eval_num`]'s buckets, from the keys found and each key's documents.
    fn num_buckets<'d>(
        &self,
        ctx: &Ctx,
        subs: &[Agg],
        found: impl Iterator<Item = &'d u64>,
        docs_of: impl Fn(f64) -> (usize, &'d [DocRef]),
    ) -> Value {
        let interval = self.interval;
        let kf = |x: f64| self.num_key(x);
        let mut keys: Vec<f64> = found.map(|b| f64::from_bits(*b)).collect();
        keys.sort_by(f64::total_cmp);
        if self.min_doc_count == 0 {
            match self.filled_keys(&keys, kf) {
                Some((lo, n)) if ctx.room_for_buckets(n) => {
                    keys = (0..n)
                        .map(|i| kf(lo + i as f64 * interval + interval / 2.0))
                        .collect();
                }
                Some(_) => return bucket_list(Vec::new(), self.keyed),
                None => {}
            }
        }
        self.buckets(ctx, subs, keys, docs_of, |k, b| {
            b.insert("key".into(), f64_json(k));
            format!("{k:?}")
        })
    }

    /// The first key and the number of buckets from the lowest to the highest key (or
    /// extended bound) within the hard bounds, when empty buckets are filled.
    fn filled_keys(&self, keys: &[f64], kf: impl Fn(f64) -> f64) -> Option<(f64, usize)> {
        let lo = [keys.first().copied(), self.extended.min.map(&kf)]
            .into_iter()
            .flatten()
            .reduce(f64::min);
        let hi = [keys.last().copied(), self.extended.max.map(&kf)]
            .into_iter()
            .flatten()
            .reduce(f64::max);
        let (Some(mut lo), Some(mut hi)) = (lo, hi) else {
            return None;
        };
        if let Some(b) = self.hard.min {
            lo = lo.max(kf(b));
        }
        if let Some(b) = self.hard.max {
            hi = hi.min(kf(b));
        }
        let n = if hi >= lo {
            ((hi - lo) / self.interval).round() as usize + 1
        } else {
            0
        };
        Some((lo, n))
    }
}

impl<T> Histogram<'_, T>
where
    T: Copy + PartialOrd + std::ops::Add<Output = T>,
{
    /// The buckets for `keys` (ascending): those inside the hard bounds with at least
    /// `min_doc_count` documents, each with the key fields `key` puts in (it returns the
    /// bucket's name in the keyed form), `doc_count` and the sub-aggregations.
    pub(super) fn buckets<'d>(
        &self,
        ctx: &Ctx,
        subs: &[Agg],
        keys: Vec<T>,
        docs_of: impl Fn(T) -> (usize, &'d [DocRef]),
        key: impl Fn(T, &mut Map<String, Value>) -> String,
    ) -> Value {
        let h = self;
        let in_bounds = |k: T| {
            h.hard.min.is_none_or(|m| k + h.interval > m) && h.hard.max.is_none_or(|m| k <= m)
        };
        let mut buckets = Vec::new();
        for k in keys.into_iter().filter(|&k| in_bounds(k)) {
            let (count, ds) = docs_of(k);
            if (count as u64) < h.min_doc_count {
                continue;
            }
            if !ctx.add_buckets(1) {
                break;
            }
            let mut b = Map::new();
            let name = key(k, &mut b);
            b.insert("doc_count".into(), Value::from(count));
            buckets.push((name, with_subs(ctx, subs, ds, b)));
        }
        bucket_list(buckets, h.keyed)
    }
}
