//! Probabilities to 0-100 scores.
//!
//! Placeholder mapping from probability to score, anchored to the probability so one alert
//! threshold means the same across jobs and partitions; replaced by the full normalizer.

/// Turns record probabilities into 0-100 scores for one job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalizer {}

impl Normalizer {
    /// A fresh normalizer.
    pub fn new() -> Self {
        Normalizer {}
    }

    /// Score for a record with this probability; also feeds the job's history.
    pub fn record_score(&mut self, probability: f64) -> f64 {
        probability_to_score(probability)
    }

    /// Score for a bucket whose records have these probabilities.
    pub fn bucket_score(&mut self, probabilities: &[f64]) -> f64 {
        probabilities
            .iter()
            .copied()
            .fold(1.0, f64::min)
            .pipe(probability_to_score)
    }
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl Pipe for f64 {}

/// Maps a probability to 0-100 on a log scale: 1e-2 → 25, 1e-4 → 50, 1e-6 → 75, 1e-8 → 100.
pub fn probability_to_score(p: f64) -> f64 {
    let l = -p.max(1e-300).log10();
    (l * 12.5).clamp(0.0, 100.0)
}

impl Normalizer {
    /// The state as bytes, for snapshots.
    pub fn to_bytes(&self) -> Vec<u8> {
        Vec::new()
    }

    /// The state back from [`Normalizer::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.is_empty().then(Normalizer::new)
    }
}
