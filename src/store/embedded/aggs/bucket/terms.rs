//! `terms`: a bucket per distinct value, ordered by count, key or a sub-aggregation's
//! value, with `missing`, `include` (values or partitions) and `exclude`.

use super::super::common::{bucketize, check_params, get_field, get_u64, key_json, obj, sub_value};
use super::super::{eval, with_subs, Agg};
use crate::store::embedded::ctx::{bad, Ctx, DocRef, Field};
use crate::store::embedded::index::{FastMap, Val};
use crate::store::embedded::query;
use crate::store::StoreError;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

const PARAMS: &[&str] = &[
    "field",
    "size",
    "shard_size",
    "min_doc_count",
    "order",
    "missing",
    "include",
    "exclude",
    "execution_hint",
    "collect_mode",
    "show_term_doc_count_error",
];

enum OrderBy {
    Count,
    Key,
    /// A sub-aggregation's value: name and optional property (`stats.avg`).
    Sub(String, Option<String>),
}

pub(in crate::store::embedded::aggs) struct Terms<'a> {
    field: Field<'a>,
    size: usize,
    min_doc_count: u64,
    order: Vec<(OrderBy, bool)>,
    missing: Option<Val>,
    partition: Option<(u32, u32)>,
    include: Option<Vec<Val>>,
    exclude: Vec<Val>,
}

/// `include`: a partition `(partition, num_partitions)` or a list of values.
type Include = (Option<(u32, u32)>, Option<Vec<Val>>);

impl<'a> Terms<'a> {
    pub(in crate::store::embedded::aggs) fn parse(
        ctx: &mut Ctx<'a>,
        v: &Value,
        what: &str,
    ) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        let s = obj(v, what)?;
        let field = get_field(ctx, s, what)?;
        let missing = match s.get("missing") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) => Some(ctx.str_val(m)),
            Some(Value::Number(n)) => Some(Val::Num(n.as_f64().unwrap_or(0.0))),
            Some(Value::Bool(b)) => Some(Val::Bool(*b)),
            Some(other) => return Err(bad(what, format!("bad `missing` {other}"))),
        };
        let (partition, include) = parse_include(ctx, s.get("include"), what)?;
        let exclude = match s.get("exclude") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(vals)) => values(ctx, vals),
            Some(other) => {
                return Err(bad(
                    what,
                    format!("exclude {other} is not supported; use a list of values"),
                ))
            }
        };
        Ok(Terms {
            field,
            size: get_u64(s, "size", 10, what)? as usize,
            min_doc_count: get_u64(s, "min_doc_count", 1, what)?,
            order: parse_order(s.get("order"), what)?,
            missing,
            partition,
            include,
            exclude,
        })
    }

    pub(in crate::store::embedded::aggs) fn eval(
        &self,
        ctx: &Ctx,
        subs: &[Agg],
        docs: &[DocRef],
    ) -> Value {
        let mut rows = self.rows(ctx, docs);
        let needs_subs = self
            .order
            .iter()
            .any(|(o, _)| matches!(o, OrderBy::Sub(..)));
        let mut rendered: Vec<Option<Map<String, Value>>> = vec![None; rows.len()];
        if needs_subs {
            for (i, (_, ds)) in rows.iter().enumerate() {
                rendered[i] = Some(eval(ctx, subs, ds));
            }
        }
        let idx = self.sorted(ctx, &rows, &rendered);
        let size = self.size;
        let other: usize = idx.iter().skip(size).map(|&i| rows[i].1.len()).sum();
        let mut buckets = Vec::new();
        if ctx.add_buckets(idx.len().min(size)) {
            for &i in idx.iter().take(size) {
                let k = rows[i].0;
                let ds = std::mem::take(&mut rows[i].1);
                let (key, kas) = key_json(ctx, k, self.field.float);
                let mut b = Map::new();
                b.insert("key".into(), key);
                if let Some(s) = kas {
                    b.insert("key_as_string".into(), Value::from(s));
                }
                b.insert("doc_count".into(), Value::from(ds.len()));
                match rendered[i].take() {
                    Some(subs) => {
                        b.extend(subs);
                        buckets.push(Value::Object(b));
                    }
                    None => buckets.push(with_subs(ctx, subs, &ds, b)),
                }
            }
        }
        json!({"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets})
    }

    /// The documents of each term (with `missing`) that passes `min_doc_count`, the
    /// partition, `include` and `exclude`, in no particular order.
    fn rows(&self, ctx: &Ctx, docs: &[DocRef]) -> Vec<(Val, Vec<DocRef>)> {
        let field = &self.field;
        let mut map: FastMap<Val, Vec<DocRef>> = bucketize(field, docs, Some);
        if let Some(m) = self.missing {
            let ds: Vec<DocRef> = docs
                .iter()
                .copied()
                .filter(|&d| field.values(d).is_empty())
                .collect();
            if !ds.is_empty() {
                map.entry(m).or_default().extend(ds);
            }
        }
        map.into_iter()
            .filter(|(k, ds)| {
                ds.len() as u64 >= self.min_doc_count
                    && self
                        .partition
                        .is_none_or(|(p, n)| term_partition(ctx, *k, n) == p)
                    && self.include.as_ref().is_none_or(|inc| inc.contains(k))
                    && !self.exclude.contains(k)
            })
            .collect()
    }

    /// Row positions in the requested order.
    fn sorted(
        &self,
        ctx: &Ctx,
        rows: &[(Val, Vec<DocRef>)],
        rendered: &[Option<Map<String, Value>>],
    ) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..rows.len()).collect();
        idx.sort_by(|&x, &y| {
            for (by, desc) in &self.order {
                let o = match by {
                    OrderBy::Count => rows[x].1.len().cmp(&rows[y].1.len()),
                    OrderBy::Key => ctx.cmp(rows[x].0, rows[y].0),
                    OrderBy::Sub(name, prop) => {
                        let vx = sub_value(
                            rendered[x].as_ref().and_then(|m| m.get(name)),
                            prop.as_deref(),
                        );
                        let vy = sub_value(
                            rendered[y].as_ref().and_then(|m| m.get(name)),
                            prop.as_deref(),
                        );
                        vx.unwrap_or(f64::NEG_INFINITY)
                            .total_cmp(&vy.unwrap_or(f64::NEG_INFINITY))
                    }
                };
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        idx
    }
}

/// Values a list of terms stands for.
fn values(ctx: &mut Ctx, vals: &[Value]) -> Vec<Val> {
    let mut vs = Vec::new();
    for x in vals {
        vs.extend(query::term_vals(ctx, x));
    }
    vs
}

fn parse_include(ctx: &mut Ctx, v: Option<&Value>, what: &str) -> Result<Include, StoreError> {
    match v {
        None | Some(Value::Null) => Ok((None, None)),
        Some(Value::Object(p)) => {
            let part = get_u64(p, "partition", u64::MAX, what)?;
            let num = get_u64(p, "num_partitions", 0, what)?;
            if num == 0 || part >= num {
                return Err(bad(what, "include needs `partition` and `num_partitions` with 0 <= partition < num_partitions".to_string()));
            }
            Ok((Some((part as u32, num as u32)), None))
        }
        Some(Value::Array(vals)) => Ok((None, Some(values(ctx, vals)))),
        Some(other) => Err(bad(what, format!(
            "include {other} is not supported (regular expressions are not); use a list of values or {{partition, num_partitions}}"
        ))),
    }
}

fn parse_order(v: Option<&Value>, what: &str) -> Result<Vec<(OrderBy, bool)>, StoreError> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => return Ok(vec![(OrderBy::Count, true), (OrderBy::Key, false)]),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one) => vec![one],
    };
    let mut out = Vec::new();
    for item in items {
        for (k, dir) in obj(item, &format!("{what}: order"))? {
            let desc = match dir.as_str() {
                Some("desc") => true,
                Some("asc") => false,
                _ => {
                    return Err(bad(
                        what,
                        format!("order direction must be asc or desc, got {dir}"),
                    ))
                }
            };
            let by = match k.as_str() {
                "_count" => OrderBy::Count,
                "_key" | "_term" => OrderBy::Key,
                path => {
                    let (agg, prop) = match path.split_once(['.', '>']) {
                        Some((a, p)) => (a.to_string(), Some(p.to_string())),
                        None => (path.to_string(), None),
                    };
                    OrderBy::Sub(agg, prop)
                }
            };
            out.push((by, desc));
        }
    }
    if !out.iter().any(|(b, _)| matches!(b, OrderBy::Key)) {
        out.push((OrderBy::Key, false));
    }
    Ok(out)
}

/// MurmurHash3 x86 32-bit, as Lucene's `StringHelper.murmurhash3_x86_32`.
pub(crate) fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let mut k: u32 = 0;
    for (i, &b) in tail.iter().enumerate() {
        k |= (b as u32) << (8 * i);
    }
    if !tail.is_empty() {
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// HPPC's `BitMixer.mix64`, which Elasticsearch uses to partition numeric terms.
fn mix64(z: u64) -> u64 {
    let z = (z ^ (z >> 32)).wrapping_mul(0x4cd6_944c_5cc2_0b6d);
    let z = (z ^ (z >> 29)).wrapping_mul(0xfc12_c5b1_9d32_59e9);
    z ^ (z >> 32)
}

/// The partition of a term under `include: {partition, num_partitions}`: strings by
/// murmur3 (seed 31) of their UTF-8 bytes and integral numbers, dates and booleans by
/// `mix64` of the long value, as Elasticsearch does; non-integral numbers by murmur3 of their
/// text (Elasticsearch's choice for doubles may differ).
fn term_partition(ctx: &Ctx, v: Val, num: u32) -> u32 {
    let long = |x: i64| (mix64(x as u64) as i64).rem_euclid(num as i64) as u32;
    match v {
        Val::Num(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => long(f as i64),
        Val::Num(f) => {
            (murmur3_x86_32(format!("{f:?}").as_bytes(), 31) as i32).rem_euclid(num as i32) as u32
        }
        Val::Date(ms) => long(ms),
        Val::Bool(b) => long(b as i64),
        Val::Str(_) | Val::Ext(_) => (murmur3_x86_32(ctx.text(v).unwrap_or("").as_bytes(), 31)
            as i32)
            .rem_euclid(num as i32) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_known_vectors() {
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(
            murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
    }
}
