//! `tidewatch serve`: the HTTP API and web UI over the store's results.

use std::path::PathBuf;
use std::process::ExitCode;
use tidewatch::{api, store};

/// `tidewatch serve` arguments (also usable under `run --http`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on. Anything but loopback requires --token.
    #[arg(long = "http", value_name = "ADDR", default_value = "127.0.0.1:9280")]
    http: std::net::SocketAddr,
    /// Bearer token required on /api routes.
    #[arg(long, env = "TIDEWATCH_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Directory of job files (*.yml, *.yaml).
    #[arg(long, value_name = "DIR", default_value = "jobs")]
    jobs: PathBuf,
    /// A host name the API also answers to in the `Host` header (besides the bound address,
    /// `localhost` and loopback addresses), e.g. behind a reverse proxy; repeatable.
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_hosts: Vec<String>,
    /// How long a client may take to send a request's headers before its connection is
    /// closed.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    header_read_timeout: std::time::Duration,
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let d = tidewatch::time::parse_duration(text)?;
    if d.is_zero() {
        return Err(format!("`{text}` is zero; expected e.g. `10s`"));
    }
    Ok(d)
}

/// Runs `tidewatch serve`.
pub(crate) fn run(store_spec: &str, args: ServeArgs) -> tidewatch::Result<ExitCode> {
    let jobs = {
        let store = store::open_read_only(store_spec)?;
        tidewatch::catalog::jobs_for_reading(store.as_ref(), &args.jobs)?
    };
    // Beside a running `run` (which holds an embedded store's lock) the API still
    // serves results, read-only; forecasts through it then need `run --http` instead.
    let store: std::sync::Arc<dyn store::Store> = match store::open(store_spec) {
        Ok(s) => s.into(),
        Err(store::StoreError::Locked(holder)) => {
            eprintln!("note: {holder}; serving read-only (POST /api/jobs/ID/_forecast will fail)");
            store::open_read_only(store_spec)?.into()
        }
        Err(e) => return Err(e.into()),
    };
    let state = api::AppState::new(store, jobs)
        .with_token(args.token.clone())
        .with_allowed_hosts(args.allow_hosts.clone())
        .with_header_read_timeout(args.header_read_timeout);
    eprintln!("serving the web UI and API on http://{}/", args.http);
    api::serve_blocking(args.http, state)?;
    Ok(ExitCode::SUCCESS)
}
