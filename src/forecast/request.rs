//! One forecast request: load the job's latest model snapshot, project every series, write
//! `model_forecast` documents and the `model_forecast_request_stats` document, and delete
//! forecasts whose expiry has passed.

use super::fit::{fit, RELEVEL_MS};
use super::history::{replay, SeriesHistory, REPLAY_MS};
use super::project::{project, Projected};
use super::ForecastError;
use crate::config::Job;
use crate::results::{
    forecast_request_stats_doc, model_forecast_doc, ForecastPoint, ForecastRequestStats,
    ResultsWriter, SeriesPoint,
};
use crate::runner::{load_checkpoint, load_snapshot};
use crate::store::Store;
use crate::time::EpochMillis;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Longest forecast Elastic ML accepts (10 years); tidewatch keeps the same limit.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

/// What to forecast.
#[derive(Debug, Clone)]
pub struct ForecastRequest {
    /// How far ahead, from the job's next bucket.
    pub duration: Duration,
    /// How long the forecast's documents are kept; `None` (Elastic's `expires_in: 0`)
    /// keeps them for good.
    pub expires_in: Option<Duration>,
    /// The request time (epoch ms): `forecast_create_timestamp`, and the reference for expiry.
    pub now: EpochMillis,
    /// Index holding the runner's checkpoints and snapshots.
    pub state_index: String,
    /// Fit each series' forecast on its history (replayed from the job's data, at most
    /// `REPLAY_MS`): the seasonality that forecast the series' past best, re-levelled on
    /// the last day, with bounds calibrated on its past errors. Without it, the models are
    /// projected as they are (`project`).
    pub fit: bool,
}

/// What a forecast request did.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastOutcome {
    /// The job.
    pub job_id: String,
    /// The new forecast's id.
    pub forecast_id: String,
    /// Start of the first forecast bucket (the job's next bucket).
    pub start: EpochMillis,
    /// End of the last forecast bucket.
    pub end: EpochMillis,
    /// Buckets forecast per series.
    pub buckets: u32,
    /// Series forecast.
    pub series: usize,
    /// `model_forecast` documents written.
    pub documents: u64,
    /// Expired forecasts deleted from the results index before this one was written.
    pub expired_deleted: u64,
    /// When this forecast expires, if ever.
    pub expiry: Option<EpochMillis>,
    /// Warnings, as also written to `forecast_messages`.
    pub messages: Vec<String>,
}

/// A new forecast id: 20 URL-safe characters like Elastic's, unique per request (a
/// forecast is a new request each time, so it is not derived from the job alone).
pub(crate) fn new_forecast_id(job_id: &str, now: EpochMillis) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(job_id.as_bytes());
    h.update(now.to_le_bytes());
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    h.finalize()[..20]
        .iter()
        .map(|b| ALPHABET[(*b & 63) as usize] as char)
        .collect()
}

/// Deletes every forecast in `index` whose `forecast_expiry_timestamp` is at or before
/// `now`: its request stats document and all its `model_forecast` documents. Returns the
/// number of forecasts deleted. Forecasts without an expiry are kept.
pub fn delete_expired(
    store: &dyn Store,
    index: &str,
    now: EpochMillis,
) -> Result<u64, ForecastError> {
    let body = json!({
        "size": 10_000,
        "query": { "bool": { "filter": [
            { "term": { "result_type": "model_forecast_request_stats" } },
            { "range": { "forecast_expiry_timestamp": { "lte": now } } }
        ] } },
        "_source": ["forecast_id"],
    });
    let resp = store.search(index, &body)?;
    let ids: Vec<Value> = resp
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|h| h.pointer("/_source/forecast_id").cloned())
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let query = json!({ "bool": { "filter": [
        { "terms": { "result_type": ["model_forecast", "model_forecast_request_stats"] } },
        { "terms": { "forecast_id": ids } }
    ] } });
    store.delete_by_query(index, &query)?;
    store.refresh(index)?;
    Ok(ids.len() as u64)
}

type SeriesKey = (Option<String>, Option<String>);

/// One series' forecast: fitted on its history when there is one, else the model's own
/// projection.
fn forecast_series(
    model: &crate::model::Baseline,
    cfg: &crate::model::ModelConfig,
    history: Option<&SeriesHistory>,
    start: EpochMillis,
    buckets: u32,
) -> Vec<Projected> {
    let Some(h) = history.filter(|h| !h.values.is_empty()) else {
        return project(model, cfg, start, buckets);
    };
    let fitted = fit(cfg, &h.values, &h.anomalous, &h.origins, buckets as usize);
    let cycle = (RELEVEL_MS / cfg.bucket_span_ms.max(1)).max(1) as usize;
    let recent = &h.values[h.values.len().saturating_sub(cycle)..];
    fitted.forecast(model, cfg, recent, start, buckets)
}

fn named(field: &Option<String>, value: Option<&str>) -> Option<(String, String)> {
    let f = field.as_ref()?;
    Some((f.clone(), value.unwrap_or("null").to_string()))
}

/// Runs one forecast of `job`: deletes expired forecasts in the job's results index, loads
/// the job's latest snapshot from `request.state_index`, projects every per-series model
/// `duration / bucket_span` buckets (rounded up) from the job's next bucket, and writes the
/// documents. Population detectors (`over_field_name`) are skipped with a message, as
/// Elastic ML does not forecast them either.
pub fn forecast_job(
    store: &dyn Store,
    job: &Job,
    request: &ForecastRequest,
) -> Result<ForecastOutcome, ForecastError> {
    let started = Instant::now();
    let span = job.bucket_span.as_millis() as i64;
    let buckets = forecast_buckets(job, request)?;

    let expired_deleted = delete_expired(store, &job.results_index, request.now)?;

    let never_run = || ForecastError::NeverRun {
        job_id: job.job_id.clone(),
        state_index: request.state_index.clone(),
    };
    let cp = load_checkpoint(store, &request.state_index, job)?.ok_or_else(never_run)?;
    let analysis = load_snapshot(store, &request.state_index, job, &cp)?.ok_or_else(|| {
        ForecastError::StaleSnapshot {
            job_id: job.job_id.clone(),
        }
    })?;
    let mut messages = population_messages(job)?;

    let start = cp.next_bucket;
    let histories = if request.fit {
        fit_histories(store, job, start)?
    } else {
        BTreeMap::new()
    };
    let forecast_id = new_forecast_id(&job.job_id, request.now);
    let span_s = job.bucket_span.as_secs();
    let end = start + span * buckets as i64;
    let expiry = request
        .expires_in
        .map(|d| request.now.saturating_add(d.as_millis() as i64));
    let target = Target {
        store,
        job,
        request,
        forecast_id: &forecast_id,
        start,
        buckets,
    };
    let (written, w) = write_points(&target, &analysis, &histories);
    if w.series == 0 {
        messages.push("the job has no series models yet (no data seen)".to_string());
    }
    let mut stats = ForecastRequestStats {
        forecast_id: forecast_id.clone(),
        status: "finished".into(),
        progress: 1.0,
        create_timestamp: request.now,
        start_timestamp: start,
        end_timestamp: end,
        expiry_timestamp: expiry,
        memory_bytes: w.memory_bytes,
        processing_time_ms: started.elapsed().as_millis() as u64,
        processed_record_count: w.documents,
        messages: messages.clone(),
    };
    if let Err(e) = written {
        // Say so in the index too, as Elastic does, then report the failure.
        stats.status = "failed".into();
        stats.progress = w.documents as f64 / (w.series.max(1) as f64 * buckets as f64);
        stats
            .messages
            .push(format!("writing forecast documents failed: {e}"));
        let (id, doc) = forecast_request_stats_doc(&job.job_id, &stats, span_s);
        let _ = store.put(
            &job.results_index,
            &id,
            &doc,
            crate::store::PutMode::Overwrite,
        );
        return Err(e.into());
    }
    let (id, doc) = forecast_request_stats_doc(&job.job_id, &stats, span_s);
    store.put(
        &job.results_index,
        &id,
        &doc,
        crate::store::PutMode::Overwrite,
    )?;
    store.refresh(&job.results_index)?;
    Ok(ForecastOutcome {
        job_id: job.job_id.clone(),
        forecast_id,
        start,
        end,
        buckets,
        series: w.series,
        documents: w.documents,
        expired_deleted,
        expiry,
        messages,
    })
}

/// How many buckets `request.duration` covers (rounded up); an error for a duration of 0,
/// over [`MAX_DURATION`], or of 2^32 buckets or more.
fn forecast_buckets(job: &Job, request: &ForecastRequest) -> Result<u32, ForecastError> {
    let span = job.bucket_span.as_millis() as i64;
    if request.duration.is_zero() || request.duration > MAX_DURATION {
        return Err(ForecastError::BadDuration {
            option: "duration",
            value: crate::time::format_duration(request.duration),
            expected: "more than 0 and at most 3650d",
        });
    }
    let buckets = request.duration.as_millis().div_ceil(span as u128);
    u32::try_from(buckets).map_err(|_| ForecastError::BadDuration {
        option: "duration",
        value: crate::time::format_duration(request.duration),
        expected: "fewer than 2^32 buckets",
    })
}

/// One message per population detector (not forecast); an error when every detector is one.
fn population_messages(job: &Job) -> Result<Vec<String>, ForecastError> {
    let mut messages = Vec::new();
    for d in job.detectors.iter().filter(|d| d.over_field_name.is_some()) {
        messages.push(format!(
            "detector {} ({}) is a population analysis (over_field_name `{}`) and is not forecast",
            d.index,
            d.description,
            d.over_field_name.as_deref().unwrap_or("")
        ));
    }
    if job.detectors.iter().all(|d| d.over_field_name.is_some()) {
        return Err(ForecastError::NothingToForecast {
            job_id: job.job_id.clone(),
        });
    }
    Ok(messages)
}

/// Each per-series detector's series histories, replayed from the job's data (at most
/// [`REPLAY_MS`] before `start`); empty when the job's source holds no data.
fn fit_histories(
    store: &dyn Store,
    job: &Job,
    start: EpochMillis,
) -> Result<BTreeMap<usize, BTreeMap<SeriesKey, SeriesHistory>>, ForecastError> {
    let mut histories = BTreeMap::new();
    if let Some((earliest, _)) = crate::datafeed::data_extent(store, job)? {
        let from = earliest.max(start - REPLAY_MS);
        for d in job.detectors.iter().filter(|d| d.over_field_name.is_none()) {
            let cfg = crate::analysis::model_config(job, d.function);
            histories.insert(d.index, replay(store, job, d, &cfg, from, start)?);
        }
    }
    Ok(histories)
}

/// Where and what one forecast writes.
struct Target<'a> {
    store: &'a dyn Store,
    job: &'a Job,
    request: &'a ForecastRequest,
    forecast_id: &'a str,
    start: EpochMillis,
    buckets: u32,
}

/// What [`write_points`] got through, also when it failed part-way.
#[derive(Default)]
struct Written {
    documents: u64,
    series: usize,
    memory_bytes: u64,
}

/// Projects every per-series model of `analysis` and writes its `model_forecast` documents.
fn write_points(
    t: &Target<'_>,
    analysis: &crate::analysis::JobAnalysis,
    histories: &BTreeMap<usize, BTreeMap<SeriesKey, SeriesHistory>>,
) -> (Result<(), crate::store::StoreError>, Written) {
    let (job, request) = (t.job, t.request);
    let span_s = job.bucket_span.as_secs();
    let mut writer = ResultsWriter::new(t.store, &job.results_index);
    let mut w = Written::default();
    let written: Result<(), crate::store::StoreError> = (|| {
        for s in analysis.series_models() {
            w.series += 1;
            w.memory_bytes += crate::model::STATE_BYTES as u64;
            let d = s.detector;
            let partition = named(&d.partition_field_name, s.partition_value);
            let by = named(&d.by_field_name, s.by_value);
            let key = (
                s.partition_value.map(str::to_string),
                s.by_value.map(str::to_string),
            );
            let history = histories.get(&d.index).and_then(|h| h.get(&key));
            for p in forecast_series(s.baseline, &s.cfg, history, t.start, t.buckets) {
                let point = ForecastPoint {
                    series: SeriesPoint {
                        timestamp: p.timestamp,
                        detector_index: d.index,
                        function: d.function.name(),
                        field_name: d.field_name.clone(),
                        partition: partition.clone(),
                        by: by.clone(),
                    },
                    prediction: p.typical,
                    lower: p.lower,
                    upper: p.upper,
                };
                let (id, doc) =
                    model_forecast_doc(&job.job_id, t.forecast_id, request.now, &point, span_s);
                writer.push(id, doc)?;
                w.documents += 1;
            }
        }
        writer.flush()
    })();
    (written, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forecast_ids_are_new_each_time_and_url_safe() {
        let a = new_forecast_id("j", 1);
        let b = new_forecast_id("j", 1);
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
