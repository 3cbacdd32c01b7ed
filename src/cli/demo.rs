//! `tidewatch demo`: a generated log with known incidents, ingested and analysed.

use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::results::{self, ResultType};
use tidewatch::{outln, store, time};

/// Arguments of `tidewatch demo`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DemoArgs {
    /// Where to write the generated access log (gzip).
    #[arg(long, default_value = "tidewatch-demo-access.log.gz")]
    log: PathBuf,
    /// Job files to run; the built-in example jobs when the directory does not exist.
    #[arg(long, default_value = "jobs")]
    jobs: PathBuf,
    /// How many top anomalies to print.
    #[arg(long, default_value_t = 12)]
    top: usize,
}

impl From<DemoArgs> for tidewatch::demo::DemoOptions {
    fn from(a: DemoArgs) -> Self {
        tidewatch::demo::DemoOptions {
            log: a.log,
            jobs: a.jobs,
            top: a.top,
        }
    }
}

/// Runs `tidewatch demo`.
pub(crate) fn run(store_spec: &str, args: DemoArgs) -> tidewatch::Result<ExitCode> {
    let args = tidewatch::demo::DemoOptions::from(args);
    let store = store::open(store_spec)?;
    let started = std::time::Instant::now();
    let report = tidewatch::demo::run(&args, store.as_ref())?;
    print_demo(&report, store_spec, started.elapsed())?;
    Ok(ExitCode::SUCCESS)
}

fn print_demo(
    report: &tidewatch::demo::DemoReport,
    store_spec: &str,
    elapsed: std::time::Duration,
) -> tidewatch::Result<()> {
    outln!("Generated {} log lines; {}", report.lines, report.ingest)?;
    outln!()?;
    for s in &report.jobs {
        outln!(
            "  {:<22} {:>5} buckets  {:>6} partitions  {:>5} records  {:>3} scoring >= 75",
            s.job_id,
            s.buckets,
            s.partitions,
            s.records,
            s.critical_records
        )?;
    }
    outln!()?;
    outln!("Injected incidents, and the best record tidewatch wrote for each:")?;
    for (incident, best) in &report.found {
        outln!("  * {incident}")?;
        match best {
            Some(d) => outln!(
                "      found by {} at {}: score {:.0}, {}",
                d["job_id"].as_str().unwrap_or("?"),
                d["timestamp"]
                    .as_i64()
                    .map(time::format_short)
                    .unwrap_or_default(),
                d["record_score"].as_f64().unwrap_or(0.0),
                d["explanation"].as_str().unwrap_or("")
            )?,
            None => outln!("      not found")?,
        }
    }
    outln!()?;
    outln!("Top anomalies across all jobs:")?;
    for line in results::table(ResultType::Record, &report.top).lines() {
        outln!("  {line}")?;
    }
    outln!()?;
    let store_arg = if store_spec == "embedded:./tidewatch-data" {
        String::new()
    } else {
        format!(" --store {store_spec}")
    };
    outln!("Done in {:.1}s. Look further:", elapsed.as_secs_f64())?;
    outln!("  tidewatch{store_arg} results status_code_rate --min-score 50       # one job's anomalies")?;
    outln!("  tidewatch{store_arg} results country_traffic --type bucket --format ndjson")?;
    outln!("  tidewatch{store_arg} status                                        # buckets, partitions, memory")?;
    outln!("  tidewatch{store_arg} serve                                         # web UI on http://127.0.0.1:9280/")
}
