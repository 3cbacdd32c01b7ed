//! Where the shared data sets live (`logs/`, `nasa/`, `kpi/`, `elastic-recipes/`, ...): the
//! one lookup every test and bench uses. The library's unit tests, both integration-test
//! binaries and the benches include this file, so the rule is written once.
//!
//! `TIDEWATCH_SHARED_DATA` names the folder; without it, `../shared/data` beside the
//! repository (where CI checks it out). There is no other fallback: a test that needs the
//! data and cannot find it fails saying where it looked and how to point it elsewhere.

use std::path::{Path, PathBuf};

/// The variable that overrides where the shared data sets are.
pub const SHARED_DATA_VAR: &str = "TIDEWATCH_SHARED_DATA";

/// The shared data folder: `$TIDEWATCH_SHARED_DATA`, else `<repository>/../shared/data`.
/// Panics, naming both, when that folder does not exist.
pub fn shared_data() -> PathBuf {
    let dir = shared_data_dir();
    assert!(
        dir.is_dir(),
        "shared data missing: {} is not a directory. This test reads the shared data sets; \
         put them at ../shared/data beside the repository or set {SHARED_DATA_VAR} to their folder",
        dir.display()
    );
    dir
}

/// Where the shared data folder should be, whether or not it exists (for tests that skip
/// without it).
pub fn shared_data_dir() -> PathBuf {
    match std::env::var_os(SHARED_DATA_VAR) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    }
}
