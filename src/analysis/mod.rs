//! The in-memory analysis of one job, between [`crate::datafeed`] and [`crate::results`]:
//! one model per partition for every detector, and the job's normalizer. Takes a bucket's
//! values, returns scored results; no I/O, no clock.
//!
//! It is its own stage, not part of the runner, so the runner only decides *when* (lookback,
//! real time, checkpoints) and whatever runs models over values (a forecast, a test) sees
//! the same code: [`JobAnalysis`] for the scoring, [`model_config`] for a detector's model
//! settings, the snapshot (`snapshot.rs`, with its byte codec `codec.rs`) for checkpoints,
//! custom rules (`rules.rs`) and the frequency functions (`frequency.rs`).

use crate::config::{Detector, Function, Job, Metric, RuleOutcome};
use crate::datafeed::SeriesValue;
use crate::model::{Baseline, ModelConfig, Observation, Places, Population, Rarity, TimeHistogram};
use crate::results::{
    explain, explain_frequency, BucketResult, InfluencerResult, ModelPlotPoint, RecordResult,
    SeriesPoint,
};
use crate::score::Normalizer;
use crate::time::EpochMillis;
use std::collections::BTreeMap;

mod codec;
mod frequency;
mod model_config;
mod rules;
mod snapshot;

pub use model_config::model_config;

/// Records scoring below this are not written: the bottom of the "warning" band is every
/// ordinary fluctuation (a score of 10 is a probability of about 0.16), and writing them
/// would bury the anomalies in the index.
pub(crate) const MIN_RECORD_SCORE: f64 = 10.0;

/// (partition value, by value): one time series of a detector.
type SeriesKey = (Option<String>, Option<String>);

/// Which number of a bucket value a detector's models read: `metric` detectors have three
/// model sets, one per statistic; every other detector one, reading the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stat {
    /// The function's value (for `metric`, the mean).
    Value,
    /// `metric`'s minimum.
    Min,
    /// `metric`'s maximum.
    Max,
}

impl Stat {
    /// The statistic a record of `function` is about: `metric`'s records name theirs at the
    /// start of their explanation (`min: ...`, see [`JobAnalysis::analyse_bucket`]).
    pub(crate) fn of_record(function: Function, r: &RecordResult) -> Stat {
        if function != Function::MinMaxMean {
            return Stat::Value;
        }
        [Stat::Min, Stat::Max]
            .into_iter()
            .find(|s| r.explanation.starts_with(&format!("{}:", s.name())))
            .unwrap_or(Stat::Value)
    }

    pub(crate) fn of(self, v: &SeriesValue) -> Option<f64> {
        match (self, v.spread) {
            (Stat::Value, _) => Some(v.value),
            (Stat::Min, Some((min, _))) => Some(min),
            (Stat::Max, Some((_, max))) => Some(max),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Stat::Value => "mean",
            Stat::Min => "min",
            Stat::Max => "max",
        }
    }
}

/// One detector's models (one of the three of a `metric` detector).
struct DetectorModels {
    detector: Detector,
    stat: Stat,
    cfg: ModelConfig,
    /// Per-series baselines (detectors without `over_field_name`), in key order.
    series: BTreeMap<SeriesKey, Baseline>,
    /// Per-(partition, by) populations (detectors with `over_field_name`).
    populations: BTreeMap<SeriesKey, Population>,
    /// `rare`, `freq_rare`: which values occur, per partition.
    rarities: BTreeMap<Option<String>, Rarity>,
    /// `time_of_day`, `time_of_week`: when events occur, per (partition, by).
    clocks: BTreeMap<SeriesKey, TimeHistogram>,
    /// `lat_long`: where locations occur, per (partition, by).
    places: BTreeMap<SeriesKey, Places>,
}

/// Everything the analysis produced for one bucket.
#[derive(Debug, Default)]
pub struct BucketOutput {
    /// The bucket document.
    pub bucket: Option<BucketResult>,
    /// Records above `MIN_RECORD_SCORE`.
    pub records: Vec<RecordResult>,
    /// Influencers of those records.
    pub influencers: Vec<InfluencerResult>,
    /// Model plot points, when the job enables them.
    pub model_plot: Vec<ModelPlotPoint>,
}

/// The live analysis state of one job.
pub struct JobAnalysis {
    job: Job,
    detectors: Vec<DetectorModels>,
    normalizer: Normalizer,
    memory: MemoryBudget,
}

/// Elastic ML's `memory_status`: how close the job's models are to `model_memory_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryStatus {
    /// Below 60 % of the limit.
    Ok,
    /// Above 60 % of the limit.
    SoftLimit,
    /// At the limit: new partitions are not modelled (and are counted).
    HardLimit,
}

impl MemoryStatus {
    /// The name Elastic ML uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryStatus::Ok => "ok",
            MemoryStatus::SoftLimit => "soft_limit",
            MemoryStatus::HardLimit => "hard_limit",
        }
    }
}

/// Accounts the bytes the job's models hold against `model_memory_limit`.
#[derive(Debug, Clone, Default)]
struct MemoryBudget {
    limit: u64,
    used: u64,
    /// Buckets in which some new partition was not modelled because the limit was reached
    /// (Elastic ML's `bucket_allocation_failures_count`).
    allocation_failures: u64,
    /// Whether the current bucket already counted as an allocation failure.
    failed_this_bucket: bool,
    hit_limit: bool,
}

impl MemoryBudget {
    /// Bytes a new model with this key costs: the state, the key's strings, and map overhead.
    fn cost<T>(key: &SeriesKey) -> u64 {
        let strings = key.0.as_ref().map_or(0, String::len) + key.1.as_ref().map_or(0, String::len);
        (std::mem::size_of::<T>() + std::mem::size_of::<SeriesKey>() + strings + 64) as u64
    }

    /// Takes `cost` bytes if they fit; otherwise marks the bucket as an allocation failure.
    fn admit(&mut self, cost: u64) -> bool {
        if self.used + cost > self.limit {
            if !self.failed_this_bucket {
                self.allocation_failures += 1;
                self.failed_this_bucket = true;
            }
            self.hit_limit = true;
            return false;
        }
        self.used += cost;
        true
    }

    fn status(&self) -> MemoryStatus {
        if self.hit_limit {
            MemoryStatus::HardLimit
        } else if self.used * 10 > self.limit * 6 {
            MemoryStatus::SoftLimit
        } else {
            MemoryStatus::Ok
        }
    }
}

impl JobAnalysis {
    /// A fresh analysis for `job`.
    pub fn new(job: &Job) -> Self {
        let detectors = job
            .detectors
            .iter()
            .flat_map(|d| {
                let stats: &[Stat] = if d.function == Function::MinMaxMean {
                    &[Stat::Value, Stat::Min, Stat::Max]
                } else {
                    &[Stat::Value]
                };
                stats.iter().map(|&stat| DetectorModels {
                    detector: d.clone(),
                    stat,
                    cfg: model_config(job, d.function),
                    series: BTreeMap::new(),
                    populations: BTreeMap::new(),
                    rarities: BTreeMap::new(),
                    clocks: BTreeMap::new(),
                    places: BTreeMap::new(),
                })
            })
            .collect();
        JobAnalysis {
            job: job.clone(),
            detectors,
            normalizer: Normalizer::new(),
            memory: MemoryBudget {
                limit: job.model_memory_limit,
                ..Default::default()
            },
        }
    }

    /// Bytes the job's models hold, as accounted against `model_memory_limit`.
    pub fn model_bytes(&self) -> u64 {
        self.memory.used
    }

    /// Where the job stands against its memory limit.
    pub fn memory_status(&self) -> MemoryStatus {
        self.memory.status()
    }

    /// Buckets in which new partitions were not modelled because the memory limit was
    /// reached (Elastic ML's `bucket_allocation_failures_count`).
    pub fn allocation_failures(&self) -> u64 {
        self.memory.allocation_failures
    }

    /// Number of partitions (series and population entities) the job models.
    pub fn partitions(&self) -> usize {
        self.detectors
            .iter()
            .map(|d| {
                d.series.len()
                    + d.populations.len()
                    + d.rarities.len()
                    + d.clocks.len()
                    + d.places.len()
            })
            .sum()
    }

    /// Analyses bucket `time`: `values[d]` are detector `d`'s values in it (any order).
    pub fn analyse_bucket(
        &mut self,
        time: EpochMillis,
        event_count: u64,
        values: &[&[SeriesValue]],
    ) -> BucketOutput {
        let mut out = BucketOutput::default();
        if self.job.scheduled_event(time).is_some() {
            // A calendar event: no results, and no model learns from the bucket.
            return out;
        }
        let mut probabilities = Vec::new();
        let mut unlearned = Vec::new();
        let mut first = 0;
        while first < self.detectors.len() {
            // The model sets of one detector: one, or `metric`'s three.
            let index = self.detectors[first].detector.index;
            let sets = self.detectors[first..]
                .iter()
                .take_while(|m| m.detector.index == index)
                .count();
            let vals = values.get(index).copied().unwrap_or(&[]);
            let mut scored = Vec::new();
            for models in &mut self.detectors[first..first + sets] {
                let stat = models.stat;
                let plot =
                    (self.job.model_plot && stat == Stat::Value).then_some(&mut out.model_plot);
                let found = models.analyse(time, vals, &mut self.memory, plot);
                scored.extend(found.into_iter().map(|s| (stat, s)));
            }
            let models = &self.detectors[first];
            first += sets;
            for (stat, (split, obs, rules)) in worst_per_split(scored, sets) {
                if rules.skip_result {
                    continue;
                }
                let score = if rules.skip_model_update || !obs.reason.joins_score_history() {
                    unlearned.push(obs.probability);
                    self.normalizer.score(obs.probability)
                } else {
                    probabilities.push(obs.probability);
                    self.normalizer.record_score(obs.probability)
                };
                if score < MIN_RECORD_SCORE {
                    continue;
                }
                let mut record = models.record(&self.job, time, split, &obs, score);
                if sets > 1 {
                    record.explanation = format!("{}: {}", stat.name(), record.explanation);
                }
                out.records.push(record);
            }
        }
        self.memory.failed_this_bucket = false;
        let score = rules::bucket_score(&mut self.normalizer, &probabilities, &unlearned);
        let probability = probabilities
            .iter()
            .chain(&unlearned)
            .copied()
            .fold(1.0, f64::min);

        out.bucket = Some(BucketResult {
            timestamp: time,
            anomaly_score: score,
            initial_anomaly_score: score,
            event_count,
            probability,
            record_count: out.records.len(),
        });
        out
    }
}

/// With several model sets (`metric`), the most unusual of each split's observations, so a
/// series has one record per bucket, as in Elastic ML; with one, the observations as they are.
fn worst_per_split(scored: Vec<(Stat, Scored)>, sets: usize) -> Vec<(Stat, Scored)> {
    if sets == 1 {
        return scored;
    }
    let mut worst: BTreeMap<Split, (Stat, Scored)> = BTreeMap::new();
    for (stat, s) in scored {
        match worst.get(&s.0) {
            Some((_, w)) if w.1.probability <= s.1.probability => {}
            _ => {
                worst.insert(s.0.clone(), (stat, s));
            }
        }
    }
    worst.into_values().collect()
}

/// A read-only view of one per-series model of a job (detectors without `over_field_name`),
/// for forecasts.
#[derive(Debug, Clone, Copy)]
pub struct SeriesView<'a> {
    /// The detector the series belongs to.
    pub detector: &'a Detector,
    /// The detector's model settings.
    pub cfg: ModelConfig,
    /// The series' `partition_field_name` value, if the detector splits by partition.
    pub partition_value: Option<&'a str>,
    /// The series' `by_field_name` value, if the detector splits by a by field.
    pub by_value: Option<&'a str>,
    /// The model.
    pub baseline: &'a Baseline,
}

impl JobAnalysis {
    /// Every per-series model, detector by detector, each detector's in key order.
    /// Population models (`over_field_name`) are not included.
    pub fn series_models(&self) -> impl Iterator<Item = SeriesView<'_>> + '_ {
        // `metric`'s min and max models are not forecast: its forecast is the mean's.
        let forecastable = self.detectors.iter().filter(|d| d.stat == Stat::Value);
        forecastable.flat_map(|d| {
            d.series.iter().map(move |(k, b)| SeriesView {
                detector: &d.detector,
                cfg: d.cfg,
                partition_value: k.0.as_deref(),
                by_value: k.1.as_deref(),
                baseline: b,
            })
        })
    }
}

/// The period a time function models: a day, or a week.
fn clock_period_ms(function: Function) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    if function == Function::TimeOfWeek {
        7 * DAY_MS
    } else {
        DAY_MS
    }
}

/// The split values of one scored value: partition, by, over.
type Split = (Option<String>, Option<String>, Option<String>);

/// One scored value: its split, its observation, and what the detector's rules say about it.
type Scored = (Split, Observation, RuleOutcome);

impl DetectorModels {
    /// Scores and learns one bucket of this model set's values.
    fn analyse(
        &mut self,
        time: EpochMillis,
        values: &[SeriesValue],
        memory: &mut MemoryBudget,
        plot: Option<&mut Vec<ModelPlotPoint>>,
    ) -> Vec<Scored> {
        if self.detector.function.is_frequency() {
            self.analyse_frequency(time, values, memory)
        } else if self.detector.over_field_name.is_some() {
            self.analyse_population(time, values, memory)
        } else {
            self.analyse_series(time, values, memory, plot)
        }
    }

    fn analyse_series(
        &mut self,
        time: EpochMillis,
        values: &[SeriesValue],
        memory: &mut MemoryBudget,
        mut plot: Option<&mut Vec<ModelPlotPoint>>,
    ) -> Vec<Scored> {
        let mut present: BTreeMap<SeriesKey, f64> = BTreeMap::new();
        for v in values {
            if let Some(x) = self.stat.of(v) {
                present.insert((v.partition.clone(), v.by.clone()), x);
            }
        }
        for key in present.keys() {
            if !self.series.contains_key(key) && memory.admit(MemoryBudget::cost::<Baseline>(key)) {
                self.series.insert(key.clone(), Baseline::new(&self.cfg));
            }
        }
        let zero_when_absent = matches!(
            self.detector.function.metric(),
            Metric::Count | Metric::DistinctCount | Metric::Sum
        );
        let mut scored = Vec::new();
        let may_skip = rules::may_skip_update(&self.detector);
        for (key, baseline) in self.series.iter_mut() {
            let value = match present.get(key) {
                Some(&v) => Some(v),
                None if zero_when_absent => Some(0.0),
                None => None,
            };
            let before = may_skip.then(|| baseline.clone());
            let obs = match value {
                Some(v) => Some(baseline.observe(&self.cfg, time, v)),
                None => baseline.observe_missing(&self.cfg, time),
            };
            let outcome = obs
                .as_ref()
                .map(|o| rules::outcome_for(&self.detector, time, (&key.0, &key.1, &None), o))
                .unwrap_or_default();
            if let (true, Some(before)) = (outcome.skip_model_update, before) {
                *baseline = before;
            }
            if let Some(plot) = plot.as_deref_mut() {
                let (median, lower, upper) = match &obs {
                    Some(o) if value.is_some() => (o.typical, o.lower, o.upper),
                    _ => {
                        let e = baseline.expected(&self.cfg, time);
                        (e.typical, e.lower, e.upper)
                    }
                };
                plot.push(ModelPlotPoint {
                    series: SeriesPoint {
                        timestamp: time,
                        detector_index: self.detector.index,
                        function: self.detector.function.name(),
                        field_name: self.detector.field_name.clone(),
                        partition: named(&self.detector.partition_field_name, &key.0),
                        by: named(&self.detector.by_field_name, &key.1),
                    },
                    actual: value,
                    median,
                    lower,
                    upper,
                });
            }
            if let Some(o) = obs {
                scored.push(((key.0.clone(), key.1.clone(), None), o, outcome));
            }
        }
        scored
    }

    fn analyse_population(
        &mut self,
        time: EpochMillis,
        values: &[SeriesValue],
        memory: &mut MemoryBudget,
    ) -> Vec<Scored> {
        let mut groups: BTreeMap<SeriesKey, Vec<(&SeriesValue, f64)>> = BTreeMap::new();
        for v in values {
            if let Some(x) = self.stat.of(v) {
                groups
                    .entry((v.partition.clone(), v.by.clone()))
                    .or_default()
                    .push((v, x));
            }
        }
        let mut scored = Vec::new();
        for (key, mut pairs) in groups {
            pairs.sort_by(|a, b| a.0.over.cmp(&b.0.over));
            let (members, vals): (Vec<&SeriesValue>, Vec<f64>) = pairs.into_iter().unzip();
            if !self.populations.contains_key(&key)
                && !memory.admit(MemoryBudget::cost::<Population>(&key))
            {
                continue;
            }
            let cfg = &self.cfg;
            let population = self
                .populations
                .entry(key.clone())
                .or_insert_with(|| Population::new(cfg));
            let before = rules::may_skip_update(&self.detector).then(|| population.clone());
            let obs = population.observe_bucket(cfg, time, &vals);
            let outcomes: Vec<RuleOutcome> = members
                .iter()
                .zip(&obs)
                .map(|(m, o)| {
                    rules::outcome_for(&self.detector, time, (&key.0, &key.1, &m.over), o)
                })
                .collect();
            if let (true, Some(before)) = (outcomes.iter().any(|o| o.skip_model_update), before) {
                // Learn the bucket again without the members whose update is skipped.
                *population = before;
                let kept: Vec<f64> = vals
                    .iter()
                    .zip(&outcomes)
                    .filter(|(_, o)| !o.skip_model_update)
                    .map(|(v, _)| *v)
                    .collect();
                if !kept.is_empty() {
                    population.observe_bucket(cfg, time, &kept);
                }
            }
            for ((m, o), outcome) in members.iter().zip(obs).zip(outcomes) {
                scored.push(((key.0.clone(), key.1.clone(), m.over.clone()), o, outcome));
            }
        }
        scored
    }

    fn record(
        &self,
        job: &Job,
        time: EpochMillis,
        split: Split,
        obs: &Observation,
        score: f64,
    ) -> RecordResult {
        let d = &self.detector;
        let partition = named(&d.partition_field_name, &split.0);
        let by = named(&d.by_field_name, &split.1);
        let over = named(&d.over_field_name, &split.2);
        let influencers = job
            .influencers
            .iter()
            .filter_map(|field| {
                [&partition, &by, &over]
                    .into_iter()
                    .flatten()
                    .find(|(f, _)| f == field)
                    .map(|(f, v)| (f.clone(), vec![v.clone()]))
            })
            .collect();
        RecordResult {
            timestamp: time,
            detector_index: d.index,
            function: d.function.name(),
            function_description: d.description.clone(),
            field_name: d.field_name.clone(),
            partition,
            by,
            over,
            probability: obs.probability,
            initial_record_score: score,
            record_score: score,
            actual: obs.actual,
            typical: obs.typical,
            lower: obs.lower,
            upper: obs.upper,
            multi_bucket_impact: obs.multi_bucket_impact,
            explanation: if d.function.is_frequency() {
                explain_frequency(d.function, obs)
            } else {
                explain(obs)
            },
            influencers,
            influence: Vec::new(),
        }
    }
}

/// The share of a record's anomaly, 0..=1, that one value of an influencer field explains:
/// how much of the deviation from typical would go if the value's documents were removed.
/// `without` is the record's value recomputed without them ([`Without`]). A value whose
/// removal brings the value back to typical or beyond explains it all; one whose removal
/// moves it further away, none. For counts the excess `actual - typical` is what needs
/// explaining, so a value with at least that many documents explains it all and one with a
/// tenth of it a tenth; a drop has no excess that present documents explain (0).
pub(crate) fn influence_share(actual: f64, typical: f64, without: Without) -> f64 {
    let deviation = actual - typical;
    let rest = match without {
        Without::Value(v) => v,
        Without::Count { count, total } if total > 0 => actual - count as f64,
        Without::Count { .. } => return 0.0,
        Without::Nothing { zero: true } => 0.0,
        Without::Nothing { zero: false } => return if deviation == 0.0 { 0.0 } else { 1.0 },
        Without::Share { count, total } if total > 0 => {
            return (count as f64 / total as f64).min(1.0)
        }
        Without::Share { .. } => return 0.0,
    };
    if deviation == 0.0 {
        return 0.0;
    }
    ((actual - rest) / deviation).clamp(0.0, 1.0)
}

/// What a record's value would be without one influencer value's documents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Without {
    /// Counts: the value's `count` documents of the record's `total` leave `actual - count`.
    Count {
        /// The value's documents in the record's bucket and split.
        count: u64,
        /// The record's documents.
        total: u64,
    },
    /// Recomputed by the store without the value's documents (`sum`, `mean`, `median`,
    /// `distinct_count`, ...).
    Value(f64),
    /// No document with the detector's field is left: `zero` for the functions whose value
    /// over no documents is 0 (`sum`, `distinct_count`), else there is nothing left to be
    /// anomalous and the value explains it all.
    Nothing {
        /// Whether the function's value over no documents is 0.
        zero: bool,
    },
    /// Functions whose record is about one event, value, time or place (`rare`,
    /// `freq_rare`, `time_of_day`, `time_of_week`, `lat_long`): the value's share of the
    /// record's documents, who brought the rare value or the event.
    Share {
        /// The value's documents in the record's bucket and split.
        count: u64,
        /// The record's documents.
        total: u64,
    },
}

/// Influencer results of a bucket. A value scores as the highest, over the records it
/// influences, of the record's score times the share of that record's anomaly the value
/// explains (all of it for a record's own split values); its probability is the lowest of
/// those records'.
pub(crate) fn influencers_of(records: &[RecordResult]) -> Vec<InfluencerResult> {
    let mut by_value: BTreeMap<(String, String), (f64, f64, EpochMillis)> = BTreeMap::new();
    for r in records {
        let explained = |f: &str, v: &str| r.influence.iter().any(|(g, w, _)| g == f && w == v);
        let splits = r
            .influencers
            .iter()
            .flat_map(|(f, vs)| vs.iter().map(move |v| (f, v, 1.0)))
            .filter(|(f, v, _)| !explained(f, v));
        let fields = r.influence.iter().map(|(f, v, s)| (f, v, *s));
        for (field, value, share) in splits.chain(fields) {
            let e =
                by_value
                    .entry((field.clone(), value.clone()))
                    .or_insert((0.0, 1.0, r.timestamp));
            e.0 = e.0.max(r.record_score * share);
            e.1 = e.1.min(r.probability);
        }
    }
    by_value
        .into_iter()
        .map(
            |((field, value), (score, probability, timestamp))| InfluencerResult {
                timestamp,
                field,
                value,
                influencer_score: score,
                initial_influencer_score: score,
                probability,
            },
        )
        .collect()
}

fn named(field: &Option<String>, value: &Option<String>) -> Option<(String, String)> {
    let f = field.as_ref()?;
    Some((
        f.clone(),
        value.clone().unwrap_or_else(|| "null".to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_beyond_the_memory_limit_are_counted_and_the_rest_keep_running() {
        let job = crate::config::load_job_str(
            "jobs/many.yml",
            "job_id: many\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      partition_field_name: host\ndatafeed_config:\n  indices: [logs]\nanalysis_limits:\n  model_memory_limit: 1mb\n",
        )
        .expect("job parses");
        let mut analysis = JobAnalysis::new(&job);
        let values: Vec<SeriesValue> = (0..4000)
            .map(|i| SeriesValue {
                partition: Some(format!("host-{i:04}")),
                by: None,
                over: None,
                value: 10.0,
                doc_count: 10,
                spread: None,
            })
            .collect();
        let mut scored_first = 0;
        for b in 0..20 {
            let t = 1_714_953_600_000 + b * 900_000;
            let out = analysis.analyse_bucket(t, 40_000, &[&values]);
            assert!(out.bucket.is_some(), "every bucket still gets its result");
            if b == 0 {
                scored_first = analysis.partitions();
            }
        }
        let admitted = analysis.partitions();
        assert_eq!(analysis.memory_status(), MemoryStatus::HardLimit);
        // Not all, but as many as fit: each costs its model (under 1 KB) and its key's
        // bookkeeping.
        let each = MemoryBudget::cost::<Baseline>(&(Some("host-0000".to_string()), None));
        assert!(
            admitted < 4000 && (admitted as u64 + 1) * each > 1 << 20,
            "{admitted} partitions admitted at {each} bytes each"
        );
        assert_eq!(
            admitted, scored_first,
            "no partition is added once the limit is hit"
        );
        assert!(analysis.model_bytes() <= 1 << 20);
        // Every bucket re-offers partitions that do not fit: 20 buckets with failures.
        assert_eq!(analysis.allocation_failures(), 20);
        // The state survives a snapshot, limit and all.
        let restored = JobAnalysis::from_snapshot(&job, &analysis.to_snapshot()).expect("restores");
        assert_eq!(restored.partitions(), admitted);
        assert_eq!(restored.memory_status(), MemoryStatus::HardLimit);
    }

    #[test]
    fn lat_long_state_survives_a_snapshot() {
        let job = crate::config::load_job_str(
            "jobs/geo.yml",
            "job_id: geo\nanalysis_config:\n  bucket_span: 1h\n  detectors:\n    - function: lat_long\n      field_name: source.geo.location\n      by_field_name: user\ndatafeed_config:\n  indices: [logs]\n",
        )
        .expect("job parses");
        let at = |user: &str, point: (f64, f64)| SeriesValue {
            partition: None,
            by: Some(user.to_string()),
            over: None,
            value: 1.0,
            doc_count: 1,
            spread: Some(point),
        };
        let mut analysis = JobAnalysis::new(&job);
        let t0 = 1_714_953_600_000;
        for h in 0..48 {
            let jitter = f64::from(h % 5) * 0.05;
            let values = [
                at("a", (52.5 + jitter, 13.4)),
                at("b", (40.7, -74.0 + jitter)),
            ];
            analysis.analyse_bucket(t0 + i64::from(h) * 3_600_000, 2, &[&values]);
        }
        let mut restored =
            JobAnalysis::from_snapshot(&job, &analysis.to_snapshot()).expect("restores");
        assert_eq!(restored.partitions(), 2);
        assert_eq!(restored.model_bytes(), analysis.model_bytes());
        let far = [at("a", (-33.87, 151.21))];
        let t = t0 + 48 * 3_600_000;
        let before = analysis.analyse_bucket(t, 1, &[&far]).records;
        let after = restored.analyse_bucket(t, 1, &[&far]).records;
        assert_eq!(before.len(), 1);
        assert_eq!(before[0].record_score, after[0].record_score);
        assert!(
            before[0].explanation.starts_with("unusual location: 16"),
            "{}",
            before[0].explanation
        );
    }

    #[test]
    fn rare_values_count_against_the_memory_limit() {
        let job = crate::config::load_job_str(
            "jobs/urls.yml",
            "job_id: urls\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: rare\n      by_field_name: url\ndatafeed_config:\n  indices: [logs]\nanalysis_limits:\n  model_memory_limit: 1mb\n",
        )
        .expect("job parses");
        let mut analysis = JobAnalysis::new(&job);
        for b in 0..4 {
            // 4,000 new URLs of 100 characters a bucket: about 0.6 MB each.
            let values: Vec<SeriesValue> = (0..4000)
                .map(|i| SeriesValue {
                    partition: None,
                    by: Some(format!("/{b}/{i:0>96}")),
                    over: None,
                    value: 1.0,
                    doc_count: 1,
                    spread: None,
                })
                .collect();
            analysis.analyse_bucket(1_714_953_600_000 + b * 900_000, 4000, &[&values]);
        }
        assert_eq!(analysis.memory_status(), MemoryStatus::HardLimit);
        assert!(
            analysis.model_bytes() <= 1 << 20,
            "{}",
            analysis.model_bytes()
        );
        assert!(analysis.allocation_failures() >= 2);
        let restored = JobAnalysis::from_snapshot(&job, &analysis.to_snapshot()).expect("restores");
        assert_eq!(restored.model_bytes(), analysis.model_bytes());
    }

    #[test]
    fn a_value_scores_by_the_share_of_the_anomaly_it_explains() {
        // A count of 1,000 against 100 typical: 900 to explain.
        let share = |count| influence_share(1000.0, 100.0, Without::Count { count, total: 1000 });
        assert_eq!(share(810), 0.9);
        assert_eq!(share(900), 1.0);
        assert_eq!(share(2000), 1.0);
        assert_eq!(share(18), 0.02);
        // Documents that are there do not explain a drop.
        let drop = Without::Count {
            count: 10,
            total: 10,
        };
        assert_eq!(influence_share(10.0, 100.0, drop), 0.0);
        // A mean of 5 against 1 typical, 2 without the value: it explains three quarters.
        assert_eq!(influence_share(5.0, 1.0, Without::Value(2.0)), 0.75);
        // Without it the mean would be lower still than typical: all of it.
        assert_eq!(influence_share(5.0, 1.0, Without::Value(0.5)), 1.0);
        // Without it the mean would be higher: none of it.
        assert_eq!(influence_share(5.0, 1.0, Without::Value(6.0)), 0.0);
        // A low mean (1 against 5) that one value's small numbers pulled down: 4 without it.
        assert_eq!(influence_share(1.0, 5.0, Without::Value(4.0)), 0.75);
        // 40 distinct URLs against 10 typical; one client brought 30 of them alone.
        assert_eq!(influence_share(40.0, 10.0, Without::Value(10.0)), 1.0);
        assert_eq!(influence_share(40.0, 10.0, Without::Value(37.0)), 0.1);
        // Nothing left: a sum over nothing is 0, a mean over nothing is no anomaly.
        let sum_gone = Without::Nothing { zero: true };
        assert_eq!(influence_share(40.0, 10.0, sum_gone), 1.0);
        assert_eq!(influence_share(4.0, 10.0, sum_gone), 0.0);
        assert_eq!(
            influence_share(4.0, 10.0, Without::Nothing { zero: false }),
            1.0
        );
        // Frequency functions: the value's share of the record's documents.
        let share = Without::Share {
            count: 25,
            total: 100,
        };
        assert_eq!(influence_share(5.0, 1.0, share), 0.25);
        let none = Without::Share { count: 0, total: 0 };
        assert_eq!(influence_share(5.0, 1.0, none), 0.0);

        let mut r = crate::results::documents::tests::record();
        r.record_score = 80.0;
        r.influence = vec![
            ("client".into(), "a".into(), 0.75),
            ("client".into(), "b".into(), 0.03125),
        ];
        let scores: Vec<(String, f64)> = influencers_of(&[r])
            .into_iter()
            .map(|i| (i.value, i.influencer_score))
            .collect();
        // The split value `DE` explains the whole record.
        assert_eq!(
            scores,
            [("a".into(), 60.0), ("b".into(), 2.5), ("DE".into(), 80.0)]
        );
    }
}
