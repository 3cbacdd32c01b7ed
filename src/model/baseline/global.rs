//! The global view, while the seasonal model is still learning: a value far outside
//! everything seen so far needs no learned cycle to be unusual.
//!
//! It measures the value's distance from the days-long average (the seasonal view's
//! reference level) in the mean absolute distance of all values from it, and speaks only
//! beyond the largest distance seen so far.

use super::{sided, tail_ln, DAY_MS};
use crate::model::{ModelConfig, ValueKind, MAD_TO_SD};
use std::f64::consts::LN_2;

/// Spreads by which the largest distance seen may exceed the expected maximum of as many
/// Gaussian values before the tail is taken to be heavier (the maximum of n Gaussian values
/// has a spread of about half a spread, so 2 is four of those). 2 and 3 give the same
/// figures on the labelled data; 1 costs the smooth-cycle series.
const HEAVY_TAIL_ALLOWANCE: f64 = 2.0;

/// Size of the serialized state in bytes.
pub(super) const GLOBAL_BYTES: usize = 4;

/// Largest distance of a value from the days-long average so far.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct GlobalView {
    max: f32,
}

/// A bucket as the global view sees it.
pub(super) struct GlobalInput {
    pub value: f64,
    /// The days-long average and the mean absolute distance of values from it.
    pub mean: f64,
    pub mean_distance: f64,
    /// The point view's spread; the global spread is never narrower.
    pub sigma: f64,
    /// Values seen before this one.
    pub n: u32,
}

impl GlobalView {
    /// Natural log of the probability of a value this far beyond everything seen; 0 once
    /// the model is confident (`conf` 1), in its first day, or when the value is within
    /// the largest distance seen.
    #[inline]
    pub(super) fn judge(&self, cfg: &ModelConfig, conf: f64, age_ms: i64, at: &GlobalInput) -> f64 {
        let warm = conf < 1.0 && cfg.bucket_span_ms <= DAY_MS && age_ms >= DAY_MS;
        let dev = at.value - at.mean;
        if !warm || at.mean_distance <= 0.0 || dev.abs() <= self.max as f64 {
            return 0.0;
        }
        // The spread of all values so far, widened when the largest distance seen is far
        // beyond the largest of n Gaussian values (about sqrt(2 ln n) spreads): a series
        // with a heavy tail of spikes has seen spikes, so one more is only as unusual as
        // its distance beyond them says.
        let gaussian_max = (2.0 * (at.n as f64 + 1.0).ln()).sqrt();
        let tail_spread = self.max as f64 / (gaussian_max + HEAVY_TAIL_ALLOWANCE);
        let spread = (at.mean_distance * MAD_TO_SD)
            .max(at.sigma)
            .max(tail_spread);
        let zg = match cfg.kind {
            // On the square-root scale, as the point view (small counts stay calm).
            ValueKind::Count => {
                let mean = at.mean;
                let dispersion = (spread / mean.max(1.0).sqrt()).max(1.0);
                2.0 * ((at.value.max(0.0) + 0.375).sqrt() - (mean.max(0.0) + 0.375).sqrt())
                    / dispersion
            }
            ValueKind::Metric => dev / spread,
        };
        (tail_ln(sided(cfg.tail, zg)) + LN_2).min(0.0)
    }

    /// Learns the value's distance (after the first value).
    #[inline]
    pub(super) fn learn(&mut self, at: &GlobalInput) {
        if at.n > 0 {
            self.max = self.max.max((at.value - at.mean).abs() as f32);
        }
    }

    pub(super) fn write(&self, out: &mut super::state::Writer) {
        out.f32s([&self.max]);
    }

    pub(super) fn read(r: &mut super::state::Reader) -> Option<Self> {
        Some(GlobalView { max: r.f32()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tail;

    #[test]
    fn only_a_value_beyond_everything_seen_speaks_and_only_while_learning() {
        let cfg = ModelConfig {
            bucket_span_ms: 60_000,
            kind: ValueKind::Metric,
            tail: Tail::Both,
            half_life_ms: 14 * DAY_MS,
        };
        let mut view = GlobalView::default();
        let at = |value: f64| GlobalInput {
            value,
            mean: 100.0,
            mean_distance: 2.0,
            sigma: 1.0,
            n: 1000,
        };
        view.learn(&at(110.0));
        assert_eq!(view.judge(&cfg, 0.5, DAY_MS, &at(105.0)), 0.0);
        assert!(view.judge(&cfg, 0.5, DAY_MS, &at(160.0)) < -13.8);
        assert_eq!(view.judge(&cfg, 1.0, DAY_MS, &at(160.0)), 0.0, "confident");
        assert_eq!(
            view.judge(&cfg, 0.5, DAY_MS - 1, &at(160.0)),
            0.0,
            "first day"
        );
    }
}
