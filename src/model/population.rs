//! Population model for `over_field_name` analysis: each entity's value in a bucket (for
//! example requests or distinct URLs per client IP per 15 minutes) is scored against the
//! learned distribution of all its peers' values.
//!
//! Peer values are heavy-tailed (most entities are ordinary, a few heavy hitters are normal),
//! so the model keeps a decayed histogram of `log2(1 + value)` in quarter-octave bins. A
//! value inside the range peers have shown is scored by the share of peer values at least as
//! large, or within a factor of two of it (a heavy hitter that shows up every bucket is a few
//! in thousands, not an alarm). A
//! value beyond what peers do is scored by a power-law (Pareto) tail fitted to the bulk of
//! the distribution between its 90th and 99th percentiles, so the fit is not inflated by
//! the heavy hitters themselves; the larger of the two probabilities is used.
//!
//! Feed it **every entity that had data in the bucket**, once per bucket, in time order:
//! values for entities without data are not zeros and must not be passed.

use super::{ModelConfig, Observation, Reason, Tail};

const BINS: usize = 112;
const PER_OCTAVE: f64 = 4.0;

/// Buckets learned before outliers are clipped when learned (and scores are at full strength).
const WARM_BUCKETS: u32 = 24;
/// The edge of the peers' range: the top this many values (decayed).
const EDGE_COUNT: f64 = 5.0;
/// Outliers are clipped at twice the top this share of values (or [`EDGE_COUNT`] values,
/// whichever is more) when learned.
const EDGE_SHARE: f64 = 1e-4;

/// A power-law upper tail anchored at the edge of the peers' range.
struct TailFit {
    /// Position of the 99th percentile.
    p99: f64,
    /// Position of the edge of the range.
    edge: f64,
    /// Highest position an outlier is learned at.
    clip: f64,
    /// Log of the share of peers at or beyond the edge.
    ln_edge_share: f64,
    /// Log-survival lost per bin beyond the edge.
    slope: f64,
}

impl TailFit {
    /// Log survival of a value at `pos` by the fitted tail (0 inside the range).
    fn ln_survival(&self, pos: f64) -> f64 {
        if pos > self.edge {
            self.ln_edge_share - self.slope * (pos - self.edge)
        } else {
            0.0
        }
    }
}

/// Scores each entity against its peers in the same bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    mass: [f64; BINS],
    total: f64,
    buckets: u32,
}

#[inline]
fn position(v: f64) -> f64 {
    ((1.0 + v.max(0.0)).log2() * PER_OCTAVE).clamp(0.0, BINS as f64 - 1e-9)
}

#[inline]
fn value_at(pos: f64) -> f64 {
    (pos / PER_OCTAVE).exp2() - 1.0
}

impl Population {
    /// A fresh population model.
    pub fn new(_cfg: &ModelConfig) -> Self {
        Population {
            mass: [0.0; BINS],
            total: 0.0,
            buckets: 0,
        }
    }

    /// Buckets learned so far.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// Position (in bins) where the upper-tail share of peers equals `share`.
    fn upper_quantile_pos(&self, share: f64) -> f64 {
        let target = share * self.total;
        let mut acc = 0.0;
        for b in (0..BINS).rev() {
            let m = self.mass[b];
            if acc + m >= target && m > 0.0 {
                let inside = (target - acc) / m;
                return b as f64 + 1.0 - inside;
            }
            acc += m;
        }
        0.0
    }

    /// Scores every entity's value in the bucket starting at `time` (observations in the
    /// order given) against the peers seen in earlier buckets, then learns this bucket.
    pub fn observe_bucket(
        &mut self,
        cfg: &ModelConfig,
        time: i64,
        values: &[f64],
    ) -> Vec<Observation> {
        let _ = time;
        // Suffix sums: upper[b] = mass in bins >= b.
        let mut upper = [0.0f64; BINS + 1];
        for b in (0..BINS).rev() {
            upper[b] = upper[b + 1] + self.mass[b];
        }
        let total = self.total;
        let conf = (self.buckets as f64 / WARM_BUCKETS as f64).min(1.0);
        let tail = self.tail_fit();
        let median = if total > 0.0 {
            value_at(self.upper_quantile_pos(0.5))
        } else {
            0.0
        };
        let typical_hi = value_at(tail.p99);

        let mut out = Vec::with_capacity(values.len());
        for &v in values {
            let pos = position(v);
            let b = pos as usize;
            let frac = pos - b as f64;
            let ln_high = if total > 0.0 {
                // Peers' values within a factor of two count as "at least as large": the
                // largest value of a continuum is always rare, and not an anomaly.
                let lo = (pos - PER_OCTAVE).max(0.0);
                let lb = lo as usize;
                let lfrac = lo - lb as f64;
                let emp = (upper[lb + 1] + self.mass[lb] * (1.0 - lfrac)) / total;
                let pareto_ln = tail.ln_survival(pos);
                emp.max(1e-300).ln().max(pareto_ln).min(0.0)
            } else {
                0.0
            };
            let ln_low = if total > 0.0 {
                let below = (total - upper[b] + self.mass[b] * frac) / total;
                // Values at the bottom of the range are only as unusual as their bin is rare.
                below
                    .max(self.mass[b] / total * 0.5)
                    .max(1e-300)
                    .ln()
                    .min(0.0)
            } else {
                0.0
            };
            let (ln_p, high) = match cfg.tail {
                Tail::High => (ln_high, true),
                Tail::Low => (ln_low, false),
                Tail::Both => {
                    if ln_high <= ln_low {
                        ((ln_high + std::f64::consts::LN_2).min(0.0), true)
                    } else {
                        ((ln_low + std::f64::consts::LN_2).min(0.0), false)
                    }
                }
            };
            let ln_p = ln_p * conf;
            let reason = if ln_p > -4.6 {
                Reason::Normal
            } else if high {
                Reason::Spike
            } else {
                Reason::Dip
            };
            out.push(Observation {
                probability: ln_p.exp().max(1e-300),
                actual: v,
                typical: median,
                lower: 0.0,
                upper: typical_hi,
                reason,
                multi_bucket_impact: 0.0,
            });
        }
        let clip = if self.buckets >= WARM_BUCKETS {
            tail.clip
        } else {
            f64::INFINITY
        };
        self.learn(cfg, values, clip);
        out
    }

    /// The fitted upper tail of the peers' values (positions in bins).
    fn tail_fit(&self) -> TailFit {
        let total = self.total;
        if total <= 0.0 {
            return TailFit {
                p99: 0.0,
                edge: 0.0,
                clip: f64::INFINITY,
                ln_edge_share: 0.0,
                slope: 0.0,
            };
        }
        let p90 = self.upper_quantile_pos(0.10);
        let p99 = self.upper_quantile_pos(0.01);
        // The edge of what peers do: the top EDGE_COUNT values. Survival there is known
        // from the data; beyond it the tail is extrapolated.
        let share = (EDGE_COUNT / total).min(0.01);
        let edge = self.upper_quantile_pos(share).max(p99);
        // Outliers are learned at most at twice a more robust edge (the top EDGE_SHARE in a
        // large population), so a handful of extreme buckets cannot move it.
        let robust = self
            .upper_quantile_pos((EDGE_COUNT / total).clamp(EDGE_SHARE, 0.01))
            .max(p99);
        // Tail index from the bulk: survival falls tenfold between p90 and p99.
        let slope = std::f64::consts::LN_10 / (p99 - p90).max(PER_OCTAVE * 0.25);
        TailFit {
            p99,
            edge,
            clip: robust + PER_OCTAVE,
            ln_edge_share: share.ln(),
            slope,
        }
    }

    fn learn(&mut self, cfg: &ModelConfig, values: &[f64], clip: f64) {
        if values.is_empty() {
            return;
        }
        let r = cfg.bucket_span_ms.max(1) as f64 / cfg.half_life_ms.max(1) as f64;
        let keep = (-r * std::f64::consts::LN_2).exp();
        for m in self.mass.iter_mut() {
            *m *= keep;
        }
        self.total *= keep;
        for &v in values {
            if !v.is_finite() {
                continue;
            }
            // An entity far beyond its peers is learned at the edge of what peers do (at most
            // twice it), so it does not fatten the tail it is judged by.
            let pos = position(v).min(clip);
            let b = pos as usize;
            self.mass[b] += 1.0;
            self.total += 1.0;
        }
        self.buckets = self.buckets.saturating_add(1);
    }
}

impl Population {
    /// The state as bytes, for snapshots (little-endian, fixed layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BINS * 8 + 12);
        for m in &self.mass {
            out.extend_from_slice(&m.to_le_bytes());
        }
        out.extend_from_slice(&self.total.to_le_bytes());
        out.extend_from_slice(&self.buckets.to_le_bytes());
        out
    }

    /// The state back from [`Population::to_bytes`]; `None` if the bytes are not a state.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != BINS * 8 + 12 {
            return None;
        }
        let f = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            f64::from_le_bytes(a)
        };
        let mut mass = [0.0; BINS];
        for (i, m) in mass.iter_mut().enumerate() {
            *m = f(i);
        }
        let mut b = [0u8; 4];
        b.copy_from_slice(&bytes[BINS * 8 + 8..]);
        Some(Population {
            mass,
            total: f(BINS),
            buckets: u32::from_le_bytes(b),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::baseline::tests::{count_cfg, Rng, M15};
    use crate::score::probability_to_score;

    /// One bucket of per-client values: a log-normal crowd plus a few regular heavy hitters.
    fn crowd(rng: &mut Rng, n: usize, median: f64) -> Vec<f64> {
        let mut v: Vec<f64> = (0..n)
            .map(|_| (median * (0.9 * rng.normal()).exp()).round().max(1.0))
            .collect();
        v.extend(
            [40.0 * median, 60.0 * median, 25.0 * median]
                .map(|x| (x * (0.2 * rng.normal()).exp()).round()),
        );
        v
    }

    #[test]
    fn thousands_of_normal_entities_do_not_alarm_and_an_outlier_does() {
        let cfg = count_cfg(Tail::High);
        let mut pop = Population::new(&cfg);
        let mut rng = Rng::new(21);
        let mut high = 0;
        for i in 0..4 * 96 {
            let obs = pop.observe_bucket(&cfg, i * M15, &crowd(&mut rng, 3000, 6.0));
            if i >= 24 {
                high += obs
                    .iter()
                    .filter(|o| probability_to_score(o.probability) >= 50.0)
                    .count();
            }
        }
        assert!(high <= 2, "{high} normal records scored >= 50");
        let mut bucket = crowd(&mut rng, 3000, 6.0);
        bucket.push(3000.0);
        let obs = pop.observe_bucket(&cfg, 4 * 96 * M15, &bucket);
        let attacker = obs.last().unwrap();
        assert!(
            probability_to_score(attacker.probability) >= 75.0,
            "{}",
            probability_to_score(attacker.probability)
        );
        assert_eq!(attacker.reason, Reason::Spike);
        let others = obs[..obs.len() - 1]
            .iter()
            .map(|o| probability_to_score(o.probability))
            .fold(0.0, f64::max);
        assert!(others < 50.0, "{others}");
    }

    #[test]
    fn an_outlier_that_persists_does_not_fatten_its_own_tail() {
        let cfg = count_cfg(Tail::High);
        let mut pop = Population::new(&cfg);
        let mut rng = Rng::new(23);
        for i in 0..7 * 96 {
            pop.observe_bucket(&cfg, i * M15, &crowd(&mut rng, 1000, 1.5));
        }
        // A scanner far beyond every peer for an hour: each of its buckets stays critical.
        let mut scores = Vec::new();
        for i in 0..4 {
            let mut bucket = crowd(&mut rng, 1000, 1.5);
            bucket.push(600.0);
            let obs = pop.observe_bucket(&cfg, (7 * 96 + i) * M15, &bucket);
            scores.push(probability_to_score(obs[obs.len() - 1].probability));
        }
        assert!(scores.iter().all(|s| *s >= 80.0), "{scores:?}");
        assert!(
            (scores[3] - scores[0]).abs() < 2.0,
            "the scanner learned itself: {scores:?}"
        );
        // The peers' heavy hitters are still ordinary afterwards.
        let obs = pop.observe_bucket(&cfg, 8 * 96 * M15, &crowd(&mut rng, 1000, 1.5));
        let worst = obs
            .iter()
            .map(|o| probability_to_score(o.probability))
            .fold(0.0, f64::max);
        assert!(worst < 50.0, "{worst}");
    }

    #[test]
    fn low_side_and_learning() {
        let cfg = count_cfg(Tail::Low);
        let mut pop = Population::new(&cfg);
        let first = pop.observe_bucket(&cfg, 0, &[5.0, 6.0, 7.0]);
        assert!(
            first.iter().all(|o| o.probability == 1.0),
            "nothing learned yet"
        );
        let mut rng = Rng::new(22);
        for i in 1..60 {
            let v: Vec<f64> = (0..500).map(|_| 1000.0 + 30.0 * rng.normal()).collect();
            pop.observe_bucket(&cfg, i * M15, &v);
        }
        let obs = pop.observe_bucket(&cfg, 60 * M15, &[1000.0, 2.0, 1e6]);
        assert!(probability_to_score(obs[0].probability) < 25.0);
        assert!(
            probability_to_score(obs[1].probability) >= 50.0,
            "{}",
            obs[1].probability
        );
        assert_eq!(obs[2].probability, 1.0, "low_* ignores high values");
    }
}
