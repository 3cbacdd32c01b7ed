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
    /// Fields a job aggregates that its source indices cannot aggregate, or lack.
    #[error(transparent)]
    Fields(#[from] crate::datafeed::FieldProblems),
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
    /// A job id that no job file names and no store has recorded.
    #[error("no job `{job_id}`: it is not in the job files under {jobs_dir} and has never run against {store}; known jobs: {}", list_or_none(known))]
    UnknownJob {
        /// The id asked for.
        job_id: String,
        /// The `--jobs` directory searched.
        jobs_dir: String,
        /// The store searched.
        store: String,
        /// The jobs that exist.
        known: Vec<String>,
    },
    /// A job id that none of the jobs given names (`status JOB`).
    #[error("no job `{job_id}`; known jobs: {}", known.join(", "))]
    NotAmongJobs {
        /// The id asked for.
        job_id: String,
        /// The jobs given.
        known: Vec<String>,
    },
    /// A job id the store has no recorded definition for (`jobs get`, `jobs reset`...).
    #[error("no job `{job_id}` recorded in {store}; recorded jobs: {} (`tidewatch run` or `tidewatch jobs put FILE` records them)", list_or_none(recorded))]
    NotRecorded {
        /// The id asked for.
        job_id: String,
        /// The store.
        store: String,
        /// The jobs it has recorded.
        recorded: Vec<String>,
    },
    /// A job another `tidewatch run` holds, for an operation that needs it stopped.
    #[error("job `{job_id}` is running (held by `{holder}` until {until}); stop that `tidewatch run` first")]
    JobRunning {
        /// The job.
        job_id: String,
        /// The lease holder.
        holder: String,
        /// When its lease expires (ISO 8601).
        until: String,
    },
    /// A job whose results are asked for but that never ran against this store.
    #[error("job `{job_id}` has never run against {store} (no stats in `{}`): its results cannot be read; run it first (`tidewatch run`)", crate::runner::STATE_INDEX)]
    NeverRan {
        /// The job.
        job_id: String,
        /// The store.
        store: String,
    },
    /// A results index that does not exist (yet).
    #[error("results index `{index}` does not exist in {store} (job `{job_id}` writes to it once it has run; check --index)")]
    NoResultsIndex {
        /// The index.
        index: String,
        /// The store.
        store: String,
        /// The job whose results were asked for.
        job_id: String,
    },
    /// An alert on a job that has analysed no bucket yet.
    #[error(
        "job `{job_id}` has analysed no bucket yet in {store}: an alert on it cannot be trusted"
    )]
    NoBucketYet {
        /// The job.
        job_id: String,
        /// The store.
        store: String,
    },
    /// An alert on a job whose last analysed bucket is too old for a running job.
    #[error("job `{job_id}` is stale in {store}: its last bucket ended at {} ({} ago), and a running job lags at most twice its frequency ({}) plus its query delay ({}); is `tidewatch run` still running?",
        crate::time::format_millis(*ended),
        crate::time::rough_duration(*age),
        crate::time::format_duration(*frequency),
        crate::time::format_duration(*query_delay))]
    Stale {
        /// The job.
        job_id: String,
        /// The store.
        store: String,
        /// When its last bucket ended (epoch milliseconds).
        ended: i64,
        /// How long ago that is.
        age: std::time::Duration,
        /// Its effective frequency.
        frequency: std::time::Duration,
        /// Its query delay.
        query_delay: std::time::Duration,
    },
    /// A job's state or results that the store could not read.
    #[error("cannot read {what} in {store}: {source}")]
    Unreadable {
        /// What, e.g. ``results index `tidewatch-results` ``.
        what: String,
        /// The store.
        store: String,
        /// Why.
        source: Box<crate::store::StoreError>,
    },
    /// An index a job depends on holds records that fail their checksum.
    #[error("job `{job_id}`: {source} (in {store})")]
    JobIndexCorrupt {
        /// The job.
        job_id: String,
        /// The store's report (a [`crate::store::StoreError::Corrupt`]).
        source: Box<crate::store::StoreError>,
        /// The store.
        store: String,
    },
    /// `validate` found problems (each already printed, one per line).
    #[error("{problems} problem{ps} in {files} job file{fs}", ps = plural(*problems), fs = plural(*files))]
    Invalid {
        /// How many problems.
        problems: usize,
        /// In how many files.
        files: usize,
    },
    /// `validate --store` found job fields the store cannot aggregate (each already
    /// printed, one per line).
    #[error("{count} field{s} cannot be read in {store}", s = plural(*count))]
    FieldsUnreadable {
        /// How many fields.
        count: usize,
        /// The store they were resolved in.
        store: String,
    },
    /// A command-line option's value could not be read.
    #[error("{option}: {message}")]
    BadOption {
        /// The option, e.g. `--from`.
        option: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A command that needs jobs found none.
    #[error("name a job, or point --jobs at job files (no jobs found in {})", dir.display())]
    NoJobs {
        /// The `--jobs` directory.
        dir: std::path::PathBuf,
    },
    /// A job's recorded definition changed in a way its results cannot follow.
    #[error("{}: job `{job_id}`: its analysis (bucket_span, detectors, influencers, indices, query, time_field or model) differs from version {version}, recorded {recorded_at}, and its results were made by that version. Run `tidewatch jobs reset {job_id}` to delete its results and state and start over with this definition, or give it a new job_id", file.display())]
    DefinitionChanged {
        /// The job file with the new definition.
        file: std::path::PathBuf,
        /// The job.
        job_id: String,
        /// The version its results were made by.
        version: u64,
        /// When that version was recorded.
        recorded_at: String,
    },
    /// A filter list or calendar recorded with a job is not in the store.
    #[error("the {kind} `{id}` recorded with job `{job_id}` is missing or damaged in the store; record the job again (`tidewatch jobs put FILE`)")]
    RecordMissing {
        /// `filter` or `calendar`.
        kind: String,
        /// Its id.
        id: String,
        /// The job it was recorded with.
        job_id: String,
    },
    /// An Elastic ML job or datafeed that `import-elastic` cannot convert.
    #[error("{0}")]
    Import(String),
    /// A job whose `schedule` cannot run (the message names the job).
    #[error("{0}")]
    Schedule(String),
    /// An input file (a CSV series, a peer's scores, a labelled directory) that cannot be
    /// used: where (`path:line` when a line is at fault) and why.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Input {
        /// The file or directory.
        path: String,
        /// The 1-based line at fault, if one is.
        line: Option<usize>,
        /// What is wrong and what was expected.
        message: String,
    },
    /// `serve` refuses to listen beyond loopback without a token.
    #[error("--http {addr}: refusing to listen on a non-loopback address without a token; set --token or TIDEWATCH_API_TOKEN, or listen on 127.0.0.1")]
    UnsafeBind {
        /// The address asked for.
        addr: std::net::SocketAddr,
    },
    /// The process could not set itself up (a signal handler, the HTTP runtime).
    #[error("cannot {what}: {message}")]
    Setup {
        /// What it was doing, e.g. `install the signal handler`.
        what: &'static str,
        /// Why it failed.
        message: String,
    },
}

/// `a, b, c`, or `none`.
fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
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
            Error::Config(_)
            | Error::Fields(_)
            | Error::FieldsUnreadable { .. }
            | Error::Invalid { .. }
            | Error::BadOption { .. }
            | Error::NoJobs { .. }
            | Error::DefinitionChanged { .. }
            | Error::RecordMissing { .. }
            | Error::Import(_)
            | Error::Schedule(_)
            | Error::Input { .. }
            | Error::UnsafeBind { .. }
            | Error::Setup { .. } => EXIT_USAGE,
            Error::Ingest(I::Format(_) | I::NothingStored { .. }) => EXIT_USAGE,
            Error::Ingest(I::GeoIp(crate::ingest::GeoIpError::Open { .. })) => EXIT_UNAVAILABLE,
            Error::Ingest(I::GeoIp(_)) => EXIT_USAGE,
            Error::Forecast(F::BadDuration { .. } | F::NothingToForecast { .. }) => EXIT_USAGE,
            Error::Store(_)
            | Error::Ingest(_)
            | Error::Forecast(_)
            | Error::Io { .. }
            | Error::UnknownJob { .. }
            | Error::NotAmongJobs { .. }
            | Error::NotRecorded { .. }
            | Error::JobRunning { .. }
            | Error::NeverRan { .. }
            | Error::NoResultsIndex { .. }
            | Error::NoBucketYet { .. }
            | Error::Stale { .. }
            | Error::Unreadable { .. }
            | Error::JobIndexCorrupt { .. } => EXIT_UNAVAILABLE,
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
