//! The candidate stage: a compact shape code per series, searched in one pass.
//!
//! Each series is cut into segments of a few buckets and each segment kept as its mean
//! (piecewise aggregate approximation, PAA), quantised to one byte against the minimum and
//! maximum of its block of [`BLOCK`] segments (a day at 30-minute segments). A day of
//! 15-minute buckets is then 48 bytes plus 8 for the block's scale, instead of 96 floats.
//!
//! Why PAA bytes and not SAX letters: SAX quantises *after* z-normalising a fixed window,
//! but the query window is chosen at query time (any `--at`, any `--window`), so the code
//! must survive re-normalising over any run of segments. Min-max bytes do: decoding is one
//! multiply-add, and the z-normalised distance of two segment runs is computed from three
//! running sums without allocating. A segment-level lag of ±1 covers the bucket-level lag
//! search of the exact stage.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Segments per quantisation block.
pub const BLOCK: usize = 48;

/// Fingerprints of many equally long series over the same buckets.
///
/// ```
/// use tidewatch::similar::ShapeIndex;
/// // Three series of 96 buckets: two share a spike at bucket 40, one is a ramp.
/// let spike = |scale: f64| -> Vec<f64> {
///     (0..96).map(|i| if (40..42).contains(&i) { 10.0 * scale } else { scale }).collect()
/// };
/// let mut index = ShapeIndex::new(96, 1);
/// let query = index.push(&spike(1.0));
/// let twin = index.push(&spike(40.0));
/// index.push(&(0..96).map(f64::from).collect::<Vec<_>>());
/// // Buckets 30..54, lags of up to 2 buckets, the best 2 candidates.
/// let best = index.candidates(query, 30, 24, 2, 2);
/// assert_eq!(best[0].id, twin);
/// assert!(best[0].distance < 0.05);
/// ```
#[derive(Debug, Clone)]
pub struct ShapeIndex {
    /// Buckets per segment.
    segment: usize,
    /// Segments per series.
    segments: usize,
    /// Series-major segment codes.
    codes: Vec<u8>,
    /// Per series and block: (minimum, step per code).
    scales: Vec<(f32, f32)>,
}

/// One candidate of [`ShapeIndex::candidates`]: a series and its approximate distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Position of the series in the index (the order of [`ShapeIndex::push`]).
    pub id: u32,
    /// Approximate z-normalised RMS distance over the segments, at the best segment lag.
    pub distance: f32,
}

impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.id.cmp(&other.id))
    }
}

impl ShapeIndex {
    /// An empty index for series of `buckets` values cut into segments of `segment` buckets.
    pub fn new(buckets: usize, segment: usize) -> Self {
        let segment = segment.max(1);
        ShapeIndex {
            segment,
            segments: buckets.div_ceil(segment),
            codes: Vec::new(),
            scales: Vec::new(),
        }
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.codes.len() / self.segments.max(1)
    }

    /// Whether the index holds no series.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Buckets per segment.
    pub fn segment(&self) -> usize {
        self.segment
    }

    /// Bytes kept per series: one per segment plus 8 per block.
    pub fn bytes_per_series(&self) -> usize {
        self.segments + 8 * self.segments.div_ceil(BLOCK)
    }

    /// Adds a series (one value per bucket; non-finite values are left out of their
    /// segment's mean) and returns its id.
    pub fn push(&mut self, values: &[f64]) -> u32 {
        let id = self.len() as u32;
        let paa: Vec<f32> = (0..self.segments)
            .map(|s| {
                let part = values.iter().skip(s * self.segment).take(self.segment);
                let (sum, n) = part
                    .filter(|v| v.is_finite())
                    .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
                if n == 0 {
                    0.0
                } else {
                    (sum / n as f64) as f32
                }
            })
            .collect();
        for block in paa.chunks(BLOCK) {
            let min = block.iter().copied().fold(f32::INFINITY, f32::min);
            let max = block.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let step = if max > min { (max - min) / 255.0 } else { 0.0 };
            self.scales.push((min, step));
            for v in block {
                let code = if step > 0.0 { (v - min) / step } else { 0.0 };
                self.codes.push(code.round().clamp(0.0, 255.0) as u8);
            }
        }
        id
    }

    /// The decoded segment values of series `id` from segment `from`, `n` of them.
    fn decode(&self, id: u32, from: usize, out: &mut [f32]) {
        let base = id as usize * self.segments;
        let blocks = self.segments.div_ceil(BLOCK);
        for (k, o) in out.iter_mut().enumerate() {
            let s = from + k;
            let (min, step) = self.scales[id as usize * blocks + s / BLOCK];
            *o = min + step * f32::from(self.codes[base + s]);
        }
    }

    /// The segment range covering buckets `start..start + len`.
    fn segment_range(&self, start: usize, len: usize) -> (usize, usize) {
        let first = start / self.segment;
        let last = (start + len).div_ceil(self.segment).min(self.segments);
        (first, last.max(first + 1).min(self.segments))
    }

    /// The `k` series whose segments over buckets `start..start + len` are closest in shape
    /// to those of series `query` (itself left out), trying segment lags up to the one that
    /// covers `max_lag` buckets. Empty when the query's segments are flat.
    pub fn candidates(
        &self,
        query: u32,
        start: usize,
        len: usize,
        max_lag: usize,
        k: usize,
    ) -> Vec<Candidate> {
        let (first, last) = self.segment_range(start, len);
        let m = last.saturating_sub(first);
        if m < 2 || query as usize >= self.len() || k == 0 {
            return Vec::new();
        }
        let mut q = vec![0.0f32; m];
        self.decode(query, first, &mut q);
        let Some(zq) = znorm32(&q) else {
            return Vec::new();
        };
        let seg_lag = max_lag.div_ceil(self.segment) as isize;
        let lags: Vec<usize> = (-seg_lag..=seg_lag)
            .filter_map(|l| first.checked_add_signed(l))
            .filter(|s| s + m <= self.segments)
            .collect();
        let mut heap: BinaryHeap<Candidate> = BinaryHeap::with_capacity(k + 1);
        let mut buf = vec![0.0f32; m];
        for id in 0..self.len() as u32 {
            if id == query {
                continue;
            }
            let mut best = f32::INFINITY;
            for &s in &lags {
                self.decode(id, s, &mut buf);
                best = best.min(distance_to(&zq, &buf));
            }
            let c = Candidate { id, distance: best };
            if heap.len() < k {
                heap.push(c);
            } else if heap.peek().is_some_and(|worst| c < *worst) {
                heap.pop();
                heap.push(c);
            }
        }
        heap.into_sorted_vec()
    }
}

/// z-normalised copy, or `None` when flat.
fn znorm32(x: &[f32]) -> Option<Vec<f32>> {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let sd = var.sqrt();
    (sd > 1e-6 * mean.abs().max(1.0)).then(|| x.iter().map(|v| (v - mean) / sd).collect())
}

/// RMS distance between the z-normalised query `zq` and `c` once z-normalised, from running
/// sums: with Σzq = 0 and Σzq² = m, d² = 2(1 − r) and r = Σ zq·c / (m·sd(c)).
#[inline]
fn distance_to(zq: &[f32], c: &[f32]) -> f32 {
    let m = zq.len() as f32;
    let (mut s, mut s2, mut dot) = (0.0f32, 0.0f32, 0.0f32);
    for (q, v) in zq.iter().zip(c) {
        s += v;
        s2 += v * v;
        dot += q * v;
    }
    let var = (s2 / m - (s / m) * (s / m)).max(0.0);
    let sd = var.sqrt();
    let r = if sd > 1e-6 * (s / m).abs().max(1.0) {
        (dot / (m * sd)).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    (2.0 * (1.0 - r)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(n: usize, phase: f64, spike_at: Option<usize>) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let base = 100.0 + 50.0 * ((i as f64 / 96.0 + phase) * std::f64::consts::TAU).sin();
                match spike_at {
                    Some(s) if (s..s + 4).contains(&i) => base + 400.0,
                    _ => base,
                }
            })
            .collect()
    }

    #[test]
    fn the_shared_spike_ranks_first_and_the_query_is_left_out() {
        let n = 4 * 96;
        let mut ix = ShapeIndex::new(n, 2);
        let query = ix.push(&wave(n, 0.0, Some(200)));
        let twin = ix.push(&wave(n, 0.3, Some(202)));
        for p in 0..50 {
            ix.push(&wave(n, p as f64 / 50.0, None));
        }
        let got = ix.candidates(query, 188, 24, 2, 5);
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].id, twin, "{got:?}");
        assert!(got.iter().all(|c| c.id != query));
        assert!(got.windows(2).all(|w| w[0].distance <= w[1].distance));
    }

    #[test]
    fn a_day_of_15_minute_buckets_takes_56_bytes_at_30_minute_segments() {
        let mut ix = ShapeIndex::new(96, 2);
        ix.push(&[1.0; 96]);
        assert_eq!(ix.bytes_per_series(), 48 + 8);
        assert_eq!(ix.len(), 1);
        // A flat query has no shape: no candidates.
        assert!(ix.candidates(0, 0, 24, 2, 10).is_empty());
    }
}
