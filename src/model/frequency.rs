//! Frequency models for the functions that ask how often something happens rather than how
//! big a bucket's number is: [`Rarity`] (`rare`, `freq_rare`: which values occur) and
//! [`TimeHistogram`] (`time_of_day`, `time_of_week`: when events occur).
//!
//! Both answer with a probability (Laplace-smoothed relative frequency), which the job's
//! normalizer turns into a score like every other function's. Counts are kept since the job
//! started: a rare value stays rare however long ago the model saw it.

use super::{Observation, Reason};
use std::collections::BTreeMap;

/// How often each value has been seen, counted in documents, over occasions: buckets of a
/// series, or (bucket, member) pairs of a population.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rarity {
    /// Occasions observed.
    occasions: f64,
    /// Documents observed.
    documents: f64,
    /// Values first seen after the first occasion: how usual novelty is.
    novel: f64,
    /// Value → documents that had it.
    seen: BTreeMap<String, f64>,
    /// (occasion, value) pairs: documents over pairs is a value's typical number of uses on
    /// one occasion (`freq_rare`).
    pairs: f64,
}

/// One value on one occasion, as [`Rarity::observe`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct Occurrence<'a> {
    /// The value (e.g. a URL).
    pub value: &'a str,
    /// Documents with it on this occasion.
    pub uses: u64,
}

impl Rarity {
    /// Scores the values of one occasion, then learns them. A value is as likely as the
    /// share of documents that had it, or, when fewer, that had a value never seen before
    /// (novelty is only as surprising as it is rare): `(max(n, novel) + 0.5) / (N + 1)` for
    /// a value `n` of `N` documents had (Jeffreys' estimate, so a value never seen and no
    /// novelty yet is not impossible). The first occasion, where everything is new, does not
    /// count as novelty. With `frequent` (`freq_rare`) the probability is multiplied by the
    /// value's typical uses on one occasion over its uses now, so a rare value used many
    /// times weighs more. `actual` is the uses now, `typical` the share of documents that
    /// had the value before.
    pub fn observe(&mut self, values: &[Occurrence<'_>], frequent: bool) -> Vec<Observation> {
        let out = self.score(values, frequent);
        self.learn(values);
        out
    }

    /// Scores the values of one occasion without learning them (see [`Rarity::observe`]).
    pub fn score(&self, values: &[Occurrence<'_>], frequent: bool) -> Vec<Observation> {
        let typical_uses = if self.pairs > 0.0 {
            self.documents / self.pairs
        } else {
            1.0
        };
        values
            .iter()
            .map(|o| {
                let n = self.seen.get(o.value).copied().unwrap_or(0.0);
                let mut p = (n.max(self.novel) + 0.5) / (self.documents + 1.0);
                if frequent && o.uses > 0 {
                    p *= (typical_uses / o.uses as f64).min(1.0);
                }
                frequency_observation(p, o.uses as f64, n / self.documents.max(1.0))
            })
            .collect()
    }

    /// Learns the values of one occasion.
    pub fn learn(&mut self, values: &[Occurrence<'_>]) {
        if values.is_empty() {
            return;
        }
        let learning = self.occasions == 0.0;
        self.occasions += 1.0;
        for o in values {
            let n = self.seen.entry(o.value.to_string()).or_insert(0.0);
            if *n == 0.0 && !learning {
                self.novel += 1.0;
            }
            *n += o.uses as f64;
            self.documents += o.uses as f64;
            self.pairs += 1.0;
        }
    }

    /// Whether the model has seen `value`.
    pub fn knows(&self, value: &str) -> bool {
        self.seen.contains_key(value)
    }

    /// Bytes one learned value takes: its text, its count and the map's node.
    pub fn value_cost(value: &str) -> u64 {
        (value.len() + 48) as u64
    }

    /// Bytes the learned values take.
    pub fn values_cost(&self) -> u64 {
        self.seen.keys().map(|v| Self::value_cost(v)).sum()
    }

    /// The state as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for x in [self.occasions, self.documents, self.novel, self.pairs] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&(self.seen.len() as u64).to_le_bytes());
        for (value, n) in &self.seen {
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(&n.to_le_bytes());
        }
        out
    }

    /// The state back from [`Rarity::to_bytes`]; `None` if the bytes are not a state.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut r = Bytes(bytes);
        let mut model = Rarity {
            occasions: r.f64()?,
            documents: r.f64()?,
            novel: r.f64()?,
            pairs: r.f64()?,
            seen: BTreeMap::new(),
        };
        for _ in 0..r.u64()? {
            let len = usize::try_from(r.u64()?).ok()?;
            let value = String::from_utf8(r.take(len)?.to_vec()).ok()?;
            model.seen.insert(value, r.f64()?);
        }
        r.0.is_empty().then_some(model)
    }
}

/// When events occur within a period (a day or a week), in hour slots.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeHistogram {
    /// Events per hour slot of the period.
    slots: Vec<f64>,
}

/// Milliseconds in an hour slot.
const HOUR_MS: i64 = 3_600_000;

/// The Unix epoch was a Thursday: weeks are counted from the Monday before it.
const MONDAY_OFFSET_MS: i64 = 3 * 24 * HOUR_MS;

impl TimeHistogram {
    /// An empty histogram over a period of `period_ms` (a day or a week).
    pub fn new(period_ms: i64) -> Self {
        TimeHistogram {
            slots: vec![0.0; (period_ms / HOUR_MS).max(1) as usize],
        }
    }

    fn period_ms(&self) -> i64 {
        self.slots.len() as i64 * HOUR_MS
    }

    /// Milliseconds since the start of the period (midnight UTC, or Monday 00:00 UTC).
    fn offset(&self, time: i64) -> i64 {
        let shift = if self.slots.len() > 24 {
            MONDAY_OFFSET_MS
        } else {
            0
        };
        (time + shift).rem_euclid(self.period_ms())
    }

    /// Scores an event at `time` (epoch milliseconds), then learns it. The probability is
    /// the smoothed share of earlier events within an hour of the same time of the period,
    /// `(events in the slot and its two neighbours + 0.5) / (events + 1)` (Jeffreys), so an event at 03:00
    /// on a 9-to-5 series is as unlikely as its history says, and 08:55 is not. `actual` and
    /// `typical` are seconds since the period's start: this event's and the middle of the
    /// busiest slot.
    pub fn observe(&mut self, time: i64) -> Observation {
        let obs = self.score(time);
        self.learn(time);
        obs
    }

    fn slot(&self, time: i64) -> usize {
        (self.offset(time) / HOUR_MS) as usize % self.slots.len()
    }

    /// Scores an event at `time` without learning it (see [`TimeHistogram::observe`]).
    pub fn score(&self, time: i64) -> Observation {
        let n = self.slots.len();
        let slot = self.slot(time);
        let near: f64 = [n - 1, 0, 1]
            .iter()
            .map(|d| self.slots[(slot + d) % n])
            .sum();
        let total: f64 = self.slots.iter().sum();
        let p = (near + 0.5) / (total + 1.0);
        let busiest = (0..n)
            .max_by(|&a, &b| self.slots[a].total_cmp(&self.slots[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        let actual = (self.offset(time) / 1000) as f64;
        let typical = (busiest as i64 * HOUR_MS + HOUR_MS / 2) as f64 / 1000.0;
        frequency_observation(p, actual, typical)
    }

    /// Learns an event at `time`.
    pub fn learn(&mut self, time: i64) {
        let slot = self.slot(time);
        self.slots[slot] += 1.0;
    }

    /// Whether the histogram covers a week (else a day).
    pub fn is_weekly(&self) -> bool {
        self.slots.len() > 24
    }

    /// The state as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.slots.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    /// The state back from [`TimeHistogram::to_bytes`] for the same period.
    pub fn from_bytes(period_ms: i64, bytes: &[u8]) -> Option<Self> {
        let mut model = TimeHistogram::new(period_ms);
        if bytes.len() != model.slots.len() * 8 {
            return None;
        }
        let mut r = Bytes(bytes);
        for s in &mut model.slots {
            *s = r.f64()?;
        }
        Some(model)
    }
}

fn frequency_observation(probability: f64, actual: f64, typical: f64) -> Observation {
    Observation {
        probability: probability.clamp(1e-300, 1.0),
        actual,
        typical,
        lower: typical,
        upper: typical,
        reason: Reason::Spike,
        multi_bucket_impact: 0.0,
    }
}

/// Reads little-endian numbers and byte strings; `None` past the end.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occ(value: &str, uses: u64) -> Occurrence<'_> {
        Occurrence { value, uses }
    }

    #[test]
    fn a_never_seen_value_is_as_unlikely_as_novelty_has_been() {
        let mut m = Rarity::default();
        for _ in 0..98 {
            m.observe(&[occ("/", 5), occ("/login", 1)], false);
        }
        let obs = m.observe(&[occ("/", 5), occ("/admin.php", 1)], false);
        assert!(obs[0].probability > 0.8, "{:?}", obs[0]);
        // Nothing new after the first occasion: 0.5 / (98 * 6 + 1).
        assert!(
            (obs[1].probability - 0.5 / 589.0).abs() < 1e-12,
            "{:?}",
            obs[1]
        );
        assert_eq!(obs[1].typical, 0.0);
        // Now novelty has been seen once: a second new value is a little less surprising.
        let next = m.observe(&[occ("/shell.php", 1)], false);
        assert!(
            (next[0].probability - 1.5 / 595.0).abs() < 1e-12,
            "{:?}",
            next[0]
        );
        let back = Rarity::from_bytes(&m.to_bytes()).expect("state");
        assert_eq!(back, m);
        assert!(Rarity::from_bytes(&m.to_bytes()[1..]).is_none());
    }

    #[test]
    fn freq_rare_weighs_many_uses_of_a_rare_value() {
        let mut m = Rarity::default();
        for _ in 0..50 {
            m.observe(&[occ("a", 2)], false);
        }
        let once = m.clone().observe(&[occ("x", 2)], true)[0].probability;
        let often = m.observe(&[occ("x", 40)], true)[0].probability;
        assert!((often - once / 20.0).abs() < 1e-12, "{once} {often}");
    }

    #[test]
    fn an_event_at_three_on_a_nine_to_five_series_is_unlikely() {
        let mut m = TimeHistogram::new(24 * HOUR_MS);
        for day in 0..5 {
            for quarter in 0..32 {
                m.observe(day * 24 * HOUR_MS + 9 * HOUR_MS + quarter * 900_000);
            }
        }
        let at = |h: i64| m.clone().observe(5 * 24 * HOUR_MS + h * HOUR_MS);
        assert!((at(3).probability - 0.5 / 161.0).abs() < 1e-12);
        assert!(at(12).probability > 0.3);
        assert!(at(8).probability > 0.1);
        assert_eq!(at(3).actual, 3.0 * 3600.0);
        let week = TimeHistogram::new(7 * 24 * HOUR_MS);
        // 1970-01-05 was a Monday.
        assert_eq!(week.offset(4 * 24 * HOUR_MS), 0);
        let back = TimeHistogram::from_bytes(24 * HOUR_MS, &m.to_bytes()).expect("state");
        assert_eq!(back, m);
    }
}
