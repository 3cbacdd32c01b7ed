//! The frequency functions' analysis: `rare` and `freq_rare` (which values occur, per
//! partition), `time_of_day` and `time_of_week` (when events occur, per series). Each value
//! is scored before any of the bucket's values is learned, so members of a population do
//! not make each other look usual; a value whose rules say `skip_model_update` is not
//! learned at all.

use super::{clock_period_ms, rules, DetectorModels, MemoryBudget, Scored, SeriesKey, Split};
use crate::config::{Function, RuleOutcome};
use crate::datafeed::SeriesValue;
use crate::model::{Observation, Occurrence, Places, Rarity, TimeHistogram, PLACES_HEAP_BYTES};
use crate::time::EpochMillis;
use std::collections::BTreeMap;

impl DetectorModels {
    /// Scores and learns one bucket of a frequency detector.
    pub(super) fn analyse_frequency(
        &mut self,
        time: EpochMillis,
        values: &[SeriesValue],
        memory: &mut MemoryBudget,
    ) -> Vec<Scored> {
        match self.detector.function {
            Function::Rare | Function::FreqRare => self.analyse_rare(time, values, memory),
            Function::LatLong => self.analyse_places(time, values, memory),
            _ => self.analyse_times(time, values, memory),
        }
    }

    /// `rare` / `freq_rare`: the occasions of a partition are its buckets (one occasion
    /// holding every `by` value seen), or with `over_field_name` each member's bucket (one
    /// occasion per member, holding the values it used).
    fn analyse_rare(
        &mut self,
        time: EpochMillis,
        values: &[SeriesValue],
        memory: &mut MemoryBudget,
    ) -> Vec<Scored> {
        let frequent = self.detector.function == Function::FreqRare;
        // partition -> occasion (the member, or none) -> values.
        let mut partitions: BTreeMap<Option<String>, BTreeMap<Option<String>, Vec<&SeriesValue>>> =
            BTreeMap::new();
        for v in values {
            if v.by.is_none() {
                continue; // documents without the rare field (and no use_null)
            }
            partitions
                .entry(v.partition.clone())
                .or_default()
                .entry(v.over.clone())
                .or_default()
                .push(v);
        }
        let mut scored = Vec::new();
        for (partition, occasions) in partitions {
            if !self.rarities.contains_key(&partition)
                && !memory.admit(MemoryBudget::cost::<Rarity>(&(partition.clone(), None)))
            {
                continue;
            }
            let model = self.rarities.entry(partition.clone()).or_default();
            let mut learn: Vec<Vec<Occurrence<'_>>> = Vec::new();
            for (over, members) in &occasions {
                let occs: Vec<Occurrence<'_>> = members
                    .iter()
                    .map(|m| Occurrence {
                        value: m.by.as_deref().unwrap_or_default(),
                        uses: m.doc_count,
                    })
                    .collect();
                let obs = model.score(&occs, frequent);
                let mut kept = Vec::new();
                for ((m, o), occ) in members.iter().zip(obs).zip(&occs) {
                    let split: Split = (partition.clone(), m.by.clone(), over.clone());
                    let outcome = outcome(&self.detector, time, &split, &o);
                    if !outcome.skip_model_update {
                        kept.push(*occ);
                    }
                    scored.push((split, o, outcome));
                }
                learn.push(kept);
            }
            for occs in &learn {
                // A value the model does not know yet costs memory: it is learned only if it
                // fits the job's `model_memory_limit` (known values always are).
                let admitted: Vec<Occurrence<'_>> = occs
                    .iter()
                    .copied()
                    .filter(|o| model.knows(o.value) || memory.admit(Rarity::value_cost(o.value)))
                    .collect();
                model.learn(&admitted);
            }
        }
        scored
    }

    /// `time_of_day` / `time_of_week`: each series' (or member's) first event of the bucket
    /// against the times of its series' (or its population's) earlier events.
    fn analyse_times(
        &mut self,
        time: EpochMillis,
        values: &[SeriesValue],
        memory: &mut MemoryBudget,
    ) -> Vec<Scored> {
        let period = clock_period_ms(self.detector.function);
        let mut groups: BTreeMap<SeriesKey, Vec<&SeriesValue>> = BTreeMap::new();
        for v in values {
            groups
                .entry((v.partition.clone(), v.by.clone()))
                .or_default()
                .push(v);
        }
        let mut scored = Vec::new();
        for (key, members) in groups {
            if !self.clocks.contains_key(&key)
                && !memory.admit(MemoryBudget::cost::<TimeHistogram>(&key))
            {
                continue;
            }
            let clock = self
                .clocks
                .entry(key.clone())
                .or_insert_with(|| TimeHistogram::new(period));
            let mut learn = Vec::new();
            for m in members {
                let event = m.value as EpochMillis;
                let obs = clock.score(event);
                let split: Split = (key.0.clone(), key.1.clone(), m.over.clone());
                let outcome = outcome(&self.detector, time, &split, &obs);
                if !outcome.skip_model_update {
                    learn.push(event);
                }
                scored.push((split, obs, outcome));
            }
            for event in learn {
                clock.learn(event);
            }
        }
        scored
    }
}

impl DetectorModels {
    /// `lat_long`: each group's location (the centroid of its documents' points in the
    /// bucket) against where its series' (or, with `over_field_name`, its population's)
    /// earlier locations were. Every location is scored before any is learned.
    fn analyse_places(
        &mut self,
        time: EpochMillis,
        values: &[SeriesValue],
        memory: &mut MemoryBudget,
    ) -> Vec<Scored> {
        let mut groups: BTreeMap<SeriesKey, Vec<&SeriesValue>> = BTreeMap::new();
        for v in values.iter().filter(|v| v.spread.is_some()) {
            groups
                .entry((v.partition.clone(), v.by.clone()))
                .or_default()
                .push(v);
        }
        let mut scored = Vec::new();
        for (key, members) in groups {
            let cost = MemoryBudget::cost::<Places>(&key) + PLACES_HEAP_BYTES;
            if !self.places.contains_key(&key) && !memory.admit(cost) {
                continue;
            }
            let model = self.places.entry(key.clone()).or_default();
            let mut learn = Vec::new();
            for m in members {
                let Some(point) = m.spread else { continue };
                let obs = model.score(point);
                let split: Split = (key.0.clone(), key.1.clone(), m.over.clone());
                let outcome = outcome(&self.detector, time, &split, &obs);
                if !outcome.skip_model_update {
                    learn.push(point);
                }
                scored.push((split, obs, outcome));
            }
            for point in learn {
                model.learn(point);
            }
        }
        scored
    }
}

fn outcome(
    detector: &crate::config::Detector,
    time: EpochMillis,
    split: &Split,
    obs: &Observation,
) -> RuleOutcome {
    rules::outcome_for(detector, time, (&split.0, &split.1, &split.2), obs)
}
