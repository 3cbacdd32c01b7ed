//! Hostile and careless input against the `tidewatch` binary (issue 19): every case asserts
//! the exact exit status (0 ok, 1 usage or validation, 2 could not read or write what was
//! needed, 3 `--exit-code` matched) and the one line that says what and where.
//!
//! One small embedded store is built once per test binary: a `fresh` job whose data reaches
//! the present, a `stale` job whose data (and so its last bucket) ended three hours ago, an
//! `idle` job that never ran, and copies of the store: one with a results record corrupted,
//! one with a log record corrupted, and one whose last records were torn by a crash.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;
use tidewatch::store::{BulkDoc, EmbeddedStore, Store};

struct Fixture {
    /// Keeps the directory alive for the whole test binary.
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// Where the corrupted results record is (`file:line (byte offset)`).
    results_bad: String,
    /// Where the corrupted log record is.
    logs_bad: String,
}

impl Fixture {
    fn store(&self) -> String {
        format!("embedded:{}", self.root.join("store").display())
    }
    fn corrupt(&self) -> String {
        format!("embedded:{}", self.root.join("corrupt").display())
    }
    fn jobs(&self) -> String {
        self.root.join("jobs").display().to_string()
    }
}

fn job_yaml(id: &str, index: &str) -> String {
    format!(
        "job_id: {id}\nanalysis_config:\n  bucket_span: 1m\n  detectors:\n    - function: count\n\
         data_description:\n  time_field: \"@timestamp\"\ndatafeed_config:\n  indices: [{index}]\n  \
         query_delay: 1m\n  frequency: 10m\n"
    )
}

/// A log document a minute for two hours, the last one `end_ago_ms` before now.
fn minute_docs(end_ago_ms: i64) -> Vec<BulkDoc> {
    let now = chrono::Utc::now().timestamp_millis();
    let last = now - end_ago_ms;
    (0..120)
        .map(|i| BulkDoc {
            id: Some(format!("d{i}")),
            source: json!({
                "@timestamp": tidewatch::time::format_millis(last - (119 - i) * 60_000),
                "message": "GET /",
            }),
        })
        .collect()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().to_path_buf();
        let jobs = root.join("jobs");
        std::fs::create_dir_all(&jobs).expect("jobs dir");
        for (id, index) in [
            ("fresh", "logs-fresh"),
            ("stale", "logs-stale"),
            ("idle", "logs-idle"),
        ] {
            std::fs::write(jobs.join(format!("{id}.yml")), job_yaml(id, index)).expect("job");
        }
        let dir = root.join("store");
        {
            let store = EmbeddedStore::open(&dir).expect("open store");
            store.bulk("logs-fresh", minute_docs(60_000)).expect("bulk");
            store
                .bulk("logs-stale", minute_docs(3 * 3_600_000))
                .expect("bulk");
            let all = tidewatch::config::load_jobs(std::slice::from_ref(&jobs)).expect("jobs load");
            let stop = AtomicBool::new(false);
            for job in all.iter().filter(|j| j.job_id != "idle") {
                tidewatch::runner::run_lookback(
                    &store,
                    job,
                    Some(tidewatch::runner::STATE_INDEX),
                    &stop,
                )
                .expect("lookback");
            }
        }
        write_inputs(&root);
        copy_dir(&dir, &root.join("corrupt"));
        let results_bad = corrupt_record(&root.join("corrupt/indices/tidewatch-results"), 2);
        copy_dir(&dir, &root.join("corrupt-logs"));
        let logs_bad = corrupt_record(&root.join("corrupt-logs/indices/logs-fresh"), 60);
        copy_dir(&dir, &root.join("torn"));
        for index in ["tidewatch-results", "logs-fresh"] {
            tear_last_record(&root.join("torn/indices").join(index));
        }
        Fixture {
            _tmp: tmp,
            root,
            results_bad,
            logs_bad,
        }
    })
}

/// Job files that must not validate, and inputs for `detect` and `ingest`.
fn write_inputs(root: &Path) {
    let bad = root.join("bad-jobs");
    std::fs::create_dir_all(&bad).expect("mkdir");
    let base = job_yaml("x", "logs-fresh");
    let w = |name: &str, text: String| std::fs::write(bad.join(name), text).expect("write");
    w(
        "never.yml",
        format!("{base}schedule: '0 0 30 2 *'\n").replace("  frequency: 10m\n", ""),
    );
    w("self.yml", format!("{base}results_index: logs-fresh\n"));
    w(
        "pattern.yml",
        base.replace("[logs-fresh]", "[\"logs-*\"]") + "results_index: logs-results\n",
    );
    w(
        "span.yml",
        base.replace("bucket_span: 1m", "bucket_span: 1000000w"),
    );
    w(
        "nowhere.yml",
        base.replace(
            "- function: count\n",
            "- function: count\n      by_field_name: client.nowhere\n",
        ),
    );
    let mut csv = String::from("timestamp,value\n");
    for (i, v) in ["1", "NaN", "inf", "", "abc", "-inf", "2"]
        .iter()
        .enumerate()
    {
        csv.push_str(&format!("{},{v}\n", 1_600_000_000 + i * 60));
    }
    csv.push_str("1600000000,3\n1600000360,4\n2020-09-13T12:35:00Z,5\n");
    std::fs::write(root.join("untidy.csv"), csv).expect("csv");
    let gz = std::fs::read(
        crate::support::shared_data().join("logs/nginx_access_elastic_example.log.gz"),
    )
    .expect("shared log");
    std::fs::write(root.join("truncated.log.gz"), &gz[..20_000]).expect("truncated");
    let binary: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(root.join("binary.bin"), binary).expect("binary");
    std::fs::write(root.join("empty.log"), "").expect("empty");
    write_hostile_yaml(&root.join("hostile-yaml"));
}

/// Job files an attacker would write: a billion-laughs alias bomb, lists and mappings nested
/// 100,000 and 50,000 deep, and bytes that are not UTF-8.
fn write_hostile_yaml(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut laughs =
        vec![r#"a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#.to_string()];
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        laughs.push(format!("{}: &{} [{refs}]", w[1], w[1]));
    }
    laughs.push("job_id: x\n".into());
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).expect("write");
    w("laughs.yml", laughs.join("\n").as_bytes());
    let deep = format!("job_id: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    w("deep-list.yml", deep.as_bytes());
    let deep = format!(
        "job_id: x\nanalysis_config: {}1{}\n",
        "{a: ".repeat(50_000),
        "}".repeat(50_000)
    );
    w("deep-map.yml", deep.as_bytes());
    w(
        "not-utf8.yml",
        b"job_id: x\xff\xfe\nanalysis_config:\n  bucket_span: 15m\n",
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// The segment files of an index, in order.
fn segments(index_dir: &Path) -> Vec<PathBuf> {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(index_dir)
        .expect("index dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seg-"))
        })
        .collect();
    segs.sort();
    segs
}

/// Flips one byte inside record `n` (1-based) of the index's first segment, which must not
/// be its last record (that would read as a torn write); returns `file:line (byte offset)`.
fn corrupt_record(index_dir: &Path, n: usize) -> String {
    let seg = &segments(index_dir)[0];
    let mut bytes = std::fs::read(seg).expect("segment");
    let ends: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i)
        .collect();
    assert!(n < ends.len(), "more than {n} records in {seg:?}");
    let start = if n == 1 { 0 } else { ends[n - 2] + 1 };
    bytes[ends[n - 1] - 3] ^= 0x20;
    std::fs::write(seg, bytes).expect("write segment");
    format!("{}:{n} (byte {start})", seg.display())
}

/// Cuts the last record of the index's last segment in half, as kill -9 in the middle of a
/// write leaves it.
fn tear_last_record(index_dir: &Path) {
    let seg = segments(index_dir).pop().expect("a segment");
    let mut bytes = std::fs::read(&seg).expect("segment");
    bytes.pop();
    let start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(start + (bytes.len() - start) / 2);
    std::fs::write(&seg, bytes).expect("write segment");
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tidewatch"));
    c.env_remove("TIDEWATCH_STORE")
        .env("TIDEWATCH_LOG", "error");
    c
}

/// Fills `{store}`, `{corrupt}`, `{corrupt-logs}`, `{torn}`, `{jobs}`, `{root}`, `{data}`,
/// and where the corrupt records are (`{results-bad}`, `{logs-bad}`), in an argument or an
/// expected message.
fn fill(arg: &str, f: &Fixture) -> String {
    let embedded = |name: &str| format!("embedded:{}", f.root.join(name).display());
    arg.replace("{store}", &f.store())
        .replace("{corrupt}", &f.corrupt())
        .replace("{corrupt-logs}", &embedded("corrupt-logs"))
        .replace("{torn}", &embedded("torn"))
        .replace("{results-bad}", &f.results_bad)
        .replace("{logs-bad}", &f.logs_bad)
        .replace("{jobs}", &f.jobs())
        .replace("{root}", &f.root.display().to_string())
        .replace(
            "{data}",
            &crate::support::shared_data().display().to_string(),
        )
}

fn run(args: &[&str], cwd: &Path) -> Output {
    let f = fixture();
    let args: Vec<String> = args.iter().map(|a| fill(a, f)).collect();
    bin()
        .args(&args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run tidewatch")
}

/// One case: arguments, the exit status, and a piece of the stderr message (empty: stderr
/// must be empty).
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    code: i32,
    stderr: &'static str,
}

fn check_cases(cases: &[Case]) {
    let cwd = tempfile::tempdir().expect("cwd");
    let mut failures = Vec::new();
    for c in cases {
        let out = run(c.args, cwd.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = fill(c.stderr, fixture());
        let ok_msg = if want.is_empty() {
            stderr.trim().is_empty()
        } else {
            stderr.contains(&want)
        };
        if out.status.code() != Some(c.code) || !ok_msg || stderr.contains("panicked") {
            failures.push(format!(
                "{}: expected exit {} and stderr containing {:?}; got {:?} and stderr:\n{stderr}",
                c.name,
                c.code,
                c.stderr,
                out.status.code()
            ));
        }
    }
    // Nothing a read-only or refused command did may have created a directory here.
    let left: Vec<_> = std::fs::read_dir(cwd.path())
        .expect("cwd")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "commands created {left:?} in their working directory"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Each failure of the alert path listed in issue 19, and the answers that must not change.
const ALERT_CASES: &[Case] = &[
    Case {
        name: "mistyped embedded store",
        args: &["--store", "embedded:/mistyped/path", "results", "fresh", "--since", "15m", "--min-score", "75", "--exit-code", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: store: no store at `/mistyped/path`: the directory does not exist",
    },
    Case {
        name: "status on a mistyped store",
        args: &["--store", "embedded:/mistyped/path", "status", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: store: no store at `/mistyped/path`",
    },
    Case {
        name: "unknown job",
        args: &["--store", "{store}", "results", "no_such_job", "--exit-code", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: no job `no_such_job`: it is not in the job files under",
    },
    Case {
        name: "unknown job in status",
        args: &["--store", "{store}", "status", "no_such_job", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: no job `no_such_job`; known jobs: fresh, idle, stale",
    },
    Case {
        name: "job never run",
        args: &["--store", "{store}", "results", "idle", "--exit-code", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: job `idle` has never run against embedded:",
    },
    Case {
        name: "stale job",
        args: &["--store", "{store}", "results", "stale", "--since", "15m", "--exit-code", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: job `stale` is stale in embedded:",
    },
    Case {
        name: "every job, one of them stale",
        args: &["--store", "{store}", "results", "--since", "15m", "--exit-code", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: job `idle` has never run",
    },
    Case {
        name: "mistyped results index",
        args: &["--store", "{store}", "results", "fresh", "--index", "tidewatch-resluts", "--exit-code", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: results index `tidewatch-resluts` does not exist in embedded:",
    },
    Case {
        name: "corrupt result record",
        args: &["--store", "{corrupt}", "results", "fresh", "--exit-code", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: cannot read results index `tidewatch-results` in {corrupt} (read-only): store: index `tidewatch-results` is corrupt: {results-bad}: a record fails its checksum (1 such record); restore the index from a backup or re-ingest it\n",
    },
    Case {
        name: "corrupt store in status",
        args: &["--store", "{corrupt}", "status", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: job `fresh`: store: index `tidewatch-results` is corrupt: {results-bad}: a record fails its checksum (1 such record); ",
    },
    Case {
        name: "ftp scheme",
        args: &["--store", "ftp://x", "results", "fresh", "--exit-code", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: store: `ftp://x` is not a store: expected `embedded:DIR` or an `http://` or `https://` URL",
    },
    Case {
        name: "mistyped http scheme on ingest creates nothing",
        args: &["--store", "htp://localhost:9200", "ingest", "--index", "logs", "{data}/logs/ssh_auth.log.gz"],
        code: 2,
        stderr: "error: store: `htp://localhost:9200` is not a store",
    },
    Case {
        name: "credentials of a mistyped URL are not echoed",
        args: &["--store", "htps://user:secret@es:9200", "status", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: store: `htps://***@es:9200` is not a store",
    },
    Case {
        name: "a bare directory is not a store spec",
        args: &["--store", "./data", "results", "fresh", "--jobs", "{jobs}"],
        code: 2,
        stderr: "`./data` is not a store",
    },
    Case {
        name: "fresh job, nothing scoring over 100",
        args: &["--store", "{store}", "results", "fresh", "--since", "15m", "--min-score", "100.5", "--exit-code", "--jobs", "{jobs}"],
        code: 0,
        stderr: "",
    },
    Case {
        name: "fresh job, every bucket matches",
        args: &["--store", "{store}", "results", "fresh", "--type", "bucket", "--since", "15m", "--exit-code", "--jobs", "{jobs}"],
        code: 3,
        stderr: "",
    },
    Case {
        name: "stale job over a window it has analysed",
        args: &["--store", "{store}", "results", "stale", "--type", "bucket", "--from", "now-4h", "--to", "now-3h", "--exit-code", "--jobs", "{jobs}"],
        code: 3,
        stderr: "",
    },
    Case {
        name: "stale job browsed without --exit-code",
        args: &["--store", "{store}", "results", "stale", "--jobs", "{jobs}"],
        code: 0,
        stderr: "",
    },
];

#[test]
fn the_alert_path_never_reports_quiet_when_it_cannot_read() {
    check_cases(ALERT_CASES);
}

/// A record that fails its checksum before the end of a segment is corruption: every command
/// that reads it exits 2 naming the file, line and byte offset. A torn last record (kill -9
/// in the middle of a write) is recovery: ignored, and cut before the next append.
const CORRUPTION_CASES: &[Case] = &[
    Case {
        name: "run --once over a corrupt log record",
        args: &["--store", "{corrupt-logs}", "run", "--once", "--jobs", "{jobs}/fresh.yml"],
        code: 2,
        stderr: "fresh: recorded version 1\nerror: store: unavailable: job `fresh`: source index `logs-fresh` cannot be read (store: index `logs-fresh` is corrupt: {logs-bad}: a record fails its checksum (1 such record); restore the index from a backup or re-ingest it); the job does not advance past data it cannot read and retries on its next run\n",
    },
    Case {
        name: "status over a corrupt log record",
        args: &["--store", "{corrupt-logs}", "status", "--jobs", "{jobs}"],
        code: 2,
        stderr: "error: job `fresh`: store: index `logs-fresh` is corrupt: {logs-bad}: a record fails its checksum (1 such record); ",
    },
    Case {
        name: "results over a torn last record",
        args: &["--store", "{torn}", "results", "fresh", "--type", "bucket", "--since", "15m", "--exit-code", "--jobs", "{jobs}"],
        code: 3,
        stderr: "",
    },
    Case {
        name: "status over torn last records",
        args: &["--store", "{torn}", "status", "fresh", "--jobs", "{jobs}"],
        code: 0,
        stderr: "",
    },
    Case {
        name: "run --once over torn last records",
        args: &["--store", "{torn}", "run", "--once", "--jobs", "{jobs}/fresh.yml"],
        code: 0,
        stderr: "fresh: recorded version 1\n",
    },
    Case {
        name: "results after the run cut the torn records",
        args: &["--store", "{torn}", "results", "fresh", "--type", "bucket", "--since", "15m", "--exit-code", "--jobs", "{jobs}"],
        code: 3,
        stderr: "",
    },
];

#[test]
fn store_corruption_is_exit_2_and_a_torn_tail_is_recovery() {
    check_cases(CORRUPTION_CASES);
}

#[test]
fn usage_errors_exit_1() {
    check_cases(&[
        Case {
            name: "unknown flag",
            args: &["--bogus"],
            code: 1,
            stderr: "error: unexpected argument '--bogus' found",
        },
        Case {
            name: "no subcommand",
            args: &[],
            code: 1,
            stderr: "Usage: tidewatch",
        },
        Case {
            name: "bad --since",
            args: &[
                "--store", "{store}", "results", "fresh", "--since", "soon", "--jobs", "{jobs}",
            ],
            code: 1,
            stderr: "error: ",
        },
        Case {
            name: "results without a job and without job files",
            args: &[
                "--store",
                "{store}",
                "results",
                "--jobs",
                "/nonexistent-jobs",
            ],
            code: 1,
            stderr: "error: name a job, or point --jobs at job files",
        },
    ]);
}

/// Spawns tidewatch with its stdout a pipe whose reader is already gone.
fn with_closed_stdout(args: &[&str]) -> Output {
    let f = fixture();
    let args: Vec<String> = args.iter().map(|a| fill(a, f)).collect();
    let mut child = bin()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait")
}

#[test]
fn a_closed_pipe_ends_quietly_and_keeps_the_alert() {
    for (args, code) in [
        (
            &[
                "--store", "{store}", "results", "fresh", "--type", "bucket", "--format", "ndjson",
                "--jobs", "{jobs}",
            ][..],
            0,
        ),
        (&["--store", "{store}", "status", "--jobs", "{jobs}"][..], 0),
        (
            &[
                "--store",
                "{store}",
                "results",
                "fresh",
                "--type",
                "bucket",
                "--since",
                "15m",
                "--exit-code",
                "--jobs",
                "{jobs}",
            ][..],
            3,
        ),
        (&["validate", "{jobs}"][..], 0),
    ] {
        let out = with_closed_stdout(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.trim().is_empty(), "{args:?} said: {stderr}");
    }
}

#[test]
fn a_full_disk_on_stdout_is_exit_2_not_a_panic() {
    let f = fixture();
    for args in [
        &[
            "--store",
            "{store}",
            "results",
            "fresh",
            "--type",
            "bucket",
            "--since",
            "15m",
            "--exit-code",
            "--jobs",
            "{jobs}",
        ][..],
        &["--store", "{store}", "status", "--jobs", "{jobs}"][..],
        &["validate", "{jobs}"][..],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let args: Vec<String> = args.iter().map(|a| fill(a, f)).collect();
        let out = bin().args(&args).stdout(full).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("No space left on device") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}

/// Hostile YAML is refused within a budget (nodes, depth), one problem line each, exit 1:
/// no stack overflow, no exponential expansion, no panic on bytes that are not UTF-8.
#[test]
fn validate_refuses_hostile_yaml_within_a_budget() {
    for (file, message) in [
        (
            "laughs.yml",
            ":6:14: (yaml): invalid YAML: budget breached: Nodes { nodes: 250001 }",
        ),
        (
            "deep-list.yml",
            ":1:264: (yaml): invalid YAML: recursion limit exceeded",
        ),
        (
            "deep-map.yml",
            ":2:270: (yaml): invalid YAML: budget breached: Depth { depth: 65 }",
        ),
        (
            "not-utf8.yml",
            ": cannot read the file: stream did not contain valid UTF-8",
        ),
    ] {
        let started = std::time::Instant::now();
        let out = run(
            &["validate", &format!("{{root}}/hostile-yaml/{file}")],
            &fixture().root,
        );
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(1), "{file}: {stdout}{stderr}");
        assert_eq!(stdout.lines().count(), 1, "{file}: {stdout}");
        assert!(
            stdout.contains(&format!("{file}{message}")),
            "{file}: {stdout}"
        );
        assert_eq!(stderr, "error: 1 problem in 1 job file\n", "{file}");
        assert!(
            started.elapsed().as_secs() < 30,
            "{file} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn validate_rejects_jobs_that_could_never_work() {
    check_cases(&[
        Case {
            name: "cron that never fires",
            args: &["validate", "{root}/bad-jobs/never.yml"],
            code: 1,
            stderr: "error: 1 problem in 1 job file",
        },
        Case {
            name: "results index is a source index",
            args: &["validate", "{root}/bad-jobs/self.yml"],
            code: 1,
            stderr: "error: 1 problem in 1 job file",
        },
        Case {
            name: "bucket span beyond the limit",
            args: &["validate", "{root}/bad-jobs/span.yml"],
            code: 1,
            stderr: "error: 1 problem in 1 job file",
        },
    ]);
    for (file, message) in [
        ("never.yml", ":11:11: schedule: `0 0 30 2 *` never fires: no date matches its day-of-month, month and day-of-week fields (e.g. 30 February)"),
        ("self.yml", ":12:16: results_index: `logs-fresh` is also a source index (`datafeed_config.indices` has `logs-fresh`)"),
        ("pattern.yml", ":12:16: results_index: `logs-results` is also a source index (`datafeed_config.indices` has `logs-*`)"),
        ("span.yml", ":3:16: analysis_config.bucket_span: `1000000w` is longer than `7d`, the longest bucket span tidewatch accepts"),
    ] {
        let out = run(&["validate", &format!("{{root}}/bad-jobs/{file}")], &fixture().root);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{file}: {stdout}");
        assert!(stdout.contains(&format!("{file}{message}")), "{file}: {stdout}");
    }
}

/// Issue 19: a job split by a field no document has used to run forever with 0 partitions.
/// `validate --store` and `run` now fail naming the field and the indices, before any bucket.
#[test]
fn a_job_over_a_field_in_no_index_fails_loudly() {
    let f = fixture();
    let message = "job `x`: analysis_config.detectors[0].by_field_name `client.nowhere` is in none of the job's indices (`logs-fresh`): no mapping and no document has it; check its spelling";
    let out = run(
        &[
            "--store",
            "{store}",
            "validate",
            "{root}/bad-jobs/nowhere.yml",
        ],
        &f.root,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(message), "{stdout}");
    assert!(
        stderr.contains("error: 1 field cannot be read in embedded:"),
        "{stderr}"
    );
    // Without --store, validate checks the file alone, as before.
    let out = run(&["validate", "{root}/bad-jobs/nowhere.yml"], &f.root);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // `run` on a copy (it records the job's definition in the store).
    let copy = tempfile::tempdir().expect("tempdir");
    copy_dir(&f.root.join("store"), copy.path());
    let store = format!("embedded:{}", copy.path().display());
    let out = run(
        &[
            "--store",
            &store,
            "run",
            "--once",
            "--jobs",
            "{root}/bad-jobs/nowhere.yml",
        ],
        &f.root,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("error: {message}")), "{stderr}");
}

#[test]
fn ingest_says_exactly_what_it_stored() {
    check_cases(&[
        Case {
            name: "wrong format: every line rejected",
            args: &["--store", "embedded:{root}/ingest", "ingest", "--index", "ssh", "{data}/logs/ssh_auth.log.gz"],
            code: 1,
            stderr: "error: nothing was stored into `ssh`: all 7121 lines were rejected (is --format right? the first rejection is ",
        },
        Case {
            name: "binary file",
            args: &["--store", "embedded:{root}/ingest", "ingest", "--index", "bin", "{root}/binary.bin"],
            code: 1,
            stderr: "error: nothing was stored into `bin`: all ",
        },
        Case {
            name: "empty file",
            args: &["--store", "embedded:{root}/ingest", "ingest", "--index", "empty", "{root}/empty.log"],
            code: 1,
            stderr: "error: nothing was stored into `empty`: the input has no lines",
        },
        Case {
            name: "truncated gzip",
            args: &["--store", "embedded:{root}/ingest", "ingest", "--index", "cut", "--batch-size", "1000", "{root}/truncated.log.gz"],
            code: 2,
            stderr: "truncated.log.gz:2850: reading failed: incomplete deflate stream; stopped after storing 2849 of the 2849 lines read into `cut`",
        },
        Case {
            name: "missing input",
            args: &["--store", "embedded:{root}/ingest", "ingest", "--index", "none", "{root}/no-such.log"],
            code: 2,
            stderr: "no-such.log: cannot open: No such file or directory",
        },
    ]);
    // What the message says was stored is what the store holds.
    let store = tidewatch::store::EmbeddedStore::open_read_only(fixture().root.join("ingest"))
        .expect("open");
    let resp = store
        .search("cut", &json!({ "size": 0, "track_total_hits": true }))
        .expect("search");
    assert_eq!(resp["hits"]["total"]["value"], 2849);
}

#[test]
fn detect_reports_what_it_did_not_take_as_written() {
    check_cases(&[Case {
        name: "untidy csv",
        args: &["detect", "--input", "{root}/untidy.csv"],
        code: 0,
        stderr: "untidy.csv: 5 values read as missing (written back empty): empty at line 5; not a number at line 6; NaN or infinite at lines 3, 4, 7",
    }]);
    let out = run(&["detect", "--input", "{root}/untidy.csv"], &fixture().root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [
        "warning: ",
        "untidy.csv: 1 row out of order at line 9: scored against the model as it stood, not learned",
        "untidy.csv: 1 row repeating the previous timestamp at line 10: scored against the model as it stood, not learned",
        "untidy.csv: mixed timestamp formats: unix seconds (9 rows, first at line 2), ISO 8601 (1 row, first at line 11)",
    ] {
        assert!(stderr.contains(line), "{line}\nnot in:\n{stderr}");
    }
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 11);
}

/// A regular series with one extreme finite value: it scores as the most unusual row, and
/// is written back in a form a CSV reader takes back.
#[test]
fn detect_scores_extreme_finite_values() {
    let dir = tempfile::tempdir().expect("tmp");
    for extreme in ["1e308", "1.7976931348623157e308", "-1e308", "1e300"] {
        let mut csv = String::from("timestamp,value\n");
        for i in 0..600u32 {
            let v = if i == 500 {
                extreme.to_string()
            } else {
                format!(
                    "{}",
                    100.0 + 10.0 * (f64::from(i) / 30.0).sin() + f64::from(i * 7919 % 13)
                )
            };
            csv.push_str(&format!("{},{v}\n", 1_600_000_000 + u64::from(i) * 60));
        }
        let input = dir.path().join("extreme.csv");
        std::fs::write(&input, csv).expect("write");
        let out = bin()
            .args(["detect", "--input"])
            .arg(&input)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let row: Vec<&str> = stdout
            .lines()
            .nth(501)
            .expect("row 500")
            .split(',')
            .collect();
        let value: f64 = row[1].parse().expect("the value reads back");
        assert_eq!(value, extreme.parse::<f64>().expect("number"), "{row:?}");
        assert!(row[1].len() < 30, "{row:?}");
        let score: f64 = row[2].parse().expect("score");
        assert!(score >= 75.0, "{extreme} scored {score}");
    }
}

/// Found by `benches/fuzz.rs` (target `detect_csv`): a value of 1e308 after zeros made the
/// model's next observation clamp with NaN bounds and panic (exit 101); `model::clip` now
/// leaves a value unclipped when its bound overflowed.
#[test]
fn detect_survives_1e308_after_zeros() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("overflow.csv");
    std::fs::write(
        &input,
        "timestamp,value\n1600000000,0\n1600003600,1e308\n1600008000,0\n1600011600,0\n1600015200,0\n",
    )
    .expect("write");
    let out = bin()
        .args(["detect", "--input"])
        .arg(&input)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
