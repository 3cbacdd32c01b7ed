//! A fault-injecting HTTP proxy on 127.0.0.1, between the store under test and the real engine.
//!
//! Rules are matched in order against each request's path; a matching rule with uses left
//! injects its fault (and counts down). One request per connection (`connection: close`), so a
//! fault never leaks into the next request. It can also demand an `Authorization` header, as a
//! secured cluster would, since the test engines run without a security plugin.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do to a matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Read the request head, then drop the connection without answering (a reset when the
    /// request had a body still unread).
    Reset,
    /// Answer with this status and an Elasticsearch-shaped error, without forwarding.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` seconds to send.
        retry_after: Option<u64>,
    },
    /// Forward after sleeping this long.
    Delay(Duration),
    /// Forward, then rewrite every `every`-th bulk item (0, every, 2*every, ...) as failed.
    BulkItemFailures {
        /// Item stride.
        every: usize,
        /// Status to report for those items.
        status: u16,
    },
    /// Run this, then forward (e.g. kill a node of the cluster at the n-th bulk).
    Run(Hook),
}

/// What [`Fault::Run`] runs, on the request's thread, before the request is forwarded.
#[derive(Clone)]
pub struct Hook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl Fault {
    /// [`Fault::Status`].
    pub fn status(status: u16, retry_after: Option<u64>) -> Fault {
        Fault::Status {
            status,
            retry_after,
        }
    }

    /// [`Fault::BulkItemFailures`].
    pub fn bulk_item_failures(every: usize, status: u16) -> Fault {
        Fault::BulkItemFailures { every, status }
    }
}

/// A fault with the path it applies to and how many times.
#[derive(Debug, Clone)]
struct Rule {
    path_contains: String,
    fault: Fault,
    remaining: usize,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request method.
    pub method: String,
    /// Request path and query.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The fault injected, if any.
    pub fault: Option<String>,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
    required_auth: Option<String>,
}

/// A running proxy; it lives until the test binary exits.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Proxy {
    /// Starts a proxy in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> Proxy {
        Proxy::serve(upstream, "http", Some)
    }

    /// Starts an HTTPS proxy (TLS terminated here with `cert_pem`/`key_pem`) in front of
    /// `upstream`, standing in for a cluster behind a private CA.
    pub fn start_tls(upstream: &str, cert_pem: &Path, key_pem: &Path) -> Proxy {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
            .expect("read cert")
            .collect::<Result<_, _>>()
            .expect("parse cert");
        let key = PrivateKeyDer::from_pem_file(key_pem).expect("read key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        let config = Arc::new(config);
        Proxy::serve(upstream, "https", move |stream| {
            let conn = rustls::ServerConnection::new(Arc::clone(&config)).ok()?;
            Some(rustls::StreamOwned::new(conn, stream))
        })
    }

    /// Listens on a free port and serves each connection on its own thread, through `wrap`
    /// (which may refuse a connection by returning `None`).
    fn serve<S, F>(upstream: &str, scheme: &str, wrap: F) -> Proxy
    where
        S: Read + Write,
        F: Fn(TcpStream) -> Option<S> + Send + Sync + 'static,
    {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = Arc::clone(&state);
        let wrap = Arc::new(wrap);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                let upstream = upstream.clone();
                let wrap = Arc::clone(&wrap);
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    if let Some(stream) = wrap(stream) {
                        let _ = handle(stream, &upstream, &state);
                    }
                });
            }
        });
        Proxy { url, state }
    }

    /// Injects `fault` into the next `times` requests whose path contains `path_contains`.
    pub fn inject(&self, path_contains: &str, fault: Fault, times: usize) {
        self.state.lock().unwrap().rules.push(Rule {
            path_contains: path_contains.to_string(),
            fault,
            remaining: times,
        });
    }

    /// Answers 401 to requests whose `Authorization` header is not exactly `value`.
    pub fn require_authorization(&self, value: &str) {
        self.state.lock().unwrap().required_auth = Some(value.to_string());
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.fault.is_some())
            .count()
    }

    /// Uses left across all rules (0 once every planned fault happened).
    pub fn pending(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .rules
            .iter()
            .map(|r| r.remaining)
            .sum()
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_head(stream: &mut impl Read) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
    }
    Ok((String::from_utf8_lossy(&buf).into_owned(), buf))
}

fn parse_head(head: &str) -> (String, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (first, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn handle<S: Read + Write>(
    mut client: S,
    upstream: &str,
    state: &Mutex<State>,
) -> std::io::Result<()> {
    let (head, _) = read_head(&mut client)?;
    let (first, headers) = parse_head(&head);
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let authorization = header(&headers, "authorization").map(str::to_string);
    let (fault, auth_ok) = {
        let mut st = state.lock().unwrap();
        let auth_ok = st
            .required_auth
            .as_ref()
            .is_none_or(|want| authorization.as_deref() == Some(want.as_str()));
        let fault = if auth_ok {
            st.rules
                .iter_mut()
                .find(|r| r.remaining > 0 && path.contains(&r.path_contains))
                .map(|r| {
                    r.remaining -= 1;
                    r.fault.clone()
                })
        } else {
            None
        };
        st.seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            authorization: authorization.clone(),
            fault: fault.as_ref().map(|f| format!("{f:?}")),
        });
        (fault, auth_ok)
    };
    if let Some(Fault::Reset) = fault {
        // Unread body in the receive buffer makes the kernel send RST on close.
        drop(client);
        return Ok(());
    }
    let length: usize = header(&headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    client.read_exact(&mut body)?;
    let request = Request {
        method,
        path,
        headers,
        body,
    };
    if !auth_ok {
        let body = br#"{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate user for REST request"}],"type":"security_exception","reason":"unable to authenticate user for REST request"},"status":401}"#;
        return respond(
            &mut client,
            401,
            &[(
                "www-authenticate",
                "Basic realm=\"security\" charset=\"UTF-8\"",
            )],
            body,
        );
    }
    match &fault {
        Some(Fault::Delay(d)) => std::thread::sleep(*d),
        Some(Fault::Run(hook)) => (hook.0)(),
        _ => {}
    }
    match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let body = format!(
                r#"{{"error":{{"type":"injected_fault","reason":"proxy injected HTTP {status}"}},"status":{status}}}"#
            );
            let ra = retry_after.map(|s| s.to_string());
            let extra: Vec<(&str, &str)> = ra.iter().map(|v| ("retry-after", v.as_str())).collect();
            respond(&mut client, status, &extra, body.as_bytes())
        }
        Some(Fault::BulkItemFailures { every, status }) => {
            let (code, body) = forward(upstream, &request)?;
            let body = fail_items(&body, every, status);
            respond(&mut client, code, &[], &body)
        }
        _ => {
            let (status, body) = forward(upstream, &request)?;
            respond(&mut client, status, &[], &body)
        }
    }
}

fn fail_items(body: &[u8], every: usize, status: u16) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    if let Some(items) = v.get_mut("items").and_then(|i| i.as_array_mut()) {
        for (i, item) in items.iter_mut().enumerate() {
            if i % every.max(1) != 0 {
                continue;
            }
            if let Some(result) = item.as_object_mut().and_then(|o| o.values_mut().next()) {
                result["status"] = status.into();
                result["error"] = serde_json::json!({
                    "type": if status == 429 { "es_rejected_execution_exception" } else { "mapper_parsing_exception" },
                    "reason": format!("proxy injected item status {status}")
                });
            }
        }
        v["errors"] = true.into();
    }
    serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec())
}

/// Sends `request` upstream on a fresh connection; returns status and de-chunked body.
fn forward(upstream: &str, request: &Request) -> std::io::Result<(u16, Vec<u8>)> {
    let mut up = TcpStream::connect(upstream)?;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.path);
    for (k, v) in &request.headers {
        if k != "connection"
            && k != "accept-encoding"
            && k != "content-length"
            && k != "authorization"
        {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        request.body.len()
    ));
    up.write_all(head.as_bytes())?;
    up.write_all(&request.body)?;
    let mut raw = Vec::new();
    up.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len().saturating_sub(4));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let rest = &raw[(split + 4).min(raw.len())..];
    let (status_line, headers) = parse_head(&head);
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let body = if header(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}

fn respond(
    client: &mut impl Write,
    status: u16,
    extra: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    client.write_all(head.as_bytes())?;
    client.write_all(body)?;
    client.flush()
}

/// PEM files of a throw-away CA and a server certificate for `127.0.0.1` signed by it.
pub struct TestPki {
    /// The CA certificate (what `TIDEWATCH_ES_CA_CERT` points at).
    pub ca_pem: PathBuf,
    /// The server certificate.
    pub cert_pem: PathBuf,
    /// The server's private key.
    pub key_pem: PathBuf,
}

/// Makes a CA and a server certificate with the `openssl` command in `dir`.
pub fn make_pki(dir: &Path) -> TestPki {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=tidewatch test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    TestPki {
        ca_pem: dir.join("ca.pem"),
        cert_pem: dir.join("server.pem"),
        key_pem: dir.join("server.key"),
    }
}
