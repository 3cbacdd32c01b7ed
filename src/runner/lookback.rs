//! Advancing a job through time: fetch a chunk of buckets, analyse them in order, write the
//! results. Lookback and real time are the same loop with a different end.

use super::checkpoint::{self, Checkpoint};
use super::realtime::{Clock, SystemClock};
use super::stats::{self, JobStats, ModelStats};
use crate::analysis::{influencers_of, BucketOutput, JobAnalysis};
use crate::config::{Job, Metric};
use crate::datafeed::{self, DetectorBuckets, SeriesValue};
use crate::results::{
    bucket_doc, bucket_id, influencer_doc, model_plot_doc, record_doc, record_id, ResultsWriter,
};
use crate::store::Store;
use crate::time::{bucket_start, EpochMillis};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The delayed-data check looks back over the larger of 2 hours and 8 buckets, unless the
/// job's `delayed_data_check_config.check_window` says otherwise.
const DELAYED_CHECK_MIN_MS: i64 = 2 * 3_600_000;
const DELAYED_CHECK_BUCKETS: i64 = 8;

/// An annotation saying how many documents of bucket `t` arrived after it was analysed,
/// worded as Elastic ML words it.
fn delayed_data_annotation(
    job_id: &str,
    t: EpochMillis,
    span_s: u64,
    missing: u64,
) -> (String, Value) {
    let doc = json!({
        "job_id": job_id,
        "result_type": "annotation",
        "event": "delayed_data",
        "timestamp": t,
        "end_timestamp": t + span_s as i64 * 1000,
        "bucket_span": span_s,
        "missing_docs_count": missing,
        "annotation": format!(
            "Datafeed has missed {missing} documents due to ingest latency, latest bucket with missing data is [{}]. Consider increasing query_delay",
            crate::time::format_millis(t)
        ),
    });
    (format!("{job_id}_annotation_delayed_data_{t}"), doc)
}

/// Buckets in one chunk when `chunking_config` sets no time span: Elastic's default for
/// aggregated datafeeds (1,000 histogram intervals). Every chunk costs a fixed set of round
/// trips (source checks, counts, a checkpoint), so small jobs take few chunks.
const DEFAULT_CHUNK_BUCKETS: i64 = 1_000;

/// Buckets fetched per datafeed round trip: the job's `chunking_config.time_span` when set,
/// else the larger of one day and [`DEFAULT_CHUNK_BUCKETS`] buckets; always whole buckets.
fn chunk_ms(span_ms: i64, configured: Option<std::time::Duration>) -> i64 {
    let wanted = configured.map_or_else(
        || 86_400_000.max(span_ms * DEFAULT_CHUNK_BUCKETS),
        |d| d.as_millis() as i64,
    );
    (wanted / span_ms).max(1) * span_ms
}

/// Documents one chunk may hold when `chunking_config` sets no time span: a chunk's
/// detector values, the store's composite groups for them and the analysed buckets' results
/// are all held until the chunk is written, and each grows with the chunk's documents (for
/// `distinct_count`, one composite group per distinct value). A window of
/// [`DEFAULT_CHUNK_BUCKETS`] buckets of a busy log holds millions of documents (the demo log
/// x4: 2.2 M, 570 MB of peak RSS for one per-client job), so the window is cut at the bucket
/// where this many documents are reached; a quiet log still takes its whole window. A single
/// bucket over the budget is a chunk of its own.
const DEFAULT_CHUNK_DOCS: u64 = 200_000;

/// The end of the chunk that starts at `start` and ends at most at `window_end`: the first
/// bucket start after `start` at which the documents of `counts` (bucket start → events)
/// from `start` on would exceed `max_docs`, else `window_end`. Always at least one bucket.
fn chunk_end_by_docs(
    counts: &BTreeMap<EpochMillis, u64>,
    start: EpochMillis,
    window_end: EpochMillis,
    max_docs: u64,
) -> EpochMillis {
    let mut docs = 0u64;
    for (&t, &n) in counts.range(start..window_end) {
        docs = docs.saturating_add(n);
        if docs > max_docs && t > start {
            return t;
        }
    }
    window_end
}

/// What a run of a job did.
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

/// One job's progress through time.
pub struct JobRunner<'a> {
    store: &'a dyn Store,
    job: Job,
    analysis: JobAnalysis,
    writer: ResultsWriter<'a>,
    /// Start of the first bucket not analysed yet; `None` until the job has seen data.
    next_bucket: Option<EpochMillis>,
    /// Index holding checkpoints and snapshots; `None` keeps no state.
    state_index: Option<String>,
    checkpoint: Option<Checkpoint>,
    summary: LookbackSummary,
    stats: JobStats,
    /// Event counts of the recently analysed buckets, to notice documents that arrive late.
    recent_counts: BTreeMap<EpochMillis, u64>,
    /// Whether the job's fields were checked against existing indices; until then (a
    /// pattern that matched nothing yet) each chunk checks again before reading.
    fields_checked: bool,
}

impl<'a> JobRunner<'a> {
    /// A runner for `job` that has analysed nothing yet.
    pub fn new(store: &'a dyn Store, job: &Job) -> Self {
        JobRunner {
            store,
            job: job.clone(),
            analysis: JobAnalysis::new(job),
            writer: ResultsWriter::new(store, &job.results_index),
            next_bucket: None,
            state_index: None,
            checkpoint: None,
            stats: JobStats::default(),
            recent_counts: BTreeMap::new(),
            fields_checked: false,
            summary: LookbackSummary {
                job_id: job.job_id.clone(),
                ..Default::default()
            },
        }
    }

    /// A runner that resumes from the job's checkpoint in `state_index` (starting over when
    /// there is none, or when the job definition changed since), and checkpoints after every
    /// chunk it writes.
    pub fn resume(store: &'a dyn Store, job: &Job, state_index: &str) -> crate::Result<Self> {
        let mut runner = JobRunner::new(store, job);
        runner.state_index = Some(state_index.to_string());
        if let Some(cp) = checkpoint::load_checkpoint(store, state_index, job)? {
            match checkpoint::load_snapshot(store, state_index, job, &cp)? {
                Some(analysis) => {
                    tracing::info!(job_id = %job.job_id, next_bucket = %crate::time::format_millis(cp.next_bucket), "Resuming from checkpoint");
                    runner.analysis = analysis;
                    runner.next_bucket = Some(cp.next_bucket);
                    runner.recent_counts = cp.recent_counts.iter().copied().collect();
                }
                None if cp.fingerprint != checkpoint::fingerprint(job) => {
                    tracing::warn!(job_id = %job.job_id, "The job's definition changed since its checkpoint; analysing from the start")
                }
                None => {
                    tracing::warn!(job_id = %job.job_id, "The job's model snapshot is missing or was written by another tidewatch version; analysing from the start")
                }
            }
            runner.checkpoint = Some(cp);
            if runner.next_bucket.is_some() {
                if let Some(doc) = stats::load(store, state_index, &job.job_id)? {
                    runner.stats = JobStats::from_doc(&doc);
                }
            }
        }
        Ok(runner)
    }

    /// Start of the first bucket not analysed yet.
    pub fn next_bucket(&self) -> Option<EpochMillis> {
        self.next_bucket
    }

    /// Skips ahead to bucket `t` (a lookback's `--from`) when the job has not reached it
    /// yet; a job already past it resumes where it is, so no bucket is analysed twice.
    pub fn start_at(&mut self, t: EpochMillis) {
        if self.next_bucket.is_none_or(|n| n < t) {
            self.next_bucket = Some(t);
        }
    }

    /// What the runner has done so far.
    pub fn summary(&self) -> LookbackSummary {
        let mut s = self.summary.clone();
        s.partitions = self.analysis.partitions();
        s.documents = self.writer.written();
        s
    }

    /// Analyses every bucket that ends at or before `until`, writing results after each
    /// chunk. Before the job has seen data it starts at the earliest document's bucket.
    pub fn advance(&mut self, until: EpochMillis, progress: &ProgressBar) -> crate::Result<()> {
        while self.advance_chunk(until, progress)? {}
        Ok(())
    }

    /// Analyses at most one chunk of the buckets that end at or before `until`, writes its
    /// results, then the checkpoint. Returns whether buckets before `until` remain, so a
    /// caller can renew its lease between chunks.
    pub fn advance_chunk(
        &mut self,
        until: EpochMillis,
        progress: &ProgressBar,
    ) -> crate::Result<bool> {
        self.resolve_fields()?;
        let span = datafeed::span_ms(&self.job);
        let start = match self.next_bucket {
            Some(t) => t,
            None => match datafeed::data_extent_before(self.store, &self.job, Some(until))? {
                Some((earliest, _)) => bucket_start(earliest, span),
                None => return Ok(false),
            },
        };
        let end = bucket_start(until, span);
        if end <= start {
            self.next_bucket = Some(start);
            if self.check_delayed_data(start)? > 0 {
                self.writer.flush()?;
                self.save_state(start)?;
            }
            return Ok(false);
        }
        // Before and after reading: an index closed mid-chunk must not pass as empty buckets.
        datafeed::check_sources(self.store, &self.job)?;
        if progress.length().unwrap_or(0) <= progress.position() {
            progress.inc_length(((end - start) / span) as u64);
        }
        let window_end = if self.job.chunking_off {
            end
        } else {
            (start + chunk_ms(span, self.job.chunking_time_span)).min(end)
        };
        self.check_delayed_data(start)?;
        let mut counts = datafeed::event_counts(self.store, &self.job, start, window_end)?;
        // Only the default chunking is cut by documents: a time span the job sets, or
        // chunking turned off, is taken as asked.
        let chunk_end = if self.job.chunking_off || self.job.chunking_time_span.is_some() {
            window_end
        } else {
            chunk_end_by_docs(&counts, start, window_end, DEFAULT_CHUNK_DOCS)
        };
        counts.retain(|&t, _| t < chunk_end);
        self.analyse_chunk(start, chunk_end, counts, progress)?;
        datafeed::check_sources(self.store, &self.job)?;
        self.writer.write_pending()?;
        self.next_bucket = Some(chunk_end);
        self.stats.last_error = None;
        self.save_state(chunk_end)?;
        Ok(chunk_end < end)
    }

    /// Resolves the job's fields against its indices' mappings (`datafeed::resolve_fields`)
    /// unless that was done with indices present: a field that cannot be read stops the job
    /// here, before any bucket, and a `text` field is read through `.keyword` from now on.
    pub fn resolve_fields(&mut self) -> crate::Result<()> {
        if self.fields_checked {
            return Ok(());
        }
        // An index that cannot be read says so, rather than through `_field_caps`.
        datafeed::check_sources(self.store, &self.job)?;
        let resolved = datafeed::resolve_fields(self.store, &self.job)?;
        self.job.field_sources = resolved.job.field_sources;
        self.stats.field_notes = resolved.notes;
        self.fields_checked = resolved.checked;
        Ok(())
    }

    /// Writes the checkpoint (with the recent bucket counts) and the stats document.
    fn save_state(&mut self, next_bucket: EpochMillis) -> crate::Result<()> {
        let Some(index) = &self.state_index else {
            return Ok(());
        };
        let cp = checkpoint::save(
            self.store,
            index,
            &self.job,
            self.checkpoint.as_ref(),
            &self.analysis,
            next_bucket,
            self.recent_counts.iter().map(|(t, n)| (*t, *n)).collect(),
        )?;
        self.checkpoint = Some(cp);
        stats::save(
            self.store,
            index,
            &self.job.job_id,
            &self.stats,
            &self.model_stats(),
        )?;
        Ok(())
    }

    /// Writes the bucket in progress, the one holding `final_until` (now - query_delay), as
    /// an interim result (`is_interim: true`, as Elastic ML does), after deleting the job's
    /// earlier interim results, which the final results written before have superseded.
    /// Nothing is written unless the job is caught up to that bucket.
    ///
    /// The interim bucket is analysed on a copy of the models, which it does not teach.
    /// Counts and sums of the part seen so far are scaled up to a whole bucket (Elastic's
    /// interim bucket correction), so half a bucket of ordinary traffic does not read as a dip.
    pub fn write_interim(&mut self, final_until: EpochMillis) -> crate::Result<()> {
        let span = datafeed::span_ms(&self.job);
        let start = bucket_start(final_until, span);
        self.writer.flush()?;
        self.delete_interim(None)?;
        if self.next_bucket != Some(start) || final_until <= start {
            return Ok(());
        }
        let Some(mut scratch) = JobAnalysis::from_snapshot(&self.job, &self.analysis.to_snapshot())
        else {
            return Ok(());
        };
        let completeness = (final_until - start) as f64 / span as f64;
        let (store, job) = (self.store, &self.job);
        let counts = datafeed::event_counts(store, job, start, final_until)?;
        let mut fetched = Vec::new();
        for d in &job.detectors {
            let mut values = datafeed::fetch_detector(store, job, d, start, final_until)?
                .remove(&start)
                .unwrap_or_default();
            if matches!(
                d.function.metric(),
                Metric::Count | Metric::NonZeroCount | Metric::Sum
            ) {
                values.iter_mut().for_each(|v| v.value /= completeness);
            }
            fetched.push(values);
        }
        datafeed::check_sources(store, job)?;
        let values: Vec<&[SeriesValue]> = fetched.iter().map(Vec::as_slice).collect();
        let count = counts.get(&start).copied().unwrap_or(0);
        let mut out = scratch.analyse_bucket(start, count, &values);
        out.influencers = influencers_of(&out.records);
        let span_s = (span / 1000) as u64;
        push_bucket_docs(&mut self.writer, &job.job_id, start, span_s, &out, true)?;
        self.writer.flush()?;
        Ok(())
    }

    /// Writes the queued results and makes every result written so far searchable (chunks
    /// write theirs without a refresh).
    pub fn flush_results(&mut self) -> crate::Result<()> {
        Ok(self.writer.flush()?)
    }

    /// Deletes the job's interim results (only those before `before`, when given).
    pub fn delete_interim(&self, before: Option<EpochMillis>) -> crate::Result<()> {
        let mut filter = vec![
            json!({ "term": { "job_id": self.job.job_id } }),
            json!({ "term": { "is_interim": true } }),
        ];
        if let Some(t) = before {
            filter.push(json!({ "range": { "timestamp": { "lt": t } } }));
        }
        let query = json!({ "bool": { "filter": filter } });
        match self.store.delete_by_query(&self.job.results_index, &query) {
            Ok(_) | Err(crate::store::StoreError::IndexNotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The job's counters.
    pub fn stats(&self) -> &JobStats {
        &self.stats
    }

    /// Model size and memory figures.
    pub fn model_stats(&self) -> ModelStats {
        ModelStats {
            partitions: self.analysis.partitions(),
            model_bytes: self.analysis.model_bytes(),
            memory_status: self.analysis.memory_status().as_str(),
            bucket_allocation_failures: self.analysis.allocation_failures(),
            next_bucket: self.next_bucket,
        }
    }

    /// Like Elastic's delayed-data check: counts the documents now present in recently
    /// analysed buckets; more than were analysed means data arrived late. Each such bucket
    /// gets an annotation in the results index and the job's `delayed_data_count` grows.
    /// Returns how many late documents it found.
    fn check_delayed_data(&mut self, before: EpochMillis) -> crate::Result<u64> {
        if !self.job.delayed_check_enabled {
            self.recent_counts.clear();
            return Ok(0);
        }
        let span = datafeed::span_ms(&self.job);
        let window = self.job.delayed_check_window.map_or_else(
            || DELAYED_CHECK_MIN_MS.max(DELAYED_CHECK_BUCKETS * span),
            |d| d.as_millis() as i64,
        ) / span
            * span;
        self.recent_counts.retain(|&t, _| t >= before - window);
        let Some(&first) = self.recent_counts.keys().next() else {
            return Ok(0);
        };
        let mut late = 0;
        let now = datafeed::event_counts(self.store, &self.job, first, before)?;
        let span_s = (span / 1000) as u64;
        for (t, analysed) in self.recent_counts.iter_mut() {
            let present = now.get(t).copied().unwrap_or(0);
            if present <= *analysed {
                continue;
            }
            let missing = present - *analysed;
            *analysed = present;
            late += missing;
            self.stats.add_delayed(*t, missing);
            tracing::warn!(job_id = %self.job.job_id, bucket = %crate::time::format_millis(*t), missing, "Documents arrived after their bucket was analysed; consider a longer query_delay");
            let (id, doc) = delayed_data_annotation(&self.job.job_id, *t, span_s, missing);
            self.writer.push(id, doc)?;
        }
        Ok(late)
    }

    /// Analyses the buckets of `[start, end)`, whose event counts are `counts`, and queues
    /// their results.
    fn analyse_chunk(
        &mut self,
        start: EpochMillis,
        end: EpochMillis,
        counts: BTreeMap<EpochMillis, u64>,
        progress: &ProgressBar,
    ) -> crate::Result<()> {
        let (store, job) = (self.store, &self.job);
        let span = datafeed::span_ms(job);
        let span_s = (span / 1000) as u64;
        let fetched = fetch_chunk(store, job, start, end)?;
        let mut outs = Vec::with_capacity(((end - start) / span) as usize);
        let mut t = start;
        while t < end {
            let values: Vec<&[SeriesValue]> = fetched
                .iter()
                .map(|f| f.get(&t).map(Vec::as_slice).unwrap_or(&[]))
                .collect();
            let count = counts.get(&t).copied().unwrap_or(0);
            outs.push((t, count, self.analysis.analyse_bucket(t, count, &values)));
            t += span;
        }
        super::influencers::lookup_influencers(store, job, &mut outs, span)?;
        for (t, count, mut out) in outs {
            out.influencers = influencers_of(&out.records);
            self.stats.bucket_count += 1;
            self.stats.processed_record_count += count;
            self.stats.latest_bucket_timestamp = Some(t);
            if count == 0 {
                self.stats.empty_bucket_count += 1;
            } else {
                self.stats.latest_record_bucket = Some(t);
            }
            self.recent_counts.insert(t, count);
            for r in &out.records {
                self.summary.records += 1;
                if r.record_score >= 75.0 {
                    self.summary.critical_records += 1;
                }
            }
            push_bucket_docs(&mut self.writer, &job.job_id, t, span_s, &out, false)?;
            self.summary.buckets += 1;
            let first = self.summary.range.map(|r| r.0).unwrap_or(t);
            self.summary.range = Some((first, t));
            progress.inc(1);
        }
        Ok(())
    }
}

/// Searches a chunk's fetch keeps in flight at once: up to two detectors' composite pages
/// (a job with more detectors fetches them two by two). The chunk's event counts are fetched
/// before, to cut the chunk by documents.
const FETCHES_IN_FLIGHT: usize = 2;

/// Every detector's values of `[start, end)`, fetched side by side: each is its own sequence
/// of searches (composite pages), so the engine answers one while another is on the wire,
/// and the chunk waits for the longest instead of their sum.
fn fetch_chunk(
    store: &dyn Store,
    job: &Job,
    start: EpochMillis,
    end: EpochMillis,
) -> crate::Result<Vec<DetectorBuckets>> {
    let per = job.detectors.len().div_ceil(FETCHES_IN_FLIGHT).max(1);
    std::thread::scope(|s| {
        let groups: Vec<_> = job
            .detectors
            .chunks(per)
            .map(|group| {
                s.spawn(move || {
                    group
                        .iter()
                        .map(|d| datafeed::fetch_detector(store, job, d, start, end))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut fetched = Vec::with_capacity(job.detectors.len());
        // Joined in detector order, so the error reported is the same on every run.
        for h in groups {
            fetched.extend(
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
            );
        }
        Ok(fetched)
    })
}

/// Analyses every complete bucket of data present for `job` up to now: what `run --once`
/// does (see [`run_lookback_range`]), with the system clock, over all the data, with an
/// interim result for the bucket in progress.
pub fn run_lookback(
    store: &dyn Store,
    job: &Job,
    state_index: Option<&str>,
    stop: &AtomicBool,
) -> crate::Result<LookbackSummary> {
    let range = LookbackRange {
        clock: &SystemClock,
        from: None,
        to: None,
    };
    run_lookback_range(store, job, state_index, stop, &range)
}

/// What a lookback covers, like an Elastic datafeed's `start` and `end`.
pub struct LookbackRange<'c> {
    /// Where "now" comes from: buckets are final once they end at or before
    /// `now - query_delay`.
    pub clock: &'c dyn Clock,
    /// Start here (a bucket boundary is taken) unless the job's checkpoint is past it;
    /// `None` starts at the checkpoint, or at the earliest document.
    pub from: Option<EpochMillis>,
    /// Analyse only buckets ending at or before this; `None` goes up to now, and then writes
    /// the bucket in progress as an interim result.
    pub to: Option<EpochMillis>,
}

/// Analyses the final buckets of `range` for `job`: those that end at or before both
/// `range.to` and `now - query_delay`. Documents after that are left for a later run, so a
/// bucket still filling up is never written as final (without `to`, it is written as an
/// interim result instead, which the final one replaces). With a state index it resumes from
/// the job's checkpoint and leaves a new one, with the delayed-data check's counts.
///
/// `stop` is checked between chunks: when it is set the lookback ends after the current
/// chunk's results and checkpoint, and a later run resumes there.
pub fn run_lookback_range(
    store: &dyn Store,
    job: &Job,
    state_index: Option<&str>,
    stop: &AtomicBool,
    range: &LookbackRange,
) -> crate::Result<LookbackSummary> {
    let started = Instant::now();
    let mut runner = match state_index {
        Some(index) => JobRunner::resume(store, job, index)?,
        None => JobRunner::new(store, job),
    };
    let span = datafeed::span_ms(job);
    if let Some(from) = range.from {
        runner.start_at(bucket_start(from, span));
    }
    // "No data" and "could not read the data" must never look alike.
    datafeed::check_sources(store, job)?;
    runner.resolve_fields()?;
    let now = range.clock.now();
    let Some(until) = lookback_end(store, job, &runner, range, now)? else {
        tracing::warn!(job_id = %job.job_id, indices = ?job.indices, "No data matches the job's datafeed");
        return Ok(runner.summary());
    };
    let final_until = now - job.query_delay.as_millis() as i64;
    let progress = progress_bar(&job.job_id);
    while !stop.load(Ordering::SeqCst) && runner.advance_chunk(until, &progress)? {}
    progress.finish_and_clear();
    runner.flush_results()?;
    match (range.to, runner.next_bucket()) {
        (None, _) if !stop.load(Ordering::SeqCst) => runner.write_interim(final_until)?,
        (_, Some(next)) => runner.delete_interim(Some(next))?,
        _ => {}
    }
    let mut summary = runner.summary();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Where a lookback ends: never past `now - query_delay` (only complete buckets are final);
/// at `range.to` when given, else at the end of the bucket of the newest document dated
/// before now (buckets after the data are analysed once data follows them, or in real time).
/// `None` when the job has neither a checkpoint nor data.
fn lookback_end(
    store: &dyn Store,
    job: &Job,
    runner: &JobRunner,
    range: &LookbackRange,
    now: EpochMillis,
) -> crate::Result<Option<EpochMillis>> {
    let final_until = now - job.query_delay.as_millis() as i64;
    if let Some(to) = range.to {
        return Ok(Some(to.min(final_until)));
    }
    let span = datafeed::span_ms(job);
    Ok(match datafeed::data_extent_before(store, job, Some(now))? {
        Some((_, latest)) => Some((bucket_start(latest, span) + span).min(final_until)),
        None => runner.next_bucket(),
    })
}

/// Writes one analysed bucket's documents (records, influencers, model plot, the bucket),
/// marked `is_interim` (under ids of their own) when the bucket is still in progress.
fn push_bucket_docs(
    writer: &mut ResultsWriter,
    job_id: &str,
    t: EpochMillis,
    span_s: u64,
    out: &BucketOutput,
    interim: bool,
) -> crate::Result<()> {
    let mut docs = Vec::new();
    for r in &out.records {
        docs.push((record_id(job_id, r, span_s), record_doc(job_id, r, span_s)));
    }
    for i in &out.influencers {
        docs.push(influencer_doc(job_id, i, span_s));
    }
    for m in &out.model_plot {
        docs.push(model_plot_doc(job_id, m, span_s));
    }
    if let Some(b) = &out.bucket {
        docs.push((bucket_id(job_id, t, span_s), bucket_doc(job_id, b, span_s)));
    }
    for (id, mut doc) in docs {
        if interim {
            // Ids of their own: the final documents are written once, never over an interim.
            doc["is_interim"] = json!(true);
            writer.push(format!("{id}_interim"), doc)?;
        } else {
            writer.push(id, doc)?;
        }
    }
    Ok(())
}

/// A progress bar on a terminal, hidden otherwise (logs and CI stay clean).
pub(crate) fn progress_bar(job_id: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
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
    fn a_chunk_is_cut_where_its_documents_pass_the_budget() {
        let counts: BTreeMap<EpochMillis, u64> =
            [(0, 40), (10, 40), (20, 40), (40, 500), (50, 1)].into();
        // 40 + 40 fit in 100, the third bucket would pass it: the chunk ends at 20.
        assert_eq!(chunk_end_by_docs(&counts, 0, 60, 100), 20);
        // A chunk starting later counts from its own start.
        assert_eq!(chunk_end_by_docs(&counts, 20, 60, 100), 40);
        // One bucket over the budget is a chunk of its own, never an empty chunk.
        assert_eq!(chunk_end_by_docs(&counts, 40, 60, 100), 50);
        // Under the budget (or empty buckets only), the whole window.
        assert_eq!(chunk_end_by_docs(&counts, 0, 60, 10_000), 60);
        assert_eq!(chunk_end_by_docs(&counts, 60, 90, 1), 90);
        // Documents past the window do not count.
        assert_eq!(chunk_end_by_docs(&counts, 0, 30, 120), 30);
    }

    #[test]
    fn chunks_are_whole_buckets_of_at_least_a_day() {
        assert_eq!(chunk_ms(900_000, None), 1_000 * 900_000);
        assert_eq!(chunk_ms(3_600_000, None), 1_000 * 3_600_000);
        assert_eq!(chunk_ms(60_000, None), 86_400_000);
        assert_eq!(chunk_ms(7 * 60_000, None) % (7 * 60_000), 0);
        let hours = |h: u64| Some(std::time::Duration::from_secs(h * 3600));
        assert_eq!(chunk_ms(900_000, hours(3)), 12 * 900_000);
        assert_eq!(
            chunk_ms(3_600_000, Some(std::time::Duration::from_secs(60))),
            3_600_000
        );
    }
}
