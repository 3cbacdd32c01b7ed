//! A series' recent history for fitting its forecast: the job's data replayed through fresh
//! baselines exactly as the runner feeds them (same datafeed, same zero-or-missing rule),
//! keeping the bucket values and the model states at the rolling origins.
//!
//! The snapshot holds only the model as it is now; the fit needs the model as it was at
//! earlier origins, and what happened after each. Replaying is the runner's own work again,
//! so it is capped at [`REPLAY_MS`] before the forecast start: for a job with a longer
//! history the replayed models are younger than the runner's, their past forecasts worse,
//! and the calibrated bounds err on the wide side.

use super::fit::{is_origin, Origin};
use crate::config::{Detector, Job, Metric};
use crate::datafeed;
use crate::model::{Baseline, ModelConfig, Reason};
use crate::store::Store;
use crate::store::StoreError;
use crate::time::{bucket_start, EpochMillis};
use std::collections::BTreeMap;

/// Longest stretch of history replayed to fit a forecast.
pub(crate) const REPLAY_MS: i64 = 6 * 7 * 86_400_000;
/// Buckets fetched per datafeed request while replaying.
const CHUNK_BUCKETS: i64 = 96;

/// (partition value, by value) of a series.
pub(crate) type SeriesKey = (Option<String>, Option<String>);

/// One series' replayed history.
#[derive(Debug, Clone, Default)]
pub struct SeriesHistory {
    /// Consecutive buckets from the series' first value to the forecast start; `NaN` where
    /// the bucket had no value and the function does not read that as zero.
    pub values: Vec<(EpochMillis, f64)>,
    /// Whether the model found each bucket of `values` anomalous when it learned it.
    pub anomalous: Vec<bool>,
    /// Model states at the rolling origins.
    pub origins: Vec<Origin>,
    /// The replayed model at the end (equal to the runner's when the replay covered the
    /// job's whole history).
    pub model: Option<Baseline>,
}

/// Replays `detector` (a per-series detector) of `job` over `[from, until)`.
pub fn replay(
    store: &dyn Store,
    job: &Job,
    detector: &Detector,
    cfg: &ModelConfig,
    from: EpochMillis,
    until: EpochMillis,
) -> Result<BTreeMap<SeriesKey, SeriesHistory>, StoreError> {
    let span = cfg.bucket_span_ms.max(1);
    let zero_when_absent = matches!(
        detector.function.metric(),
        Metric::Count | Metric::DistinctCount | Metric::Sum
    );
    let mut models: BTreeMap<SeriesKey, (Baseline, EpochMillis)> = BTreeMap::new();
    let mut out: BTreeMap<SeriesKey, SeriesHistory> = BTreeMap::new();
    let mut chunk = bucket_start(from, span);
    while chunk < until {
        let chunk_end = (chunk + CHUNK_BUCKETS * span).min(until);
        let fetched = datafeed::fetch_detector(store, job, detector, chunk, chunk_end)?;
        let mut t = chunk;
        while t < chunk_end {
            let mut present: BTreeMap<SeriesKey, f64> = BTreeMap::new();
            for v in fetched.get(&t).into_iter().flatten() {
                present.insert((v.partition.clone(), v.by.clone()), v.value);
            }
            for key in present.keys() {
                models
                    .entry(key.clone())
                    .or_insert_with(|| (Baseline::new(cfg), t));
            }
            for (key, (model, first)) in models.iter_mut() {
                let value = match present.get(key) {
                    Some(&v) => Some(v),
                    None if zero_when_absent => Some(0.0),
                    None => None,
                };
                let h = out.entry(key.clone()).or_default();
                if is_origin(t, *first, until, span) {
                    h.origins.push(Origin {
                        index: h.values.len(),
                        model: model.clone(),
                    });
                }
                let flagged = match value {
                    Some(v) => model.observe(cfg, t, v).reason != Reason::Normal,
                    None => model.observe_missing(cfg, t).is_some(),
                };
                h.anomalous.push(flagged);
                h.values.push((t, value.unwrap_or(f64::NAN)));
            }
            t += span;
        }
        chunk = chunk_end;
    }
    for (key, (model, _)) in models {
        if let Some(h) = out.get_mut(&key) {
            h.model = Some(model);
        }
    }
    Ok(out)
}
