//! The crate error: each stage owns a typed error, folded in here with `#[from]` so the binary
//! can print the whole chain and choose an exit code.

/// Any error tidewatch reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A job file (or several) failed to load or validate.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigErrors),
    /// The store refused or failed an operation.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// An ingest could not start or stopped (bad lines alone never stop it).
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    /// A forecast could not be made.
    #[error(transparent)]
    Forecast(#[from] crate::forecast::ForecastError),
    /// A similar-shape query could not be answered.
    #[error(transparent)]
    Similar(#[from] crate::similar::SimilarError),
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Anything else, already phrased for a person.
    #[error("{0}")]
    Other(String),
}

/// Result with the crate [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
