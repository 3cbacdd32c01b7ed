//! A chunk's field influencers: for each record scoring at least [`INFLUENCER_MIN_SCORE`]
//! and each of the job's influencer fields that is not one of its split fields, how much of
//! the record's anomaly each of the field's top values explains (a burst of 404s that one
//! client IP caused is influenced by that IP, hardly by the others).
//!
//! Every lookup is a small search over the source documents, independent of the others and
//! of the models, so a chunk's lookups are sent together ([`Store::msearch`]: one `_msearch`
//! round trip on a cluster, where one search each cost a round trip and the engine's fixed
//! per-request work): first every record's candidate values, then, for the functions of a
//! field's values, every candidate's recomputed value. The documents written are the same as
//! with one search at a time: only how the searches travel changes.

use crate::analysis::{influence_share, BucketOutput, Stat, Without};
use crate::config::{Detector, Job, Metric};
use crate::datafeed;
use crate::results::RecordResult;
use crate::store::{Store, StoreError};
use crate::time::EpochMillis;
use serde_json::Value;

/// Records scoring at least this get influencers beyond their own split values, looked up
/// in the source documents (one small aggregation per record and field).
const INFLUENCER_MIN_SCORE: f64 = 25.0;

/// The most frequent values of a field that are weighed as influencers of a record.
const INFLUENCER_CANDIDATES: usize = 10;

/// A value explaining less than this share of a record's anomaly is not an influencer of it.
const INFLUENCE_MIN_SHARE: f64 = 0.01;

/// A value is listed in the record's own `influencers` when it explains at least this share.
const INFLUENCER_LISTED_SHARE: f64 = 0.2;

/// Multi-searches of one phase in flight at once. A cluster runs the items of one request a
/// few at a time anyway; a store without its own `msearch` (the embedded store, which runs
/// them one after the other) keeps the three lookups at once it had before `msearch`.
const MSEARCHES_IN_FLIGHT: usize = 3;

/// What one record's lookups found: the fields with the values listed in its `influencers`,
/// and every (field, value, share) of its `influence`.
type Found = (Vec<(String, Vec<String>)>, Vec<(String, String, f64)>);

/// One record's lookup of one influencer field.
struct Lookup {
    /// Index of the record in the chunk's wanted records.
    record: usize,
    field: String,
    /// The record's bucket `[start, end)`.
    bucket: (EpochMillis, EpochMillis),
    /// The record's split values (field, value).
    splits: Vec<(String, String)>,
}

impl Lookup {
    fn splits(&self) -> Vec<(&str, &str)> {
        self.splits
            .iter()
            .map(|(f, v)| (f.as_str(), v.as_str()))
            .collect()
    }
}

/// Adds the field influencers of every record of `outs` (bucket start, event count, output)
/// scoring at least [`INFLUENCER_MIN_SCORE`]. The first error in bucket order of the first
/// phase that fails is the one returned.
pub(super) fn lookup_influencers(
    store: &dyn Store,
    job: &Job,
    outs: &mut [(EpochMillis, u64, BucketOutput)],
    span: i64,
) -> crate::Result<()> {
    let mut wanted: Vec<(EpochMillis, &mut RecordResult)> = outs
        .iter_mut()
        .flat_map(|(t, _, out)| out.records.iter_mut().map(|r| (*t, r)))
        .filter(|(_, r)| r.record_score >= INFLUENCER_MIN_SCORE)
        .collect();
    let lookups = plan(job, &wanted, span);
    if lookups.is_empty() {
        return Ok(());
    }
    let requests: Vec<Value> = lookups
        .iter()
        .map(|l| {
            datafeed::top_values_request(
                job,
                &l.field,
                &l.splits(),
                l.bucket,
                INFLUENCER_CANDIDATES,
            )
        })
        .collect();
    let candidates = msearch_all(store, job, &requests)?
        .into_iter()
        .map(|answer| datafeed::top_values_of(&answer, INFLUENCER_CANDIDATES))
        .collect::<Result<Vec<_>, _>>()?;
    let withouts = withouts(store, job, &wanted, &lookups, &candidates)?;
    // Shares in the order of one search at a time: by record, field, then candidate.
    let mut withouts = withouts.into_iter();
    let mut per_record: Vec<Found> = wanted.iter().map(|_| Found::default()).collect();
    for (lookup, (_, values)) in lookups.iter().zip(candidates) {
        let r = &wanted[lookup.record].1;
        let (listed, influence) = &mut per_record[lookup.record];
        let mut named = Vec::new();
        for (value, _) in values {
            let Some(without) = withouts.next() else {
                break; // one `without` per candidate, by construction
            };
            let share = influence_share(r.actual, r.typical, without);
            if share < INFLUENCE_MIN_SHARE {
                continue;
            }
            if share >= INFLUENCER_LISTED_SHARE {
                named.push(value.clone());
            }
            influence.push((lookup.field.clone(), value, share));
        }
        if !named.is_empty() {
            listed.push((lookup.field.clone(), named));
        }
    }
    for ((_, r), (listed, influence)) in wanted.iter_mut().zip(per_record) {
        r.influencers.extend(listed);
        r.influence.extend(influence);
    }
    Ok(())
}

/// The lookups of `wanted`'s records, in bucket, record and field order.
fn plan(job: &Job, wanted: &[(EpochMillis, &mut RecordResult)], span: i64) -> Vec<Lookup> {
    let mut lookups = Vec::new();
    for (i, (t, r)) in wanted.iter().enumerate() {
        if job.detectors.get(r.detector_index).is_none() {
            continue;
        }
        let splits: Vec<(String, String)> = [&r.partition, &r.by, &r.over]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for field in &job.influencers {
            if splits.iter().any(|(f, _)| f == field) {
                continue;
            }
            lookups.push(Lookup {
                record: i,
                field: field.clone(),
                bucket: (*t, *t + span),
                splits: splits.clone(),
            });
        }
    }
    lookups
}

/// What each candidate's record would be without the candidate's documents, one per
/// candidate in lookup order: counted for counts, recomputed by the store (one composite
/// search each, sent together) for the functions of a field's values, and the value's share
/// of the documents for the functions whose record is about one event, value or place.
fn withouts(
    store: &dyn Store,
    job: &Job,
    wanted: &[(EpochMillis, &mut RecordResult)],
    lookups: &[Lookup],
    candidates: &[(u64, Vec<(String, u64)>)],
) -> crate::Result<Vec<Without>> {
    let mut out = Vec::new();
    // The recomputations to make: (index into `out`, record, detector, narrowed job, bucket).
    type Recompute<'a> = (
        usize,
        &'a RecordResult,
        &'a Detector,
        Job,
        (EpochMillis, EpochMillis),
    );
    let mut recompute: Vec<Recompute> = Vec::new();
    let mut requests = Vec::new();
    for (lookup, (total, values)) in lookups.iter().zip(candidates) {
        let r = &*wanted[lookup.record].1;
        let Some(detector) = job.detectors.get(r.detector_index) else {
            continue; // `plan` made no lookup for such a record
        };
        for (value, count) in values {
            let (count, total) = (*count, *total);
            out.push(match detector.function.metric() {
                Metric::Count | Metric::NonZeroCount => Without::Count { count, total },
                Metric::Rare
                | Metric::FreqRare
                | Metric::TimeOfDay
                | Metric::TimeOfWeek
                | Metric::LatLong => Without::Share { count, total },
                _ => {
                    let splits = lookup.splits();
                    let (narrowed, first) = datafeed::value_without_request(
                        job,
                        detector,
                        (&splits, (&lookup.field, value)),
                        lookup.bucket,
                    );
                    recompute.push((out.len(), r, detector, narrowed, lookup.bucket));
                    requests.push(first);
                    // Replaced below by the recomputed value.
                    Without::Nothing { zero: false }
                }
            });
        }
    }
    if requests.is_empty() {
        return Ok(out);
    }
    let answers = msearch_all(store, job, &requests)?;
    for ((at, r, detector, narrowed, bucket), first) in recompute.into_iter().zip(answers) {
        let rest = datafeed::value_without_from(store, &narrowed, detector, bucket, first)?;
        out[at] = match rest {
            Some(v) => Without::Value(
                Stat::of_record(detector.function, r)
                    .of(&v)
                    .unwrap_or(v.value),
            ),
            None => Without::Nothing {
                zero: matches!(
                    detector.function.metric(),
                    Metric::Sum | Metric::DistinctCount
                ),
            },
        };
    }
    Ok(out)
}

/// Runs `requests` over the job's indices through [`Store::msearch`], split into up to
/// [`MSEARCHES_IN_FLIGHT`] calls at once; the answers in order, the first error (in order)
/// returned instead.
fn msearch_all(store: &dyn Store, job: &Job, requests: &[Value]) -> crate::Result<Vec<Value>> {
    let index = job.indices.join(",");
    let per = requests.len().div_ceil(MSEARCHES_IN_FLIGHT).max(1);
    let parts: Vec<Vec<Result<Value, StoreError>>> = std::thread::scope(|s| {
        let handles: Vec<_> = requests
            .chunks(per)
            .map(|part| {
                let index = index.as_str();
                s.spawn(move || {
                    let searches: Vec<(&str, &Value)> = part.iter().map(|b| (index, b)).collect();
                    store.msearch(&searches)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Result<Vec<_>, StoreError>>()
    })?;
    let answers = parts
        .into_iter()
        .flatten()
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(answers)
}
