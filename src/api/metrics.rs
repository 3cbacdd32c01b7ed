//! Counters and gauges the runner updates and `/metrics` prints in Prometheus text format.
//!
//! Plain atomics rather than a metrics crate: the set is small and fixed, the runner updates
//! it once per batch ("count locally, emit once"), and the text format is a few lines to write.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Process-wide metrics: per-job figures plus store error and retry counters.
#[derive(Debug, Default)]
pub struct Metrics {
    jobs: Mutex<BTreeMap<String, Arc<JobMetrics>>>,
    store_errors: AtomicU64,
    store_retries: AtomicU64,
}

/// One job's figures. Get a handle once with [`Metrics::job`] and update it per batch.
#[derive(Debug, Default)]
pub struct JobMetrics {
    buckets_processed: AtomicU64,
    /// f64 bits of the lag in seconds.
    lag_seconds: AtomicU64,
    partitions: AtomicU64,
    running: AtomicBool,
}

impl JobMetrics {
    /// Adds `n` analysed buckets.
    pub fn add_buckets(&self, n: u64) {
        self.buckets_processed.fetch_add(n, Ordering::Relaxed);
    }
    /// Sets how far the job's last analysed bucket end is behind real time, in seconds.
    pub fn set_lag_seconds(&self, seconds: f64) {
        self.lag_seconds.store(seconds.to_bits(), Ordering::Relaxed);
    }
    /// Sets the number of partitions (models) the job holds.
    pub fn set_partitions(&self, n: u64) {
        self.partitions.store(n, Ordering::Relaxed);
    }
    /// Marks the job as being run by this process (or not any more).
    pub fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
    }
    /// Buckets analysed so far.
    pub fn buckets_processed(&self) -> u64 {
        self.buckets_processed.load(Ordering::Relaxed)
    }
    /// The last lag set, in seconds.
    pub fn lag_seconds(&self) -> f64 {
        f64::from_bits(self.lag_seconds.load(Ordering::Relaxed))
    }
    /// The last partition count set.
    pub fn partitions(&self) -> u64 {
        self.partitions.load(Ordering::Relaxed)
    }
    /// Whether this process runs the job.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The handle for `job_id`, created on first use.
    pub fn job(&self, job_id: &str) -> Arc<JobMetrics> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.entry(job_id.to_string()).or_default().clone()
    }

    /// The handle for `job_id` if something registered it.
    pub fn get_job(&self, job_id: &str) -> Option<Arc<JobMetrics>> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get(job_id).cloned()
    }

    /// Counts a failed store request.
    pub fn store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a retried store request.
    pub fn store_retry(&self) {
        self.store_retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Failed store requests so far.
    pub fn store_errors(&self) -> u64 {
        self.store_errors.load(Ordering::Relaxed)
    }

    /// Retried store requests so far.
    pub fn store_retries(&self) -> u64 {
        self.store_retries.load(Ordering::Relaxed)
    }

    /// The registry in Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let jobs: Vec<(String, Arc<JobMetrics>)> = {
            let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, values: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in values {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let per_job = |f: &dyn Fn(&JobMetrics) -> String| -> Vec<(String, String)> {
            jobs.iter()
                .map(|(id, m)| (format!("{{job_id=\"{}\"}}", escape_label(id)), f(m)))
                .collect()
        };
        family(
            "tidewatch_buckets_processed_total",
            "counter",
            "Buckets analysed by this process.",
            per_job(&|m| m.buckets_processed().to_string()),
        );
        family(
            "tidewatch_lag_seconds",
            "gauge",
            "How far the last analysed bucket end is behind real time.",
            per_job(&|m| float_text(m.lag_seconds())),
        );
        family(
            "tidewatch_partitions",
            "gauge",
            "Partitions (one model each) held for the job.",
            per_job(&|m| m.partitions().to_string()),
        );
        family(
            "tidewatch_job_running",
            "gauge",
            "1 when this process runs the job.",
            per_job(&|m| u8::from(m.running()).to_string()),
        );
        family(
            "tidewatch_store_errors_total",
            "counter",
            "Store requests that failed.",
            vec![(String::new(), self.store_errors().to_string())],
        );
        family(
            "tidewatch_store_retries_total",
            "counter",
            "Store requests that were retried.",
            vec![(String::new(), self.store_retries().to_string())],
        );
        out
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A float as Prometheus writes it (`NaN`, `+Inf`, `-Inf` for the special values).
fn float_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x == f64::INFINITY {
        "+Inf".into()
    } else if x == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One sample of a Prometheus text document.
    #[derive(Debug, PartialEq)]
    pub(crate) struct Sample {
        pub name: String,
        pub labels: Vec<(String, String)>,
        pub value: f64,
    }

    /// A strict-enough parser for the text exposition format: every line is a `# HELP`,
    /// a `# TYPE` (declared once, before its samples, with a known type), or a sample
    /// `name{label="value",...} number` whose name belongs to the declared family.
    pub(crate) fn parse_prometheus(text: &str) -> Result<Vec<Sample>, String> {
        let mut types: BTreeMap<String, String> = BTreeMap::new();
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let at = |m: &str| format!("line {}: {m}: `{line}`", n + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let mut parts = rest.splitn(3, ' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some("HELP"), Some(_), Some(_)) => {}
                    (Some("TYPE"), Some(name), Some(kind)) => {
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
                        {
                            return Err(at("unknown type"));
                        }
                        if types.insert(name.to_string(), kind.to_string()).is_some() {
                            return Err(at("family declared twice"));
                        }
                    }
                    _ => return Err(at("bad comment line")),
                }
                continue;
            }
            let (name_labels, value) = line.rsplit_once(' ').ok_or_else(|| at("no value"))?;
            let value: f64 = match value {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().map_err(|_| at("value is not a number"))?,
            };
            let (name, labels) = match name_labels.split_once('{') {
                None => (name_labels.to_string(), Vec::new()),
                Some((name, rest)) => {
                    let body = rest
                        .strip_suffix('}')
                        .ok_or_else(|| at("unclosed labels"))?;
                    (name.to_string(), parse_labels(body).map_err(|e| at(&e))?)
                }
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                || name.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(at("bad metric name"));
            }
            if !types.contains_key(&name) {
                return Err(at("sample before its # TYPE"));
            }
            out.push(Sample {
                name,
                labels,
                value,
            });
        }
        Ok(out)
    }

    fn parse_labels(body: &str) -> Result<Vec<(String, String)>, String> {
        let mut labels = Vec::new();
        let mut chars = body.chars().peekable();
        while chars.peek().is_some() {
            let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("bad label name `{name}`"));
            }
            if chars.next() != Some('"') {
                return Err("label value must be quoted".into());
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some(c @ ('\\' | '"')) => value.push(c),
                        _ => return Err("bad escape in label value".into()),
                    },
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            }
            labels.push((name, value));
            match chars.next() {
                Some(',') | None => {}
                Some(c) => return Err(format!("unexpected `{c}` after label")),
            }
        }
        Ok(labels)
    }

    #[test]
    fn renders_parseable_text_with_every_family() {
        let m = Metrics::new();
        let a = m.job("nginx \"prod\"\\eu");
        a.add_buckets(3);
        a.add_buckets(4);
        a.set_lag_seconds(12.5);
        a.set_partitions(40);
        a.set_running(true);
        m.job("other");
        m.store_error();
        m.store_retry();
        m.store_retry();
        let samples = parse_prometheus(&m.render()).unwrap();
        let get = |name: &str, job: Option<&str>| {
            samples
                .iter()
                .find(|s| {
                    s.name == name
                        && match job {
                            Some(j) => s.labels == vec![("job_id".to_string(), j.to_string())],
                            None => s.labels.is_empty(),
                        }
                })
                .map(|s| s.value)
        };
        let job = Some("nginx \"prod\"\\eu");
        assert_eq!(get("tidewatch_buckets_processed_total", job), Some(7.0));
        assert_eq!(get("tidewatch_lag_seconds", job), Some(12.5));
        assert_eq!(get("tidewatch_partitions", job), Some(40.0));
        assert_eq!(get("tidewatch_job_running", job), Some(1.0));
        assert_eq!(get("tidewatch_job_running", Some("other")), Some(0.0));
        assert_eq!(get("tidewatch_store_errors_total", None), Some(1.0));
        assert_eq!(get("tidewatch_store_retries_total", None), Some(2.0));
    }

    #[test]
    fn parser_rejects_malformed_text() {
        assert!(parse_prometheus("x 1\n").is_err(), "sample without TYPE");
        assert!(parse_prometheus("# TYPE x counter\nx{a=\"1} 1\n").is_err());
        assert!(parse_prometheus("# TYPE x counter\nx one\n").is_err());
        assert!(parse_prometheus("# TYPE x bogus\n").is_err());
        assert!(parse_prometheus("# TYPE x gauge\nx{a=\"b\"} NaN\n").is_ok());
    }
}
