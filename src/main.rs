//! The `tidewatch` command line: parses arguments, sets up logging, runs the command (see
//! [`cli`]) and maps its outcome to an exit status.
#![warn(clippy::too_many_lines)]

mod cli;

use clap::Parser;
use std::process::ExitCode;
use tidewatch::output;
use tidewatch::{EXIT_OK, EXIT_USAGE};

/// mimalloc rather than the system allocator: see `mimalloc` in Cargo.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit statuses (README, "Exit status"): 0 success, 1 usage or validation error, 2 could
/// not read or write what was needed, 3 `results --exit-code` matched. A closed standard
/// output (`| head`) ends a command quietly with the status it had reached.
fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout and succeed; anything else is a usage error.
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.log_format);
    let outcome = cli::run(cli).and_then(|code| output::flush().map(|()| code));
    match outcome {
        Ok(code) => code,
        Err(e) if e.is_closed_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging(format: cli::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIDEWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Human => builder.init(),
        cli::LogFormat::Json => builder.json().init(),
    }
}
