//! `tidewatch validate`: checks job files (and, with `--store`, their fields).

use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::{config, outln, output, store};

/// Arguments of `tidewatch validate`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ValidateArgs {
    /// Job files, or directories of them (every *.yml / *.yaml inside).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

impl From<ValidateArgs> for tidewatch::config::ValidateOptions {
    fn from(a: ValidateArgs) -> Self {
        tidewatch::config::ValidateOptions { files: a.files }
    }
}

/// Runs `tidewatch validate`; `named_store` is `--store` when given.
pub(crate) fn run(named_store: Option<&str>, args: ValidateArgs) -> tidewatch::Result<ExitCode> {
    let args = config::ValidateOptions::from(args);
    config::run(&args, &mut output::writer())?;
    if let Some(spec) = named_store {
        validate_fields(spec, &config::load_jobs(&args.files)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `validate --store`: resolves every job's analysis and influencer fields in its source
/// indices as a run would (`_field_caps`), printing how text fields are read and every field
/// that cannot be aggregated; exit 1 when there is any.
fn validate_fields(spec: &str, jobs: &[config::Job]) -> tidewatch::Result<()> {
    let store = store::open_read_only(spec)?;
    let mut problems = Vec::new();
    for job in jobs {
        match tidewatch::datafeed::resolve_fields(store.as_ref(), job) {
            Ok(resolved) if resolved.notes.is_empty() => {
                outln!("{}: fields aggregate in {}", job.job_id, store.describe())?
            }
            Ok(resolved) => {
                for note in &resolved.notes {
                    outln!("{}: {note}", job.job_id)?;
                }
            }
            Err(tidewatch::Error::Fields(p)) => problems.extend(p.0),
            Err(e) => return Err(e),
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    for p in &problems {
        outln!("{p}")?;
    }
    Err(tidewatch::Error::FieldsUnreadable {
        count: problems.len(),
        store: store.describe(),
    })
}
