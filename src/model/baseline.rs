//! Placeholder per-partition baseline (hour-of-day EWMA); replaced by the full model.

use super::{Expected, ModelConfig, Observation, Reason, Tail, ValueKind};

const SLOTS: usize = 24;

/// Per-partition time-series model.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    mean: [f32; SLOTS],
    var: [f32; SLOTS],
    weight: [f32; SLOTS],
}

impl Baseline {
    /// A fresh baseline that knows nothing.
    pub fn new(_cfg: &ModelConfig) -> Self {
        Baseline {
            mean: [0.0; SLOTS],
            var: [0.0; SLOTS],
            weight: [0.0; SLOTS],
        }
    }

    fn slot(time: i64) -> usize {
        (time.div_euclid(3_600_000) % 24) as usize
    }

    /// Typical value and bounds at `time` without learning.
    pub fn expected(&self, _cfg: &ModelConfig, time: i64) -> Expected {
        let s = Self::slot(time);
        let m = self.mean[s] as f64;
        let sd = (self.var[s] as f64).sqrt();
        Expected {
            typical: m,
            lower: m - 2.0 * sd,
            upper: m + 2.0 * sd,
        }
    }

    /// Scores `value` for the bucket starting at `time`, then learns from it.
    pub fn observe(&mut self, cfg: &ModelConfig, time: i64, value: f64) -> Observation {
        let s = Self::slot(time);
        let e = self.expected(cfg, time);
        let floor = if cfg.kind == ValueKind::Count {
            e.typical.abs().sqrt().max(1.0)
        } else {
            1e-9
        };
        let sd = ((self.var[s] as f64).sqrt()).max(floor);
        let z = (value - e.typical) / sd;
        let z = match cfg.tail {
            Tail::Both => z.abs(),
            Tail::High => z.max(0.0),
            Tail::Low => (-z).max(0.0),
        };
        let learned = (self.weight[s] as f64 / 3.0).min(1.0);
        let probability = (-(z * learned).powi(2) / 2.0).exp().clamp(1e-300, 1.0);
        let alpha = 1.0 / (self.weight[s] as f64 + 1.0).min(20.0);
        let d = value - self.mean[s] as f64;
        self.mean[s] += (alpha * d) as f32;
        self.var[s] = ((1.0 - alpha) * (self.var[s] as f64 + alpha * d * d)) as f32;
        self.weight[s] += 1.0;
        Observation {
            probability,
            actual: value,
            typical: e.typical,
            lower: e.lower,
            upper: e.upper,
            reason: if value >= e.typical {
                Reason::Spike
            } else {
                Reason::Dip
            },
            multi_bucket_impact: 0.0,
        }
    }
}

impl Baseline {
    /// The state as bytes, for snapshots.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SLOTS * 12);
        for a in [&self.mean, &self.var, &self.weight] {
            for x in a.iter() {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }

    /// The state back from [`Baseline::to_bytes`]; `None` if the bytes are not a state.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != SLOTS * 12 {
            return None;
        }
        let mut b = Baseline {
            mean: [0.0; SLOTS],
            var: [0.0; SLOTS],
            weight: [0.0; SLOTS],
        };
        let mut chunks = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        for a in [&mut b.mean, &mut b.var, &mut b.weight] {
            for x in a.iter_mut() {
                *x = chunks.next()?;
            }
        }
        Some(b)
    }

    /// Notes a bucket without data (placeholder: learns nothing).
    pub fn observe_missing(&mut self, _cfg: &ModelConfig, _time: i64) -> Option<Observation> {
        None
    }
}
