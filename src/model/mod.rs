//! Baselines: one small, fixed-size state per partition that learns what a bucket's value
//! usually is and says how unusual a new value is, as a probability.
//!
//! Pure: no I/O, no async, no clock, no serde_json. Time comes in as the bucket's start in
//! epoch milliseconds; the caller feeds buckets in time order. Deterministic: the same
//! inputs give bit-identical outputs.
//!
//! The interface the rest of tidewatch uses:
//! - [`ModelConfig`]: per-detector settings (bucket span, value kind, tail, half-life).
//! - [`Baseline`]: a per-partition time-series model; [`Baseline::observe`] scores a bucket
//!   value and then learns from it; [`Baseline::expected`] gives typical and bounds without
//!   learning (model plot, forecasts).
//! - [`Population`]: for `over_field_name` analysis, scores each entity's value in a bucket
//!   against the values of its peers.
//! - [`Rarity`], [`TimeHistogram`]: frequency models for `rare`/`freq_rare` (which values
//!   occur) and `time_of_day`/`time_of_week` (when events occur).
//! - [`Places`]: where an entity's locations usually are (`lat_long`).
//! - [`Observation`]: the probability and the explanation (typical, bounds, reason).
// Functions over 100 lines are tracked in issue 13 (the model's components), not here.
#![allow(clippy::too_many_lines)]

mod baseline;
mod frequency;
mod geo;
mod population;

pub use baseline::{Baseline, STATE_BYTES};
pub use frequency::{Occurrence, Rarity, TimeHistogram};
pub use geo::{distance_km, Places, PLACES_HEAP_BYTES};
pub use population::Population;

/// `x` limited to `[-bound, bound]`. A bound that overflowed (NaN, after values near the
/// largest `f64`) leaves `x` as it is rather than panicking as `f64::clamp` does.
#[inline]
pub(crate) fn clip(x: f64, bound: f64) -> f64 {
    if bound.is_nan() {
        x
    } else {
        x.clamp(-bound.abs(), bound.abs())
    }
}

/// Mean absolute deviation to standard deviation for a normal distribution.
const MAD_TO_SD: f64 = 1.2533;

/// What kind of values a detector produces; decides the distribution family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Non-negative counts (document counts, distinct counts): Poisson-like, over-dispersed.
    Count,
    /// Arbitrary real values (means, sums, min, max): heavy tails expected.
    Metric,
}

/// Which deviations count as anomalous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Both directions.
    Both,
    /// Only values above typical (`high_*`).
    High,
    /// Only values below typical (`low_*`).
    Low,
}

/// Settings shared by all partitions of one detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelConfig {
    /// Bucket width in milliseconds.
    pub bucket_span_ms: i64,
    /// Distribution family.
    pub kind: ValueKind,
    /// One- or two-sided.
    pub tail: Tail,
    /// Half-life of the model's memory in milliseconds.
    pub half_life_ms: i64,
}

/// Why a value was unusual, for the one-line explanation on a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Nothing unusual.
    Normal,
    /// A single bucket far above typical.
    Spike,
    /// A single bucket far below typical.
    Dip,
    /// The level moved up and stayed.
    MeanShiftUp,
    /// The level moved down and stayed.
    MeanShiftDown,
    /// A gradual rise over many buckets.
    RampUp,
    /// A gradual fall over many buckets.
    RampDown,
    /// Several moderately unusual buckets in a row.
    MultiBucket,
    /// The signal stopped (dropped to zero or went missing).
    SignalLost,
}

impl Reason {
    /// A short phrase for explanations, e.g. `spike`.
    pub fn phrase(self) -> &'static str {
        match self {
            Reason::Normal => "normal",
            Reason::Spike => "spike",
            Reason::Dip => "dip",
            Reason::MeanShiftUp => "mean shift up",
            Reason::MeanShiftDown => "mean shift down",
            Reason::RampUp => "ramp up",
            Reason::RampDown => "ramp down",
            Reason::MultiBucket => "multi-bucket anomaly",
            Reason::SignalLost => "signal lost",
        }
    }

    /// Whether a record with this reason joins its job's score history (the
    /// [`crate::score::Normalizer`]'s damping of levels the job reaches often). A lost
    /// signal does not: it is scored by the event floor on the anchored scale, and an outage
    /// of a day and a half is two thousand records at that floor, which in a one-series job
    /// made every later alert of the month "ordinary" (the month of NASA traffic with an
    /// outage: no alert at 75 after it, 14 in the same weeks without the outage).
    pub fn joins_score_history(self) -> bool {
        self != Reason::SignalLost
    }
}

/// The model's verdict on one bucket value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Probability of a value at least this unusual under the model, in (0, 1].
    pub probability: f64,
    /// The value observed.
    pub actual: f64,
    /// What the model expected.
    pub typical: f64,
    /// Lower bound of the model's 95 % interval.
    pub lower: f64,
    /// Upper bound of the model's 95 % interval.
    pub upper: f64,
    /// Why it is unusual (or `Normal`).
    pub reason: Reason,
    /// Share of the probability owed to the run of recent buckets rather than this one,
    /// -5..=5 like Elastic's `multi_bucket_impact` (positive: mostly multi-bucket).
    pub multi_bucket_impact: f64,
}

/// Expected value and bounds at a time, without learning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expected {
    /// The typical value.
    pub typical: f64,
    /// Lower bound of the 95 % interval.
    pub lower: f64,
    /// Upper bound of the 95 % interval.
    pub upper: f64,
}
