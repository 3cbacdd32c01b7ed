//! One similar-shape query: read the window's series of every job, find candidates by
//! fingerprint, rank them by exact distance, and describe the best.

use super::fingerprint::ShapeIndex;
use super::shape::{self, Exact};
use super::source::{self, SeriesKey, Values};
use super::SimilarError;
use crate::config::Job;
use crate::store::Store;
use crate::time::{bucket_start, EpochMillis};
use serde::Serialize;
use std::collections::BTreeMap;

/// Buckets per fingerprint segment. One: a byte per bucket keeps recall@10 at 1.0 on
/// 100,000 noisy partitions, where 2-bucket segments fall to 0.6-0.85 (`cargo bench --bench
/// similar` prints both); the code is still 3.4 times smaller than the f32 values.
pub(crate) const SEGMENT: usize = 1;
/// Candidates the fingerprint stage hands to the exact stage.
pub const CANDIDATES: usize = 300;
/// Matches whose DTW distance is computed (the best of the exact stage).
const DTW_ON: usize = 50;
/// The Sakoe-Chiba band of the DTW distance, in buckets.
const DTW_BAND: usize = 2;
/// By default a match must have a record at least this high in the window ("major"): a
/// shape that rose with the query while its own model saw nothing unusual (a country's
/// evening rise during a burst) is ordinary movement, not part of the incident.
pub const MIN_SCORE: f64 = 50.0;
/// A record-scored match must still move *like* the query: at most this distance
/// (z-normalised windows with correlation 0.5 at the best lag).
pub(crate) const MAX_DISTANCE: f64 = 1.0;

/// What to look for.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarRequest {
    /// The job of the query series.
    pub job_id: String,
    /// The query series' split, `field=value` (optional when the job has one series).
    pub partition: Option<(String, String)>,
    /// The moment of interest; the window is centred on it.
    pub at: EpochMillis,
    /// Length of the window.
    pub window_ms: i64,
    /// How many matches to return.
    pub top: usize,
    /// Only series of these jobs (all jobs when `None`; the query's job always counts).
    pub jobs_only: Option<Vec<String>>,
    /// Largest lag searched, in buckets either way.
    pub max_lag: usize,
    /// Which value of each bucket makes the shape.
    pub values: Values,
    /// Only matches whose highest record score in the window reaches this, and whose
    /// distance is at most `MAX_DISTANCE`; 0 ranks every shape, scored or not.
    pub min_score: f64,
}

/// One series that moved like the query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarMatch {
    /// 1 for the closest.
    pub rank: usize,
    /// The job.
    pub job_id: String,
    /// Position of the detector in the job.
    pub detector_index: usize,
    /// `field=value` of its splits, `-` when none.
    pub partition: String,
    /// z-normalised RMS distance at the best lag: 0 same shape, 1.41 unrelated, 2 mirrored.
    pub distance: f64,
    /// Pearson correlation with the query at lag 0.
    pub correlation: f64,
    /// Best lag in buckets: positive when this series moves later than the query.
    pub lag_buckets: i64,
    /// The lag in milliseconds.
    pub lag_ms: i64,
    /// DTW distance within a band of 2 buckets (z-normalised, RMS), for the best matches.
    pub dtw: Option<f64>,
    /// Highest record score of the series in the window (`None`: no record).
    pub max_record_score: Option<f64>,
    /// Its values over the window, one per bucket (for small multiples).
    pub values: Vec<f64>,
}

/// The answer to a [`SimilarRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarOutcome {
    /// The query's job.
    pub job_id: String,
    /// The query series' splits.
    pub partition: String,
    /// Which value of each bucket made the shapes.
    pub compared: Values,
    /// Window start (inclusive).
    pub from: EpochMillis,
    /// Window end (exclusive).
    pub to: EpochMillis,
    /// Bucket span of the window.
    pub bucket_span_ms: i64,
    /// The query's values over the window.
    pub values: Vec<f64>,
    /// The query's highest record score in the window.
    pub max_record_score: Option<f64>,
    /// Series compared (the query left out).
    pub series: usize,
    /// Series that reached the exact stage.
    pub candidates: usize,
    /// Close shapes left out because their model saw nothing unusual in the window (below
    /// `min_score`) or they moved unlike the query (beyond `MAX_DISTANCE`).
    pub left_out: usize,
    /// Jobs left out, and why.
    pub skipped: Vec<String>,
    /// The best matches, closest first.
    pub matches: Vec<SimilarMatch>,
}

/// All series of the selected jobs over the window plus the lag either side.
struct Gathered {
    keys: Vec<SeriesKey>,
    values: Vec<Vec<f64>>,
    scores: BTreeMap<SeriesKey, f64>,
    skipped: Vec<String>,
}

/// Runs `req` over `jobs`, reading each job's results from `index_of(job)`.
pub fn search(
    store: &dyn Store,
    jobs: &[Job],
    index_of: &dyn Fn(&Job) -> String,
    req: &SimilarRequest,
) -> Result<SimilarOutcome, SimilarError> {
    let job = jobs
        .iter()
        .find(|j| j.job_id == req.job_id)
        .ok_or_else(|| SimilarError::UnknownJob {
            job_id: req.job_id.clone(),
            known: jobs.iter().map(|j| j.job_id.clone()).collect(),
        })?;
    if !job.model_plot {
        return Err(SimilarError::NoModelPlot(job.job_id.clone()));
    }
    let span = job.bucket_span_ms();
    let n = (req.window_ms / span) as usize;
    if n < 4 {
        return Err(SimilarError::WindowTooShort {
            window_ms: req.window_ms,
            bucket_span_ms: span,
        });
    }
    let from = bucket_start(req.at - req.window_ms / 2, span);
    let to = from + n as i64 * span;
    let lag = req.max_lag;
    let g = gather(
        store,
        jobs,
        index_of,
        req,
        span,
        from - lag as i64 * span,
        n + 2 * lag,
    )?;
    let query = find_query(&g.keys, job, req)?;
    let q_values = g.values[query][lag..lag + n].to_vec();
    if shape::znorm(&q_values).is_none() {
        return Err(SimilarError::FlatQuery(g.keys[query].label()));
    }
    let mut index = ShapeIndex::new(n + 2 * lag, SEGMENT);
    for v in &g.values {
        index.push(v);
    }
    let cands = index.candidates(query as u32, lag, n, lag, CANDIDATES);
    let mut exact: Vec<(usize, Exact)> = cands
        .iter()
        .filter_map(|c| {
            let id = c.id as usize;
            shape::compare(&q_values, &g.values[id], lag).map(|e| (id, e))
        })
        .collect();
    exact.sort_by(|a, b| a.1.distance.total_cmp(&b.1.distance).then(a.0.cmp(&b.0)));
    let compared = exact.len();
    if req.min_score > 0.0 {
        exact.retain(|(id, e)| {
            let score = g.scores.get(&g.keys[*id]).copied().unwrap_or(0.0);
            score >= req.min_score && e.distance <= MAX_DISTANCE
        });
    }
    let left_out = compared - exact.len();
    let matches = describe(&g, &exact, &q_values, lag, span, req.top);
    Ok(SimilarOutcome {
        job_id: job.job_id.clone(),
        partition: g.keys[query].label(),
        compared: req.values,
        from,
        to,
        bucket_span_ms: span,
        max_record_score: g.scores.get(&g.keys[query]).copied(),
        values: q_values,
        series: g.keys.len() - 1,
        candidates: cands.len(),
        left_out,
        skipped: g.skipped,
        matches,
    })
}

/// The best `top` of the exact ranking as matches, with their DTW distance and record score.
fn describe(
    g: &Gathered,
    exact: &[(usize, Exact)],
    q_values: &[f64],
    lag: usize,
    span: i64,
    top: usize,
) -> Vec<SimilarMatch> {
    let n = q_values.len();
    exact
        .iter()
        .take(top)
        .enumerate()
        .map(|(i, &(id, e))| {
            let key = &g.keys[id];
            let window = &g.values[id][lag..lag + n];
            SimilarMatch {
                rank: i + 1,
                job_id: key.job_id.clone(),
                detector_index: key.detector_index,
                partition: key.label(),
                distance: e.distance,
                correlation: e.correlation,
                lag_buckets: e.lag,
                lag_ms: e.lag * span,
                dtw: (i < DTW_ON)
                    .then(|| shape::dtw(q_values, window, DTW_BAND))
                    .flatten(),
                max_record_score: g.scores.get(key).copied(),
                values: window.to_vec(),
            }
        })
        .collect()
}

/// Reads the series (and record scores) of every selected job with model plot and the
/// query's bucket span.
fn gather(
    store: &dyn Store,
    jobs: &[Job],
    index_of: &dyn Fn(&Job) -> String,
    req: &SimilarRequest,
    span: i64,
    from: EpochMillis,
    buckets: usize,
) -> Result<Gathered, SimilarError> {
    if let Some(only) = &req.jobs_only {
        if let Some(missing) = only
            .iter()
            .find(|id| !jobs.iter().any(|j| &j.job_id == *id))
        {
            return Err(SimilarError::UnknownJob {
                job_id: missing.clone(),
                known: jobs.iter().map(|j| j.job_id.clone()).collect(),
            });
        }
    }
    let mut g = Gathered {
        keys: Vec::new(),
        values: Vec::new(),
        scores: BTreeMap::new(),
        skipped: Vec::new(),
    };
    let to = from + buckets as i64 * span;
    for job in jobs {
        let listed = req
            .jobs_only
            .as_ref()
            .is_none_or(|only| only.contains(&job.job_id));
        if !listed && job.job_id != req.job_id {
            continue;
        }
        if !job.model_plot {
            g.skipped
                .push(format!("{}: model_plot_config is not enabled", job.job_id));
            continue;
        }
        if job.bucket_span_ms() != span {
            g.skipped.push(format!(
                "{}: bucket span {} differs from the query's {}",
                job.job_id,
                crate::time::format_duration(job.bucket_span),
                crate::time::format_duration(std::time::Duration::from_millis(span as u64))
            ));
            continue;
        }
        let index = index_of(job);
        for (key, values) in source::read_series(store, &index, job, from, buckets, req.values)? {
            g.keys.push(key);
            g.values.push(values);
        }
        g.scores
            .extend(source::max_record_scores(store, &index, job, from, to)?);
    }
    Ok(g)
}

/// The position of the query series among `keys`.
fn find_query(keys: &[SeriesKey], job: &Job, req: &SimilarRequest) -> Result<usize, SimilarError> {
    let of_job: Vec<usize> = (0..keys.len())
        .filter(|&i| keys[i].job_id == job.job_id)
        .collect();
    let matching: Vec<usize> = match &req.partition {
        Some((f, v)) => of_job
            .iter()
            .copied()
            .filter(|&i| keys[i].has_split(f, v))
            .collect(),
        None => of_job.clone(),
    };
    match matching.as_slice() {
        [one] => Ok(*one),
        [] => Err(SimilarError::NoSuchSeries {
            job_id: job.job_id.clone(),
            partition: req
                .partition
                .as_ref()
                .map(|(f, v)| format!("{f}={v}"))
                .unwrap_or_else(|| "-".into()),
            known: of_job.iter().take(20).map(|&i| keys[i].label()).collect(),
        }),
        many => Err(SimilarError::Ambiguous {
            job_id: job.job_id.clone(),
            series: many.iter().take(20).map(|&i| keys[i].label()).collect(),
        }),
    }
}
