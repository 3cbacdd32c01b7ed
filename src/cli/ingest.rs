//! `tidewatch ingest`: access logs into an index.

use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::{ingest, outln, store};

/// Arguments of `tidewatch ingest`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct IngestArgs {
    /// Index to store the documents in.
    #[arg(long)]
    index: String,
    /// `combined` (nginx's predefined format) or an nginx `log_format` string, e.g.
    /// '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$geoip_country_code"'.
    #[arg(long, default_value = "combined")]
    format: String,
    /// Documents per bulk request.
    #[arg(long, default_value_t = ingest::DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// Accept lines dated before 1990 or more than a day in the future. By default they are
    /// rejected (counted and reported): a wrong clock or a garbled year would otherwise
    /// start or carry a job where no data is.
    #[arg(long)]
    any_time: bool,
    /// A MaxMind DB file (`.mmdb`: MaxMind GeoLite2 Country/City, DB-IP Lite, or an
    /// `@ip-location-db/*-mmdb` npm package's file) to add `source.geo.*` from the client
    /// address. Private and reserved addresses get no geo fields and are counted.
    #[arg(long, value_name = "FILE.mmdb")]
    geoip: Option<PathBuf>,
    /// A second MaxMind DB file, for `source.as.number` and `source.as.organization.name`
    /// (MaxMind GeoLite2 ASN, DB-IP ASN Lite). Needs --geoip.
    #[arg(long, value_name = "FILE.mmdb", requires = "geoip")]
    geoip_asn: Option<PathBuf>,
    /// Access logs to read: plain text or gzip (detected from the content); `-` reads stdin.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

impl From<IngestArgs> for tidewatch::ingest::IngestOptions {
    fn from(a: IngestArgs) -> Self {
        tidewatch::ingest::IngestOptions {
            index: a.index,
            format: a.format,
            batch_size: a.batch_size,
            any_time: a.any_time,
            geoip: a.geoip,
            geoip_asn: a.geoip_asn,
            files: a.files,
        }
    }
}

/// Runs `tidewatch ingest`.
pub(crate) fn run(store_spec: &str, args: IngestArgs) -> tidewatch::Result<ExitCode> {
    let args = ingest::IngestOptions::from(args);
    let store = store::open(store_spec)?;
    let summary = ingest::run(&args, store.as_ref())?;
    outln!("{summary}")?;
    ingest::check_stored(&summary)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_arguments_parse() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            ingest: IngestArgs,
        }
        let cli =
            Cli::try_parse_from(["tidewatch", "--index", "nginx-x", "a.log.gz", "-"]).unwrap();
        assert_eq!(cli.ingest.index, "nginx-x");
        assert_eq!(cli.ingest.format, "combined");
        assert_eq!(cli.ingest.batch_size, ingest::DEFAULT_BATCH_SIZE);
        assert_eq!(
            cli.ingest.files,
            [
                std::path::PathBuf::from("a.log.gz"),
                std::path::PathBuf::from("-")
            ]
        );
        let cli = Cli::try_parse_from([
            "tidewatch",
            "--index",
            "i",
            "--format",
            "$remote_addr [$time_local]",
            "x",
        ])
        .unwrap();
        assert_eq!(cli.ingest.format, "$remote_addr [$time_local]");
        assert!(
            Cli::try_parse_from(["tidewatch", "--index", "i"]).is_err(),
            "a file is required"
        );
        assert!(
            Cli::try_parse_from(["tidewatch", "x.log"]).is_err(),
            "--index is required"
        );
    }
}
