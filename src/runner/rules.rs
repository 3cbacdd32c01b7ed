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
