//! `date_histogram`: fixed intervals (and minute, hour, day calendar intervals) in UTC.

use super::super::common::{
    bucketize, bucketize_into, check_params, date_bounds, date_key, get_field, get_u64,
    interval_ms, obj, offset_ms,
};
use super::super::Agg;
use super::histogram::Histogram;
use crate::store::embedded::ctx::{bad, Ctx, DocRef};
use crate::store::embedded::index::FastMap;
use crate::store::StoreError;
use serde_json::{json, Value};

const PARAMS: &[&str] = &[
    "field",
    "fixed_interval",
    "interval",
    "calendar_interval",
    "offset",
    "min_doc_count",
    "extended_bounds",
    "hard_bounds",
    "keyed",
    "format",
    "time_zone",
    "order",
];

impl<'a> Histogram<'a, i64> {
    pub(in crate::store::embedded::aggs) fn parse_date(
        ctx: &Ctx<'a>,
        v: &Value,
        what: &str,
    ) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        if let Some(ord) = v.as_object().and_then(|o| o.get("order")) {
            if *ord != json!({"_key": "asc"}) {
                return Err(bad(
                    what,
                    format!("order {ord} is not supported; buckets come in ascending key order"),
                ));
            }
        }
        let s = obj(v, what)?;
        Ok(Histogram {
            field: get_field(ctx, s, what)?,
            interval: interval_ms(s, what)?,
            offset: offset_ms(s, what)?,
            min_doc_count: get_u64(s, "min_doc_count", 0, what)?,
            extended: date_bounds(s, "extended_bounds", what)?,
            hard: date_bounds(s, "hard_bounds", what)?,
            keyed: s.get("keyed").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    pub(in crate::store::embedded::aggs) fn eval_date(
        &self,
        ctx: &Ctx,
        subs: &[Agg],
        docs: &[DocRef],
    ) -> Value {
        if subs.is_empty() {
            let mut counts = FastMap::default();
            self.count_dates(&mut counts, docs);
            return self.dates_counted(ctx, &counts);
        }
        let (interval, offset) = (self.interval, self.offset);
        let key = |v| date_key(v, interval, offset);
        let map: FastMap<i64, Vec<DocRef>> = bucketize(&self.field, docs, key);
        let of = |k: i64| map.get(&k).map_or((0, &[][..]), |v| (v.len(), &v[..]));
        self.date_buckets(ctx, subs, map.keys(), of)
    }

    /// Adds the next `docs` to the bucket counts of a `date_histogram` without
    /// sub-aggregations (evaluated a batch of documents at a time).
    pub(in crate::store::embedded::aggs) fn count_dates(
        &self,
        counts: &mut FastMap<i64, usize>,
        docs: &[DocRef],
    ) {
        let (interval, offset) = (self.interval, self.offset);
        bucketize_into(counts, &self.field, docs, |v| date_key(v, interval, offset));
    }

    /// The `date_histogram` of the bucket counts [`Histogram::count_dates`] gathered.
    pub(in crate::store::embedded::aggs) fn dates_counted(
        &self,
        ctx: &Ctx,
        counts: &FastMap<i64, usize>,
    ) -> Value {
        let count = |k: i64| (counts.get(&k).copied().unwrap_or(0), &[][..]);
        self.date_buckets(ctx, &[], counts.keys(), count)
    }

    /// [`Histogram::eval_date`]'s buckets, from the keys found and each key's documents.
    fn date_buckets<'d>(
        &self,
        ctx: &Ctx,
        subs: &[Agg],
        found: impl Iterator<Item = &'d i64>,
        docs_of: impl Fn(i64) -> (usize, &'d [DocRef]),
    ) -> Value {
        let interval = self.interval;
        let mut keys: Vec<i64> = found.copied().collect();
        keys.sort_unstable();
        if self.min_doc_count == 0 {
            match self.filled_keys(&keys) {
                Some((lo, n)) if ctx.room_for_buckets(n) => {
                    keys = (0..n).map(|i| lo + i as i64 * interval).collect();
                }
                Some(_) => return super::super::common::bucket_list(Vec::new(), self.keyed),
                None => {}
            }
        }
        self.buckets(ctx, subs, keys, docs_of, |k, b| {
            let name = crate::time::format_millis(k);
            b.insert("key_as_string".into(), Value::from(name.clone()));
            b.insert("key".into(), Value::from(k));
            name
        })
    }

    /// The first key and the number of buckets from the lowest to the highest key (or
    /// extended bound) within the hard bounds, when empty buckets are filled.
    fn filled_keys(&self, keys: &[i64]) -> Option<(i64, usize)> {
        let (interval, offset) = (self.interval, self.offset);
        let align = |t: i64| crate::time::bucket_start(t - offset, interval) + offset;
        let lo = [keys.first().copied(), self.extended.min.map(align)]
            .into_iter()
            .flatten()
            .min();
        let hi = [keys.last().copied(), self.extended.max.map(align)]
            .into_iter()
            .flatten()
            .max();
        let (Some(mut lo), Some(mut hi)) = (lo, hi) else {
            return None;
        };
        if let Some(b) = self.hard.min {
            lo = lo.max(align(b));
        }
        if let Some(b) = self.hard.max {
            hi = hi.min(align(b));
        }
        let n = if hi >= lo {
            ((hi - lo) / interval) as usize + 1
        } else {
            0
        };
        Some((lo, n))
    }
}
