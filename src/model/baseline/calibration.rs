//! The calibration view: what this partition's own history says a surprise is worth.
//!
//! The other views turn a bucket into a *surprise* (`-ln p` under their assumptions). Those
//! assumptions are never exactly right: on a quantized series a one-step wiggle is a 60-sigma
//! event, on a heavy-tailed one a 1e-10 "probability" turns up every day. Users alert on one
//! threshold across thousands of partitions, so a score must mean the same thing everywhere:
//! how often *this partition* produces an alert this unusual.
//!
//! So the surprise is calibrated per partition by **peaks over threshold** (Pickands;
//! Siffer et al., "Anomaly detection in streams with extreme value theory", KDD 2017):
//! - surprises above [`THRESHOLD`] are grouped into clusters of consecutive buckets, and
//!   each cluster counts once, by its peak (an incident of forty buckets is one event, not
//!   forty), so the rate is a rate of *alert episodes* per bucket;
//! - the peaks' excesses over the threshold are fitted with a generalized Pareto tail by the
//!   method of moments, with the shape kept in `[0, MAX_SHAPE]` (exponential to heavy);
//! - a peak is learned winsorized at the excess that an exponential tail with the current
//!   fit's rate and mean excess expects once in [`CAP_RATE`]⁻¹ buckets: real incidents
//!   teach the tail only that they were rare, so a partition with many incidents does not
//!   learn to ignore the next one. (The cap used to come from the fitted tail itself; on a
//!   partition with recurring huge spikes the heavy shape then raised its own cap, and
//!   spikes of a hundred times the usual level ended up scoring 6 to 26.)
//! - before a partition has shown many clusters, a prior of a typical tail stands in, and
//!   it gives way at two speeds: a partition learns that it is *quieter* than the prior
//!   (fewer clusters) against [`TRUST_PRIOR_CLUSTERS`], and that it is *noisier* (more
//!   clusters, bigger excesses) only against [`PRIOR_CLUSTERS`]. A month of hourly crash
//!   counts with an incident a day is too short to prove that those incidents are its
//!   ordinary noise, while a quiet partition earns trust within days. Everything, the
//!   prior's weight included, decays with the model's half-life.
//!
//! The result is `q`, the chance per bucket that an episode at least this unusual starts in
//! this partition. The state is six `f32` ([`CALIBRATION_BYTES`]).

use super::state::{Reader, Writer};
use crate::model::Reason;

/// Surprise (`-ln p`) above which a bucket counts towards the tail: `p = 0.05`.
pub(crate) const THRESHOLD: f64 = 3.0;
/// Prior: clusters it is worth against a partition's evidence that its tail is heavier
/// (more clusters per bucket, bigger excesses). Chosen on fold A of the labelled series
/// with [`BUCKET_EXPONENT`] (docs/quality.md, round 13); 20, the old single weight, let the
/// daily incidents of a month of hourly crash counts teach that they were ordinary.
const PRIOR_CLUSTERS: f64 = 160.0;
/// Prior: clusters it is worth against a partition's evidence that it is quieter (fewer
/// clusters per bucket than [`PRIOR_RATE`]): trust is earned as fast as before round 13.
const TRUST_PRIOR_CLUSTERS: f64 = 20.0;
/// Prior: clusters per bucket.
const PRIOR_RATE: f64 = 0.0223;
/// Prior: scale of the excesses (in units of surprise).
const PRIOR_SCALE: f64 = 2.0;
/// Prior: shape of the excesses.
const PRIOR_SHAPE: f64 = 0.0;
/// Heaviest tail shape the fit may take.
const MAX_SHAPE: f64 = 0.5;
/// Cluster peaks are learned clipped at the excess expected once in this many buckets.
const CAP_RATE: f64 = 3e-5;

/// Size of the serialized state in bytes.
pub const CALIBRATION_BYTES: usize = 6 * 4;
/// A prior weight below this is dropped: negligible, and kept from decaying into
/// subnormal floats (slow arithmetic on every bucket).
const PRIOR_GONE: f32 = 1e-6;

/// Decayed counts and moments of the tail of one partition's surprises; the prior's share
/// is kept apart ([`TailCalibration::prior`]) so that it can weigh differently by direction.
#[derive(Debug, Clone, PartialEq)]
pub struct TailCalibration {
    /// Weight left of the prior: 1 at first, decayed like the data.
    prior: f32,
    /// Buckets seen (decayed).
    buckets: f32,
    /// Clusters of surprises above the threshold (decayed).
    clusters: f32,
    /// Sum and sum of squares of the clusters' (clipped) peak excesses (decayed).
    sum: f32,
    sum_sq: f32,
    /// The open cluster's peak excess; 0 when the last bucket was below the threshold.
    peak: f32,
}

impl Default for TailCalibration {
    fn default() -> Self {
        TailCalibration {
            prior: 1.0,
            buckets: 0.0,
            clusters: 0.0,
            sum: 0.0,
            sum_sq: 0.0,
            peak: 0.0,
        }
    }
}

/// The prior tail's first two moments of the excess (generalized Pareto).
const PRIOR_MEAN: f64 = PRIOR_SCALE / (1.0 - PRIOR_SHAPE);
const PRIOR_SECOND: f64 =
    2.0 * PRIOR_SCALE * PRIOR_SCALE / ((1.0 - PRIOR_SHAPE) * (1.0 - 2.0 * PRIOR_SHAPE));

/// What a calibrated chance is about, which sets how steeply the anchored probability falls
/// beyond the tail threshold.
///
/// One bucket's surprise (a spike, a dip, a few odd buckets) is what ordinary noise of a
/// quantized or heavy-tailed series produces: most false alerts on the labelled series were
/// single buckets. So it takes a rarer episode to score 75 than a departure that lasts (a
/// shift, a ramp, a signal that died), which is what most labelled incidents look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Evidence {
    /// A spike, a dip or a run of moderately odd buckets: [`BUCKET_EXPONENT`].
    Bucket,
    /// A shift, a ramp or a lost signal: `100 q²` ([`anchored`]).
    Sustained,
}

/// How steeply one bucket's evidence falls beyond the threshold: `ln p = ln(100 r²) +
/// BUCKET_EXPONENT (ln q - ln r)`, `r` the partition's rate of clusters at the threshold,
/// where sustained evidence falls with 2 (`p = 100 q²`). Score 75 is then an episode the fit
/// expects once in about 50,000 to 150,000 buckets (by `r`; 10,000 for sustained
/// evidence), 50 once in about 4,000. Chosen on fold A of the KPI and cloud-monitoring
/// series: 1.55 among 1.4 to 1.625 in round 12, then 1.4 among 1.35 to 1.45 together with
/// the heavier prior of round 13 ([`PRIOR_CLUSTERS`]; docs/quality.md); with 2 too many
/// ordinary wiggles of quantized series reached 75. Both scales meet at the threshold, so
/// the ordinary bucket below it needs no power.
const BUCKET_EXPONENT: f64 = 1.4;

impl Evidence {
    /// The evidence behind a verdict with this reason.
    pub(crate) fn of(reason: Reason) -> Evidence {
        match reason {
            Reason::MeanShiftUp
            | Reason::MeanShiftDown
            | Reason::RampUp
            | Reason::RampDown
            | Reason::SignalLost => Evidence::Sustained,
            Reason::Normal | Reason::Spike | Reason::Dip | Reason::MultiBucket => Evidence::Bucket,
        }
    }
}

/// The anchored probability of a calibrated per-bucket chance `q` (`ln q` given) for
/// sustained evidence: `100 q²`, so that once in 10,000 buckets is 1e-6 (score 75) and
/// once in 100 is 1e-2 (25).
#[inline]
pub(crate) fn anchored(ln_q: f64) -> f64 {
    (100f64.ln() + 2.0 * ln_q).min(0.0).exp().max(1e-300)
}

/// A generalized Pareto tail: clusters per bucket above the threshold, scale and shape.
#[derive(Debug, Clone, Copy)]
struct Tail {
    rate: f64,
    scale: f64,
    shape: f64,
}

impl Tail {
    /// The exponential tail with this tail's rate and mean excess.
    fn exponential(self) -> Tail {
        Tail {
            scale: self.scale / (1.0 - self.shape),
            shape: 0.0,
            ..self
        }
    }

    /// `ln` of the chance per bucket of a cluster whose peak exceeds the threshold by `e`.
    fn ln_rate_beyond(&self, e: f64) -> f64 {
        let survival = if self.shape > 1e-6 {
            -(self.shape * e / self.scale).ln_1p() / self.shape
        } else {
            -e / self.scale
        };
        self.rate.ln() + survival
    }

    /// The excess that a cluster's peak passes once in `1 / q` buckets.
    fn excess_at(&self, q: f64) -> f64 {
        if self.rate <= q {
            return 0.0;
        }
        let r = self.rate / q;
        if self.shape > 1e-6 {
            self.scale / self.shape * (r.powf(self.shape) - 1.0)
        } else {
            self.scale * r.ln()
        }
    }
}

impl TailCalibration {
    fn tail(&self) -> Tail {
        let prior = PRIOR_CLUSTERS * self.prior as f64;
        let c = (self.clusters as f64 + prior).max(1e-9);
        let mean = ((self.sum as f64 + prior * PRIOR_MEAN) / c).max(1e-9);
        let var = ((self.sum_sq as f64 + prior * PRIOR_SECOND) / c - mean * mean).max(1e-12);
        let shape = (0.5 * (1.0 - mean * mean / var)).clamp(0.0, MAX_SHAPE);
        Tail {
            rate: self.rate(),
            scale: (mean * (1.0 - shape)).max(1e-6),
            shape,
        }
    }

    /// Clusters per bucket: the lower of the estimates with each prior weight, so that a
    /// quiet partition's rate falls as fast as [`TRUST_PRIOR_CLUSTERS`] lets it and a noisy
    /// one's rises only as fast as [`PRIOR_CLUSTERS`] does.
    #[inline]
    fn rate(&self) -> f64 {
        let (c, b, p) = (self.clusters as f64, self.buckets as f64, self.prior as f64);
        let (c_strong, b_strong) = (c + PRIOR_CLUSTERS * p, b + PRIOR_CLUSTERS / PRIOR_RATE * p);
        let (c_trust, b_trust) = (
            c + TRUST_PRIOR_CLUSTERS * p,
            b + TRUST_PRIOR_CLUSTERS / PRIOR_RATE * p,
        );
        // The smaller fraction by cross-multiplying: one division on every bucket.
        let (num, den) = if c_strong * b_trust <= c_trust * b_strong {
            (c_strong, b_strong)
        } else {
            (c_trust, b_trust)
        };
        (num / den.max(1.0)).min(1.0)
    }

    /// `ln q`: the chance per bucket that this partition starts an episode at least as
    /// surprising as `surprise`. Below the threshold, log-linear from 1 at no surprise to
    /// the cluster rate at the threshold (such buckets never alert).
    #[cfg(test)]
    pub fn ln_chance(&self, surprise: f64) -> f64 {
        let tail = self.tail();
        if surprise <= THRESHOLD {
            tail.rate.ln() * surprise.max(0.0) / THRESHOLD
        } else {
            tail.ln_rate_beyond(surprise - THRESHOLD)
        }
    }

    /// The calibrated chance of `surprise` on the anchored probability scale of
    /// [`crate::score`] (see [`anchored`]). Below the threshold, where nothing
    /// scores above a few points, it is interpolated linearly from 1 to the value at the
    /// threshold, which keeps the ordinary bucket free of logarithms (the hot path).
    #[inline]
    pub fn anchored_chance(&self, surprise: f64, evidence: Evidence) -> f64 {
        if surprise > THRESHOLD {
            let tail = self.tail();
            let ln_q = tail.ln_rate_beyond(surprise - THRESHOLD);
            if evidence == Evidence::Sustained {
                return anchored(ln_q);
            }
            // From the same value at the threshold, one bucket's evidence falls more
            // slowly than `100 q²` ([`BUCKET_EXPONENT`]).
            let ln_rate = tail.rate.ln();
            let ln_p = 100f64.ln() + 2.0 * ln_rate + BUCKET_EXPONENT * (ln_q - ln_rate);
            return ln_p.min(0.0).exp().max(1e-300);
        }
        let rate = self.rate();
        let at_threshold = (100.0 * rate * rate).min(1.0);
        1.0 - surprise.max(0.0) * (1.0 / THRESHOLD) * (1.0 - at_threshold)
    }

    /// Learns one bucket's surprise; `forget` is the model's per-bucket forgetting weight.
    pub fn learn(&mut self, surprise: f64, forget: f64) {
        if surprise <= THRESHOLD && self.peak > 0.0 {
            // The cluster ended: one event, by its peak, winsorized.
            let cap = self.tail().exponential().excess_at(CAP_RATE);
            let p = (self.peak as f64).min(cap);
            self.clusters += 1.0;
            self.sum += p as f32;
            self.sum_sq += (p * p) as f32;
            self.peak = 0.0;
        }
        let keep = (1.0 - forget) as f32;
        self.prior = if self.prior > PRIOR_GONE {
            self.prior * keep
        } else {
            0.0
        };
        self.buckets = self.buckets * keep + 1.0;
        self.clusters *= keep;
        self.sum *= keep;
        self.sum_sq *= keep;
        if surprise > THRESHOLD {
            self.peak = self
                .peak
                .max((surprise - THRESHOLD) as f32)
                .max(f32::MIN_POSITIVE);
        }
    }

    /// Appends the state (little-endian, [`CALIBRATION_BYTES`]).
    pub(super) fn write(&self, out: &mut Writer) {
        out.f32s([
            &self.prior,
            &self.buckets,
            &self.clusters,
            &self.sum,
            &self.sum_sq,
            &self.peak,
        ]);
    }

    /// Reads a state written by [`TailCalibration::write`].
    pub(super) fn read(r: &mut Reader) -> Option<Self> {
        Some(TailCalibration {
            prior: r.f32()?,
            buckets: r.f32()?,
            clusters: r.f32()?,
            sum: r.f32()?,
            sum_sq: r.f32()?,
            peak: r.f32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Surprises with a heavy tail: `-ln U` scaled, so `P(S > s) = exp(-s / k)`.
    fn heavy(k: f64, n: usize) -> Vec<f64> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                -u.ln() * k
            })
            .collect()
    }

    #[test]
    fn an_overconfident_model_is_brought_back_to_its_real_tail() {
        // The model claims p = 1e-6 (surprise 13.8) where the partition really shows such a
        // surprise once in e^(13.8/3) = 100 buckets.
        let mut c = TailCalibration::default();
        for s in heavy(3.0, 100_000) {
            c.learn(s, 1.0 / 20_000.0);
        }
        let q = c.ln_chance(13.8).exp();
        assert!(q > 2e-3 && q < 2e-2, "{q}");
        // Far in the tail, still ranked: more surprise, smaller chance.
        assert!(c.ln_chance(60.0) < c.ln_chance(40.0));
        assert!(c.ln_chance(60.0).exp() < 1e-4);
    }

    #[test]
    fn a_long_incident_counts_once_and_only_as_rare() {
        let mut quiet = TailCalibration::default();
        let mut with_incident = TailCalibration::default();
        let base = heavy(1.0, 50_000);
        for (i, s) in base.iter().enumerate() {
            quiet.learn(*s, 1.0 / 20_000.0);
            // Five hundred buckets of an enormous surprise in the middle.
            let s = if (20_000..20_500).contains(&i) {
                200.0
            } else {
                *s
            };
            with_incident.learn(s, 1.0 / 20_000.0);
        }
        let a = quiet.ln_chance(20.0);
        let b = with_incident.ln_chance(20.0);
        // The next incident is not discounted by more than a factor of ten.
        assert!(b - a < 10f64.ln(), "quiet {a}, after an incident {b}");
    }

    #[test]
    fn recurring_huge_spikes_do_not_raise_their_own_cap() {
        // Hourly crash counts: ordinary noise, and every 28 hours a spike that the model
        // finds enormously surprising (as `application-crash-rate-1/app1-04` does: from a
        // typical 10 to 900).
        let mut c = TailCalibration::default();
        for (i, s) in heavy(1.0, 700).into_iter().enumerate() {
            let s = if i % 28 == 27 {
                300.0 * (1 + i % 5) as f64
            } else {
                s
            };
            c.learn(s, 1.0 / 1000.0);
        }
        // With the cap taken from the fitted heavy tail itself, the spikes raised the cap
        // and the scale with it (scale 177: a surprise of 80 once in 30 buckets); capped
        // under the exponential tail: scale 39, once in 90.
        let q = c.ln_chance(80.0).exp();
        assert!(q < 0.015, "{q} {:?}", c.tail());
    }

    #[test]
    fn daily_incidents_in_a_month_do_not_become_ordinary_but_quiet_is_trusted_fast() {
        // A month of hourly buckets, ordinary noise, and an incident a day (surprise 40):
        // the next incident is still rare, not a once-a-day event (once in about 1,100
        // buckets; once in 160 when the prior weighed 20 clusters either way).
        let mut noisy = TailCalibration::default();
        for (i, s) in heavy(1.0, 720).into_iter().enumerate() {
            noisy.learn(if i % 24 == 12 { 40.0 } else { s }, 1.0 / 500.0);
        }
        let q = noisy.ln_chance(40.0).exp();
        assert!(q < 1.0 / 500.0, "{q} {:?}", noisy.tail());
        // Four days of quiet minutes: the cluster rate is already well under the prior's.
        let mut quiet = TailCalibration::default();
        for _ in 0..4 * 1440 {
            quiet.learn(0.5, 1.0 / 30_000.0);
        }
        assert!(quiet.rate() < PRIOR_RATE / 4.0, "{}", quiet.rate());
    }

    #[test]
    fn both_scales_are_continuous_at_the_threshold_and_ranked() {
        let mut c = TailCalibration::default();
        for s in heavy(1.5, 5_000) {
            c.learn(s, 1e-3);
        }
        for evidence in [Evidence::Bucket, Evidence::Sustained] {
            let below = c.anchored_chance(THRESHOLD, evidence);
            let above = c.anchored_chance(THRESHOLD + 1e-9, evidence);
            assert!(
                (below / above - 1.0).abs() < 1e-6,
                "{evidence:?}: {below} {above}"
            );
            let mut last = 1.0;
            for i in 0..200 {
                let p = c.anchored_chance(i as f64 * 0.25, evidence);
                assert!(p <= last, "{evidence:?} at surprise {}", i as f64 * 0.25);
                last = p;
            }
        }
        // One bucket's evidence takes a rarer episode to reach the same probability.
        let bucket = c.anchored_chance(20.0, Evidence::Bucket);
        let sustained = c.anchored_chance(20.0, Evidence::Sustained);
        assert!(bucket > sustained * 10.0, "{bucket} {sustained}");
    }

    #[test]
    fn the_state_round_trips() {
        let mut c = TailCalibration::default();
        for s in heavy(2.0, 1000) {
            c.learn(s, 1e-3);
        }
        let mut out = Writer(Vec::new());
        c.write(&mut out);
        assert_eq!(out.0.len(), CALIBRATION_BYTES);
        assert_eq!(TailCalibration::read(&mut Reader(&out.0)), Some(c));
        assert_eq!(TailCalibration::read(&mut Reader(&out.0[1..])), None);
    }
}
