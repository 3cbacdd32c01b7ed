//! The frequency functions' analysis: `rare` and `freq_rare` (which values occur, per
//! partition), `time_of_day` and `time_of_week` (when events occur, per series) and
//! `lat_long` (where, per series; these two share [`score_then_learn`]). Each value
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
        score_then_learn(
            &self.detector,
            &mut self.clocks,
            (time, values),
            memory,
            (MemoryBudget::cost::<TimeHistogram>, || {
                TimeHistogram::new(period)
            }),
            |v| Some(v.value as EpochMillis),
        )
    }

    /// `lat_long`: each group's location (the centroid of its documents' points in the
    /// bucket) against where its series' (or, with `over_field_name`, its population's)
    /// earlier locations were.
    fn analyse_places(
        &mut self,
        time: EpochMillis,
        values: &[SeriesValue],
        memory: &mut MemoryBudget,
    ) -> Vec<Scored> {
        score_then_learn(
            &self.detector,
            &mut self.places,
            (time, values),
            memory,
            (
                |key: &SeriesKey| MemoryBudget::cost::<Places>(key) + PLACES_HEAP_BYTES,
                Places::default,
            ),
            |v| v.spread,
        )
    }
}

/// A per-series model of events (when, where) that scores an input and learns it.
trait EventModel {
    type Input: Copy;
    fn score(&self, input: Self::Input) -> Observation;
    fn learn(&mut self, input: Self::Input);
}

impl EventModel for TimeHistogram {
    type Input = EpochMillis;
    fn score(&self, input: EpochMillis) -> Observation {
        TimeHistogram::score(self, input)
    }
    fn learn(&mut self, input: EpochMillis) {
        TimeHistogram::learn(self, input);
    }
}

impl EventModel for Places {
    type Input = (f64, f64);
    fn score(&self, input: (f64, f64)) -> Observation {
        Places::score(self, input)
    }
    fn learn(&mut self, input: (f64, f64)) {
        Places::learn(self, input);
    }
}

/// What the time and place functions share: the values with an `input` grouped by series
/// (partition, by); a series new to `models` is admitted only within the memory budget
/// (`cost`, then `new`); every member is scored before any is learned, and a member whose
/// rules say `skip_model_update` is not learned.
fn score_then_learn<M: EventModel>(
    detector: &crate::config::Detector,
    models: &mut BTreeMap<SeriesKey, M>,
    (time, values): (EpochMillis, &[SeriesValue]),
    memory: &mut MemoryBudget,
    (cost, new): (impl Fn(&SeriesKey) -> u64, impl Fn() -> M),
    input: impl Fn(&SeriesValue) -> Option<M::Input>,
) -> Vec<Scored> {
    let mut groups: BTreeMap<SeriesKey, Vec<(&SeriesValue, M::Input)>> = BTreeMap::new();
    for v in values {
        if let Some(x) = input(v) {
            groups
                .entry((v.partition.clone(), v.by.clone()))
                .or_default()
                .push((v, x));
        }
    }
    let mut scored = Vec::new();
    for (key, members) in groups {
        if !models.contains_key(&key) && !memory.admit(cost(&key)) {
            continue;
        }
        let model = models.entry(key.clone()).or_insert_with(&new);
        let mut learn = Vec::new();
        for (m, x) in members {
            let obs = model.score(x);
            let split: Split = (key.0.clone(), key.1.clone(), m.over.clone());
            let outcome = outcome(detector, time, &split, &obs);
            if !outcome.skip_model_update {
                learn.push(x);
            }
            scored.push((split, obs, outcome));
        }
        for x in learn {
            model.learn(x);
        }
    }
    scored
}

fn outcome(
    detector: &crate::config::Detector,
    time: EpochMillis,
    split: &Split,
    obs: &Observation,
) -> RuleOutcome {
    rules::outcome_for(detector, time, (&split.0, &split.1, &split.2), obs)
}
