//! Applying a detector's custom rules to its scored values, from outside the model: a value
//! whose rules say `skip_model_update` is scored, then the model is put back as it was before
//! the bucket (so later scores are those of a run that never saw it), and its probability is
//! kept out of the normalizer's history; `skip_result` drops the value from the results.

use crate::config::{rule_outcome, Detector, RuleInput, RuleOutcome};
use crate::model::Observation;
use crate::score::Normalizer;
use crate::time::EpochMillis;

/// What the detector's rules say about one scored value with split values
/// `(partition, by, over)`.
pub(super) fn outcome_for(
    d: &Detector,
    time: EpochMillis,
    split: (&Option<String>, &Option<String>, &Option<String>),
    obs: &Observation,
) -> RuleOutcome {
    if d.rules.is_empty() {
        return RuleOutcome::default();
    }
    let splits: Vec<(&str, &str)> = [
        (&d.partition_field_name, split.0),
        (&d.by_field_name, split.1),
        (&d.over_field_name, split.2),
    ]
    .into_iter()
    .filter_map(|(f, v)| Some((f.as_deref()?, v.as_deref()?)))
    .collect();
    rule_outcome(
        &d.rules,
        &RuleInput {
            splits: &splits,
            actual: obs.actual,
            typical: obs.typical,
            time_ms: time,
        },
    )
}

/// Whether any rule of the detector can skip a model update (so the model is worth saving
/// before the bucket).
pub(super) fn may_skip_update(d: &Detector) -> bool {
    d.rules.iter().any(|r| {
        r.actions
            .contains(&crate::config::RuleAction::SkipModelUpdate)
    })
}

/// A bucket's `anomaly_score` from the probabilities the normalizer learns (`learned`) and
/// those it must not (`unlearned`, values whose model update was skipped): only the learned
/// ones enter the bucket history, the score covers both.
pub(super) fn bucket_score(normalizer: &mut Normalizer, learned: &[f64], unlearned: &[f64]) -> f64 {
    if unlearned.is_empty() {
        return normalizer.bucket_score(learned);
    }
    if !learned.is_empty() {
        normalizer.bucket_score(learned);
    }
    let all: Vec<f64> = learned.iter().chain(unlearned).copied().collect();
    normalizer.bucket_score_now(&all)
}

#[cfg(test)]
mod tests {
    use crate::analysis::{BucketOutput, JobAnalysis};
    use crate::datafeed::SeriesValue;

    const T0: i64 = 1_714_953_600_000;
    const SPAN: i64 = 900_000;
    const BUCKETS: i64 = 400;
    const SPIKE: i64 = 300;

    fn job(rules: &str) -> crate::config::Job {
        let text = format!("job_id: j\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n{rules}datafeed_config:\n  indices: [logs]\n");
        crate::config::load_job_str("j.yml", &text).expect("job parses")
    }

    fn value(b: i64) -> f64 {
        if b == SPIKE {
            500.0
        } else {
            20.0 + (b % 7) as f64
        }
    }

    /// Scores of every bucket after the spike, feeding the spike bucket unless `skip_spike`.
    fn later_scores(job: &crate::config::Job, skip_spike: bool) -> Vec<(f64, Vec<f64>)> {
        let mut analysis = JobAnalysis::new(job);
        let mut later = Vec::new();
        for b in 0..BUCKETS {
            if skip_spike && b == SPIKE {
                continue;
            }
            let v = [SeriesValue {
                partition: None,
                by: None,
                over: None,
                value: value(b),
                doc_count: value(b) as u64,
                spread: None,
            }];
            let out: BucketOutput = analysis.analyse_bucket(T0 + b * SPAN, v[0].doc_count, &[&v]);
            if b > SPIKE {
                let bucket = out.bucket.map(|b| b.anomaly_score).unwrap_or(-1.0);
                let records = out.records.iter().map(|r| r.record_score).collect();
                later.push((bucket, records));
            }
        }
        later
    }

    #[test]
    fn skip_model_update_leaves_later_scores_as_if_the_bucket_never_came() {
        let rule = "      custom_rules:\n        - actions: [skip_model_update]\n          conditions: [{applies_to: actual, operator: gt, value: 100}]\n";
        let without_spike = later_scores(&job(""), true);
        assert_eq!(later_scores(&job(rule), false), without_spike);
        assert_ne!(
            later_scores(&job(""), false),
            without_spike,
            "a model that learns the spike scores later buckets differently"
        );
    }

    #[test]
    fn a_calendar_event_is_a_bucket_that_never_came() {
        let mut silenced = job("");
        silenced.calendars.push(crate::config::Calendar {
            calendar_id: "c".into(),
            description: String::new(),
            job_ids: vec!["j".into()],
            events: vec![crate::config::ScheduledEvent {
                description: "maintenance".into(),
                when: crate::config::EventTime::Once {
                    start_time: T0 + SPIKE * SPAN + 60_000,
                    end_time: T0 + SPIKE * SPAN + 120_000,
                },
            }],
        });
        let mut analysis = JobAnalysis::new(&silenced);
        let v = [SeriesValue {
            partition: None,
            by: None,
            over: None,
            value: 500.0,
            doc_count: 500,
            spread: None,
        }];
        let out = analysis.analyse_bucket(T0 + SPIKE * SPAN, 500, &[&v]);
        assert!(out.bucket.is_none() && out.records.is_empty());
        assert_eq!(analysis.partitions(), 0, "no model was created or taught");
        assert_eq!(later_scores(&silenced, false), later_scores(&job(""), true));
    }
}
