//! Where the series come from: the `model_plot` documents the runner writes (one per bucket
//! and partition, with the `actual` value), and the records' scores, read through the
//! store's `_search` so the same code runs on the embedded store and on a cluster.

use crate::config::{Job, Metric};
use crate::store::{Store, StoreError};
use crate::time::EpochMillis;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Documents per search page.
const PAGE: usize = 5_000;

/// One series of a job: its detector and split values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SeriesKey {
    /// The job.
    pub job_id: String,
    /// Position of the detector in the job.
    pub detector_index: usize,
    /// Partition split: field and value.
    pub partition: Option<(String, String)>,
    /// By split: field and value.
    pub by: Option<(String, String)>,
}

impl SeriesKey {
    /// `field=value` for each split, or `-` when the series has none (like `results`).
    pub fn label(&self) -> String {
        let parts: Vec<String> = [&self.partition, &self.by]
            .into_iter()
            .flatten()
            .map(|(f, v)| format!("{f}={v}"))
            .collect();
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(" ")
        }
    }

    /// Whether either split is `field=value`.
    pub fn has_split(&self, field: &str, value: &str) -> bool {
        [&self.partition, &self.by]
            .into_iter()
            .flatten()
            .any(|(f, v)| f == field && v == value)
    }

    fn from_doc(job_id: &str, d: &Value) -> Self {
        let split = |kind: &str| {
            let f = d.get(format!("{kind}_field_name"))?.as_str()?;
            let v = d.get(format!("{kind}_field_value"))?.as_str()?;
            Some((f.to_string(), v.to_string()))
        };
        SeriesKey {
            job_id: job_id.to_string(),
            detector_index: d.get("detector_index").and_then(Value::as_u64).unwrap_or(0) as usize,
            partition: split("partition"),
            by: split("by"),
        }
    }
}

/// Which value of a bucket the shapes are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Values {
    /// What was observed (`actual`): the shape people see in the single-metric view.
    Actual,
    /// How far it was from what the model expected (`actual − model_median`): the daily
    /// and weekly rhythm taken out, so only what moved unexpectedly has a shape.
    Deviation,
}

/// A job's series over the buckets `from..from + buckets·span`, gaps filled.
pub(crate) type JobSeries = BTreeMap<SeriesKey, Vec<f64>>;

/// Every hit of a filtered search over `index`, paged with `search_after`.
fn search_all(
    store: &dyn Store,
    index: &str,
    filter: Vec<Value>,
    fields: &[&str],
) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let body = json!({
            "size": PAGE,
            "query": { "bool": { "filter": filter } },
            "sort": [{ "timestamp": "asc" }, { "_id": "asc" }],
            "_source": fields,
            "track_total_hits": false,
        });
        let n = crate::results::next_page(store, index, body, &mut after, &mut out)?;
        if n < PAGE || after.is_none() {
            return Ok(out);
        }
    }
}

fn job_filter(job_id: &str, result_type: &str, from: EpochMillis, to: EpochMillis) -> Vec<Value> {
    vec![
        json!({ "term": { "job_id": job_id } }),
        json!({ "term": { "result_type": result_type } }),
        json!({ "range": { "timestamp": { "gte": from, "lt": to } } }),
    ]
}

/// The `actual` values of every model-plot series of `job` over `buckets` buckets from
/// `from`. Buckets without a value count as 0 for count-like detectors (as the model sees
/// them) and take the nearest earlier (else later) value otherwise; a series with no value
/// at all is left out.
pub(crate) fn read_series(
    store: &dyn Store,
    index: &str,
    job: &Job,
    from: EpochMillis,
    buckets: usize,
    values_of: Values,
) -> Result<JobSeries, StoreError> {
    let span = job.bucket_span_ms();
    let to = from + buckets as i64 * span;
    let fields = [
        "timestamp",
        "detector_index",
        "partition_field_name",
        "partition_field_value",
        "by_field_name",
        "by_field_value",
        "actual",
        "model_median",
    ];
    let docs = search_all(
        store,
        index,
        job_filter(&job.job_id, "model_plot", from, to),
        &fields,
    )?;
    let mut out: JobSeries = BTreeMap::new();
    for d in &docs {
        let Some(t) = d.get("timestamp").and_then(Value::as_i64) else {
            continue;
        };
        let slot = (t - from).div_euclid(span);
        if slot < 0 || slot as usize >= buckets {
            continue;
        }
        let values = out
            .entry(SeriesKey::from_doc(&job.job_id, d))
            .or_insert_with(|| vec![f64::NAN; buckets]);
        let actual = d.get("actual").and_then(Value::as_f64);
        let value = match values_of {
            Values::Actual => actual,
            Values::Deviation => actual
                .zip(d.get("model_median").and_then(Value::as_f64))
                .map(|(a, m)| a - m),
        };
        if let Some(v) = value {
            values[slot as usize] = v;
        }
    }
    out.retain(|key, values| fill_gaps(values, zero_when_absent(job, key.detector_index)));
    Ok(out)
}

fn zero_when_absent(job: &Job, detector: usize) -> bool {
    job.detectors.get(detector).is_some_and(|d| {
        matches!(
            d.function.metric(),
            Metric::Count | Metric::DistinctCount | Metric::Sum
        )
    })
}

/// Fills NaN gaps in place; `false` when there is no value at all.
fn fill_gaps(values: &mut [f64], zero: bool) -> bool {
    if zero {
        values
            .iter_mut()
            .filter(|v| v.is_nan())
            .for_each(|v| *v = 0.0);
        return true;
    }
    let Some(first) = values.iter().copied().find(|v| !v.is_nan()) else {
        return false;
    };
    let mut last = first;
    for v in values.iter_mut() {
        if v.is_nan() {
            *v = last;
        } else {
            last = *v;
        }
    }
    true
}

/// The highest record score of each series of `job` in `from..to`.
pub(crate) fn max_record_scores(
    store: &dyn Store,
    index: &str,
    job: &Job,
    from: EpochMillis,
    to: EpochMillis,
) -> Result<BTreeMap<SeriesKey, f64>, StoreError> {
    let fields = [
        "timestamp",
        "detector_index",
        "partition_field_name",
        "partition_field_value",
        "by_field_name",
        "by_field_value",
        "record_score",
    ];
    let docs = search_all(
        store,
        index,
        job_filter(&job.job_id, "record", from, to),
        &fields,
    )?;
    let mut out: BTreeMap<SeriesKey, f64> = BTreeMap::new();
    for d in &docs {
        let score = d.get("record_score").and_then(Value::as_f64).unwrap_or(0.0);
        let best = out
            .entry(SeriesKey::from_doc(&job.job_id, d))
            .or_insert(score);
        *best = best.max(score);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_zero_for_counts_and_carried_otherwise() {
        let mut v = vec![f64::NAN, 2.0, f64::NAN, 5.0];
        assert!(fill_gaps(&mut v, true));
        assert_eq!(v, vec![0.0, 2.0, 0.0, 5.0]);
        let mut v = vec![f64::NAN, 2.0, f64::NAN, 5.0];
        assert!(fill_gaps(&mut v, false));
        assert_eq!(v, vec![2.0, 2.0, 2.0, 5.0]);
        assert!(!fill_gaps(&mut [f64::NAN; 3], false));
    }

    #[test]
    fn labels_read_like_results() {
        let key = SeriesKey {
            job_id: "web".into(),
            detector_index: 0,
            partition: Some(("country".into(), "BR".into())),
            by: None,
        };
        assert_eq!(key.label(), "country=BR");
        assert!(key.has_split("country", "BR") && !key.has_split("country", "NL"));
    }
}
