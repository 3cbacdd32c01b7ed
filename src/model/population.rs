//! Placeholder population model for `over_field_name` analysis; replaced by the full model.

use super::{Baseline, ModelConfig, Observation};

/// Scores each entity against its peers in the same bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    peers: Baseline,
}

impl Population {
    /// A fresh population model.
    pub fn new(cfg: &ModelConfig) -> Self {
        Population {
            peers: Baseline::new(cfg),
        }
    }

    /// Scores every entity's value in the bucket starting at `time` (in the order given),
    /// then learns the bucket's population.
    pub fn observe_bucket(
        &mut self,
        cfg: &ModelConfig,
        time: i64,
        values: &[f64],
    ) -> Vec<Observation> {
        values
            .iter()
            .map(|&v| self.peers.observe(cfg, time, v))
            .collect()
    }
}

impl Population {
    /// The state as bytes, for snapshots.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.peers.to_bytes()
    }

    /// The state back from [`Population::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Baseline::from_bytes(bytes).map(|peers| Population { peers })
    }
}
