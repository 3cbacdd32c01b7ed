//! Restart-exact checkpoints: a lookback over the demo data killed with SIGKILL at 20
//! moments (and stopped with SIGTERM at several), restarted each time, ends with result
//! documents identical, id for id and byte for byte, to an uninterrupted run's. An ingest
//! killed part-way and run again stores every line exactly once.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tidewatch::demo::{generate, DemoConfig};
use tidewatch::store::EmbeddedStore;

use crate::support::Rng;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tidewatch")
}

fn jobs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("jobs")
}

fn tidewatch(store: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("--store")
        .arg(format!("embedded:{}", store.display()))
        .args(args);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn run_to_end(store: &Path, args: &[&str]) {
    let out = tidewatch(store, args).output().expect("run tidewatch");
    assert!(
        out.status.success(),
        "tidewatch {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn spawn_run(store: &Path) -> Child {
    let jobs = jobs_dir();
    tidewatch(
        store,
        &[
            "run",
            "--once",
            "--jobs",
            jobs.to_str().expect("utf-8 path"),
        ],
    )
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn run")
}

/// Every result document of the store in `dir`, opened as a fresh process would.
fn results_of(dir: &Path) -> BTreeMap<String, Value> {
    let store = EmbeddedStore::open(dir).expect("open store");
    crate::support::all_documents(&store, "tidewatch-results")
}

fn prepare(dir: &Path, name: &str, log: &Path, format: &str) -> PathBuf {
    let store = dir.join(name);
    run_to_end(
        &store,
        &[
            "ingest",
            "--index",
            "nginx-logs",
            "--format",
            format,
            log.to_str().expect("utf-8"),
        ],
    );
    store
}

fn assert_same(expected: &BTreeMap<String, Value>, actual: &BTreeMap<String, Value>, what: &str) {
    assert_eq!(
        expected.len(),
        actual.len(),
        "{what}: document count differs"
    );
    for (id, doc) in expected {
        assert_eq!(Some(doc), actual.get(id), "{what}: document {id} differs");
    }
}

/// The demo log at a lighter traffic level (the restart tests run it many times).
fn light_demo_log(dir: &Path) -> (PathBuf, &'static str) {
    let log_path = dir.join("demo.log");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&log_path).expect("create log"));
    let cfg = DemoConfig {
        visitor_requests_per_day: 6_000.0,
        ..DemoConfig::default()
    };
    let log = generate(&cfg, &mut file).expect("generate");
    drop(file);
    (log_path, log.format)
}

/// `tidewatch ingest` killed with SIGKILL at several moments, then run again to the end:
/// each time the store opens consistently (no id twice, never more documents than the
/// log has), and at the end it holds exactly the documents of an uninterrupted ingest
/// (ids come from the lines, so the rerun overwrites what the killed one stored).
#[test]
fn an_ingest_killed_part_way_and_run_again_stores_every_line_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log_path, format) = light_demo_log(dir.path());
    let started = Instant::now();
    let reference = prepare(dir.path(), "reference", &log_path, format);
    let full = started.elapsed().as_millis() as u64;
    let expected = crate::support::all_documents(
        &EmbeddedStore::open(&reference).expect("open"),
        "nginx-logs",
    );
    let killed = dir.path().join("killed");
    let args = [
        "ingest",
        "--index",
        "nginx-logs",
        "--format",
        format,
        log_path.to_str().expect("utf-8"),
    ];
    let mut moments = Rng::new(17);
    for _ in 0..5 {
        let mut child = tidewatch(&killed, &args)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ingest");
        std::thread::sleep(Duration::from_millis(50 + moments.below(full)));
        let _ = child.kill();
        let _ = child.wait();
        let store = EmbeddedStore::open(&killed).expect("reopen after SIGKILL");
        let now = crate::support::all_documents(&store, "nginx-logs");
        assert!(now.len() <= expected.len(), "more documents than lines");
        for (id, doc) in &now {
            assert_eq!(Some(doc), expected.get(id), "document {id} after SIGKILL");
        }
    }
    run_to_end(&killed, &args);
    let store = EmbeddedStore::open(&killed).expect("open");
    assert_same(
        &expected,
        &crate::support::all_documents(&store, "nginx-logs"),
        "after SIGKILLs",
    );
}

#[test]
fn interrupted_runs_resume_to_identical_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A lighter traffic level than the demo's keeps 25 restarts quick; the jobs, the 14 days
    // and the incidents are the demo's.
    let (log_path, format) = light_demo_log(dir.path());
    let jobs = jobs_dir();
    let jobs = jobs.to_str().expect("utf-8");

    // The reference: one uninterrupted lookback, timed to place the interruptions.
    let reference = prepare(dir.path(), "reference", &log_path, format);
    let started = Instant::now();
    run_to_end(&reference, &["run", "--once", "--jobs", jobs]);
    let full = started.elapsed().as_millis() as u64;
    let expected = results_of(&reference);
    assert!(
        expected.len() > 1000,
        "the reference run wrote only {} documents",
        expected.len()
    );

    // SIGKILL at 20 moments, each restart resuming from the last checkpoint.
    let killed = prepare(dir.path(), "killed", &log_path, format);
    let mut moments = Rng::new(7);
    let mut kills = 0;
    while kills < 20 {
        let mut child = spawn_run(&killed);
        // Each life gets 100 ms + a twentieth of the full run on average, so that ten
        // lives cover about half of it whatever the machine's load: the run cannot finish
        // before the tenth kill (with full / 4 it sometimes did, under load).
        std::thread::sleep(Duration::from_millis(100 + moments.below(full / 10)));
        if child.try_wait().expect("poll").is_some() {
            break; // finished before the kill: nothing left to interrupt
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap"); // a zombie would still hold the store's lock
        kills += 1;
    }
    run_to_end(&killed, &["run", "--once", "--jobs", jobs]);
    assert!(
        kills >= 10,
        "only {kills} kills landed before the lookback finished"
    );
    assert_same(&expected, &results_of(&killed), "after SIGKILLs");

    // SIGTERM: a graceful stop after the current chunk, then the same resume.
    let termed = prepare(dir.path(), "termed", &log_path, format);
    for _ in 0..5 {
        let mut child = spawn_run(&termed);
        std::thread::sleep(Duration::from_millis(300 + moments.below(full / 4)));
        if child.try_wait().expect("poll").is_some() {
            break;
        }
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = child.wait().expect("wait");
        assert!(
            exit.success(),
            "a SIGTERM'd run must exit cleanly, got {exit:?}"
        );
    }
    run_to_end(&termed, &["run", "--once", "--jobs", jobs]);
    assert_same(&expected, &results_of(&termed), "after SIGTERMs");
}

/// Runs tidewatch in `cwd` against the store `store`; returns (exit code, stdout, stderr).
fn tidewatch_in(cwd: &Path, store: &Path, args: &[&str]) -> (i32, String, String) {
    let out = tidewatch(store, args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .output()
        .expect("run tidewatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One GET on a local HTTP server; the response body.
fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

const WEB_JOB: &str = "job_id: web\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\ndatafeed_config:\n  indices: [web]\n  query_delay: 1m\n";

#[test]
fn jobs_recorded_by_run_serve_every_command_from_any_directory_and_reset_clears_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (root, store) = (dir.path(), dir.path().join("store"));
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir_all(root.join("jobs")).expect("mkdir");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::fs::write(root.join("jobs/web.yml"), WEB_JOB).expect("job file");
    let mut log = String::new();
    for i in 0..1920 {
        let t = chrono::DateTime::from_timestamp(1_714_953_600 + i * 90, 0).expect("time");
        let ts = t.format("%d/%b/%Y:%H:%M:%S +0000");
        log.push_str(&format!(
            "10.0.0.{} - - [{ts}] \"GET /x HTTP/1.1\" 200 12 \"-\" \"c\"\n",
            i % 7
        ));
    }
    log.push_str(
        "10.0.0.1 - - [01/Jan/0001:00:00:00 +0000] \"GET /x HTTP/1.1\" 200 1 \"-\" \"c\"\n",
    );
    std::fs::write(root.join("access.log"), log).expect("log");

    let (code, out, _) = tidewatch_in(root, &store, &["ingest", "--index", "web", "access.log"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("rejected 1") && out.contains("access.log:1921: timestamp 0001-01-01"),
        "{out}"
    );
    let (code, out, err) = tidewatch_in(root, &store, &["run", "--once", "--jobs", "jobs"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("web: 192 buckets"), "{out}");

    // From a directory without job files.
    let (code, out, err) = tidewatch_in(&elsewhere, &store, &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("web: 192 buckets (0 empty), 1920 documents"),
        "{out}"
    );
    let (code, out, err) = tidewatch_in(
        &elsewhere,
        &store,
        &["results", "web", "--type", "bucket", "--format", "ndjson"],
    );
    assert_eq!((code, out.lines().count()), (0, 192), "{err}");
    let (code, _, err) = tidewatch_in(&elsewhere, &store, &["forecast", "web", "--duration", "1h"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = tidewatch_in(&elsewhere, &store, &["jobs", "list"]);
    assert!(code == 0 && out.starts_with("web  version 1"), "{out}{err}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut serve = tidewatch(&store, &["serve", "--http", &addr])
        .current_dir(&elsewhere)
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut body = None;
    while body.is_none() && Instant::now() < deadline {
        body = http_get(&addr, "/api/jobs").filter(|b| b.starts_with("HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(
        body.is_some_and(|b| b.contains("\"web\"")),
        "serve lists the recorded job"
    );

    // A changed analysis is refused while the old results stand; reset clears them.
    let changed = WEB_JOB.replace("bucket_span: 15m", "bucket_span: 30m");
    std::fs::write(root.join("jobs/web.yml"), changed).expect("job file");
    let (code, _, err) = tidewatch_in(root, &store, &["run", "--once", "--jobs", "jobs"]);
    assert!(
        code == 1 && err.contains("tidewatch jobs reset web"),
        "{err}"
    );
    let (code, _, err) = tidewatch_in(&elsewhere, &store, &["jobs", "reset", "web"]);
    assert_eq!(code, 0, "{err}");
    let left = results_of(&store);
    assert!(
        left.values().all(|d| d["job_id"] != "web"),
        "old results left: {}",
        left.len()
    );
    let (code, out, err) = tidewatch_in(root, &store, &["run", "--once", "--jobs", "jobs"]);
    assert!(code == 0 && out.contains("web: 96 buckets"), "{out}{err}");
}
