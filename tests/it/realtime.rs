//! Following real time with an injected clock (no sleeping): buckets close on schedule,
//! `query_delay` is honoured, late documents produce an annotation, and a second runner takes
//! a job over from the last checkpoint once the first one's lease lapses.

use serde_json::{json, Value};
use tidewatch::config;
use tidewatch::runner::{self, Clock, ManualClock, Realtime, RealtimeOptions};
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
    crate::support::search_hits(store, "tidewatch-results", &body)
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

/// Result documents of job `rt` of one type, interim ones included.
fn results_of(store: &dyn Store, result_type: &str) -> Vec<Value> {
    let body = json!({ "size": 10_000, "query": { "bool": { "filter": [
        { "term": { "job_id": "rt" } }, { "term": { "result_type": result_type } }
    ] } } });
    crate::support::search_hits(store, "tidewatch-results", &body)
        .into_iter()
        .map(|h| h["_source"].clone())
        .collect()
}

fn lookback(store: &dyn Store, clock: &ManualClock) -> runner::LookbackSummary {
    let range = runner::LookbackRange {
        clock,
        from: None,
        to: None,
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    runner::run_lookback_range(store, &job(), Some(runner::STATE_INDEX), &stop, &range)
        .expect("lookback")
}

/// What `results --exit-code` reads (interim left out unless asked).
fn alert_query(store: &dyn Store, include_interim: bool) -> Vec<Value> {
    let q = tidewatch::results::ResultsQuery {
        job_id: "rt".into(),
        result_type: tidewatch::results::ResultType::Record,
        min_score: 0.0,
        from: None,
        to: None,
        limit: None,
        include_interim,
    };
    tidewatch::results::fetch(store, "tidewatch-results", &q).expect("fetch")
}

#[test]
fn live_data_only_complete_buckets_are_final_and_late_data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("store");
    let days = 3 * 24 * 60 * MIN;
    let live = T0 + days; // the bucket in progress starts here
    load(&store, T0, live);
    // The bucket in progress so far: a burst in eu (a would-be alert) in its first 4 minutes.
    let burst: Vec<BulkDoc> = (0..400)
        .map(|i| BulkDoc {
            id: Some(format!("burst-{i}")),
            source: json!({ "@timestamp": format_millis(live + i * 500), "region": "eu" }),
        })
        .collect();
    store.bulk("events", burst).expect("bulk");
    store.refresh("events").expect("refresh");

    // now - query_delay (2m) = live + 4m: every final bucket ends by then.
    let clock = ManualClock::new(live + 6 * MIN);
    lookback(&store, &clock);
    let buckets = results_of(&store, "bucket");
    let (interim, finals): (Vec<_>, Vec<_>) =
        buckets.iter().partition(|b| b["is_interim"] == json!(true));
    assert_eq!(
        finals.len() as i64,
        days / SPAN,
        "every complete bucket, no more"
    );
    for b in &finals {
        let end = b["timestamp"].as_i64().expect("timestamp") + SPAN;
        assert!(
            end <= clock.now() - 2 * MIN,
            "final bucket ends after now - query_delay: {b}"
        );
    }
    assert_eq!(interim.len(), 1, "{interim:?}");
    assert_eq!(interim[0]["timestamp"], live);
    let with_interim = alert_query(&store, true);
    assert!(
        with_interim
            .iter()
            .any(|r| r["timestamp"] == live && r["is_interim"] == true),
        "the burst shows as an interim record when asked for"
    );
    assert!(
        alert_query(&store, false)
            .iter()
            .all(|r| r["timestamp"] != live),
        "the alert query never reports the interim bucket"
    );

    // Late documents for an analysed bucket, found by the next run of a new process.
    store
        .bulk("events", docs(live - 3 * SPAN, "us", 5, "late"))
        .expect("bulk");
    // The rest of the live bucket arrives; the bucket completes.
    store
        .bulk("events", docs(live, "us", 30, "rest"))
        .expect("bulk");
    store.refresh("events").expect("refresh");
    clock.set(live + SPAN + 3 * MIN);
    let summary = lookback(&store, &clock);
    assert_eq!(summary.buckets, 1, "exactly the completed bucket");
    let notes = annotations(&store);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["missing_docs_count"], 5);
    assert_eq!(notes[0]["timestamp"], live - 3 * SPAN);
    let stats = runner::load_stats(&store, runner::STATE_INDEX, "rt")
        .expect("stats")
        .expect("stats doc");
    let stats = runner::JobStats::from_doc(&stats);
    assert_eq!(stats.delayed_data_count, 5);
    assert_eq!(stats.delayed_buckets, vec![live - 3 * SPAN]);
    let done: Vec<Value> = results_of(&store, "bucket")
        .into_iter()
        .filter(|b| b["timestamp"] == live)
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["is_interim"], false);
    assert_eq!(
        done[0]["event_count"], 430,
        "the final result has the full count"
    );
    let stale: Vec<Value> = results_of(&store, "record")
        .into_iter()
        .chain(results_of(&store, "influencer"))
        .filter(|r| r["is_interim"] == true && r["timestamp"].as_i64() < Some(live + SPAN))
        .collect();
    assert!(stale.is_empty(), "interim results replaced: {stale:?}");
}

#[test]
fn a_future_dated_line_does_not_stop_later_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("store");
    let day = 24 * 60 * MIN;
    load(&store, T0, T0 + day);
    let future = BulkDoc {
        id: Some("future".into()),
        source: json!({ "@timestamp": format_millis(T0 + 180 * day), "region": "eu" }),
    };
    store.bulk("events", vec![future]).expect("bulk");
    store.refresh("events").expect("refresh");
    let clock = ManualClock::new(T0 + day + 10 * MIN);
    assert_eq!(lookback(&store, &clock).buckets as i64, day / SPAN);

    load(&store, T0 + day, T0 + 2 * day);
    clock.set(T0 + 2 * day + 10 * MIN);
    let second = lookback(&store, &clock);
    assert_eq!(
        second.buckets as i64,
        day / SPAN,
        "the next day is analysed"
    );
    let stats = runner::load_stats(&store, runner::STATE_INDEX, "rt")
        .expect("stats")
        .expect("stats doc");
    let stats = runner::JobStats::from_doc(&stats);
    assert_eq!(stats.empty_bucket_count, 0);
    assert_eq!(stats.latest_bucket_timestamp, Some(T0 + 2 * day - SPAN));
}

#[test]
fn lookback_range_analyses_exactly_from_to_and_resumes_where_it_overlaps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("store");
    let day = 24 * 60 * MIN;
    load(&store, T0, T0 + 2 * day);
    let clock = ManualClock::new(T0 + 3 * day);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let run = |from: i64, to: i64| {
        let range = runner::LookbackRange {
            clock: &clock,
            from: Some(from),
            to: Some(to),
        };
        runner::run_lookback_range(&store, &job(), Some(runner::STATE_INDEX), &stop, &range)
            .expect("lookback")
    };
    let first = run(T0 + 6 * SPAN, T0 + 10 * SPAN);
    assert_eq!(first.range, Some((T0 + 6 * SPAN, T0 + 9 * SPAN)));
    // Overlapping the checkpoint: resumes at T0+10 spans, no bucket twice.
    let second = run(T0 + 8 * SPAN, T0 + 12 * SPAN);
    assert_eq!(second.range, Some((T0 + 10 * SPAN, T0 + 11 * SPAN)));
    assert_eq!(results_of(&store, "bucket").len(), 6);
    assert!(results_of(&store, "bucket")
        .iter()
        .all(|b| b["is_interim"] == false));
}

#[test]
fn a_missing_source_index_is_an_error_not_an_empty_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("store");
    let clock = ManualClock::new(T0);
    let range = runner::LookbackRange {
        clock: &clock,
        from: None,
        to: None,
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let e = runner::run_lookback_range(&store, &job(), Some(runner::STATE_INDEX), &stop, &range)
        .expect_err("no index to read");
    assert!(
        e.to_string()
            .contains("source index `events` cannot be read"),
        "{e}"
    );
    assert_eq!(e.exit_code(), tidewatch::EXIT_UNAVAILABLE);
}
