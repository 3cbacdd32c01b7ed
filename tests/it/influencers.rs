//! Influencer scores from each value's contribution, end to end on the embedded store.
//!
//! Four days of ten background clients, about ten requests each per 15 minutes. At 10:00 on
//! day 4 a scanner sends 810 requests and every background client 19 instead of ~10: the
//! count is ~1,000 against ~100 typical, and the scanner explains 90 % of the excess, each
//! background client about 2 %. The scanner's influencer score is near the record's; the
//! background clients' are a small fraction of it, and only the scanner is named on the
//! record.

use serde_json::Value;
use std::sync::atomic::AtomicBool;
use tidewatch::config;
use tidewatch::runner;
use tidewatch::store::{EmbeddedStore, Store};

const MIN: i64 = 60_000;
const SPAN: i64 = 15 * MIN;
const DAY: i64 = 24 * 60 * MIN;
/// Monday 2024-05-06T00:00:00Z.
const T0: i64 = 1_714_953_600_000;
/// The spike: 10:00 on day 4.
const SPIKE: i64 = T0 + 3 * DAY + 10 * 60 * MIN;

const JOB: &str = "job_id: clients\nanalysis_config:\n  bucket_span: 15m\n  detectors: [{function: count}]\n  influencers: [client]\ndatafeed_config:\n  indices: [events]\n";

fn load(store: &dyn Store) {
    let mut batch = Vec::new();
    let mut t = T0;
    while t < T0 + 4 * DAY {
        let bucket = ((t - T0) / SPAN) as usize;
        for c in 0..10 {
            // 9 to 11 requests, varying by bucket and client, deterministically.
            let n = if t == SPIKE { 19 } else { 9 + (bucket + c) % 3 };
            batch.extend(crate::support::client_docs(
                t,
                SPAN,
                &format!("10.0.0.{c}"),
                n,
            ));
        }
        if t == SPIKE {
            batch.extend(crate::support::client_docs(t, SPAN, "203.0.113.9", 810));
        }
        t += SPAN;
    }
    store.bulk("events", batch).expect("bulk");
    store.refresh("events").expect("refresh");
}

#[test]
fn the_client_that_explains_a_spike_scores_near_its_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path().join("store")).expect("store");
    load(&store);
    let job = config::load_job_str("clients.yml", JOB).expect("the job validates");
    let stop = AtomicBool::new(false);
    runner::run_lookback(&store, &job, None, &stop).expect("lookback");
    let docs = crate::support::all_documents(&store, "tidewatch-results");
    let at_spike = |kind: &'static str| {
        docs.values()
            .filter(move |d| d["result_type"] == kind && d["timestamp"] == SPIKE)
    };
    let record = at_spike("record").next().expect("the spike is a record");
    let record_score = record["record_score"].as_f64().expect("record_score");
    assert!(record_score >= 50.0, "{record}");
    let named = record["influencers"].to_string();
    assert!(named.contains("203.0.113.9"), "{named}");
    assert!(
        !named.contains("10.0.0."),
        "background clients are not named: {named}"
    );

    let score = |d: &Value| d["influencer_score"].as_f64().expect("influencer_score");
    let influencers: Vec<&Value> = at_spike("influencer").collect();
    let scanner = influencers
        .iter()
        .find(|d| d["influencer_field_value"] == "203.0.113.9")
        .expect("the scanner is an influencer");
    assert!(
        score(scanner) >= 0.85 * record_score,
        "scanner {} vs record {record_score}",
        score(scanner)
    );
    let background: Vec<&&Value> = influencers
        .iter()
        .filter(|d| d["influencer_field_value"] != "203.0.113.9")
        .collect();
    assert!(!background.is_empty(), "{influencers:?}");
    for d in background {
        assert!(
            score(d) <= 0.05 * record_score,
            "{d} vs record {record_score}"
        );
        assert!(score(d) > 0.0, "{d}");
    }
}

/// Four days of ten clients, ten requests each per 15 minutes, at ~100 ms to one of three to
/// five URLs. At 10:00 on day 4, client 203.0.113.9 sends twelve requests (a few more than the
/// others, so that it is among the ten most frequent values, the influencer candidates), each
/// to a URL no one asked for and at 2,000 ms.
fn load_slow_scanner(store: &dyn Store) {
    use serde_json::json;
    use tidewatch::store::BulkDoc;
    let mut batch = Vec::new();
    let mut t = T0;
    let doc = |id: String, t: i64, client: &str, url: String, ms: f64| BulkDoc {
        id: Some(id),
        source: json!({
            "@timestamp": tidewatch::time::format_millis(t),
            "client": client, "url": url, "latency": ms,
        }),
    };
    while t < T0 + 4 * DAY {
        let bucket = ((t - T0) / SPAN) as usize;
        for c in 0..10 {
            for i in 0..10 {
                let ms = 95.0 + ((bucket + c + i) % 11) as f64;
                // Three to five distinct URLs a bucket.
                let url = format!("/page/{}", (c + i) % (3 + bucket % 3));
                let client = format!("10.0.0.{c}");
                batch.push(doc(
                    format!("{c}-{t}-{i}"),
                    t + i as i64 * MIN,
                    &client,
                    url,
                    ms,
                ));
            }
        }
        if t == SPIKE {
            for i in 0..12 {
                let url = format!("/scan/{i}");
                batch.push(doc(
                    format!("s-{i}"),
                    t + i as i64 * MIN,
                    "203.0.113.9",
                    url,
                    2000.0,
                ));
            }
        }
        t += SPAN;
    }
    store.bulk("events", batch).expect("bulk");
    store.refresh("events").expect("refresh");
}

#[test]
fn the_client_behind_a_mean_or_distinct_count_anomaly_explains_it_not_its_share_of_documents() {
    // Before the share was computed per function, every client had its share of the
    // bucket's documents (12 in 112): the scanner scored a tenth of its record, and each
    // background client nearly as much.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path().join("store")).expect("store");
    load_slow_scanner(&store);
    for (i, detector) in [
        "{function: high_mean, field_name: latency}",
        "{function: high_distinct_count, field_name: url}",
        "{function: high_sum, field_name: latency}",
    ]
    .into_iter()
    .enumerate()
    {
        let text = format!("job_id: slow-{i}\nanalysis_config:\n  bucket_span: 15m\n  detectors: [{detector}]\n  influencers: [client]\ndatafeed_config:\n  indices: [events]\nresults_index: results-slow-{i}\n");
        let job = config::load_job_str("slow.yml", &text).expect("the job validates");
        let stop = AtomicBool::new(false);
        runner::run_lookback(&store, &job, None, &stop).expect("lookback");
        let docs = crate::support::all_documents(&store, &format!("results-slow-{i}"));
        let at_spike = |kind: &'static str| {
            docs.values()
                .filter(move |d| d["result_type"] == kind && d["timestamp"] == SPIKE)
        };
        let Some(record) = at_spike("record").next() else {
            let records: Vec<&Value> = docs
                .values()
                .filter(|d| d["result_type"] == "record")
                .collect();
            panic!("{detector}: no record at the spike: {records:#?}");
        };
        let record_score = record["record_score"].as_f64().expect("record_score");
        // Records from 25 up are weighed for influencers.
        assert!(record_score >= 25.0, "{detector}: {record}");
        let named = record["influencers"].to_string();
        assert!(named.contains("203.0.113.9"), "{detector}: {named}");
        assert!(!named.contains("10.0.0."), "{detector}: {named}");
        let score = |d: &Value| d["influencer_score"].as_f64().expect("influencer_score");
        let influencers: Vec<&Value> = at_spike("influencer").collect();
        let scanner = influencers
            .iter()
            .find(|d| d["influencer_field_value"] == "203.0.113.9")
            .expect("the scanner is an influencer");
        eprintln!(
            "{detector}: record {record_score:.1}, scanner {:.1}, others {:?}",
            score(scanner),
            influencers
                .iter()
                .filter(|d| d["influencer_field_value"] != "203.0.113.9")
                .map(|d| score(d))
                .collect::<Vec<_>>()
        );
        assert!(
            score(scanner) >= 0.9 * record_score,
            "{detector}: {influencers:#?}"
        );
        for d in influencers
            .iter()
            .filter(|d| d["influencer_field_value"] != "203.0.113.9")
        {
            assert!(score(d) <= 0.05 * record_score, "{detector}: {d}");
        }
    }
}
