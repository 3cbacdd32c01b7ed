//! `tidewatch detect` and `evaluate`: the model over one CSV series, and its quality on
//! labelled data.
//!
//! `detect` runs exactly the model the job runner uses (one [`Baseline`] and one per-job
//! [`Normalizer`]) online over the rows of a CSV file: each row is scored using only the
//! rows at or before it, so a prefix of a file scores exactly as the same rows of the whole
//! file. Rules for untidy input:
//! - rows are taken in file order; the bucket span is the most common gap between
//!   timestamps (override with `--bucket-span`);
//! - a gap in time is not filled: the model simply moves on to the next timestamp;
//! - a missing, non-numeric, NaN or infinite value is written back empty with score 0 (for
//!   the `count` function it is a zero), unless the series nearly always reports, in which
//!   case a run of missing values scores as a lost signal;
//! - a row whose timestamp is not after the last learned one (a duplicate or out of order)
//!   is scored against the model as it stands but not learned;
//! - each of these, and a file mixing timestamp forms (unix seconds, milliseconds, ISO
//!   8601, `YYYY-MM-DD HH:MM:SS`), is reported on stderr as one `warning:` line per kind
//!   naming the file lines (the first ten, then a count); the exit status stays 0.
//!
//! `evaluate` is the protocol of issue 4 on every labelled CSV under a directory; see
//! `evaluate` for its definition.

mod evaluate;
mod events;
mod peer;
mod series;

pub use evaluate::{run_evaluate, EvaluateOptions, Evaluation, EventRow, Figures, SeriesFigures};
pub use events::EventCounts;
pub(crate) use series::{has_label_column, read_series};
pub use series::{infer_span, parse_series, InputNotes, Row, Series};

use crate::model::{Baseline, ModelConfig, Observation, Reason, Tail, ValueKind};
use crate::score::Normalizer;
use crate::{Error, Result};
use std::path::PathBuf;

/// Default half-life of the model's memory for `detect` (as for jobs): 14 days.
pub(crate) const DEFAULT_HALF_LIFE_MS: i64 = 14 * 86_400_000;

/// What the values of a CSV series are, which decides the model's distribution family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesFunction {
    /// Averages (heavy-tailed metric).
    Mean,
    /// Event counts (Poisson-like, count-aware).
    Count,
    /// Sums (heavy-tailed metric).
    Sum,
    /// Maxima (heavy-tailed metric).
    Max,
    /// Minima (heavy-tailed metric).
    Min,
}

/// Options of `tidewatch detect`.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    /// CSV file to score (plain or `.gz`).
    pub input: PathBuf,
    /// Where to write `timestamp,value,score,typical,lower,upper` (default: standard output).
    pub output: Option<PathBuf>,
    /// Name of the timestamp column (case-insensitive).
    pub timestamp_column: String,
    /// Name of the value column (case-insensitive).
    pub value_column: String,
    /// What the values are: decides the distribution family.
    pub function: SeriesFunction,
    /// Bucket span such as `1m` or `1h` (default: inferred from the timestamps).
    pub bucket_span: Option<String>,
}

/// One scored row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// 0-100 record score.
    pub score: f64,
    /// Probability from the model.
    pub probability: f64,
    /// Typical value.
    pub typical: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Why.
    pub reason: Reason,
}

/// Model settings for a CSV series with this function and bucket span.
pub fn series_config(function: SeriesFunction, bucket_span_ms: i64) -> ModelConfig {
    ModelConfig {
        bucket_span_ms,
        kind: if function == SeriesFunction::Count {
            ValueKind::Count
        } else {
            ValueKind::Metric
        },
        tail: Tail::Both,
        half_life_ms: DEFAULT_HALF_LIFE_MS,
    }
}

/// The score of an observation; it joins the series' score history when `learn` and its
/// reason allows ([`Reason::joins_score_history`]).
fn record_score(norm: &mut Normalizer, o: &Observation, learn: bool) -> f64 {
    if learn && o.reason.joins_score_history() {
        norm.record_score(o.probability)
    } else {
        norm.score(o.probability)
    }
}

/// Scores the rows of a series online, in order (see the module docs for the rules).
pub fn score_rows(rows: &[Row], cfg: &ModelConfig) -> Vec<Scored> {
    let mut model = Baseline::new(cfg);
    let mut norm = Normalizer::new();
    let mut last = i64::MIN;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let value = match (row.value, cfg.kind) {
            (None, ValueKind::Count) => Some(0.0),
            (v, _) => v,
        };
        let fresh = row.time > last;
        let scored = match value {
            Some(v) => {
                let o = if fresh {
                    model.observe(cfg, row.time, v)
                } else {
                    model.clone().observe(cfg, row.time, v)
                };
                let score = record_score(&mut norm, &o, fresh);
                Scored {
                    score,
                    probability: o.probability,
                    typical: o.typical,
                    lower: o.lower,
                    upper: o.upper,
                    reason: o.reason,
                }
            }
            None => {
                let lost = if fresh {
                    model.observe_missing(cfg, row.time)
                } else {
                    None
                };
                let e = model.expected(cfg, row.time);
                match lost {
                    Some(o) => Scored {
                        score: record_score(&mut norm, &o, true),
                        probability: o.probability,
                        typical: e.typical,
                        lower: e.lower,
                        upper: e.upper,
                        reason: o.reason,
                    },
                    None => Scored {
                        score: 0.0,
                        probability: 1.0,
                        typical: e.typical,
                        lower: e.lower,
                        upper: e.upper,
                        reason: Reason::Normal,
                    },
                }
            }
        };
        if fresh {
            last = row.time;
        }
        out.push(scored);
    }
    out
}

/// Formats a number for CSV output: integers without a fraction, others with up to 6
/// significant decimals.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() >= 1e15 {
        // 1e308 as `1e308`, not as 309 digits.
        format!("{v:e}")
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// What `detect` did.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectSummary {
    /// Rows read and written.
    pub rows: usize,
    /// Bucket span used, in milliseconds.
    pub bucket_span_ms: i64,
    /// Rows scoring 75 or more.
    pub critical: usize,
}

/// Runs `tidewatch detect`.
pub fn run_detect(args: &DetectOptions) -> Result<DetectSummary> {
    let series = read_series(&args.input, &args.timestamp_column, &args.value_column)?;
    for warning in series.notes.warnings(&args.input) {
        eprintln!("warning: {warning}");
    }
    let span = match &args.bucket_span {
        Some(text) => crate::time::parse_duration(text)
            .map_err(|message| Error::BadOption {
                option: "--bucket-span",
                message,
            })?
            .as_millis() as i64,
        None => infer_span(&series.rows.iter().map(|r| r.time).collect::<Vec<_>>()),
    };
    let cfg = series_config(args.function, span);
    let scored = score_rows(&series.rows, &cfg);
    let mut text = String::with_capacity(series.rows.len() * 48);
    text.push_str("timestamp,value,score,typical,lower,upper\n");
    for (row, s) in series.rows.iter().zip(&scored) {
        let ts = if row.time_text.contains(',') {
            format!("\"{}\"", row.time_text)
        } else {
            row.time_text.clone()
        };
        text.push_str(&format!(
            "{ts},{},{:.1},{},{},{}\n",
            row.value.map(num).unwrap_or_default(),
            s.score,
            num(s.typical),
            num(s.lower),
            num(s.upper)
        ));
    }
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?,
        None => crate::output::text(&text)?,
    }
    Ok(DetectSummary {
        rows: series.rows.len(),
        bucket_span_ms: span,
        critical: scored.iter().filter(|s| s.score >= 75.0).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn rows(values: &[Option<f64>], step: i64) -> Vec<Row> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Row {
                time_text: (i as i64 * step / 1000).to_string(),
                time: i as i64 * step,
                value: *v,
                label: None,
            })
            .collect()
    }

    #[test]
    fn a_prefix_scores_exactly_as_the_same_rows_of_the_whole_file() {
        let mut v = Vec::new();
        for i in 0..3000 {
            let x = 100.0 + 10.0 * ((i as f64) / 100.0).sin() + ((i * 7919) % 13) as f64;
            v.push(if i % 500 == 7 {
                None
            } else {
                Some(if i == 2500 { 400.0 } else { x })
            });
        }
        let all = rows(&v, 60_000);
        let cfg = series_config(SeriesFunction::Mean, 60_000);
        let whole = score_rows(&all, &cfg);
        let prefix = score_rows(&all[..2600], &cfg);
        for (a, b) in whole.iter().zip(&prefix) {
            assert_eq!(a.score.to_bits(), b.score.to_bits());
            assert_eq!(a.typical.to_bits(), b.typical.to_bits());
        }
        assert!(whole[2500].score >= 75.0, "{}", whole[2500].score);
    }

    #[test]
    fn an_outage_does_not_make_the_alerts_after_it_ordinary() {
        // A count of about 60 a minute with a daily swing; on day 3 it goes dark for 37
        // hours, then comes back; on day 7 one minute brings 4x the usual. The outage is
        // one alert from its first minutes; the burst after it still alerts: the outage's
        // two thousand lost-signal records do not teach the job that alerts are ordinary.
        let day = 1440;
        let (outage, burst) = (3 * day, 7 * day);
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let values: Vec<Option<f64>> = (0..8 * day)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let noise = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                let hour = (i % day) as f64 / 60.0;
                let usual = 60.0 + 20.0 * (hour / 24.0 * std::f64::consts::TAU).sin();
                Some(match i {
                    _ if (outage..outage + 37 * 60).contains(&i) => 0.0,
                    _ if i == burst => 4.0 * usual,
                    _ => (usual + 16.0 * noise).round(),
                })
            })
            .collect();
        let scored = score_rows(
            &rows(&values, 60_000),
            &series_config(SeriesFunction::Count, 60_000),
        );
        let first_minutes = scored[outage..outage + 3].iter().map(|s| s.score);
        assert!(
            first_minutes.fold(0.0, f64::max) >= 75.0,
            "the outage alerts at once"
        );
        assert!(
            scored[burst].score >= 75.0,
            "the burst after it: {}",
            scored[burst].score
        );
    }

    #[test]
    fn duplicates_and_disorder_do_not_crash_or_learn() {
        let mut r = rows(&[Some(1.0), Some(2.0), Some(3.0)], 60_000);
        r.push(r[1].clone());
        r.push(Row {
            time_text: "x".into(),
            time: -5,
            value: Some(1e9),
            label: None,
        });
        r.push(Row {
            time_text: "y".into(),
            time: 10 * 60_000,
            value: Some(2.0),
            label: None,
        });
        let cfg = series_config(SeriesFunction::Count, 60_000);
        let s = score_rows(&r, &cfg);
        assert_eq!(s.len(), r.len());
        let without = score_rows(
            &[r[0].clone(), r[1].clone(), r[2].clone(), r[5].clone()],
            &cfg,
        );
        assert_eq!(s[5].typical.to_bits(), without[3].typical.to_bits());
    }

    #[test]
    fn detect_writes_one_row_per_input_row() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"Timestamp,Value\n2020-01-01 00:00:00,1\n2020-01-01 00:01:00,\n2020-01-01 00:02:00,3\n").unwrap();
        std::fs::write(&input, gz.finish().unwrap()).unwrap();
        let output = dir.path().join("out.csv");
        let args = DetectOptions {
            input,
            output: Some(output.clone()),
            timestamp_column: "timestamp".into(),
            value_column: "value".into(),
            function: SeriesFunction::Mean,
            bucket_span: None,
        };
        let summary = run_detect(&args).unwrap();
        assert_eq!(summary.rows, 3);
        assert_eq!(summary.bucket_span_ms, 60_000);
        let text = std::fs::read_to_string(output).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "timestamp,value,score,typical,lower,upper");
        assert_eq!(lines.len(), 4);
        assert!(
            lines[2].starts_with("2020-01-01 00:01:00,,0.0,"),
            "{}",
            lines[2]
        );
    }
}
