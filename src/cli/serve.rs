//! `tidewatch serve`: the HTTP API and web UI over the store's results.

use std::process::ExitCode;
use tidewatch::{api, store};

/// Runs `tidewatch serve`.
pub(crate) fn run(store_spec: &str, args: api::ServeArgs) -> tidewatch::Result<ExitCode> {
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
