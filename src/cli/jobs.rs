//! `tidewatch jobs list|show|put|reset|delete`.

use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::catalog;

/// Arguments of `tidewatch jobs`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct JobsArgs {
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
enum JobsCommand {
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
        #[arg(required = true)]
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

impl From<JobsCommand> for catalog::JobsCommand {
    fn from(c: JobsCommand) -> Self {
        match c {
            JobsCommand::List => catalog::JobsCommand::List,
            JobsCommand::Show { job_id } => catalog::JobsCommand::Show { job_id },
            JobsCommand::Put { files } => catalog::JobsCommand::Put { files },
            JobsCommand::Reset { job_id } => catalog::JobsCommand::Reset { job_id },
            JobsCommand::Delete { job_id } => catalog::JobsCommand::Delete { job_id },
        }
    }
}

/// Runs `tidewatch jobs ...`.
pub(crate) fn run(store_spec: &str, args: JobsArgs) -> tidewatch::Result<ExitCode> {
    catalog::run_jobs_command(store_spec, &args.command.into())?;
    Ok(ExitCode::SUCCESS)
}
