//! Restart-exact checkpoints: a lookback over the demo data killed with SIGKILL at 20
//! moments (and stopped with SIGTERM at several), restarted each time, ends with result
//! documents identical, id for id and byte for byte, to an uninterrupted run's.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tidewatch::demo::{generate, DemoConfig};
use tidewatch::store::EmbeddedStore;

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
    common::all_documents(&store, "tidewatch-results")
}

/// SplitMix64: the test's own deterministic random moments.
struct Moments(u64);
impl Moments {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % max.max(1)
    }
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

#[test]
fn interrupted_runs_resume_to_identical_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("demo.log");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&log_path).expect("create log"));
    // A lighter traffic level than the demo's keeps 25 restarts quick; the jobs, the 14 days
    // and the incidents are the demo's.
    let cfg = DemoConfig {
        visitor_requests_per_day: 6_000.0,
        ..DemoConfig::default()
    };
    let log = generate(&cfg, &mut file).expect("generate");
    drop(file);
    let jobs = jobs_dir();
    let jobs = jobs.to_str().expect("utf-8");

    // The reference: one uninterrupted lookback, timed to place the interruptions.
    let reference = prepare(dir.path(), "reference", &log_path, log.format);
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
    let killed = prepare(dir.path(), "killed", &log_path, log.format);
    let mut moments = Moments(7);
    let mut kills = 0;
    while kills < 20 {
        let mut child = spawn_run(&killed);
        // Each life gets 100 ms + a twentieth of the full run on average, so that ten
        // lives cover about half of it whatever the machine's load: the run cannot finish
        // before the tenth kill (with full / 4 it sometimes did, under load).
        std::thread::sleep(Duration::from_millis(100 + moments.next_ms(full / 10)));
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
    let termed = prepare(dir.path(), "termed", &log_path, log.format);
    for _ in 0..5 {
        let mut child = spawn_run(&termed);
        std::thread::sleep(Duration::from_millis(300 + moments.next_ms(full / 4)));
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
