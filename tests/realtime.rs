//! Following real time with an injected clock (no sleeping): buckets close on schedule,
//! `query_delay` is honoured, late documents produce an annotation, and a second runner takes
//! a job over from the last checkpoint once the first one's lease lapses.

mod common;

use serde_json::{json, Value};
use tidewatch::config;
use tidewatch::runner::{self, ManualClock, Realtime, RealtimeOptions};
use tidewatch::store::{BulkDoc, EmbeddedStore, Store};
use tidewatch::time::format_millis;

const MIN: i64 = 60_000;
const SPAN: i64 = 15 * MIN;
/// Monday 2024-05-06T00:00:00Z.
const T0: i64 = 1_714_953_600_000;

fn job() -> config::Job {
    config::load_job_str(
        "jobs/rt.yml",
        r#"
job_id: rt
analysis_config:
  bucket_span: 15m
  detectors:
    - function: count
      partition_field_name: region
  influencers: [region]
datafeed_config:
  indices: [events]
  query_delay: 2m
  frequency: 5m
"#,
    )
    .expect("job parses")
}

/// `n` documents in region `r` spread over the bucket starting at `t`.
fn docs(t: i64, r: &str, n: usize, tag: &str) -> Vec<BulkDoc> {
    (0..n)
        .map(|i| BulkDoc {
            id: Some(format!("{tag}-{r}-{t}-{i}")),
            source: json!({ "@timestamp": format_millis(t + (i as i64 * SPAN) / n as i64), "region": r }),
        })
        .collect()
}

fn load(store: &dyn Store, from: i64, to: i64) {
    let mut batch = Vec::new();
    let mut t = from;
    while t < to {
        let hour = (t / 3_600_000) % 24;
        batch.extend(docs(t, "eu", 20 + (hour as usize % 6), "a"));
        batch.extend(docs(t, "us", 10 + (hour as usize % 4), "a"));
        t += SPAN;
    }
    store.bulk("events", batch).expect("bulk");
    store.refresh("events").expect("refresh");
}

fn annotations(store: &dyn Store) -> Vec<Value> {
    let body = json!({ "size": 100, "query": { "term": { "result_type": "annotation" } } });
    common::search_hits(store, "tidewatch-results", &body)
        .into_iter()
        .map(|h| h["_source"].clone())
        .collect()
}

#[test]
fn realtime_follows_the_clock_and_hands_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("store");
    let job = job();
    let days = 2 * 24 * 60 * MIN;
    load(&store, T0, T0 + days);

    let clock = ManualClock::new(T0 + days + MIN);
    let opts = |holder: &str| RealtimeOptions {
        state_index: runner::STATE_INDEX.into(),
        holder: holder.into(),
        lease_ttl_ms: 30 * MIN,
    };
    let mut a =
        Realtime::new(&store, std::slice::from_ref(&job), opts("a"), &clock).expect("runner a");

    // First tick: looks back. now - query_delay = T0+days-1m, so the last bucket
    // [T0+days-15m, T0+days) is not closed yet.
    let wake = a.tick().expect("tick");
    assert_eq!(
        a.positions(),
        vec![("rt".to_string(), Some(T0 + days - SPAN))]
    );
    assert_eq!(
        wake,
        T0 + days + 5 * MIN,
        "next run on the 5-minute frequency (before the lease needs renewing)"
    );

    // The bucket ends at T0+days; at +1m it is still within query_delay (2m): not analysed.
    clock.set(T0 + days + MIN + 30_000);
    a.tick().expect("tick");
    assert_eq!(a.positions()[0].1, Some(T0 + days - SPAN));

    // New data arrives for the next bucket; at +5m (past query_delay) the closed bucket goes.
    load(&store, T0 + days, T0 + days + SPAN);
    clock.set(T0 + days + 5 * MIN);
    a.tick().expect("tick");
    assert_eq!(a.positions()[0].1, Some(T0 + days));

    // Late documents for an already analysed bucket: an annotation, and stats count them.
    store
        .bulk("events", docs(T0 + days - 2 * SPAN, "eu", 7, "late"))
        .expect("bulk");
    store.refresh("events").expect("refresh");
    load(&store, T0 + days + SPAN, T0 + days + 2 * SPAN);
    clock.set(T0 + days + SPAN + 5 * MIN);
    a.tick().expect("tick");
    assert_eq!(a.positions()[0].1, Some(T0 + days + SPAN));
    let notes = annotations(&store);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["missing_docs_count"], 7);
    assert_eq!(notes[0]["timestamp"], T0 + days - 2 * SPAN);
    let stats = runner::load_stats(&store, runner::STATE_INDEX, "rt")
        .expect("stats")
        .expect("stats doc");
    assert_eq!(stats["data_counts"]["delayed_data_count"], 7);

    // A second runner cannot take the job while a holds its lease...
    let mut b =
        Realtime::new(&store, std::slice::from_ref(&job), opts("b"), &clock).expect("runner b");
    b.tick().expect("tick");
    assert!(b.positions().is_empty(), "b must not run a job a holds");

    // ...but once a stops renewing and the lease lapses, b resumes from a's checkpoint.
    load(&store, T0 + days + 2 * SPAN, T0 + days + 4 * SPAN);
    clock.set(T0 + days + 3 * SPAN + 10 * MIN);
    b.tick().expect("tick");
    assert_eq!(
        b.positions(),
        vec![("rt".to_string(), Some(T0 + days + 3 * SPAN))]
    );

    // And a, waking up late, finds it lost the lease and stops working on the job.
    a.tick().expect("tick");
    assert!(
        a.positions().is_empty(),
        "a lost the lease and must have let go"
    );
}
