//! "What else moved like this?": ranks every series of every job by how closely its shape
//! over a window matches one series' (Etsy's Oculus, for tidewatch's results).
//!
//! The series are the `actual` values of the `model_plot` documents the runner writes (one
//! per bucket and partition), read through the store's `_search`, so the search runs on the
//! embedded store and on a cluster alike; jobs without `model_plot_config` are skipped and
//! named. Two stages:
//! 1. **Candidates** from a fingerprint per series ([`ShapeIndex`]): segment means
//!    quantised to bytes, compared z-normalised at every lag, in one pass. This is what
//!    keeps 100,000 series under a second (`cargo bench --bench similar`).
//! 2. **Exact** ranking of the best few hundred on the bucket values: z-normalised RMS
//!    distance at the best lag within `max_lag` buckets, Pearson correlation at lag 0, and
//!    dynamic time warping within a 2-bucket band for the best matches. Each match also
//!    carries its highest record score in the window, so a shape that merely looks alike
//!    reads differently from one the model found anomalous.
//!
//! Why z-normalised: the question is "did it move the same way", not "is it as large": 40
//! extra 503s and 400 extra requests from Brazil are the same event. The price is that a
//! quiet series with noise has a shape too; the record score is the guard. See
//! docs/similar.md for the method and its limits.

mod fingerprint;
mod search;
mod shape;
mod source;

pub use fingerprint::{Candidate, ShapeIndex, BLOCK};
pub use search::{search, SimilarMatch, SimilarOutcome, SimilarRequest, CANDIDATES, MIN_SCORE};
pub use shape::{compare, Exact};
pub use source::Values;

use crate::time::{format_short, EpochMillis};
use std::path::PathBuf;

/// Why a similar-shape query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum SimilarError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// No job with this id.
    #[error("no job `{job_id}`; known jobs: {}", known.join(", "))]
    UnknownJob {
        /// The id asked for.
        job_id: String,
        /// The jobs there are.
        known: Vec<String>,
    },
    /// The query's job writes no model plot, so there are no values to compare.
    #[error("job `{0}` writes no model_plot documents: enable `model_plot_config: {{enabled: true}}` in its job file and run it again")]
    NoModelPlot(String),
    /// The window holds too few buckets to have a shape.
    #[error("a window of {window_ms} ms holds fewer than 4 buckets of {bucket_span_ms} ms; widen --window")]
    WindowTooShort {
        /// The window asked for.
        window_ms: i64,
        /// The job's bucket span.
        bucket_span_ms: i64,
    },
    /// No series of the job has this split in the window.
    #[error("job `{job_id}` has no series `{partition}` in the window; it has: {}", known.join(", "))]
    NoSuchSeries {
        /// The job.
        job_id: String,
        /// The split asked for.
        partition: String,
        /// Some series it has (up to 20).
        known: Vec<String>,
    },
    /// More than one series matches the split.
    #[error("job `{job_id}`: more than one series matches; name one of: {}", series.join(", "))]
    Ambiguous {
        /// The job.
        job_id: String,
        /// The matching series (up to 20).
        series: Vec<String>,
    },
    /// The query series does not move in the window.
    #[error("`{0}` is flat over the window: there is no shape to match; pick another time or a wider window")]
    FlatQuery(String),
    /// An argument is malformed.
    #[error("{option}: {reason}")]
    BadArgument {
        /// The option, e.g. `--partition`.
        option: &'static str,
        /// What is wrong and what was expected.
        reason: String,
    },
}

/// Options of `tidewatch similar`.
#[derive(Debug, Clone)]
pub struct SimilarOptions {
    /// The job of the series to match.
    pub job: String,
    /// The series to match, as `field=value` (a partition or by split); optional when the
    /// job has a single series.
    pub partition: Option<String>,
    /// The moment of interest (`2024-05-14T18:15:00Z`, `now-1h`, epoch seconds); the window
    /// is centred on it.
    pub at: String,
    /// Length of the window compared.
    pub window: String,
    /// How many matches to print.
    pub top: usize,
    /// Only compare with series of these jobs (comma-separated).
    pub jobs_only: Option<Vec<String>>,
    /// Largest lag searched, in buckets either way.
    pub max_lag: usize,
    /// Which value of each bucket makes the shape: `actual` (the observed values, as the
    /// single-metric view draws them) or `deviation` (actual − model median: the daily
    /// rhythm taken out).
    pub values: Values,
    /// Only series whose own model scored a record at least this high in the window, and
    /// that moved like the query (correlation 0.5 or more at the best lag); 0 ranks every
    /// shape, scored or not (Oculus's plain shape search).
    pub min_score: f64,
    /// Output format.
    pub format: Format,
    /// Directory (or file) of job definitions.
    pub jobs: PathBuf,
    /// Results index to read (default: each job's `results_index`).
    pub index: Option<String>,
}

/// Output format of `tidewatch similar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document.
    Json,
    /// One JSON line per match.
    Ndjson,
}

/// `field=value` into its parts.
pub fn parse_split(option: &'static str, text: &str) -> Result<(String, String), SimilarError> {
    match text.split_once('=') {
        Some((f, v)) if !f.trim().is_empty() && !v.is_empty() => {
            Ok((f.trim().to_string(), v.to_string()))
        }
        _ => Err(SimilarError::BadArgument {
            option,
            reason: format!("`{text}` is not `field=value`, e.g. `source.geo.country_iso_code=BR`"),
        }),
    }
}

/// Checks the command line into a request (`now` for relative times).
pub(crate) fn request_from_args(
    args: &SimilarOptions,
    now: EpochMillis,
) -> Result<SimilarRequest, SimilarError> {
    let bad = |option, reason: String| SimilarError::BadArgument { option, reason };
    let at = crate::time::parse_cli_time(&args.at, now).map_err(|r| bad("--at", r))?;
    let window = crate::time::parse_duration(&args.window).map_err(|r| bad("--window", r))?;
    if args.top == 0 {
        return Err(bad("--top", "must be at least 1".into()));
    }
    if !(0.0..=100.0).contains(&args.min_score) {
        return Err(bad(
            "--min-score",
            format!("{} is not a score from 0 to 100", args.min_score),
        ));
    }
    if args.max_lag > 16 {
        return Err(bad(
            "--max-lag",
            format!("{} is more than the 16 buckets supported", args.max_lag),
        ));
    }
    Ok(SimilarRequest {
        job_id: args.job.clone(),
        partition: args
            .partition
            .as_deref()
            .map(|p| parse_split("--partition", p))
            .transpose()?,
        at,
        window_ms: window.as_millis().min(90 * 86_400_000) as i64,
        top: args.top,
        jobs_only: args.jobs_only.clone(),
        max_lag: args.max_lag,
        values: args.values,
        min_score: args.min_score,
    })
}

/// `tidewatch similar`: runs the query against the store named by `store_spec` and prints.
pub fn run(store_spec: &str, args: &SimilarOptions) -> crate::Result<()> {
    let req = request_from_args(args, chrono::Utc::now().timestamp_millis())?;
    let jobs = crate::config::load_jobs(std::slice::from_ref(&args.jobs))?;
    let store = crate::store::open_read_only(store_spec)?;
    let index_of = |j: &crate::config::Job| {
        args.index
            .clone()
            .unwrap_or_else(|| j.results_index.clone())
    };
    let out = search(store.as_ref(), &jobs, &index_of, &req)?;
    match args.format {
        Format::Table => crate::output::text(&table(&out))?,
        Format::Json => {
            crate::outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default())?
        }
        Format::Ndjson => {
            for m in &out.matches {
                crate::outln!("{}", serde_json::to_string(m).unwrap_or_default())?;
            }
        }
    }
    crate::output::flush()
}

/// The outcome as a table for people, with a header line saying what was compared.
pub fn table(out: &SimilarOutcome) -> String {
    let mut s = format!(
        "{} {}, {} to {} ({} buckets): {} series compared, {} by exact distance\n",
        out.job_id,
        out.partition,
        format_short(out.from),
        format_short(out.to),
        out.values.len(),
        out.series,
        out.candidates
    );
    for note in &out.skipped {
        s.push_str(&format!("skipped {note}\n"));
    }
    if out.left_out > 0 {
        s.push_str(&format!(
            "left out {} shapes that their own model found ordinary in the window or that moved unlike this one (--min-score 0 ranks them all)\n",
            out.left_out
        ));
    }
    let num = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
    let rows: Vec<[String; 8]> = out
        .matches
        .iter()
        .map(|m| {
            [
                m.rank.to_string(),
                m.job_id.clone(),
                m.partition.clone(),
                format!("{:.3}", m.distance),
                format!("{:.2}", m.correlation),
                lag_text(m.lag_buckets, m.lag_ms),
                num(m.dtw),
                m.max_record_score
                    .map(|v| format!("{v:.0}"))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = [
        "rank",
        "job",
        "partition",
        "distance",
        "corr",
        "lag",
        "dtw",
        "max score",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l: String = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}  "))
            .collect();
        l.truncate(l.trim_end().len());
        l + "\n"
    };
    s.push_str(&line(header.to_vec()));
    for r in &rows {
        s.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    s
}

/// `0`, or `+2 (30m later)` / `-1 (15m earlier)`.
fn lag_text(buckets: i64, ms: i64) -> String {
    let d = crate::time::format_duration(std::time::Duration::from_millis(ms.unsigned_abs()));
    match buckets {
        0 => "0".into(),
        b if b > 0 => format!("+{b} ({d} later)"),
        b => format!("{b} ({d} earlier)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_arguments_are_checked_with_the_option_named() {
        assert_eq!(
            parse_split("--partition", "country=BR").unwrap(),
            ("country".into(), "BR".into())
        );
        let e = parse_split("--partition", "BR").unwrap_err().to_string();
        assert!(
            e.starts_with("--partition: `BR` is not `field=value`"),
            "{e}"
        );
        assert_eq!(lag_text(2, 1_800_000), "+2 (30m later)");
        assert_eq!(lag_text(-1, -900_000), "-1 (15m earlier)");
    }
}
