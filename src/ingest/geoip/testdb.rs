//! A MaxMind DB writer for tests: small databases in the exact layouts of MaxMind's
//! GeoLite2 Country/City/ASN and of the ip-location-db packages, so the reader is tested
//! on each layout without shipping vendors' files. Format: MaxMind DB File Format
//! Specification 2.0 (a binary search tree of 24-bit records, a 16-byte separator, the data
//! section, then `\xAB\xCD\xEFMaxMind.com` and the metadata map).

use serde_json::Value;

/// A value of the MaxMind DB data section.
#[derive(Debug, Clone)]
pub(crate) enum Data {
    Str(String),
    Double(f64),
    Float(f32),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(String, Data)>),
    Array(Vec<Data>),
}

/// `serde_json`'s shape as data: integers as uint32, other numbers as doubles.
pub(crate) fn from_json(v: &Value) -> Data {
    match v {
        Value::String(s) => Data::Str(s.clone()),
        Value::Number(n) => match n.as_u64() {
            Some(u) if u <= u64::from(u32::MAX) => Data::U32(u as u32),
            _ => Data::Double(n.as_f64().unwrap_or(0.0)),
        },
        Value::Object(m) => Data::Map(m.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
        Value::Array(a) => Data::Array(a.iter().map(from_json).collect()),
        Value::Bool(_) | Value::Null => Data::Str(String::new()),
    }
}

fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (extended, first) = if kind <= 7 {
        (None, kind << 5)
    } else {
        (Some(kind - 7), 0)
    };
    let (bits, tail): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    out.push(first | bits);
    if let Some(ext) = extended {
        out.push(ext);
    }
    out.extend(tail);
}

fn uint(out: &mut Vec<u8>, kind: u8, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, kind, 8 - skip);
    out.extend(&bytes[skip..]);
}

/// Appends the encoding of `d`.
pub(crate) fn encode(out: &mut Vec<u8>, d: &Data) {
    match d {
        Data::Str(s) => {
            control(out, 2, s.len());
            out.extend(s.as_bytes());
        }
        Data::Double(x) => {
            control(out, 3, 8);
            out.extend(x.to_be_bytes());
        }
        Data::Float(x) => {
            control(out, 15, 4);
            out.extend(x.to_be_bytes());
        }
        Data::U16(v) => uint(out, 5, u64::from(*v)),
        Data::U32(v) => uint(out, 6, u64::from(*v)),
        Data::U64(v) => uint(out, 9, *v),
        Data::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, v) in pairs {
                encode(out, &Data::Str(k.clone()));
                encode(out, v);
            }
        }
        Data::Array(items) => {
            control(out, 11, items.len());
            for v in items {
                encode(out, v);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

/// Builds a database: networks `(address bits, prefix length)` in a tree of `ip_version`
/// depth (IPv4 networks in an IPv6 tree go under `::/96`, as MaxMind writes them).
pub(crate) struct Writer {
    ip_version: u16,
    nodes: Vec<[Rec; 2]>,
    data: Vec<u8>,
}

impl Writer {
    pub fn new(ip_version: u16) -> Writer {
        Writer {
            ip_version,
            nodes: vec![[Rec::Empty; 2]],
            data: Vec::new(),
        }
    }

    /// Maps the network `cidr` (`1.2.3.0/24`, `2a00::/16`) to `record`.
    pub fn insert(&mut self, cidr: &str, record: &Value) {
        self.insert_data(cidr, &from_json(record));
    }

    /// [`Writer::insert`] with the data spelt out (e.g. 32-bit floats).
    pub fn insert_data(&mut self, cidr: &str, record: &Data) {
        let (addr, len) = cidr.split_once('/').expect("a CIDR");
        let len: u32 = len.parse().expect("a prefix length");
        let (bits, len) = match addr.parse::<std::net::IpAddr>().expect("an address") {
            std::net::IpAddr::V4(v4) if self.ip_version == 4 => {
                (u128::from(u32::from(v4)) << 96, len)
            }
            std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)), len + 96),
            std::net::IpAddr::V6(v6) => (u128::from(v6), len),
        };
        let offset = self.data.len();
        encode(&mut self.data, record);
        let mut node = 0;
        for depth in 0..len {
            let bit = ((bits >> (127 - depth)) & 1) as usize;
            if depth + 1 == len {
                self.nodes[node][bit] = Rec::Data(offset);
                break;
            }
            node = match self.nodes[node][bit] {
                Rec::Node(n) => n,
                _ => {
                    self.nodes.push([Rec::Empty; 2]);
                    let n = self.nodes.len() - 1;
                    self.nodes[node][bit] = Rec::Node(n);
                    n
                }
            };
        }
    }

    /// The file's bytes, with `database_type` in the metadata.
    pub fn finish(self, database_type: &str) -> Vec<u8> {
        let count = self.nodes.len();
        let mut out = Vec::new();
        for node in &self.nodes {
            for rec in node {
                let v = match *rec {
                    Rec::Empty => count,
                    Rec::Node(n) => n,
                    Rec::Data(off) => count + 16 + off,
                };
                out.extend(&(v as u32).to_be_bytes()[1..]);
            }
        }
        out.extend([0u8; 16]);
        out.extend(&self.data);
        out.extend(b"\xAB\xCD\xEFMaxMind.com");
        let meta = Data::Map(vec![
            ("binary_format_major_version".into(), Data::U16(2)),
            ("binary_format_minor_version".into(), Data::U16(0)),
            ("build_epoch".into(), Data::U64(1_700_000_000)),
            ("database_type".into(), Data::Str(database_type.into())),
            ("description".into(), Data::Map(vec![])),
            ("ip_version".into(), Data::U16(self.ip_version)),
            (
                "languages".into(),
                Data::Array(vec![Data::Str("en".into())]),
            ),
            ("node_count".into(), Data::U32(count as u32)),
            ("record_size".into(), Data::U16(24)),
        ]);
        encode(&mut out, &meta);
        out
    }
}
