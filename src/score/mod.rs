//! Probabilities to 0-100 scores.
//!
//! A score is first **anchored to the probability** ([`probability_to_score`]): a log
//! scale on which 1e-2 is 25, 1e-4 is 50 and 1e-6 is 75 (bending towards 100 above), the same for every job
//! and partition, so one alert threshold means the same thing across thousands of
//! partitions and a quiet series does not produce 75s as often as a noisy one.
//!
//! The per-job [`Normalizer`] then keeps a quantile sketch of the job's history (an exact
//! histogram of `-log10 p`, tenth-of-a-decade bins to 1e-40 and whole decades to 1e-300, kept
//! in a Fenwick tree so a rank costs O(log bins)) and damps
//! scores of levels the job reaches often: if one record in ten of this job is at least as
//! unusual, a 75 becomes about 45. Rare levels keep their anchored score. A score is computed
//! once, when its bucket is analysed, from the history up to then: tidewatch does not
//! renormalize stored results as Elastic ML does, so `record_score` always equals
//! `initial_record_score` (and `anomaly_score` `initial_anomaly_score`).
//!
//! What the runner calls, per bucket of a job:
//! 1. for each record (partition or entity value) with probability `p`:
//!    `let initial_record_score = normalizer.record_score(p);` (learns `p`, then scores it);
//! 2. `let initial_anomaly_score = normalizer.bucket_score(&record_probabilities);`
//! 3. for each influencer value: `normalizer.influencer_score(&probabilities_of_its_records)`;
//! 4. to score a probability against the history as it stands, without learning it:
//!    `normalizer.score(p)` for records and influencers, `normalizer.bucket_score_now(&ps)`
//!    for buckets (stored results are never rescored).
//!
//! [`Severity`] names the bands 0–25, 25–50, 50–75, 75–100.

/// Bins per decade of probability in the sketch, down to [`FINE_DECADES`].
const PER_DECADE: f64 = 10.0;
/// Decades covered at a tenth of a decade; beyond, one bin per decade down to 1e-300.
const FINE_DECADES: usize = 40;
const FINE: usize = FINE_DECADES * PER_DECADE as usize;
const BINS: usize = FINE + (300 - FINE_DECADES) + 1;

/// Counts per bin with suffix sums in O(log bins) (a Fenwick tree over reversed bins).
#[derive(Debug, Clone, PartialEq)]
struct Sketch {
    tree: Vec<u64>,
    total: u64,
}

impl Sketch {
    fn new() -> Self {
        Sketch {
            tree: vec![0; BINS + 1],
            total: 0,
        }
    }

    /// Adds one observation in bin `b`.
    fn add(&mut self, b: usize) {
        // Reverse the order so a prefix sum is a count of bins >= b.
        let mut i = BINS - b;
        while i <= BINS {
            self.tree[i] += 1;
            i += i & i.wrapping_neg();
        }
        self.total += 1;
    }

    /// Observations in bins `>= b`.
    fn at_least(&self, b: usize) -> u64 {
        let mut i = BINS - b;
        let mut n = 0;
        while i > 0 {
            n += self.tree[i];
            i -= i & i.wrapping_neg();
        }
        n
    }
}
/// History size below which scores are not damped.
const MIN_HISTORY: u64 = 500;

/// Maps a probability to 0-100 on a log scale: 1e-2 → 25, 1e-4 → 50, 1e-6 → 75; above 75 the
/// scale bends smoothly towards 100 (1e-8 → 94, 1e-12 → 98.4, 1e-300 → 99.999) so the most
/// unusual records still rank against each other instead of all tying at 100.
///
/// ```
/// let s = tidewatch::score::probability_to_score(1e-6);
/// assert!((s - 75.0).abs() < 1e-9);
/// ```
pub fn probability_to_score(p: f64) -> f64 {
    let l = -p.clamp(1e-300, 1.0).log10();
    let linear = l * 12.5;
    if linear <= 75.0 {
        linear.max(0.0)
    } else {
        // Above 75 the scale bends smoothly towards 100, so scores never tie at the top.
        // The bend is polynomial, not exponential, so a 1e-300 still outranks a 1e-100
        // (with an exponential bend both were 100 to the last bit).
        let u = (linear - 75.0) / 25.0;
        100.0 - 25.0 / ((1.0 + u) * (1.0 + u))
    }
}

/// Severity band of a 0-100 score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// 0 to 25.
    Warning,
    /// 25 to 50.
    Minor,
    /// 50 to 75.
    Major,
    /// 75 to 100.
    Critical,
}

impl Severity {
    /// The band a score falls in.
    pub fn of(score: f64) -> Severity {
        if score >= 75.0 {
            Severity::Critical
        } else if score >= 50.0 {
            Severity::Major
        } else if score >= 25.0 {
            Severity::Minor
        } else {
            Severity::Warning
        }
    }

    /// Lower-case name, as Kibana shows it.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }
}

/// Per-job normalizer: turns probabilities into 0-100 scores anchored to the probability and
/// damped for levels this job reaches often.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    records: Sketch,
    buckets: Sketch,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn bin(p: f64) -> usize {
    let l = -p.clamp(1e-300, 1.0).log10();
    let fine = (l * PER_DECADE) as usize;
    if fine < FINE {
        fine
    } else {
        (FINE + (l as usize).saturating_sub(FINE_DECADES)).min(BINS - 1)
    }
}

/// Share of history at least as unusual as bin `b`, excluding one occurrence (the value
/// itself when it was just learned).
fn share_at_least(hist: &Sketch, b: usize, exclude_self: bool) -> Option<f64> {
    let total = hist.total;
    if total < MIN_HISTORY {
        return None;
    }
    let mut n: u64 = hist.at_least(b);
    if exclude_self {
        n = n.saturating_sub(1);
    }
    Some(n as f64 / total as f64)
}

fn damped(p: f64, share: Option<f64>) -> f64 {
    let base = probability_to_score(p);
    match share {
        None => base,
        Some(r) => {
            // -log10 share of 3 or more (one record in a thousand): no damping.
            let rarity = -(r.max(1e-12)).log10();
            let factor = (rarity / 3.0).sqrt().clamp(0.5, 1.0);
            base * factor
        }
    }
}

impl Normalizer {
    /// A fresh normalizer with no history.
    pub fn new() -> Self {
        Normalizer {
            records: Sketch::new(),
            buckets: Sketch::new(),
        }
    }

    /// Adds a record probability to the job's history without scoring it.
    pub fn observe(&mut self, probability: f64) {
        self.records.add(bin(probability));
    }

    /// The score of a record probability against the history as it stands (pure).
    pub fn score(&self, probability: f64) -> f64 {
        if probability_to_score(probability) <= 0.0 {
            return 0.0;
        }
        damped(
            probability,
            share_at_least(&self.records, bin(probability), false),
        )
    }

    /// Learns a record's probability and returns its initial `record_score`.
    pub fn record_score(&mut self, probability: f64) -> f64 {
        self.observe(probability);
        damped(
            probability,
            share_at_least(&self.records, bin(probability), true),
        )
    }

    /// Learns a bucket (the probabilities of all its records) and returns its initial
    /// `anomaly_score`: the score of its most unusual record, damped by the job's bucket
    /// history. An empty bucket scores 0.
    pub fn bucket_score(&mut self, probabilities: &[f64]) -> f64 {
        let p = probabilities.iter().copied().fold(1.0, f64::min);
        self.buckets.add(bin(p));
        damped(p, share_at_least(&self.buckets, bin(p), true))
    }

    /// The `anomaly_score` of a bucket against the history as it stands (pure).
    pub fn bucket_score_now(&self, probabilities: &[f64]) -> f64 {
        let p = probabilities.iter().copied().fold(1.0, f64::min);
        damped(p, share_at_least(&self.buckets, bin(p), false))
    }

    /// `influencer_score` for an influencer value from the probabilities of the records it
    /// influenced in the bucket: the score of the most unusual one (pure).
    pub fn influencer_score(&self, probabilities: &[f64]) -> f64 {
        let p = probabilities.iter().copied().fold(1.0, f64::min);
        self.score(p)
    }

    /// The normalizer's history as bytes (little-endian, fixed length), for checkpoints: a
    /// runner restored from them scores exactly as one that never stopped.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 * 8 * (BINS + 2));
        for sketch in [&self.records, &self.buckets] {
            out.extend_from_slice(&sketch.total.to_le_bytes());
            for v in &sketch.tree {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Restores a normalizer written by [`Normalizer::to_bytes`]; `None` if the bytes are not
    /// such a snapshot.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 2 * 8 * (BINS + 2) {
            return None;
        }
        let mut words = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        let mut read = || {
            let total = words.next()?;
            let tree: Vec<u64> = (0..=BINS).map(|_| words.next()).collect::<Option<_>>()?;
            Some(Sketch { tree, total })
        };
        let records = read()?;
        let buckets = read()?;
        Some(Normalizer { records, buckets })
    }

    /// Records learned so far.
    pub fn history(&self) -> u64 {
        self.records.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchored_mapping() {
        assert_eq!(probability_to_score(1.0), 0.0);
        assert!((probability_to_score(1e-2) - 25.0).abs() < 1e-9);
        assert!((probability_to_score(1e-4) - 50.0).abs() < 1e-9);
        assert!((probability_to_score(1e-8) - 93.75).abs() < 1e-9);
        assert!(probability_to_score(1e-30) > 99.8 && probability_to_score(1e-30) < 100.0);
        // No ties at the top, down to the smallest probability a model reports.
        for decades in [29, 99, 299] {
            let p = 10f64.powi(-decades);
            assert!(
                probability_to_score(p / 10.0) > probability_to_score(p),
                "1e-{decades}"
            );
        }
        assert!(probability_to_score(1e-300) < 100.0);
        assert_eq!(Severity::of(80.0), Severity::Critical);
        assert_eq!(Severity::of(60.0), Severity::Major);
        assert_eq!(Severity::of(30.0), Severity::Minor);
        assert_eq!(Severity::of(3.0).name(), "warning");
    }

    #[test]
    fn rare_levels_keep_their_score_common_ones_are_damped() {
        let mut quiet = Normalizer::new();
        let mut noisy = Normalizer::new();
        for i in 0..10_000 {
            quiet.record_score(0.5);
            // One record in ten reaches 1e-6 in the noisy job.
            noisy.record_score(if i % 10 == 0 { 1e-6 } else { 0.5 });
        }
        let q = quiet.record_score(1e-6);
        let n = noisy.record_score(1e-6);
        assert!(
            (q - 75.0).abs() < 1e-9,
            "quiet job keeps the anchored score: {q}"
        );
        assert!(
            n < 50.0,
            "a level reached every tenth record is not critical: {n}"
        );
        // Initial versus renormalized: history that grows noisier lowers the later score.
        let mut job = Normalizer::new();
        for _ in 0..1000 {
            job.record_score(0.9);
        }
        let initial = job.record_score(1e-7);
        for _ in 0..1000 {
            job.record_score(1e-7);
        }
        assert!(job.score(1e-7) < initial);
        let restored = Normalizer::from_bytes(&job.to_bytes()).unwrap();
        assert_eq!(restored, job);
        assert!(Normalizer::from_bytes(&[0; 5]).is_none());
    }

    #[test]
    fn bucket_and_influencer_scores_follow_the_worst_record() {
        let mut n = Normalizer::new();
        let b = n.bucket_score(&[0.5, 1e-8, 0.1]);
        assert!((b - probability_to_score(1e-8)).abs() < 1e-9);
        assert_eq!(n.bucket_score(&[]), 0.0);
        assert!((n.influencer_score(&[1e-4, 0.3]) - 50.0).abs() < 1e-9);
    }
}
