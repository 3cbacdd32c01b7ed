//! `tidewatch ingest`: access logs into an index.

use std::process::ExitCode;
use tidewatch::{ingest, outln, store};

/// Runs `tidewatch ingest`.
pub(crate) fn run(store_spec: &str, args: ingest::IngestArgs) -> tidewatch::Result<ExitCode> {
    let store = store::open(store_spec)?;
    let summary = ingest::run(&args, store.as_ref())?;
    outln!("{summary}")?;
    ingest::check_stored(&summary)?;
    Ok(ExitCode::SUCCESS)
}
