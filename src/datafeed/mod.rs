//! From a job to bucket values: the aggregation requests a job needs, paged, answered by the
//! store as per-partition values for each bucket.
//!
//! One request shape serves every detector: a `composite` aggregation whose sources are the
//! bucket time (`date_histogram` with the job's `bucket_span`) followed by the detector's split
//! fields (partition, by, over), with the function's metric as a sub-aggregation (for
//! `distinct_count`, the counted field as one more source; see `value_field`). Composite
//! pages with `after_key`, so a split with millions of values costs more requests, not more
//! memory in the store; its flat output needs no per-shape parsing. Lookbacks are cut into
//! time chunks so the runner can write results and checkpoint as it goes.

use crate::config::{Detector, Job, Metric};
use crate::store::{Store, StoreError};
use crate::time::{bucket_start, EpochMillis, EARLIEST_PLAUSIBLE};
use serde_json::{json, Value};
use std::collections::BTreeMap;

mod fields;
mod reduce;

pub(crate) use fields::{aggregatable_in, unaggregatable};
pub use fields::{resolve_fields, FieldProblems, ResolvedJob};

/// Composite page size ceiling: well under Elasticsearch's default `search.max_buckets`
/// (65,536); a job's `scroll_size` (validated to at most this) sets the page size it uses.
const MAX_PAGE_SIZE: usize = 10_000;

/// The composite page size of a job: its `datafeed_config.scroll_size`.
fn page_size(job: &Job) -> usize {
    job.scroll_size.clamp(1, MAX_PAGE_SIZE)
}

// `distinct_count` is not a `cardinality` sub-aggregation: Elasticsearch and OpenSearch
// allocate a cardinality sketch per composite bucket up front (about 256 KB each at the
// `precision_threshold` of 40,000 that exactness needs), so a page of 10,000 buckets asks
// for 2.4 GB and the request circuit breaker answers 429 (measured on OpenSearch 2.19 with a
// 512 MB heap; 500 buckets already take 0.8 s). Instead the counted field is one more
// composite source and the distinct values of each (bucket, partition, by, over) group are
// counted here: exact at any cardinality, memory bounded by the page, and pages grow with
// the number of distinct (bucket, split, value) combinations, never with a sketch's size.

/// One partition's value in one bucket for one detector.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesValue {
    /// Value of `partition_field_name`, if the detector has one.
    pub partition: Option<String>,
    /// Value of `by_field_name`, if the detector has one.
    pub by: Option<String>,
    /// Value of `over_field_name`, if the detector has one.
    pub over: Option<String>,
    /// The function's value (count, distinct count, mean, ...).
    pub value: f64,
    /// Documents behind the value.
    pub doc_count: u64,
    /// `metric`: the minimum and maximum (the mean is `value`); `lat_long`: the group's
    /// location, (latitude, longitude) of the centroid of its documents' points.
    pub spread: Option<(f64, f64)>,
}

/// Everything a detector saw in one time chunk: bucket start → values (in store key order).
pub type DetectorBuckets = BTreeMap<EpochMillis, Vec<SeriesValue>>;

/// Earliest and latest document times matching the job's query, or `None` with no data.
/// Documents dated before `EARLIEST_PLAUSIBLE` are left out: a corrupt year-0001 line must
/// not start the job two thousand years ago.
pub fn data_extent(
    store: &dyn Store,
    job: &Job,
) -> Result<Option<(EpochMillis, EpochMillis)>, StoreError> {
    data_extent_before(store, job, None)
}

/// [`data_extent`] over the documents dated before `before` (when given): a lookback ends
/// at the newest document that is not in the future, so one line dated months ahead does not
/// carry the job past data that has yet to arrive.
pub(crate) fn data_extent_before(
    store: &dyn Store,
    job: &Job,
    before: Option<EpochMillis>,
) -> Result<Option<(EpochMillis, EpochMillis)>, StoreError> {
    let mut range = json!({ "gte": EARLIEST_PLAUSIBLE, "format": "epoch_millis" });
    if let Some(t) = before {
        range["lt"] = json!(t);
    }
    let body = json!({
        "size": 0,
        "track_total_hits": false,
        "query": { "bool": { "filter": [
            job.query,
            { "range": { job.time_field.clone(): range } }
        ] } },
        "aggs": {
            "earliest": { "min": { "field": job.time_field } },
            "latest": { "max": { "field": job.time_field } }
        }
    });
    let resp = store.search(&job.indices.join(","), &body)?;
    let earliest = resp
        .pointer("/aggregations/earliest/value")
        .and_then(Value::as_f64);
    let latest = resp
        .pointer("/aggregations/latest/value")
        .and_then(Value::as_f64);
    Ok(match (earliest, latest) {
        (Some(a), Some(b)) => Some((a as EpochMillis, b as EpochMillis)),
        _ => None,
    })
}

/// Number of source documents per bucket in `[start, end)`: the bucket's `event_count`.
pub fn event_counts(
    store: &dyn Store,
    job: &Job,
    start: EpochMillis,
    end: EpochMillis,
) -> Result<BTreeMap<EpochMillis, u64>, StoreError> {
    let span = span_ms(job);
    let body = json!({
        "size": 0,
        "track_total_hits": false,
        "query": chunk_query(job, start, end),
        "aggs": { "t": { "date_histogram": {
            "field": job.time_field,
            "fixed_interval": format!("{}ms", span),
            "min_doc_count": 1
        } } }
    });
    let resp = store.search(&job.indices.join(","), &body)?;
    let mut out = BTreeMap::new();
    for b in buckets_of(&resp, "/aggregations/t/buckets")? {
        let key = b
            .get("key")
            .and_then(Value::as_f64)
            .ok_or_else(|| bad_response("date_histogram bucket without a numeric key"))?;
        let count = b.get("doc_count").and_then(Value::as_u64).unwrap_or(0);
        out.insert(bucket_start(key as EpochMillis, span), count);
    }
    Ok(out)
}

/// Fetches one detector's values for every bucket in `[start, end)` (bucket-aligned).
pub fn fetch_detector(
    store: &dyn Store,
    job: &Job,
    detector: &Detector,
    start: EpochMillis,
    end: EpochMillis,
) -> Result<DetectorBuckets, StoreError> {
    let first = composite_request(job, detector, start, end, None);
    let first = store.search(&job.indices.join(","), &first)?;
    fetch_detector_from(store, job, detector, (start, end), first)
}

/// [`fetch_detector`] given the answer to its first page (`first`, for a caller that sent
/// it with other searches): reads it and fetches the pages after it.
pub(crate) fn fetch_detector_from(
    store: &dyn Store,
    job: &Job,
    detector: &Detector,
    (start, end): (EpochMillis, EpochMillis),
    first: Value,
) -> Result<DetectorBuckets, StoreError> {
    let span = span_ms(job);
    let index = job.indices.join(",");
    let grouped = value_field(detector).is_some();
    let mut out = DetectorBuckets::new();
    // The group (bucket and split values) whose field values are being collected: composite
    // order keeps a group's keys together, also across pages.
    let mut pending: Option<Group> = None;
    let mut resp = first;
    loop {
        let buckets = buckets_of(&resp, "/aggregations/series/buckets")?;
        for b in buckets {
            let key = b
                .get("key")
                .ok_or_else(|| bad_response("composite bucket without `key`"))?;
            let time = key
                .get("t")
                .and_then(Value::as_f64)
                .ok_or_else(|| bad_response("composite key without a numeric `t`"))?;
            let doc_count = b.get("doc_count").and_then(Value::as_u64).unwrap_or(0);
            let split = SplitKey {
                time: bucket_start(time as EpochMillis, span),
                partition: key_string(key, "p"),
                by: key_string(key, "b"),
                over: key_string(key, "o"),
            };
            if grouped {
                let value = key.get("v").cloned().unwrap_or(Value::Null);
                match pending.as_mut().filter(|g| g.split == split) {
                    Some(group) => group.add(value, doc_count),
                    None => {
                        if let Some(done) = pending.take() {
                            done.finish(detector.function.metric(), &mut out);
                        }
                        let mut group = Group::new(split);
                        group.add(value, doc_count);
                        pending = Some(group);
                    }
                }
                continue;
            }
            let Some(value) = metric_value(detector, b, doc_count) else {
                continue; // a mean/min/max over documents that lack the field
            };
            let spread = geo_centroid(detector, b);
            if detector.function.metric() == Metric::LatLong && spread.is_none() {
                continue; // no document of the group has a location
            }
            out.entry(split.time).or_default().push(SeriesValue {
                partition: split.partition,
                by: split.by,
                over: split.over,
                value,
                doc_count,
                spread,
            });
        }
        match resp.pointer("/aggregations/series/after_key") {
            Some(k) if buckets.len() == page_size(job) => {
                let body = composite_request(job, detector, start, end, Some(k));
                resp = store.search(&index, &body)?;
            }
            _ => break,
        }
    }
    if let Some(done) = pending {
        done.finish(detector.function.metric(), &mut out);
    }
    Ok(out)
}

/// A composite bucket's place: its bucket start and split values.
#[derive(Debug, Clone, PartialEq)]
struct SplitKey {
    time: EpochMillis,
    partition: Option<String>,
    by: Option<String>,
    over: Option<String>,
}

/// The values of the field (with their document counts) of one group of a detector that
/// reads them as a composite source (`value_field`).
struct Group {
    split: SplitKey,
    values: Vec<(Value, u64)>,
    doc_count: u64,
}

impl Group {
    fn new(split: SplitKey) -> Self {
        Group {
            split,
            values: Vec::new(),
            doc_count: 0,
        }
    }

    fn add(&mut self, value: Value, doc_count: u64) {
        self.doc_count += doc_count;
        if !value.is_null() {
            self.values.push((value, doc_count));
        }
    }

    /// Reduces the group to its value and adds it to `out`; a group whose documents all lack
    /// the field has no value, except for `distinct_count` (0 distinct values).
    fn finish(self, metric: Metric, out: &mut DetectorBuckets) {
        let (value, spread) = match metric {
            Metric::DistinctCount => (Some(self.values.len() as f64), None),
            Metric::InfoContent => (info_content(&self.values), None),
            _ => match reduce::Numbers::of(&self.values) {
                Some(n) => match metric {
                    Metric::Varp => (Some(n.variance()), None),
                    Metric::MinMaxMean => (Some(n.mean()), Some((n.min(), n.max()))),
                    _ => (Some(n.median()), None),
                },
                None => (None, None),
            },
        };
        let Some(value) = value else {
            return;
        };
        out.entry(self.split.time).or_default().push(SeriesValue {
            partition: self.split.partition,
            by: self.split.by,
            over: self.split.over,
            value,
            doc_count: self.doc_count,
            spread,
        });
    }
}

/// Information content of a group's strings, as Elastic ML measures it: the size in bytes of
/// its distinct values compressed together (deflate), so many long random-looking values (a
/// DNS tunnel's subdomains) weigh far more than a few short or repetitive ones. `None` when
/// no document has the field.
fn info_content(values: &[(Value, u64)]) -> Option<f64> {
    use std::io::Write;
    if values.is_empty() {
        return None;
    }
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    for (v, _) in values {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        // Writing to a Vec cannot fail.
        encoder.write_all(text.as_bytes()).ok()?;
        encoder.write_all(b"\n").ok()?;
    }
    encoder.finish().ok().map(|bytes| bytes.len() as f64)
}

/// The composite request for one page of one detector's values.
pub(crate) fn composite_request(
    job: &Job,
    detector: &Detector,
    start: EpochMillis,
    end: EpochMillis,
    after: Option<&Value>,
) -> Value {
    let mut sources = vec![json!({ "t": { "date_histogram": {
        "field": job.time_field,
        "fixed_interval": format!("{}ms", span_ms(job)),
    } } })];
    let splits = [
        ("p", &detector.partition_field_name),
        ("b", &detector.by_field_name),
        ("o", &detector.over_field_name),
    ];
    for (name, field) in splits {
        if let Some(field) = field {
            let mut terms = json!({ "field": job.agg_field(field) });
            if detector.use_null {
                terms["missing_bucket"] = json!(true);
            }
            sources.push(json!({ name: { "terms": terms } }));
        }
    }
    if let Some(field) = value_field(detector).map(|f| job.agg_field(f)) {
        sources.push(json!({ "v": { "terms": { "field": field, "missing_bucket": true } } }));
    }
    let mut composite = json!({ "size": page_size(job), "sources": sources });
    if let Some(after) = after {
        composite["after"] = after.clone();
    }
    let mut series = json!({ "composite": composite });
    if let Some(metric) = metric_agg(job, detector) {
        series["aggs"] = json!({ "v": metric });
    }
    json!({
        "size": 0,
        "track_total_hits": false,
        "query": chunk_query(job, start, end),
        "aggs": { "series": series }
    })
}

/// The metric sub-aggregation for a detector's function, `None` when the composite's own
/// keys and counts carry the value.
fn metric_agg(job: &Job, detector: &Detector) -> Option<Value> {
    // The first event of each group: when it happened is what the time functions model.
    if matches!(
        detector.function.metric(),
        Metric::TimeOfDay | Metric::TimeOfWeek
    ) {
        return Some(json!({ "min": { "field": job.time_field } }));
    }
    let field = detector.field_name.as_deref()?;
    Some(match detector.function.metric() {
        // Where the group's documents are: `geo_centroid` of a geo_point (Elasticsearch and
        // OpenSearch; the embedded store reads `lat`/`lon` objects and "lat,lon" strings).
        Metric::LatLong => json!({ "geo_centroid": { "field": field } }),
        Metric::Mean => json!({ "avg": { "field": field } }),
        Metric::Sum => json!({ "sum": { "field": field } }),
        Metric::Min => json!({ "min": { "field": field } }),
        Metric::Max => json!({ "max": { "field": field } }),
        _ => return None,
    })
}

/// The field whose values are one more composite source, reduced here per group: the
/// distinct values of `distinct_count`; the values behind `median`, `varp` and `metric`
/// (exact, and the same on every store, where an engine's `percentiles` is an estimate and
/// the embedded store has no `extended_stats`); the strings of `info_content`.
fn value_field(detector: &Detector) -> Option<&str> {
    match detector.function.metric() {
        Metric::DistinctCount
        | Metric::Median
        | Metric::Varp
        | Metric::MinMaxMean
        | Metric::InfoContent => detector.field_name.as_deref(),
        _ => None,
    }
}

/// `lat_long`: the group's centroid as (latitude, longitude), `None` for other functions
/// and for a group without locations (`geo_centroid` then has no `location`).
fn geo_centroid(detector: &Detector, bucket: &Value) -> Option<(f64, f64)> {
    if detector.function.metric() != Metric::LatLong {
        return None;
    }
    let at = bucket.pointer("/v/location")?;
    let lat = at.get("lat").and_then(Value::as_f64)?;
    let lon = at.get("lon").and_then(Value::as_f64)?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some((lat, lon))
}

fn metric_value(detector: &Detector, bucket: &Value, doc_count: u64) -> Option<f64> {
    match detector.function.metric() {
        Metric::Count
        | Metric::NonZeroCount
        | Metric::Rare
        | Metric::FreqRare
        | Metric::LatLong => Some(doc_count as f64),
        _ => bucket.pointer("/v/value").and_then(Value::as_f64),
    }
}

/// The documents of `[start, end)` that also match `splits` (field = value pairs): how many
/// there are, and at most `size` most frequent values of `field` with their document counts,
/// most frequent first (ties by text). The influencer candidates of an anomalous record.
/// Values tied with one the list leaves out are dropped: which of them an engine returns
/// depends on the field's type, and every store must name the same values.
/// This is the request; [`top_values_of`] reads its answer.
pub(crate) fn top_values_request(
    job: &Job,
    field: &str,
    splits: &[(&str, &str)],
    (start, end): (EpochMillis, EpochMillis),
    size: usize,
) -> Value {
    let mut filter = vec![chunk_query(job, start, end)];
    for (f, v) in splits {
        filter.push(json!({ "term": { job.agg_field(f): v } }));
    }
    // A generous shard_size keeps the counts exact on a multi-shard index, so that every
    // store reports the same counts and so the same influencer scores.
    json!({
        "size": 0,
        "track_total_hits": true,
        "query": { "bool": { "filter": filter } },
        "aggs": { "top": { "terms": { "field": job.agg_field(field), "size": size + 1, "shard_size": size.max(100) } } }
    })
}

/// The document count and top values (at most `size`) in the answer `resp` to a
/// [`top_values_request`] of the same `size`.
pub(crate) fn top_values_of(
    resp: &Value,
    size: usize,
) -> Result<(u64, Vec<(String, u64)>), StoreError> {
    let total = resp
        .pointer("/hits/total/value")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if total == 0 {
        return Ok((0, Vec::new()));
    }
    let mut out = Vec::new();
    for b in buckets_of(resp, "/aggregations/top/buckets")? {
        let count = b.get("doc_count").and_then(Value::as_u64).unwrap_or(0);
        let key = json!({ "k": b.get("key").cloned().unwrap_or(Value::Null) });
        if let Some(k) = key_string(&key, "k") {
            out.push((k, count));
        }
    }
    // Ties in the engine's order depend on the field's type (an `ip` field sorts by address,
    // the embedded store by text): order them by text, so every store writes the same list.
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let left_out = resp
        .pointer("/aggregations/top/sum_other_doc_count")
        .and_then(Value::as_u64)
        .is_none_or(|n| n > 0);
    if out.len() > size && left_out {
        // Values left out may have the last one's count: keep only those above it.
        let cut = out[out.len() - 1].1;
        out.retain(|(_, count)| *count > cut);
    }
    out.truncate(size);
    Ok((total, out))
}

/// A record's value recomputed without the documents whose `field` is `value`: the same
/// detector request as [`fetch_detector`], narrowed to the record's bucket `[start, end)`
/// and split values (`splits`). `Ok(None)` when no document is left or none has the
/// detector's field; otherwise the group's value, and for `metric` its `(min, max)` too.
/// How much of a record's anomaly one influencer value explains is how far this moves the
/// value back towards typical.
/// This is the narrowed job and its first page's request; [`value_without_from`] reads the
/// answer (and fetches any further page).
pub(crate) fn value_without_request(
    job: &Job,
    detector: &Detector,
    (splits, (field, value)): (&[(&str, &str)], (&str, &str)),
    (start, end): (EpochMillis, EpochMillis),
) -> (Job, Value) {
    let mut filter = vec![job.query.clone()];
    for (f, v) in splits {
        filter.push(json!({ "term": { job.agg_field(f): v } }));
    }
    let mut narrowed = job.clone();
    narrowed.query = json!({ "bool": {
        "filter": filter,
        "must_not": [{ "term": { job.agg_field(field): value } }],
    } });
    let first = composite_request(&narrowed, detector, start, end, None);
    (narrowed, first)
}

/// The value of a [`value_without_request`] from the answer to its first page (`first`)
/// and the narrowed job it returned.
pub(crate) fn value_without_from(
    store: &dyn Store,
    narrowed: &Job,
    detector: &Detector,
    (start, end): (EpochMillis, EpochMillis),
    first: Value,
) -> Result<Option<SeriesValue>, StoreError> {
    let mut buckets = fetch_detector_from(store, narrowed, detector, (start, end), first)?;
    Ok(buckets
        .remove(&bucket_start(start, span_ms(narrowed)))
        .and_then(|values| values.into_iter().next()))
}

/// Checks that every source index of the job can be read, as Elastic's datafeed does
/// without `ignore_unavailable`: a closed, missing or unreadable index is an error, never an
/// empty bucket, so the job does not advance over data it could not see. A pattern that
/// matches nothing is fine (no data yet); a closed index it matches is not.
pub(crate) fn check_sources(store: &dyn Store, job: &Job) -> Result<(), StoreError> {
    for index in &job.indices {
        let pattern = index.contains(['*', '?']);
        match store.check_readable(index) {
            Ok(()) => {}
            Err(StoreError::IndexNotFound(_)) if pattern => {}
            Err(e) => {
                return Err(StoreError::Unavailable(format!(
                    "job `{}`: source index `{index}` cannot be read ({e}); the job does not advance past data it cannot read and retries on its next run",
                    job.job_id
                )))
            }
        }
    }
    Ok(())
}

/// The job's query restricted to `[start, end)` on its time field.
fn chunk_query(job: &Job, start: EpochMillis, end: EpochMillis) -> Value {
    json!({ "bool": { "filter": [
        job.query,
        { "range": { job.time_field.clone(): { "gte": start, "lt": end, "format": "epoch_millis" } } }
    ] } })
}

/// Bucket span in milliseconds.
pub fn span_ms(job: &Job) -> i64 {
    job.bucket_span.as_millis() as i64
}

/// A split value as the string results carry: numbers without a trailing `.0`, `None` for a
/// missing bucket (`use_null`) or an absent source.
fn key_string(key: &Value, name: &str) -> Option<String> {
    match key.get(name)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9e15 => (f as i64).to_string(),
            _ => n.to_string(),
        }),
        other => Some(other.to_string()),
    }
}

fn buckets_of<'a>(resp: &'a Value, pointer: &str) -> Result<&'a Vec<Value>, StoreError> {
    match resp.pointer(pointer) {
        Some(Value::Array(b)) => Ok(b),
        // No aggregations at all: the index is missing or empty.
        None if resp.get("aggregations").is_none() => Ok(empty()),
        _ => Err(bad_response(&format!("expected an array at `{pointer}`"))),
    }
}

fn empty() -> &'static Vec<Value> {
    static EMPTY: Vec<Value> = Vec::new();
    &EMPTY
}

fn bad_response(what: &str) -> StoreError {
    StoreError::UnexpectedResponse(what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BulkDoc, EmbeddedStore};

    #[test]
    fn distinct_counts_are_exact_and_documents_without_the_field_count_as_documents() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let job = crate::config::load_job_str(
            "jobs/dc.yml",
            "job_id: dc\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: distinct_count\n      field_name: url\n      over_field_name: client\ndatafeed_config:\n  indices: [logs]\n",
        )
        .unwrap();
        // Client c{i} requests i+1 distinct URLs (each twice) in the first bucket; client
        // "none" sends documents without a URL.
        let mut docs = Vec::new();
        for i in 0..40 {
            for u in 0..=i {
                for _ in 0..2 {
                    docs.push(json!({ "@timestamp": 10_000 * u, "client": format!("c{i}"), "url": format!("/u{u}") }));
                }
            }
        }
        docs.push(json!({ "@timestamp": 0, "client": "none" }));
        docs.push(json!({ "@timestamp": 900_000, "client": "c1", "url": "/late" }));
        let docs = docs
            .into_iter()
            .enumerate()
            .map(|(i, source)| BulkDoc {
                id: Some(i.to_string()),
                source,
            })
            .collect();
        store.bulk("logs", docs).unwrap();
        store.refresh("logs").unwrap();
        let got = fetch_detector(&store, &job, &job.detectors[0], 0, 1_800_000).unwrap();
        let first = &got[&0];
        assert_eq!(first.len(), 41);
        for v in first {
            match v.over.as_deref() {
                Some("none") => assert_eq!((v.value, v.doc_count), (0.0, 1)),
                Some(c) => {
                    let i: f64 = c[1..].parse().unwrap();
                    assert_eq!((v.value, v.doc_count), (i + 1.0, 2 * (i as u64 + 1)), "{c}");
                }
                None => panic!("no over value"),
            }
        }
        assert_eq!(got[&900_000].len(), 1);
        assert_eq!(got[&900_000][0].value, 1.0);
    }

    #[test]
    fn key_strings_drop_float_zero() {
        let key = json!({ "p": 503.0, "b": "US", "o": null });
        assert_eq!(key_string(&key, "p").as_deref(), Some("503"));
        assert_eq!(key_string(&key, "b").as_deref(), Some("US"));
        assert_eq!(key_string(&key, "o"), None);
        assert_eq!(key_string(&key, "x"), None);
    }
}
