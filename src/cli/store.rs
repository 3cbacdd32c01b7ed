//! `tidewatch store ...`: maintenance of the store.

use std::process::ExitCode;
use tidewatch::{outln, store, time};

/// `tidewatch store ...`: maintenance of the store itself.
#[derive(clap::Args, Debug)]
pub(crate) struct StoreArgs {
    /// What to do.
    #[command(subcommand)]
    command: StoreCommand,
}

/// The `tidewatch store` subcommands.
#[derive(clap::Subcommand, Debug)]
enum StoreCommand {
    /// Deletes the documents of an index older than a given age (by their time field).
    Prune(PruneArgs),
}

/// `tidewatch store prune`.
#[derive(clap::Args, Debug)]
struct PruneArgs {
    /// The index to prune (one name, no pattern).
    #[arg(long)]
    index: String,
    /// Documents whose time is before now minus this are deleted (`30d`, `12h`, `2w`).
    #[arg(long, value_parser = time::parse_duration)]
    older_than: std::time::Duration,
    /// The documents' time field.
    #[arg(long, default_value = "@timestamp")]
    time_field: String,
}

impl From<PruneArgs> for tidewatch::store::PruneOptions {
    fn from(a: PruneArgs) -> Self {
        tidewatch::store::PruneOptions {
            index: a.index,
            older_than: a.older_than,
            time_field: a.time_field,
        }
    }
}

/// Runs `tidewatch store ...`.
pub(crate) fn run(store_spec: &str, args: StoreArgs) -> tidewatch::Result<ExitCode> {
    match args.command {
        StoreCommand::Prune(p) => {
            let p = store::PruneOptions::from(p);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let summary = store::prune(store_spec, &p, now)?;
            outln!(
                "{}: deleted {} documents with {} before {}",
                p.index,
                summary.deleted,
                p.time_field,
                time::format_millis(summary.cutoff_ms)
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
