//! Helpers the aggregation kinds share: parameter reading and checking, interval and
//! bound parsing, grouping documents by key, bucket lists and values as JSON.

use crate::store::embedded::ctx::{bad, Ctx, DocRef, Field};
use crate::store::embedded::index::{FastMap, Val};
use crate::store::StoreError;
use serde_json::{json, Map, Value};

/// `min`/`max` bounds (`extended_bounds`, `hard_bounds`).
pub(super) struct Bounds<T> {
    pub(super) min: Option<T>,
    pub(super) max: Option<T>,
}

pub(super) fn obj<'v>(v: &'v Value, what: &str) -> Result<&'v Map<String, Value>, StoreError> {
    v.as_object()
        .ok_or_else(|| bad(what, format!("expected an object, got {v}")))
}

pub(super) fn get_field<'a>(
    ctx: &Ctx<'a>,
    spec: &Map<String, Value>,
    what: &str,
) -> Result<Field<'a>, StoreError> {
    let f = spec.get("field").and_then(Value::as_str).ok_or_else(|| {
        bad(
            what,
            "`field` is required (scripts are not supported)".to_string(),
        )
    })?;
    Ok(ctx.field(f))
}

pub(super) fn get_u64(
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
                bad(
                    what,
                    format!("`{key}` must be a non-negative integer, got {v}"),
                )
            }),
    }
}

pub(super) fn interval_ms(spec: &Map<String, Value>, what: &str) -> Result<i64, StoreError> {
    if let Some(v) = spec.get("fixed_interval").or_else(|| spec.get("interval")) {
        let s = match v {
            Value::Number(n) => {
                return n
                    .as_i64()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad(what, format!("bad interval {v}")))
            }
            Value::String(s) => s,
            _ => {
                return Err(bad(
                    what,
                    "`fixed_interval` must be a duration such as \"15m\"".to_string(),
                ))
            }
        };
        let d = crate::time::parse_duration(s)
            .map_err(|e| bad(what, format!("fixed_interval: {e}")))?;
        let ms = d.as_millis() as i64;
        return if ms > 0 {
            Ok(ms)
        } else {
            Err(bad(what, "fixed_interval must be positive".to_string()))
        };
    }
    if let Some(v) = spec.get("calendar_interval") {
        let s = v.as_str().unwrap_or_default();
        return match s {
            "1m" | "minute" => Ok(60_000),
            "1h" | "hour" => Ok(3_600_000),
            "1d" | "day" => Ok(86_400_000),
            other => Err(bad(what, format!(
                "calendar_interval `{other}` is not supported by the embedded store (only minute, hour, day in UTC); use fixed_interval"
            ))),
        };
    }
    Err(bad(
        what,
        "`fixed_interval` is required, e.g. \"15m\"".to_string(),
    ))
}

pub(super) fn offset_ms(spec: &Map<String, Value>, what: &str) -> Result<i64, StoreError> {
    match spec.get("offset") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => Ok(n.as_i64().unwrap_or(0)),
        Some(Value::String(s)) => {
            let (neg, rest) = match s.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, s.strip_prefix('+').unwrap_or(s)),
            };
            let d =
                crate::time::parse_duration(rest).map_err(|e| bad(what, format!("offset: {e}")))?;
            let ms = d.as_millis() as i64;
            Ok(if neg { -ms } else { ms })
        }
        Some(v) => Err(bad(what, format!("bad offset {v}"))),
    }
}

pub(super) fn date_bounds(
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
                bad(
                    what,
                    format!("{key}: expected epoch millis or a date, got {x}"),
                )
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

pub(super) fn num_bounds(spec: &Map<String, Value>, key: &str) -> Bounds<f64> {
    let o = spec.get(key);
    Bounds {
        min: o.and_then(|o| o.get("min")).and_then(Value::as_f64),
        max: o.and_then(|o| o.get("max")).and_then(Value::as_f64),
    }
}

/// Rejects parameters the embedded store would otherwise silently ignore: any key of `v`
/// not in `allowed`, a `time_zone` other than UTC, a `format` other than RFC 3339.
pub(super) fn check_params(allowed: &[&str], v: &Value, what: &str) -> Result<(), StoreError> {
    let Some(o) = v.as_object() else {
        return Ok(());
    };
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(bad(
                what,
                format!(
                    "parameter `{k}` is not supported by the embedded store; supported: {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    if let Some(tz) = o.get("time_zone") {
        if !matches!(
            tz.as_str(),
            Some("UTC" | "utc" | "Z" | "+00:00" | "Etc/UTC" | "GMT")
        ) {
            return Err(bad(
                what,
                format!("time_zone {tz} is not supported; the embedded store works in UTC"),
            ));
        }
    }
    if let Some(f) = o.get("format") {
        if !matches!(
            f.as_str(),
            Some("strict_date_optional_time" | "date_optional_time" | "strict_date_time")
        ) {
            return Err(bad(
                what,
                format!("format {f} is not supported; keys are printed as RFC 3339 with millis"),
            ));
        }
    }
    Ok(())
}

pub(super) fn f64_json(f: f64) -> Value {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// What [`bucketize`] gathers per key: the documents (for sub-aggregations), or only how
/// many (a histogram without sub-aggregations, as the datafeed's event counts over a
/// lookback window: no list of the window's documents per bucket).
pub(super) trait Gather: Default {
    fn add(&mut self, d: DocRef);
}

impl Gather for Vec<DocRef> {
    #[inline]
    fn add(&mut self, d: DocRef) {
        self.push(d);
    }
}

impl Gather for usize {
    #[inline]
    fn add(&mut self, _: DocRef) {
        *self += 1;
    }
}

/// Buckets documents by a numeric key computed from each value; a document counts once per
/// distinct key.
pub(super) fn bucketize<K: Copy + Eq + std::hash::Hash, B: Gather>(
    field: &Field,
    docs: &[DocRef],
    key: impl Fn(Val) -> Option<K>,
) -> FastMap<K, B> {
    let mut map: FastMap<K, B> = FastMap::default();
    bucketize_into(&mut map, field, docs, key);
    map
}

/// [`bucketize`] adding to `map` (documents given in batches).
pub(super) fn bucketize_into<K: Copy + Eq + std::hash::Hash, B: Gather>(
    map: &mut FastMap<K, B>,
    field: &Field,
    docs: &[DocRef],
    key: impl Fn(Val) -> Option<K>,
) {
    let mut seen: Vec<K> = Vec::new();
    for &d in docs {
        let vals = field.values(d);
        if vals.len() == 1 {
            if let Some(k) = key(vals[0]) {
                map.entry(k).or_default().add(d);
            }
            continue;
        }
        seen.clear();
        for v in vals {
            if let Some(k) = key(v) {
                if !seen.contains(&k) {
                    seen.push(k);
                    map.entry(k).or_default().add(d);
                }
            }
        }
    }
}

/// The start of the `interval` bucket (shifted by `offset`) a date value falls in.
pub(super) fn date_key(v: Val, interval: i64, offset: i64) -> Option<i64> {
    let t = match v {
        Val::Date(ms) => ms,
        Val::Num(f) => f as i64,
        _ => return None,
    };
    Some(crate::time::bucket_start(t - offset, interval) + offset)
}

/// Buckets as a list, or keyed by name when `keyed`.
pub(super) fn bucket_list(buckets: Vec<(String, Value)>, keyed: bool) -> Value {
    if keyed {
        let m: Map<String, Value> = buckets.into_iter().collect();
        json!({ "buckets": m })
    } else {
        json!({ "buckets": buckets.into_iter().map(|(_, b)| b).collect::<Vec<_>>() })
    }
}

/// A bucket key as JSON: `(key, key_as_string)`.
pub(super) fn key_json(ctx: &Ctx, v: Val, float: bool) -> (Value, Option<String>) {
    match v {
        Val::Date(ms) => (Value::from(ms), Some(crate::time::format_millis(ms))),
        Val::Bool(b) => (Value::from(b as i64), Some(b.to_string())),
        other => (ctx.json(other, float), None),
    }
}

/// The single value a sub-aggregation result exposes for ordering and bucket paths.
pub(super) fn sub_value(res: Option<&Value>, prop: Option<&str>) -> Option<f64> {
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
