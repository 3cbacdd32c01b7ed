//! The `tidewatch` command line: one module per command, each holding its clap arguments and
//! calling the library.

mod demo;
mod detect;
mod evaluate;
mod forecast;
mod import_elastic;
mod ingest;
mod jobs;
mod results;
mod run;
mod serve;
mod similar;
mod status;
mod store;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Anomaly detection jobs over the operational data you keep in Elasticsearch.
#[derive(Parser)]
#[command(name = "tidewatch", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Where documents live: `embedded:DIR` (default `embedded:./tidewatch-data`) or an
    /// `http(s)://` cluster URL. With `validate`, also checks the jobs' fields in its indices.
    #[arg(long, global = true, env = "TIDEWATCH_STORE")]
    pub(crate) store: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Generates 14 days of nginx logs with four known incidents, ingests them, runs the
    /// example jobs, and shows what was found next to what was injected.
    Demo(demo::DemoArgs),
    /// Checks job files and prints every problem as `file:line:column: field: message`.
    Validate(validate::ValidateArgs),
    /// Converts an Elastic ML job (and datafeed) JSON into a tidewatch job file on stdout.
    ImportElastic(import_elastic::ImportArgs),
    /// Loads access logs (plain, .gz, or - for stdin) into an index as ECS documents.
    Ingest(ingest::IngestArgs),
    /// Scores one CSV series with the model, online (each row sees only earlier rows).
    Detect(detect::DetectArgs),
    /// Measures detection quality on labelled CSV series, side by side with a z-score baseline.
    Evaluate(evaluate::EvaluateArgs),
    /// Looks back over the data present for every job and writes results.
    Run(run::RunArgs),
    /// Job definitions recorded in the store: list, show, put, reset, delete.
    Jobs(jobs::JobsArgs),
    /// Prints a job's results.
    Results(results::ResultsArgs),
    /// Projects a job's models forward and writes `model_forecast` documents.
    Forecast(forecast::ForecastArgs),
    /// Serves the HTTP API (`/api`, `/metrics`, `/health`) and the web UI.
    Serve(serve::ServeArgs),
    /// Ranks every partition of every job by how closely it moved like one partition.
    Similar(similar::SimilarArgs),
    /// Maintenance of the store: `store prune --index NAME --older-than 30d`.
    Store(store::StoreArgs),
    /// Shows where each job stands: buckets, documents, partitions, memory, delayed data.
    Status(status::StatusArgs),
}

/// The store used when neither `--store` nor `TIDEWATCH_STORE` names one.
const DEFAULT_STORE: &str = "embedded:./tidewatch-data";

/// Runs the parsed command.
pub(crate) fn run(cli: Cli) -> tidewatch::Result<ExitCode> {
    let named_store = cli.store.clone();
    let store_spec = cli.store.unwrap_or_else(|| DEFAULT_STORE.to_string());
    let spec = store_spec.as_str();
    match cli.command {
        Command::Validate(args) => validate::run(named_store.as_deref(), args),
        Command::ImportElastic(args) => import_elastic::run(args),
        Command::Demo(args) => demo::run(spec, args),
        Command::Detect(args) => detect::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Ingest(args) => ingest::run(spec, args),
        Command::Run(args) => run::run(spec, args),
        Command::Jobs(args) => jobs::run(spec, args),
        Command::Results(args) => results::run(spec, args),
        Command::Store(args) => store::run(spec, args),
        Command::Forecast(args) => forecast::run(spec, args),
        Command::Serve(args) => serve::run(spec, args),
        Command::Similar(args) => similar::run(spec, args),
        Command::Status(args) => status::run(spec, args),
    }
}

/// An option's value that could not be read, for `map_err`.
fn bad_option(option: &'static str) -> impl Fn(String) -> tidewatch::Error {
    move |message| tidewatch::Error::BadOption { option, message }
}
