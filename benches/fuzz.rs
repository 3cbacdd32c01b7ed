//! Fuzz harness that runs on stable Rust (issue 19): a seeded generator and mutator over
//! seed corpora read from `../shared/data` (and the repository's own job files), driving
//! the parsers that take user input. Each execution runs under `catch_unwind`; a panic is a
//! crash, saved under `target/fuzz/crashes/` with its input. Not part of `cargo test`.
//!
//! ```sh
//! cargo bench --bench fuzz -- TARGET EXECUTIONS [SEED]
//! bash scripts/fuzz.sh 1000000        # every target, 1 M executions each
//! ```
//!
//! Targets: `log_format` (the nginx `log_format` compiler and the line parser), `job` (the
//! YAML job loader and its checks), `files` (filter lists and calendars loaded with the jobs
//! that use them), `import` (the Elastic ML job/datafeed JSON importer),
//! `query` (the embedded store's query, aggregation and `query_string` parser and
//! evaluator), `detect_csv` (the CSV reader of `detect`, with its warnings and span
//! inference), `detect_score` (the same, then the model scores the rows: it reaches the
//! model, whose 1e308 overflow is open, see docs/reliability.md).

#[path = "../tests/support/shared_data.rs"]
#[allow(dead_code)]
mod shared_data;

use serde_json::json;
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tidewatch::store::{BulkDoc, EmbeddedStore, Store};

/// xorshift64*: small, fast, and the same sequence for the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that reach deeper into the parsers than random bytes do.
const DICT: &[&str] = &[
    "\"",
    "\\",
    "[",
    "]",
    "{",
    "}",
    ":",
    ",",
    "\n",
    "\r\n",
    "-",
    " - ",
    "$",
    "${",
    "}",
    "$remote_addr",
    "$time_local",
    "$request",
    "$status",
    "$http_user_agent",
    "$request_time",
    "$time_iso8601",
    "1e308",
    "-1e308",
    "NaN",
    "inf",
    "-0",
    "99999999999999999999",
    "18446744073709551616",
    "9223372036854775808",
    "0x10",
    "\u{feff}",
    "\u{0}",
    "é",
    "\u{10FFFF}",
    "2024-02-30T25:61:61Z",
    "1970-01-01T00:00:00Z",
    "[17/May/2015:08:05:32 +0000]",
    "*",
    "?",
    "AND",
    "OR",
    "NOT",
    "TO",
    "_exists_:",
    "field:",
    "\"match_all\":{}",
    "\"bool\":",
    "\"range\":",
    "\"aggs\":",
    "\"composite\":",
    "\"date_histogram\":",
    "\"terms\":",
    "\"size\":",
    "\"sort\":",
    "\"query_string\":",
    "\"search_after\":",
    "&a",
    "*a",
    "!!binary",
    "---",
    "- ",
    ": ",
    "  ",
    "\t",
    "~",
    "null",
    "true",
    "[[[[[[[[",
    "bucket_span: ",
    "function: ",
    "by_field_name: ",
    "over_field_name: ",
    "schedule: ",
    "filter_id: ",
    "calendar_id: ",
    "job_ids: ",
    "items: ",
    "events: ",
    "start_time: ",
    "end_time: ",
    "duration: ",
    "time_zone: ",
    "filter_type: exclude",
    "\0",
];

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(9) {
            0 if len > 0 => data[rng.below(len)] ^= 1 << rng.below(8),
            1 if len > 0 => data[rng.below(len)] = rng.next() as u8,
            2 => data.insert(rng.below(len + 1), rng.next() as u8),
            3 if len > 0 => {
                let at = rng.below(len);
                let n = rng.below((len - at).min(64) + 1);
                data.drain(at..at + n);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let n = rng.below((len - at).min(64) + 1);
                let piece = data[at..at + n].to_vec();
                let to = rng.below(len + 1);
                data.splice(to..to, piece);
            }
            5 | 6 => {
                let tok = DICT[rng.below(DICT.len())].as_bytes();
                let to = rng.below(len + 1);
                data.splice(to..to, tok.iter().copied());
            }
            7 => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                let to = rng.below(len + 1);
                data.truncate(to);
                data.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => data.truncate(rng.below(len)),
            _ => {}
        }
    }
    data.truncate(1 << 16);
    data
}

fn shared() -> PathBuf {
    shared_data::shared_data()
}

fn read_maybe_gz(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let _ = flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out);
        out
    } else {
        raw
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The first `n` lines of a file, each a corpus entry.
fn lines_of(path: &Path, n: usize) -> Vec<Vec<u8>> {
    read_maybe_gz(path)
        .split(|&b| b == b'\n')
        .take(n)
        .map(<[u8]>::to_vec)
        .collect()
}

/// What a target runs on every input.
type Run = Box<dyn FnMut(&[u8])>;

/// One target: its seed corpus, the function run on every input, and whether its inputs
/// are JSON (then half the mutations are made on the parsed tree, so they stay JSON).
struct Target {
    corpus: Vec<Vec<u8>>,
    run: Run,
    json: bool,
}

/// Values that JSON mutations put in place of others.
fn json_token(rng: &mut Rng) -> serde_json::Value {
    let tokens = [
        json!(null),
        json!(true),
        json!(-1),
        json!(0),
        json!(1e308),
        json!(-1e308),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(0.5),
        json!(""),
        json!("*"),
        json!("now-15m"),
        json!("2024-02-30"),
        json!("a:b OR (c"),
        json!([]),
        json!({}),
        json!([1, "x", null]),
        json!({"match_all": {}}),
        json!({"terms": {"field": "bytes"}}),
        json!({"date_histogram": {"field": "@timestamp", "fixed_interval": "1ms"}}),
        json!("asc"),
        json!("desc"),
        json!("_count"),
        json!("http.response.status_code"),
    ];
    tokens[rng.below(tokens.len())].clone()
}

/// Replaces, removes or copies one node of a JSON tree, chosen at random depth.
fn mutate_json(rng: &mut Rng, v: &mut serde_json::Value, donor: &serde_json::Value) {
    use serde_json::Value;
    let stop = rng.below(4) == 0;
    match v {
        Value::Object(map) if !map.is_empty() && !stop => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys[rng.below(keys.len())].clone();
            match rng.below(6) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    let val = map[&key].clone();
                    let new_key = DICT[rng.below(DICT.len())]
                        .trim_matches(|c| c == '"' || c == ':')
                        .to_string();
                    map.insert(new_key, val);
                }
                _ => mutate_json(rng, map.get_mut(&key).expect("key"), donor),
            }
        }
        Value::Array(items) if !items.is_empty() && !stop => {
            let i = rng.below(items.len());
            match rng.below(5) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copy = items[i].clone();
                    items.push(copy);
                }
                _ => mutate_json(rng, &mut items[i], donor),
            }
        }
        _ => {
            *v = match rng.below(3) {
                0 => donor.clone(),
                _ => json_token(rng),
            }
        }
    }
}

fn log_format_target() -> Target {
    let mut corpus = Vec::new();
    for f in [
        "nginx_access_elastic_example.log.gz",
        "apache_access_semicomplete.log.gz",
        "ssh_auth.log.gz",
    ] {
        corpus.extend(lines_of(&shared().join("logs").join(f), 300));
    }
    let formats = [
        tidewatch::ingest::COMBINED.to_string(),
        r#"$remote_addr [$time_iso8601] "$request" $status $bytes_sent rt=$request_time urt="$upstream_response_time" cc=${geoip2_data_country_code} $connection_requests"#.to_string(),
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$geoip_country_code""#.to_string(),
    ];
    // Format strings are entries too (prefixed with `F`): they are compiled, then parse lines.
    corpus.extend(formats.iter().map(|f| format!("F{f}").into_bytes()));
    let combined = tidewatch::ingest::LogFormat::named("combined").expect("combined compiles");
    let lines: Vec<String> = corpus
        .iter()
        .take(50)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    Target {
        corpus,
        json: false,
        run: Box::new(move |input| {
            let text = String::from_utf8_lossy(input);
            match text.strip_prefix('F') {
                Some(format) => {
                    if let Ok(f) = tidewatch::ingest::LogFormat::compile(format) {
                        for l in &lines {
                            let _ = f.parse_line(l);
                        }
                    }
                }
                None => {
                    let _ = combined.parse_line(&text);
                }
            }
        }),
    }
}

fn job_target() -> Target {
    let mut files = Vec::new();
    files_under(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs"),
        &mut files,
    );
    let corpus = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .map(|p| std::fs::read(p).expect("job file"))
        .collect();
    Target {
        corpus,
        json: false,
        run: Box::new(|input| {
            let _ = tidewatch::config::load_job_str("fuzz.yml", &String::from_utf8_lossy(input));
        }),
    }
}

/// The YAML blocks of docs/jobs.md that start with a `# jobs/NAME.yml` comment and hold
/// `key` (the repository's example filter lists and calendars).
fn doc_examples(key: &str) -> Vec<String> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/jobs.md"))
        .expect("docs/jobs.md");
    doc.split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.starts_with("# jobs/") && b.contains(key))
        .map(str::to_string)
        .collect()
}

/// The filter-list and calendar loader (`config/files.rs`) with the jobs that use them: an
/// entry is a filter list, a calendar and a job file separated by NULs, loaded together as
/// three files of one (missing, so never listed) jobs directory.
fn files_target() -> Target {
    let mut filters = doc_examples("filter_id:");
    filters.push("filter_id: ips\nitems: [\"10.*\"]\n".into());
    let mut calendars = doc_examples("calendar_id:");
    calendars.push("calendar_id: cal\njob_ids: [web]\nevents:\n  - {description: a, start_time: 1714953600000, end_time: \"2024-05-06T01:00:00Z\"}\n  - {description: b, schedule: \"0 2 * * 0\", duration: 2h}\n".into());
    calendars.push("calendar_id: cal\njob_ids: [nobody]\nevents: []\n".into());
    let jobs = [
        "job_id: web\ngroups: [web]\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: high_count\n      over_field_name: source.address\n      custom_rules:\n        - actions: [skip_result, skip_model_update]\n          scope:\n            source.address: {filter_id: scanners, filter_type: include}\n        - actions: [skip_result]\n          conditions:\n            - {applies_to: actual, operator: lt, value: 50}\ndatafeed_config:\n  indices: [logs]\n",
        "job_id: nginx-requests\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      by_field_name: ip\n      custom_rules: [{scope: {ip: {filter_id: ips}}}]\ndatafeed_config:\n  indices: [logs]\n",
    ];
    let mut corpus = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        for (j, c) in calendars.iter().enumerate() {
            let job = jobs[(i + j) % jobs.len()];
            corpus.push(format!("{f}\0{c}\0{job}").into_bytes());
        }
    }
    let dir = Path::new("/nonexistent-tidewatch-fuzz/jobs");
    let names = ["filter.yml", "calendar.yml", "job.yml", "more.yml"];
    Target {
        corpus,
        json: false,
        run: Box::new(move |input| {
            let text = String::from_utf8_lossy(input);
            let texts: Vec<(PathBuf, String)> = text
                .split('\0')
                .zip(names)
                .map(|(t, n)| (dir.join(n), t.to_string()))
                .collect();
            let _ = tidewatch::config::load_texts(&texts);
        }),
    }
}

fn import_target() -> Target {
    let mut files = Vec::new();
    files_under(&shared().join("elastic-recipes"), &mut files);
    // One entry per recipe: the job JSON, a NUL, the datafeed JSON.
    let mut corpus = Vec::new();
    for job in files.iter().filter(|p| p.ends_with("job.json")) {
        let mut entry = std::fs::read(job).expect("job.json");
        if let Ok(feed) = std::fs::read(job.with_file_name("data_feed.json")) {
            entry.push(0);
            entry.extend(feed);
        }
        corpus.push(entry);
    }
    Target {
        corpus,
        json: false,
        run: Box::new(|input| {
            let text = String::from_utf8_lossy(input);
            let (job, feed) = match text.split_once('\0') {
                Some((j, f)) => (j, Some(f)),
                None => (&*text, None),
            };
            if let Ok(yaml) = tidewatch::config::import_elastic(job, feed) {
                let _ = tidewatch::config::load_job_str("imported.yml", &yaml);
            }
        }),
    }
}

fn query_target(dir: &Path) -> Target {
    let store = EmbeddedStore::open(dir).expect("fuzz store");
    let statuses = [200, 404, 503];
    let docs = (0..200)
        .map(|i| BulkDoc {
            id: Some(format!("d{i}")),
            source: json!({
                "@timestamp": tidewatch::time::format_millis(1_700_000_000_000 + i * 60_000),
                "http": { "response": { "status_code": statuses[i as usize % 3] } },
                "source": { "address": format!("10.0.0.{}", i % 7) },
                "bytes": i * 13 % 997, "ratio": i as f64 / 7.0, "tags": ["a", "b"],
                "msg": if i % 5 == 0 { json!(null) } else { json!(format!("GET /p/{i}")) },
            }),
        })
        .collect();
    store.bulk("logs", docs).expect("fuzz docs");
    let bodies = [
        json!({"query": {"match_all": {}}, "size": 3, "sort": [{"@timestamp": "desc"}]}),
        json!({"size": 0, "aggs": {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "15m", "min_doc_count": 0}, "aggs": {"s": {"terms": {"field": "http.response.status_code", "size": 5}}}}}}),
        json!({"size": 0, "aggs": {"c": {"composite": {"size": 10, "sources": [{"b": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}}}, {"s": {"terms": {"field": "source.address"}}}]}, "aggs": {"m": {"max": {"field": "bytes"}}, "d": {"cardinality": {"field": "msg"}}}}}}),
        json!({"query": {"bool": {"filter": [{"range": {"@timestamp": {"gte": "now-10y", "lt": "2030-01-01"}}}, {"term": {"http.response.status_code": "503"}}], "must_not": [{"exists": {"field": "msg"}}], "should": [{"prefix": {"msg": "GET"}}, {"wildcard": {"msg": "*p/1*"}}], "minimum_should_match": "50%"}}}),
        json!({"query": {"query_string": {"query": "http.response.status_code:(404 OR 503) AND NOT source.address:10.0.0.1 AND bytes:[10 TO 500] AND _exists_:msg"}}}),
        json!({"size": 0, "aggs": {"p": {"percentiles": {"field": "ratio", "percents": [50, 99]}}, "h": {"histogram": {"field": "bytes", "interval": 100}}, "f": {"filters": {"filters": {"a": {"term": {"tags": "a"}}}, "other_bucket": true}}, "mb": {"max_bucket": {"buckets_path": "h>_count"}}}}),
        json!({"size": 2, "sort": ["bytes", {"_id": "asc"}], "search_after": [100, "d1"], "_source": ["bytes"], "track_total_hits": true}),
        json!({"size": 0, "aggs": {"t": {"terms": {"field": "source.address", "include": {"partition": 1, "num_partitions": 3}, "order": {"m": "desc"}}, "aggs": {"m": {"avg": {"field": "bytes"}}, "top": {"top_hits": {"size": 1, "sort": [{"bytes": "desc"}]}}}}}}),
    ];
    let corpus = bodies.iter().map(|b| b.to_string().into_bytes()).collect();
    Target {
        corpus,
        json: true,
        run: Box::new(move |input| {
            if let Ok(body) = serde_json::from_slice::<serde_json::Value>(input) {
                let _ = store.search("logs", &body);
                let _ = store.search("l*,logs", &body);
            }
        }),
    }
}

fn detect_csv_target(score: bool) -> Target {
    let mut files = Vec::new();
    files_under(&shared().join("kpi"), &mut files);
    files_under(&shared().join("cloud-monitoring"), &mut files);
    files_under(&shared().join("nasa"), &mut files);
    let corpus = files
        .iter()
        .filter(|p| !p.ends_with("LICENSE"))
        .step_by(3)
        .map(|p| {
            let mut lines = lines_of(p, 120);
            lines.iter_mut().for_each(|l| l.push(b'\n'));
            lines.concat()
        })
        .collect();
    Target {
        corpus,
        json: false,
        run: Box::new(move |input| {
            let name = Path::new("fuzz.csv");
            for (t, v) in [("timestamp", "value"), ("timestamp", "requests")] {
                if let Ok(s) = tidewatch::detect::parse_series(name, input, t, v) {
                    let _ = s.notes.warnings(name);
                    let times: Vec<i64> = s.rows.iter().map(|r| r.time).collect();
                    let span = tidewatch::detect::infer_span(&times);
                    if score {
                        let cfg = tidewatch::detect::series_config(
                            tidewatch::detect::SeriesFunction::Mean,
                            span,
                        );
                        let _ = tidewatch::detect::score_rows(&s.rows, &cfg);
                    }
                }
            }
        }),
    }
}

/// An execution slower than this has its input saved under `target/fuzz/slow/`.
const SLOW: Duration = Duration::from_secs(1);

struct Report {
    executions: u64,
    crashes: u64,
    slowest: Duration,
    elapsed: Duration,
}

fn fuzz(name: &str, mut target: Target, executions: u64, seed: u64) -> Report {
    let crash_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz/crashes");
    let mut rng = Rng(seed.max(1));
    let started = Instant::now();
    let mut report = Report {
        executions: 0,
        crashes: 0,
        slowest: Duration::ZERO,
        elapsed: Duration::ZERO,
    };
    // Every seed as it is first, then mutations.
    let seeds = target.corpus.clone();
    for i in 0..executions {
        let input = match seeds.get(i as usize) {
            Some(s) => s.clone(),
            None if target.json && rng.below(2) == 0 => {
                let pick = |rng: &mut Rng| {
                    serde_json::from_slice(&seeds[rng.below(seeds.len())]).unwrap_or_default()
                };
                let mut tree: serde_json::Value = pick(&mut rng);
                let donor: serde_json::Value = pick(&mut rng);
                for _ in 0..1 + rng.below(3) {
                    mutate_json(&mut rng, &mut tree, &donor);
                }
                tree.to_string().into_bytes()
            }
            None => mutate(&mut rng, &target.corpus),
        };
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        let took = t.elapsed();
        report.slowest = report.slowest.max(took);
        if took > SLOW {
            let dir = crash_dir.with_file_name("slow");
            std::fs::create_dir_all(&dir).expect("slow dir");
            let file = dir.join(format!("{name}-{seed}-{i}.bin"));
            std::fs::write(&file, &input).expect("save slow input");
            eprintln!(
                "{name}: execution {i} took {took:?}, input saved to {}",
                file.display()
            );
        }
        report.executions += 1;
        if outcome.is_err() {
            report.crashes += 1;
            std::fs::create_dir_all(&crash_dir).expect("crash dir");
            let file = crash_dir.join(format!("{name}-{seed}-{i}.bin"));
            std::fs::write(&file, &input).expect("save crash");
            eprintln!(
                "{name}: crash at execution {i}, input saved to {}",
                file.display()
            );
        }
        if i > 0 && i % 1_000_000 == 0 {
            eprintln!(
                "{name}: {i} executions, {} crashes, {:.0}/s",
                report.crashes,
                i as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    report.elapsed = started.elapsed();
    report
}

fn main() {
    // `cargo bench` passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let target = args.first().map_or("all", String::as_str);
    let executions: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(0x5eed);
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "panic at {at}: {}",
            info.payload().downcast_ref::<String>().map_or_else(
                || info
                    .payload()
                    .downcast_ref::<&str>()
                    .copied()
                    .unwrap_or("?")
                    .to_string(),
                Clone::clone,
            )
        );
    }));
    let tmp = tempfile::tempdir().expect("tmp");
    let names: Vec<&str> = match target {
        "all" => vec![
            "log_format",
            "job",
            "files",
            "import",
            "query",
            "detect_csv",
        ],
        one => vec![one],
    };
    for name in names {
        let t = match name {
            "log_format" => log_format_target(),
            "job" => job_target(),
            "files" => files_target(),
            "import" => import_target(),
            "query" => query_target(&tmp.path().join("store")),
            "detect_csv" => detect_csv_target(false),
            "detect_score" => detect_csv_target(true),
            other => {
                eprintln!("unknown target `{other}`; expected log_format, job, files, import, query, detect_csv, detect_score or all");
                std::process::exit(1);
            }
        };
        let seeds = t.corpus.len();
        let r = fuzz(name, t, executions, seed);
        println!(
            "{name}: {} executions from {seeds} seeds (seed {seed}), {} crashes, {:.1}s, {:.0}/s, slowest input {:.1} ms",
            r.executions,
            r.crashes,
            r.elapsed.as_secs_f64(),
            r.executions as f64 / r.elapsed.as_secs_f64().max(1e-9),
            r.slowest.as_secs_f64() * 1e3
        );
    }
}
