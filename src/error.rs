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
    /// Something a command needs could not be read: an unknown job, a job that never ran or
    /// stopped running, a missing results index. Already phrased for a person, naming what
    /// and where.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (a usage or validation problem), already phrased for a person.
    #[error("{0}")]
    Other(String),
}

/// Exit status of a command that succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit status of a usage or validation error: the command line or a job file is wrong.
pub const EXIT_USAGE: u8 = 1;
/// Exit status when a command could not read or write what it needed: the store, an index,
/// a job's state or results, an input file, standard output.
pub const EXIT_UNAVAILABLE: u8 = 2;
/// Exit status of `results --exit-code` when something matched.
pub const EXIT_MATCH: u8 = 3;

impl Error {
    /// The exit status this error ends a command with: [`EXIT_USAGE`] for what the user can
    /// fix in the command line or job files, [`EXIT_UNAVAILABLE`] for what could not be read
    /// or written.
    pub fn exit_code(&self) -> u8 {
        use crate::forecast::ForecastError as F;
        use crate::ingest::IngestError as I;
        use crate::similar::SimilarError as S;
        match self {
            Error::Similar(S::Store(_) | S::UnknownJob { .. }) => EXIT_UNAVAILABLE,
            Error::Similar(_) => EXIT_USAGE,
            Error::Config(_) | Error::Other(_) => EXIT_USAGE,
            Error::Ingest(I::Format(_) | I::NothingStored { .. }) => EXIT_USAGE,
            Error::Ingest(I::GeoIp(crate::ingest::GeoIpError::Open { .. })) => EXIT_UNAVAILABLE,
            Error::Ingest(I::GeoIp(_)) => EXIT_USAGE,
            Error::Forecast(F::BadDuration { .. } | F::NothingToForecast { .. }) => EXIT_USAGE,
            Error::Store(_)
            | Error::Ingest(_)
            | Error::Forecast(_)
            | Error::Io { .. }
            | Error::Unavailable(_) => EXIT_UNAVAILABLE,
        }
    }

    /// Whether this is a write to a pipe whose reader has gone (`tidewatch results | head`):
    /// the command then ends quietly.
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Result with the crate [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
