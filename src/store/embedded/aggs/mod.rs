//! Aggregations: parsed once into an [`Agg`] tree, then evaluated over lists of matching
//! documents. Bucket aggregations (`bucket/`) split the list and evaluate their
//! sub-aggregations on each part; metric aggregations (`metric/`) read column values;
//! sibling pipelines (`pipeline.rs`) read the other aggregations' results. Each kind has its
//! own file with its parse and eval; this module only dispatches.

mod bucket;
mod common;
mod metric;
mod pipeline;

use super::ctx::{bad, Ctx, DocRef};
use crate::store::embedded::index::FastMap;
use crate::store::StoreError;
use bucket::{Composite, Filter, Filters, Histogram, Terms};
use common::obj;
use metric::{Cardinality, GeoCentroid, Percentiles, Stats, StatsAcc, TopHits, ValueCount};
use pipeline::BucketPipeline;
use serde_json::{Map, Value};

#[cfg(test)]
pub(crate) use bucket::murmur3_x86_32;
pub(crate) use bucket::CompositeGroups;

/// A parsed aggregation with its sub-aggregations.
pub(crate) struct Agg<'a> {
    name: String,
    kind: Kind<'a>,
    subs: Vec<Agg<'a>>,
}

/// One aggregation kind (or family of kinds sharing a parser), with its parameters.
enum Kind<'a> {
    DateHistogram(Histogram<'a, i64>),
    Histogram(Histogram<'a, f64>),
    Terms(Terms<'a>),
    Composite(Composite<'a>),
    Filter(Filter),
    Filters(Filters),
    Stats(Stats<'a>),
    ValueCount(ValueCount<'a>),
    Cardinality(Cardinality<'a>),
    GeoCentroid(GeoCentroid<'a>),
    Percentiles(Percentiles<'a>),
    TopHits(TopHits<'a>),
    Pipeline(BucketPipeline),
}

/// Parses an `aggs` object.
pub(crate) fn parse<'a>(ctx: &mut Ctx<'a>, aggs: &Value) -> Result<Vec<Agg<'a>>, StoreError> {
    let mut out = Vec::new();
    for (name, spec) in obj(aggs, "aggs")? {
        out.push(parse_one(ctx, name, spec)?);
    }
    Ok(out)
}

fn parse_one<'a>(ctx: &mut Ctx<'a>, name: &str, spec: &Value) -> Result<Agg<'a>, StoreError> {
    let spec = obj(spec, &format!("aggregation `{name}`"))?;
    let mut kind = None;
    let mut subs = Vec::new();
    for (k, v) in spec {
        match k.as_str() {
            "aggs" | "aggregations" => subs = parse(ctx, v)?,
            "meta" => {}
            _ if kind.is_some() => {
                return Err(bad(
                    "aggregation",
                    format!(
                        "aggregation `{name}` has two types (`{k}` and another); give one per name"
                    ),
                ));
            }
            _ => kind = Some(parse_kind(ctx, name, k, v)?),
        }
    }
    let kind =
        kind.ok_or_else(|| bad("aggregation", format!("aggregation `{name}` has no type")))?;
    Ok(Agg {
        name: name.to_string(),
        kind,
        subs,
    })
}

fn parse_kind<'a>(
    ctx: &mut Ctx<'a>,
    name: &str,
    kind: &str,
    v: &Value,
) -> Result<Kind<'a>, StoreError> {
    let what = format!("aggregation `{name}` ({kind})");
    Ok(match kind {
        "date_histogram" => Kind::DateHistogram(Histogram::parse_date(ctx, v, &what)?),
        "histogram" => Kind::Histogram(Histogram::parse_num(ctx, v, &what)?),
        "terms" => Kind::Terms(Terms::parse(ctx, v, &what)?),
        "composite" => Kind::Composite(Composite::parse(ctx, v, &what)?),
        "filter" => Kind::Filter(Filter::parse(ctx, v)?),
        "filters" => Kind::Filters(Filters::parse(ctx, v, &what)?),
        "avg" | "sum" | "min" | "max" | "stats" => Kind::Stats(Stats::parse(ctx, kind, v, &what)?),
        "value_count" => Kind::ValueCount(ValueCount::parse(ctx, v, &what)?),
        "cardinality" => Kind::Cardinality(Cardinality::parse(ctx, v, &what)?),
        "geo_centroid" => Kind::GeoCentroid(GeoCentroid::parse(ctx, v, &what)?),
        "percentiles" => Kind::Percentiles(Percentiles::parse(ctx, v, &what)?),
        "top_hits" => Kind::TopHits(TopHits::parse(ctx, v, &what)?),
        "max_bucket" | "min_bucket" | "avg_bucket" | "sum_bucket" => {
            Kind::Pipeline(BucketPipeline::parse(kind, v, &what)?)
        }
        other => {
            return Err(StoreError::UnsupportedAggregation {
                name: name.to_string(),
                kind: other.to_string(),
                supported: "date_histogram, histogram, terms, composite, filter, filters, avg, sum, min, max, stats, value_count, cardinality, percentiles, top_hits, max_bucket, min_bucket, avg_bucket, sum_bucket",
            })
        }
    })
}

/// Evaluates aggregations over `docs`, in request order (sibling pipelines last). Once
/// the request has failed (too many buckets), the rest is not computed.
pub(crate) fn eval(ctx: &Ctx, aggs: &[Agg], docs: &[DocRef]) -> Map<String, Value> {
    let mut out = Map::new();
    for a in aggs {
        if ctx.failed() {
            return out;
        }
        if matches!(a.kind, Kind::Pipeline(..)) {
            continue;
        }
        out.insert(a.name.clone(), eval_one(ctx, a, docs));
    }
    for a in aggs {
        if let Kind::Pipeline(p) = &a.kind {
            let v = p.eval(&out);
            out.insert(a.name.clone(), v);
        }
    }
    out
}

fn eval_one(ctx: &Ctx, a: &Agg, docs: &[DocRef]) -> Value {
    let subs = &a.subs[..];
    match &a.kind {
        Kind::DateHistogram(h) => h.eval_date(ctx, subs, docs),
        Kind::Histogram(h) => h.eval_num(ctx, subs, docs),
        Kind::Terms(t) => t.eval(ctx, subs, docs),
        Kind::Composite(c) => c.eval(ctx, subs, docs),
        Kind::Filter(f) => f.eval(ctx, subs, docs),
        Kind::Filters(f) => f.eval(ctx, subs, docs),
        Kind::Stats(m) => m.eval(docs),
        Kind::ValueCount(m) => m.eval(docs),
        Kind::Cardinality(m) => m.eval(docs),
        Kind::GeoCentroid(m) => m.eval(ctx, docs),
        Kind::Percentiles(m) => m.eval(docs),
        Kind::TopHits(m) => m.eval(ctx, docs),
        Kind::Pipeline(..) => Value::Null,
    }
}

/// What one aggregation of a [`Batched`] evaluation has gathered so far.
enum Partial {
    Dates(FastMap<i64, usize>),
    Nums(FastMap<u64, usize>),
    Stats(StatsAcc),
}

/// Aggregations evaluated over the matching documents a batch at a time, so a request over
/// most of an index (the datafeed's data extent and its event counts over a lookback
/// window) holds no list of all its documents. Only for histograms without
/// sub-aggregations and the `stats` family ([`Batched::new`] says when); the answer is
/// the same as [`eval`]'s over the batches joined, given in order.
pub(crate) struct Batched<'r, 'a> {
    aggs: &'r [Agg<'a>],
    parts: Vec<Partial>,
}

impl<'r, 'a> Batched<'r, 'a> {
    /// `None` when some aggregation of `aggs` needs all its documents at once.
    pub(crate) fn new(aggs: &'r [Agg<'a>]) -> Option<Self> {
        let parts = aggs
            .iter()
            .map(|a| match &a.kind {
                _ if !a.subs.is_empty() => None,
                Kind::DateHistogram(_) => Some(Partial::Dates(FastMap::default())),
                Kind::Histogram(_) => Some(Partial::Nums(FastMap::default())),
                Kind::Stats(_) => Some(Partial::Stats(StatsAcc::default())),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Batched { aggs, parts })
    }

    /// Adds the next matching documents.
    pub(crate) fn add(&mut self, docs: &[DocRef]) {
        for (a, p) in self.aggs.iter().zip(&mut self.parts) {
            match (&a.kind, p) {
                (Kind::DateHistogram(h), Partial::Dates(c)) => h.count_dates(c, docs),
                (Kind::Histogram(h), Partial::Nums(c)) => h.count_nums(c, docs),
                (Kind::Stats(m), Partial::Stats(acc)) => m.add(acc, docs),
                _ => {}
            }
        }
    }

    /// The aggregations, in request order, as [`eval`] answers them.
    pub(crate) fn finish(self, ctx: &Ctx) -> Map<String, Value> {
        let mut out = Map::new();
        for (a, p) in self.aggs.iter().zip(&self.parts) {
            if ctx.failed() {
                return out;
            }
            let v = match (&a.kind, p) {
                (Kind::DateHistogram(h), Partial::Dates(c)) => h.dates_counted(ctx, c),
                (Kind::Histogram(h), Partial::Nums(c)) => h.nums_counted(ctx, c),
                (Kind::Stats(m), Partial::Stats(acc)) => m.finish(acc),
                _ => Value::Null,
            };
            out.insert(a.name.clone(), v);
        }
        out
    }
}

/// A bucket object with its sub-aggregations evaluated over the bucket's documents.
fn with_subs(ctx: &Ctx, subs: &[Agg], docs: &[DocRef], mut bucket: Map<String, Value>) -> Value {
    if !subs.is_empty() {
        bucket.extend(eval(ctx, subs, docs));
    }
    Value::Object(bucket)
}

/// The name of the single top-level aggregation when it is a composite one: a request whose
/// pages can be cut from one [`CompositeGroups`].
pub(crate) fn single_composite<'x>(aggs: &'x [Agg]) -> Option<&'x str> {
    match aggs {
        [a] if matches!(a.kind, Kind::Composite(..)) => Some(&a.name),
        _ => None,
    }
}

/// Every group of the single top-level composite aggregation (see [`single_composite`]),
/// ignoring its `after`.
pub(crate) fn all_composite_groups(
    ctx: &Ctx,
    aggs: &[Agg],
    docs: &[DocRef],
) -> Option<CompositeGroups> {
    match aggs {
        [Agg {
            kind: Kind::Composite(c),
            ..
        }] => Some(c.groups(ctx, false, docs)),
        _ => None,
    }
}

/// The aggregations of a request of [`single_composite`] shape, its page cut from `groups`.
pub(crate) fn eval_composite_page(
    ctx: &Ctx,
    aggs: &[Agg],
    groups: &CompositeGroups,
) -> Map<String, Value> {
    let mut out = Map::new();
    if let [a @ Agg {
        kind: Kind::Composite(c),
        ..
    }] = aggs
    {
        out.insert(a.name.clone(), c.render(ctx, &a.subs, groups));
    }
    out
}
