//! Shift tracking: runs of large residuals that make a new level, and incidents that end.
//!
//! A run of [`super::run_limit`] buckets beyond the alarm spread on the same side, whose
//! values agree with each other, is a mean shift: it has been reported by its first
//! buckets, and the model re-baselines onto the new level instead of alarming for hours. The level before is remembered for two days, so that a return
//! to it is recognised as the incident ending rather than as a new anomaly.

use super::state::{Reader, Writer};
use super::{run_limit, DAY_MS, RUN_Z};
use crate::model::{clip, ModelConfig, MAD_TO_SD};

/// Weight of the short residual average (about five buckets).
const SHORT_WEIGHT: f64 = 1.0 / 3.0;
/// Standard deviation of that average for independent unit residuals: `sqrt(w / (2 - w))`.
pub(super) const SHORT_IID_SD: f64 = 0.447_213_6;

/// Size of the serialized state in bytes.
pub(super) const SHIFT_BYTES: usize = 3 * 4 + 9 * 4;

/// The current run of large residuals and the memory of the last re-baselining.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ShiftTracker {
    /// Signed length of the current run of large residuals (+ above, - below).
    run: i32,
    /// Largest |z| in the run.
    largest_z: f32,
    /// The run's last deseasonalised value.
    last_value: f32,
    /// Sum of absolute changes between the run's values (a new level barely moves).
    path: f32,
    /// Sum of the run's residuals.
    resid_sum: f32,
    /// The level before the last re-baselining (the incident's level after a tentative
    /// ending).
    prior: f32,
    /// Buckets left during which a return to `prior` ends the incident.
    prior_ttl: f32,
    /// The level the last re-baselining moved to (an incident stays open while the level
    /// stays near it); NaN after a ramp, whose end is judged by the prior alone.
    shifted_to: f32,
    /// The last ending was tentative, and `prior` holds the incident's level.
    tentative: bool,
    /// Buckets left in re-baselining.
    rebase: u32,
    /// Short average of point residuals (in spreads), weight [`SHORT_WEIGHT`].
    short: f32,
    /// Robust spread of `short` (mean absolute value).
    short_scale: f32,
}

impl Default for ShiftTracker {
    fn default() -> Self {
        ShiftTracker {
            run: 0,
            largest_z: 0.0,
            last_value: 0.0,
            path: 0.0,
            resid_sum: 0.0,
            prior: 0.0,
            prior_ttl: 0.0,
            shifted_to: 0.0,
            tentative: false,
            rebase: 0,
            short: 0.0,
            short_scale: 0.0,
        }
    }
}

/// Buckets for which the level before an incident is remembered: two days.
fn prior_memory(cfg: &ModelConfig) -> f32 {
    (2 * DAY_MS / cfg.bucket_span_ms.max(1)) as f32
}

impl ShiftTracker {
    /// Signed length of the current run.
    #[inline]
    pub(super) fn run(&self) -> i32 {
        self.run
    }

    /// Whether the model is re-baselining after a shift or a return.
    #[inline]
    pub(super) fn rebasing(&self) -> bool {
        self.rebase > 0
    }

    /// Counts one bucket of re-baselining; whether there was one to count.
    #[inline]
    pub(super) fn count_rebase(&mut self) -> bool {
        let rebasing = self.rebase > 0;
        self.rebase = self.rebase.saturating_sub(1);
        rebasing
    }

    /// The level before the incident, while a return to it would end the incident. The
    /// incident is only still open while the fast `level` sits nearer the level it
    /// shifted to than halfway back: a series that has since wandered elsewhere has no
    /// "before" to return to, and a new excursion is not an ending.
    #[inline]
    pub(super) fn open_prior(&mut self, level: f64) -> Option<f64> {
        if self.prior_ttl > 0.0 {
            self.prior_ttl -= 1.0;
            let prior = self.prior as f64;
            let to = self.shifted_to as f64;
            if !to.is_nan() && (level - to).abs() > 0.5 * (prior - to).abs() {
                self.prior_ttl = 0.0;
            }
            if self.prior_ttl <= 0.0 {
                self.tentative = false;
            }
        }
        (self.prior_ttl > 0.0).then_some(self.prior as f64)
    }

    /// Extends or ends the run with this bucket's residual `z` (in spreads; `resid` in
    /// units of the value); whether the run is now a mean shift: long enough and its
    /// values agree with each other (a burst of wildly varying values is not a new level).
    #[inline]
    pub(super) fn track(&mut self, cfg: &ModelConfig, z: f64, deseason: f64, resid: f64) -> bool {
        let sign = if z > RUN_Z {
            1
        } else if z < -RUN_Z {
            -1
        } else {
            0
        };
        self.run = if sign != 0 && self.run.signum() == sign {
            self.run + sign
        } else {
            sign
        };
        if self.run.abs() == 1 {
            self.last_value = deseason as f32;
            self.path = 0.0;
            self.resid_sum = resid as f32;
        } else if self.run != 0 {
            self.path += (deseason - self.last_value as f64).abs() as f32;
            self.last_value = deseason as f32;
            self.resid_sum += resid as f32;
        }
        let k = self.run.unsigned_abs() as f64;
        let consistent =
            k > 1.0 && (self.path as f64 / (k - 1.0)) < 0.5 * (self.resid_sum as f64 / k).abs();
        self.run.abs() >= run_limit(cfg.bucket_span_ms) && consistent
    }

    /// Later buckets of a run are the same event: the point view's `ln_point` is reported
    /// in full once, on the run's first bucket, unless a later bucket is more extreme than
    /// any before in the run.
    #[inline]
    pub(super) fn once(&mut self, ln_point: f64, z: f64) -> f64 {
        let ln = if self.run.abs() > 1 && z.abs() <= self.largest_z as f64 {
            ln_point / self.run.abs() as f64
        } else {
            ln_point
        };
        self.largest_z = if self.run == 0 {
            0.0
        } else {
            (self.largest_z as f64).max(z.abs()) as f32
        };
        ln
    }

    /// Learns the short average of residuals and how far it usually strays (in spreads):
    /// above the independent-noise value on a series whose residuals come in runs.
    /// `two_days`: the forgetting weight of two days' half-life ([`Forgetting`]).
    #[inline]
    pub(super) fn learn_short(&mut self, two_days: f64, z: f64, n: u32) {
        let short = self.short as f64;
        let limit = 3.0 * (self.short_scale as f64).max(SHORT_IID_SD / MAD_TO_SD) * MAD_TO_SD;
        let gain = two_days.max(1.0 / (n as f64 + 1.0));
        self.short += ((clip(z, limit * 3.0) - short) * SHORT_WEIGHT) as f32;
        self.short_scale +=
            (gain * ((self.short as f64).abs().min(limit) - self.short_scale as f64)) as f32;
    }

    /// The average residual of the last few buckets, in units of the value.
    #[inline]
    pub(super) fn recent_offset(&self, sigma: f64) -> f64 {
        self.short as f64 * sigma
    }

    /// Keeps `base`, the level before a change, as the level to recognise a return to.
    pub(super) fn remember_prior(&mut self, cfg: &ModelConfig, base: f32) {
        if self.prior_ttl <= 0.0 || self.tentative {
            self.prior = base;
            self.tentative = false;
        }
        self.prior_ttl = prior_memory(cfg);
    }

    /// A confirmed mean shift to `level` (the model re-baselines on it); `base` is the
    /// level it left.
    pub(super) fn shifted(&mut self, cfg: &ModelConfig, base: f32, level: f64) {
        self.remember_prior(cfg, base);
        self.shifted_to = level as f32;
        self.run = 0;
        self.rebase = run_limit(cfg.bucket_span_ms) as u32 * 2;
    }

    /// A change the level view reported from `base`: a `step` to `level`, or a ramp
    /// (which keeps moving after it is reported, so its end is judged by the prior alone).
    pub(super) fn level_changed(&mut self, cfg: &ModelConfig, base: f32, level: f64, step: bool) {
        self.remember_prior(cfg, base);
        self.shifted_to = if step { level as f32 } else { f32::NAN };
        // Like a confirmed shift, a step's new level is a few buckets' average: the slow
        // baseline follows the medium level until that has settled.
        self.rebase = run_limit(cfg.bucket_span_ms) as u32 * if step { 2 } else { 1 };
    }

    /// A departure the level view never alerted on has settled: the new level is learned
    /// as ordinary (no incident, so no level before it to return to).
    pub(super) fn level_accepted(&mut self, cfg: &ModelConfig) {
        self.rebase = run_limit(cfg.bucket_span_ms) as u32;
    }

    /// The value returned to the level before the incident (`decisive`: nearer it by as
    /// much as an alarm); `left` is the level being left. Returns the level to go back to.
    pub(super) fn returned(&mut self, cfg: &ModelConfig, decisive: bool, left: f32) -> f64 {
        let prior = self.prior as f64;
        let after_tentative = self.tentative;
        if decisive && !after_tentative {
            self.prior_ttl = 0.0;
        } else {
            // The two levels swap: the one just left is remembered.
            // - A tentative ending: the incident's level stays in memory for a few
            //   buckets, so noise that touched the old level does not end an incident
            //   that the next bucket shows is still going on (and report it again).
            // - Back at the incident's level after a tentative ending: the same
            //   incident goes on, and the level before it is remembered again.
            self.tentative = !self.tentative;
            self.prior = left;
            // A ramp's incident stays a ramp through the swaps: it keeps moving after it
            // is reported, so "wandered far from where it shifted to" would end it early
            // and its real end would read as a new drop (the demo's 404 ramp: 81).
            if !self.shifted_to.is_nan() {
                self.shifted_to = prior as f32;
            }
            self.prior_ttl = if after_tentative {
                prior_memory(cfg)
            } else {
                run_limit(cfg.bucket_span_ms) as f32
            };
        }
        // A short re-baselining back to the old level (the weekly reference catches up).
        self.rebase = run_limit(cfg.bucket_span_ms) as u32;
        self.run = 0;
        prior
    }

    pub(super) fn write(&self, out: &mut Writer) {
        out.u32(self.run as u32);
        out.u32(self.rebase);
        out.u32(u32::from(self.tentative));
        out.f32s([
            &self.largest_z,
            &self.last_value,
            &self.path,
            &self.resid_sum,
            &self.prior,
            &self.prior_ttl,
            &self.shifted_to,
            &self.short,
            &self.short_scale,
        ]);
    }

    pub(super) fn read(r: &mut Reader) -> Option<Self> {
        Some(ShiftTracker {
            run: r.u32()? as i32,
            rebase: r.u32()?,
            tentative: r.u32()? != 0,
            largest_z: r.f32()?,
            last_value: r.f32()?,
            path: r.f32()?,
            resid_sum: r.f32()?,
            prior: r.f32()?,
            prior_ttl: r.f32()?,
            shifted_to: r.f32()?,
            short: r.f32()?,
            short_scale: r.f32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Tail, ValueKind};

    fn cfg() -> ModelConfig {
        ModelConfig {
            bucket_span_ms: 60_000,
            kind: ValueKind::Metric,
            tail: Tail::Both,
            half_life_ms: 14 * DAY_MS,
        }
    }

    #[test]
    fn five_agreeing_buckets_make_a_shift_five_wild_ones_do_not() {
        let cfg = cfg();
        let mut steady = ShiftTracker::default();
        let confirmed: Vec<bool> = (0..5)
            .map(|_| steady.track(&cfg, 8.0, 108.0, 8.0))
            .collect();
        assert_eq!(confirmed, [false, false, false, false, true]);
        let mut wild = ShiftTracker::default();
        let values = [108.0, 140.0, 105.0, 150.0, 106.0];
        let confirmed: Vec<bool> = values
            .iter()
            .map(|v| wild.track(&cfg, 8.0, *v, 8.0))
            .collect();
        assert_eq!(confirmed, [false; 5]);
    }

    #[test]
    fn later_buckets_of_a_run_report_less_unless_more_extreme() {
        let cfg = cfg();
        let mut t = ShiftTracker::default();
        t.track(&cfg, 6.0, 106.0, 6.0);
        assert_eq!(t.once(-18.0, 6.0), -18.0);
        t.track(&cfg, 6.0, 106.0, 6.0);
        assert_eq!(t.once(-18.0, 6.0), -9.0);
        t.track(&cfg, 9.0, 109.0, 9.0);
        assert_eq!(t.once(-40.0, 9.0), -40.0);
    }

    #[test]
    fn a_return_is_recognised_while_the_level_stays_near_the_shift() {
        let cfg = cfg();
        let mut t = ShiftTracker::default();
        t.shifted(&cfg, 100.0, 200.0);
        assert_eq!(t.open_prior(195.0), Some(100.0));
        assert_eq!(t.open_prior(120.0), None, "wandered back past halfway");
        let mut w = Writer(Vec::new());
        t.write(&mut w);
        assert_eq!(w.0.len(), SHIFT_BYTES);
        assert_eq!(ShiftTracker::read(&mut Reader(&w.0)), Some(t));
    }
}
