//! Starts a real search engine (OpenSearch 2.19, OpenSearch 3.x or Elasticsearch 7.17, from
//! `tests/engine/`) once per engine kind per test process (the `engines` binary runs all three).
//!
//! The launcher is built with Maven on first use (`mvn -o` when the jars are cached, plain
//! `mvn` otherwise), started with `--watch-stdin` so it stops when this process exits (the
//! pipe closes, whatever way we die), and awaited until it prints its URL and the cluster
//! reports yellow or green. If the engine cannot be built or started, or dies while tests
//! run, every test that needs it fails with the reason and the engine's last log lines.
//! The one exception: OpenSearch 3.x needs a Java 21+ JDK ([`java21_home`]); on a machine
//! without one its suite says so and its tests return at once ([`absent`]).
//! `TIDEWATCH_ENGINE_URL` points the tests at an engine already running.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// Which engine a test binary runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// OpenSearch 2.19.x (Java 17).
    OpenSearch,
    /// OpenSearch 3.x (Java 21 or later: [`java21_home`]).
    OpenSearch3,
    /// Elasticsearch 7.17.x.
    Elasticsearch,
}

impl Kind {
    fn module(self) -> &'static str {
        match self {
            Kind::OpenSearch => "opensearch",
            Kind::OpenSearch3 => "opensearch3",
            Kind::Elasticsearch => "elasticsearch",
        }
    }
    fn main_class(self) -> &'static str {
        match self {
            Kind::OpenSearch | Kind::OpenSearch3 => "tidewatch.engine.OpenSearchEngine",
            Kind::Elasticsearch => "tidewatch.engine.ElasticsearchEngine",
        }
    }
    /// The JDK to build and run the launcher with: `None` means `JAVA_HOME` or the `java` and
    /// `mvn` on `PATH` (Java 17), as before.
    fn java_home(self) -> Option<PathBuf> {
        match self {
            Kind::OpenSearch3 => java21_home(),
            Kind::OpenSearch | Kind::Elasticsearch => None,
        }
    }
}

/// A JDK of Java 21 or later for OpenSearch 3.x: `TIDEWATCH_JAVA21_HOME` (when it has
/// `bin/java`; set to anything else, it says there is none), else the Temurin 25
/// JDK this machine kind ships beside Java 17 (`/usr/lib/jvm/temurin-25-jdk-amd64`), else any
/// JDK under `/usr/lib/jvm` whose `release` file says 21 or later. `scripts/engine.sh` looks in
/// the same places.
pub fn java21_home() -> Option<PathBuf> {
    let is_jdk21 = |home: &Path| {
        let release = std::fs::read_to_string(home.join("release")).unwrap_or_default();
        let major = release
            .lines()
            .find_map(|l| l.strip_prefix("JAVA_VERSION=\""))
            .and_then(|v| v.split(['.', '"']).next()?.parse::<u32>().ok());
        major.is_some_and(|m| m >= 21) && home.join("bin/javac").is_file()
    };
    if let Some(home) = std::env::var_os("TIDEWATCH_JAVA21_HOME").filter(|h| !h.is_empty()) {
        // Taken as it is (a JDK without a `release` file too); one without `bin/java` is none.
        let home = PathBuf::from(home);
        return home.join("bin/java").is_file().then_some(home);
    }
    let preferred = PathBuf::from("/usr/lib/jvm/temurin-25-jdk-amd64");
    if is_jdk21(&preferred) {
        return Some(preferred);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/jvm")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| is_jdk21(p))
        .collect();
    found.sort();
    found.pop()
}

/// Whether the suite of `kind` cannot run on this machine (OpenSearch 3.x without a Java 21+
/// JDK, and no `TIDEWATCH_ENGINE_URL`): says so once, on the test process's own stderr (not
/// captured by the test harness), and the tests return at once.
pub fn absent(kind: Kind) -> bool {
    static NOTE: std::sync::Once = std::sync::Once::new();
    let external = std::env::var("TIDEWATCH_ENGINE_URL").is_ok_and(|u| !u.is_empty());
    if kind != Kind::OpenSearch3 || external || kind.java_home().is_some() {
        return false;
    }
    NOTE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "NOTE: the OpenSearch 3.x suite (cluster_opensearch3) is skipped: no Java 21+ JDK \
             (set TIDEWATCH_JAVA21_HOME, or install one under /usr/lib/jvm); its tests pass \
             without running"
        );
    });
    true
}

/// A running engine.
pub struct Engine {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// What the launcher reported, e.g. `opensearch 2.19.6` (empty for an external engine).
    pub version: String,
    /// Whether the engine was started by this process (rather than `TIDEWATCH_ENGINE_URL`).
    pub owned: bool,
    child: Option<Mutex<(Child, ChildStdin)>>,
    log_tail: Arc<Mutex<Vec<String>>>,
}

static OPENSEARCH: OnceLock<Result<Engine, String>> = OnceLock::new();
static OPENSEARCH3: OnceLock<Result<Engine, String>> = OnceLock::new();
static ELASTICSEARCH: OnceLock<Result<Engine, String>> = OnceLock::new();

/// One Maven build at a time (the launchers share `tests/engine/common`).
static BUILD: Mutex<()> = Mutex::new(());

/// The engine of `kind` for this test process, started on first call. Panics (failing the test) with the
/// reason if it cannot start or has died.
pub fn engine(kind: Kind) -> &'static Engine {
    let slot = match kind {
        Kind::OpenSearch => &OPENSEARCH,
        Kind::OpenSearch3 => &OPENSEARCH3,
        Kind::Elasticsearch => &ELASTICSEARCH,
    };
    match slot.get_or_init(|| start(kind)) {
        Ok(engine) => {
            engine.check_alive();
            engine
        }
        Err(reason) => panic!(
            "the {} test engine is not available: {reason}",
            kind.module()
        ),
    }
}

impl Engine {
    /// Kills the node at once (SIGKILL: no shutdown, its data directory stays as it was) and
    /// waits for the process to end.
    pub fn kill(&self) {
        let Some(child) = &self.child else { return };
        let mut guard = child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = guard.0.kill();
        let _ = guard.0.wait();
    }

    /// Panics with the engine's last log lines if it has exited.
    pub fn check_alive(&self) {
        let Some(child) = &self.child else { return };
        let mut guard = child.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(Some(status)) = guard.0.try_wait() {
            let tail = self
                .log_tail
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .join("\n");
            panic!(
                "the test engine at {} crashed ({status}); its last log lines:\n{tail}",
                self.url
            );
        }
    }
}

fn start(kind: Kind) -> Result<Engine, String> {
    if let Ok(url) = std::env::var("TIDEWATCH_ENGINE_URL") {
        if !url.is_empty() {
            wait_healthy(&url, Duration::from_secs(60))?;
            return Ok(Engine {
                url,
                version: String::new(),
                owned: false,
                child: None,
                log_tail: Default::default(),
            });
        }
    }
    start_node(kind, &[])
}

/// Builds the launcher of `kind` if needed and starts one node of it with `args` (the
/// launcher's `--node`, `--transport-port`, `--seed-hosts`, `--home`; none for a single-node
/// cluster), waiting until it prints its URL and the cluster is yellow.
pub fn start_node(kind: Kind, args: &[String]) -> Result<Engine, String> {
    let started = Instant::now();
    let dir = engine_dir(kind);
    let java_home = kind.java_home();
    build(&dir, java_home.as_deref())?;
    let built = started.elapsed();
    let classpath = format!(
        "{}:{}",
        dir.join("target/classes").display(),
        std::fs::read_to_string(dir.join("target/classpath.txt"))
            .map_err(|e| format!("{}: {e}", dir.join("target/classpath.txt").display()))?
            .trim()
    );
    let java = match &java_home {
        Some(home) => home.join("bin/java").display().to_string(),
        None => std::env::var("JAVA_HOME")
            .map(|h| format!("{h}/bin/java"))
            .unwrap_or_else(|_| "java".to_string()),
    };
    let mut command = Command::new(&java);
    if java_home.is_some() {
        // Lucene 10 maps its files through java.lang.foreign (else a warning on every start).
        command.arg("--enable-native-access=ALL-UNNAMED");
    }
    command
        .args([
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
        ])
        .arg("-Djava.awt.headless=true")
        .arg("-cp")
        .arg(&classpath)
        .arg(kind.main_class())
        .arg("--watch-stdin")
        .args(args);
    let engine = launch(command, Duration::from_secs(180)).map_err(|e| {
        if e.contains("could not run") {
            format!("{e} (is a Java 17 JDK installed? scripts/engine.sh installs one; OpenSearch 3.x needs Java 21+)")
        } else {
            e
        }
    })?;
    wait_healthy(&engine.url, Duration::from_secs(60))?;
    eprintln!(
        "test engine {} at {}: build check {:.1}s, ready after {:.1}s",
        engine.version,
        engine.url,
        built.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(engine)
}

/// Spawns a launcher (stdin piped: closing it stops the engine), collects its output, and
/// waits up to `limit` for its `TIDEWATCH_ENGINE_URL=` line.
pub fn launch(mut command: Command, limit: Duration) -> Result<Engine, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run `{program}`: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin pipe")?;
    let log_tail: Arc<Mutex<Vec<String>>> = Arc::default();
    let (tx, rx) = mpsc::channel::<(String, String)>();
    if let Some(stdout) = child.stdout.take() {
        let tail = Arc::clone(&log_tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((k, v)) = line
                    .split_once('=')
                    .filter(|(k, _)| k.starts_with("TIDEWATCH_ENGINE_"))
                {
                    let _ = tx.send((k.to_string(), v.to_string()));
                }
                push_tail(&tail, line);
            }
        });
    }
    if let Some(stderr) = child.stderr.take() {
        let tail = Arc::clone(&log_tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("TIDEWATCH_ENGINE_LOG").is_some() {
                    eprintln!("[engine] {line}");
                }
                push_tail(&tail, line);
            }
        });
    }
    let deadline = Instant::now() + limit;
    let mut url = None;
    let mut version = String::new();
    while url.is_none() {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok((k, v)) if k == "TIDEWATCH_ENGINE_URL" => url = Some(v),
            Ok((k, v)) if k == "TIDEWATCH_ENGINE_VERSION" => version = v,
            Ok(_) => {}
            Err(_) => {
                if let Ok(Some(status)) = child.try_wait() {
                    std::thread::sleep(Duration::from_millis(200));
                    let tail = log_tail
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .join("\n");
                    return Err(format!(
                        "the engine exited during start-up ({status}); its last log lines:\n{tail}"
                    ));
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let tail = log_tail
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .join("\n");
                    return Err(format!(
                        "the engine printed no URL within {limit:?}; its last log lines:\n{tail}"
                    ));
                }
            }
        }
    }
    let url = url.unwrap_or_default();
    Ok(Engine {
        url,
        version,
        owned: true,
        child: Some(Mutex::new((child, stdin))),
        log_tail,
    })
}

fn push_tail(tail: &Mutex<Vec<String>>, line: String) {
    let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
    t.push(line);
    if t.len() > 60 {
        t.remove(0);
    }
}

fn engine_dir(kind: Kind) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/engine")
        .join(kind.module())
}

/// Newest modification time under `path` (files only, build output `target/` left out).
fn newest(path: &Path) -> SystemTime {
    let mut best = SystemTime::UNIX_EPOCH;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_file() {
            return meta.modified().unwrap_or(best);
        }
    }
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten().filter(|e| e.file_name() != "target") {
            best = best.max(newest(&entry.path()));
        }
    }
    best
}

/// Builds the launcher unless it was built after its sources last changed (a stamp file
/// written after each successful build; Maven leaves `classpath.txt` untouched when its
/// content is the same, so its time says nothing). The sources are all of `tests/engine/`
/// (the launchers share `common/` and the OpenSearch ones share `opensearch/src/main`).
/// `java_home`, when given, is the JDK Maven builds with.
fn build(dir: &Path, java_home: Option<&Path>) -> Result<(), String> {
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let stamp = dir.join("target/.tidewatch-built");
    let sources = newest(dir.parent().unwrap_or(dir));
    let built = std::fs::metadata(&stamp).and_then(|m| m.modified()).ok();
    if built.is_some_and(|b| b >= sources) && dir.join("target/classpath.txt").is_file() {
        return Ok(());
    }
    let mut last = String::new();
    for offline in [true, false] {
        let mut cmd = Command::new("mvn");
        cmd.current_dir(dir).args(["-B", "-q"]);
        if let Some(home) = java_home {
            cmd.env("JAVA_HOME", home);
        }
        if offline {
            cmd.arg("-o");
        }
        cmd.arg("package");
        match cmd.output() {
            Ok(out) if out.status.success() => {
                std::fs::write(&stamp, b"built by tests/support/engine.rs\n")
                    .map_err(|e| format!("{}: {e}", stamp.display()))?;
                return Ok(());
            }
            Ok(out) => {
                last = format!(
                    "`mvn{} package` in {} failed ({}):\n{}{}",
                    if offline { " -o" } else { "" },
                    dir.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )
            }
            Err(e) => {
                return Err(format!(
                    "could not run `mvn` (install Maven: scripts/engine.sh): {e}"
                ))
            }
        }
    }
    Err(last)
}

/// Waits for `GET /_cluster/health?wait_for_status=yellow` to answer 200.
pub fn wait_healthy(url: &str, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut last = String::new();
    while Instant::now() < deadline {
        match agent
            .get(format!(
                "{url}/_cluster/health?wait_for_status=yellow&timeout=5s"
            ))
            .call()
        {
            Ok(r) if r.status() == 200 => return Ok(()),
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "{url} did not become healthy within {limit:?}: {last}"
    ))
}

/// Raw HTTP to the engine for test setup and checks (bypassing the store under test).
pub fn http(method: &str, url: &str, body: Option<&serde_json::Value>) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let bytes = body
        .map(|b| serde_json::to_vec(b).unwrap())
        .unwrap_or_default();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(bytes)
        .unwrap();
    let mut response = agent
        .run(request)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}
