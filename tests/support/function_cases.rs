//! Constructed series for Elastic's analysis functions, each with one planted anomaly whose
//! place is known: a never-seen URL (`rare`), a client hammering a rare URL (`freq_rare`),
//! a DNS tunnel's random subdomains (`high_info_content`), slow requests (`high_median`),
//! erratic latencies at the usual mean (`high_varp`), a minimum far below the usual while
//! the mean stays (`metric`), a login at 03:00 on a 9-to-5 series
//! (`time_of_day`) and on a Saturday (`time_of_week`), a login from Sydney by a user who
//! always logs in around Berlin (`lat_long`). Shared by the embedded-store test
//! (`tests/it/functions.rs`) and the cluster suites, which run them on a real engine.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::sync::atomic::AtomicBool;
use tidewatch::config::{self, Job};
use tidewatch::runner;
use tidewatch::store::{BulkDoc, Store};
use tidewatch::time::format_millis;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// Monday 2024-05-06T00:00:00Z.
pub const T0: i64 = 1_714_953_600_000;

/// One function on one constructed series.
pub struct Case {
    /// The job's id (and the name of the case).
    pub job_id: &'static str,
    /// The detector, as YAML lines under `detectors:`.
    pub detector: &'static str,
    /// The documents.
    pub docs: Vec<Value>,
    /// Where the worst record must be: its bucket and its by (or over) value.
    pub expected: (i64, &'static str),
    /// The least score it must have: frequency functions score a never-seen value by how
    /// much history says it is unlikely (a few days here), so often less than a metric many
    /// deviations away.
    pub min_score: i64,
    /// What the worst record's explanation must contain.
    pub explains: &'static str,
}

/// The index mapping the engines need (`keyword` strings, numbers, the time field).
pub fn mapping() -> Value {
    json!({
        "@timestamp": {"type": "date"}, "url": {"type": "keyword"},
        "client": {"type": "keyword"}, "domain": {"type": "keyword"},
        "sub": {"type": "keyword"}, "user": {"type": "keyword"},
        "latency": {"type": "double"}, "location": {"type": "geo_point"}
    })
}

fn doc(t: i64, fields: Value) -> Value {
    let mut d = fields;
    d["@timestamp"] = json!(format_millis(t));
    d
}

/// Every hour for `days` days, `per_hour(t)` documents.
fn hourly(days: i64, mut per_hour: impl FnMut(i64) -> Vec<Value>) -> Vec<Value> {
    (0..days * 24)
        .flat_map(|h| per_hour(T0 + h * HOUR))
        .collect()
}

fn rare_url() -> Case {
    let at = T0 + 6 * DAY + 14 * HOUR;
    let mut docs = hourly(7, |t| {
        // 30 requests an hour to three URLs.
        (0..30)
            .map(|i| {
                let url = ["/", "/login", "/cart"][i % 3];
                doc(
                    t + i as i64 * 60_000,
                    json!({"url": url, "client": "10.0.0.1"}),
                )
            })
            .collect()
    });
    docs.push(doc(
        at + 120_000,
        json!({"url": "/wp-admin.php", "client": "10.0.0.9"}),
    ));
    Case {
        job_id: "fn-rare",
        detector: "- function: rare\n      by_field_name: url",
        docs,
        expected: (at, "/wp-admin.php"),
        // Three URLs in every bucket for a week (4,900 documents before it): a new one is
        // about 8e-7, critical (50 while novelty was weighed per document only; after four
        // days 72, see `src/model/frequency.rs`).
        min_score: 75,
        explains: "rare: never seen before (1 document now)",
    }
}

fn freq_rare_client() -> Case {
    let at = T0 + 3 * DAY + 9 * HOUR;
    let mut docs = hourly(4, |t| {
        (0..6)
            .map(|c| {
                let url = if t % (5 * HOUR) == 0 && c == 0 {
                    "/export"
                } else {
                    "/"
                };
                doc(
                    t + c * 60_000,
                    json!({"url": url, "client": format!("10.0.0.{c}")}),
                )
            })
            .collect()
    });
    for i in 0..60 {
        docs.push(doc(
            at + i * 1000,
            json!({"url": "/export", "client": "10.0.0.3"}),
        ));
    }
    Case {
        job_id: "fn-freq-rare",
        detector: "- function: freq_rare\n      by_field_name: url\n      over_field_name: client",
        docs,
        expected: (at, "10.0.0.3"),
        min_score: 25,
        explains: "frequently rare: seen in 3.3% of documents before (60 documents now)",
    }
}

fn dns_tunnel() -> Case {
    let at = T0 + 3 * DAY + 2 * HOUR;
    let mut docs = hourly(4, |t| {
        let mut out = Vec::new();
        for (domain, subs) in [
            ("example.com", &["www", "mail", "api"][..]),
            ("corp.net", &["www", "vpn"][..]),
        ] {
            for s in subs {
                out.push(doc(t + 60_000, json!({"domain": domain, "sub": s})));
            }
        }
        out
    });
    // 40 subdomains of 32 pseudo-random hex digits: data leaving by DNS.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..40 {
        let mut s = String::new();
        for _ in 0..32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push(char::from_digit((x % 16) as u32, 16).unwrap_or('0'));
        }
        docs.push(doc(at + i * 1000, json!({"domain": "corp.net", "sub": s})));
    }
    Case {
        job_id: "fn-info-content",
        detector:
            "- function: high_info_content\n      field_name: sub\n      over_field_name: domain",
        docs,
        expected: (at, "corp.net"),
        min_score: 50,
        explains: "spike",
    }
}

/// Latencies per hour: `n` requests cycling through `values`.
fn latencies(t: i64, values: &[f64]) -> Vec<Value> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| doc(t + i as i64 * 60_000, json!({"latency": v})))
        .collect()
}

/// Four days of hourly latencies, `usual(wobble)` each hour (`wobble` cycling 0, 1, 2) and
/// `planted` in the bucket at `at`.
fn latency_series(at: i64, planted: &[f64], usual: impl Fn(f64) -> [f64; 5]) -> Vec<Value> {
    hourly(4, |t| {
        if t == at {
            latencies(t, planted)
        } else {
            latencies(t, &usual(((t / HOUR) % 3) as f64))
        }
    })
}

fn slow_median() -> Case {
    let at = T0 + 3 * DAY + 11 * HOUR;
    // One fast request does not hide that most are slow.
    let docs = latency_series(at, &[95.0, 410.0, 420.0, 430.0, 440.0], |w| {
        [90.0 + w, 95.0, 100.0 + w, 105.0, 2000.0]
    });
    Case {
        job_id: "fn-median",
        detector: "- function: high_median\n      field_name: latency",
        docs,
        expected: (at, ""),
        min_score: 50,
        explains: "spike: 4.1× higher than typical (420 vs",
    }
}

fn erratic_latency() -> Case {
    let at = T0 + 3 * DAY + 16 * HOUR;
    // The same mean, far wider spread.
    let docs = latency_series(at, &[10.0, 190.0, 20.0, 180.0, 100.0], |w| {
        [98.0 - w, 102.0 + w, 99.0, 101.0, 100.0]
    });
    Case {
        job_id: "fn-varp",
        detector: "- function: high_varp\n      field_name: latency",
        docs,
        expected: (at, ""),
        min_score: 50,
        explains: "(5800 vs",
    }
}

/// Logins of `user` every 15 minutes from 09:00 to 17:00 on weekdays, for `days` days.
fn office_hours(days: i64, user: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    for day in 0..days {
        if day % 7 >= 5 {
            continue;
        }
        for q in 0..32 {
            let t = T0 + day * DAY + 9 * HOUR + q * 900_000 + 60_000;
            docs.push(doc(t, json!({"user": user})));
        }
    }
    docs
}

fn night_login() -> Case {
    let at = T0 + 4 * DAY + 3 * HOUR;
    let mut docs = office_hours(5, "alice");
    docs.extend(office_hours(5, "bob"));
    docs.push(doc(at + 300_000, json!({"user": "bob"})));
    Case {
        job_id: "fn-time-of-day",
        detector: "- function: time_of_day\n      by_field_name: user",
        docs,
        expected: (at, "bob"),
        // One event an hour-long bucket: 32 earlier events, none near 03:00.
        min_score: 20,
        explains: "unusual time: 03:05 UTC (typically around 09:30)",
    }
}

fn weekend_login() -> Case {
    // Saturday noon of the second week: usual hours, unusual day.
    let at = T0 + 12 * DAY + 12 * HOUR;
    let mut docs = office_hours(12, "alice");
    docs.push(doc(at + 300_000, json!({"user": "alice"})));
    Case {
        job_id: "fn-time-of-week",
        detector: "- function: time_of_week\n      by_field_name: user",
        docs,
        expected: (at, "alice"),
        min_score: 20,
        explains: "unusual time: Sat 12:05 UTC (typically around Mon 09:30)",
    }
}

fn low_minimum() -> Case {
    let at = T0 + 3 * DAY + 7 * HOUR;
    // The mean as usual, the maximum a little high, the minimum far too low.
    let docs = latency_series(at, &[3.0, 130.0, 130.0, 130.0, 107.0], |w| {
        [98.0 - w, 101.0, 99.0, 102.0 + w, 100.0]
    });
    Case {
        job_id: "fn-metric",
        detector: "- function: metric\n      field_name: latency",
        docs,
        expected: (at, ""),
        min_score: 50,
        explains: "min: dip",
    }
}

/// A point near `(lat, lon)`: the `i`-th of a deterministic jitter of about ±0.25° (some
/// 25 km, GeoIP's city-level noise).
fn near(i: i64, (lat, lon): (f64, f64)) -> (f64, f64) {
    let a = ((i * 7919) % 101) as f64 / 100.0 - 0.5;
    let b = ((i * 104_729) % 97) as f64 / 96.0 - 0.5;
    (
        ((lat + 0.5 * a) * 1e4).round() / 1e4,
        ((lon + 0.5 * b) * 1e4).round() / 1e4,
    )
}

fn far_login() -> Case {
    let at = T0 + 4 * DAY + 10 * HOUR;
    let berlin = (52.52, 13.40);
    let new_york = (40.71, -74.0);
    let mut docs = hourly(5, |t| {
        let i = (t - T0) / HOUR;
        let (a, b) = near(i, berlin);
        let (c, d) = near(i + 1000, new_york);
        // carol's points as geo_point objects, dave's as "lat,lon" strings: both forms
        // Elasticsearch accepts. In the planted hour carol logs in from Sydney only (a
        // bucket's location is the centroid of its points: docs/jobs.md).
        let mut out = vec![doc(
            t + 120_000,
            json!({"user": "dave", "location": format!("{c},{d}")}),
        )];
        if t != at {
            out.push(doc(
                t + 60_000,
                json!({"user": "carol", "location": {"lat": a, "lon": b}}),
            ));
        }
        out
    });
    docs.push(doc(
        at + 300_000,
        json!({"user": "carol", "location": {"lat": -33.8688, "lon": 151.2093}}),
    ));
    Case {
        job_id: "fn-lat-long",
        detector: "- function: lat_long\n      field_name: location\n      by_field_name: user",
        docs,
        expected: (at, "carol"),
        min_score: 20,
        explains: "unusual location: 16",
    }
}

/// Every case.
pub fn cases() -> Vec<Case> {
    vec![
        rare_url(),
        freq_rare_client(),
        dns_tunnel(),
        slow_median(),
        erratic_latency(),
        low_minimum(),
        night_login(),
        weekend_login(),
        far_login(),
    ]
}

/// The case's job reading `index` and writing to `results`.
pub fn job(case: &Case, index: &str, results: &str) -> Job {
    let text = format!(
        "job_id: {}\nanalysis_config:\n  bucket_span: 1h\n  detectors:\n    {}\ndatafeed_config:\n  indices: [{index}]\nresults_index: {results}\n",
        case.job_id, case.detector
    );
    config::load_job_str(&format!("{}.yml", case.job_id), &text)
        .unwrap_or_else(|e| panic!("{}: {e}", case.job_id))
}

/// Loads the case's documents into `index` of `store`.
pub fn load(store: &dyn Store, index: &str, case: &Case) {
    let docs = case
        .docs
        .iter()
        .enumerate()
        .map(|(i, source)| BulkDoc {
            id: Some(format!("{}-{i}", case.job_id)),
            source: source.clone(),
        })
        .collect();
    let response = store.bulk(index, docs).expect("bulk");
    assert!(response.failed.is_empty(), "{:?}", response.failed);
    store.refresh(index).expect("refresh");
}

/// A record as the test compares them: time, by, over, score (rounded), explanation.
pub type Record = (i64, String, String, i64, String);

/// Runs the case's job over `index` and returns its records, worst first.
pub fn records(store: &dyn Store, job: &Job) -> Vec<Record> {
    let stop = AtomicBool::new(false);
    runner::run_lookback(store, job, None, &stop).expect("lookback");
    store.refresh(&job.results_index).expect("refresh results");
    let body = json!({
        "size": 1000,
        "query": {"bool": {"filter": [
            {"term": {"job_id": job.job_id}}, {"term": {"result_type": "record"}}
        ]}}
    });
    let resp = store
        .search(&job.results_index, &body)
        .expect("search results");
    let mut out: Vec<Record> = resp["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|h| {
            let d = &h["_source"];
            let text = |k: &str| d[k].as_str().unwrap_or_default().to_string();
            (
                d["timestamp"].as_i64().unwrap_or_default(),
                text("by_field_value"),
                text("over_field_value"),
                d["record_score"].as_f64().unwrap_or_default().round() as i64,
                text("explanation"),
            )
        })
        .collect();
    out.sort_by(|a, b| b.3.cmp(&a.3).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    out
}

/// Checks that the worst record of the case is the planted anomaly, scoring at least the
/// case's minimum; records tie-break on time, so a later echo (a glitch) does not count.
pub fn assert_finds_the_anomaly(case: &Case, records: &[Record]) {
    let worst = records
        .first()
        .unwrap_or_else(|| panic!("{}: no record", case.job_id));
    let (at, who) = case.expected;
    let split = if worst.2.is_empty() {
        &worst.1
    } else {
        &worst.2
    };
    assert_eq!(
        (worst.0, split.as_str()),
        (at, who),
        "{}: {records:#?}",
        case.job_id
    );
    assert!(worst.3 >= case.min_score, "{}: {records:#?}", case.job_id);
    assert!(
        worst.4.contains(case.explains),
        "{}: {records:#?}",
        case.job_id
    );
}
