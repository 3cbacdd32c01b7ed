//! Following real time: each job advances on its schedule (a frequency or a cron
//! expression), analysing the buckets that closed at least `query_delay` ago.
//!
//! Time comes from a [`Clock`], so tests drive the loop with a [`ManualClock`] and never sleep.

use super::lease::{self, Lease};
use super::lookback::{progress_bar, JobRunner};
use super::stats;
use crate::config::Job;
use crate::store::Store;
use crate::time::EpochMillis;
use chrono::{TimeZone, Utc};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

/// Where the current time comes from.
pub trait Clock: Send + Sync {
    /// Now, in epoch milliseconds.
    fn now(&self) -> EpochMillis;
}

/// The system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> EpochMillis {
        Utc::now().timestamp_millis()
    }
}

/// A clock that moves only when told to (for tests and simulations).
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock stopped at `t`.
    pub fn new(t: EpochMillis) -> Self {
        ManualClock(AtomicI64::new(t))
    }
    /// Moves the clock to `t`.
    pub fn set(&self, t: EpochMillis) {
        self.0.store(t, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> EpochMillis {
        self.0.load(Ordering::SeqCst)
    }
}

/// When a job runs.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    /// Every so many milliseconds.
    Every(i64),
    /// At the times a cron expression names, read in a time zone.
    Cron(Box<croner::Cron>, chrono_tz::Tz),
}

impl Schedule {
    /// The job's schedule: its cron `schedule` if set, else its effective frequency
    /// (see [`Job::effective_frequency`]).
    pub fn of(job: &Job) -> Result<Schedule, String> {
        if let Some(expr) = &job.schedule {
            let cron = crate::config::parse_schedule(expr)
                .map_err(|e| format!("job `{}`: schedule: {e}", job.job_id))?;
            let tz = job.schedule_time_zone.unwrap_or(chrono_tz::UTC);
            return Ok(Schedule::Cron(Box::new(cron), tz));
        }
        Ok(Schedule::Every(
            (job.effective_frequency().as_millis() as i64).max(1),
        ))
    }

    /// The first run time strictly after `t`.
    pub fn next_after(&self, t: EpochMillis) -> EpochMillis {
        match self {
            Schedule::Every(every) => (t.div_euclid(*every) + 1) * every,
            Schedule::Cron(cron, tz) => tz
                .timestamp_millis_opt(t)
                .single()
                .and_then(|now| cron.find_next_occurrence(&now, false).ok())
                .map(|next| next.timestamp_millis())
                .unwrap_or(t + 60_000),
        }
    }
}

struct ScheduledJob<'a> {
    job: Job,
    /// The job's runner while this process holds its lease.
    runner: Option<JobRunner<'a>>,
    lease: Option<Lease>,
    schedule: Schedule,
    query_delay: i64,
    next_run: EpochMillis,
}

/// One job's progress as [`Realtime::progress`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobProgress {
    /// The job.
    pub job_id: String,
    /// Whether this process holds the job's lease.
    pub held: bool,
    /// Buckets this process analysed for the job.
    pub buckets: u64,
    /// Start of the first bucket not analysed yet.
    pub next_bucket: Option<EpochMillis>,
    /// Partitions modelled.
    pub partitions: usize,
}

/// How a realtime runner shares jobs with other processes.
#[derive(Debug, Clone)]
pub struct RealtimeOptions {
    /// Index for checkpoints, snapshots and leases.
    pub state_index: String,
    /// This process's name in lease documents.
    pub holder: String,
    /// How long a lease lasts without renewal.
    pub lease_ttl_ms: i64,
}

impl Default for RealtimeOptions {
    fn default() -> Self {
        RealtimeOptions {
            state_index: super::STATE_INDEX.to_string(),
            holder: lease::holder_name(),
            lease_ttl_ms: 60_000,
        }
    }
}

/// Several jobs following real time, each held under a lease so that several runner
/// processes can share them.
pub struct Realtime<'a> {
    store: &'a dyn Store,
    jobs: Vec<ScheduledJob<'a>>,
    clock: &'a dyn Clock,
    options: RealtimeOptions,
}

impl<'a> Realtime<'a> {
    /// Prepares `jobs`; nothing runs until [`Realtime::tick`].
    pub fn new(
        store: &'a dyn Store,
        jobs: &[Job],
        options: RealtimeOptions,
        clock: &'a dyn Clock,
    ) -> crate::Result<Self> {
        let now = clock.now();
        let mut scheduled = Vec::new();
        for job in jobs {
            scheduled.push(ScheduledJob {
                job: job.clone(),
                runner: None,
                lease: None,
                schedule: Schedule::of(job).map_err(crate::Error::Schedule)?,
                query_delay: job.query_delay.as_millis() as i64,
                next_run: now,
            });
        }
        Ok(Realtime {
            store,
            jobs: scheduled,
            clock,
            options,
        })
    }

    /// Renews the leases this process holds, takes at most one free (or lapsed) job, runs
    /// every held job that is due (one chunk at a time, renewing between chunks), and returns
    /// when something is next due: at once while free jobs remain after taking one.
    ///
    /// Taking one job per tick is what shares the jobs between runners started together:
    /// each takes a job, works on it, and comes back for the next free one, so two runners
    /// end up with about half each; a lone runner still takes them all, one after another.
    pub fn tick(&mut self) -> crate::Result<EpochMillis> {
        self.tick_until(&AtomicBool::new(false))
    }

    /// [`Realtime::tick`], stopping between chunks once `stop` is set.
    fn tick_until(&mut self, stop: &AtomicBool) -> crate::Result<EpochMillis> {
        let (store, opts, clock) = (self.store, &self.options, self.clock);
        let mut took = false;
        for sj in self.jobs.iter_mut() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let held = sj.lease.is_some();
            if !held && took {
                continue;
            }
            if !keep_lease(store, opts, clock.now(), sj)? {
                continue;
            }
            took |= !held;
            let now = clock.now();
            if sj.next_run > now {
                continue;
            }
            if let Err(e) = advance_held_job(store, opts, clock, sj, stop) {
                // Retried on the job's next run, from its checkpoint: the runner in memory may
                // have learnt from part of a chunk that was never checkpointed.
                let message = e.to_string();
                tracing::error!(job_id = %sj.job.job_id, error = %message, "The job could not advance; retrying on its next run");
                stats::record_error(store, &opts.state_index, &sj.job.job_id, &message);
                sj.runner = None;
            }
            sj.next_run = sj.schedule.next_after(now);
        }
        let now = clock.now();
        if took && self.jobs.iter().any(|j| j.lease.is_none()) {
            return Ok(now);
        }
        let renew_by = now + (opts.lease_ttl_ms / 3).max(1);
        let next = self
            .jobs
            .iter()
            .filter(|j| j.lease.is_some())
            .map(|j| j.next_run)
            .min();
        Ok(next.map_or(renew_by, |n| n.min(renew_by)))
    }

    /// Progress of every job: whether this process holds it, buckets analysed by this
    /// process, the next bucket, and partitions modelled (for metrics and status pages).
    pub fn progress(&self) -> Vec<JobProgress> {
        self.jobs
            .iter()
            .map(|j| JobProgress {
                job_id: j.job.job_id.clone(),
                held: j.runner.is_some(),
                buckets: j.runner.as_ref().map_or(0, |r| r.summary().buckets),
                next_bucket: j.runner.as_ref().and_then(|r| r.next_bucket()),
                partitions: j.runner.as_ref().map_or(0, |r| r.model_stats().partitions),
            })
            .collect()
    }

    /// Jobs this process holds, with the start of the first bucket each has not analysed.
    pub fn positions(&self) -> Vec<(String, Option<EpochMillis>)> {
        self.jobs
            .iter()
            .filter_map(|j| {
                j.runner
                    .as_ref()
                    .map(|r| (j.job.job_id.clone(), r.next_bucket()))
            })
            .collect()
    }

    /// Ticks until `stop` is set, sleeping between runs in short steps so a stop request is
    /// honoured within a quarter of a second (after the current chunk and its checkpoint);
    /// then releases the leases. `after_tick` sees the runner after every tick (metrics).
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        mut after_tick: impl FnMut(&Self),
    ) -> crate::Result<()> {
        while !stop.load(Ordering::SeqCst) {
            let wake = self.tick_until(stop)?;
            after_tick(self);
            while !stop.load(Ordering::SeqCst) && self.clock.now() < wake {
                let left = (wake - self.clock.now()).clamp(1, 250);
                std::thread::sleep(Duration::from_millis(left as u64));
            }
        }
        self.release_all()
    }

    /// Gives up every lease this process holds.
    pub fn release_all(&mut self) -> crate::Result<()> {
        for sj in self.jobs.iter_mut() {
            if let Some(lease) = sj.lease.take() {
                lease::release(self.store, &self.options.state_index, &lease)?;
            }
            sj.runner = None;
        }
        Ok(())
    }
}

/// Runs one held, due job: every final bucket up to `now - query_delay`, one chunk at a time,
/// renewing the lease between chunks; then the bucket in progress as an interim result.
fn advance_held_job<'a>(
    store: &'a dyn Store,
    opts: &RealtimeOptions,
    clock: &dyn Clock,
    sj: &mut ScheduledJob<'a>,
    stop: &AtomicBool,
) -> crate::Result<()> {
    if sj.lease.is_none() {
        return Ok(());
    }
    let runner = match sj.runner.as_mut() {
        Some(r) => r,
        None => sj
            .runner
            .insert(JobRunner::resume(store, &sj.job, &opts.state_index)?),
    };
    let final_until = clock.now() - sj.query_delay;
    let progress = progress_bar(&sj.job.job_id);
    while runner.advance_chunk(final_until, &progress)? {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Some(lease) = &sj.lease else { break };
        match lease::renew(
            store,
            &opts.state_index,
            lease,
            clock.now(),
            opts.lease_ttl_ms,
        )? {
            Some(l) => sj.lease = Some(l),
            None => {
                tracing::warn!(job_id = %sj.job.job_id, "Lost the job's lease to another runner; stopping work on it");
                sj.lease = None;
                break;
            }
        }
    }
    progress.finish_and_clear();
    runner.flush_results()?;
    if sj.lease.is_none() {
        sj.runner = None;
    } else if !stop.load(Ordering::SeqCst) {
        runner.write_interim(final_until)?;
    } else {
        // Stopping: no interim result may outlive a final one written for its bucket.
        runner.delete_interim(runner.next_bucket())?;
    }
    Ok(())
}

/// Renews the job's lease, or tries to take it; on taking it, resumes the job from its
/// checkpoint (another runner may have advanced it). Returns whether this process holds it.
fn keep_lease<'a>(
    store: &'a dyn Store,
    opts: &RealtimeOptions,
    now: EpochMillis,
    sj: &mut ScheduledJob<'a>,
) -> crate::Result<bool> {
    let index = &opts.state_index;
    if let Some(lease) = &sj.lease {
        match lease::renew(store, index, lease, now, opts.lease_ttl_ms)? {
            Some(l) => {
                sj.lease = Some(l);
                return Ok(true);
            }
            None => {
                tracing::warn!(job_id = %sj.job.job_id, "Lost the job's lease to another runner");
                sj.lease = None;
                sj.runner = None;
            }
        }
    }
    match lease::try_acquire(
        store,
        index,
        &sj.job.job_id,
        &opts.holder,
        now,
        opts.lease_ttl_ms,
    )? {
        Some(l) => {
            tracing::info!(job_id = %sj.job.job_id, holder = %opts.holder, "Took the job's lease");
            sj.runner = Some(JobRunner::resume(store, &sj.job, index)?);
            sj.lease = Some(l);
            sj.next_run = now;
            Ok(true)
        }
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_align_and_crons_parse() {
        let every = Schedule::Every(60_000);
        assert_eq!(every.next_after(0), 60_000);
        assert_eq!(every.next_after(59_999), 60_000);
        assert_eq!(every.next_after(60_000), 120_000);
        let cron = |expr: &str, tz| {
            Schedule::Cron(Box::new(crate::config::parse_schedule(expr).unwrap()), tz)
        };
        let quarter = cron("*/15 * * * *", chrono_tz::UTC);
        assert_eq!(quarter.next_after(0), 15 * 60_000);
        assert_eq!(quarter.next_after(15 * 60_000), 30 * 60_000);
        assert_eq!(cron("30 */5 * * * *", chrono_tz::UTC).next_after(0), 30_000);
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        let nine = cron("0 9 * * *", chrono_tz::Europe::Berlin);
        let jan_1 = 1_704_067_200_000; // 2024-01-01T00:00Z
        let jul_1 = 1_719_792_000_000; // 2024-07-01T00:00Z
        assert_eq!(nine.next_after(jan_1), jan_1 + 8 * 3_600_000);
        assert_eq!(nine.next_after(jul_1), jul_1 + 7 * 3_600_000);
    }
}
