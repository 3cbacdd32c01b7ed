//! GeoIP at ingest (`tidewatch ingest --geoip FILE.mmdb [--geoip-asn FILE.mmdb]`): each
//! document's `source.address` is looked up in MaxMind DB files and the ECS fields the
//! databases have are added: `source.geo.country_iso_code`, `country_name`,
//! `continent_code`, `city_name`, `location` (a geo_point `{"lat", "lon"}`), and
//! `source.as.number` / `source.as.organization.name`.
//!
//! Choices a newcomer may question:
//! - **One reader for every layout.** MaxMind's GeoLite2 (Country, City, ASN), DB-IP Lite
//!   and the `@ip-location-db` npm packages key their records differently; `record.rs`
//!   reads the keys of all of them, so a database is never declared by type. `--geoip-asn`
//!   is only a second database: fields come from the first one that has them.
//! - **What the log already says wins.** A country written by nginx's own GeoIP module
//!   (`$geoip_country_code`) was right at request time; the database only fills what the
//!   line left out.
//! - **Private and reserved addresses are not looked up** (RFC 1918, loopback, link-local,
//!   CGNAT, unique-local IPv6, documentation, multicast): they get no geo fields and are
//!   counted apart from public addresses the databases do not cover, so a summary says
//!   which of the two a gap is.
//! - **Decoded records are cached by their place in the file.** Many networks share one
//!   record (every US range points at the same country record), so decoding is paid once
//!   per distinct record; the tree walk per address stays (a few dozen steps).

mod record;
#[cfg(test)]
mod testdb;

pub(crate) use record::GeoFields;

use super::doc::{DocTree, Scalar};
use super::ecs::insert;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// Decoded records kept per database before the cache starts over.
const CACHE_LIMIT: usize = 100_000;

/// Why a GeoIP database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    /// The file could not be read.
    #[error("{flag} {path}: cannot read: {source}")]
    Open {
        /// `--geoip` or `--geoip-asn`.
        flag: &'static str,
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a MaxMind DB (`.mmdb`) file, or a record in it is corrupt.
    #[error("{flag} {path}: not a usable MaxMind DB (.mmdb) file: {message}")]
    Invalid {
        /// `--geoip` or `--geoip-asn`.
        flag: &'static str,
        /// The file.
        path: String,
        /// What the reader said.
        message: String,
    },
    /// The log format has no client address to look up.
    #[error("--geoip needs the client address, but the log format has none of $remote_addr or $realip_remote_addr: {format}")]
    NoAddress {
        /// The `log_format` string.
        format: String,
    },
}

/// What GeoIP did to an ingest's lines, for its summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoIpCounts {
    /// The databases, in the order given, with how many lines each filled a field of.
    pub databases: Vec<(String, u64)>,
    /// Lines that got at least one geo or AS field.
    pub located: u64,
    /// Lines from a private or reserved address (not looked up).
    pub private: u64,
    /// Lines from a public address that no database covers.
    pub unknown: u64,
    /// Lines without a client address (`-`).
    pub no_address: u64,
}

impl fmt::Display for GeoIpCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = super::load::thousands;
        write!(
            f,
            "GeoIP: {} lines located, {} from private or reserved addresses, {} from addresses not in the database",
            n(self.located),
            n(self.private),
            n(self.unknown)
        )?;
        if self.no_address > 0 {
            write!(f, ", {} without a client address", n(self.no_address))?;
        }
        write!(f, ".")?;
        let public = self.located + self.unknown;
        for (path, hits) in &self.databases {
            if *hits == 0 && public > 0 {
                write!(
                    f,
                    "\n{path} gave no field for any of {} lines from public addresses: is it the right file?",
                    n(public)
                )?;
            }
        }
        Ok(())
    }
}

/// One open database with its record cache.
struct Database {
    path: String,
    reader: maxminddb::Reader<Vec<u8>>,
    cache: HashMap<usize, GeoFields>,
}

impl Database {
    fn open(flag: &'static str, path: &Path) -> Result<Database, GeoIpError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| GeoIpError::Open {
            flag,
            path: shown.clone(),
            source,
        })?;
        let reader = maxminddb::Reader::from_source(bytes).map_err(|e| GeoIpError::Invalid {
            flag,
            path: shown.clone(),
            message: e.to_string(),
        })?;
        Ok(Database {
            path: shown,
            reader,
            cache: HashMap::new(),
        })
    }

    /// The fields this database has for `ip` (empty when it does not cover it).
    fn lookup(&mut self, ip: IpAddr) -> Result<GeoFields, maxminddb::MaxMindDbError> {
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            return Ok(GeoFields::default());
        }
        let found = self.reader.lookup(ip)?;
        let Some(offset) = found.offset() else {
            return Ok(GeoFields::default());
        };
        if let Some(hit) = self.cache.get(&offset) {
            return Ok(hit.clone());
        }
        let fields = found
            .decode::<record::Record>()?
            .map(record::Record::fields)
            .unwrap_or_default();
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        self.cache.insert(offset, fields.clone());
        Ok(fields)
    }
}

/// Adds geo and AS fields to documents from one or two MaxMind DB files.
pub struct GeoIp {
    databases: Vec<Database>,
    counts: GeoIpCounts,
}

impl GeoIp {
    /// Opens `--geoip` and, if given, `--geoip-asn`.
    pub fn open(geoip: &Path, asn: Option<&Path>) -> Result<GeoIp, GeoIpError> {
        let mut databases = vec![Database::open("--geoip", geoip)?];
        if let Some(asn) = asn {
            databases.push(Database::open("--geoip-asn", asn)?);
        }
        let counts = GeoIpCounts {
            databases: databases.iter().map(|d| (d.path.clone(), 0)).collect(),
            ..GeoIpCounts::default()
        };
        Ok(GeoIp { databases, counts })
    }

    /// The counts so far.
    pub fn counts(&self) -> &GeoIpCounts {
        &self.counts
    }

    /// Looks up the document's `source.address` and adds the fields found (those the
    /// document does not already have). A corrupt record is an error naming the database.
    pub fn enrich(&mut self, doc: &mut Value) -> Result<(), GeoIpError> {
        match doc {
            Value::Object(map) => self.enrich_doc(map),
            _ => self.enrich_doc(&mut Map::new()),
        }
    }

    /// [`GeoIp::enrich`] of a JSON object or a line's [`DocTree`].
    pub(crate) fn enrich_doc(&mut self, doc: &mut impl GeoTarget) -> Result<(), GeoIpError> {
        let address = doc.address().and_then(|s| s.parse::<IpAddr>().ok());
        let Some(ip) = address.map(canonical) else {
            self.counts.no_address += 1;
            return Ok(());
        };
        if !is_public(ip) {
            self.counts.private += 1;
            return Ok(());
        }
        let mut merged = GeoFields::default();
        for (i, db) in self.databases.iter_mut().enumerate() {
            let fields = db.lookup(ip).map_err(|e| GeoIpError::Invalid {
                flag: if i == 0 { "--geoip" } else { "--geoip-asn" },
                path: db.path.clone(),
                message: format!("looking up {ip}: {e}"),
            })?;
            if !fields.is_empty() {
                self.counts.databases[i].1 += 1;
                merged.fill_from(&fields);
            }
        }
        if merged.is_empty() {
            self.counts.unknown += 1;
            return Ok(());
        }
        self.counts.located += 1;
        insert_fields(doc, merged);
        Ok(())
    }
}

/// A document GeoIP fields go into: a JSON object, or a line's [`DocTree`] (ingest).
pub(crate) trait GeoTarget {
    /// The text of `source.address`.
    fn address(&self) -> Option<&str>;
    /// Whether the document has a value at the path.
    fn has(&self, path: &[&str]) -> bool;
    /// Inserts a value at the path (a location as `{"lat", "lon"}`).
    fn put(&mut self, path: &[&str], value: GeoValue);
}

/// A value [`GeoTarget::put`] inserts.
pub(crate) enum GeoValue {
    Text(String),
    Number(u64),
    Location(f64, f64),
}

impl GeoTarget for Map<String, Value> {
    fn address(&self) -> Option<&str> {
        self.get("source")?.get("address")?.as_str()
    }
    fn has(&self, path: &[&str]) -> bool {
        has_path(self, path)
    }
    fn put(&mut self, path: &[&str], value: GeoValue) {
        let value = match value {
            GeoValue::Text(s) => Value::from(s),
            GeoValue::Number(n) => Value::from(n),
            GeoValue::Location(lat, lon) => serde_json::json!({"lat": lat, "lon": lon}),
        };
        insert(self, path, value);
    }
}

impl GeoTarget for DocTree {
    fn address(&self) -> Option<&str> {
        self.get_str(&["source", "address"])
    }
    fn has(&self, path: &[&str]) -> bool {
        DocTree::has(self, path)
    }
    fn put(&mut self, path: &[&str], value: GeoValue) {
        match value {
            GeoValue::Text(s) => self.insert_str(path, &s),
            GeoValue::Number(n) => self.insert(path, Scalar::U64(n)),
            GeoValue::Location(lat, lon) => {
                let mut at: Vec<&str> = path.to_vec();
                at.push("lat");
                self.insert(&at, Scalar::F64(lat));
                at.pop();
                at.push("lon");
                self.insert(&at, Scalar::F64(lon));
            }
        }
    }
}

/// Inserts each field the document does not have yet.
fn insert_fields(doc: &mut impl GeoTarget, f: GeoFields) {
    let mut put = |path: &[&str], value: Option<GeoValue>| {
        if let Some(value) = value {
            if !doc.has(path) {
                doc.put(path, value);
            }
        }
    };
    let geo = |k: &'static str| ["source", "geo", k];
    put(
        &geo("country_iso_code"),
        f.country_iso_code.map(GeoValue::Text),
    );
    put(&geo("country_name"), f.country_name.map(GeoValue::Text));
    put(&geo("continent_code"), f.continent_code.map(GeoValue::Text));
    put(&geo("city_name"), f.city_name.map(GeoValue::Text));
    let location = f.location.map(|(lat, lon)| GeoValue::Location(lat, lon));
    put(&geo("location"), location);
    put(
        &["source", "as", "number"],
        f.as_number.map(GeoValue::Number),
    );
    put(
        &["source", "as", "organization", "name"],
        f.as_organization.map(GeoValue::Text),
    );
}

/// Whether `doc` has a value at the dotted path.
fn has_path(doc: &Map<String, Value>, path: &[&str]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let mut cur = doc.get(*first);
    for key in rest {
        cur = cur.and_then(|v| v.get(*key));
    }
    cur.is_some()
}

/// `::ffff:1.2.3.4` is the IPv4 address it maps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether an address is globally routed (neither private nor reserved).
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || a >= 240 // reserved, class E
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19))) // benchmarking, RFC 2544
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation, 2001:db8::/32
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64, 64:ff9b::/96
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)) // discard, 100::/64
}

#[cfg(test)]
mod tests;
