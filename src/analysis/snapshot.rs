//! The analysis state as bytes and back: what a checkpoint stores, so a restarted runner
//! resumes with the models it had. The layout is versioned; a snapshot of another version,
//! job shape or a damaged one restores as `None` (the runner then starts the models afresh).

use super::codec::{Reader, Writer};
use super::{clock_period_ms, DetectorModels, JobAnalysis, MemoryBudget};
use crate::config::Function;
use crate::config::Job;
use crate::model::{Baseline, Places, Population, Rarity, TimeHistogram, PLACES_HEAP_BYTES};
use crate::score::Normalizer;

/// Version of the snapshot layout; bump when it changes (3: calibration and the event
/// floor; 4: the baseline's state is written view by view; 5: no glitch view; 6: weekday
/// offsets per candidate day boundary; 7: their pending shares; 8: the calibration's prior
/// weight kept apart from its data).
const SNAPSHOT_VERSION: u32 = 9;

impl JobAnalysis {
    /// The whole analysis state as bytes: normalizer, then each detector's models in key order.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(SNAPSHOT_VERSION);
        w.bytes(&self.normalizer.to_bytes());
        w.u64(self.memory.allocation_failures);
        w.u32(self.detectors.len() as u32);
        for d in &self.detectors {
            w.u32(d.series.len() as u32);
            for (k, b) in &d.series {
                w.opt_str(&k.0);
                w.opt_str(&k.1);
                w.bytes(&b.to_bytes());
            }
            w.u32(d.populations.len() as u32);
            for (k, p) in &d.populations {
                w.opt_str(&k.0);
                w.opt_str(&k.1);
                w.bytes(&p.to_bytes());
            }
            if d.detector.function.is_frequency() {
                // Only frequency detectors write these, so other jobs' snapshots keep their
                // layout (and version) byte for byte.
                write_frequency_models(&mut w, d);
            }
        }
        w.finish()
    }

    /// The analysis back from [`JobAnalysis::to_snapshot`] for the same job; `None` when the
    /// bytes are damaged or were written for a different layout or job shape.
    pub fn from_snapshot(job: &Job, bytes: &[u8]) -> Option<Self> {
        let mut a = JobAnalysis::new(job);
        let mut r = Reader::new(bytes);
        if r.u32()? != SNAPSHOT_VERSION {
            return None;
        }
        a.normalizer = Normalizer::from_bytes(r.bytes()?)?;
        a.memory.allocation_failures = r.u64()?;
        a.memory.hit_limit = a.memory.allocation_failures > 0;
        if r.u32()? as usize != a.detectors.len() {
            return None;
        }
        for d in &mut a.detectors {
            for _ in 0..r.u32()? {
                let key = (r.opt_str()?, r.opt_str()?);
                a.memory.used += MemoryBudget::cost::<Baseline>(&key);
                d.series.insert(key, Baseline::from_bytes(r.bytes()?)?);
            }
            for _ in 0..r.u32()? {
                let key = (r.opt_str()?, r.opt_str()?);
                a.memory.used += MemoryBudget::cost::<Population>(&key);
                d.populations
                    .insert(key, Population::from_bytes(r.bytes()?)?);
            }
            if d.detector.function.is_frequency() {
                read_frequency_models(&mut r, d, &mut a.memory)?;
            }
        }
        r.is_empty().then_some(a)
    }
}

fn write_frequency_models(w: &mut Writer, d: &DetectorModels) {
    w.u32(d.rarities.len() as u32);
    for (k, m) in &d.rarities {
        w.opt_str(k);
        w.bytes(&m.to_bytes());
    }
    w.u32(d.clocks.len() as u32);
    for (k, m) in &d.clocks {
        w.opt_str(&k.0);
        w.opt_str(&k.1);
        w.bytes(&m.to_bytes());
    }
    if d.detector.function == Function::LatLong {
        w.u32(d.places.len() as u32);
        for (k, m) in &d.places {
            w.opt_str(&k.0);
            w.opt_str(&k.1);
            w.bytes(&m.to_bytes());
        }
    }
}

fn read_frequency_models(
    r: &mut Reader<'_>,
    d: &mut DetectorModels,
    memory: &mut MemoryBudget,
) -> Option<()> {
    for _ in 0..r.u32()? {
        let key = r.opt_str()?;
        let model = Rarity::from_bytes(r.bytes()?)?;
        memory.used += MemoryBudget::cost::<Rarity>(&(key.clone(), None)) + model.values_cost();
        d.rarities.insert(key, model);
    }
    let period = clock_period_ms(d.detector.function);
    for _ in 0..r.u32()? {
        let key = (r.opt_str()?, r.opt_str()?);
        memory.used += MemoryBudget::cost::<TimeHistogram>(&key);
        d.clocks
            .insert(key, TimeHistogram::from_bytes(period, r.bytes()?)?);
    }
    if d.detector.function == Function::LatLong {
        for _ in 0..r.u32()? {
            let key = (r.opt_str()?, r.opt_str()?);
            let model = Places::from_bytes(r.bytes()?)?;
            memory.used += MemoryBudget::cost::<Places>(&key) + PLACES_HEAP_BYTES;
            d.places.insert(key, model);
        }
    }
    Some(())
}
