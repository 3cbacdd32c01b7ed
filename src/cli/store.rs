//! `tidewatch store ...`: maintenance of the store.

use std::process::ExitCode;
use tidewatch::{outln, store, time};

/// Runs `tidewatch store ...`.
pub(crate) fn run(store_spec: &str, args: store::StoreArgs) -> tidewatch::Result<ExitCode> {
    match args.command {
        store::StoreCommand::Prune(p) => {
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
