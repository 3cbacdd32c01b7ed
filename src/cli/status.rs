//! `tidewatch status`: where each job stands.

use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::{config, outln, runner, store, time};

/// Arguments of `tidewatch status`.
#[derive(clap::Args)]
pub(crate) struct StatusArgs {
    /// Only this job.
    job_id: Option<String>,
    /// Directory (or file) of job definitions.
    #[arg(long, default_value = "jobs")]
    jobs: PathBuf,
    /// Print the stats documents as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `tidewatch status`.
pub(crate) fn run(store_spec: &str, args: StatusArgs) -> tidewatch::Result<ExitCode> {
    let StatusArgs { job_id, jobs, json } = args;
    let jobs = jobs.as_path();
    let store = store::open_read_only(store_spec)?;
    let jobs = tidewatch::catalog::jobs_for_reading(store.as_ref(), jobs)?;
    let selected: Vec<_> = jobs
        .iter()
        .filter(|j| job_id.as_ref().is_none_or(|id| &j.job_id == id))
        .collect();
    if let (Some(id), true) = (&job_id, selected.is_empty()) {
        return Err(tidewatch::Error::NotAmongJobs {
            job_id: id.clone(),
            known: jobs.iter().map(|j| j.job_id.clone()).collect(),
        });
    }
    for job in selected {
        check_not_corrupt(store.as_ref(), job)?;
        let doc = runner::load_stats(store.as_ref(), runner::STATE_INDEX, &job.job_id)?;
        match (doc, json) {
            (None, _) => outln!("{}: not run yet", job.job_id)?,
            (Some(d), true) => outln!("{d}")?,
            (Some(d), false) => print_status_line(&job.job_id, &d)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads every index a job depends on far enough to find records that fail their checksum
/// (a missing index is fine here: `status` reports what exists).
fn check_not_corrupt(store: &dyn store::Store, job: &config::Job) -> tidewatch::Result<()> {
    let mut indices: Vec<&str> = job.indices.iter().map(String::as_str).collect();
    indices.push(&job.results_index);
    indices.push(runner::STATE_INDEX);
    for index in indices {
        match store.check_readable(index) {
            Ok(()) | Err(store::StoreError::IndexNotFound(_)) => {}
            Err(e @ store::StoreError::Corrupt { .. }) => {
                return Err(tidewatch::Error::JobIndexCorrupt {
                    job_id: job.job_id.clone(),
                    source: Box::new(e),
                    store: store.describe(),
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn print_status_line(job_id: &str, d: &serde_json::Value) -> tidewatch::Result<()> {
    let s = runner::JobStats::from_doc(d);
    let m = |k: &str| {
        d.pointer(&format!("/model_size_stats/{k}"))
            .cloned()
            .unwrap_or_default()
    };
    let at = |t: Option<i64>| t.map(time::format_millis).unwrap_or_else(|| "-".into());
    outln!(
        "{}: {} buckets ({} empty), {} documents, latest bucket {}, {} partitions, model {} bytes, memory {}, {} delayed documents",
        job_id,
        s.bucket_count,
        s.empty_bucket_count,
        s.processed_record_count,
        at(s.latest_bucket_timestamp),
        m("partitions"),
        m("model_bytes"),
        m("memory_status").as_str().unwrap_or("?"),
        s.delayed_data_count
    )?;
    if !s.delayed_buckets.is_empty() {
        let buckets: Vec<String> = s
            .delayed_buckets
            .iter()
            .map(|&t| time::format_millis(t))
            .collect();
        outln!(
            "{job_id}: late documents in buckets {} (annotated; consider a longer query_delay)",
            buckets.join(", ")
        )?;
    }
    for note in &s.field_notes {
        outln!("{job_id}: {note}")?;
    }
    if let Some(e) = &s.last_error {
        outln!("{job_id}: not advancing: {e}")?;
    }
    Ok(())
}
