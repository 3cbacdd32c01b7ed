//! `tidewatch jobs list|show|put|reset|delete`: the commands, without their parsing (in
//! the binary's `cli/jobs.rs`).

use super::{describe, load, load_all, record, StoredJob};
use crate::outln;
use crate::store;
use crate::time::format_millis;
use std::path::PathBuf;

/// A `tidewatch jobs` command.
#[derive(Debug, Clone)]
pub enum JobsCommand {
    /// Lists the jobs recorded in the store, with their versions.
    List,
    /// Prints a recorded job's definition (YAML, as written).
    Show {
        /// The job.
        job_id: String,
    },
    /// Validates job files and records them in the store (as `run` does).
    Put {
        /// Job files or directories.
        files: Vec<PathBuf>,
    },
    /// Deletes a job's results, state and checkpoints, keeping its definition: the next
    /// `run` analyses from the start.
    Reset {
        /// The job.
        job_id: String,
    },
    /// Deletes a job's results, state and checkpoints, and its recorded definition.
    Delete {
        /// The job.
        job_id: String,
    },
}

/// Runs a `jobs` command against the store `store_spec` names.
pub fn run_jobs_command(store_spec: &str, command: &JobsCommand) -> crate::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    match command {
        JobsCommand::List => {
            let store = store::open_read_only(store_spec)?;
            let jobs = load_all(store.as_ref())?;
            if jobs.is_empty() {
                outln!("no jobs recorded in {}", store.describe())?;
            }
            for s in jobs {
                outln!(
                    "{}  version {}  recorded {}  from {}",
                    s.job.job_id,
                    s.version,
                    format_millis(s.recorded_at),
                    s.job.source_file.display()
                )?;
            }
        }
        JobsCommand::Show { job_id } => {
            let store = store::open_read_only(store_spec)?;
            let s = recorded(store.as_ref(), job_id)?;
            outln!(
                "# {} version {}, recorded {} from {}",
                s.job.job_id,
                s.version,
                format_millis(s.recorded_at),
                s.job.source_file.display()
            )?;
            crate::output::text(&s.definition)?;
            for line in support_lines(&s) {
                outln!("{line}")?;
            }
        }
        JobsCommand::Put { files } => {
            let jobs = crate::config::load_jobs(files)?;
            let store = store::open(store_spec)?;
            for job in &jobs {
                let (outcome, version) = record(store.as_ref(), job, now)?;
                let line = describe(&job.job_id, &outcome, version)
                    .unwrap_or_else(|| format!("{}: unchanged (version {version})", job.job_id));
                outln!("{line}")?;
            }
        }
        JobsCommand::Reset { job_id } | JobsCommand::Delete { job_id } => {
            let store = store::open(store_spec)?;
            let s = recorded(store.as_ref(), job_id)?;
            let delete = matches!(command, JobsCommand::Delete { .. });
            let done = if delete {
                super::delete_job(store.as_ref(), &s.job, now)?
            } else {
                super::reset_job(store.as_ref(), &s.job, now)?
            };
            outln!(
                "{job_id}: {} {} result and {} state documents{}",
                if delete { "deleted;" } else { "reset;" },
                done.results,
                done.state,
                if delete {
                    " and its definition"
                } else {
                    "; the next run analyses from the start"
                }
            )?;
        }
    }
    Ok(())
}

/// The filter lists and calendars recorded with a job, as YAML documents after its own
/// (each value written as JSON, which YAML reads as it is).
fn support_lines(s: &StoredJob) -> Vec<String> {
    let mut out = Vec::new();
    for f in &s.filters {
        out.push("---".to_string());
        out.push(format!(
            "# filter list `{}`, recorded with the job",
            f.filter_id
        ));
        out.push(format!("filter_id: {}", json(&f.filter_id)));
        out.push(format!("description: {}", json(&f.description)));
        out.push(format!("items: {}", json(&f.items)));
    }
    for c in &s.job.calendars {
        out.push("---".to_string());
        out.push(format!(
            "# calendar `{}`, recorded with the job",
            c.calendar_id
        ));
        out.push(format!("calendar_id: {}", json(&c.calendar_id)));
        out.push(format!("description: {}", json(&c.description)));
        out.push(format!("job_ids: {}", json(&c.job_ids)));
        out.push("events:".to_string());
        out.extend(c.events.iter().map(|e| format!("  - {}", json(e))));
    }
    out
}

/// A value as one line of JSON.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The recorded job, or an error naming the jobs that are.
fn recorded(store: &dyn store::Store, job_id: &str) -> crate::Result<StoredJob> {
    if let Some(s) = load(store, job_id)? {
        return Ok(s);
    }
    let known: Vec<String> = load_all(store)?.into_iter().map(|s| s.job.job_id).collect();
    Err(crate::Error::NotRecorded {
        job_id: job_id.to_string(),
        store: store.describe(),
        recorded: known,
    })
}
