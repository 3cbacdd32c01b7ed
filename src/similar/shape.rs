//! Exact shape measures between two windows of bucket values: z-normalised distance with a
//! lag search, plain (Pearson) correlation, and dynamic time warping within a band.
//!
//! Distances are root-mean-square over the window of the z-normalised values, so they read
//! the same for any window length: 0 is the same shape, √2 ≈ 1.41 unrelated, 2 the mirror
//! image. For z-normalised windows `d² = 2 (1 − r)`, so distance and correlation agree at
//! one lag; the lag search and DTW are what they add.

/// Below this standard deviation a window is flat: it has no shape to compare.
const FLAT: f64 = 1e-9;

/// The z-normalised copy of `x` (mean 0, standard deviation 1), or `None` when `x` is flat.
pub(crate) fn znorm(x: &[f64]) -> Option<Vec<f64>> {
    if x.is_empty() {
        return None;
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let sd = var.sqrt();
    if !sd.is_finite() || sd < FLAT * mean.abs().max(1.0) {
        return None;
    }
    Some(x.iter().map(|v| (v - mean) / sd).collect())
}

/// Root-mean-square difference of two equally long z-normalised windows.
pub(crate) fn rms_distance(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()).max(1) as f64;
    let s: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    (s / n).sqrt()
}

/// The distance of an unrelated shape (correlation 0), given to flat windows.
pub(crate) const UNRELATED: f64 = std::f64::consts::SQRT_2;

/// How a candidate window compares with the query window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exact {
    /// z-normalised RMS distance at the best lag.
    pub distance: f64,
    /// The best lag in buckets: positive when the candidate moves later than the query.
    pub lag: i64,
    /// Pearson correlation at lag 0.
    pub correlation: f64,
}

/// Compares `query` (n values) with `candidate` (n + 2·`max_lag` values, starting
/// `max_lag` buckets before the query window) at every lag in `-max_lag..=max_lag`.
/// `None` when the lengths do not fit or the query window is flat.
///
/// ```
/// use tidewatch::similar::compare;
/// let query = [1.0, 1.0, 9.0, 1.0, 1.0, 1.0];
/// // The same blip one bucket later, in a window starting one bucket earlier.
/// let candidate = [5.0, 5.0, 5.0, 5.0, 45.0, 5.0, 5.0, 5.0];
/// let e = compare(&query, &candidate, 1).unwrap();
/// assert_eq!(e.lag, 1);
/// assert!(e.distance < 1e-9);
/// ```
pub fn compare(query: &[f64], candidate: &[f64], max_lag: usize) -> Option<Exact> {
    let n = query.len();
    if n < 2 || candidate.len() != n + 2 * max_lag {
        return None;
    }
    let q = znorm(query)?;
    let mut best: Option<(f64, i64)> = None;
    let mut correlation = 0.0;
    for shift in 0..=2 * max_lag {
        let lag = shift as i64 - max_lag as i64;
        let d = match znorm(&candidate[shift..shift + n]) {
            Some(c) => rms_distance(&q, &c),
            None => UNRELATED,
        };
        if lag == 0 {
            correlation = 1.0 - d * d / 2.0;
        }
        // Ties go to the smaller |lag|: lag 0 is tried in order, so only strictly better wins.
        let better = match best {
            None => true,
            Some((bd, bl)) => d < bd - 1e-12 || (d <= bd + 1e-12 && lag.abs() < bl.abs()),
        };
        if better {
            best = Some((d, lag));
        }
    }
    let (distance, lag) = best?;
    Some(Exact {
        distance,
        lag,
        correlation,
    })
}

/// Dynamic time warping distance between two equally long windows, each z-normalised,
/// allowing a point to match another at most `band` buckets away (Sakoe-Chiba band); the
/// cost is the RMS of the warping path's differences, comparable with [`rms_distance`].
/// `None` when either window is flat or the lengths differ.
pub(crate) fn dtw(a: &[f64], b: &[f64], band: usize) -> Option<f64> {
    let n = a.len();
    if n == 0 || b.len() != n {
        return None;
    }
    let (a, b) = (znorm(a)?, znorm(b)?);
    // cost[i][j] over the band only, with the path length to normalise by.
    let width = 2 * band + 1;
    let inside = |i: usize, j: usize| i.abs_diff(j) <= band;
    let idx = |i: usize, j: usize| i * width + (j + band - i);
    let mut cost = vec![(f64::INFINITY, 0usize); n * width];
    for i in 0..n {
        for j in i.saturating_sub(band)..=(i + band).min(n - 1) {
            let d = (a[i] - b[j]) * (a[i] - b[j]);
            let mut prev = if i == 0 && j == 0 {
                (0.0, 0)
            } else {
                (f64::INFINITY, 0)
            };
            let steps = [
                (i > 0).then(|| (i - 1, j)),
                (j > 0).then(|| (i, j - 1)),
                (i > 0 && j > 0).then(|| (i - 1, j - 1)),
            ];
            for (pi, pj) in steps.into_iter().flatten() {
                if inside(pi, pj) && cost[idx(pi, pj)].0 < prev.0 {
                    prev = cost[idx(pi, pj)];
                }
            }
            cost[idx(i, j)] = (prev.0 + d, prev.1 + 1);
        }
    }
    let (total, steps) = cost[idx(n - 1, n - 1)];
    Some((total / steps.max(1) as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spike(n: usize, at: usize) -> Vec<f64> {
        (0..n)
            .map(|i| if i == at || i == at + 1 { 10.0 } else { 1.0 })
            .collect()
    }

    #[test]
    fn same_shape_at_another_scale_is_distance_zero() {
        let q = spike(24, 10);
        let c: Vec<f64> = q.iter().map(|v| 500.0 + 40.0 * v).collect();
        let e = compare(&q, &c, 0).expect("compare");
        assert!(
            e.distance < 1e-9 && (e.correlation - 1.0).abs() < 1e-9,
            "{e:?}"
        );
        let mirrored: Vec<f64> = q.iter().map(|v| -v).collect();
        let e = compare(&q, &mirrored, 0).expect("compare");
        assert!((e.distance - 2.0).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn lag_search_finds_a_shape_two_buckets_later() {
        let q = spike(24, 10);
        // Candidate window starts 2 buckets before the query's; its spike is at 12 + 2.
        let c = spike(28, 14);
        let e = compare(&q, &c, 2).expect("compare");
        assert_eq!(e.lag, 2, "{e:?}");
        assert!(e.distance < 1e-9);
        assert!(e.correlation < 0.5, "at lag 0 the spikes miss: {e:?}");
    }

    #[test]
    fn flat_windows_are_unrelated_and_flat_queries_have_no_answer() {
        let q = spike(24, 10);
        let e = compare(&q, &[3.0; 24], 0).expect("compare");
        assert_eq!(e.distance, UNRELATED);
        assert!(compare(&[3.0; 24], &q, 0).is_none());
        assert!(compare(&q, &q[..20], 0).is_none(), "lengths must fit");
    }

    #[test]
    fn dtw_forgives_a_small_shift_that_euclid_does_not() {
        let q = spike(24, 10);
        let c = spike(24, 11);
        let euclid = rms_distance(&znorm(&q).unwrap(), &znorm(&c).unwrap());
        let warped = dtw(&q, &c, 2).expect("dtw");
        assert!(warped < 0.2 * euclid, "dtw {warped} vs euclid {euclid}");
        assert!(dtw(&q, &q, 2).unwrap() < 1e-12);
        assert!(dtw(&q, &c, 0).unwrap() > 0.9 * euclid, "band 0 is euclid");
    }
}
