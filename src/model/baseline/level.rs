//! The level view: slow changes that no single bucket shows.
//!
//! A medium EWMA of the deseasonalised value compared with a slower baseline (a day's
//! half-life), in units of that difference's own robust spread: catches slow ramps, mean
//! shifts that stay, and a weak signal that dies, where each bucket is only mildly unusual.

use super::state::{Reader, Writer};
use super::{sided, tail_ln_k, Forgetting, DAY_MS, TAIL_K, WINSOR};
use crate::model::{clip, ModelConfig, MAD_TO_SD};

/// Weight of the medium level's update per bucket.
pub(super) const ALPHA_MID: f64 = 0.05;

/// Buckets a notable departure may go without growing before it is taken as the series'
/// new level: the medium level's own memory (`1 / ALPHA_MID`). Until round 14 such a
/// departure was reported, at scores of 25 to 40, until the day-long baseline caught up:
/// for hours, on a third of the false points of the labelled KPI series at score 27.
/// 10 to 60 measured (docs/quality.md, round 14).
const SETTLE_BUCKETS: f64 = 1.0 / ALPHA_MID;
/// Growth, in spreads, by which a departure is still unfolding rather than settled. Chosen
/// on fold A with [`SETTLE_BUCKETS`] among 0.25 to 2 (round 14).
const SETTLE_MARGIN: f64 = 0.25;

/// Size of the serialized state in bytes.
pub(super) const LEVEL_BYTES: usize = 8 + 4 * 4;

/// The medium level, its slow baseline and the robust spread of their difference.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct LevelView {
    /// Medium deseasonalised level.
    pub(super) mid: f64,
    /// Slow baseline for `mid`.
    pub(super) base: f32,
    /// Robust spread of `mid - base` (mean absolute value).
    dscale: f32,
    /// The current notable departure's largest `z` (signed); 0 when there is none.
    peak: f32,
    /// Buckets since that departure last grew.
    stale: f32,
}

/// The level view's verdict on one bucket.
pub(super) struct LevelVerdict {
    /// Natural log of the tail probability of the level's departure.
    pub ln_p: f64,
    /// The departure in its spreads (sign: direction).
    pub z: f64,
}

impl LevelView {
    /// Both levels at `value` (the first bucket, or a re-baselining).
    pub(super) fn jump_to(&mut self, value: f64) {
        self.mid = value;
        self.base = value as f32;
    }

    /// Both levels at `value`, a new level estimated with standard error `uncertainty`:
    /// the departure's spread is at least that, so the view does not report the
    /// estimate's own error as a change.
    pub(super) fn restart_at(&mut self, value: f64, uncertainty: f64) {
        self.jump_to(value);
        self.dscale = self.dscale.max(uncertainty as f32);
    }

    /// Moves both levels by `delta` (a seasonal profile switched on or off).
    pub(super) fn shift_by(&mut self, delta: f64) {
        self.mid += delta;
        self.base += delta as f32;
    }

    /// The spread of the departure for a point spread `sigma`: at least what averaging
    /// independent noise leaves, and 5 % of `sigma`.
    #[inline]
    fn departure_spread(&self, sigma: f64) -> f64 {
        let intrinsic = sigma * (ALPHA_MID / (2.0 - ALPHA_MID)).sqrt();
        (self.dscale as f64 * MAD_TO_SD)
            .max(intrinsic)
            .max(sigma * 0.05)
    }

    /// Judges the level `age_ms` after the partition's first bucket. It judges the level
    /// against a day-long baseline, so it waits for a week of data (a weekday/weekend
    /// pattern is not a ramp) before it speaks at full strength, and it is silent while the
    /// model re-baselines.
    #[inline]
    pub(super) fn judge(
        &self,
        cfg: &ModelConfig,
        sigma: f64,
        age_ms: i64,
        rebasing: bool,
    ) -> LevelVerdict {
        let z = (self.mid - self.base as f64) / self.departure_spread(sigma);
        if rebasing {
            return LevelVerdict { ln_p: 0.0, z };
        }
        let days = age_ms as f64 / DAY_MS as f64;
        let warm = if cfg.bucket_span_ms <= DAY_MS {
            ((days - 1.0) / 6.0).clamp(0.0, 1.0)
        } else {
            1.0
        };
        // The level view averages many buckets, so its tail is closer to Gaussian.
        let ln_p = tail_ln_k(sided(cfg.tail, z), 2.0 * TAIL_K) * warm;
        LevelVerdict { ln_p, z }
    }

    /// Follows a notable departure (`z` in spreads; `notable`: the view finds it worth
    /// reporting); whether it has now settled: it has not grown by [`SETTLE_MARGIN`] for
    /// [`SETTLE_BUCKETS`]. A departure that keeps growing (a ramp) has not settled.
    pub(super) fn settled(&mut self, z: f64, notable: bool) -> bool {
        let peak = self.peak as f64;
        if !notable {
            self.peak = 0.0;
            self.stale = 0.0;
            return false;
        }
        if peak == 0.0 || peak.signum() != z.signum() || z.abs() > peak.abs() + SETTLE_MARGIN {
            self.peak = z as f32;
            self.stale = 0.0;
            return false;
        }
        self.stale += 1.0;
        if f64::from(self.stale) < SETTLE_BUCKETS {
            return false;
        }
        self.peak = 0.0;
        self.stale = 0.0;
        true
    }

    /// Learns the medium level from `deseason`, winsorized at `winsor`.
    #[inline]
    pub(super) fn follow(&mut self, deseason: f64, winsor: f64, early: f64) {
        let am = ALPHA_MID.max(early);
        self.mid += am * clip(deseason - self.mid, winsor);
    }

    /// Learns the slow baseline and the departure's spread; while `rebasing` the baseline
    /// follows the medium level instead.
    #[inline]
    pub(super) fn learn_base(
        &mut self,
        forget: &Forgetting,
        sigma: f64,
        early: f64,
        rebasing: bool,
    ) {
        let lb = forget.day.max(early);
        let d = self.mid - self.base as f64;
        let dclip = WINSOR * (self.dscale as f64 * MAD_TO_SD).max(sigma * 0.05);
        if rebasing {
            self.base = self.mid as f32;
        } else {
            self.base += (lb * clip(d, dclip)) as f32;
        }
        let ld = forget.two_days.max(early);
        let ad = d.abs().min(dclip.max(1e-300));
        self.dscale += (ld * (ad - self.dscale as f64)) as f32;
    }

    pub(super) fn write(&self, out: &mut Writer) {
        out.f64(self.mid);
        out.f32s([&self.base, &self.dscale, &self.peak, &self.stale]);
    }

    pub(super) fn read(r: &mut Reader) -> Option<Self> {
        Some(LevelView {
            mid: r.f64()?,
            base: r.f32()?,
            dscale: r.f32()?,
            peak: r.f32()?,
            stale: r.f32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Tail, ValueKind};

    #[test]
    fn a_slow_ramp_departs_from_the_baseline_and_a_flat_level_does_not() {
        let cfg = ModelConfig {
            bucket_span_ms: 15 * 60_000,
            kind: ValueKind::Metric,
            tail: Tail::Both,
            half_life_ms: 14 * DAY_MS,
        };
        let week = 7 * DAY_MS;
        let mut flat = LevelView::default();
        let mut ramp = LevelView::default();
        flat.jump_to(100.0);
        ramp.jump_to(100.0);
        for i in 0..400 {
            // Noise-free: the departure is judged against the point spread of 1.
            let early = 1.0 / (i + 1) as f64;
            flat.follow(100.0, 2.5, early);
            flat.learn_base(&Forgetting::of(&cfg), 1.0, early, false);
            // Flat for 300 buckets, then rising by 0.05 a bucket.
            ramp.follow(100.0 + 0.05 * (i - 300).max(0) as f64, 2.5, early);
            ramp.learn_base(&Forgetting::of(&cfg), 1.0, early, false);
        }
        assert_eq!(flat.judge(&cfg, 1.0, week, false).ln_p, 0.0);
        let up = ramp.judge(&cfg, 1.0, week, false);
        assert!(up.z > 0.0 && up.ln_p < -13.8, "{} {}", up.z, up.ln_p);
        assert_eq!(
            ramp.judge(&cfg, 1.0, week, true).ln_p,
            0.0,
            "silent while rebasing"
        );
    }

    #[test]
    fn a_departure_settles_when_it_stops_growing() {
        let mut view = LevelView::default();
        let patience = SETTLE_BUCKETS as usize;
        // A ramp: growing by more than the margin every few buckets never settles.
        assert!((0..10 * patience).all(|i| !view.settled(4.0 + 0.2 * i as f64, true)));
        // Flat from here: settled after exactly `patience` buckets without growth.
        let flat: Vec<bool> = (0..patience).map(|_| view.settled(-4.0, true)).collect();
        assert_eq!(
            flat,
            vec![false; patience],
            "a new departure (other side) restarts"
        );
        assert!(view.settled(-4.2, true), "settled");
        assert!(!view.settled(-4.2, true), "and the count starts over");
        // A departure that stops being notable is forgotten.
        for _ in 0..patience - 1 {
            view.settled(-4.2, true);
        }
        assert!(!view.settled(-1.0, false));
        assert!(!view.settled(-4.2, true));
    }

    #[test]
    fn the_state_round_trips() {
        let view = LevelView {
            mid: 3.5,
            base: 2.0,
            dscale: 0.25,
            peak: -4.5,
            stale: 7.0,
        };
        let mut w = Writer(Vec::new());
        view.write(&mut w);
        assert_eq!(w.0.len(), LEVEL_BYTES);
        assert_eq!(LevelView::read(&mut Reader(&w.0)), Some(view));
    }
}
