//! Following real time: each job advances on its schedule (a frequency or a cron
//! expression), analysing the buckets that closed at least `query_delay` ago.
//!
//! Time comes from a [`Clock`], so tests drive the loop with a [`ManualClock`] and never sleep.

use super::lookback::{progress_bar, JobRunner};
use crate::config::Job;
use crate::store::Store;
use crate::time::EpochMillis;
use chrono::{TimeZone, Utc};
use std::str::FromStr;
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
pub enum Schedule {
    /// Every so many milliseconds.
    Every(i64),
    /// At the times a cron expression names (UTC).
    Cron(Box<croner::Cron>),
}

impl Schedule {
    /// The job's schedule: its cron `schedule`, else its `frequency`, else a frequency derived
    /// from the bucket span as Elastic ML does (span ≤ 2m: the span; ≤ 20m: 1m; ≤ 12h: 10m;
    /// longer: 1h).
    pub fn of(job: &Job) -> Result<Schedule, String> {
        if let Some(expr) = &job.schedule {
            let cron = croner::Cron::from_str(expr)
                .map_err(|e| format!("job `{}`: schedule `{expr}`: {e}", job.job_id))?;
            return Ok(Schedule::Cron(Box::new(cron)));
        }
        if let Some(f) = job.frequency {
            return Ok(Schedule::Every((f.as_millis() as i64).max(1)));
        }
        let span = job.bucket_span.as_millis() as i64;
        let minute = 60_000;
        Ok(Schedule::Every(match span {
            s if s <= 2 * minute => s,
            s if s <= 20 * minute => minute,
            s if s <= 12 * 60 * minute => 10 * minute,
            _ => 60 * minute,
        }))
    }

    /// The first run time strictly after `t`.
    pub fn next_after(&self, t: EpochMillis) -> EpochMillis {
        match self {
            Schedule::Every(every) => (t.div_euclid(*every) + 1) * every,
            Schedule::Cron(cron) => Utc
                .timestamp_millis_opt(t)
                .single()
                .and_then(|now| cron.find_next_occurrence(&now, false).ok())
                .map(|next| next.timestamp_millis())
                .unwrap_or(t + 60_000),
        }
    }
}

struct ScheduledJob<'a> {
    runner: JobRunner<'a>,
    schedule: Schedule,
    query_delay: i64,
    next_run: EpochMillis,
}

/// Several jobs following real time.
pub struct Realtime<'a> {
    jobs: Vec<ScheduledJob<'a>>,
    clock: &'a dyn Clock,
}

impl<'a> Realtime<'a> {
    /// Resumes every job from its checkpoint; each runs at once, then on its schedule.
    pub fn new(
        store: &'a dyn Store,
        jobs: &[Job],
        state_index: &str,
        clock: &'a dyn Clock,
    ) -> crate::Result<Self> {
        let now = clock.now();
        let mut scheduled = Vec::new();
        for job in jobs {
            scheduled.push(ScheduledJob {
                runner: JobRunner::resume(store, job, state_index)?,
                schedule: Schedule::of(job).map_err(crate::Error::Other)?,
                query_delay: job.query_delay.as_millis() as i64,
                next_run: now,
            });
        }
        Ok(Realtime {
            jobs: scheduled,
            clock,
        })
    }

    /// Runs every job that is due, then returns when the next one is due.
    pub fn tick(&mut self) -> crate::Result<EpochMillis> {
        let now = self.clock.now();
        for job in self.jobs.iter_mut().filter(|j| j.next_run <= now) {
            let progress = progress_bar(&job.runner.summary().job_id);
            job.runner.advance(now - job.query_delay, &progress)?;
            progress.finish_and_clear();
            job.next_run = job.schedule.next_after(now);
        }
        Ok(self
            .jobs
            .iter()
            .map(|j| j.next_run)
            .min()
            .unwrap_or(now + 60_000))
    }

    /// Start of the first bucket each job has not analysed yet, by job id.
    pub fn positions(&self) -> Vec<(String, Option<EpochMillis>)> {
        self.jobs
            .iter()
            .map(|j| (j.runner.summary().job_id, j.runner.next_bucket()))
            .collect()
    }

    /// Ticks until `stop` is set, sleeping between runs in short steps so a stop request is
    /// honoured within a quarter of a second (after the current batch and its checkpoint).
    pub fn run(&mut self, stop: &AtomicBool) -> crate::Result<()> {
        while !stop.load(Ordering::SeqCst) {
            let wake = self.tick()?;
            while !stop.load(Ordering::SeqCst) && self.clock.now() < wake {
                let left = (wake - self.clock.now()).clamp(1, 250);
                std::thread::sleep(Duration::from_millis(left as u64));
            }
        }
        Ok(())
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
        let cron = Schedule::Cron(Box::new(croner::Cron::from_str("*/15 * * * *").unwrap()));
        assert_eq!(cron.next_after(0), 15 * 60_000);
        assert_eq!(cron.next_after(15 * 60_000), 30 * 60_000);
        let six = Schedule::Cron(Box::new(croner::Cron::from_str("30 */5 * * * *").unwrap()));
        assert_eq!(six.next_after(0), 30_000);
    }
}
