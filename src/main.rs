//! The `tidewatch` command line.

use clap::{Parser, Subcommand};

/// tidewatch: anomaly detection for operational data.
#[derive(Parser)]
#[command(name = "tidewatch", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score one CSV series with the model, online.
    Detect(tidewatch::detect::DetectArgs),
    /// Measure detection quality on labelled CSV series.
    Evaluate(tidewatch::detect::EvaluateArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Detect(args) => tidewatch::detect::run_detect(&args).map(|_| ()),
        Command::Evaluate(args) => tidewatch::detect::run_evaluate(&args).map(|_| ()),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
