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
    /// Documents of the occasions since the last one that brought a never-seen value (all
    /// documents while nothing new has come since the first occasion): how long the field's
    /// vocabulary has held still.
    quiet: f64,
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
    /// Scores the values of one occasion, then learns them. A value seen `n` times in `N`
    /// documents is as likely as its share, or, when fewer, as the share of documents that
    /// brought a never-seen value (novelty is only as surprising as it is rare):
    /// `(max(n, novel) + 0.5) / (N + 1)` (Jeffreys' estimate). A never-seen value is as likely
    /// as novelty itself: [`Rarity::novelty`], the chance the vocabulary is still open times
    /// the rate of novelty if it is. The first occasion, where everything is new, does not
    /// count as novelty. With `frequent` (`freq_rare`) the probability is multiplied by the
    /// value's typical uses on one occasion over its uses now, so a rare value used many
    /// times weighs more. `actual` is the uses now, `typical` the share of documents that
    /// had the value before.
    pub fn observe(&mut self, values: &[Occurrence<'_>], frequent: bool) -> Vec<Observation> {
        let out = self.score(values, frequent);
        self.learn(values);
        out
    }

    /// The probability that a document brings a value never seen before.
    ///
    /// Two explanations of the history compete. *Closed*: the vocabulary stopped growing at
    /// the last novelty (status codes, methods, a site's pages); then no document is new.
    /// *Open*: new values still come, at a rate `q` that may have changed since
    /// (Jeffreys' `Beta(0.5, 0.5)` before the quiet run). Before the evidence, closing at the
    /// last novelty is as likely as Laplace's rule of succession says after `novel`
    /// novelties, `1 / (novel + 2)` (even odds on a field that never brought a new value).
    /// The evidence is the quiet run, `Q` documents since the last occasion that brought a
    /// new value: certain under *closed*, as likely as `E[(1 - q)^Q] = B(0.5, Q + 0.5) /
    /// B(0.5, 0.5)`, about `1 / sqrt(pi Q)`, under *open*. If open, a document is new with
    /// probability the smaller of the novelty rate over the whole history,
    /// `(novel + 0.5) / (N + 1)`, and over the quiet run, `0.5 / (Q + 1)`.
    ///
    /// So three URLs in every bucket for 2,900 documents bring a new one with probability
    /// about `1 / sqrt(pi Q) * 0.5 / N`, 2e-6 (a score near 72; after a week of 30 an hour
    /// 7e-7, past 75); a field that brings new values every bucket (URLs with ids, client
    /// IPs) has no quiet run and keeps its plain novelty rate (a score near 0); a vocabulary
    /// that grew for a day, then held still for two weeks, lies between (about 60).
    pub fn novelty(&self) -> f64 {
        let q = self.quiet;
        let rate = ((self.novel + 0.5) / (self.documents + 1.0)).min(0.5 / (q + 1.0));
        // ln B(0.5, Q + 0.5) - ln B(0.5, 0.5), with Γ(0.5) = sqrt(pi) and Γ(1) = 1.
        let ln_quiet = ln_gamma(q + 0.5) - ln_gamma(q + 1.0) - 0.5 * std::f64::consts::PI.ln();
        let prior_open = (self.novel + 1.0) / (self.novel + 2.0);
        let open = prior_open * ln_quiet.exp();
        let closed = 1.0 - prior_open;
        rate * open / (open + closed)
    }

    /// Scores the values of one occasion without learning them (see [`Rarity::observe`]).
    pub fn score(&self, values: &[Occurrence<'_>], frequent: bool) -> Vec<Observation> {
        let typical_uses = if self.pairs > 0.0 {
            self.documents / self.pairs
        } else {
            1.0
        };
        let novelty = self.novelty();
        values
            .iter()
            .map(|o| {
                let n = self.seen.get(o.value).copied().unwrap_or(0.0);
                let mut p = if n > 0.0 {
                    (n.max(self.novel) + 0.5) / (self.documents + 1.0)
                } else {
                    novelty
                };
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
        let mut brought_new = false;
        let mut documents = 0.0;
        for o in values {
            let n = self.seen.entry(o.value.to_string()).or_insert(0.0);
            if *n == 0.0 && !learning {
                self.novel += 1.0;
                brought_new = true;
            }
            *n += o.uses as f64;
            documents += o.uses as f64;
            self.pairs += 1.0;
        }
        self.documents += documents;
        if brought_new {
            self.quiet = 0.0;
        } else {
            self.quiet += documents;
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
        out.extend_from_slice(&self.quiet.to_le_bytes());
        out
    }

    /// The state back from [`Rarity::to_bytes`]; `None` if the bytes are not a state. A
    /// state saved before the quiet run was kept (no trailing number) takes the whole history
    /// as quiet when nothing new ever came, else none of it.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut r = Bytes(bytes);
        let mut model = Rarity {
            occasions: r.f64()?,
            documents: r.f64()?,
            novel: r.f64()?,
            pairs: r.f64()?,
            seen: BTreeMap::new(),
            quiet: 0.0,
        };
        for _ in 0..r.u64()? {
            let len = usize::try_from(r.u64()?).ok()?;
            let value = String::from_utf8(r.take(len)?.to_vec()).ok()?;
            model.seen.insert(value, r.f64()?);
        }
        model.quiet = if r.0.is_empty() {
            if model.novel == 0.0 {
                model.documents
            } else {
                0.0
            }
        } else {
            r.f64()?
        };
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

/// `ln Γ(x)` for `x > 0`: Stirling's series after shifting `x` past 20 (error under 1e-12).
fn ln_gamma(mut x: f64) -> f64 {
    let mut shift = 0.0;
    while x < 20.0 {
        shift -= x.ln();
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0));
    shift + (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + series
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

    /// The score a never-seen value gets from `m`, as the normalizer anchors it.
    fn new_value_score(m: &Rarity) -> f64 {
        let p = m.score(&[occ("never-seen", 1)], false)[0].probability;
        crate::score::probability_to_score(p)
    }

    /// `buckets` occasions of three URLs, ten documents each.
    fn stable(buckets: usize) -> Rarity {
        let mut m = Rarity::default();
        for _ in 0..buckets {
            m.observe(&[occ("/", 10), occ("/login", 10), occ("/cart", 10)], false);
        }
        m
    }

    #[test]
    fn a_never_seen_value_on_a_long_stable_field_is_critical() {
        // Before the quiet run was weighed, a never-seen value was 0.5 / (N + 1) whatever
        // the field: 47 after 4 days of 30 documents an hour, 51 after 7.
        let four_days = stable(96);
        let week = stable(168);
        let month = stable(720);
        let (s4, s7, s30) = (
            new_value_score(&four_days),
            new_value_score(&week),
            new_value_score(&month),
        );
        assert!((70.0..75.0).contains(&s4), "{s4}");
        assert!(s7 >= 75.0, "{s7}");
        assert!(s30 > s7 && s30 > 85.0, "{s30}");
        eprintln!("4 days {s4:.1}, 7 days {s7:.1}, 30 days {s30:.1}");
        // A value seen once is less surprising than one never seen.
        let mut m = week.clone();
        m.observe(&[occ("/", 10), occ("/admin", 1)], false);
        let once = m.score(&[occ("/admin", 1)], false)[0].probability;
        let never = m.score(&[occ("/shell.php", 1)], false)[0].probability;
        // Once something new has come the field is no longer closed: the next new value is
        // about as likely as that one was.
        assert!(once >= never, "{once} {never}");
        assert!(new_value_score(&m) < 50.0, "{}", new_value_score(&m));
        // The known values are as likely as their share.
        let obs = week.score(&[occ("/", 10)], false);
        assert!(obs[0].probability > 0.3, "{:?}", obs[0]);
    }

    #[test]
    fn a_never_seen_value_where_new_values_come_every_bucket_is_not() {
        // Thirty documents an hour, a third of them to URLs with fresh ids.
        let mut m = Rarity::default();
        let mut next = 0;
        for _ in 0..168 {
            let ids: Vec<String> = (0..10).map(|i| format!("/item/{}", next + i)).collect();
            next += 10;
            let mut occs = vec![occ("/", 10), occ("/cart", 10)];
            occs.extend(ids.iter().map(|u| occ(u, 1)));
            m.observe(&occs, false);
        }
        let s = new_value_score(&m);
        assert!(s < 10.0, "{s}");
        eprintln!("new values every bucket {s:.1}");
    }

    #[test]
    fn a_vocabulary_that_grew_then_held_still_gains_surprise_with_the_quiet() {
        // A day of new pages (one an hour), then quiet.
        let mut m = Rarity::default();
        for h in 0..24 {
            let page = format!("/page/{h}");
            m.observe(&[occ("/", 20), occ(&page, 1)], false);
        }
        let grown = new_value_score(&m);
        for _ in 0..24 * 13 {
            m.observe(&[occ("/", 20), occ("/page/3", 1)], false);
        }
        let still = new_value_score(&m);
        // Growing: about one new value in 20 documents; after two quiet weeks far rarer, yet
        // below a field that never grew.
        assert!(grown < 20.0, "{grown}");
        assert!(still > grown + 30.0 && still < 75.0, "{grown} {still}");
        eprintln!("grown {grown:.1}, still {still:.1}");
    }

    #[test]
    fn rarity_state_round_trips_and_reads_the_older_layout() {
        let mut m = stable(10);
        m.observe(&[occ("/", 5), occ("/new", 1)], false);
        m.observe(&[occ("/", 5)], false);
        let back = Rarity::from_bytes(&m.to_bytes()).expect("state");
        assert_eq!(back, m);
        assert!(Rarity::from_bytes(&m.to_bytes()[1..]).is_none());
        // Without the trailing quiet run: none of it once something new has come.
        let bytes = m.to_bytes();
        let old = Rarity::from_bytes(&bytes[..bytes.len() - 8]).expect("old state");
        assert_eq!(old.quiet, 0.0);
        let s = stable(10);
        let bytes = s.to_bytes();
        let old = Rarity::from_bytes(&bytes[..bytes.len() - 8]).expect("old state");
        assert_eq!(old, s);
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        assert!(ln_gamma(1.0).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        // ln(100!)
        assert!((ln_gamma(101.0) - 363.739_375_555_563_5).abs() < 1e-9);
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
