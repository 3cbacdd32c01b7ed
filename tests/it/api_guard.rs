//! The local API against a web page in the user's browser (issue 19, docs/api.md "Threat
//! model"), through the real `tidewatch serve` over TCP: a foreign `Host` (DNS rebinding),
//! a cross-site POST, a `text/plain` POST, a forecast beyond the API's cost limit, and
//! connections that send their headers too slowly.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tidewatch::store::{BulkDoc, EmbeddedStore, Store};

struct Server {
    child: Child,
    addr: SocketAddr,
    store: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A store where job `web` (1m buckets, two hours of data) has run, served on loopback.
fn start() -> Server {
    let tmp = tempfile::tempdir().expect("tmp");
    let jobs = tmp.path().join("jobs");
    std::fs::create_dir_all(&jobs).expect("jobs");
    std::fs::write(
        jobs.join("web.yml"),
        "job_id: web\nanalysis_config:\n  bucket_span: 1m\n  detectors:\n    - function: count\n\
         data_description:\n  time_field: \"@timestamp\"\ndatafeed_config:\n  indices: [logs]\n",
    )
    .expect("job");
    let store = tmp.path().join("store");
    {
        let s = EmbeddedStore::open(&store).expect("store");
        let now = chrono::Utc::now().timestamp_millis();
        let docs = (0..120)
            .map(|i| BulkDoc {
                id: Some(format!("d{i}")),
                source: json!({ "@timestamp": tidewatch::time::format_millis(now - (120 - i) * 60_000) }),
            })
            .collect();
        s.bulk("logs", docs).expect("bulk");
        let all = tidewatch::config::load_jobs(std::slice::from_ref(&jobs)).expect("load");
        tidewatch::runner::run_lookback(
            &s,
            &all[0],
            Some(tidewatch::runner::STATE_INDEX),
            &AtomicBool::new(false),
        )
        .expect("lookback");
    }
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let child = Command::new(env!("CARGO_BIN_EXE_tidewatch"))
        .arg("--store")
        .arg(format!("embedded:{}", store.display()))
        .args(["serve", "--http", &addr.to_string(), "--jobs"])
        .arg(&jobs)
        .args([
            "--allow-host",
            "tidewatch.internal",
            "--header-read-timeout",
            "1s",
        ])
        .env_remove("TIDEWATCH_API_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        addr,
        store,
        _tmp: tmp,
    }
}

/// Sends one raw HTTP/1.1 request; returns the status and the body as JSON (or Null).
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let (status, body) = send_raw(addr, method, path, headers, body);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// [`send`], returning the body as text. A server that answers before reading the whole
/// body (a refused oversized one) may close the connection under the write: that is not a
/// failure, the answer is read all the same.
fn send_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let _ = s.write_all(req.as_bytes());
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let resp = String::from_utf8_lossy(&raw).into_owned();
    let status = resp
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {resp}"));
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

fn forecast_docs(store: &Path) -> u64 {
    let s = EmbeddedStore::open_read_only(store).expect("open");
    let resp = s
        .search(
            "tidewatch-results",
            &json!({ "size": 0, "track_total_hits": true, "query": { "term": { "result_type": "model_forecast" } } }),
        )
        .expect("search");
    resp["hits"]["total"]["value"].as_u64().unwrap_or(0)
}

/// What, method, path, headers, body, expected status, expected `error.type`.
type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    &'a str,
    u16,
    &'a str,
);

/// Every request a page in the browser could make that must be refused.
fn refusals(own: &str) -> Vec<Case<'_>> {
    let mut cases = foreign_hosts();
    cases.extend(cross_site(own));
    cases
}

/// Requests naming a host that is not this server (DNS rebinding).
fn foreign_hosts() -> Vec<Case<'static>> {
    let forecast = "/api/jobs/web/_forecast";
    let year = r#"{"duration":"365d"}"#;
    vec![
        (
            "the issue's cross-site POST: foreign Host, text/plain",
            "POST",
            forecast,
            vec![
                ("host", "evil.example"),
                ("content-type", "text/plain"),
                ("origin", "http://evil.example"),
            ],
            year,
            421,
            "misdirected_request_exception",
        ),
        (
            "a rebound name reading results",
            "GET",
            "/api/jobs",
            vec![("host", "evil.example:9280")],
            "",
            421,
            "misdirected_request_exception",
        ),
        (
            "a rebound name on the UI",
            "GET",
            "/",
            vec![("host", "evil.example")],
            "",
            421,
            "misdirected_request_exception",
        ),
        (
            "no Host at all",
            "GET",
            "/api/jobs",
            vec![],
            "",
            421,
            "misdirected_request_exception",
        ),
    ]
}

/// Cross-site and non-JSON requests to our own host, and a forecast over the cost limit.
fn cross_site(own: &str) -> Vec<Case<'_>> {
    let forecast = "/api/jobs/web/_forecast";
    let year = r#"{"duration":"365d"}"#;
    let hour = r#"{"duration":"1h"}"#;
    vec![
        (
            "text/plain POST from our own host",
            "POST",
            forecast,
            vec![("host", own), ("content-type", "text/plain")],
            year,
            415,
            "media_type_exception",
        ),
        (
            "form POST",
            "POST",
            forecast,
            vec![
                ("host", own),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            "duration=365d",
            415,
            "media_type_exception",
        ),
        (
            "bodiless POST without a content type",
            "POST",
            "/api/jobs/web/_forecast?duration=365d",
            vec![("host", own)],
            "",
            415,
            "media_type_exception",
        ),
        (
            "JSON POST from another origin",
            "POST",
            forecast,
            vec![
                ("host", own),
                ("content-type", "application/json"),
                ("origin", "http://evil.example"),
            ],
            hour,
            403,
            "cross_origin_exception",
        ),
        (
            "JSON POST from an opaque origin",
            "POST",
            forecast,
            vec![
                ("host", own),
                ("content-type", "application/json"),
                ("origin", "null"),
            ],
            hour,
            403,
            "cross_origin_exception",
        ),
        (
            "a forecast beyond the cost limit",
            "POST",
            forecast,
            vec![("host", own), ("content-type", "application/json")],
            year,
            400,
            "illegal_argument_exception",
        ),
    ]
}

#[test]
fn the_browser_cannot_drive_the_api() {
    let srv = start();
    let addr = srv.addr;
    let own = addr.to_string();
    let cases = refusals(&own);
    let mut failures = Vec::new();
    for (what, method, path, headers, body, status, kind) in &cases {
        let (got, v) = send(addr, method, path, headers, body);
        if got != *status || v["error"]["type"] != *kind {
            failures.push(format!("{what}: expected {status} {kind}, got {got} {v}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        forecast_docs(&srv.store),
        0,
        "a refused request wrote a forecast"
    );
    what_is_allowed_still_works(&srv);
}

/// The cost limit names itself; same-origin JSON, loopback names and `--allow-host` work.
fn what_is_allowed_still_works(srv: &Server) {
    let addr = srv.addr;
    let own = addr.to_string();
    let forecast = "/api/jobs/web/_forecast";
    let year = r#"{"duration":"365d"}"#;
    let hour = r#"{"duration":"1h"}"#;
    let (_, v) = send(
        addr,
        "POST",
        forecast,
        &[("host", &own), ("content-type", "application/json")],
        year,
    );
    let reason = v["error"]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("the API writes at most 20000 per forecast"),
        "{reason}"
    );

    // What is allowed still works: same-origin JSON, loopback names, --allow-host.
    let origin = format!("http://{own}");
    let (status, v) = send(
        addr,
        "POST",
        forecast,
        &[
            ("host", &own),
            ("content-type", "application/json; charset=utf-8"),
            ("origin", &origin),
        ],
        hour,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["documents"], 60, "{v}");
    for host in [
        own.as_str(),
        "localhost",
        "tidewatch.internal:9280",
        "[::1]:1",
    ] {
        let (status, v) = send(addr, "GET", "/api/jobs", &[("host", host)], "");
        assert_eq!(status, 200, "{host}: {v}");
    }
    let (status, v) = send(addr, "GET", "/health", &[("host", &own)], "");
    assert_eq!(status, 200);
    assert!(v.get("version").is_some(), "loopback sees details: {v}");
}

#[test]
fn slow_header_connections_are_closed_after_the_timeout() {
    let srv = start();
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(srv.addr).expect("connect");
            s.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n")
                .expect("write");
            s.set_read_timeout(Some(Duration::from_secs(15)))
                .expect("timeout");
            s
        })
        .collect();
    for s in &mut slow {
        let mut buf = Vec::new();
        // The server closes the connection (possibly after a 408): the read ends.
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        assert!(buf.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "slow connections stayed open for {took:?} with a 1s header-read timeout"
    );
    // The server still answers.
    let (status, _) = send(srv.addr, "GET", "/health", &[("host", "localhost")], "");
    assert_eq!(status, 200);
}

/// Path traversal and oversized bodies (cases that held before issue 19, kept in the suite):
/// no request path reaches a file outside the served assets or an index by a crafted id,
/// and a body over the API's limit is refused before it is read whole.
#[test]
fn traversal_and_oversized_bodies_are_refused() {
    let srv = start();
    let own = srv.addr.to_string();
    let mut failures = Vec::new();
    for path in [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/ui/../../../../etc/passwd",
        "/ui/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/ui/..%5c..%5c..%5c..%5cetc%5cpasswd",
        "/api/jobs/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/jobs/..%2Ftidewatch-state",
        "/api/jobs/web/results/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/jobs/%2e%2e/results/buckets",
    ] {
        let (status, body) = send_raw(srv.addr, "GET", path, &[("host", &own)], "");
        if !(status == 400 || status == 404) || body.contains("root:") {
            failures.push(format!("{path}: expected 400 or 404, got {status}: {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let big = format!(r#"{{"duration":"1h","pad":"{}"}}"#, "x".repeat(16 << 20));
    let (status, body) = send_raw(
        srv.addr,
        "POST",
        "/api/jobs/web/_forecast",
        &[("host", &own), ("content-type", "application/json")],
        &big,
    );
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        forecast_docs(&srv.store),
        0,
        "an oversized request wrote a forecast"
    );
    let (status, _) = send(srv.addr, "GET", "/health", &[("host", "localhost")], "");
    assert_eq!(status, 200, "the server still answers");
}
