//! `tidewatch similar`: partitions that moved like one partition.

use std::process::ExitCode;
use tidewatch::similar;

/// Runs `tidewatch similar`.
pub(crate) fn run(store_spec: &str, args: similar::SimilarArgs) -> tidewatch::Result<ExitCode> {
    similar::run(store_spec, &args).map(|_| ExitCode::SUCCESS)
}
