//! What `tidewatch results` checks before it may say "nothing matched": that the results
//! index can be read, that the job is known and has run, and (for `--exit-code`, an alert)
//! that it is still running. Each failure is one line naming what and where, and exit
//! status 2 (see [`crate::Error::exit_code`]: [`crate::Error::NeverRan`], [`crate::Error::Stale`]
//! and their neighbours).

use crate::config::Job;
use crate::runner::{load_stats, JobStats, STATE_INDEX};
use crate::store::{Store, StoreError};
use crate::time::EpochMillis;
use crate::{Error, Result};
use std::time::Duration;

/// One job to read results for, as far as the command knows it.
pub struct Target<'a> {
    /// The job id asked for.
    pub job_id: &'a str,
    /// Its definition, when the job files have it.
    pub job: Option<&'a Job>,
    /// The results index to read.
    pub index: &'a str,
    /// Where the job files were read from (for messages).
    pub jobs_dir: &'a str,
    /// The ids the job files define (for messages).
    pub known: &'a [String],
}

/// How old a job's last bucket may be before an alert on it stops being trusted: twice
/// its frequency plus its query delay, past the end of that bucket. `None` for a job whose
/// runs follow a cron `schedule` (no fixed frequency).
pub(crate) fn stale_after(job: &Job) -> Option<Duration> {
    if job.schedule.is_some() {
        return None;
    }
    Some(job.effective_frequency() * 2 + job.query_delay)
}

/// When an alert is asked: at `now`, over a window ending at `to` (`None`: now).
#[derive(Debug, Clone, Copy)]
pub struct Alerting {
    /// The current time.
    pub now: EpochMillis,
    /// The end of the window (`--to`), if any.
    pub to: Option<EpochMillis>,
}

/// Checks that `target`'s results can be trusted to be complete: the index exists and is
/// readable, the job has run against this store, and for an alert the job has analysed the
/// window: up to its end, or for a window reaching the present, to within `stale_after`
/// of now.
pub fn check_target(
    store: &dyn Store,
    target: &Target<'_>,
    alerting: Option<Alerting>,
) -> Result<()> {
    let Target { job_id, index, .. } = *target;
    let here = store.describe();
    let stats = load_stats(store, STATE_INDEX, job_id)
        .map_err(|e| unreadable(&format!("the state of job `{job_id}`"), &here, e))?;
    let Some(stats) = stats else {
        return Err(match target.job {
            Some(_) => Error::NeverRan {
                job_id: job_id.to_string(),
                store: here,
            },
            None => Error::UnknownJob {
                job_id: job_id.to_string(),
                jobs_dir: target.jobs_dir.to_string(),
                store: here,
                known: target.known.to_vec(),
            },
        });
    };
    match store.check_readable(index) {
        Ok(()) => {}
        Err(StoreError::IndexNotFound(_)) => {
            return Err(Error::NoResultsIndex {
                index: index.to_string(),
                store: here,
                job_id: job_id.to_string(),
            })
        }
        Err(e) => return Err(unreadable(&format!("results index `{index}`"), &here, e)),
    }
    if let (Some(when), Some(job)) = (alerting, target.job) {
        check_fresh(job, &JobStats::from_doc(&stats), &here, when)?;
    }
    Ok(())
}

fn check_fresh(job: &Job, stats: &JobStats, here: &str, when: Alerting) -> Result<()> {
    let Some(limit) = stale_after(job) else {
        return Ok(());
    };
    let job_id = &job.job_id;
    let Some(latest) = stats.latest_bucket_timestamp else {
        return Err(Error::NoBucketYet {
            job_id: job_id.to_string(),
            store: here.to_string(),
        });
    };
    let end = latest.saturating_add(job.bucket_span_ms());
    let fresh_enough = when.now.saturating_sub(limit.as_millis() as i64);
    let needed = when.to.map_or(fresh_enough, |to| to.min(fresh_enough));
    if end < needed {
        let age = Duration::from_millis(when.now.saturating_sub(end).max(0) as u64);
        return Err(Error::Stale {
            job_id: job_id.to_string(),
            store: here.to_string(),
            ended: end,
            age,
            frequency: job.effective_frequency(),
            query_delay: job.query_delay,
        });
    }
    Ok(())
}

fn unreadable(what: &str, here: &str, e: StoreError) -> Error {
    Error::Unreadable {
        what: what.to_string(),
        store: here.to_string(),
        source: Box::new(e),
    }
}
