//! Issue 16, part 1, on a real engine: mappings that work wherever the data is. An index
//! that dynamic mapping filled (strings as `text` with a `.keyword` sub-field), one whose
//! field is `text` only, and one `tidewatch ingest` created under a name no template matches.
//! The binary runs as a user would (`validate --store`, `run --once`, `status`), so what is
//! asserted is what a person reads.

use super::cases::unique;
use crate::support::engine::{engine, http, Engine};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use tidewatch::store::{BulkDoc, ElasticOptions, ElasticStore, Store};
use tidewatch::time::format_millis;

const T0: i64 = 1_714_953_600_000; // 2024-05-06T00:00:00Z
const ADDRESSES: [&str; 4] = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];

fn the_engine() -> &'static Engine {
    engine(super::KIND)
}

/// Four hours of requests from four addresses, one a minute each, times as ISO strings (so
/// dynamic mapping makes `@timestamp` a date and every string `text` + `.keyword`).
fn load(store: &ElasticStore, index: &str) {
    load_from(store, index, T0);
}

/// [`load`] from `t0` on.
fn load_from(store: &ElasticStore, index: &str, t0: i64) {
    let docs: Vec<BulkDoc> = (0..4 * 60)
        .flat_map(|m| {
            ADDRESSES.iter().map(move |a| BulkDoc {
                id: None,
                source: json!({
                    "@timestamp": format_millis(t0 + m * 60_000),
                    "source": { "address": a },
                    "url": { "original": format!("/p{}", m % 7) },
                }),
            })
        })
        .collect();
    let response = store.bulk(index, docs).expect("bulk");
    assert!(response.failed.is_empty(), "{:?}", response.failed);
    store.refresh(index).expect("refresh");
}

fn write_job(dir: &Path, job_id: &str, index: &str, split: &str) -> String {
    let jobs = dir.join(job_id);
    std::fs::create_dir_all(&jobs).expect("jobs dir");
    let yaml = format!(
        "job_id: {job_id}\nresults_index: tidewatch-results-{job_id}\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      by_field_name: {split}\n  influencers: [{split}, url.original]\ndatafeed_config:\n  indices: [{index}]\n  query_delay: 1m\nmodel_plot_config:\n  enabled: true\n"
    );
    std::fs::write(jobs.join("job.yml"), yaml).expect("job file");
    jobs.display().to_string()
}

fn tidewatch(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_tidewatch"))
        .args(["--store", url])
        .args(args)
        .env_remove("TIDEWATCH_STORE")
        .env("TIDEWATCH_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("run tidewatch");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A job split by a field dynamic mapping made `text` runs through `.keyword` (said in
/// `validate`, `status`); results name the job's own field and every address.
#[test]
fn a_text_field_with_a_keyword_sub_field_is_aggregated_through_it() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = ElasticStore::connect(url, ElasticOptions::default()).expect("connect");
    let index = unique("tw-dynamic");
    load(&store, &index);
    let dir = tempfile::tempdir().expect("tempdir");
    let job_id = unique("dyn").replace('-', "_");
    let jobs = write_job(dir.path(), &job_id, &index, "source.address");
    let note = format!(
        "{job_id}: `source.address` is `text` in `{index}`: reading it through `source.address.keyword`"
    );
    let (code, stdout, stderr) = tidewatch(url, &["validate", &jobs]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(&note), "{stdout}");
    assert!(
        stdout.contains("`url.original` is `text`"),
        "influencers too: {stdout}"
    );
    let (code, stdout, stderr) = tidewatch(url, &["run", "--once", "--jobs", &jobs]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("16 buckets, 4 partitions"), "{stdout}");
    let (code, stdout, stderr) = tidewatch(url, &["status", &job_id, "--jobs", &jobs]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(&note), "{stdout}");
    let results = format!("tidewatch-results-{job_id}");
    store.refresh(&results).expect("refresh");
    let body = json!({ "size": 0, "query": { "term": { "result_type": "model_plot" } },
        "aggs": { "by": { "terms": { "field": "by_field_value", "size": 10 } },
                  "name": { "terms": { "field": "by_field_name", "size": 10 } } } });
    let resp = store.search(&results, &body).expect("model plot");
    let keys = |agg: &str| -> Vec<String> {
        resp["aggregations"][agg]["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .filter_map(|b| b["key"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(keys("by"), ADDRESSES.to_vec());
    assert_eq!(keys("name"), vec!["source.address"]);
}

/// A field that is `text` only: `validate --store` and `run` fail naming the index, the field
/// and its type, before reading a bucket; the engine's own error, asked directly, carries its
/// root cause instead of `all shards failed` alone.
#[test]
fn a_text_only_field_fails_naming_index_field_and_type() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = ElasticStore::connect(url, ElasticOptions::default()).expect("connect");
    let index = unique("tw-text");
    let (status, body) = http(
        "PUT",
        &format!("{url}/{index}"),
        Some(&json!({
            "settings": { "number_of_shards": 1, "number_of_replicas": 0 },
            "mappings": { "properties": {
                "@timestamp": { "type": "date" },
                "source": { "properties": { "address": { "type": "text" } } },
                "url": { "properties": { "original": { "type": "keyword" } } }
            } }
        })),
    );
    assert_eq!(status, 200, "create {index}: {body}");
    load(&store, &index);
    let dir = tempfile::tempdir().expect("tempdir");
    let job_id = unique("txt").replace('-', "_");
    let jobs = write_job(dir.path(), &job_id, &index, "source.address");
    let problem = format!(
        "job `{job_id}`: analysis_config.detectors[0].by_field_name `source.address` cannot be aggregated: index `{index}` maps it as `text`; map it as `keyword` (or with a `source.address.keyword` sub-field) and re-index"
    );
    let (code, stdout, stderr) = tidewatch(url, &["validate", &jobs]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(&problem), "{stdout}");
    let (code, stdout, stderr) = tidewatch(url, &["run", "--once", "--jobs", &jobs]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains(&format!("error: {problem}")), "{stderr}");
    // The same job over a field in no index of it.
    let jobs = write_job(
        dir.path(),
        &format!("{job_id}_nowhere"),
        &index,
        "client.ip",
    );
    let (code, _, stderr) = tidewatch(url, &["run", "--once", "--jobs", &jobs]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "`client.ip` is in none of the job's indices (`{index}`)"
        )),
        "{stderr}"
    );
    // Asked anyway, the engine's refusal names its root cause and the index.
    let err = store
        .search(
            &index,
            &json!({ "size": 0, "aggs": { "a": { "terms": { "field": "source.address" } } } }),
        )
        .expect_err("terms on a text field");
    let text = err.to_string();
    assert!(
        text.contains("all shards failed (root cause: illegal_argument_exception: "),
        "{text}"
    );
    assert!(text.contains(&format!("[index `{index}`]")), "{text}");
    // In a `_msearch`, the same refusal is that item's error with the same root cause, and
    // the items beside it (one over a missing index) answer as `search` does.
    let bad = json!({ "size": 0, "aggs": { "a": { "terms": { "field": "source.address" } } } });
    let good = json!({ "size": 0, "track_total_hits": true });
    let missing = unique("tw-missing");
    let answers = store
        .msearch(&[(&index, &good), (&index, &bad), (&missing, &good)])
        .expect("msearch");
    assert_eq!(answers.len(), 3);
    let total = |a: &Result<serde_json::Value, _>| {
        a.as_ref()
            .ok()
            .and_then(|v| v.pointer("/hits/total/value")?.as_u64())
    };
    assert_eq!(
        total(&answers[0]),
        total(&Ok(store.search(&index, &good).expect("search")))
    );
    assert!(
        total(&answers[0]).is_some_and(|n| n > 0),
        "{:?}",
        answers[0]
    );
    let text = answers[1]
        .as_ref()
        .expect_err("terms on a text field")
        .to_string();
    assert!(
        text.contains("(root cause: illegal_argument_exception: "),
        "{text}"
    );
    assert!(text.contains(&format!("[index `{index}`]")), "{text}");
    assert_eq!(total(&answers[2]), Some(0), "{:?}", answers[2]);
}

/// `ingest --index` under a name no template matches creates the index with the ECS mapping
/// (so `source.address` is an `ip`, not `text`); into an index dynamic mapping made, it says
/// which fields will not aggregate and what jobs do about it.
#[test]
fn ingest_creates_any_index_with_the_ecs_mapping_and_checks_an_existing_one() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = ElasticStore::connect(url, ElasticOptions::default()).expect("connect");
    let dir = tempfile::tempdir().expect("tempdir");
    let log = access_log(dir.path());
    let index = unique("weblogs");
    let (code, stdout, stderr) = tidewatch(
        url,
        &["ingest", "--index", &index, &log.display().to_string()],
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let (status, mapping) = http("GET", &format!("{url}/{index}/_mapping"), None);
    assert_eq!(status, 200, "{mapping}");
    assert_eq!(
        mapping[&index]["mappings"]["properties"]["source"]["properties"]["address"]["type"],
        json!("ip"),
        "{mapping}"
    );
    let job_id = unique("ecs").replace('-', "_");
    let jobs = write_job(dir.path(), &job_id, &index, "source.address");
    let (code, stdout, stderr) = tidewatch(url, &["run", "--once", "--jobs", &jobs]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("16 buckets, 4 partitions"), "{stdout}");

    // An index that dynamic mapping made: every ECS keyword field is `text` + `.keyword`.
    let dynamic = unique("weblogs-dyn");
    load(&store, &dynamic);
    let warnings = tidewatch::ingest::prepare_index(&store, &dynamic).expect("prepare");
    let expected = format!(
        "index `{dynamic}` maps `source.address` as `text` (ECS: `ip`), which cannot be aggregated: jobs read it through `source.address.keyword`"
    );
    assert!(warnings.contains(&expected), "{warnings:#?}");
    // The index created above is mapped right: nothing to say.
    let none = tidewatch::ingest::prepare_index(&store, &index).expect("prepare");
    assert_eq!(none, Vec::<String>::new());
}

/// Four hours of combined-format lines, one a minute, from the four addresses in turn.
fn access_log(dir: &Path) -> std::path::PathBuf {
    let log = dir.join("access.log");
    let lines: String = (0..4 * 60)
        .map(|m| {
            let t = chrono::DateTime::from_timestamp_millis(T0 + m * 60_000).expect("time");
            format!(
                "{} - - [{}] \"GET /p{} HTTP/1.1\" 200 {} \"-\" \"curl/8.0\"\n",
                ADDRESSES[(m % 4) as usize],
                t.format("%d/%b/%Y:%H:%M:%S +0000"),
                m % 7,
                100 + m
            )
        })
        .collect();
    std::fs::write(&log, lines).expect("log");
    log
}

/// The ECS fields Filebeat's nginx module (`filebeat-*` indices) and Elastic Agent's nginx
/// integration (`logs-nginx.access-*` data streams) map for access logs: keywords, an `ip`
/// beside the keyword `source.address`, numbers, dates.
fn beats_mapping() -> Value {
    json!({ "properties": {
        "@timestamp": { "type": "date" },
        "event": { "properties": { "dataset": { "type": "keyword" }, "module": { "type": "keyword" } } },
        "source": { "properties": {
            "address": { "type": "keyword" }, "ip": { "type": "ip" },
            "geo": { "properties": { "country_iso_code": { "type": "keyword" } } } } },
        "url": { "properties": { "original": { "type": "keyword" } } },
        "http": { "properties": {
            "request": { "properties": { "method": { "type": "keyword" } } },
            "response": { "properties": { "status_code": { "type": "long" },
                "body": { "properties": { "bytes": { "type": "long" } } } } } } },
        "user_agent": { "properties": { "original": { "type": "keyword" } } }
    } })
}

/// A datafeed over an index pattern in Filebeat's layout (two daily indices) runs through
/// the keyword fields as they are; on OpenSearch, `ingest --index` writes into an Elastic
/// Agent style data stream (`op_type: create`, a re-run stores nothing twice) and a job over
/// `logs-nginx.access-*` reads it. (The Elasticsearch 7.17 test node runs without X-Pack,
/// which is where 7.x keeps data streams.)
#[test]
fn datafeeds_read_filebeat_indices_and_agent_data_streams() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = ElasticStore::connect(url, ElasticOptions::default()).expect("connect");
    let tag = unique("tw").replace('-', "");
    for day in ["2024.05.06", "2024.05.07"] {
        let index = format!("filebeat-{tag}-{day}");
        let (status, body) = http(
            "PUT",
            &format!("{url}/{index}"),
            Some(
                &json!({ "settings": { "number_of_shards": 1, "number_of_replicas": 0 },
                          "mappings": beats_mapping() }),
            ),
        );
        assert_eq!(status, 200, "create {index}: {body}");
    }
    // Two hours in each daily index, as Filebeat would have rolled them.
    let docs = |hours: std::ops::Range<i64>| -> Vec<BulkDoc> {
        (hours.start * 60..hours.end * 60)
            .map(|m| BulkDoc {
                id: None,
                source: json!({
                    "@timestamp": format_millis(T0 + m * 60_000),
                    "event": { "dataset": "nginx.access", "module": "nginx" },
                    "source": { "address": ADDRESSES[(m % 4) as usize], "ip": ADDRESSES[(m % 4) as usize] },
                    "url": { "original": format!("/p{}", m % 7) },
                    "http": { "response": { "status_code": 200 } },
                }),
            })
            .collect()
    };
    for (day, hours) in [("2024.05.06", 0..2), ("2024.05.07", 2..4)] {
        let index = format!("filebeat-{tag}-{day}");
        let r = store.bulk(&index, docs(hours)).expect("bulk");
        assert!(r.failed.is_empty(), "{:?}", r.failed);
        store.refresh(&index).expect("refresh");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let jobs = write_job(
        dir.path(),
        &format!("fb_{tag}"),
        &format!("\"filebeat-{tag}-*\""),
        "source.address",
    );
    let (code, stdout, stderr) = tidewatch(url, &["validate", &jobs]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("fields aggregate in"), "{stdout}");
    let (code, stdout, stderr) = tidewatch(url, &["run", "--once", "--jobs", &jobs]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("16 buckets, 4 partitions"), "{stdout}");

    if super::KIND == crate::support::engine::Kind::Elasticsearch {
        return;
    }
    let stream = format!("logs-nginx.access-{tag}");
    let (status, body) = http(
        "PUT",
        &format!("{url}/_index_template/{tag}-agent"),
        Some(
            &json!({ "index_patterns": [format!("logs-nginx.access-{tag}*")], "data_stream": {},
                      "priority": 300, "template": { "mappings": beats_mapping() } }),
        ),
    );
    assert_eq!(status, 200, "template: {body}");
    let log = access_log(dir.path()).display().to_string();
    for run in 0..2 {
        let (code, stdout, stderr) = tidewatch(url, &["ingest", "--index", &stream, &log]);
        assert_eq!(code, Some(0), "ingest {run}: {stdout}{stderr}");
        assert!(
            stdout.contains("Stored 240 of 240 lines"),
            "ingest {run}: {stdout}"
        );
    }
    let (status, body) = http("GET", &format!("{url}/_data_stream/{stream}"), None);
    assert_eq!(status, 200, "{body}");
    let count = store
        .search(&stream, &json!({ "size": 0, "track_total_hits": true }))
        .expect("count");
    assert_eq!(count["hits"]["total"]["value"], json!(240), "no duplicates");
    let jobs = write_job(
        dir.path(),
        &format!("ds_{tag}"),
        "\"logs-nginx.access-*\"",
        "source.address",
    );
    let (code, stdout, stderr) = tidewatch(url, &["run", "--once", "--jobs", &jobs]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("16 buckets, 4 partitions"), "{stdout}");
}

/// `_field_caps` through the store, as the datafeed reads it.
#[test]
fn field_caps_answer_in_elasticsearch_shape() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = ElasticStore::connect(url, ElasticOptions::default()).expect("connect");
    let index = unique("tw-caps");
    load(&store, &index);
    let caps = store
        .field_caps(
            &index,
            &[
                "source.address".into(),
                "source.address.keyword".into(),
                "nowhere".into(),
            ],
        )
        .expect("field caps");
    assert_eq!(caps["indices"], json!([index]));
    assert_eq!(
        caps["fields"]["source.address"]["text"]["aggregatable"],
        json!(false)
    );
    assert_eq!(
        caps["fields"]["source.address.keyword"]["keyword"]["aggregatable"],
        json!(true)
    );
    assert!(
        caps["fields"]
            .get("nowhere")
            .is_none_or(|f: &Value| f.get("unmapped").is_some()),
        "{caps}"
    );
}

/// Issue 19 on a real engine: `results --exit-code`, what a cron alert runs, exits 2 naming
/// the index when the results index is mistyped or closed, never 0 ("all quiet").
#[test]
fn results_on_a_mistyped_or_closed_results_index_exit_2() {
    skip_if_absent!();
    let url = &the_engine().url;
    let store = ElasticStore::connect(url, ElasticOptions::default()).expect("connect");
    let index = unique("tw-alert");
    // Ending now (to the bucket), so the job is not stale: staleness is its own exit 2.
    let now = chrono::Utc::now().timestamp_millis() / 900_000 * 900_000;
    load_from(&store, &index, now - 4 * 3_600_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let job_id = unique("alert").replace('-', "_");
    let jobs = write_job(dir.path(), &job_id, &index, "source.address.keyword");
    // Run every 15 minutes: the last complete bucket is then recent enough not to be stale.
    let file = Path::new(&jobs).join("job.yml");
    let yaml = std::fs::read_to_string(&file).expect("job file");
    let yaml = yaml.replace(
        "  query_delay: 1m\n",
        "  query_delay: 1m\n  frequency: 15m\n",
    );
    std::fs::write(&file, yaml).expect("job file");
    let (code, stdout, stderr) = tidewatch(url, &["run", "--once", "--jobs", &jobs]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let results = format!("tidewatch-results-{job_id}");
    let alert = |index: &str| {
        let args = [
            "results",
            &job_id,
            "--jobs",
            &jobs,
            "--exit-code",
            "--index",
            index,
        ];
        tidewatch(url, &args)
    };
    let (code, stdout, stderr) = alert(&results);
    assert!(
        matches!(code, Some(0 | 3)),
        "readable: {code:?} {stdout}{stderr}"
    );
    let mistyped = format!("{results}-resluts");
    let (code, stdout, stderr) = alert(&mistyped);
    assert_eq!(code, Some(2), "mistyped: {stdout}{stderr}");
    assert!(
        stderr.contains(&format!("`{mistyped}` does not exist")),
        "{stderr}"
    );
    let (status, body) = http("POST", &format!("{url}/{results}/_close"), None);
    assert_eq!(status, 200, "close {results}: {body}");
    let (code, stdout, stderr) = alert(&results);
    assert_eq!(code, Some(2), "closed: {stdout}{stderr}");
    assert!(stderr.contains("closed"), "{stderr}");
}
