//! Looking back over the history present in the store.

use super::analysis::JobAnalysis;
use crate::config::Job;
use crate::datafeed::{self, DetectorBuckets};
use crate::results::{
    bucket_doc, bucket_id, influencer_doc, model_plot_doc, record_doc, record_id, ResultsWriter,
};
use crate::store::Store;
use crate::time::{bucket_start, EpochMillis};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Buckets fetched per datafeed round trip: the larger of one day and 96 buckets.
fn chunk_ms(span_ms: i64) -> i64 {
    let day = 86_400_000;
    (day.max(span_ms * 96) / span_ms).max(1) * span_ms
}

/// What one lookback did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LookbackSummary {
    /// The job.
    pub job_id: String,
    /// Buckets analysed.
    pub buckets: u64,
    /// Record documents written.
    pub records: u64,
    /// Records scoring 75 or more.
    pub critical_records: u64,
    /// Series and populations modelled.
    pub partitions: usize,
    /// All result documents written.
    pub documents: u64,
    /// First and last bucket analysed.
    pub range: Option<(EpochMillis, EpochMillis)>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Analyses every bucket of data present for `job`, writing results as it goes.
pub fn run_lookback(store: &dyn Store, job: &Job) -> crate::Result<LookbackSummary> {
    let started = Instant::now();
    let mut summary = LookbackSummary {
        job_id: job.job_id.clone(),
        ..Default::default()
    };
    let Some((earliest, latest)) = datafeed::data_extent(store, job)? else {
        tracing::warn!(job_id = %job.job_id, indices = ?job.indices, "No data matches the job's datafeed");
        return Ok(summary);
    };
    let span = datafeed::span_ms(job);
    let span_s = (span / 1000) as u64;
    let start = bucket_start(earliest, span);
    let end = bucket_start(latest, span) + span;
    let progress = progress_bar(&job.job_id, ((end - start) / span) as u64);

    let mut analysis = JobAnalysis::new(job);
    let mut writer = ResultsWriter::new(store, &job.results_index);
    let chunk = chunk_ms(span);
    let mut chunk_start = start;
    while chunk_start < end {
        let chunk_end = (chunk_start + chunk).min(end);
        let counts = datafeed::event_counts(store, job, chunk_start, chunk_end)?;
        let fetched: Vec<DetectorBuckets> = job
            .detectors
            .iter()
            .map(|d| datafeed::fetch_detector(store, job, d, chunk_start, chunk_end))
            .collect::<Result<_, _>>()?;
        let mut t = chunk_start;
        while t < chunk_end {
            let values: Vec<&[datafeed::SeriesValue]> = fetched
                .iter()
                .map(|f| f.get(&t).map(Vec::as_slice).unwrap_or(&[]))
                .collect();
            let out = analysis.analyse_bucket(t, counts.get(&t).copied().unwrap_or(0), &values);
            for r in &out.records {
                summary.records += 1;
                if r.record_score >= 75.0 {
                    summary.critical_records += 1;
                }
                writer.push(
                    record_id(&job.job_id, r, span_s),
                    record_doc(&job.job_id, r, span_s),
                )?;
            }
            for i in &out.influencers {
                let (id, doc) = influencer_doc(&job.job_id, i, span_s);
                writer.push(id, doc)?;
            }
            for m in &out.model_plot {
                let (id, doc) = model_plot_doc(&job.job_id, m, span_s);
                writer.push(id, doc)?;
            }
            if let Some(b) = &out.bucket {
                writer.push(
                    bucket_id(&job.job_id, t, span_s),
                    bucket_doc(&job.job_id, b, span_s),
                )?;
            }
            summary.buckets += 1;
            progress.inc(1);
            t += span;
        }
        writer.flush()?;
        chunk_start = chunk_end;
    }
    progress.finish_and_clear();
    summary.partitions = analysis.partitions();
    summary.documents = writer.written();
    summary.range = Some((start, end - span));
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn progress_bar(job_id: &str, buckets: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(buckets);
    let style = ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} buckets {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(job_id.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_whole_buckets_of_at_least_a_day() {
        assert_eq!(chunk_ms(900_000), 96 * 900_000);
        assert_eq!(chunk_ms(3_600_000), 96 * 3_600_000);
        assert_eq!(chunk_ms(60_000), 86_400_000);
        assert_eq!(chunk_ms(7 * 60_000) % (7 * 60_000), 0);
    }
}
