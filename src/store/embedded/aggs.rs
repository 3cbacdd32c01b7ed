//! Aggregations: parsed once into an [`Agg`] tree, then evaluated over lists of matching
//! documents. Bucket aggregations split the list and evaluate their sub-aggregations on each
//! part; metric aggregations read column values.

use super::dsl;
use super::hits::{self, SortKey, SourceFilter};
use super::index::{FastMap, FastSet, Val};
use super::query::{self, bad, Ctx, DocRef, Field};
use crate::store::StoreError;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

/// Elasticsearch's default `search.max_buckets`.
const MAX_BUCKETS: usize = 65_536;

/// A parsed aggregation with its sub-aggregations.
pub(crate) struct Agg<'a> {
    name: String,
    kind: Kind<'a>,
    subs: Vec<Agg<'a>>,
}

#[derive(Clone, Copy)]
enum Metric {
    Avg,
    Sum,
    Min,
    Max,
    Stats,
    ValueCount,
    Cardinality,
}

#[derive(Clone, Copy, PartialEq)]
enum Pipeline {
    Max,
    Min,
    Avg,
    Sum,
}

struct Bounds<T> {
    min: Option<T>,
    max: Option<T>,
}

enum OrderBy {
    Count,
    Key,
    /// A sub-aggregation's value: name and optional property (`stats.avg`).
    Sub(String, Option<String>),
}

/// A `date_histogram` (`T` = epoch milliseconds) or `histogram` (`T` = `f64`).
struct Histogram<'a, T> {
    field: Field<'a>,
    interval: T,
    offset: T,
    min_doc_count: u64,
    extended: Bounds<T>,
    hard: Bounds<T>,
    keyed: bool,
}

enum Kind<'a> {
    DateHistogram(Histogram<'a, i64>),
    Histogram(Histogram<'a, f64>),
    Terms {
        field: Field<'a>,
        size: usize,
        min_doc_count: u64,
        order: Vec<(OrderBy, bool)>,
        missing: Option<Val>,
        partition: Option<(u32, u32)>,
        include: Option<Vec<Val>>,
        exclude: Vec<Val>,
    },
    Composite {
        sources: Vec<Source<'a>>,
        size: usize,
        after: Option<Vec<Option<Val>>>,
    },
    Filter(Vec<Vec<bool>>),
    Filters {
        filters: Vec<(String, Vec<Vec<bool>>)>,
        keyed: bool,
        other: Option<String>,
    },
    Metric(Metric, Field<'a>),
    /// `geo_centroid`: a point field as `{lat, lon}` objects (the columns `F.lat`, `F.lon`)
    /// or `"lat,lon"` strings (the column `F`).
    GeoCentroid {
        lat: Field<'a>,
        lon: Field<'a>,
        text: Field<'a>,
    },
    Percentiles {
        field: Field<'a>,
        percents: Vec<f64>,
        keyed: bool,
    },
    TopHits {
        size: usize,
        from: usize,
        sort: Vec<SortKey<'a>>,
        source: SourceFilter,
    },
    Pipeline(Pipeline, String),
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

fn obj<'v>(v: &'v Value, what: &str) -> Result<&'v Map<String, Value>, StoreError> {
    v.as_object()
        .ok_or_else(|| bad(format!("{what}: expected an object, got {v}")))
}

fn get_field<'a>(
    ctx: &Ctx<'a>,
    spec: &Map<String, Value>,
    what: &str,
) -> Result<Field<'a>, StoreError> {
    let f = spec.get("field").and_then(Value::as_str).ok_or_else(|| {
        bad(format!(
            "{what}: `field` is required (scripts are not supported)"
        ))
    })?;
    Ok(ctx.field(f))
}

fn get_u64(
    spec: &Map<String, Value>,
    key: &str,
    default: u64,
    what: &str,
) -> Result<u64, StoreError> {
    match spec.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| {
                bad(format!(
                    "{what}: `{key}` must be a non-negative integer, got {v}"
                ))
            }),
    }
}

fn interval_ms(spec: &Map<String, Value>, what: &str) -> Result<i64, StoreError> {
    if let Some(v) = spec.get("fixed_interval").or_else(|| spec.get("interval")) {
        let s = match v {
            Value::Number(n) => {
                return n
                    .as_i64()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad(format!("{what}: bad interval {v}")))
            }
            Value::String(s) => s,
            _ => {
                return Err(bad(format!(
                    "{what}: `fixed_interval` must be a duration such as \"15m\""
                )))
            }
        };
        let d = crate::time::parse_duration(s)
            .map_err(|e| bad(format!("{what}: fixed_interval: {e}")))?;
        let ms = d.as_millis() as i64;
        return if ms > 0 {
            Ok(ms)
        } else {
            Err(bad(format!("{what}: fixed_interval must be positive")))
        };
    }
    if let Some(v) = spec.get("calendar_interval") {
        let s = v.as_str().unwrap_or_default();
        return match s {
            "1m" | "minute" => Ok(60_000),
            "1h" | "hour" => Ok(3_600_000),
            "1d" | "day" => Ok(86_400_000),
            other => Err(bad(format!(
                "{what}: calendar_interval `{other}` is not supported by the embedded store (only minute, hour, day in UTC); use fixed_interval"
            ))),
        };
    }
    Err(bad(format!(
        "{what}: `fixed_interval` is required, e.g. \"15m\""
    )))
}

fn offset_ms(spec: &Map<String, Value>, what: &str) -> Result<i64, StoreError> {
    match spec.get("offset") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => Ok(n.as_i64().unwrap_or(0)),
        Some(Value::String(s)) => {
            let (neg, rest) = match s.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, s.strip_prefix('+').unwrap_or(s)),
            };
            let d = crate::time::parse_duration(rest)
                .map_err(|e| bad(format!("{what}: offset: {e}")))?;
            let ms = d.as_millis() as i64;
            Ok(if neg { -ms } else { ms })
        }
        Some(v) => Err(bad(format!("{what}: bad offset {v}"))),
    }
}

fn date_bounds(
    spec: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Bounds<i64>, StoreError> {
    let mut b = Bounds {
        min: None,
        max: None,
    };
    if let Some(v) = spec.get(key) {
        let o = obj(v, &format!("{what}: {key}"))?;
        let parse = |x: &Value| -> Result<i64, StoreError> {
            match x {
                Value::Number(n) => n.as_f64().map(|f| f as i64),
                Value::String(s) => crate::time::parse_timestamp(s),
                _ => None,
            }
            .ok_or_else(|| {
                bad(format!(
                    "{what}: {key}: expected epoch millis or a date, got {x}"
                ))
            })
        };
        b.min = o
            .get("min")
            .filter(|v| !v.is_null())
            .map(parse)
            .transpose()?;
        b.max = o
            .get("max")
            .filter(|v| !v.is_null())
            .map(parse)
            .transpose()?;
    }
    Ok(b)
}

fn num_bounds(spec: &Map<String, Value>, key: &str) -> Bounds<f64> {
    let o = spec.get(key);
    Bounds {
        min: o.and_then(|o| o.get("min")).and_then(Value::as_f64),
        max: o.and_then(|o| o.get("max")).and_then(Value::as_f64),
    }
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
                return Err(bad(format!(
                    "aggregation `{name}` has two types (`{k}` and another); give one per name"
                )));
            }
            _ => kind = Some(parse_kind(ctx, name, k, v)?),
        }
    }
    let kind = kind.ok_or_else(|| bad(format!("aggregation `{name}` has no type")))?;
    Ok(Agg {
        name: name.to_string(),
        kind,
        subs,
    })
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
                    return Err(bad(format!(
                        "{what}: order direction must be asc or desc, got {dir}"
                    )))
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

/// Rejects parameters the embedded store would otherwise silently ignore.
fn check_params(kind: &str, v: &Value, what: &str) -> Result<(), StoreError> {
    let allowed: &[&str] = match kind {
        "date_histogram" => &[
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
        ],
        "histogram" => &[
            "field",
            "interval",
            "offset",
            "min_doc_count",
            "extended_bounds",
            "hard_bounds",
            "keyed",
        ],
        "terms" => &[
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
        ],
        "composite" => &["sources", "size", "after"],
        "avg" | "sum" | "min" | "max" | "stats" | "value_count" => &["field"],
        "cardinality" => &["field", "precision_threshold"],
        "geo_centroid" => &["field"],
        "percentiles" => &["field", "percents", "keyed", "tdigest"],
        "top_hits" => &["size", "from", "sort", "_source"],
        "max_bucket" | "min_bucket" | "avg_bucket" | "sum_bucket" => {
            &["buckets_path", "gap_policy"]
        }
        "filters" => &["filters", "other_bucket", "other_bucket_key"],
        "date_histogram_source" => &[
            "field",
            "fixed_interval",
            "interval",
            "calendar_interval",
            "offset",
            "order",
            "missing_bucket",
            "time_zone",
            "format",
        ],
        "terms_source" | "histogram_source" => &["field", "interval", "order", "missing_bucket"],
        _ => return Ok(()),
    };
    let Some(o) = v.as_object() else {
        return Ok(());
    };
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(bad(format!(
                "{what}: parameter `{k}` is not supported by the embedded store; supported: {}",
                allowed.join(", ")
            )));
        }
    }
    if let Some(tz) = o.get("time_zone") {
        if !matches!(
            tz.as_str(),
            Some("UTC" | "utc" | "Z" | "+00:00" | "Etc/UTC" | "GMT")
        ) {
            return Err(bad(format!(
                "{what}: time_zone {tz} is not supported; the embedded store works in UTC"
            )));
        }
    }
    if let Some(f) = o.get("format") {
        if !matches!(
            f.as_str(),
            Some("strict_date_optional_time" | "date_optional_time" | "strict_date_time")
        ) {
            return Err(bad(format!(
                "{what}: format {f} is not supported; keys are printed as RFC 3339 with millis"
            )));
        }
    }
    if kind == "date_histogram" {
        if let Some(ord) = o.get("order") {
            if *ord != json!({"_key": "asc"}) {
                return Err(bad(format!(
                    "{what}: order {ord} is not supported; buckets come in ascending key order"
                )));
            }
        }
    }
    Ok(())
}

fn parse_kind<'a>(
    ctx: &mut Ctx<'a>,
    name: &str,
    kind: &str,
    v: &Value,
) -> Result<Kind<'a>, StoreError> {
    let what = format!("aggregation `{name}` ({kind})");
    check_params(kind, v, &what)?;
    Ok(match kind {
        "date_histogram" => {
            let s = obj(v, &what)?;
            Kind::DateHistogram(Histogram {
                field: get_field(ctx, s, &what)?,
                interval: interval_ms(s, &what)?,
                offset: offset_ms(s, &what)?,
                min_doc_count: get_u64(s, "min_doc_count", 0, &what)?,
                extended: date_bounds(s, "extended_bounds", &what)?,
                hard: date_bounds(s, "hard_bounds", &what)?,
                keyed: s.get("keyed").and_then(Value::as_bool).unwrap_or(false),
            })
        }
        "histogram" => {
            let s = obj(v, &what)?;
            let interval = s
                .get("interval")
                .and_then(Value::as_f64)
                .filter(|i| *i > 0.0)
                .ok_or_else(|| bad(format!("{what}: `interval` must be a positive number")))?;
            Kind::Histogram(Histogram {
                field: get_field(ctx, s, &what)?,
                interval,
                offset: s.get("offset").and_then(Value::as_f64).unwrap_or(0.0),
                min_doc_count: get_u64(s, "min_doc_count", 0, &what)?,
                extended: num_bounds(s, "extended_bounds"),
                hard: num_bounds(s, "hard_bounds"),
                keyed: s.get("keyed").and_then(Value::as_bool).unwrap_or(false),
            })
        }
        "terms" => {
            let s = obj(v, &what)?;
            let field = get_field(ctx, s, &what)?;
            let missing = match s.get("missing") {
                None | Some(Value::Null) => None,
                Some(Value::String(m)) => Some(ctx.str_val(m)),
                Some(Value::Number(n)) => Some(Val::Num(n.as_f64().unwrap_or(0.0))),
                Some(Value::Bool(b)) => Some(Val::Bool(*b)),
                Some(other) => return Err(bad(format!("{what}: bad `missing` {other}"))),
            };
            let mut partition = None;
            let mut include = None;
            match s.get("include") {
                None | Some(Value::Null) => {}
                Some(Value::Object(p)) => {
                    let part = get_u64(p, "partition", u64::MAX, &what)?;
                    let num = get_u64(p, "num_partitions", 0, &what)?;
                    if num == 0 || part >= num {
                        return Err(bad(format!(
                            "{what}: include needs `partition` and `num_partitions` with 0 <= partition < num_partitions"
                        )));
                    }
                    partition = Some((part as u32, num as u32));
                }
                Some(Value::Array(vals)) => {
                    let mut vs = Vec::new();
                    for x in vals {
                        vs.extend(query::term_vals(ctx, x));
                    }
                    include = Some(vs);
                }
                Some(other) => {
                    return Err(bad(format!(
                        "{what}: include {other} is not supported (regular expressions are not); use a list of values or {{partition, num_partitions}}"
                    )))
                }
            }
            let exclude = match s.get("exclude") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(vals)) => {
                    let mut vs = Vec::new();
                    for x in vals {
                        vs.extend(query::term_vals(ctx, x));
                    }
                    vs
                }
                Some(other) => return Err(bad(format!("{what}: exclude {other} is not supported; use a list of values"))),
            };
            Kind::Terms {
                field,
                size: get_u64(s, "size", 10, &what)? as usize,
                min_doc_count: get_u64(s, "min_doc_count", 1, &what)?,
                order: parse_order(s.get("order"), &what)?,
                missing,
                partition,
                include,
                exclude,
            }
        }
        "composite" => {
            let s = obj(v, &what)?;
            let srcs = s
                .get("sources")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(format!("{what}: `sources` must be an array of {{name: {{terms|date_histogram: ..}}}}")))?;
            let mut sources = Vec::new();
            for src in srcs {
                let (sname, sdef) = obj(src, &what)?
                    .iter()
                    .next()
                    .ok_or_else(|| bad(format!("{what}: empty source")))?;
                let (stype, sspec) = obj(sdef, &what)?
                    .iter()
                    .next()
                    .ok_or_else(|| bad(format!("{what}: source `{sname}` has no type")))?;
                let sw = format!("{what}: source `{sname}`");
                check_params(&format!("{stype}_source"), sspec, &sw)?;
                let sspec = obj(sspec, &sw)?;
                let (date, hist) = match stype.as_str() {
                    "terms" => (None, None),
                    "date_histogram" => (Some((interval_ms(sspec, &sw)?, offset_ms(sspec, &sw)?)), None),
                    "histogram" => {
                        let i = sspec.get("interval").and_then(Value::as_f64).filter(|i| *i > 0.0);
                        (None, Some((i.ok_or_else(|| bad(format!("{sw}: `interval` required")))?, 0.0)))
                    }
                    other => return Err(bad(format!("{sw}: source type `{other}` is not supported; use terms, histogram or date_histogram"))),
                };
                sources.push(Source {
                    name: sname.clone(),
                    field: get_field(ctx, sspec, &sw)?,
                    date,
                    hist,
                    desc: sspec.get("order").and_then(Value::as_str) == Some("desc"),
                    missing_bucket: sspec.get("missing_bucket").and_then(Value::as_bool).unwrap_or(false),
                });
            }
            if sources.is_empty() {
                return Err(bad(format!("{what}: `sources` is empty")));
            }
            let after = match s.get("after") {
                None | Some(Value::Null) => None,
                Some(a) => {
                    let a = obj(a, &format!("{what}: after"))?;
                    let mut key = Vec::new();
                    for src in &sources {
                        let v = a.get(&src.name).ok_or_else(|| bad(format!("{what}: after lacks `{}`", src.name)))?;
                        key.push(match v {
                            Value::Null => None,
                            Value::String(t) if src.date.is_some() => {
                                Some(Val::Date(crate::time::parse_timestamp(t).ok_or_else(|| bad(format!("{what}: after: bad date {t}")))?))
                            }
                            Value::Number(n) if src.date.is_some() => Some(Val::Date(n.as_f64().unwrap_or(0.0) as i64)),
                            Value::String(t) => Some(ctx.str_val(t)),
                            Value::Number(n) => Some(Val::Num(n.as_f64().unwrap_or(0.0))),
                            Value::Bool(b) => Some(Val::Bool(*b)),
                            other => return Err(bad(format!("{what}: after: unsupported value {other}"))),
                        });
                    }
                    Some(key)
                }
            };
            Kind::Composite { sources, size: get_u64(s, "size", 10, &what)? as usize, after }
        }
        "filter" => {
            let q = dsl::parse(ctx, v)?;
            Kind::Filter(query::eval(ctx, &q))
        }
        "filters" => {
            let s = obj(v, &what)?;
            let fs = s.get("filters").ok_or_else(|| bad(format!("{what}: `filters` is required")))?;
            let mut filters = Vec::new();
            let keyed = match fs {
                Value::Object(m) => {
                    for (k, q) in m {
                        let q = dsl::parse(ctx, q)?;
                        filters.push((k.clone(), query::eval(ctx, &q)));
                    }
                    true
                }
                Value::Array(a) => {
                    for (i, q) in a.iter().enumerate() {
                        let q = dsl::parse(ctx, q)?;
                        filters.push((i.to_string(), query::eval(ctx, &q)));
                    }
                    false
                }
                other => return Err(bad(format!("{what}: `filters` must be an object or array, got {other}"))),
            };
            let other = match (s.get("other_bucket_key"), s.get("other_bucket")) {
                (Some(Value::String(k)), _) => Some(k.clone()),
                (_, Some(Value::Bool(true))) => Some("_other_".to_string()),
                _ => None,
            };
            Kind::Filters { filters, keyed, other }
        }
        "avg" | "sum" | "min" | "max" | "stats" | "value_count" | "cardinality" => {
            let s = obj(v, &what)?;
            let m = match kind {
                "avg" => Metric::Avg,
                "sum" => Metric::Sum,
                "min" => Metric::Min,
                "max" => Metric::Max,
                "stats" => Metric::Stats,
                "value_count" => Metric::ValueCount,
                _ => Metric::Cardinality,
            };
            Kind::Metric(m, get_field(ctx, s, &what)?)
        }
        "geo_centroid" => {
            let s = obj(v, &what)?;
            let f = s.get("field").and_then(Value::as_str).ok_or_else(|| {
                bad(format!("{what}: `field` is required (scripts are not supported)"))
            })?;
            Kind::GeoCentroid {
                lat: ctx.field(&format!("{f}.lat")),
                lon: ctx.field(&format!("{f}.lon")),
                text: ctx.field(f),
            }
        }
        "percentiles" => {
            let s = obj(v, &what)?;
            let percents = match s.get("percents") {
                None => vec![1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0],
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|p| p.as_f64().filter(|p| (0.0..=100.0).contains(p)))
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| bad(format!("{what}: percents must be numbers between 0 and 100")))?,
                Some(other) => return Err(bad(format!("{what}: percents must be an array, got {other}"))),
            };
            Kind::Percentiles {
                field: get_field(ctx, s, &what)?,
                percents,
                keyed: s.get("keyed").and_then(Value::as_bool).unwrap_or(true),
            }
        }
        "top_hits" => {
            let s = obj(v, &what)?;
            Kind::TopHits {
                size: get_u64(s, "size", 3, &what)? as usize,
                from: get_u64(s, "from", 0, &what)? as usize,
                sort: hits::parse_sort(ctx, s.get("sort"))?,
                source: hits::parse_source(s.get("_source"))?,
            }
        }
        "max_bucket" | "min_bucket" | "avg_bucket" | "sum_bucket" => {
            let s = obj(v, &what)?;
            let path = s
                .get("buckets_path")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("{what}: `buckets_path` is required, e.g. \"histo>count\"")))?;
            let p = match kind {
                "max_bucket" => Pipeline::Max,
                "min_bucket" => Pipeline::Min,
                "avg_bucket" => Pipeline::Avg,
                _ => Pipeline::Sum,
            };
            Kind::Pipeline(p, path.to_string())
        }
        other => {
            return Err(bad(format!(
                "aggregation type `{other}` (in `{name}`) is not supported by the embedded store; supported: date_histogram, histogram, terms, composite, filter, filters, avg, sum, min, max, stats, value_count, cardinality, percentiles, top_hits, max_bucket, min_bucket, avg_bucket, sum_bucket"
            )))
        }
    })
}

/// Evaluates aggregations over `docs`, in request order.
pub(crate) fn eval(ctx: &Ctx, aggs: &[Agg], docs: &[DocRef]) -> Map<String, Value> {
    let mut out = Map::new();
    for a in aggs {
        if matches!(a.kind, Kind::Pipeline(..)) {
            continue;
        }
        out.insert(a.name.clone(), eval_one(ctx, a, docs));
    }
    for a in aggs {
        if let Kind::Pipeline(p, path) = &a.kind {
            let v = pipeline(*p, path, &out);
            out.insert(a.name.clone(), v);
        }
    }
    out
}

fn with_subs(ctx: &Ctx, a: &Agg, docs: &[DocRef], mut bucket: Map<String, Value>) -> Value {
    if !a.subs.is_empty() {
        bucket.extend(eval(ctx, &a.subs, docs));
    }
    Value::Object(bucket)
}

fn f64_json(f: f64) -> Value {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Buckets documents by a numeric key computed from each value; a document counts once per
/// distinct key.
fn bucketize<K: Copy + Eq + std::hash::Hash>(
    field: &Field,
    docs: &[DocRef],
    key: impl Fn(Val) -> Option<K>,
) -> FastMap<K, Vec<DocRef>> {
    let mut map: FastMap<K, Vec<DocRef>> = FastMap::default();
    let mut seen: Vec<K> = Vec::new();
    for &d in docs {
        let vals = field.values(d);
        if vals.len() == 1 {
            if let Some(k) = key(vals[0]) {
                map.entry(k).or_default().push(d);
            }
            continue;
        }
        seen.clear();
        for &v in vals {
            if let Some(k) = key(v) {
                if !seen.contains(&k) {
                    seen.push(k);
                    map.entry(k).or_default().push(d);
                }
            }
        }
    }
    map
}

/// The buckets of histogram `h` for `keys` (ascending): those inside the hard bounds with at
/// least `min_doc_count` documents, each with the key fields `key` puts in (it returns the
/// bucket's name in the keyed form), `doc_count` and the sub-aggregations.
fn histogram_buckets<'d, T>(
    ctx: &Ctx,
    a: &Agg,
    h: &Histogram<T>,
    keys: Vec<T>,
    docs_of: impl Fn(T) -> Option<&'d Vec<DocRef>>,
    key: impl Fn(T, &mut Map<String, Value>) -> String,
) -> Value
where
    T: Copy + PartialOrd + std::ops::Add<Output = T>,
{
    let in_bounds =
        |k: T| h.hard.min.is_none_or(|m| k + h.interval > m) && h.hard.max.is_none_or(|m| k <= m);
    let mut buckets = Vec::new();
    for k in keys.into_iter().filter(|&k| in_bounds(k)) {
        let ds = docs_of(k).map_or(&[][..], Vec::as_slice);
        if (ds.len() as u64) < h.min_doc_count {
            continue;
        }
        let mut b = Map::new();
        let name = key(k, &mut b);
        b.insert("doc_count".into(), Value::from(ds.len()));
        buckets.push((name, with_subs(ctx, a, ds, b)));
    }
    bucket_list(buckets, h.keyed)
}

fn date_key(v: Val, interval: i64, offset: i64) -> Option<i64> {
    let t = match v {
        Val::Date(ms) => ms,
        Val::Num(f) => f as i64,
        _ => return None,
    };
    Some(crate::time::bucket_start(t - offset, interval) + offset)
}

fn eval_one(ctx: &Ctx, a: &Agg, docs: &[DocRef]) -> Value {
    match &a.kind {
        Kind::DateHistogram(h) => {
            let (interval, offset) = (h.interval, h.offset);
            let map = bucketize(&h.field, docs, |v| date_key(v, interval, offset));
            let mut keys: Vec<i64> = map.keys().copied().collect();
            keys.sort_unstable();
            if h.min_doc_count == 0 {
                let align = |t: i64| crate::time::bucket_start(t - offset, interval) + offset;
                let lo = [keys.first().copied(), h.extended.min.map(align)]
                    .into_iter()
                    .flatten()
                    .min();
                let hi = [keys.last().copied(), h.extended.max.map(align)]
                    .into_iter()
                    .flatten()
                    .max();
                if let (Some(mut lo), Some(mut hi)) = (lo, hi) {
                    if let Some(b) = h.hard.min {
                        lo = lo.max(align(b));
                    }
                    if let Some(b) = h.hard.max {
                        hi = hi.min(align(b));
                    }
                    let n = if hi >= lo {
                        ((hi - lo) / interval) as usize + 1
                    } else {
                        0
                    };
                    keys = (0..n.min(MAX_BUCKETS))
                        .map(|i| lo + i as i64 * interval)
                        .collect();
                }
            }
            histogram_buckets(
                ctx,
                a,
                h,
                keys,
                |k| map.get(&k),
                |k, b| {
                    let name = crate::time::format_millis(k);
                    b.insert("key_as_string".into(), Value::from(name.clone()));
                    b.insert("key".into(), Value::from(k));
                    name
                },
            )
        }
        Kind::Histogram(h) => {
            let (interval, offset) = (h.interval, h.offset);
            let kf = |x: f64| ((x - offset) / interval).floor() * interval + offset;
            let map = bucketize(&h.field, docs, |v| v.as_f64().map(|x| kf(x).to_bits()));
            let mut keys: Vec<f64> = map.keys().map(|b| f64::from_bits(*b)).collect();
            keys.sort_by(f64::total_cmp);
            if h.min_doc_count == 0 {
                let lo = [keys.first().copied(), h.extended.min.map(kf)]
                    .into_iter()
                    .flatten()
                    .reduce(f64::min);
                let hi = [keys.last().copied(), h.extended.max.map(kf)]
                    .into_iter()
                    .flatten()
                    .reduce(f64::max);
                if let (Some(mut lo), Some(mut hi)) = (lo, hi) {
                    if let Some(b) = h.hard.min {
                        lo = lo.max(kf(b));
                    }
                    if let Some(b) = h.hard.max {
                        hi = hi.min(kf(b));
                    }
                    let n = if hi >= lo {
                        ((hi - lo) / interval).round() as usize + 1
                    } else {
                        0
                    };
                    keys = (0..n.min(MAX_BUCKETS))
                        .map(|i| kf(lo + i as f64 * interval + interval / 2.0))
                        .collect();
                }
            }
            histogram_buckets(
                ctx,
                a,
                h,
                keys,
                |k| map.get(&k.to_bits()),
                |k, b| {
                    b.insert("key".into(), f64_json(k));
                    format!("{k:?}")
                },
            )
        }
        Kind::Terms {
            field,
            size,
            min_doc_count,
            order,
            missing,
            partition,
            include,
            exclude,
        } => eval_terms(
            ctx,
            a,
            field,
            *size,
            *min_doc_count,
            order,
            *missing,
            *partition,
            include.as_deref(),
            exclude,
            docs,
        ),
        Kind::Composite {
            sources,
            size,
            after,
        } => eval_composite(ctx, a, sources, *size, after.as_deref(), docs),
        Kind::Filter(flags) => {
            let ds: Vec<DocRef> = docs
                .iter()
                .copied()
                .filter(|d| flags[d.ix as usize][d.doc as usize])
                .collect();
            let mut b = Map::new();
            b.insert("doc_count".into(), Value::from(ds.len()));
            with_subs(ctx, a, &ds, b)
        }
        Kind::Filters {
            filters,
            keyed,
            other,
        } => {
            let mut buckets = Vec::new();
            let mut matched = vec![false; docs.len()];
            for (key, flags) in filters {
                let mut ds = Vec::new();
                for (i, d) in docs.iter().enumerate() {
                    if flags[d.ix as usize][d.doc as usize] {
                        ds.push(*d);
                        matched[i] = true;
                    }
                }
                let mut b = Map::new();
                b.insert("doc_count".into(), Value::from(ds.len()));
                buckets.push((key.clone(), with_subs(ctx, a, &ds, b)));
            }
            if let Some(key) = other {
                let ds: Vec<DocRef> = docs
                    .iter()
                    .zip(&matched)
                    .filter(|(_, m)| !**m)
                    .map(|(d, _)| *d)
                    .collect();
                let mut b = Map::new();
                b.insert("doc_count".into(), Value::from(ds.len()));
                buckets.push((key.clone(), with_subs(ctx, a, &ds, b)));
            }
            bucket_list(buckets, *keyed)
        }
        Kind::Metric(m, field) => metric(ctx, *m, field, docs),
        Kind::GeoCentroid { lat, lon, text } => geo_centroid(ctx, (lat, lon, text), docs),
        Kind::Percentiles {
            field,
            percents,
            keyed,
        } => {
            let mut vals: Vec<f64> = docs
                .iter()
                .flat_map(|&d| field.values(d).iter().filter_map(Val::as_f64))
                .collect();
            vals.sort_by(f64::total_cmp);
            let at = |p: f64| -> Value {
                if vals.is_empty() {
                    return Value::Null;
                }
                let rank = p / 100.0 * (vals.len() - 1) as f64;
                let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
                f64_json(vals[lo] + (vals[hi] - vals[lo]) * (rank - lo as f64))
            };
            if *keyed {
                let mut m = Map::new();
                for &p in percents {
                    m.insert(format!("{p:?}"), at(p));
                }
                json!({ "values": m })
            } else {
                let items: Vec<Value> = percents
                    .iter()
                    .map(|&p| json!({"key": p, "value": at(p)}))
                    .collect();
                json!({ "values": items })
            }
        }
        Kind::TopHits {
            size,
            from,
            sort,
            source,
        } => {
            let rows = hits::sort_docs(ctx, sort, docs.to_vec(), from + size);
            let hits: Result<Vec<Value>, StoreError> = rows
                .iter()
                .skip(*from)
                .take(*size)
                .map(|(d, v)| {
                    hits::render_hit(
                        ctx,
                        *d,
                        source,
                        (!sort.is_empty()).then_some((&sort[..], &v[..])),
                    )
                })
                .collect();
            let hits = hits.unwrap_or_else(|e| {
                ctx.failure.borrow_mut().get_or_insert(e);
                Vec::new()
            });
            json!({"hits": {"total": {"value": docs.len(), "relation": "eq"}, "max_score": Value::Null, "hits": hits}})
        }
        Kind::Pipeline(..) => Value::Null,
    }
}

fn bucket_list(buckets: Vec<(String, Value)>, keyed: bool) -> Value {
    if keyed {
        let m: Map<String, Value> = buckets.into_iter().collect();
        json!({ "buckets": m })
    } else {
        json!({ "buckets": buckets.into_iter().map(|(_, b)| b).collect::<Vec<_>>() })
    }
}

fn is_date_field(field: &Field, docs: &[DocRef]) -> bool {
    docs.iter()
        .find_map(|&d| field.values(d).first().copied())
        .is_some_and(|v| matches!(v, Val::Date(_)))
}

fn metric(ctx: &Ctx, m: Metric, field: &Field, docs: &[DocRef]) -> Value {
    match m {
        Metric::Cardinality => {
            let mut set: FastSet<Val> = FastSet::default();
            for &d in docs {
                set.extend(field.values(d).iter().copied());
            }
            json!({ "value": set.len() })
        }
        Metric::ValueCount => {
            let n: usize = docs.iter().map(|&d| field.values(d).len()).sum();
            json!({ "value": n })
        }
        _ => {
            let (mut n, mut sum, mut min, mut max) =
                (0u64, 0.0f64, f64::INFINITY, f64::NEG_INFINITY);
            for &d in docs {
                for v in field.values(d) {
                    if let Some(x) = v.as_f64() {
                        n += 1;
                        sum += x;
                        min = min.min(x);
                        max = max.max(x);
                    }
                }
            }
            let opt = |x: f64| if n == 0 { Value::Null } else { f64_json(x) };
            let date =
                matches!(m, Metric::Min | Metric::Max) && n > 0 && is_date_field(field, docs);
            let _ = ctx;
            match m {
                Metric::Avg => json!({ "value": opt(sum / n.max(1) as f64) }),
                Metric::Sum => json!({ "value": f64_json(sum) }),
                Metric::Min | Metric::Max => {
                    let x = if matches!(m, Metric::Min) { min } else { max };
                    if date {
                        json!({ "value": opt(x), "value_as_string": crate::time::format_millis(x as i64) })
                    } else {
                        json!({ "value": opt(x) })
                    }
                }
                _ => json!({
                    "count": n,
                    "min": opt(min),
                    "max": opt(max),
                    "avg": opt(sum / n.max(1) as f64),
                    "sum": f64_json(sum),
                }),
            }
        }
    }
}

/// The mean latitude and longitude of the documents' points, as Elasticsearch's
/// `geo_centroid` answers (`location` left out when no document has a point).
fn geo_centroid(ctx: &Ctx, (lat, lon, text): (&Field, &Field, &Field), docs: &[DocRef]) -> Value {
    let (mut n, mut sum_lat, mut sum_lon) = (0u64, 0.0f64, 0.0f64);
    let mut add = |a: f64, o: f64| {
        if (-90.0..=90.0).contains(&a) && (-180.0..=180.0).contains(&o) {
            n += 1;
            sum_lat += a;
            sum_lon += o;
        }
    };
    for &d in docs {
        let pairs = lat.values(d).iter().zip(lon.values(d));
        let mut any = false;
        for (a, o) in pairs {
            if let (Some(a), Some(o)) = (a.as_f64(), o.as_f64()) {
                add(a, o);
                any = true;
            }
        }
        if any {
            continue;
        }
        for v in text.values(d) {
            let point = ctx.text(*v).and_then(|t| {
                let (a, o) = t.split_once(',')?;
                Some((a.trim().parse::<f64>().ok()?, o.trim().parse::<f64>().ok()?))
            });
            if let Some((a, o)) = point {
                add(a, o);
            }
        }
    }
    if n == 0 {
        return json!({ "count": 0 });
    }
    let k = n as f64;
    json!({ "location": { "lat": sum_lat / k, "lon": sum_lon / k }, "count": n })
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
pub(crate) fn term_partition(ctx: &Ctx, v: Val, num: u32) -> u32 {
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

/// A bucket key as JSON: `(key, key_as_string)`.
fn key_json(ctx: &Ctx, v: Val, float: bool) -> (Value, Option<String>) {
    match v {
        Val::Date(ms) => (Value::from(ms), Some(crate::time::format_millis(ms))),
        Val::Bool(b) => (Value::from(b as i64), Some(b.to_string())),
        other => (ctx.json(other, float), None),
    }
}

/// The single value a sub-aggregation result exposes for ordering and bucket paths.
fn sub_value(res: Option<&Value>, prop: Option<&str>) -> Option<f64> {
    let r = res?;
    match prop {
        Some("_count") | Some("doc_count") => r.get("doc_count").and_then(Value::as_f64),
        Some(p) => r.get(p).and_then(Value::as_f64).or_else(|| {
            r.get("values")
                .and_then(|v| v.get(p))
                .and_then(Value::as_f64)
        }),
        None => r
            .get("value")
            .and_then(Value::as_f64)
            .or_else(|| r.get("doc_count").and_then(Value::as_f64)),
    }
}

#[allow(clippy::too_many_arguments)]
fn eval_terms(
    ctx: &Ctx,
    a: &Agg,
    field: &Field,
    size: usize,
    min_doc_count: u64,
    order: &[(OrderBy, bool)],
    missing: Option<Val>,
    partition: Option<(u32, u32)>,
    include: Option<&[Val]>,
    exclude: &[Val],
    docs: &[DocRef],
) -> Value {
    let mut map = bucketize(field, docs, Some);
    if let Some(m) = missing {
        let ds: Vec<DocRef> = docs
            .iter()
            .copied()
            .filter(|&d| field.values(d).is_empty())
            .collect();
        if !ds.is_empty() {
            map.entry(m).or_default().extend(ds);
        }
    }
    let mut rows: Vec<(Val, Vec<DocRef>)> = map
        .into_iter()
        .filter(|(k, ds)| {
            ds.len() as u64 >= min_doc_count
                && partition.is_none_or(|(p, n)| term_partition(ctx, *k, n) == p)
                && include.is_none_or(|inc| inc.contains(k))
                && !exclude.contains(k)
        })
        .collect();
    let needs_subs = order.iter().any(|(o, _)| matches!(o, OrderBy::Sub(..)));
    let mut rendered: Vec<Option<Map<String, Value>>> = vec![None; rows.len()];
    if needs_subs {
        for (i, (_, ds)) in rows.iter().enumerate() {
            rendered[i] = Some(eval(ctx, &a.subs, ds));
        }
    }
    let mut idx: Vec<usize> = (0..rows.len()).collect();
    idx.sort_by(|&x, &y| {
        for (by, desc) in order {
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
    let other: usize = idx.iter().skip(size).map(|&i| rows[i].1.len()).sum();
    let mut buckets = Vec::new();
    for &i in idx.iter().take(size) {
        let k = rows[i].0;
        let ds = std::mem::take(&mut rows[i].1);
        let (key, kas) = key_json(ctx, k, field.float);
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
            None => buckets.push(with_subs(ctx, a, &ds, b)),
        }
    }
    json!({"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets})
}

/// Every bucket of a composite aggregation after an optional key, sorted by key: what the
/// pages of one request are cut from.
pub(crate) struct CompositeGroups {
    keys: Vec<Vec<Option<Val>>>,
    docs: Vec<Vec<DocRef>>,
}

/// Orders composite keys source by source (missing values first, `desc` sources reversed).
fn cmp_composite_key(
    ctx: &Ctx,
    sources: &[Source],
    x: &[Option<Val>],
    y: &[Option<Val>],
) -> Ordering {
    for ((s, a), b) in sources.iter().zip(x).zip(y) {
        let o = match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(p), Some(q)) => ctx.cmp(*p, *q),
        };
        let o = if s.desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Groups `docs` by composite key, keeping only keys after `after`, sorted.
fn composite_groups(
    ctx: &Ctx,
    sources: &[Source],
    after: Option<&[Option<Val>]>,
    docs: &[DocRef],
) -> CompositeGroups {
    let source_vals = |s: &Source, d: DocRef, out: &mut Vec<Option<Val>>| {
        out.clear();
        for &v in s.field.values(d) {
            let k = match (s.date, s.hist) {
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
        if out.is_empty() && s.missing_bucket {
            out.push(None);
        }
    };
    let cmp_key = |x: &[Option<Val>], y: &[Option<Val>]| cmp_composite_key(ctx, sources, x, y);
    let mut groups: FastMap<Vec<Option<Val>>, u32> = FastMap::default();
    let mut keys: Vec<Vec<Option<Val>>> = Vec::new();
    let mut lists: Vec<Vec<DocRef>> = Vec::new();
    let mut key: Vec<Option<Val>> = Vec::with_capacity(sources.len());
    let mut per: Vec<Vec<Option<Val>>> = vec![Vec::new(); sources.len()];
    let mut idx = vec![0usize; sources.len()];
    'docs: for &d in docs {
        for (i, s) in sources.iter().enumerate() {
            source_vals(s, d, &mut per[i]);
            if i == 0 {
                // Keys sort by the first source first: values before `after`'s cannot follow it.
                if let Some(first) = after.and_then(|a| a.first()) {
                    per[0].retain(|v| {
                        let o = match (v, first) {
                            (None, None) => Ordering::Equal,
                            (None, Some(_)) => Ordering::Less,
                            (Some(_), None) => Ordering::Greater,
                            (Some(p), Some(q)) => ctx.cmp(*p, *q),
                        };
                        (if s.desc { o.reverse() } else { o }) != Ordering::Less
                    });
                }
            }
            if per[i].is_empty() {
                continue 'docs;
            }
        }
        // Cartesian product of the sources' values.
        idx.iter_mut().for_each(|i| *i = 0);
        loop {
            key.clear();
            key.extend(per.iter().zip(&idx).map(|(vals, &i)| vals[i]));
            if after.is_none_or(|aft| cmp_key(&key, aft) == Ordering::Greater) {
                match groups.get(&key) {
                    Some(&g) => lists[g as usize].push(d),
                    None => {
                        groups.insert(key.clone(), keys.len() as u32);
                        keys.push(key.clone());
                        lists.push(vec![d]);
                    }
                }
            }
            let mut p = per.len();
            loop {
                if p == 0 {
                    break;
                }
                p -= 1;
                idx[p] += 1;
                if idx[p] < per[p].len() {
                    break;
                }
                idx[p] = 0;
                if p == 0 {
                    p = usize::MAX;
                    break;
                }
            }
            if p == usize::MAX {
                break;
            }
        }
    }
    drop(groups);
    // Keys in first-seen order, then sorted stably: the same order for the same documents.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&x, &y| cmp_key(&keys[x], &keys[y]));
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

/// One page of a composite aggregation: the first `size` groups after `after`.
fn render_composite(
    ctx: &Ctx,
    a: &Agg,
    sources: &[Source],
    size: usize,
    after: Option<&[Option<Val>]>,
    groups: &CompositeGroups,
) -> Value {
    let from = match after {
        Some(aft) => groups
            .keys
            .partition_point(|k| cmp_composite_key(ctx, sources, k, aft) != Ordering::Greater),
        None => 0,
    };
    let to = (from + size).min(groups.keys.len());
    let key_obj = |k: &[Option<Val>]| -> Value {
        let mut m = Map::new();
        for (s, v) in sources.iter().zip(k) {
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
    for (k, ds) in groups.keys[from..to].iter().zip(&groups.docs[from..to]) {
        let mut b = Map::new();
        b.insert("key".into(), key_obj(k));
        b.insert("doc_count".into(), Value::from(ds.len()));
        buckets.push(with_subs(ctx, a, ds, b));
    }
    let mut out = Map::new();
    if to > from {
        out.insert("after_key".into(), key_obj(&groups.keys[to - 1]));
    }
    out.insert("buckets".into(), Value::Array(buckets));
    Value::Object(out)
}

fn eval_composite(
    ctx: &Ctx,
    a: &Agg,
    sources: &[Source],
    size: usize,
    after: Option<&[Option<Val>]>,
    docs: &[DocRef],
) -> Value {
    let groups = composite_groups(ctx, sources, after, docs);
    render_composite(ctx, a, sources, size, after, &groups)
}

/// The name of the single top-level aggregation when it is a composite one: a request whose
/// pages can be cut from one [`CompositeGroups`].
pub(crate) fn single_composite<'x>(aggs: &'x [Agg]) -> Option<&'x str> {
    match aggs {
        [a] if matches!(a.kind, Kind::Composite { .. }) => Some(&a.name),
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
            kind: Kind::Composite { sources, .. },
            ..
        }] => Some(composite_groups(ctx, sources, None, docs)),
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
        kind: Kind::Composite {
            sources,
            size,
            after,
        },
        ..
    }] = aggs
    {
        let page = render_composite(ctx, a, sources, *size, after.as_deref(), groups);
        out.insert(a.name.clone(), page);
    }
    out
}

fn pipeline(p: Pipeline, path: &str, siblings: &Map<String, Value>) -> Value {
    let (agg, metric) = match path.split_once('>') {
        Some((a, m)) => (a, Some(m)),
        None => (path, None),
    };
    let buckets: Vec<&Value> = match siblings.get(agg).and_then(|v| v.get("buckets")) {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(m)) => m.values().collect(),
        _ => Vec::new(),
    };
    let mut vals: Vec<(f64, String)> = Vec::new();
    for b in buckets {
        let v = match metric {
            None | Some("_count") => b.get("doc_count").and_then(Value::as_f64),
            Some(m) => {
                let (name, prop) = match m.split_once('.') {
                    Some((n, p)) => (n, Some(p)),
                    None => (m, None),
                };
                sub_value(b.get(name), prop)
            }
        };
        let key = b
            .get("key_as_string")
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| {
                b.get("key").map(|k| {
                    k.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| k.to_string())
                })
            })
            .unwrap_or_default();
        if let Some(v) = v {
            vals.push((v, key));
        }
    }
    if vals.is_empty() {
        return json!({ "value": Value::Null });
    }
    match p {
        Pipeline::Sum => json!({ "value": f64_json(vals.iter().map(|v| v.0).sum()) }),
        Pipeline::Avg => {
            json!({ "value": f64_json(vals.iter().map(|v| v.0).sum::<f64>() / vals.len() as f64) })
        }
        Pipeline::Max | Pipeline::Min => {
            let best = vals
                .iter()
                .map(|v| v.0)
                .reduce(if p == Pipeline::Max {
                    f64::max
                } else {
                    f64::min
                })
                .unwrap_or(0.0);
            let keys: Vec<&str> = vals
                .iter()
                .filter(|v| v.0 == best)
                .map(|v| v.1.as_str())
                .collect();
            json!({ "value": f64_json(best), "keys": keys })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::query::num_json;

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

    #[test]
    fn num_json_keeps_longs_integral() {
        assert_eq!(num_json(503.0, false), json!(503));
        assert_eq!(num_json(2.0, true), json!(2.0));
    }
}
