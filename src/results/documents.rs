//! The result document shapes and their ids.

use crate::time::{format_millis, EpochMillis};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// One anomalous (or notable) value of one partition in one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordResult {
    /// Bucket start.
    pub timestamp: EpochMillis,
    /// Position of the detector in the job.
    pub detector_index: usize,
    /// Elastic ML function name, e.g. `high_count`.
    pub function: String,
    /// Human description of the detector.
    pub function_description: String,
    /// The detector's `field_name`.
    pub field_name: Option<String>,
    /// Partition split: field and value.
    pub partition: Option<(String, String)>,
    /// By split: field and value.
    pub by: Option<(String, String)>,
    /// Over split: field and value.
    pub over: Option<(String, String)>,
    /// Probability under the model.
    pub probability: f64,
    /// Score when first written (never changes afterwards).
    pub initial_record_score: f64,
    /// The score (equal to `initial_record_score`: tidewatch does not renormalize).
    pub record_score: f64,
    /// Observed value.
    pub actual: f64,
    /// Expected value.
    pub typical: f64,
    /// Lower bound of the model's interval.
    pub lower: f64,
    /// Upper bound of the model's interval.
    pub upper: f64,
    /// Multi-bucket impact, -5..=5.
    pub multi_bucket_impact: f64,
    /// One-line explanation, e.g. `spike: 17× higher than typical (612 vs 36)`.
    pub explanation: String,
    /// Influencer field → values.
    pub influencers: Vec<(String, Vec<String>)>,
    /// (field, value, share): how much of the record's anomaly each influencer value of a
    /// field the detector does not split on explains, 0..=1 (see `docs/jobs.md`). Split
    /// values, absent here, explain all of it. Not part of the record document.
    pub influence: Vec<(String, String, f64)>,
}

/// One bucket's overall result.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketResult {
    /// Bucket start.
    pub timestamp: EpochMillis,
    /// The anomaly score (equal to `initial_anomaly_score`: tidewatch does not renormalize).
    pub anomaly_score: f64,
    /// Score when first written.
    pub initial_anomaly_score: f64,
    /// Source documents in the bucket.
    pub event_count: u64,
    /// Lowest record probability in the bucket (1 when none).
    pub probability: f64,
    /// Number of records written for the bucket.
    pub record_count: usize,
}

/// How much one field value is to blame for a bucket's anomalies.
#[derive(Debug, Clone, PartialEq)]
pub struct InfluencerResult {
    /// Bucket start.
    pub timestamp: EpochMillis,
    /// Influencer field.
    pub field: String,
    /// Influencer value.
    pub value: String,
    /// Current score.
    pub influencer_score: f64,
    /// Score when first written.
    pub initial_influencer_score: f64,
    /// Lowest probability among the records it influenced.
    pub probability: f64,
}

/// One series of a job (detector and splits) at one bucket: what a model-plot or forecast
/// point is of.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    /// Bucket start.
    pub timestamp: EpochMillis,
    /// Position of the detector in the job.
    pub detector_index: usize,
    /// Function name (Elastic's `model_feature`).
    pub function: String,
    /// The detector's `field_name`.
    pub field_name: Option<String>,
    /// Partition split: field and value.
    pub partition: Option<(String, String)>,
    /// By split: field and value.
    pub by: Option<(String, String)>,
}

/// One partition's model bounds for one bucket (`model_plot_config.enabled`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPlotPoint {
    /// The series and bucket.
    pub series: SeriesPoint,
    /// Observed value (absent for a bucket with no data).
    pub actual: Option<f64>,
    /// Model median.
    pub median: f64,
    /// Model lower bound.
    pub lower: f64,
    /// Model upper bound.
    pub upper: f64,
}

/// Id of a bucket document: `{job}_bucket_{timestamp}_{span_seconds}` as in Elastic ML.
pub(crate) fn bucket_id(job_id: &str, timestamp: EpochMillis, bucket_span_s: u64) -> String {
    format!("{job_id}_bucket_{timestamp}_{bucket_span_s}")
}

/// Id of a record document: stable for the job, time, detector and split values.
pub(crate) fn record_id(job_id: &str, r: &RecordResult, bucket_span_s: u64) -> String {
    let h = split_hash(&[&r.partition, &r.by, &r.over]);
    format!(
        "{job_id}_record_{}_{bucket_span_s}_{}_{h}",
        r.timestamp, r.detector_index
    )
}

fn split_hash(splits: &[&Option<(String, String)>]) -> String {
    let mut hasher = Sha256::new();
    for s in splits {
        match s {
            Some((f, v)) => {
                hasher.update([1u8]);
                hasher.update(f.as_bytes());
                hasher.update([0u8]);
                hasher.update(v.as_bytes());
                hasher.update([0u8]);
            }
            None => hasher.update([2u8]),
        }
    }
    let digest = hasher.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A finite f64 as JSON (NaN and infinities become `null`, which Elasticsearch accepts).
fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Rounds a score to 3 decimals so documents read well and compare exactly across runs.
fn score(x: f64) -> Value {
    num((x * 1000.0).round() / 1000.0)
}

fn split_fields(doc: &mut Map<String, Value>, kind: &str, split: &Option<(String, String)>) {
    if let Some((field, value)) = split {
        doc.insert(format!("{kind}_field_name"), json!(field));
        doc.insert(format!("{kind}_field_value"), json!(value));
    }
}

fn common(
    job_id: &str,
    result_type: &str,
    timestamp: EpochMillis,
    bucket_span_s: u64,
) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("job_id".into(), json!(job_id));
    doc.insert("result_type".into(), json!(result_type));
    doc.insert("timestamp".into(), json!(timestamp));
    doc.insert("timestamp_string".into(), json!(format_millis(timestamp)));
    doc.insert("bucket_span".into(), json!(bucket_span_s));
    doc.insert("is_interim".into(), json!(false));
    doc
}

/// The `record` document.
pub(crate) fn record_doc(job_id: &str, r: &RecordResult, bucket_span_s: u64) -> Value {
    let mut doc = common(job_id, "record", r.timestamp, bucket_span_s);
    doc.insert("detector_index".into(), json!(r.detector_index));
    doc.insert("function".into(), json!(r.function));
    doc.insert("function_description".into(), json!(r.function_description));
    if let Some(f) = &r.field_name {
        doc.insert("field_name".into(), json!(f));
    }
    split_fields(&mut doc, "partition", &r.partition);
    split_fields(&mut doc, "by", &r.by);
    split_fields(&mut doc, "over", &r.over);
    doc.insert("probability".into(), num(r.probability));
    doc.insert("record_score".into(), score(r.record_score));
    doc.insert("initial_record_score".into(), score(r.initial_record_score));
    doc.insert("multi_bucket_impact".into(), num(r.multi_bucket_impact));
    doc.insert("actual".into(), json!([num(r.actual)]));
    doc.insert("typical".into(), json!([num(r.typical)]));
    doc.insert("model_lower".into(), num(r.lower));
    doc.insert("model_upper".into(), num(r.upper));
    doc.insert("explanation".into(), json!(r.explanation));
    let influencers: Vec<Value> = r
        .influencers
        .iter()
        .map(|(f, vs)| json!({ "influencer_field_name": f, "influencer_field_values": vs }))
        .collect();
    doc.insert("influencers".into(), Value::Array(influencers));
    Value::Object(doc)
}

/// The `bucket` document.
pub(crate) fn bucket_doc(job_id: &str, b: &BucketResult, bucket_span_s: u64) -> Value {
    let mut doc = common(job_id, "bucket", b.timestamp, bucket_span_s);
    doc.insert("anomaly_score".into(), score(b.anomaly_score));
    doc.insert(
        "initial_anomaly_score".into(),
        score(b.initial_anomaly_score),
    );
    doc.insert("event_count".into(), json!(b.event_count));
    doc.insert("probability".into(), num(b.probability));
    doc.insert("record_count".into(), json!(b.record_count));
    Value::Object(doc)
}

/// The `influencer` document and its id.
pub(crate) fn influencer_doc(
    job_id: &str,
    i: &InfluencerResult,
    bucket_span_s: u64,
) -> (String, Value) {
    let mut doc = common(job_id, "influencer", i.timestamp, bucket_span_s);
    doc.insert("influencer_field_name".into(), json!(i.field));
    doc.insert("influencer_field_value".into(), json!(i.value));
    doc.insert("influencer_score".into(), score(i.influencer_score));
    doc.insert(
        "initial_influencer_score".into(),
        score(i.initial_influencer_score),
    );
    doc.insert("probability".into(), num(i.probability));
    let split = Some((i.field.clone(), i.value.clone()));
    let id = format!(
        "{job_id}_influencer_{}_{bucket_span_s}_{}",
        i.timestamp,
        split_hash(&[&split])
    );
    (id, Value::Object(doc))
}

/// The fields naming one series of a job in model-plot and forecast documents.
fn series_fields(doc: &mut Map<String, Value>, s: &SeriesPoint) {
    doc.insert("detector_index".into(), json!(s.detector_index));
    doc.insert("model_feature".into(), json!(s.function));
    if let Some(f) = &s.field_name {
        doc.insert("model_field_name".into(), json!(f));
    }
    split_fields(doc, "partition", &s.partition);
    split_fields(doc, "by", &s.by);
}

/// `{prefix}_{timestamp}_{span}_{detector}_{split hash}`: one series' document at one time.
fn series_doc_id(prefix: &str, s: &SeriesPoint, bucket_span_s: u64) -> String {
    let h = split_hash(&[&s.partition, &s.by]);
    format!(
        "{prefix}_{}_{bucket_span_s}_{}_{h}",
        s.timestamp, s.detector_index
    )
}

/// The `model_plot` document and its id.
pub(crate) fn model_plot_doc(
    job_id: &str,
    m: &ModelPlotPoint,
    bucket_span_s: u64,
) -> (String, Value) {
    let mut doc = common(job_id, "model_plot", m.series.timestamp, bucket_span_s);
    series_fields(&mut doc, &m.series);
    if let Some(a) = m.actual {
        doc.insert("actual".into(), num(a));
    }
    doc.insert("model_median".into(), num(m.median));
    doc.insert("model_lower".into(), num(m.lower));
    doc.insert("model_upper".into(), num(m.upper));
    let id = series_doc_id(&format!("{job_id}_model_plot"), &m.series, bucket_span_s);
    (id, Value::Object(doc))
}

/// One partition's forecast for one future bucket (`model_forecast`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForecastPoint {
    /// The series and the forecast bucket.
    pub series: SeriesPoint,
    /// The predicted value.
    pub prediction: f64,
    /// Lower bound of the 95 % interval.
    pub lower: f64,
    /// Upper bound of the 95 % interval.
    pub upper: f64,
}

/// The `model_forecast` document of `forecast_id` and its id, deterministic within the
/// forecast: `{job}_model_forecast_{forecast_id}_{timestamp}_{span}_{detector}_{split hash}`
/// as Elastic ML builds it.
pub(crate) fn model_forecast_doc(
    job_id: &str,
    forecast_id: &str,
    create_timestamp: EpochMillis,
    p: &ForecastPoint,
    bucket_span_s: u64,
) -> (String, Value) {
    let mut doc = common(job_id, "model_forecast", p.series.timestamp, bucket_span_s);
    doc.remove("is_interim");
    doc.insert("forecast_id".into(), json!(forecast_id));
    doc.insert("forecast_create_timestamp".into(), json!(create_timestamp));
    series_fields(&mut doc, &p.series);
    doc.insert("function".into(), json!(p.series.function));
    doc.insert("forecast_prediction".into(), num(p.prediction));
    doc.insert("forecast_lower".into(), num(p.lower));
    doc.insert("forecast_upper".into(), num(p.upper));
    let id = series_doc_id(
        &format!("{job_id}_model_forecast_{forecast_id}"),
        &p.series,
        bucket_span_s,
    );
    (id, Value::Object(doc))
}

/// How a forecast request went (`model_forecast_request_stats`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForecastRequestStats {
    /// The forecast.
    pub forecast_id: String,
    /// `finished` or `failed` (Elastic also knows `scheduled` and `started`).
    pub status: String,
    /// 0..=1; 1 when finished.
    pub progress: f64,
    /// When the forecast was requested.
    pub create_timestamp: EpochMillis,
    /// Start of the first forecast bucket.
    pub start_timestamp: EpochMillis,
    /// End of the last forecast bucket.
    pub end_timestamp: EpochMillis,
    /// When the forecast's documents may be deleted; `None` keeps them for good.
    pub expiry_timestamp: Option<EpochMillis>,
    /// Bytes of model state the forecast read.
    pub memory_bytes: u64,
    /// Wall time spent.
    pub processing_time_ms: u64,
    /// `model_forecast` documents written.
    pub processed_record_count: u64,
    /// Warnings and errors, for people.
    pub messages: Vec<String>,
}

/// The `model_forecast_request_stats` document and its id
/// (`{job}_model_forecast_request_stats_{forecast_id}`, as in Elastic ML).
pub(crate) fn forecast_request_stats_doc(
    job_id: &str,
    s: &ForecastRequestStats,
    bucket_span_s: u64,
) -> (String, Value) {
    let mut doc = common(
        job_id,
        "model_forecast_request_stats",
        s.create_timestamp,
        bucket_span_s,
    );
    doc.remove("is_interim");
    doc.insert("forecast_id".into(), json!(s.forecast_id));
    doc.insert("forecast_status".into(), json!(s.status));
    doc.insert("forecast_progress".into(), num(s.progress));
    doc.insert(
        "forecast_create_timestamp".into(),
        json!(s.create_timestamp),
    );
    doc.insert("forecast_start_timestamp".into(), json!(s.start_timestamp));
    doc.insert("forecast_end_timestamp".into(), json!(s.end_timestamp));
    if let Some(e) = s.expiry_timestamp {
        doc.insert("forecast_expiry_timestamp".into(), json!(e));
    }
    doc.insert("forecast_memory_bytes".into(), json!(s.memory_bytes));
    doc.insert("processing_time_ms".into(), json!(s.processing_time_ms));
    doc.insert(
        "processed_record_count".into(),
        json!(s.processed_record_count),
    );
    doc.insert("forecast_messages".into(), json!(s.messages));
    let id = format!("{job_id}_model_forecast_request_stats_{}", s.forecast_id);
    (id, Value::Object(doc))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A spike record of partition `country=DE`, for tests elsewhere too.
    pub(crate) fn record() -> RecordResult {
        RecordResult {
            timestamp: 1_000_000,
            detector_index: 0,
            function: "count".into(),
            function_description: "count".into(),
            field_name: None,
            partition: Some(("country".into(), "DE".into())),
            by: None,
            over: None,
            probability: 1e-9,
            initial_record_score: 90.0,
            record_score: 90.0,
            actual: 600.0,
            typical: 30.0,
            lower: 20.0,
            upper: 40.0,
            multi_bucket_impact: 0.0,
            explanation: "spike".into(),
            influencers: vec![("country".into(), vec!["DE".into()])],
            influence: Vec::new(),
        }
    }

    #[test]
    fn record_ids_depend_on_split_values_only() {
        let a = record();
        let mut b = record();
        b.record_score = 50.0;
        assert_eq!(record_id("j", &a, 900), record_id("j", &b, 900));
        b.partition = Some(("country".into(), "FR".into()));
        assert_ne!(record_id("j", &a, 900), record_id("j", &b, 900));
        // A value that looks like a field boundary must not collide.
        let mut c = record();
        c.partition = Some(("countryD".into(), "E".into()));
        assert_ne!(record_id("j", &a, 900), record_id("j", &c, 900));
    }

    #[test]
    fn record_doc_has_elastic_fields() {
        let d = record_doc("j", &record(), 900);
        assert_eq!(d["result_type"], "record");
        assert_eq!(d["partition_field_name"], "country");
        assert_eq!(d["partition_field_value"], "DE");
        assert_eq!(d["actual"], json!([600.0]));
        assert_eq!(d["typical"], json!([30.0]));
        assert_eq!(
            d["influencers"][0]["influencer_field_values"],
            json!(["DE"])
        );
        assert!(d.get("by_field_name").is_none());
    }

    #[test]
    fn forecast_docs_have_elastic_fields_and_stable_ids() {
        let p = ForecastPoint {
            series: SeriesPoint {
                timestamp: 2_000_000,
                detector_index: 1,
                function: "count".into(),
                field_name: None,
                partition: Some(("country".into(), "DE".into())),
                by: None,
            },
            prediction: 40.0,
            lower: 30.0,
            upper: 55.0,
        };
        let (id, d) = model_forecast_doc("j", "f1", 1_000_000, &p, 900);
        assert_eq!(d["result_type"], "model_forecast");
        assert_eq!(d["forecast_id"], "f1");
        assert_eq!(d["forecast_create_timestamp"], 1_000_000);
        assert_eq!(d["forecast_prediction"], 40.0);
        assert_eq!(d["forecast_lower"], 30.0);
        assert_eq!(d["forecast_upper"], 55.0);
        assert_eq!(d["partition_field_value"], "DE");
        assert_eq!(d["model_feature"], "count");
        let mut q = p.clone();
        q.prediction = 41.0;
        assert_eq!(id, model_forecast_doc("j", "f1", 1_000_000, &q, 900).0);
        q.series.partition = Some(("country".into(), "FR".into()));
        assert_ne!(id, model_forecast_doc("j", "f1", 1_000_000, &q, 900).0);
        assert_ne!(id, model_forecast_doc("j", "f2", 1_000_000, &p, 900).0);

        let s = ForecastRequestStats {
            forecast_id: "f1".into(),
            status: "finished".into(),
            progress: 1.0,
            create_timestamp: 1_000_000,
            start_timestamp: 1_800_000,
            end_timestamp: 3_600_000,
            expiry_timestamp: None,
            memory_bytes: 600,
            processing_time_ms: 3,
            processed_record_count: 2,
            messages: vec![],
        };
        let (id, d) = forecast_request_stats_doc("j", &s, 900);
        assert_eq!(id, "j_model_forecast_request_stats_f1");
        assert_eq!(d["result_type"], "model_forecast_request_stats");
        assert_eq!(d["forecast_status"], "finished");
        assert_eq!(d["forecast_progress"], 1.0);
        assert!(d.get("forecast_expiry_timestamp").is_none());
        assert_eq!(d["forecast_messages"], json!([]));
    }
}
