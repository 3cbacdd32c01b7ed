//! The seasonal view: daily, weekly and hourly profiles on top of the level.
//!
//! Profiles are learned all the time but only *used* when they predict better than the
//! model without them (tracked as running errors), so the daily, weekly and hourly periods
//! are detected from the data rather than assumed. The daily and weekly profiles learn the
//! value's deviation from a days-long average (so the fast level does not absorb the
//! cycle); the hourly one learns the one-step residual the others leave.

use super::profile::{interp, nudge, slot_pair_sum};
use super::state::{Reader, Writer};
use super::{Forgetting, DAY_MS, HOUR_MS, WEEK_MS};
use crate::model::{clip, ModelConfig};

/// Daily profile slots (30 minutes each at most; linear interpolation between slots).
const DAILY: usize = 48;
/// Weekly profile: one offset per day of the week on top of the daily profile (a step at
/// midnight), so it captures weekday/weekend levels without competing with the daily shape.
const WEEKLY: usize = 7;
/// Candidate hours (UTC) at which a series' day begins, for the weekly offsets: a site's
/// weekend starts at its users' midnight. Each candidate learns its own offsets; the one
/// with the smallest running error is used.
const BOUNDARIES: usize = 6;
const BOUNDARY_STEP_MS: i64 = DAY_MS / BOUNDARIES as i64;
/// A boundary is chosen only after two weeks (each weekday seen twice per candidate), and
/// another one only when its error is this much smaller (hysteresis).
const BOUNDARY_CHOICE_MS: i64 = 2 * WEEK_MS;
const BOUNDARY_BETTER: f32 = 0.95;
/// Hours either side of the boundary in which the neighbouring weekday's offset is as
/// plausible as this one's (a site's users span time zones).
const BOUNDARY_DOUBT_MS: i64 = 6 * HOUR_MS;
/// Hourly profile: one slot per minute of the hour, for jobs that run every 15, 30 or 60
/// minutes. Learned fast (it follows bursts that stop at night within a few hours).
const HOURLY: usize = 60;
/// Weight of each visit of an hourly slot.
const HOURLY_GAIN: f64 = 0.35;
/// Weight per bucket with which the weekly reference follows a re-baselined level.
const REBASE_CATCH_UP: f64 = 0.25;
/// Which profiles are in use ([`Seasonality::flags`]).
const DAILY_ON: u32 = 1;
const WEEKLY_ON: u32 = 2;
const HOURLY_ON: u32 = 4;

/// Size of the serialized state in bytes.
pub(super) const SEASONAL_BYTES: usize =
    4 * (DAILY + BOUNDARIES * (WEEKLY + 2) + HOURLY + 1 + 2 + 3 + 1) + 4 + 4;

/// The profiles, their running errors and the reference level they are learned against.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Seasonality {
    daily: [f32; DAILY],
    weekly: [[f32; WEEKLY]; BOUNDARIES],
    /// Per candidate, the amount still to be taken off each of its offsets (the share that
    /// keeps them averaging zero; taken off in one go once a day, not on every bucket).
    /// An offset in use is `weekly[b][d] - pending[b]`.
    pending: [f32; BOUNDARIES],
    /// Running mean absolute error of the daily + weekly prediction per candidate boundary.
    boundary_err: [f32; BOUNDARIES],
    /// The candidate boundary in use.
    boundary: u32,
    /// Minute-of-hour profile; its mean is `hourly_sum / HOURLY`, taken off when read, so
    /// it cannot drift against the level.
    hourly: [f32; HOURLY],
    hourly_sum: f32,
    /// Running mean absolute one-step residual without and with the hourly profile.
    hourly_err: [f32; 2],
    /// Running mean absolute error without seasonality, with daily, with daily + weekly.
    err: [f32; 3],
    /// Reference level for the profiles: a days-long average of the value without its
    /// daily shape, so weekday offsets are not learned against a lagging baseline.
    week_base: f32,
    /// Profiles in use: [`DAILY_ON`], [`WEEKLY_ON`], [`HOURLY_ON`].
    flags: u32,
}

impl Default for Seasonality {
    fn default() -> Self {
        Seasonality {
            daily: [0.0; DAILY],
            weekly: [[0.0; WEEKLY]; BOUNDARIES],
            pending: [0.0; BOUNDARIES],
            boundary_err: [0.0; BOUNDARIES],
            boundary: 0,
            hourly: [0.0; HOURLY],
            hourly_sum: 0.0,
            hourly_err: [0.0; 2],
            err: [0.0; 3],
            week_base: 0.0,
            flags: 0,
        }
    }
}

/// One bucket as the profiles learn it.
pub(super) struct SeasonalStep {
    pub time: i64,
    pub value: f64,
    /// The value without the season in use.
    pub deseason: f64,
    /// The fast level before this bucket.
    pub prev_level: f64,
    /// Residuals are clipped at this distance.
    pub winsor: f64,
    /// Configured forgetting per bucket and the weight while young.
    pub forget: Forgetting,
    pub early: f64,
    /// Milliseconds since the partition's first bucket.
    pub age_ms: i64,
    /// The first bucket of the partition.
    pub first: bool,
    /// The model is re-baselining after a shift: the weekday offsets and the daily shape
    /// wait (a shift is not a time-of-day effect).
    pub rebasing: bool,
}

/// Day of the week index (0 = Thursday, the epoch's weekday; only the cycle matters) for
/// days beginning at candidate boundary `b`.
#[inline]
fn dow(time: i64, b: usize) -> usize {
    (time - b as i64 * BOUNDARY_STEP_MS)
        .div_euclid(DAY_MS)
        .rem_euclid(7) as usize
}

/// Takes a candidate's pending share off its weekday offsets.
#[inline]
fn take_off(offsets: &mut [f32; WEEKLY], pending: &mut f32) {
    for v in offsets.iter_mut() {
        *v -= *pending;
    }
    *pending = 0.0;
}

/// Whether the span fits a daily profile (four buckets a day or more).
#[inline]
fn daily_fits(cfg: &ModelConfig) -> bool {
    cfg.bucket_span_ms * 4 <= DAY_MS
}

/// Whether an hourly cycle can be learned at this span (at least 12 buckets an hour).
#[inline]
fn hourly_fits(cfg: &ModelConfig) -> bool {
    cfg.bucket_span_ms * 12 <= HOUR_MS && HOUR_MS % cfg.bucket_span_ms.max(1) == 0
}

impl Seasonality {
    #[inline]
    pub(super) fn daily_on(&self, cfg: &ModelConfig) -> bool {
        self.flags & DAILY_ON != 0 && daily_fits(cfg)
    }

    #[inline]
    pub(super) fn weekly_on(&self, cfg: &ModelConfig) -> bool {
        self.flags & WEEKLY_ON != 0 && cfg.bucket_span_ms <= DAY_MS
    }

    #[inline]
    pub(super) fn hourly_on(&self, cfg: &ModelConfig) -> bool {
        self.flags & HOURLY_ON != 0 && hourly_fits(cfg)
    }

    /// The weekday offset at `time` for the boundary in use.
    #[inline]
    fn week_part(&self, time: i64) -> f64 {
        let b = self.boundary as usize;
        (self.weekly[b][dow(time, b)] - self.pending[b]) as f64
    }

    /// The hourly profile at `time`, mean taken off.
    #[inline]
    fn hour_part(&self, time: i64) -> f64 {
        interp(&self.hourly, time, HOUR_MS) - self.hourly_sum as f64 * (1.0 / HOURLY as f64)
    }

    /// Seasonal offset at `time` from the profiles in use.
    #[inline]
    pub(super) fn season(&self, cfg: &ModelConfig, time: i64) -> f64 {
        let mut s = 0.0;
        if self.daily_on(cfg) {
            s += interp(&self.daily, time, DAY_MS);
        }
        if self.weekly_on(cfg) {
            s += self.week_part(time);
        }
        if self.hourly_on(cfg) {
            s += self.hour_part(time);
        }
        s
    }

    /// Near midnight, the other weekday's offset minus this one's: where a series' own day
    /// begins (its users' time zones) is unknown, so the hours next to the boundary may
    /// still follow the neighbouring weekday.
    pub(super) fn day_boundary_shift(&self, cfg: &ModelConfig, time: i64) -> Option<f64> {
        if !self.weekly_on(cfg) {
            return None;
        }
        let bnd = self.boundary as usize;
        let into = (time - bnd as i64 * BOUNDARY_STEP_MS).rem_euclid(DAY_MS);
        let other = if into < BOUNDARY_DOUBT_MS {
            time - DAY_MS
        } else if DAY_MS - into <= BOUNDARY_DOUBT_MS {
            time + DAY_MS
        } else {
            return None;
        };
        let offsets = &self.weekly[bnd];
        Some((offsets[dow(other, bnd)] - offsets[dow(time, bnd)]) as f64)
    }

    /// The days-long average of the value without its daily shape.
    #[inline]
    pub(super) fn reference(&self) -> f64 {
        self.week_base as f64
    }

    /// Running mean absolute distance of the value from [`Seasonality::reference`].
    #[inline]
    pub(super) fn unseasoned_error(&self) -> f32 {
        self.err[0]
    }

    /// Learns one bucket (spans of a day or less); returns the change of the seasonal
    /// offset at `time` caused by a profile switching on or off, which the caller takes
    /// off its levels so the fitted value stays continuous.
    pub(super) fn learn(&mut self, cfg: &ModelConfig, s: &SeasonalStep) -> f64 {
        let (used_day, used_week) = self.learn_day_and_week(cfg, s);
        self.learn_hour(cfg, s, used_day, used_week);
        self.switch(cfg, s.time, s.age_ms)
    }

    /// The daily shape, the weekday offsets and their reference level; returns the daily
    /// and weekly offsets that were in use for this bucket.
    fn learn_day_and_week(&mut self, cfg: &ModelConfig, s: &SeasonalStep) -> (f64, f64) {
        let (time, lambda, early) = (s.time, s.forget.half_life, s.early);
        let day_part = interp(&self.daily, time, DAY_MS);
        let week_part = self.week_part(time);
        let used_day = if self.daily_on(cfg) { day_part } else { 0.0 };
        let used_week = if self.weekly_on(cfg) { week_part } else { 0.0 };
        let x = s.prev_level + clip(s.deseason - s.prev_level, s.winsor) + used_day + used_week;
        if s.first {
            self.week_base = (x - day_part) as f32;
        }
        // Profiles are learned, and judged, against a days-long average of the value.
        let base_level = self.week_base as f64;
        let e0 = (x - base_level).abs();
        let e1 = (x - base_level - day_part).abs();
        let e2 = (x - base_level - day_part - week_part).abs();
        let le = s.forget.week.max(early);
        for (acc, e) in self.err.iter_mut().zip([e0, e1, e2]) {
            *acc += (le * (e - *acc as f64)) as f32;
        }
        let days = s.age_ms as f64 / DAY_MS as f64;
        // Each daily slot sees 1/DAILY of the buckets; learn fast during the first cycles.
        let per_slot = (DAY_MS as f64 / cfg.bucket_span_ms as f64 / DAILY as f64).max(1.0);
        let g_day = (lambda * DAILY as f64)
            .max(1.0 / (days + 1.0) / per_slot)
            .min(1.0);
        if daily_fits(cfg) && !s.rebasing {
            let target = x - base_level - week_part;
            nudge(&mut self.daily, time, DAY_MS, target, g_day);
        }
        let day_now = if daily_fits(cfg) {
            interp(&self.daily, time, DAY_MS)
        } else {
            0.0
        };
        // While re-baselining after a shift (or a return), the reference catches up fast
        // and the weekday offsets wait: a shift is not a weekday effect. (Moving the
        // reference by each shift instead ratcheted it on a sawtooth, whose jumps are
        // sudden but whose declines are gradual: typical went to 5× the value.)
        let gb = if s.rebasing {
            REBASE_CATCH_UP
        } else {
            s.forget.three_days.max(early)
        };
        self.week_base += (gb * (x - day_now - self.week_base as f64)) as f32;
        if !s.rebasing {
            let target = x - self.week_base as f64 - day_now;
            self.learn_week(cfg, s, target, le);
        }
        (used_day, used_week)
    }

    /// The weekday offsets of every candidate boundary, their running errors against
    /// `target` (the value less its reference and daily shape), and the choice among them.
    fn learn_week(&mut self, cfg: &ModelConfig, s: &SeasonalStep, target: f64, le: f64) {
        // A running mean of each weekday's offset over the visits so far (the first
        // Saturday is learned in full), then exponential forgetting.
        // Integer divisions: `f64::floor` is a libm call and this runs on every bucket.
        let span_ms = cfg.bucket_span_ms.max(1);
        let visits = (s.age_ms / WEEK_MS) as f64;
        let per_wslot = (DAY_MS / span_ms).max(1) as f64;
        let floor_g = s.forget.half_life * WEEKLY as f64;
        // The UTC day and the time into it, once; each boundary shifts them (no division
        // per candidate: this runs on every bucket).
        let (utc_day, into) = (s.time.div_euclid(DAY_MS), s.time.rem_euclid(DAY_MS));
        for (b, ((offsets, pending), err)) in self
            .weekly
            .iter_mut()
            .zip(&mut self.pending)
            .zip(&mut self.boundary_err)
            .enumerate()
        {
            let from_boundary = into - b as i64 * BOUNDARY_STEP_MS;
            let (day, since) = if from_boundary < 0 {
                (utc_day - 1, from_boundary + DAY_MS)
            } else {
                (utc_day, from_boundary)
            };
            let day = day.rem_euclid(WEEKLY as i64) as usize;
            let within = (since / span_ms) as f64;
            let seen = visits * per_wslot + within + 1.0;
            // `floor_g.max(1 / seen)` without the division once the floor rules.
            let g_week = if seen * floor_g >= 1.0 {
                floor_g
            } else {
                1.0 / seen
            }
            .min(1.0);
            if since < span_ms {
                take_off(offsets, pending);
            }
            let miss = target - (offsets[day] - *pending) as f64;
            *err += (le * (miss.abs() - *err as f64)) as f32;
            // Offsets average to zero, so the profile cannot drift against the level: the
            // change is shared out over the week.
            let step = (g_week * miss) as f32;
            // A multiplication: a division here was the loop's slowest step.
            *pending += step * (1.0 / WEEKLY as f32);
            offsets[day] += step;
        }
    }

    /// The hourly profile: the one-step residual left by the level and the slower
    /// profiles, winsorized, learned per minute of the hour; judged by whether it shrinks
    /// that residual.
    fn learn_hour(&mut self, cfg: &ModelConfig, s: &SeasonalStep, used_day: f64, used_week: f64) {
        if !hourly_fits(cfg) {
            return;
        }
        let time = s.time;
        let hour_part = self.hour_part(time);
        let used_hour = if self.hourly_on(cfg) { hour_part } else { 0.0 };
        let hclip = s.winsor + used_hour.abs();
        let rh = clip(s.value - (s.prev_level + used_day + used_week), hclip);
        let lh = s.forget.day.max(s.early);
        for (acc, e) in self.hourly_err.iter_mut().zip([rh, rh - hour_part]) {
            *acc += (lh * (e.abs() - *acc as f64)) as f32;
        }
        let hours = s.age_ms as f64 / HOUR_MS as f64;
        let gain = HOURLY_GAIN.max(1.0 / (hours + 1.0));
        let before: f32 = slot_pair_sum(&self.hourly, time, HOUR_MS);
        let target = rh + self.hourly_sum as f64 * (1.0 / HOURLY as f64);
        nudge(&mut self.hourly, time, HOUR_MS, target, gain);
        self.hourly_sum += slot_pair_sum(&self.hourly, time, HOUR_MS) - before;
    }

    /// Switches profiles on (or off) when they clearly help (or stop helping); returns the
    /// change of the offset in use at `time`.
    fn switch(&mut self, cfg: &ModelConfig, time: i64, age_ms: i64) -> f64 {
        let days = age_ms as f64 / DAY_MS as f64;
        let was = (self.daily_on(cfg), self.weekly_on(cfg), self.hourly_on(cfg));
        let week_before = self.week_part(time);
        if age_ms >= BOUNDARY_CHOICE_MS {
            self.choose_boundary();
        }
        let toggle = |flags: &mut u32, bit: u32, better: bool, worse: bool| {
            if better {
                *flags |= bit;
            } else if worse {
                *flags &= !bit;
            }
        };
        let mut flags = self.flags;
        let [e0, e1, e2] = self.err;
        if days >= 1.0 {
            toggle(&mut flags, DAILY_ON, e1 < 0.9 * e0, e1 > 0.98 * e0);
        }
        if days >= 7.0 {
            toggle(&mut flags, WEEKLY_ON, e2 < 0.95 * e1, e2 > 0.98 * e1);
        }
        if hourly_fits(cfg) && days >= 1.0 {
            let [without, with] = self.hourly_err;
            toggle(
                &mut flags,
                HOURLY_ON,
                with < 0.9 * without,
                with > 0.98 * without,
            );
        }
        self.flags = flags;
        let now = (self.daily_on(cfg), self.weekly_on(cfg), self.hourly_on(cfg));
        // Each profile's offset in use before and after (the weekly one's boundary may
        // have moved too); the levels take off the difference.
        let used = |on: bool, part: f64| if on { part } else { 0.0 };
        let (day, hour) = (interp(&self.daily, time, DAY_MS), self.hour_part(time));
        used(was.0, day) - used(now.0, day) + used(was.1, week_before)
            - used(now.1, self.week_part(time))
            + used(was.2, hour)
            - used(now.2, hour)
    }

    /// Moves to another candidate boundary when its offsets predict clearly better.
    fn choose_boundary(&mut self) {
        let current = self.boundary_err[self.boundary as usize];
        let best = (0..BOUNDARIES)
            .min_by(|a, b| self.boundary_err[*a].total_cmp(&self.boundary_err[*b]))
            .unwrap_or(0);
        if self.boundary_err[best] < BOUNDARY_BETTER * current {
            self.boundary = best as u32;
        }
    }

    pub(super) fn write(&self, out: &mut Writer) {
        out.f32s(
            self.daily
                .iter()
                .chain(self.weekly.iter().flatten())
                .chain(&self.pending)
                .chain(&self.boundary_err)
                .chain(&self.hourly),
        );
        out.f32s([&self.hourly_sum, &self.week_base]);
        out.f32s(self.hourly_err.iter().chain(&self.err));
        out.u32(self.flags);
        out.u32(self.boundary);
    }

    pub(super) fn read(r: &mut Reader) -> Option<Self> {
        let mut s = Seasonality::default();
        r.f32s(&mut s.daily)?;
        for offsets in s.weekly.iter_mut() {
            r.f32s(offsets)?;
        }
        r.f32s(&mut s.pending)?;
        r.f32s(&mut s.boundary_err)?;
        r.f32s(&mut s.hourly)?;
        s.hourly_sum = r.f32()?;
        s.week_base = r.f32()?;
        r.f32s(&mut s.hourly_err)?;
        r.f32s(&mut s.err)?;
        s.flags = r.u32()?;
        s.boundary = r.u32()?;
        if s.boundary as usize >= BOUNDARIES {
            return None;
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Tail, ValueKind};

    fn cfg() -> ModelConfig {
        ModelConfig {
            bucket_span_ms: 15 * 60_000,
            kind: ValueKind::Metric,
            tail: Tail::Both,
            half_life_ms: 14 * DAY_MS,
        }
    }

    /// Learns `days` of a series `f(t)` around a fixed level of 100.
    fn learn_days(s: &mut Seasonality, days: i64, f: impl Fn(i64) -> f64) {
        let cfg = cfg();
        let step = cfg.bucket_span_ms;
        for i in 0..days * DAY_MS / step {
            let t = i * step;
            let value = f(t);
            let season = s.season(&cfg, t);
            let adj = s.learn(
                &cfg,
                &SeasonalStep {
                    time: t,
                    value,
                    deseason: value - season,
                    prev_level: 100.0,
                    winsor: f64::INFINITY,
                    forget: Forgetting::of(&cfg),
                    early: 1.0 / (i + 1) as f64,
                    age_ms: t,
                    first: i == 0,
                    rebasing: false,
                },
            );
            assert!(adj.is_finite());
        }
    }

    #[test]
    fn a_daily_cycle_switches_the_daily_profile_on_and_a_flat_series_does_not() {
        let day = |t: i64| 100.0 + 20.0 * (t as f64 / DAY_MS as f64 * std::f64::consts::TAU).sin();
        let mut cyclic = Seasonality::default();
        learn_days(&mut cyclic, 8, day);
        assert!(cyclic.daily_on(&cfg()));
        let peak = cyclic.season(&cfg(), DAY_MS / 4);
        let trough = cyclic.season(&cfg(), 3 * DAY_MS / 4);
        assert!(peak > 12.0 && trough < -12.0, "{peak} {trough}");
        let mut flat = Seasonality::default();
        learn_days(&mut flat, 4, |t| 100.0 + ((t / 900_000) % 3) as f64);
        assert!(!flat.daily_on(&cfg()) && !flat.weekly_on(&cfg()));
    }

    #[test]
    fn the_weekday_offsets_begin_where_the_series_day_begins() {
        // Weekends 30 lower, beginning at local midnight eight hours after UTC's.
        let weekend = |t: i64| (t.div_euclid(DAY_MS) + 4).rem_euclid(7) % 6 == 0; // Sun, Sat
        let at = |shift_h: i64| {
            move |t: i64| {
                100.0
                    - if weekend(t - shift_h * HOUR_MS) {
                        30.0
                    } else {
                        0.0
                    }
            }
        };
        let mut local = Seasonality::default();
        learn_days(&mut local, 21, at(8));
        assert!(local.weekly_on(&cfg()));
        assert_eq!(local.boundary, 2, "{:?}", local.boundary_err);
        // Saturday 09:00 UTC is the weekend there; Saturday 07:00 UTC is still Friday.
        let saturday = 23 * DAY_MS;
        let gap = local.season(&cfg(), saturday + 7 * HOUR_MS)
            - local.season(&cfg(), saturday + 9 * HOUR_MS);
        assert!(gap > 25.0, "Friday night to Saturday morning: {gap}");
        let mut utc = Seasonality::default();
        learn_days(&mut utc, 21, at(0));
        assert_eq!(utc.boundary, 0, "{:?}", utc.boundary_err);
    }

    #[test]
    fn the_state_round_trips() {
        let mut s = Seasonality::default();
        learn_days(&mut s, 2, |t| (t % 7) as f64);
        let mut w = Writer(Vec::new());
        s.write(&mut w);
        assert_eq!(w.0.len(), SEASONAL_BYTES);
        assert_eq!(Seasonality::read(&mut Reader(&w.0)), Some(s));
    }
}
