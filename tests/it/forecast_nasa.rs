//! The forecast done-criterion on real traffic: NASA-HTTP requests, July 1995, in 15-minute
//! buckets; the model trained on all but the last 3 days (through `Baseline::observe`, with
//! the runner's `model_config` for a `count` detector) forecasts those 3 days. Prints the
//! coverage of the 95 % bounds and the MAPE next to a seasonal-naive forecast's.
//!
//! `cargo test --release --test it forecast_nasa -- --nocapture`

use std::collections::BTreeMap;
use std::io::Read;
use tidewatch::forecast::backtest;
use tidewatch::time::{bucket_start, format_short, parse_timestamp};

const SPAN_MS: i64 = 15 * 60_000;
const HOLDOUT: usize = 3 * 96;
const WEEK: usize = 7 * 96;

/// Complete 15-minute buckets of requests (the trace's last, partial bucket is dropped).
fn nasa_15m() -> Vec<(i64, f64)> {
    let path =
        crate::support::shared_data().join("nasa/nasa_http_july1995_requests_per_minute.csv.gz");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("gzip");
    let mut buckets: BTreeMap<i64, (f64, u32)> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let (t, v) = line.split_once(',').unwrap_or_else(|| panic!("line {n}"));
        let t = parse_timestamp(t).unwrap_or_else(|| panic!("line {n}: time `{t}`"));
        let v: f64 = v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("line {n}: `{v}`"));
        let b = buckets.entry(bucket_start(t, SPAN_MS)).or_default();
        b.0 += v;
        b.1 += 1;
    }
    let out: Vec<(i64, f64)> = buckets
        .into_iter()
        .filter(|(_, (_, minutes))| *minutes == 15)
        .map(|(t, (v, _))| (t, v))
        .collect();
    for w in out.windows(2) {
        assert_eq!(w[1].0 - w[0].0, SPAN_MS, "gap at {}", format_short(w[0].0));
    }
    out
}

fn count_model() -> tidewatch::model::ModelConfig {
    // The runner's settings for a `count` detector with a 15m bucket span.
    let yaml = "job_id: nasa\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\ndata_description:\n  time_field: \"@timestamp\"\ndatafeed_config:\n  indices: [nasa]\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nasa.yml");
    std::fs::write(&path, yaml).expect("write job");
    let jobs = tidewatch::config::load_jobs(&[path]).expect("job loads");
    let job = &jobs[0];
    tidewatch::analysis::model_config(job, job.detectors[0].function)
}

#[test]
fn nasa_forecast_of_the_last_three_days() {
    let series = nasa_15m();
    assert!(series.len() > 25 * 96, "{} buckets", series.len());
    let cfg = count_model();
    let r = backtest(&series, &cfg, HOLDOUT, WEEK).expect("long enough");
    let from = series[series.len() - HOLDOUT].0;
    println!(
        "NASA-HTTP July 1995, 15m buckets: trained on {} buckets, forecast {} buckets from {} UTC",
        series.len() - HOLDOUT,
        r.buckets,
        format_short(from)
    );
    println!("                                  coverage(95%)   MAPE");
    println!(
        "  model projection (Baseline::forecast) {:>6.1} %   {:>6.1} %",
        100.0 * r.raw_coverage,
        100.0 * r.raw_mape
    );
    println!(
        "  fitted forecast (tidewatch)           {:>6.1} %   {:>6.1} %   ({:?}; rolling-origin errors {:?} over {} origins; mean width {:.0} % of actual)",
        100.0 * r.coverage,
        100.0 * r.mape,
        r.seasonality,
        r.candidates,
        r.origins,
        100.0 * r.relative_width
    );
    println!(
        "  seasonal naive (one week earlier)         -       {:>6.1} %",
        100.0 * r.naive_mape
    );
    assert!(
        (0.85..=0.99).contains(&r.coverage),
        "coverage {:.3} outside 85-99 %",
        r.coverage
    );
    assert!(
        r.mape < r.naive_mape,
        "forecast MAPE {:.3} not below seasonal naive {:.3}",
        r.mape,
        r.naive_mape
    );
}
