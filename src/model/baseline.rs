//! The per-partition baseline: a robust, seasonal, decaying model of one series of bucket
//! values, in a fixed-size state ([`STATE_BYTES`]).
//!
//! Three views of the series, each robust to the anomalies it is asked to find:
//! - **point**: `typical = level + daily(t) + weekly(t)`, the residual scaled by a robust
//!   spread (an EWMA of winsorized absolute residuals, shaped by an hour-of-day profile, and
//!   floored by Poisson noise for counts and by a small share of the value for metrics);
//!   catches spikes and dips.
//! - **level**: a slower EWMA of the deseasonalised value compared with a slower still
//!   baseline, in units of that difference's own robust spread; catches slow ramps, mean
//!   shifts that stay, and a weak signal that dies (each bucket only mildly unusual).
//! - **presence**: how often the partition has data; a run of missing buckets in a series
//!   that always reports is a lost signal (see [`Baseline::observe_missing`]).
//!
//! Updates are winsorized at [`WINSOR`] spreads, so a spike moves neither the level nor the
//! spread by more than a few percent. A run of [`run_limit`] buckets beyond the alarm spread
//! on the same side is a mean shift: it is reported on its first bucket, then the model
//! re-baselines onto the new level instead of alarming for hours.
//!
//! Seasonal profiles are learned all the time but only *used* when they predict better than
//! the model without them (tracked as running errors), so the daily and weekly periods are
//! detected from the data rather than assumed. The model learns for about three cycles of
//! its longest period before scoring at full strength; until then probabilities are
//! shrunk towards 1 and bounds are wider.

use super::calibration::{anchored, TailCalibration, CALIBRATION_BYTES};
use super::glitch::{GlitchView, GLITCH_BYTES};
use super::{clip, Expected, ModelConfig, Observation, Reason, Tail, ValueKind, MAD_TO_SD};
use std::f64::consts::LN_2;

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// Daily profile slots (30 minutes each at most; linear interpolation between slots).
const DAILY: usize = 48;
/// Weekly profile: one offset per day of the week on top of the daily profile (a step at
/// midnight), so it captures weekday/weekend levels without competing with the daily shape.
const WEEKLY: usize = 7;
/// Hour-of-day spread profile slots.
const SPREAD: usize = 24;
/// Hourly profile: one slot per minute of the hour, for jobs that run every 15, 30 or 60
/// minutes. Learned fast (it follows bursts that stop at night within a few hours).
const HOURLY: usize = 60;
const HOUR_MS: i64 = 3_600_000;
/// Weight of each visit of an hourly slot.
const HOURLY_GAIN: f64 = 0.35;
/// Updates are clipped at this many spreads.
const WINSOR: f64 = 2.5;
/// Point residuals beyond this many spreads count towards a mean-shift run.
const RUN_Z: f64 = 4.0;
/// Weight of the fast level's update per bucket.
const ALPHA_FAST: f64 = 0.1;
/// Weight of the medium level's update per bucket (ramps, dying signals).
const ALPHA_MID: f64 = 0.05;
/// Tail heaviness: `ln p = -z²/2 / (1 + z/TAIL_K)`; Gaussian near the centre, exponential
/// far out, so heavy-tailed residuals do not produce astronomically small probabilities.
const TAIL_K: f64 = 30.0;
/// Spread per unit of mean absolute residual. The Gaussian factor would be 1.25; residuals
/// of real metrics are heavier-tailed than Gaussian, so the mean absolute residual already
/// overstates the bulk's spread and 0.9 is used (measured on the KPI data, docs/quality.md).
/// Counts are floored by Poisson noise, so this does not make count detectors noisier.
const SPREAD_PER_MAD: f64 = 0.9;
/// The spread is at least this share of the long-run spread.
const LONG_FLOOR: f64 = 0.5;
/// The long-run spread learns residuals clipped at this many times itself.
const LONG_CLIP: f64 = 10.0;
/// Confidence while learning: starts at this share and reaches 1 after three cycles,
/// quadratically.
const CONFIDENCE_START: f64 = 0.1;
/// Global view: spreads by which the largest distance seen may exceed the expected maximum
/// of as many Gaussian values before the tail is taken to be heavier (the maximum of n
/// Gaussian values has a spread of about half a spread, so 2 is four of those). 2 and 3
/// give the same figures on the labelled data; 1 costs the smooth-cycle series.
const HEAVY_TAIL_ALLOWANCE: f64 = 2.0;
/// Weight per bucket with which the weekly reference follows a re-baselined level.
const REBASE_CATCH_UP: f64 = 0.25;
/// Weight of the short residual average (about five buckets).
const SHORT_WEIGHT: f64 = 1.0 / 3.0;
/// Standard deviation of that average for independent unit residuals: `sqrt(w / (2 - w))`.
const SHORT_IID_SD: f64 = 0.447_213_6;
/// Flag: the last ending of an incident was tentative, and `spare[4]` holds the incident's
/// level rather than the level before it.
const TENTATIVE_END: u32 = 8;
/// Size of the serialized state in bytes.
pub const STATE_BYTES: usize =
    8 * 4 + 4 * 26 + 4 * (DAILY + WEEKLY + SPREAD + HOURLY) + 12 + GLITCH_BYTES + CALIBRATION_BYTES;
/// A series must have carried data for this many buckets, never reaching zero, before a
/// zero is a dead signal (see [`Baseline::dead_signal`]).
const DEAD_MIN_BUCKETS: u32 = 30;
/// Spreads by which zero must sit below the typical value for a zero to be a dead signal.
const DEAD_MIN_Z: f64 = 3.0;
/// A dead signal is kept out of the model for at most this long; then it is the new normal.
const DEAD_MAX_MS: i64 = 7 * DAY_MS;

/// Per-partition time-series model: fixed size, no allocation, deterministic.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    first_time: i64,
    last_time: i64,
    /// Fast deseasonalised level (point prediction).
    level: f64,
    /// Medium deseasonalised level (ramp and dying-signal detection).
    mid: f64,
    /// Slow baseline for `mid`.
    base: f32,
    /// Robust spread of point residuals (mean absolute residual, winsorized).
    scale: f32,
    /// Robust spread of `mid - base`.
    dscale: f32,
    /// Running mean absolute error without seasonality, with daily, with daily + weekly.
    err: [f32; 3],
    /// Share of buckets that carried data (for lost signals).
    presence: f32,
    /// Observations seen.
    n: u32,
    /// Signed length of the current run of large residuals (+ above, - below).
    run: i32,
    /// Buckets left in re-baselining after a mean shift.
    rebase: u32,
    /// Consecutive missing buckets.
    missing: u32,
    /// Which profiles are in use: bit 0 daily, bit 1 weekly.
    flags: u32,
    /// Run bookkeeping: `[0]` largest |z|, `[1]` last deseasonalised value, `[2]` sum of
    /// absolute changes between its values, `[3]` sum of residuals; `[4]` the level before
    /// the last re-baselining.
    spare: [f32; 5],
    daily: [f32; DAILY],
    weekly: [f32; WEEKLY],
    spread: [f32; SPREAD],
    /// Buckets left during which a return to the level before the last re-baselining
    /// (kept in `spare[4]`) is recognised as the end of an incident, not a new anomaly.
    prior_ttl: f32,
    /// Reference level for the weekly profile: a days-long average of the value without
    /// its daily shape, so weekday offsets are not learned against a lagging baseline.
    week_base: f32,
    /// Long-run spread: mean absolute residual over the configured half-life, clipped only
    /// at [`LONG_CLIP`] times itself. A floor for the spread that does not collapse when a
    /// series sits at exactly the same value (often 0) for long stretches between events.
    long_scale: f32,
    /// One-bucket glitches in a smooth series, judged one bucket late.
    glitch: GlitchView,
    /// Minute-of-hour profile (see [`HOURLY`]); its mean is `hourly_sum / HOURLY`, taken off
    /// when read, so it cannot drift against the level.
    hourly: [f32; HOURLY],
    hourly_sum: f32,
    /// Running mean absolute one-step residual without and with the hourly profile.
    hourly_err: [f32; 2],
    /// Largest distance of a value from the days-long average so far (global view).
    global_max: f32,
    /// The level the last re-baselining moved to (an incident stays open while the level
    /// stays near it).
    shifted_to: f32,
    /// Short average of point residuals (in spreads), weight [`SHORT_WEIGHT`].
    short: f32,
    /// Robust spread of `short` (mean absolute value).
    short_scale: f32,
    /// Smallest value seen: a typical value below everything the series has ever done is
    /// not expected of it.
    min_seen: f32,
    /// Consecutive zero buckets of a series that never reached zero before (a dead signal).
    dead: u32,
    /// What this partition's history says a surprise is worth (see [`TailCalibration`]).
    calibration: TailCalibration,
}

/// A calibrated anchored probability above this scores under 25: nothing to report.
const ALERT_FLOOR_P: f64 = 1e-2;

/// A lost signal's observation: the value (or its absence) against what was expected.
fn signal_lost(probability: f64, actual: f64, e: Expected) -> Observation {
    Observation {
        probability,
        actual,
        typical: e.typical,
        lower: e.lower,
        upper: e.upper,
        reason: Reason::SignalLost,
        multi_bucket_impact: 5.0,
    }
}

/// Fractional slot position of `time` in a cycle of `period` split into `n` slots.
#[inline]
fn slot_pos(time: i64, period: i64, n: usize) -> (usize, usize, f64) {
    let within = time.rem_euclid(period) as f64 / period as f64 * n as f64;
    let i = (within.floor() as usize).min(n - 1);
    let frac = within - i as f64;
    (i, (i + 1) % n, frac)
}

#[inline]
fn interp(profile: &[f32], time: i64, period: i64) -> f64 {
    let (i, j, f) = slot_pos(time, period, profile.len());
    profile[i] as f64 * (1.0 - f) + profile[j] as f64 * f
}

/// Sum of the two slots that `time` falls between (what [`learn`] changes).
#[inline]
fn slot_pair_sum(profile: &[f32], time: i64, period: i64) -> f32 {
    let (i, j, _) = slot_pos(time, period, profile.len());
    profile[i] + if j != i { profile[j] } else { 0.0 }
}

#[inline]
fn learn(profile: &mut [f32], time: i64, period: i64, target: f64, gain: f64) {
    let (i, j, f) = slot_pos(time, period, profile.len());
    let gi = gain * (1.0 - f);
    let gj = gain * f;
    profile[i] += (gi * (target - profile[i] as f64)) as f32;
    profile[j] += (gj * (target - profile[j] as f64)) as f32;
}

/// Natural log of the one-sided tail probability of a standardized deviation `z >= 0`.
#[inline]
pub(crate) fn tail_ln(z: f64) -> f64 {
    tail_ln_k(z, TAIL_K)
}

/// [`tail_ln`] with an explicit heaviness: larger `k` is closer to Gaussian.
#[inline]
fn tail_ln_k(z: f64, k: f64) -> f64 {
    if z <= 0.0 {
        return 0.0;
    }
    -0.5 * z * z / (1.0 + z / k)
}

/// Per-bucket forgetting weight for a half-life.
#[inline]
fn decay(span_ms: i64, half_life_ms: i64) -> f64 {
    let x = span_ms.max(1) as f64 / half_life_ms.max(1) as f64 * std::f64::consts::LN_2;
    if x < 0.05 {
        // 1 - e^-x by its series (error below 1e-7 relative): this sits in the hot path.
        x * (1.0 - x * (0.5 - x * (1.0 / 6.0 - x / 24.0)))
    } else {
        1.0 - (-x).exp()
    }
}

/// Buckets in a row beyond the alarm spread (and agreeing with each other) that make a
/// mean shift: at minute resolution (spans under 15 minutes) 5 buckets already show a new
/// level; at coarser spans the shift must last about three hours (5 to 16 buckets), so that
/// an outage of an hour or two is reported as an incident, not absorbed as the new normal.
pub(crate) fn run_limit(span_ms: i64) -> i32 {
    if span_ms < 15 * 60_000 {
        5
    } else {
        ((3 * 3_600_000) / span_ms.max(1)).clamp(5, 16) as i32
    }
}

impl Baseline {
    /// A fresh baseline that knows nothing.
    pub fn new(_cfg: &ModelConfig) -> Self {
        Baseline {
            first_time: i64::MIN,
            last_time: i64::MIN,
            level: 0.0,
            mid: 0.0,
            base: 0.0,
            scale: 0.0,
            dscale: 0.0,
            err: [0.0; 3],
            presence: 1.0,
            n: 0,
            run: 0,
            rebase: 0,
            missing: 0,
            flags: 0,
            spare: [0.0; 5],
            daily: [0.0; DAILY],
            weekly: [0.0; WEEKLY],
            spread: [1.0; SPREAD],
            prior_ttl: 0.0,
            week_base: 0.0,
            long_scale: 0.0,
            glitch: GlitchView::default(),
            hourly: [0.0; HOURLY],
            hourly_sum: 0.0,
            hourly_err: [0.0; 2],
            global_max: 0.0,
            shifted_to: 0.0,
            short: 0.0,
            short_scale: 0.0,
            min_seen: f32::INFINITY,
            dead: 0,
            calibration: TailCalibration::default(),
        }
    }

    /// Number of values learned so far.
    pub fn count(&self) -> u32 {
        self.n
    }

    /// Whether an hourly cycle can be learned at this span (at least 12 buckets an hour).
    #[inline]
    fn hourly_fits(cfg: &ModelConfig) -> bool {
        cfg.bucket_span_ms * 12 <= HOUR_MS && HOUR_MS % cfg.bucket_span_ms.max(1) == 0
    }

    #[inline]
    fn hourly_on(&self, cfg: &ModelConfig) -> bool {
        self.flags & 4 != 0 && Self::hourly_fits(cfg)
    }

    /// The hourly profile at `time`, mean taken off.
    #[inline]
    fn hour_part(&self, time: i64) -> f64 {
        interp(&self.hourly, time, HOUR_MS) - self.hourly_sum as f64 / HOURLY as f64
    }

    #[inline]
    fn daily_on(&self, cfg: &ModelConfig) -> bool {
        self.flags & 1 != 0 && cfg.bucket_span_ms * 4 <= DAY_MS
    }

    #[inline]
    fn weekly_on(&self, cfg: &ModelConfig) -> bool {
        self.flags & 2 != 0 && cfg.bucket_span_ms <= DAY_MS
    }

    /// Seasonal offset at `time` from the profiles in use.
    #[inline]
    fn season(&self, cfg: &ModelConfig, time: i64) -> f64 {
        let mut s = 0.0;
        if self.daily_on(cfg) {
            s += interp(&self.daily, time, DAY_MS);
        }
        if self.weekly_on(cfg) {
            s += self.weekly[Self::dow(time)] as f64;
        }
        if self.hourly_on(cfg) {
            s += self.hour_part(time);
        }
        s
    }

    /// Day of the week index (0 = Thursday, the epoch's weekday; only the cycle matters).
    #[inline]
    fn dow(time: i64) -> usize {
        time.div_euclid(DAY_MS).rem_euclid(7) as usize
    }

    /// The longest period the model can learn at this bucket span.
    fn cycle_ms(cfg: &ModelConfig) -> i64 {
        if cfg.bucket_span_ms * 4 <= DAY_MS {
            DAY_MS
        } else if cfg.bucket_span_ms <= DAY_MS {
            WEEK_MS
        } else {
            cfg.bucket_span_ms * 24
        }
    }

    /// How much the model trusts itself, 0..=1: rises over about three cycles.
    #[inline]
    fn confidence(&self, cfg: &ModelConfig, time: i64) -> f64 {
        if self.n < 8 || self.first_time == i64::MIN {
            return 0.0;
        }
        let cycles = (time - self.first_time) as f64 / Self::cycle_ms(cfg) as f64;
        let by_time = (cycles / 3.0).clamp(0.0, 1.0);
        let by_count = ((self.n as f64 - 8.0) / 64.0).clamp(0.0, 1.0);
        let f = CONFIDENCE_START;
        let c = (f + (1.0 - f) * by_time * by_time).min(by_count.max(f * by_count));
        // Until a whole week and the first weekday again have been seen (the first day's
        // weekday offset is learned against a reference level that is still forming), a
        // weekday/weekend difference cannot be told from an anomaly: 30 % strength. This applies at spans of 15 minutes and more, where a
        // week is at most a few hundred buckets and the first weekend arrives before the
        // daily profile is settled; at minute spans the first week already holds thousands
        // of points and full strength catches more than it costs (docs/quality.md).
        if (15 * 60_000..=DAY_MS).contains(&cfg.bucket_span_ms)
            && time - self.first_time < WEEK_MS + DAY_MS
        {
            c * 0.3
        } else {
            c
        }
    }

    /// The spread of a point residual at `time` for a typical value `typical`.
    #[inline]
    fn sigma(&self, cfg: &ModelConfig, time: i64, typical: f64) -> f64 {
        let (i, _, _) = slot_pos(time, DAY_MS, SPREAD);
        let shape = if self.n > 0 && cfg.bucket_span_ms * 4 <= DAY_MS {
            self.spread[i] as f64
        } else {
            1.0
        };
        // Mean absolute deviation to standard deviation for a normal distribution.
        let learned = self.scale as f64 * SPREAD_PER_MAD * shape;
        let floor = match cfg.kind {
            ValueKind::Count => typical.max(1.0).sqrt(),
            ValueKind::Metric => (typical.abs() * 1e-3).max(1e-9),
        };
        learned.max(floor).max(LONG_FLOOR * self.long_scale as f64)
    }

    /// A typical value no lower than the series can go: 0 for counts, the smallest value
    /// seen for metrics.
    #[inline]
    fn plausible(&self, cfg: &ModelConfig, typical: f64) -> f64 {
        match cfg.kind {
            ValueKind::Count => typical.max(0.0),
            ValueKind::Metric if self.min_seen.is_finite() => typical.max(self.min_seen as f64),
            ValueKind::Metric => typical,
        }
    }

    /// Typical value and 95 % bounds at `time` without learning.
    pub fn expected(&self, cfg: &ModelConfig, time: i64) -> Expected {
        let typical = self.plausible(cfg, self.level + self.season(cfg, time));
        let conf = self.confidence(cfg, time);
        let width = 1.96 * self.sigma(cfg, time, typical) * (1.0 + 2.0 * (1.0 - conf));
        let mut lower = typical - width;
        if cfg.kind == ValueKind::Count {
            lower = lower.max(0.0);
        }
        Expected {
            typical,
            lower,
            upper: typical + width,
        }
    }

    /// Forecast of the value `horizon_buckets` buckets after `time`: the seasonal typical
    /// value with bounds that widen with the square root of the horizon.
    pub fn forecast(&self, cfg: &ModelConfig, time: i64, horizon_buckets: u32) -> Expected {
        let at = time + cfg.bucket_span_ms * horizon_buckets as i64;
        let e = self.expected(cfg, at);
        let grow = (1.0 + horizon_buckets as f64 * ALPHA_FAST * ALPHA_FAST).sqrt();
        let half = (e.upper - e.typical) * grow;
        let mut lower = e.typical - half;
        if cfg.kind == ValueKind::Count {
            lower = lower.max(0.0);
        }
        Expected {
            typical: e.typical,
            lower,
            upper: e.typical + half,
        }
    }

    /// Directional deviation for the configured tail.
    #[inline]
    fn sided(tail: Tail, z: f64) -> f64 {
        match tail {
            Tail::Both => z.abs(),
            Tail::High => z.max(0.0),
            Tail::Low => (-z).max(0.0),
        }
    }

    /// Records that the bucket starting at `time` had no data (for functions where an
    /// empty bucket is not a zero, such as `mean` or `non_zero_count`). Returns an
    /// observation when a series that nearly always reports has gone quiet for long enough
    /// to be unusual (reason [`Reason::SignalLost`]); otherwise `None`.
    pub fn observe_missing(&mut self, cfg: &ModelConfig, time: i64) -> Option<Observation> {
        if self.n == 0 {
            return None;
        }
        self.last_time = self.last_time.max(time);
        self.missing = self.missing.saturating_add(1);
        self.glitch.gap();
        let absent = (1.0 - self.presence as f64).max(1e-3);
        self.presence -=
            (decay(cfg.bucket_span_ms, cfg.half_life_ms).max(0.002) * self.presence as f64) as f32;
        if cfg.tail == Tail::High {
            return None;
        }
        let ln_p = self.missing as f64 * absent.ln() * self.confidence(cfg, time);
        let e = self.expected(cfg, time);
        (ln_p < -4.6).then(|| signal_lost(ln_p.exp().max(1e-300), 0.0, e))
    }

    /// Scores `value` for the bucket starting at `time`, then learns from it.
    ///
    /// The returned probability is on the anchored scale of [`crate::score`] (1e-6 scores
    /// 75) and calibrated on this partition's own history: `p = 100 q²`, where `q` is the
    /// chance per bucket that this partition starts an alert episode at least this unusual
    /// (so 75 is about one episode in 10,000 ordinary buckets, 50 one in 1,000).
    #[inline]
    pub fn observe(&mut self, cfg: &ModelConfig, time: i64, value: f64) -> Observation {
        if !value.is_finite() {
            return self.observe_raw(cfg, time, value);
        }
        if let Some(obs) = self.dead_signal(cfg, time, value) {
            return obs;
        }
        self.calibrated(cfg, time, value)
    }

    /// The model's verdict, calibrated on this partition's history; learns from it.
    fn calibrated(&mut self, cfg: &ModelConfig, time: i64, value: f64) -> Observation {
        let mut obs = self.observe_raw(cfg, time, value);
        let surprise = -obs.probability.ln();
        obs.probability = self.calibration.anchored_chance(surprise);
        self.calibration
            .learn(surprise, decay(cfg.bucket_span_ms, cfg.half_life_ms));
        if obs.probability > ALERT_FLOOR_P {
            obs.reason = Reason::Normal;
        }
        obs
    }

    /// The event floor: a series that has carried data for a while and never reached zero
    /// reads zero, far below its typical value. Such a signal has died (a site gone dark,
    /// a shipper stopped), which is the one alert that must never be missed, learning or
    /// not: it is scored by how long the series had been alive, more certain with every
    /// zero bucket, and kept out of the model (for up to [`DEAD_MAX_MS`]) so the outage is
    /// not learned as the new normal. `None` when the bucket is not such a zero.
    fn dead_signal(&mut self, cfg: &ModelConfig, time: i64, value: f64) -> Option<Observation> {
        let alive = self.n >= DEAD_MIN_BUCKETS && self.min_seen > 0.0 && cfg.tail != Tail::High;
        let dead_for = i64::from(self.dead) * cfg.bucket_span_ms;
        if value != 0.0 || !alive || dead_for >= DEAD_MAX_MS {
            self.dead = 0;
            return None;
        }
        let e = self.expected(cfg, time);
        let sigma = self.sigma(cfg, time, e.typical);
        if e.typical < DEAD_MIN_Z * sigma {
            self.dead = 0;
            return None;
        }
        // The regular verdict, without learning: the floor only ever raises the score.
        let regular = self.clone().calibrated(cfg, time, value);
        self.dead += 1;
        self.last_time = self.last_time.max(time);
        self.glitch.gap();
        // A first zero after n live buckets is about a one-in-n event; each further zero in
        // a row is another.
        let ln_q = f64::from(self.dead) * -(f64::from(self.n.min(1_000_000)) + 1.0).ln();
        let probability = anchored(ln_q).min(regular.probability);
        Some(signal_lost(probability, value, e))
    }

    /// The model's verdict before calibration, then learning.
    #[inline]
    fn observe_raw(&mut self, cfg: &ModelConfig, time: i64, value: f64) -> Observation {
        if !value.is_finite() {
            return self.observe_missing(cfg, time).unwrap_or(Observation {
                probability: 1.0,
                actual: value,
                typical: self.level,
                lower: self.level,
                upper: self.level,
                reason: Reason::Normal,
                multi_bucket_impact: 0.0,
            });
        }
        if self.n == 0 {
            self.first_time = time;
            self.level = value;
            self.mid = value;
            self.base = value as f32;
        }
        let conf = self.confidence(cfg, time);
        let season = self.season(cfg, time);
        self.min_seen = self.min_seen.min(value as f32);
        let typical = self.plausible(cfg, self.level + season);
        let sigma = self.sigma(cfg, time, typical);
        let resid = value - typical;
        let z_against = |typical: f64| match cfg.kind {
            // Counts: Anscombe's square-root transform makes Poisson noise unit-normal even
            // for small means (0 -> 3 on a series averaging 0.1 is not an incident), divided
            // by the learned over-dispersion.
            ValueKind::Count => {
                let dispersion = sigma / typical.max(1.0).sqrt();
                2.0 * ((value.max(0.0) + 0.375).sqrt() - (typical.max(0.0) + 0.375).sqrt())
                    / dispersion
            }
            ValueKind::Metric => (value - typical) / sigma,
        };
        let mut z = z_against(typical);
        // After a re-baselining, a return to the previous level is the incident ending.
        let mut returned = false;
        let mut decisive = false;
        if self.prior_ttl > 0.0 {
            self.prior_ttl -= 1.0;
            // The incident is only still open while the level sits nearer the level it
            // shifted to than halfway back: a series that has since wandered elsewhere has
            // no "before" to return to, and a new excursion is not an ending.
            let prior = self.spare[4] as f64;
            let to = self.shifted_to as f64;
            if !to.is_nan() && (self.level - to).abs() > 0.5 * (prior - to).abs() {
                self.prior_ttl = 0.0;
            }
            if self.prior_ttl <= 0.0 {
                self.flags &= !TENTATIVE_END;
            }
        }
        if self.prior_ttl > 0.0 {
            let zp = z_against(self.spare[4] as f64 + season);
            if zp.abs() < z.abs() {
                returned = zp.abs() < RUN_Z;
                // An ending is certain when the value is nearer the old level by as much
                // as an alarm; a value between the two levels may be noise.
                decisive = z.abs() >= zp.abs() + RUN_Z;
                z = zp;
            }
        }
        let width = 1.96 * sigma * (1.0 + 2.0 * (1.0 - conf));
        let mut lower = typical - width;
        if cfg.kind == ValueKind::Count {
            lower = lower.max(0.0);
        }
        let upper = typical + width;

        // Level view: medium level against the slow baseline, in its own robust spread.
        let intrinsic = sigma * (ALPHA_MID / (2.0 - ALPHA_MID)).sqrt();
        let dscale = (self.dscale as f64 * MAD_TO_SD)
            .max(intrinsic)
            .max(sigma * 0.05);
        let d = self.mid - self.base as f64;

        let ln_point = tail_ln(Self::sided(cfg.tail, z));
        let zl = d / dscale;
        // The level view averages many buckets, so its tail is closer to Gaussian.
        // It judges the level against a day-long baseline, so it waits for a week of data
        // (a weekday/weekend pattern is not a ramp) before it speaks at full strength.
        let ln_level = if self.rebase > 0 {
            0.0
        } else {
            let days = (time - self.first_time) as f64 / DAY_MS as f64;
            let warm = if cfg.bucket_span_ms <= DAY_MS {
                ((days - 1.0) / 6.0).clamp(0.0, 1.0)
            } else {
                1.0
            };
            tail_ln_k(Self::sided(cfg.tail, zl), 2.0 * TAIL_K) * warm
        };

        // Mean-shift run bookkeeping.
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
        let limit = run_limit(cfg.bucket_span_ms);
        // A run is a mean shift when it is long enough and its values agree with each other
        // (a burst of wildly varying values is not a new level).
        let deseason = value - season;
        if self.run.abs() == 1 {
            self.spare[1] = deseason as f32;
            self.spare[2] = 0.0;
            self.spare[3] = resid as f32;
        } else if self.run != 0 {
            self.spare[2] += (deseason - self.spare[1] as f64).abs() as f32;
            self.spare[1] = deseason as f32;
            self.spare[3] += resid as f32;
        }
        let k = self.run.unsigned_abs() as f64;
        let consistent =
            k > 1.0 && (self.spare[2] as f64 / (k - 1.0)) < 0.5 * (self.spare[3] as f64 / k).abs();
        let shifted = self.run.abs() >= limit && consistent;
        // Later buckets of a run are the same event: report it once, on its first bucket,
        // unless a later bucket is more extreme than any before in the run.
        let ln_point = if self.run.abs() > 1 && z.abs() <= self.spare[0] as f64 {
            ln_point / self.run.abs() as f64
        } else {
            ln_point
        };
        self.spare[0] = if self.run == 0 {
            0.0
        } else {
            (self.spare[0] as f64).max(z.abs()) as f32
        };
        // How far a short average of residuals usually strays (in spreads): above the
        // independent-noise value on a series whose residuals come in runs.
        let short = self.short as f64;
        let limit_short = 3.0 * (self.short_scale as f64).max(SHORT_IID_SD / MAD_TO_SD) * MAD_TO_SD;
        let ls_short = decay(cfg.bucket_span_ms, (2 * DAY_MS).min(cfg.half_life_ms))
            .max(1.0 / (self.n as f64 + 1.0));
        self.short += ((clip(z, limit_short * 3.0) - short) * SHORT_WEIGHT) as f32;
        self.short_scale += (ls_short
            * ((self.short as f64).abs().min(limit_short) - self.short_scale as f64))
            as f32;
        // A confirmed shift is reported with the evidence of its whole run: k buckets that
        // agree on a new level are far less likely together than any one of them. Their
        // mean residual is widened by how much more the short average strays than it would
        // for independent noise (`short_scale`), so a series whose residuals come in runs
        // is not over-reported.
        let ln_shift = if shifted && !returned {
            let k = self.run.abs() as f64;
            let wander = (self.short_scale as f64 * MAD_TO_SD / SHORT_IID_SD).max(1.0);
            let z_run = self.spare[3] as f64 / k / sigma * k.sqrt() / wander;
            tail_ln_k(Self::sided(cfg.tail, z_run), 2.0 * TAIL_K)
        } else {
            0.0
        };
        let shift_reported = ln_shift < ln_point;
        let ln_point = ln_point.min(ln_shift);

        let (ln_p, reason, impact) = if ln_point <= ln_level {
            let reason = if ln_point > -4.6 {
                Reason::Normal
            } else if shift_reported {
                if self.run > 0 {
                    Reason::MeanShiftUp
                } else {
                    Reason::MeanShiftDown
                }
            } else if self.run.abs() > 1 {
                Reason::MultiBucket
            } else if z > 0.0 {
                Reason::Spike
            } else {
                Reason::Dip
            };
            let impact = if ln_point < 0.0 {
                -5.0 * (1.0 - ln_level / ln_point).clamp(0.0, 1.0)
            } else {
                0.0
            };
            (ln_point, reason, impact)
        } else {
            let ramp = z.abs() < RUN_Z;
            let reason = if ln_level > -4.6 {
                Reason::Normal
            } else if cfg.kind == ValueKind::Count
                && value <= 0.0
                && self.mid < 0.5 * self.base as f64
            {
                Reason::SignalLost
            } else {
                match (zl > 0.0, ramp) {
                    (true, true) => Reason::RampUp,
                    (false, true) => Reason::RampDown,
                    (true, false) => Reason::MeanShiftUp,
                    (false, false) => Reason::MeanShiftDown,
                }
            };
            let impact = 5.0 * (1.0 - ln_point / ln_level).clamp(0.0, 1.0);
            (ln_level, reason, impact)
        };
        let ln_p = ln_p * conf;
        // Global view, while the seasonal model is still learning: a value far outside
        // everything seen so far (its distance from the days-long average, in the mean
        // absolute distance of all values from it) needs no learned cycle to be unusual.
        let ln_global = if conf < 1.0
            && cfg.bucket_span_ms <= DAY_MS
            && time - self.first_time >= DAY_MS
            && self.err[0] > 0.0
        {
            let mean = self.week_base as f64;
            let dev = value - mean;
            // The spread of all values so far, widened when the largest distance seen is far
            // beyond the largest of n Gaussian values (about sqrt(2 ln n) spreads): a series
            // with a heavy tail of spikes has seen spikes, so one more is only as unusual as
            // its distance beyond them says.
            let gaussian_max = (2.0 * (self.n as f64 + 1.0).ln()).sqrt();
            let tail_spread = self.global_max as f64 / (gaussian_max + HEAVY_TAIL_ALLOWANCE);
            let spread = (self.err[0] as f64 * MAD_TO_SD).max(sigma).max(tail_spread);
            let zg = match cfg.kind {
                // On the square-root scale, as the point view (small counts stay calm).
                ValueKind::Count => {
                    let dispersion = (spread / mean.max(1.0).sqrt()).max(1.0);
                    2.0 * ((value.max(0.0) + 0.375).sqrt() - (mean.max(0.0) + 0.375).sqrt())
                        / dispersion
                }
                ValueKind::Metric => dev / spread,
            };
            if dev.abs() > self.global_max as f64 {
                (tail_ln(Self::sided(cfg.tail, zg)) + LN_2).min(0.0)
            } else {
                0.0
            }
        } else {
            0.0
        };
        if self.n > 0 {
            self.global_max = self
                .global_max
                .max((value - self.week_base as f64).abs() as f32);
        }
        let (ln_p, reason) = if ln_global < ln_p {
            (
                ln_global,
                if value >= typical {
                    Reason::Spike
                } else {
                    Reason::Dip
                },
            )
        } else {
            (ln_p, reason)
        };
        let adjacent = self.n > 0 && time - self.last_time == cfg.bucket_span_ms;
        let glitch = self.glitch.judge(cfg.kind, adjacent, value);
        // Two views looked: the glitch view pays for the second look (Bonferroni, ×2).
        let ln_glitch =
            ((tail_ln(Self::sided(cfg.tail, glitch.signed_z())) + LN_2) * conf).min(0.0);
        self.glitch.learn(cfg.kind, adjacent, value);
        let reason = if ln_p > -4.6 { Reason::Normal } else { reason };
        let level_fired = ln_level < -13.8 && ln_level < ln_point;
        // A ramp or shift seen by the level view is reported against the level it departs
        // from (the slow baseline), not against the fast level that has partly followed it.
        let (typical, lower, upper) = if matches!(
            reason,
            Reason::RampUp | Reason::RampDown | Reason::MeanShiftUp | Reason::MeanShiftDown
        ) && ln_level < ln_point
        {
            let from = self.plausible(cfg, self.base as f64 + season);
            let lo = from - (typical - lower);
            let lo = if cfg.kind == ValueKind::Count {
                lo.max(0.0)
            } else {
                lo
            };
            (from, lo, from + (upper - typical))
        } else {
            (typical, lower, upper)
        };
        let obs = if ln_glitch < ln_p && ln_glitch < -4.6 && ln_glitch < self.glitch.reported() {
            // Reported on this bucket, about the previous one (see `glitch`).
            Observation {
                probability: ln_glitch.exp().max(1e-300),
                actual: glitch.value,
                typical: glitch.typical,
                lower: glitch.typical - (typical - lower),
                upper: glitch.typical + (upper - typical),
                reason: Reason::Glitch,
                multi_bucket_impact: -5.0,
            }
        } else {
            Observation {
                probability: ln_p.exp().max(1e-300),
                actual: value,
                typical,
                lower,
                upper,
                reason,
                multi_bucket_impact: impact,
            }
        };

        self.glitch.set_reported(obs.probability.ln());
        if returned {
            let prior = self.spare[4] as f64;
            let left = self.base;
            self.level = prior;
            self.mid = prior;
            self.base = prior as f32;
            let after_tentative = self.flags & TENTATIVE_END != 0;
            if decisive && !after_tentative {
                self.prior_ttl = 0.0;
            } else {
                // The two levels swap: the one just left is remembered.
                // - A tentative ending: the incident's level stays in memory for a few
                //   buckets, so noise that touched the old level does not end an incident
                //   that the next bucket shows is still going on (and report it again).
                // - Back at the incident's level after a tentative ending: the same
                //   incident goes on, and the level before it is remembered again.
                self.flags ^= TENTATIVE_END;
                self.spare[4] = left;
                self.shifted_to = prior as f32;
                self.prior_ttl = if after_tentative {
                    Self::prior_memory(cfg)
                } else {
                    run_limit(cfg.bucket_span_ms) as f32
                };
            }
            // A short re-baselining back to the old level (the weekly reference catches up).
            self.rebase = run_limit(cfg.bucket_span_ms) as u32;
            self.run = 0;
        }
        // The level of the last few buckets: the fast level plus their average residual.
        let recent = self.level + self.short as f64 * sigma;
        self.learn(cfg, time, value, season, sigma, z, shifted && !returned);
        if level_fired && !shifted && !returned {
            // A ramp or shift reported by the level view: report once, then re-baseline.
            self.remember_prior(cfg);
            // The slower levels lag behind a step or a ramp: move them onto where the last
            // buckets sit, as for a shift the point view confirms, so that the lag is not
            // reported again as the same change.
            self.level = recent;
            self.mid = recent;
            self.base = recent as f32;
            // The new level is only as certain as the few buckets it was taken from (an
            // average of about five: 0.45 spreads), so the level view does not report that
            // error as a change of its own.
            self.dscale = self.dscale.max((SHORT_IID_SD * sigma / MAD_TO_SD) as f32);
            // A step (this bucket is far from the fast level too) is judged ended by a
            // return from its new level; a ramp keeps moving after it is reported, so its
            // end is judged by the prior alone.
            let step = z.abs() >= RUN_Z;
            self.shifted_to = if step { recent as f32 } else { f32::NAN };
            // Like a confirmed shift, a step's new level is a few buckets' average: the slow
            // baseline follows the medium level until that has settled.
            self.rebase = run_limit(cfg.bucket_span_ms) as u32 * if step { 2 } else { 1 };
        }
        obs
    }

    /// Keeps the current baseline as the level to recognise a return to, for two days.
    fn remember_prior(&mut self, cfg: &ModelConfig) {
        if self.prior_ttl <= 0.0 || self.flags & TENTATIVE_END != 0 {
            self.spare[4] = self.base;
            self.flags &= !TENTATIVE_END;
        }
        self.prior_ttl = Self::prior_memory(cfg);
    }

    /// Buckets for which the level before an incident is remembered: two days.
    fn prior_memory(cfg: &ModelConfig) -> f32 {
        (2 * DAY_MS / cfg.bucket_span_ms.max(1)) as f32
    }

    /// Updates the state with a value already scored.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn learn(
        &mut self,
        cfg: &ModelConfig,
        time: i64,
        value: f64,
        season: f64,
        sigma: f64,
        z: f64,
        shifted: bool,
    ) {
        let lambda = decay(cfg.bucket_span_ms, cfg.half_life_ms);
        let n = self.n as f64;
        let early = 1.0 / (n + 1.0);
        let deseason = value - season;
        let winsor = WINSOR * sigma;
        let prev_level = self.level;

        if shifted {
            // Mean shift: re-baseline on the new level, reported once (the run's first bucket).
            self.remember_prior(cfg);
            self.shifted_to = deseason as f32;
            self.level = deseason;
            self.mid = deseason;
            self.base = deseason as f32;
            self.run = 0;
            self.rebase = run_limit(cfg.bucket_span_ms) as u32 * 2;
        } else {
            // An isolated outlier (first bucket of a run) does not move the level at all;
            // a run that persists is learned, winsorized, until it becomes a mean shift.
            let a = if self.run.abs() == 1 && self.n > 8 {
                0.0
            } else {
                ALPHA_FAST.max(early)
            };
            let r = clip(deseason - self.level, winsor);
            self.level += a * r;
            let am = ALPHA_MID.max(early);
            let rm = clip(deseason - self.mid, winsor);
            self.mid += am * rm;
        }

        // Slow baseline of the medium level: half-life of a day's worth of buckets, at most
        // the configured half-life; during re-baselining it follows the new level.
        let lb = decay(cfg.bucket_span_ms, (DAY_MS).min(cfg.half_life_ms)).max(early);
        let d = self.mid - self.base as f64;
        let dclip = WINSOR * (self.dscale as f64 * MAD_TO_SD).max(sigma * 0.05);
        if self.rebase > 0 {
            self.rebase -= 1;
            self.base = self.mid as f32;
        } else {
            self.base += (lb * clip(d, dclip)) as f32;
        }
        let ld = decay(cfg.bucket_span_ms, (2 * DAY_MS).min(cfg.half_life_ms)).max(early);
        let ad = d.abs().min(dclip.max(1e-300));
        self.dscale += (ld * (ad - self.dscale as f64)) as f32;

        // Spread: mean absolute residual against the previous level, winsorized.
        let ls = decay(cfg.bucket_span_ms, (2 * DAY_MS).min(cfg.half_life_ms))
            .max(early)
            .max(lambda);
        let resid = (value - (prev_level + season)).abs();
        let shape_i = slot_pos(time, DAY_MS, SPREAD).0;
        let shape = self.spread[shape_i] as f64;
        let cap = if self.n < 4 { f64::INFINITY } else { winsor };
        let ar = resid.min(cap);
        let long = self.long_scale as f64;
        // Unclipped while it knows nothing (a series that starts at exactly 0 has no spread
        // to clip against).
        let lr = if self.n < 4 || long <= 0.0 {
            resid
        } else {
            resid.min(LONG_CLIP * long)
        };
        self.long_scale += (lambda.max(early) * (lr - long)) as f32;
        self.scale += (ls * (ar / shape.max(0.05) - self.scale as f64)) as f32;
        if cfg.bucket_span_ms * 4 <= DAY_MS && self.scale > 0.0 && self.n >= 4 {
            let gain = (lambda * SPREAD as f64).max(early * 4.0).min(0.5);
            let target = (ar / (self.scale as f64 * shape.max(0.05))).min(WINSOR * 2.0) * shape;
            let s = &mut self.spread[shape_i];
            *s += (gain * (target - *s as f64)) as f32;
            *s = s.clamp(0.2, 5.0);
        }

        // Seasonal profiles: learn the value's deviation from the slow baseline (so the fast
        // level does not absorb the cycle), winsorized; track which profiles help.
        if cfg.bucket_span_ms <= DAY_MS {
            let day_part = interp(&self.daily, time, DAY_MS);
            let week_part = self.weekly[Self::dow(time)] as f64;
            let used_day = if self.daily_on(cfg) { day_part } else { 0.0 };
            let used_week = if self.weekly_on(cfg) { week_part } else { 0.0 };
            let x = prev_level + clip(deseason - prev_level, winsor) + used_day + used_week;
            if self.n == 0 {
                self.week_base = (x - day_part) as f32;
            }
            // Profiles are learned, and judged, against a days-long average of the value.
            let base_level = self.week_base as f64;
            let undeseason = x;
            let e0 = (undeseason - base_level).abs();
            let e1 = (undeseason - base_level - day_part).abs();
            let e2 = (undeseason - base_level - day_part - week_part).abs();
            let le = decay(cfg.bucket_span_ms, WEEK_MS.min(cfg.half_life_ms)).max(early);
            for (acc, e) in self.err.iter_mut().zip([e0, e1, e2]) {
                *acc += (le * (e - *acc as f64)) as f32;
            }
            let days = (time - self.first_time) as f64 / DAY_MS as f64;
            // Each daily slot sees 1/DAILY of the buckets; learn fast during the first cycles.
            let per_slot = (DAY_MS as f64 / cfg.bucket_span_ms as f64 / DAILY as f64).max(1.0);
            let g_day = (lambda * DAILY as f64)
                .max(1.0 / (days + 1.0) / per_slot)
                .min(1.0);
            // Like the weekday offsets below, the daily shape waits while the model
            // re-baselines: a shift is not a time-of-day effect.
            if cfg.bucket_span_ms * 4 <= DAY_MS && self.rebase == 0 {
                learn(
                    &mut self.daily,
                    time,
                    DAY_MS,
                    undeseason - base_level - week_part,
                    g_day,
                );
            }
            // A running mean of each weekday's offset over the visits so far (the first
            // Saturday is learned in full), then exponential forgetting.
            let visits = ((time - self.first_time) / WEEK_MS) as f64;
            let per_wslot = (DAY_MS / cfg.bucket_span_ms.max(1)).max(1) as f64;
            let within = (time.rem_euclid(DAY_MS) / cfg.bucket_span_ms.max(1)) as f64;
            let g_week = (lambda * WEEKLY as f64)
                .max(1.0 / (visits * per_wslot + within + 1.0))
                .min(1.0);
            let day_now = if cfg.bucket_span_ms * 4 <= DAY_MS {
                interp(&self.daily, time, DAY_MS)
            } else {
                0.0
            };
            // While re-baselining after a shift (or a return), the reference catches up fast
            // and the weekday offsets wait: a shift is not a weekday effect. (Moving the
            // reference by each shift instead ratcheted it on a sawtooth, whose jumps are
            // sudden but whose declines are gradual: typical went to 5× the value.)
            let gb = if self.rebase > 0 {
                REBASE_CATCH_UP
            } else {
                decay(cfg.bucket_span_ms, 3 * DAY_MS).max(early)
            };
            self.week_base += (gb * (undeseason - day_now - self.week_base as f64)) as f32;
            if self.rebase == 0 {
                let w = &mut self.weekly[Self::dow(time)];
                *w += (g_week * (undeseason - self.week_base as f64 - day_now - *w as f64)) as f32;
            }
            // Offsets average to zero, so the profile cannot drift against the level.
            let mean = self.weekly.iter().map(|v| *v as f64).sum::<f64>() / WEEKLY as f64;
            for v in self.weekly.iter_mut() {
                *v -= mean as f32;
            }

            // Hourly profile: the one-step residual left by the level and the slower
            // profiles, winsorized, learned per minute of the hour; judged by whether it
            // shrinks that residual.
            let hour_part = self.hour_part(time);
            let used_hour = if self.hourly_on(cfg) { hour_part } else { 0.0 };
            if Self::hourly_fits(cfg) {
                let hclip = winsor + used_hour.abs();
                let rh = clip(value - (prev_level + used_day + used_week), hclip);
                let lh = decay(cfg.bucket_span_ms, DAY_MS.min(cfg.half_life_ms)).max(early);
                for (acc, e) in self.hourly_err.iter_mut().zip([rh, rh - hour_part]) {
                    *acc += (lh * (e.abs() - *acc as f64)) as f32;
                }
                let hours = (time - self.first_time) as f64 / HOUR_MS as f64;
                let gain = HOURLY_GAIN.max(1.0 / (hours + 1.0));
                let before: f32 = slot_pair_sum(&self.hourly, time, HOUR_MS);
                learn(
                    &mut self.hourly,
                    time,
                    HOUR_MS,
                    rh + self.hourly_sum as f64 / HOURLY as f64,
                    gain,
                );
                self.hourly_sum += slot_pair_sum(&self.hourly, time, HOUR_MS) - before;
            }

            // Switch profiles on (or off) when they clearly help (or stop helping).
            let was = (self.daily_on(cfg), self.weekly_on(cfg), self.hourly_on(cfg));
            let mut flags = self.flags;
            if days >= 1.0 {
                let better = self.err[1] < 0.9 * self.err[0];
                let worse = self.err[1] > 0.98 * self.err[0];
                if better {
                    flags |= 1;
                } else if worse {
                    flags &= !1;
                }
            }
            if days >= 7.0 {
                let better = self.err[2] < 0.95 * self.err[1];
                let worse = self.err[2] > 0.98 * self.err[1];
                if better {
                    flags |= 2;
                } else if worse {
                    flags &= !2;
                }
            }
            if Self::hourly_fits(cfg) && days >= 1.0 {
                let [without, with] = self.hourly_err;
                if with < 0.9 * without {
                    flags |= 4;
                } else if with > 0.98 * without {
                    flags &= !4;
                }
            }
            self.flags = flags;
            let now = (self.daily_on(cfg), self.weekly_on(cfg), self.hourly_on(cfg));
            // Keep the fitted value continuous when a profile switches.
            let delta = |on: bool, off: bool, v: f64| {
                if on && !off {
                    -v
                } else if off && !on {
                    v
                } else {
                    0.0
                }
            };
            let adj = delta(now.0, was.0, interp(&self.daily, time, DAY_MS))
                + delta(now.1, was.1, self.weekly[Self::dow(time)] as f64)
                + delta(now.2, was.2, self.hour_part(time));
            if adj != 0.0 {
                self.level += adj;
                self.mid += adj;
                self.base += adj as f32;
            }
        }
        let _ = z;
        self.presence += (lambda.max(0.002) * (1.0 - self.presence as f64)) as f32;
        self.missing = 0;
        self.n = self.n.saturating_add(1);
        self.last_time = time;
    }

    /// The state as bytes (little-endian, fixed length [`STATE_BYTES`]), for snapshots.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STATE_BYTES);
        out.extend_from_slice(&self.first_time.to_le_bytes());
        out.extend_from_slice(&self.last_time.to_le_bytes());
        out.extend_from_slice(&self.level.to_le_bytes());
        out.extend_from_slice(&self.mid.to_le_bytes());
        for v in [
            self.base,
            self.scale,
            self.dscale,
            self.err[0],
            self.err[1],
            self.err[2],
            self.presence,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.n.to_le_bytes());
        out.extend_from_slice(&self.run.to_le_bytes());
        out.extend_from_slice(&self.rebase.to_le_bytes());
        out.extend_from_slice(&self.missing.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        for v in self
            .spare
            .iter()
            .chain(&self.daily)
            .chain(&self.weekly)
            .chain(&self.spread)
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.prior_ttl.to_le_bytes());
        out.extend_from_slice(&self.week_base.to_le_bytes());
        out.extend_from_slice(&self.long_scale.to_le_bytes());
        self.glitch.write(&mut out);
        for v in self
            .hourly
            .iter()
            .chain([&self.hourly_sum])
            .chain(&self.hourly_err)
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.global_max.to_le_bytes());
        out.extend_from_slice(&self.shifted_to.to_le_bytes());
        out.extend_from_slice(&self.short.to_le_bytes());
        out.extend_from_slice(&self.short_scale.to_le_bytes());
        out.extend_from_slice(&self.min_seen.to_le_bytes());
        out.extend_from_slice(&self.dead.to_le_bytes());
        self.calibration.write(&mut out);
        debug_assert_eq!(out.len(), STATE_BYTES);
        out
    }

    /// Restores a state written by [`Baseline::to_bytes`]; `None` if the length is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != STATE_BYTES {
            return None;
        }
        let mut at = 0usize;
        let mut take = |n: usize| {
            let s = &bytes[at..at + n];
            at += n;
            s
        };
        let i64_ = |s: &[u8]| i64::from_le_bytes(s.try_into().unwrap_or([0; 8]));
        let f64_ = |s: &[u8]| f64::from_le_bytes(s.try_into().unwrap_or([0; 8]));
        let f32_ = |s: &[u8]| f32::from_le_bytes(s.try_into().unwrap_or([0; 4]));
        let u32_ = |s: &[u8]| u32::from_le_bytes(s.try_into().unwrap_or([0; 4]));
        let mut b = Baseline::new(&ModelConfig {
            bucket_span_ms: 1,
            kind: ValueKind::Metric,
            tail: Tail::Both,
            half_life_ms: 1,
        });
        b.first_time = i64_(take(8));
        b.last_time = i64_(take(8));
        b.level = f64_(take(8));
        b.mid = f64_(take(8));
        b.base = f32_(take(4));
        b.scale = f32_(take(4));
        b.dscale = f32_(take(4));
        for i in 0..3 {
            b.err[i] = f32_(take(4));
        }
        b.presence = f32_(take(4));
        b.n = u32_(take(4));
        b.run = u32_(take(4)) as i32;
        b.rebase = u32_(take(4));
        b.missing = u32_(take(4));
        b.flags = u32_(take(4));
        for v in b
            .spare
            .iter_mut()
            .chain(b.daily.iter_mut())
            .chain(b.weekly.iter_mut())
            .chain(b.spread.iter_mut())
        {
            *v = f32_(take(4));
        }
        b.prior_ttl = f32_(take(4));
        b.week_base = f32_(take(4));
        b.long_scale = f32_(take(4));
        b.glitch = GlitchView::read(take(GLITCH_BYTES))?;
        for v in b.hourly.iter_mut() {
            *v = f32_(take(4));
        }
        b.hourly_sum = f32_(take(4));
        for v in b.hourly_err.iter_mut() {
            *v = f32_(take(4));
        }
        b.global_max = f32_(take(4));
        b.shifted_to = f32_(take(4));
        b.short = f32_(take(4));
        b.short_scale = f32_(take(4));
        b.min_seen = f32_(take(4));
        b.dead = u32_(take(4));
        b.calibration = TailCalibration::read(take(CALIBRATION_BYTES))?;
        Some(b)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::score::probability_to_score;

    /// Small deterministic generator for synthetic series.
    pub(crate) struct Rng(u64);
    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }
        pub(crate) fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        pub(crate) fn normal(&mut self) -> f64 {
            let u = self.uniform().max(1e-12);
            let v = self.uniform();
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
        pub(crate) fn poisson(&mut self, mean: f64) -> f64 {
            if mean > 50.0 {
                return (mean + mean.sqrt() * self.normal()).round().max(0.0);
            }
            let l = (-mean).exp();
            let mut k = 0.0;
            let mut p = 1.0;
            loop {
                p *= self.uniform();
                if p <= l {
                    return k;
                }
                k += 1.0;
            }
        }
    }

    pub(crate) const M15: i64 = 15 * 60_000;
    const HOUR: i64 = 3_600_000;

    pub(crate) fn count_cfg(tail: Tail) -> ModelConfig {
        ModelConfig {
            bucket_span_ms: M15,
            kind: ValueKind::Count,
            tail,
            half_life_ms: 14 * DAY_MS,
        }
    }

    fn metric_cfg(tail: Tail) -> ModelConfig {
        ModelConfig {
            bucket_span_ms: M15,
            kind: ValueKind::Metric,
            tail,
            half_life_ms: 14 * DAY_MS,
        }
    }

    fn hourly_metric_cfg() -> ModelConfig {
        ModelConfig {
            bucket_span_ms: HOUR,
            ..metric_cfg(Tail::Both)
        }
    }

    /// Hourly crash counts around 10 (never below 1), with six-hour incidents in the
    /// thousands starting at the given hours.
    fn crash_count(rng: &mut Rng, hour: i64, incidents: &[i64]) -> f64 {
        if incidents.iter().any(|s| (*s..s + 6).contains(&hour)) {
            2000.0 + 200.0 * rng.normal()
        } else {
            (10.0 + 4.0 * rng.normal()).round().max(1.0)
        }
    }

    /// Daily cycle (peak mid-afternoon) and quieter weekends, like web traffic.
    pub(crate) fn traffic(t: i64, mean: f64) -> f64 {
        let hour = (t.rem_euclid(DAY_MS)) as f64 / HOUR as f64;
        let daily = 1.0 + 0.6 * ((hour - 9.0) / 24.0 * 2.0 * std::f64::consts::PI).sin();
        let dow = (t.div_euclid(DAY_MS) + 4).rem_euclid(7); // 0 = Sunday
        let weekly = if dow == 0 || dow == 6 { 0.6 } else { 1.0 };
        mean * daily * weekly
    }

    fn score(o: &Observation) -> f64 {
        probability_to_score(o.probability)
    }

    /// Runs `days` of 15-minute traffic counts through a baseline; returns the max score.
    fn run_traffic(
        b: &mut Baseline,
        cfg: &ModelConfig,
        rng: &mut Rng,
        from_day: i64,
        days: i64,
        mean: f64,
    ) -> f64 {
        let mut worst: f64 = 0.0;
        for i in 0..days * 96 {
            let t = from_day * DAY_MS + i * M15;
            let o = b.observe(cfg, t, rng.poisson(traffic(t, mean)));
            worst = worst.max(score(&o));
        }
        worst
    }

    #[test]
    fn state_is_small_serializable_and_deterministic() {
        let cfg = count_cfg(Tail::Both);
        assert!(
            std::mem::size_of::<Baseline>() <= 1024,
            "{}",
            std::mem::size_of::<Baseline>()
        );
        const { assert!(STATE_BYTES <= 1024) };
        let mut a = Baseline::new(&cfg);
        let mut rng = Rng::new(1);
        run_traffic(&mut a, &cfg, &mut rng, 0, 5, 200.0);
        let bytes = a.to_bytes();
        assert_eq!(bytes.len(), STATE_BYTES);
        let mut b = Baseline::from_bytes(&bytes).unwrap();
        assert_eq!(a, b);
        assert!(Baseline::from_bytes(&bytes[1..]).is_none());
        let mut r1 = Rng::new(2);
        let mut r2 = Rng::new(2);
        for i in 0..500 {
            let t = 5 * DAY_MS + i * M15;
            let oa = a.observe(&cfg, t, r1.poisson(traffic(t, 200.0)));
            let ob = b.observe(&cfg, t, r2.poisson(traffic(t, 200.0)));
            assert_eq!(oa.probability.to_bits(), ob.probability.to_bits());
        }
        assert_eq!(a.to_bytes(), b.to_bytes());
    }

    #[test]
    fn spike_is_flagged_and_leaves_the_baseline_within_a_few_percent() {
        let cfg = count_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(3);
        run_traffic(&mut b, &cfg, &mut rng, 0, 7, 200.0);
        let t = 7 * DAY_MS + 14 * HOUR;
        let before = b.expected(&cfg, t + M15);
        let o = b.observe(&cfg, t, 20.0 * traffic(t, 200.0));
        assert!(score(&o) >= 75.0, "spike scored {}", score(&o));
        assert_eq!(o.reason, Reason::Spike);
        let after = b.expected(&cfg, t + M15);
        let moved = (after.typical - before.typical).abs() / before.typical;
        let widened = (after.upper - after.typical) / (before.upper - before.typical);
        assert!(moved < 0.05, "typical moved {moved}");
        assert!(widened < 1.05, "spread widened {widened}");
    }

    #[test]
    fn daily_and_weekly_cycles_are_learned_after_three_cycles() {
        let cfg = count_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(4);
        run_traffic(&mut b, &cfg, &mut rng, 0, 21, 300.0);
        assert!(b.daily_on(&cfg), "daily cycle detected");
        let worst = run_traffic(&mut b, &cfg, &mut rng, 21, 7, 300.0);
        assert!(
            worst < 50.0,
            "a normal week (peaks, weekend) scored {worst}"
        );
        // The peak hour is typical, not an anomaly: typical tracks the cycle.
        let peak = 28 * DAY_MS + 15 * HOUR;
        let e = b.expected(&cfg, peak);
        let want = traffic(peak, 300.0);
        assert!(
            (e.typical - want).abs() / want < 0.1,
            "typical {} vs {want}",
            e.typical
        );
    }

    #[test]
    fn no_cycle_is_not_assumed() {
        let cfg = metric_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(5);
        for i in 0..14 * 96 {
            b.observe(&cfg, i * M15, 50.0 + rng.normal());
        }
        assert!(!b.daily_on(&cfg) && !b.weekly_on(&cfg), "flags {}", b.flags);
    }

    #[test]
    fn early_scores_are_weak_and_bounds_narrow_as_it_learns() {
        let cfg = count_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(6);
        let mut widths = Vec::new();
        for day in 0..4 {
            run_traffic(&mut b, &cfg, &mut rng, day, 1, 100.0);
            let e = b.expected(&cfg, (day + 1) * DAY_MS + 12 * HOUR);
            widths.push((e.upper - e.lower) / e.typical);
        }
        assert!(widths[0] > widths[3] * 1.3, "{widths:?}");
        let mut young = Baseline::new(&cfg);
        for i in 0..40 {
            young.observe(&cfg, i * M15, 100.0 + (i % 3) as f64);
        }
        let o = young.observe(&cfg, 40 * M15, 130.0);
        assert!(score(&o) < 50.0, "a young model scored {}", score(&o));
    }

    #[test]
    fn level_shift_is_flagged_once_then_absorbed() {
        let cfg = metric_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(7);
        let mut t = 0;
        for _ in 0..5 * 96 {
            b.observe(&cfg, t, 100.0 + 2.0 * rng.normal());
            t += M15;
        }
        let mut scores = Vec::new();
        let mut reasons = Vec::new();
        for _ in 0..4 * 96 {
            let o = b.observe(&cfg, t, 130.0 + 2.0 * rng.normal());
            scores.push(score(&o));
            reasons.push(o.reason);
            t += M15;
        }
        assert!(scores[0] >= 75.0, "shift start scored {}", scores[0]);
        let high = scores.iter().filter(|s| **s >= 50.0).count();
        assert!(
            high <= run_limit(M15) as usize,
            "{high} buckets >= 50 for one shift"
        );
        assert!(
            scores[96..].iter().all(|s| *s < 50.0),
            "absorbed after a day: {:?}",
            scores
                .iter()
                .enumerate()
                .filter(|(_, s)| **s >= 50.0)
                .map(|(i, s)| (i, *s as i32, reasons[i]))
                .collect::<Vec<_>>()
        );
        assert!(reasons
            .iter()
            .any(|r| *r == Reason::MeanShiftUp || *r == Reason::MultiBucket));
    }

    #[test]
    fn a_modest_shift_is_reported_once_though_noise_touches_the_old_level() {
        // A shift of five spreads: now and then noise brings a bucket back near the old
        // level. That is not the incident ending and the shift starting again.
        let cfg = metric_cfg(Tail::Both);
        for seed in 1..=5 {
            let mut b = Baseline::new(&cfg);
            let mut rng = Rng::new(seed);
            let mut t = 0;
            for _ in 0..8 * 96 {
                b.observe(&cfg, t, 100.0 + 2.0 * rng.normal());
                t += M15;
            }
            let mut late = Vec::new();
            for i in 0..2 * 96 {
                let o = b.observe(&cfg, t, 110.0 + 2.0 * rng.normal());
                if i > 2 * run_limit(M15) as usize && score(&o) >= 50.0 {
                    late.push((i, score(&o) as i32, o.reason));
                }
                t += M15;
            }
            assert!(late.is_empty(), "seed {seed}: reported again: {late:?}");
        }
    }

    #[test]
    fn typical_never_sits_below_everything_the_series_has_done() {
        // Hourly crash counts around 10 (never below 1), with a few six-hour incidents in
        // the thousands: the profiles learn around the incidents, but a typical value below
        // the series' smallest value would make any ordinary bucket look like a spike.
        let cfg = hourly_metric_cfg();
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(11);
        let mut lowest = f64::INFINITY;
        for i in 0..30 * 24 {
            let v = crash_count(&mut rng, i, &[100, 230, 400]);
            let o = b.observe(&cfg, i * HOUR, v);
            if i > 0 {
                assert!(
                    o.typical >= lowest,
                    "bucket {i}: typical {} < {lowest}",
                    o.typical
                );
            }
            lowest = lowest.min(v);
        }
    }

    #[test]
    fn incidents_do_not_become_part_of_the_daily_shape() {
        // Hourly crash counts around 10 with six-hour incidents in the thousands at five
        // different hours of a month: no hour of the day is different from another, so a
        // week after the last incident the typical value is the usual one at every hour.
        // (Learning the profile while re-baselining onto each incident left the level at
        // 240 and the profile at -230 around the hours of the incidents.)
        let cfg = hourly_metric_cfg();
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(12);
        let starts = [
            4 * 24 + 3,
            9 * 24 + 13,
            12 * 24 + 5,
            17 * 24 + 20,
            23 * 24 + 8,
        ];
        let mut worst: (f64, i64) = (0.0, 0);
        for i in 0..35 * 24 {
            let v = crash_count(&mut rng, i, &starts);
            let o = b.observe(&cfg, i * HOUR, v);
            // A week after the last incident: every weekday has been seen since.
            if i >= 31 * 24 && (o.typical - 10.0).abs() > worst.0 {
                worst = ((o.typical - 10.0).abs(), i);
            }
        }
        assert!(
            worst.0 < 10.0,
            "typical off by {:.0} at hour {} (weekly profile on: {})",
            worst.0,
            worst.1,
            b.weekly_on(&cfg)
        );
    }

    #[test]
    fn slow_ramp_is_flagged() {
        let cfg = count_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(8);
        run_traffic(&mut b, &cfg, &mut rng, 0, 8, 40.0);
        let mut worst: f64 = 0.0;
        let mut reason = Reason::Normal;
        let mut reported = 0;
        for i in 0..96 {
            let t = 8 * DAY_MS + i * M15;
            // Rises steadily to four times normal over a day.
            let mean = traffic(t, 40.0) * (1.0 + 3.0 * i as f64 / 96.0);
            let o = b.observe(&cfg, t, rng.poisson(mean));
            if score(&o) > worst {
                worst = score(&o);
                reason = o.reason;
            }
            if matches!(o.reason, Reason::RampUp | Reason::MeanShiftUp) {
                reported += 1;
                // Reported against the level the ramp departs from.
                let before = traffic(t, 40.0);
                assert!(o.actual > o.typical, "{o:?}");
                assert!(
                    (o.typical - before).abs() < 0.35 * before,
                    "typical {} vs pre-ramp {before}",
                    o.typical
                );
            }
        }
        assert!(worst >= 75.0, "ramp scored {worst}");
        assert!(reported > 0, "no bucket reported as a ramp");
        assert!(
            matches!(
                reason,
                Reason::RampUp | Reason::MeanShiftUp | Reason::MultiBucket
            ),
            "{reason:?}"
        );
    }

    /// A busy per-minute count (tens a minute, with a daily cycle) for `minutes`.
    fn busy_minutes(b: &mut Baseline, cfg: &ModelConfig, rng: &mut Rng, from: i64, to: i64) {
        for i in from..to {
            let t = i * 60_000;
            let mean = 70.0 + 25.0 * (t as f64 / DAY_MS as f64 * std::f64::consts::TAU).sin();
            b.observe(cfg, t, rng.poisson(mean));
        }
    }

    #[test]
    fn a_busy_count_that_drops_to_zero_alerts_at_once_even_on_the_first_day() {
        for kind in [ValueKind::Count, ValueKind::Metric] {
            let cfg = ModelConfig {
                bucket_span_ms: 60_000,
                kind,
                tail: Tail::Both,
                half_life_ms: 14 * DAY_MS,
            };
            let mut b = Baseline::new(&cfg);
            let mut rng = Rng::new(21);
            // Fifteen hours in, the site goes dark for 37 hours.
            let dark = 15 * 60;
            busy_minutes(&mut b, &cfg, &mut rng, 0, dark);
            let mut first_alert = None;
            let mut low_during = 0;
            for i in dark..dark + 37 * 60 {
                let o = b.observe(&cfg, i * 60_000, 0.0);
                if score(&o) >= 75.0 {
                    first_alert.get_or_insert(i - dark);
                } else if first_alert.is_some() {
                    low_during += 1;
                }
            }
            let first = first_alert.unwrap_or(i64::MAX);
            assert!(
                first <= 2,
                "{kind:?}: first alert {first} minutes into the outage"
            );
            // One alert episode for the whole outage: it is never learned as normal.
            assert_eq!(low_during, 0, "{kind:?}");
            let e = b.expected(&cfg, (dark + 37 * 60) * 60_000);
            assert!(
                e.typical > 30.0,
                "{kind:?}: typical {} after the outage",
                e.typical
            );
        }
    }

    #[test]
    fn a_quiet_partitions_noise_rarely_reaches_75() {
        // Two weeks of Gaussian noise at minute resolution: 20,160 ordinary buckets.
        let cfg = minute_metric_cfg();
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(23);
        let mut alerts = 0;
        for i in 0..14 * 1440 {
            let o = b.observe(&cfg, i * 60_000, 500.0 + 5.0 * rng.normal());
            if score(&o) >= 75.0 {
                alerts += 1;
            }
        }
        // The scale's promise is one in 10,000 (two here); measured: six, scattered over
        // the fortnight (the winsorized tail fit is a little light). Pinned at three in
        // 10,000 so that it cannot get worse unnoticed; 26 before calibration.
        assert!(alerts <= 6, "{alerts} buckets >= 75 on pure noise");
    }

    #[test]
    fn a_spike_alerts_once() {
        let cfg = minute_metric_cfg();
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(25);
        let at = 4 * 1440;
        let mut scores = Vec::new();
        for i in 0..at + 30 {
            let v = 500.0 + 5.0 * rng.normal() + if i == at { 200.0 } else { 0.0 };
            let o = b.observe(&cfg, i * 60_000, v);
            if i >= at {
                scores.push(score(&o));
            }
        }
        assert!(scores[0] >= 75.0, "the spike scored {}", scores[0]);
        let again = scores[1..].iter().filter(|s| **s >= 75.0).count();
        assert_eq!(again, 0, "{scores:?}");
    }

    #[test]
    fn weak_signal_that_dies_is_flagged() {
        let cfg = count_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(9);
        for i in 0..8 * 96 {
            b.observe(&cfg, i * M15, rng.poisson(3.0));
        }
        let mut worst: f64 = 0.0;
        for i in 0..48 {
            let o = b.observe(&cfg, (8 * 96 + i) * M15, 0.0);
            worst = worst.max(score(&o));
        }
        assert!(worst >= 75.0, "a dead signal scored {worst}");
    }

    #[test]
    fn counts_are_judged_as_counts() {
        let cfg = count_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(10);
        for i in 0..7 * 96 {
            b.observe(&cfg, i * M15, rng.poisson(0.1));
        }
        let t = 7 * DAY_MS;
        let o = b.clone().observe(&cfg, t, 3.0);
        assert!(
            score(&o) < 50.0,
            "0 -> 3 on a 0.1 series scored {}",
            score(&o)
        );
        let o = b.observe(&cfg, t, 40.0);
        assert!(score(&o) >= 75.0, "0 -> 40 scored {}", score(&o));
    }

    #[test]
    fn a_stretch_at_exactly_zero_keeps_a_spread() {
        // A noisy series that then sits at exactly 0 for six days (a job that only reports
        // events): the short-term spread collapses, the long-run spread floor does not, so
        // a value within the series' usual noise is not an incident.
        let cfg = metric_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(15);
        let mut t = 0;
        for _ in 0..8 * 96 {
            b.observe(&cfg, t, (2.0 + rng.normal()).max(0.0));
            t += M15;
        }
        for _ in 0..6 * 96 {
            b.observe(&cfg, t, 0.0);
            t += M15;
        }
        let e = b.expected(&cfg, t);
        assert!(e.upper - e.typical > 0.3, "bounds collapsed: {e:?}");
        let ordinary = score(&b.clone().observe(&cfg, t, 1.0));
        assert!(
            ordinary < 75.0,
            "a value within the usual noise scored {ordinary}"
        );
        let big = score(&b.observe(&cfg, t, 40.0));
        assert!(big >= 75.0, "a 40 scored {big}");
    }

    #[test]
    fn tiny_changes_do_not_alarm() {
        let cfg = metric_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        for i in 0..7 * 96 {
            b.observe(&cfg, i * M15, 1000.0);
        }
        let o = b.observe(&cfg, 7 * DAY_MS, 1000.5);
        assert!(
            score(&o) < 25.0,
            "a 0.05 % change on a flat series scored {}",
            score(&o)
        );
    }

    #[test]
    fn one_sided_tails() {
        for (tail, up, down) in [
            (Tail::High, true, false),
            (Tail::Low, false, true),
            (Tail::Both, true, true),
        ] {
            let cfg = metric_cfg(tail);
            let mut b = Baseline::new(&cfg);
            let mut rng = Rng::new(11);
            for i in 0..7 * 96 {
                b.observe(&cfg, i * M15, 100.0 + rng.normal());
            }
            let t = 7 * DAY_MS;
            let hi = score(&b.clone().observe(&cfg, t, 200.0));
            let lo = score(&b.clone().observe(&cfg, t, 0.0));
            assert_eq!(hi >= 75.0, up, "{tail:?} high {hi}");
            assert_eq!(lo >= 75.0, down, "{tail:?} low {lo}");
            if !up {
                assert!(hi < 1.0);
            }
        }
    }

    #[test]
    fn decay_forgets_an_old_pattern() {
        let mut cfg = count_cfg(Tail::Both);
        cfg.half_life_ms = 3 * DAY_MS;
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(12);
        // Two weeks with a big 3-hour midday peak, then four weeks without it.
        for i in 0..42 * 96 {
            let t = i * M15;
            let hour = t.rem_euclid(DAY_MS) / HOUR;
            let peak = i < 14 * 96 && (11..14).contains(&hour);
            b.observe(&cfg, t, rng.poisson(if peak { 400.0 } else { 100.0 }));
        }
        let e = b.expected(&cfg, 42 * DAY_MS + 12 * HOUR);
        assert!(
            (e.typical - 100.0).abs() < 15.0,
            "old peak remembered: {}",
            e.typical
        );
    }

    #[test]
    fn missing_buckets_of_a_regular_series_are_a_lost_signal() {
        let cfg = metric_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(13);
        for i in 0..7 * 96 {
            b.observe(&cfg, i * M15, 5.0 + rng.normal());
        }
        let first = b.observe_missing(&cfg, 7 * DAY_MS);
        let mut lost = None;
        for i in 1..8 {
            lost = lost.or(b.observe_missing(&cfg, 7 * DAY_MS + i * M15));
        }
        assert!(first.is_none() || first.map(|o| o.probability > 1e-4).unwrap_or(true));
        let lost = lost.expect("lost signal reported");
        assert_eq!(lost.reason, Reason::SignalLost);
    }

    #[test]
    fn forecast_bounds_widen_with_the_horizon() {
        let cfg = count_cfg(Tail::Both);
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(14);
        run_traffic(&mut b, &cfg, &mut rng, 0, 14, 100.0);
        let t = 14 * DAY_MS;
        let near = b.forecast(&cfg, t, 1);
        let far = b.forecast(&cfg, t, 96);
        assert!(far.upper - far.typical > near.upper - near.typical);
        let want = traffic(t + 96 * M15, 100.0);
        assert!(
            (far.typical - want).abs() / want < 0.15,
            "{} vs {want}",
            far.typical
        );
    }

    fn minute_metric_cfg() -> ModelConfig {
        ModelConfig {
            bucket_span_ms: 60_000,
            ..metric_cfg(Tail::Both)
        }
    }

    /// A sawtooth at minute spans: a sudden jump up about every 70 minutes, then a slow
    /// decline, with a little noise (queue sizes and memory gauges look like this).
    fn sawtooth(i: i64, rng: &mut Rng) -> f64 {
        let phase = (i % 70) as f64 / 70.0;
        1e9 * (1.2 - 0.3 * phase) + 4e6 * rng.normal()
    }

    #[test]
    fn sudden_jumps_with_gradual_declines_do_not_ratchet_the_typical_value() {
        // Each jump re-baselines the level; the declines are learned gradually. The weekly
        // reference used to move with every jump and never back: after a week the typical
        // value stood at 5 times the series at each midnight.
        let cfg = minute_metric_cfg();
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(17);
        let mut worst: f64 = 1.0;
        for i in 0..(21 * 1440) {
            let t = i * 60_000;
            let v = sawtooth(i, &mut rng);
            let o = b.observe(&cfg, t, v);
            if i > 1440 {
                worst = worst.max(o.typical / v).max(v / o.typical);
            }
        }
        assert!(worst < 1.5, "typical strayed to {worst:.2}× the value");
    }

    #[test]
    fn a_one_bucket_glitch_in_a_sawtooth_is_reported_at_the_next_bucket() {
        // The sawtooth's own jumps make the point view wide: a 7 % dip in the middle of a
        // decline hides inside its bounds, not from the bucket-to-bucket view.
        let cfg = minute_metric_cfg();
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(5);
        let glitch_at = 8 * 1440 + 35;
        let mut at_glitch = None;
        let mut after = None;
        for i in 0..(glitch_at + 10) {
            let mut v = sawtooth(i, &mut rng);
            if i == glitch_at {
                v *= 0.93;
            }
            let o = b.observe(&cfg, i * 60_000, v);
            if i == glitch_at {
                at_glitch = Some(o);
            } else if i == glitch_at + 1 {
                after = Some(o);
            }
        }
        let (Some(at), Some(o)) = (at_glitch, after) else {
            panic!("series too short");
        };
        assert_eq!(o.reason, Reason::Glitch, "{o:?}");
        // A sawtooth surprises its model often, so its calibration is wary: the glitch is
        // major, not critical (before calibration it scored 87, and sawtooth KPI series
        // raised hundreds of such false alerts).
        assert!(score(&o) >= 50.0, "glitch scored {} ({o:?})", score(&o));
        assert!(score(&at) < 50.0, "the point view alone: {}", score(&at));
        assert!((o.actual / o.typical - 0.93).abs() < 0.02, "{o:?}");
    }

    #[test]
    fn a_shift_is_reported_with_the_evidence_of_its_whole_run() {
        // A quiet metric at 10,000 (its spread is the 0.1 % event floor, 10) drops by 4.9
        // spreads and stays.
        let cfg = minute_metric_cfg();
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(9);
        let start = 4 * 1440;
        let mut best_single = 0.0f64;
        let mut best = 0.0f64;
        let mut reason = Reason::Normal;
        for i in 0..(start + 8) {
            let level = if i >= start {
                10_000.0 - 49.0
            } else {
                10_000.0
            };
            let o = b.observe(
                &cfg,
                i * 60_000,
                level + 0.5 * rng.normal().clamp(-2.0, 2.0),
            );
            if (start..start + 3).contains(&i) {
                best_single = best_single.max(score(&o));
            }
            if i >= start && score(&o) > best {
                best = score(&o);
                reason = o.reason;
            }
        }
        // Each single bucket is about one in a million under the model; this partition is
        // quieter than that (its noise is clipped), so its calibration lets the first
        // buckets alert too. Five together are certain, and reported as the shift.
        assert!(best_single >= 50.0, "single buckets scored {best_single}");
        assert!(best >= 75.0, "shift scored {best}");
        assert_eq!(reason, Reason::MeanShiftDown);
    }

    #[test]
    fn after_the_level_wanders_off_a_jump_back_is_a_new_excursion_not_an_ending() {
        // A level that wanders around 50 (noise 1) shifts to 42 and stays; over the next
        // 12 hours it drifts on to 34, too slowly for a ramp on a series that wanders. A
        // jump back to 48 is then not the end of the first shift (the series has no
        // "before" left to return to): it is a new anomaly. (A wander fast enough to be
        // reported as a ramp keeps the incident open: its end is judged by the level
        // before the shift alone.)
        let cfg = minute_metric_cfg();
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(23);
        let shift = 3 * 1440;
        let (drift, noise) = (720, 1.0);
        let jump = shift + 60 + drift;
        let mut jump_score = 0.0f64;
        for i in 0..(jump + 5) {
            let level = if i < shift {
                50.0 + 4.0 * (i as f64 / 80.0).sin()
            } else if i < shift + 60 {
                42.0
            } else if i < jump {
                42.0 - 8.0 * (i - shift - 60) as f64 / drift as f64
            } else {
                48.0
            };
            let o = b.observe(&cfg, i * 60_000, level + noise * rng.normal());
            if i >= jump {
                jump_score = jump_score.max(score(&o));
            }
        }
        assert!(jump_score >= 75.0, "the jump back scored {jump_score}");
    }

    #[test]
    fn a_job_every_30_minutes_is_learned_and_a_burst_off_its_schedule_is_not() {
        // Minute counts around 200 with a 4-minute burst to 600 at :00 and :30 (a cron
        // job). After two days the bursts are expected; the same burst at :15 is not.
        let cfg = ModelConfig {
            bucket_span_ms: 60_000,
            ..count_cfg(Tail::Both)
        };
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(31);
        let burst = |minute: i64| minute % 30 < 4;
        let off_schedule = 3 * 1440 + 10 * 60 + 15;
        let mut worst_on_schedule = 0.0f64;
        let mut off = 0.0f64;
        for i in 0..(off_schedule + 4) {
            let on = burst(i % 60) || (off_schedule..off_schedule + 4).contains(&i);
            let o = b.observe(
                &cfg,
                i * 60_000,
                rng.poisson(if on { 600.0 } else { 200.0 }),
            );
            if i >= 2 * 1440 && i < off_schedule {
                worst_on_schedule = worst_on_schedule.max(score(&o));
            } else if i >= off_schedule {
                off = off.max(score(&o));
            }
        }
        assert!(b.hourly_on(&cfg), "hourly profile switched on");
        assert!(
            worst_on_schedule < 50.0,
            "a scheduled burst scored {worst_on_schedule}"
        );
        assert!(off >= 75.0, "the off-schedule burst scored {off}");
    }

    #[test]
    fn a_value_far_outside_everything_seen_is_flagged_while_still_learning() {
        // An hourly daily cycle with 30 % noise; on the second day one hour is 4 times the
        // highest hour seen so far. The seasonal model is far from confident after 36
        // hours, but no cycle is needed to see that. The hour after it is not reported
        // again as a glitch (the spike was already reported).
        let cfg = hourly_metric_cfg();
        let mut b = Baseline::new(&cfg);
        let mut rng = Rng::new(41);
        let mut normal_worst = 0.0f64;
        let mut outlier = 0.0;
        for i in 0..72 {
            let t = i * HOUR;
            let usual = traffic(t, 1000.0) * (1.0 + 0.3 * rng.normal().clamp(-2.0, 2.0));
            let value = if i == 36 { 4.0 * 1600.0 } else { usual };
            let s = score(&b.observe(&cfg, t, value));
            if i == 36 {
                outlier = s;
            } else {
                normal_worst = normal_worst.max(s);
            }
        }
        assert!(outlier >= 75.0, "the outlier scored {outlier}");
        assert!(normal_worst < 50.0, "a normal hour scored {normal_worst}");
    }

    #[test]
    fn a_spike_like_the_spikes_before_scores_like_them_while_still_learning() {
        // A rate near 0.02 with a spike of 0.1 to 0.15 every seven hours, from the start:
        // after the first day each spike that is the largest so far is beyond everything
        // seen, but the series has shown it has spikes: they stay below critical (the old
        // global view judged them in the spread of the calm hours and scored them 100).
        // Ten times the largest spike still is critical.
        let cfg = hourly_metric_cfg();
        let mut rng = Rng::new(7);
        let is_spike = |i: usize| i % 7 == 3;
        let series: Vec<f64> = (0..62)
            .map(|i| {
                let calm = 0.02 * (1.0 + 0.2 * rng.normal().clamp(-2.0, 2.0));
                if is_spike(i) {
                    0.1 + 0.05 * rng.uniform()
                } else {
                    calm
                }
            })
            .collect();
        let largest = series.iter().copied().fold(0.0, f64::max);
        let run = |last: f64| {
            let mut b = Baseline::new(&cfg);
            let mut spike_scores = 0.0f64;
            for (i, v) in series.iter().enumerate() {
                let s = score(&b.observe(&cfg, i as i64 * HOUR, *v));
                if i >= 24 && is_spike(i) {
                    spike_scores = spike_scores.max(s);
                }
            }
            (score(&b.observe(&cfg, 62 * HOUR, last)), spike_scores)
        };
        let (like_before, spikes) = run(largest * 1.01);
        assert!(
            spikes < 75.0,
            "a spike like the ones since the start scored {spikes}"
        );
        assert!(
            like_before < 90.0,
            "a spike just beyond the largest scored {like_before}"
        );
        let (far_beyond, _) = run(largest * 10.0);
        assert!(
            far_beyond >= 75.0,
            "ten times the largest spike scored {far_beyond}"
        );
    }
}

#[cfg(test)]
mod demo_like {
    //! The end-to-end demo's situation: 15-minute request counts over 14 days, split by
    //! country, scored through one job normalizer.
    use super::tests::*;
    use super::*;
    use crate::score::Normalizer;

    const DAY: i64 = 86_400_000;

    /// Runs 14 days for partitions with the given means; `incident(p, bucket, mean)` may
    /// change the mean. Returns the record scores per partition.
    fn run(means: &[f64], incident: impl Fn(usize, i64, f64) -> f64) -> Vec<Vec<f64>> {
        let cfg = count_cfg(Tail::Both);
        let mut models: Vec<Baseline> = means.iter().map(|_| Baseline::new(&cfg)).collect();
        let mut norm = Normalizer::new();
        let mut rng = Rng::new(99);
        let mut scores = vec![Vec::new(); means.len()];
        for i in 0..14 * 96 {
            let t = 3 * DAY + i * M15; // a Sunday start
            for (p, m) in means.iter().enumerate() {
                let mean = incident(p, i, traffic(t, *m));
                let o = models[p].observe(&cfg, t, rng.poisson(mean));
                scores[p].push(norm.record_score(o.probability));
            }
        }
        scores
    }

    const MEANS: [f64; 12] = [
        0.3, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
    ];

    /// Records at or above `score` in the fortnights of every partition.
    fn at_least(scores: &[Vec<f64>], score: f64) -> usize {
        scores
            .iter()
            .map(|s| s.iter().filter(|x| **x >= score).count())
            .sum()
    }

    #[test]
    fn normal_fortnights_stay_within_the_scale() {
        // 12 partitions x 1,344 buckets. The scale: 75 about once in 10,000 ordinary
        // buckets of a partition, 50 about once in 1,000.
        let scores = run(&MEANS, |_, _, m| m);
        let buckets: usize = scores.iter().map(Vec::len).sum();
        assert!(at_least(&scores, 75.0) <= 1, "records >= 75 on normal days");
        let high = at_least(&scores, 50.0);
        assert!(
            high <= buckets / 1000,
            "{high} records >= 50 on normal days"
        );
    }

    #[test]
    fn burst_drop_and_ramp_reach_75() {
        let burst = 10 * 96 + 56; // day 10, 14:00, two buckets
        let drop = 11 * 96 + 40; // day 11, 10:00, eight buckets
        let ramp = 12 * 96; // day 12, a whole day
        let scores = run(&MEANS, |p, i, m| match p {
            2 if (burst..burst + 2).contains(&i) => m + 60.0,
            7 if (drop..drop + 8).contains(&i) => m * 0.2,
            4 if (ramp..ramp + 96).contains(&i) => m * (1.0 + 4.0 * (i - ramp) as f64 / 96.0),
            _ => m,
        });
        let max = |p: usize, from: i64, to: i64| {
            scores[p][from as usize..to as usize]
                .iter()
                .copied()
                .fold(0.0, f64::max)
        };
        assert!(
            max(2, burst, burst + 1) >= 75.0,
            "burst {}",
            max(2, burst, burst + 2)
        );
        assert!(
            max(7, drop, drop + 1) >= 75.0,
            "drop {}",
            max(7, drop, drop + 8)
        );
        assert!(
            max(4, ramp, ramp + 96) >= 75.0,
            "ramp {}",
            max(4, ramp, ramp + 96)
        );
        // Outside the incidents (and the bucket after each): within the scale.
        let mut high = 0;
        for (p, s) in scores.iter().enumerate() {
            for (i, x) in s.iter().enumerate() {
                let i = i as i64;
                let inside = (p == 2 && (burst..burst + 3).contains(&i))
                    || (p == 7 && (drop..drop + 9).contains(&i))
                    || (p == 4 && (ramp..ramp + 97).contains(&i));
                if !inside && *x >= 50.0 {
                    high += 1;
                    // Nothing outside the incidents reaches an alert.
                    assert!(*x < 75.0, "partition {p}, bucket {i}: {x}");
                }
            }
        }
        // 50 is about once in 1,000 ordinary buckets of a partition.
        let buckets: usize = scores.iter().map(Vec::len).sum();
        assert!(
            high <= buckets / 1000,
            "{high} records >= 50 outside the incidents"
        );
    }
}
