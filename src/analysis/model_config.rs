//! The model settings of a detector: what its values are (counts or metrics), which tail is
//! anomalous, the bucket span and how fast the baseline forgets.

use crate::config::{Function, Job, Metric, Side};
use crate::model::{ModelConfig, Tail, ValueKind};

/// The model settings for a detector of `job`.
pub fn model_config(job: &Job, function: Function) -> ModelConfig {
    let kind = match function.metric() {
        Metric::Count | Metric::NonZeroCount | Metric::DistinctCount => ValueKind::Count,
        Metric::Rare
        | Metric::FreqRare
        | Metric::TimeOfDay
        | Metric::TimeOfWeek
        | Metric::LatLong => {
            ValueKind::Count // not modelled by a baseline
        }
        Metric::Mean
        | Metric::Sum
        | Metric::Min
        | Metric::Max
        | Metric::Median
        | Metric::Varp
        | Metric::InfoContent
        | Metric::MinMaxMean => ValueKind::Metric,
    };
    let tail = match function.side() {
        Side::Both => Tail::Both,
        Side::High => Tail::High,
        Side::Low => Tail::Low,
    };
    ModelConfig {
        bucket_span_ms: job.bucket_span.as_millis() as i64,
        kind,
        tail,
        half_life_ms: job.model.half_life.as_millis() as i64,
    }
}
