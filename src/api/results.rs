//! `GET /api/jobs/{id}/results/{kind}`: the query parameters, the search they become, and the
//! paging token.
//!
//! Parameters are read from a plain map rather than a serde struct so every error names the
//! parameter and says what was expected, and unknown parameters (typos) are refused.

use super::error::AppError;
use crate::config::Job;
use crate::time::EpochMillis;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Default page size.
pub(crate) const DEFAULT_SIZE: usize = 100;
/// Largest page size, and the deepest `from_offset + size` (Elasticsearch's
/// `index.max_result_window`); page further with `search_after`.
pub(crate) const MAX_WINDOW: usize = 10_000;

/// The result kinds the endpoint serves, by their path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Buckets,
    Records,
    Influencers,
    ModelPlot,
    Forecasts,
}

impl Kind {
    pub(crate) const PATHS: &'static [&'static str] = &[
        "buckets",
        "records",
        "influencers",
        "model_plot",
        "forecasts",
    ];

    pub(crate) fn parse(segment: &str) -> Option<Kind> {
        Some(match segment {
            "buckets" => Kind::Buckets,
            "records" => Kind::Records,
            "influencers" => Kind::Influencers,
            "model_plot" => Kind::ModelPlot,
            "forecasts" => Kind::Forecasts,
            _ => return None,
        })
    }

    /// The `result_type` of the documents.
    pub(crate) fn result_type(self) -> &'static str {
        match self {
            Kind::Buckets => "bucket",
            Kind::Records => "record",
            Kind::Influencers => "influencer",
            Kind::ModelPlot => "model_plot",
            Kind::Forecasts => "model_forecast",
        }
    }

    /// The score field, for kinds that have one.
    pub(crate) fn score_field(self) -> Option<&'static str> {
        match self {
            Kind::Buckets => Some("anomaly_score"),
            Kind::Records => Some("record_score"),
            Kind::Influencers => Some("influencer_score"),
            Kind::ModelPlot | Kind::Forecasts => None,
        }
    }
}

/// Order of the returned documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Oldest first.
    Time,
    /// Highest score first, then oldest.
    Score,
}

/// Checked query parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResultsParams {
    pub from: Option<EpochMillis>,
    pub to: Option<EpochMillis>,
    pub min_score: Option<f64>,
    pub partition: Option<(String, String)>,
    pub detector: Option<usize>,
    pub size: usize,
    pub from_offset: usize,
    pub search_after: Option<Value>,
    pub sort: Order,
}

const KNOWN: &[&str] = &[
    "from",
    "to",
    "min_score",
    "partition",
    "detector",
    "size",
    "from_offset",
    "search_after",
    "sort",
];

/// A time parameter: epoch milliseconds (digits) or RFC 3339.
pub(crate) fn parse_time(param: &str, text: &str) -> Result<EpochMillis, AppError> {
    let t = text.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| {
            AppError::bad_param(
                param,
                format!("`{text}` is too large for epoch milliseconds"),
            )
        });
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis())
        .map_err(|e| {
            AppError::bad_param(
                param,
                format!(
                    "`{text}` is not a time ({e}); expected RFC 3339 like \
                     2015-05-18T00:00:00Z or epoch milliseconds"
                ),
            )
        })
}

fn parse_usize(param: &str, text: &str, max: usize) -> Result<usize, AppError> {
    let n: usize = text.trim().parse().map_err(|_| {
        AppError::bad_param(param, format!("`{text}` is not a non-negative integer"))
    })?;
    if n > max {
        return Err(AppError::bad_param(
            param,
            format!("{n} is larger than the maximum {max}"),
        ));
    }
    Ok(n)
}

/// Reads and checks the parameters for `kind`. The first problem found is reported, in the
/// order the checks run here.
pub(crate) fn parse_params(
    q: &HashMap<String, String>,
    kind: Kind,
) -> Result<ResultsParams, AppError> {
    check_known(q)?;
    let (from, to) = parse_range(q)?;
    let min_score = parse_min_score(q, kind)?;
    let partition = parse_partition(q)?;
    let detector = q
        .get("detector")
        .map(|v| parse_usize("detector", v, usize::MAX))
        .transpose()?;
    let (size, from_offset) = parse_window(q)?;
    let sort = parse_sort(q, kind)?;
    let search_after = match q.get("search_after") {
        None => None,
        Some(token) => {
            if from_offset > 0 {
                return Err(AppError::bad_param(
                    "search_after",
                    "cannot be combined with from_offset",
                ));
            }
            Some(decode_token(token, sort_clause(kind, sort).len())?)
        }
    };
    if kind == Kind::Buckets && partition.is_some() {
        return Err(AppError::bad_param(
            "partition",
            "bucket results cover all partitions; filter records or influencers instead",
        ));
    }
    Ok(ResultsParams {
        from,
        to,
        min_score,
        partition,
        detector,
        size,
        from_offset,
        search_after,
        sort,
    })
}

/// Refuses a parameter not in [`KNOWN`] (the first in sort order).
fn check_known(q: &HashMap<String, String>) -> Result<(), AppError> {
    let mut unknown: Vec<&str> = q
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN.contains(k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(AppError::bad_param(
            unknown[0],
            format!("unknown parameter; expected one of {}", KNOWN.join(", ")),
        ));
    }
    Ok(())
}

/// `from` and `to`, with `from` before `to` when both are given.
fn parse_range(
    q: &HashMap<String, String>,
) -> Result<(Option<EpochMillis>, Option<EpochMillis>), AppError> {
    let from = q.get("from").map(|v| parse_time("from", v)).transpose()?;
    let to = q.get("to").map(|v| parse_time("to", v)).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err(AppError::bad_param(
                "to",
                "must be later than `from` (`to` is exclusive)",
            ));
        }
    }
    Ok((from, to))
}

/// `min_score`: 0-100, and only for documents that have a score.
fn parse_min_score(q: &HashMap<String, String>, kind: Kind) -> Result<Option<f64>, AppError> {
    let Some(v) = q.get("min_score") else {
        return Ok(None);
    };
    let s: f64 = v.trim().parse().map_err(|_| {
        AppError::bad_param(
            "min_score",
            format!("`{v}` is not a number; expected 0-100"),
        )
    })?;
    if !(0.0..=100.0).contains(&s) {
        return Err(AppError::bad_param(
            "min_score",
            format!("{s} is outside 0-100"),
        ));
    }
    if kind.score_field().is_none() {
        return Err(AppError::bad_param(
            "min_score",
            format!("{} documents have no score", kind.result_type()),
        ));
    }
    Ok(Some(s))
}

/// `partition=field=value`.
fn parse_partition(q: &HashMap<String, String>) -> Result<Option<(String, String)>, AppError> {
    match q.get("partition") {
        None => Ok(None),
        Some(v) => match v.split_once('=') {
            Some((f, val)) if !f.trim().is_empty() => {
                Ok(Some((f.trim().to_string(), val.to_string())))
            }
            _ => Err(AppError::bad_param(
                "partition",
                format!("`{v}` is not field=value, e.g. partition=country=DE"),
            )),
        },
    }
}

/// `size` and `from_offset`, whose sum stays within [`MAX_WINDOW`].
fn parse_window(q: &HashMap<String, String>) -> Result<(usize, usize), AppError> {
    let size = q
        .get("size")
        .map(|v| parse_usize("size", v, MAX_WINDOW))
        .transpose()?
        .unwrap_or(DEFAULT_SIZE);
    let from_offset = q
        .get("from_offset")
        .map(|v| parse_usize("from_offset", v, MAX_WINDOW))
        .transpose()?
        .unwrap_or(0);
    if from_offset + size > MAX_WINDOW {
        return Err(AppError::bad_param(
            "from_offset",
            format!(
                "from_offset + size must be at most {MAX_WINDOW}; page deeper with search_after"
            ),
        ));
    }
    Ok((size, from_offset))
}

/// `sort`: `time` (the default), or `score` for documents that have one.
fn parse_sort(q: &HashMap<String, String>, kind: Kind) -> Result<Order, AppError> {
    match q.get("sort").map(String::as_str) {
        None | Some("time") => Ok(Order::Time),
        Some("score") if kind.score_field().is_some() => Ok(Order::Score),
        Some(other) => {
            let expected = if kind.score_field().is_some() {
                "time or score"
            } else {
                "time (these documents have no score)"
            };
            Err(AppError::bad_param(
                "sort",
                format!("`{other}`; expected {expected}"),
            ))
        }
    }
}

/// The sort clause; always ends with `_id` so paging is stable.
pub(crate) fn sort_clause(kind: Kind, order: Order) -> Vec<Value> {
    match (order, kind.score_field()) {
        (Order::Score, Some(score)) => vec![
            json!({ score: "desc" }),
            json!({ "timestamp": "asc" }),
            json!({ "_id": "asc" }),
        ],
        _ => vec![json!({ "timestamp": "asc" }), json!({ "_id": "asc" })],
    }
}

/// Encodes a hit's `sort` values as an opaque URL-safe token.
pub(crate) fn encode_token(sort: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sort.to_string())
}

fn decode_token(token: &str, len: usize) -> Result<Value, AppError> {
    let bad = || {
        AppError::bad_param(
            "search_after",
            "not a token this API issued; pass the `next` value of the previous page unchanged",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    match v.as_array() {
        Some(a) if a.len() == len => Ok(v),
        _ => Err(AppError::bad_param(
            "search_after",
            "the token was issued for another sort order; keep `sort` unchanged while paging",
        )),
    }
}

/// The `term` filters that select one split value, checked against the job's detectors.
fn partition_filters(
    job: &Job,
    kind: Kind,
    field: &str,
    value: &str,
) -> Result<Vec<Value>, AppError> {
    if kind == Kind::Influencers {
        if !job.influencers.iter().any(|f| f == field) {
            return Err(AppError::bad_param(
                "partition",
                format!(
                    "`{field}` is not an influencer of job `{}`; expected one of: {}",
                    job.job_id,
                    list(job.influencers.iter().map(String::as_str))
                ),
            ));
        }
        return Ok(vec![
            json!({ "term": { "influencer_field_name": field } }),
            json!({ "term": { "influencer_field_value": value } }),
        ]);
    }
    let role = job.detectors.iter().find_map(|d| {
        if d.partition_field_name.as_deref() == Some(field) {
            Some("partition")
        } else if d.by_field_name.as_deref() == Some(field) {
            Some("by")
        } else if d.over_field_name.as_deref() == Some(field) {
            Some("over")
        } else {
            None
        }
    });
    match role {
        Some(role) => Ok(vec![
            json!({ "term": { format!("{role}_field_name"): field } }),
            json!({ "term": { format!("{role}_field_value"): value } }),
        ]),
        None => Err(AppError::bad_param(
            "partition",
            format!(
                "`{field}` is not a split field of job `{}`; expected one of: {}",
                job.job_id,
                list(job.detectors.iter().flat_map(|d| d.split_fields()))
            ),
        )),
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = items.collect();
    v.sort();
    v.dedup();
    if v.is_empty() {
        "(none: the job is not split)".into()
    } else {
        v.join(", ")
    }
}

/// The `_search` body for a page of results.
pub(crate) fn search_body(job: &Job, kind: Kind, p: &ResultsParams) -> Result<Value, AppError> {
    let mut filter = vec![
        json!({ "term": { "job_id": job.job_id } }),
        json!({ "term": { "result_type": kind.result_type() } }),
    ];
    if p.from.is_some() || p.to.is_some() {
        let mut range = Map::new();
        if let Some(f) = p.from {
            range.insert("gte".into(), json!(f));
        }
        if let Some(t) = p.to {
            range.insert("lt".into(), json!(t));
        }
        filter.push(json!({ "range": { "timestamp": range } }));
    }
    if let (Some(min), Some(field)) = (p.min_score, kind.score_field()) {
        filter.push(json!({ "range": { field: { "gte": min } } }));
    }
    if let Some((field, value)) = &p.partition {
        filter.extend(partition_filters(job, kind, field, value)?);
    }
    if let Some(d) = p.detector {
        if d >= job.detectors.len() {
            return Err(AppError::bad_param(
                "detector",
                format!(
                    "job `{}` has {} detector(s); expected 0..{}",
                    job.job_id,
                    job.detectors.len(),
                    job.detectors.len()
                ),
            ));
        }
        if matches!(kind, Kind::Buckets | Kind::Influencers) {
            return Err(AppError::bad_param(
                "detector",
                format!("{} documents are not per detector", kind.result_type()),
            ));
        }
        filter.push(json!({ "term": { "detector_index": d } }));
    }
    let mut body = json!({
        "query": { "bool": { "filter": filter } },
        "sort": sort_clause(kind, p.sort),
        "size": p.size,
        "track_total_hits": true,
    });
    if p.from_offset > 0 {
        body["from"] = json!(p.from_offset);
    }
    if let Some(after) = &p.search_after {
        body["search_after"] = after.clone();
    }
    Ok(body)
}

/// Shapes a search response as the endpoint's answer.
pub(crate) fn page(job_id: &str, kind: Kind, p: &ResultsParams, resp: &Value) -> Value {
    let hits = resp
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let results: Vec<Value> = hits
        .iter()
        .filter_map(|h| h.get("_source").cloned())
        .collect();
    let next = if p.size > 0 && hits.len() == p.size {
        hits.last()
            .and_then(|h| h.get("sort"))
            .map(|s| Value::String(encode_token(s)))
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let total = resp
        .pointer("/hits/total/value")
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "job_id": job_id,
        "result_type": kind.result_type(),
        "total": total,
        "count": results.len(),
        "next": next,
        "results": results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn param_of(e: AppError) -> String {
        match e {
            AppError::BadParam { param, .. } => param,
            other => panic!("expected BadParam, got {other:?}"),
        }
    }

    #[test]
    fn times_accept_rfc3339_and_epoch_millis() {
        assert_eq!(
            parse_time("from", "1431907200000").unwrap(),
            1_431_907_200_000
        );
        assert_eq!(
            parse_time("from", "2015-05-18T00:00:00Z").unwrap(),
            1_431_907_200_000
        );
        assert_eq!(
            parse_time("from", "2015-05-18T02:00:00+02:00").unwrap(),
            1_431_907_200_000
        );
        assert_eq!(param_of(parse_time("to", "yesterday").unwrap_err()), "to");
    }

    #[test]
    fn defaults_and_limits() {
        let p = parse_params(&q(&[]), Kind::Records).unwrap();
        assert_eq!(p.size, DEFAULT_SIZE);
        assert_eq!(p.sort, Order::Time);
        for (pairs, param) in [
            (vec![("size", "10001")], "size"),
            (vec![("size", "-1")], "size"),
            (
                vec![("from_offset", "9950"), ("size", "100")],
                "from_offset",
            ),
            (vec![("min_score", "101")], "min_score"),
            (vec![("min_score", "high")], "min_score"),
            (vec![("partition", "DE")], "partition"),
            (vec![("sort", "name")], "sort"),
            (vec![("serach_after", "x")], "serach_after"),
            (vec![("search_after", "%%%")], "search_after"),
            (
                vec![
                    ("from", "2015-05-19T00:00:00Z"),
                    ("to", "2015-05-18T00:00:00Z"),
                ],
                "to",
            ),
        ] {
            let err = parse_params(&q(&pairs), Kind::Records).unwrap_err();
            assert_eq!(param_of(err), param, "{pairs:?}");
        }
        let err = parse_params(&q(&[("min_score", "50")]), Kind::ModelPlot).unwrap_err();
        assert_eq!(param_of(err), "min_score");
        let err = parse_params(&q(&[("partition", "a=b")]), Kind::Buckets).unwrap_err();
        assert_eq!(param_of(err), "partition");
    }

    #[test]
    fn tokens_round_trip_and_check_their_shape() {
        let sort = json!([91.5, 1000, "id-1"]);
        let token = encode_token(&sort);
        let p = parse_params(
            &q(&[("sort", "score"), ("search_after", &token)]),
            Kind::Records,
        )
        .unwrap();
        assert_eq!(p.search_after, Some(sort));
        // Same token with the time order (two sort values) is refused.
        let err = parse_params(&q(&[("search_after", &token)]), Kind::Records).unwrap_err();
        assert_eq!(param_of(err), "search_after");
    }
}
