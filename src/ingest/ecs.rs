//! nginx variables to ECS fields: which field each variable fills, and how its text becomes
//! a JSON value (a number, a time, an IP address, or a keyword).

use super::doc::{DocTree, Scalar};
use crate::time::{days_from_civil, days_in_month, EpochMillis};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::net::IpAddr;

/// How a variable's text becomes the document's `@timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeSyntax {
    /// `$time_local`: `17/May/2015:08:05:32 +0000`.
    Local,
    /// `$time_iso8601`: `2015-05-17T08:05:32+00:00`.
    Iso8601,
    /// `$msec`: epoch seconds with a millisecond fraction, `1431849932.123`.
    Msec,
}

/// What a variable's value is and where it goes in the document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldKind {
    /// A candidate for `@timestamp`.
    Time(TimeSyntax),
    /// `$request`: `GET /path HTTP/1.1`, split into method, `url.original` and version.
    Request,
    /// `$server_protocol`: `HTTP/1.1` stored as `1.1`.
    Protocol(Path),
    /// An IP address.
    Ip(Path),
    /// Text, stored as is (a keyword).
    Keyword(Path),
    /// A non-negative whole number.
    Long(Path),
    /// `$status`: an HTTP status code.
    Status(Path),
    /// `$request_time`: seconds with a millisecond fraction, stored as nanoseconds
    /// (ECS `event.duration`).
    DurationNanos(Path),
    /// `$upstream_*_time`: seconds, possibly a list (`0.010, 0.002 : 0.001` when nginx tried
    /// several upstreams); stored as the sum in seconds.
    SecondsSum(Path),
}

/// A dotted ECS field name split at the dots, e.g. `["http", "response", "status_code"]`.
pub(crate) type Path = Vec<String>;

fn path(dotted: &str) -> Path {
    dotted.split('.').map(str::to_owned).collect()
}

/// The field an nginx variable (name without `$`) fills. Unknown variables are kept as
/// keywords under `nginx.<name>`.
pub(crate) fn field_for(var: &str) -> FieldKind {
    use FieldKind::*;
    match var {
        "time_local" => Time(TimeSyntax::Local),
        "time_iso8601" => Time(TimeSyntax::Iso8601),
        "msec" => Time(TimeSyntax::Msec),
        "request" => Request,
        "remote_addr" | "realip_remote_addr" => Ip(path("source.address")),
        "remote_port" => Long(path("source.port")),
        "remote_user" => Keyword(path("user.name")),
        "request_method" => Keyword(path("http.request.method")),
        "request_uri" => Keyword(path("url.original")),
        "uri" | "document_uri" => Keyword(path("url.path")),
        "args" | "query_string" => Keyword(path("url.query")),
        "scheme" => Keyword(path("url.scheme")),
        "host" | "http_host" | "server_name" => Keyword(path("url.domain")),
        "server_port" => Long(path("url.port")),
        "server_protocol" => Protocol(path("http.version")),
        "status" => Status(path("http.response.status_code")),
        "body_bytes_sent" => Long(path("http.response.body.bytes")),
        "bytes_sent" => Long(path("http.response.bytes")),
        "request_length" => Long(path("http.request.bytes")),
        "http_referer" => Keyword(path("http.request.referrer")),
        "http_user_agent" => Keyword(path("user_agent.original")),
        "request_id" => Keyword(path("http.request.id")),
        "request_time" => DurationNanos(path("event.duration")),
        "upstream_response_time" | "upstream_connect_time" | "upstream_header_time" => {
            SecondsSum(vec!["nginx".to_owned(), var.to_owned()])
        }
        "geoip_country_code"
        | "geoip2_data_country_code"
        | "geoip2_data_country_iso_code"
        | "geoip2_country_code"
        | "http_cf_ipcountry"
        | "http_x_country_code"
        | "http_cloudfront_viewer_country" => Keyword(path("source.geo.country_iso_code")),
        "geoip_country_name" | "geoip2_data_country_name" => {
            Keyword(path("source.geo.country_name"))
        }
        "geoip_city" | "geoip2_data_city_name" => Keyword(path("source.geo.city_name")),
        _ => Keyword(vec!["nginx".to_owned(), var.to_owned()]),
    }
}

/// Why one variable's text was refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValueError(pub String);

/// Shortens a value for an error message.
pub(crate) fn shown(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}…")
}

fn expected(what: &str, found: &str) -> ValueError {
    ValueError(format!("expected {what}, found `{}`", shown(found)))
}

/// Undoes nginx's `escape=default` (`\x22` for `"`, `\x5C` for `\`, other bytes outside
/// printable ASCII as `\xHH`). Text without `\x` is returned unchanged.
pub(crate) fn unescape(text: &str) -> Cow<'_, str> {
    // A search for one byte is a vectorised memchr; the substring search behind it is not.
    if !text.contains('\\') || !text.contains("\\x") {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            if let (Some(h), Some(l)) = (hex(b[i + 2]), hex(b[i + 3])) {
                out.push(h << 4 | l);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parses a time in the given syntax to epoch milliseconds.
pub(crate) fn parse_time(syntax: TimeSyntax, text: &str) -> Result<EpochMillis, ValueError> {
    let parsed = match syntax {
        TimeSyntax::Local => parse_time_local(text).or_else(|| crate::time::parse_timestamp(text)),
        TimeSyntax::Iso8601 => crate::time::parse_timestamp(text),
        TimeSyntax::Msec => text
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s * 1000.0).round() as i64),
    };
    parsed.ok_or_else(|| {
        let what = match syntax {
            TimeSyntax::Local => "a time like `17/May/2015:08:05:32 +0000`",
            TimeSyntax::Iso8601 => "a time like `2015-05-17T08:05:32+00:00`",
            TimeSyntax::Msec => "epoch seconds like `1431849932.123`",
        };
        expected(what, text)
    })
}

/// Fast path for nginx's `$time_local` (`dd/Mon/yyyy:HH:MM:SS +hhmm`), the format of almost
/// every access log; chrono's general parser is several times slower.
fn parse_time_local(text: &str) -> Option<EpochMillis> {
    let b = text.as_bytes();
    if b.len() != 26
        || b[2] != b'/'
        || b[6] != b'/'
        || b[11] != b':'
        || b[14] != b':'
        || b[17] != b':'
        || b[20] != b' '
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let day = num(0..2)?;
    let month = match &b[3..6] {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    };
    let year = num(7..11)?;
    let (hour, minute, second) = (num(12..14)?, num(15..17)?, num(18..20)?);
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (oh, om) = (num(22..24)?, num(24..26)?);
    if day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
        || om > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let local = ((days * 24 + hour) * 60 + minute) * 60 + second;
    Some((local - sign * (oh * 3600 + om * 60)) * 1000)
}

/// Converts a variable's text (already known not to be `-`) into the value stored for it and
/// inserts it into `doc`. `Time` fields are handled by the caller.
pub(crate) fn insert_value(
    doc: &mut DocTree,
    kind: &FieldKind,
    text: &str,
) -> Result<(), ValueError> {
    match kind {
        FieldKind::Time(_) => {}
        FieldKind::Request => insert_request(doc, text),
        FieldKind::Protocol(p) => {
            doc.insert_str(p, text.strip_prefix("HTTP/").unwrap_or(text));
        }
        FieldKind::Ip(p) => {
            let ip: IpAddr = text.parse().map_err(|_| expected("an IP address", text))?;
            // Store the canonical form so `::FFFF:1.2.3.4` and `::ffff:1.2.3.4` are one value.
            // An IPv4 address that parses is written so already (the parser refuses leading
            // zeros), and is copied as it is.
            if ip.is_ipv4() {
                doc.insert_str(p, text);
            } else {
                doc.insert_display(p, ip);
            }
        }
        FieldKind::Keyword(p) => doc.insert_str(p, &unescape(text)),
        FieldKind::Long(p) => {
            let n = parse_u64(text).ok_or_else(|| expected("a number", text))?;
            doc.insert(p, Scalar::U64(n));
        }
        FieldKind::Status(p) => {
            let n = parse_u64(text)
                .filter(|&n| n < 1000)
                .ok_or_else(|| expected("a number", text))?;
            doc.insert(p, Scalar::U64(n));
        }
        FieldKind::DurationNanos(p) => {
            let secs = parse_seconds(text).ok_or_else(|| expected("seconds like `0.125`", text))?;
            doc.insert(p, Scalar::I64((secs * 1e9).round() as i64));
        }
        FieldKind::SecondsSum(p) => {
            let mut total = 0.0;
            let mut any = false;
            for part in text.split([',', ':']).map(str::trim) {
                if part == "-" || part.is_empty() {
                    continue;
                }
                total +=
                    parse_seconds(part).ok_or_else(|| expected("seconds like `0.125`", text))?;
                any = true;
            }
            if any {
                // Round to the microsecond nginx never exceeds, so sums print cleanly.
                doc.insert(p, Scalar::F64((total * 1e6).round() / 1e6));
            }
        }
    }
    Ok(())
}

fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_seconds(text: &str) -> Option<f64> {
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return None;
    }
    text.parse::<f64>().ok().filter(|s| s.is_finite())
}

/// Splits `$request` (`GET /path?q=1 HTTP/1.1`) into `http.request.method`, `url.original`
/// and `http.version`. A request line that is not of this shape (a TLS handshake sent to the
/// plain port, a truncated request) is a real event with a 400 status, so it is kept whole
/// in `nginx.request` rather than rejected.
fn insert_request(doc: &mut DocTree, text: &str) {
    let mut parts = text.splitn(2, ' ');
    let method = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    let method_ok = !method.is_empty()
        && method
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c == b'_' || c == b'-');
    if !method_ok || rest.is_empty() {
        doc.insert_str(&["nginx", "request"], &unescape(text));
        return;
    }
    let (url, version) = match rest.rsplit_once(' ') {
        Some((url, proto)) if proto.starts_with("HTTP/") => (url, Some(&proto[5..])),
        _ => (rest, None),
    };
    doc.insert_str(&["http", "request", "method"], method);
    doc.insert_str(&["url", "original"], &unescape(url));
    if let Some(v) = version {
        doc.insert_str(&["http", "version"], v);
    }
}

/// Inserts `value` at a dotted path, creating the nested objects on the way (as in
/// Elasticsearch's `_source`). A scalar in the way is replaced by an object.
pub(crate) fn insert<S: AsRef<str>>(doc: &mut Map<String, Value>, path: &[S], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = doc;
    for key in parents {
        let key = key.as_ref();
        if !matches!(cur.get(key), Some(Value::Object(_))) {
            cur.insert(key.to_owned(), Value::Object(Map::new()));
        }
        cur = match cur.get_mut(key) {
            Some(Value::Object(m)) => m,
            _ => return, // unreachable: inserted just above
        };
    }
    cur.insert(last.as_ref().to_owned(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn time_local_matches_chrono() {
        for t in [
            "17/May/2015:08:05:32 +0000",
            "29/Feb/2024:23:59:59 +0530",
            "01/Jan/1999:00:00:00 -0800",
        ] {
            assert_eq!(parse_time_local(t), crate::time::parse_timestamp(t), "{t}");
        }
        assert_eq!(
            parse_time_local("17/May/2015:08:05:32 +0000"),
            Some(1_431_849_932_000)
        );
        assert_eq!(parse_time_local("30/Feb/2024:00:00:00 +0000"), None);
        assert_eq!(parse_time_local("17/Mai/2015:08:05:32 +0000"), None);
        assert_eq!(parse_time_local("17/May/2015:08:05:32"), None);
    }

    #[test]
    fn time_errors_say_what_was_expected() {
        let e = parse_time(TimeSyntax::Local, "yesterday").unwrap_err();
        assert_eq!(
            e.0,
            "expected a time like `17/May/2015:08:05:32 +0000`, found `yesterday`"
        );
        assert_eq!(
            parse_time(TimeSyntax::Msec, "1431849932.123"),
            Ok(1_431_849_932_123)
        );
        assert_eq!(
            parse_time(TimeSyntax::Iso8601, "2015-05-17T08:05:32+00:00"),
            Ok(1_431_849_932_000)
        );
    }

    #[test]
    fn request_is_split() {
        let mut doc = DocTree::default();
        insert_value(&mut doc, &FieldKind::Request, "GET /a?b=1 HTTP/1.1").unwrap();
        assert_eq!(
            doc.to_value(),
            json!({"http": {"request": {"method": "GET"}, "version": "1.1"}, "url": {"original": "/a?b=1"}})
        );
        let mut doc = DocTree::default();
        insert_value(&mut doc, &FieldKind::Request, "\\x16\\x03\\x01").unwrap();
        assert_eq!(
            doc.to_value(),
            json!({"nginx": {"request": "\u{16}\u{3}\u{1}"}})
        );
        let mut doc = DocTree::default();
        insert_value(&mut doc, &FieldKind::Request, "GET /a b HTTP/1.0").unwrap();
        assert_eq!(doc.to_value()["url"]["original"], "/a b");
    }

    #[test]
    fn values_are_typed_or_refused() {
        let mut doc = DocTree::default();
        let status = field_for("status");
        assert_eq!(
            insert_value(&mut doc, &status, "abc").unwrap_err().0,
            "expected a number, found `abc`"
        );
        insert_value(&mut doc, &status, "404").unwrap();
        insert_value(&mut doc, &field_for("remote_addr"), "2001:DB8::1").unwrap();
        assert!(insert_value(&mut doc, &field_for("remote_addr"), "example.com").is_err());
        insert_value(&mut doc, &field_for("request_time"), "0.125").unwrap();
        insert_value(
            &mut doc,
            &field_for("upstream_response_time"),
            "0.010, 0.002 : -",
        )
        .unwrap();
        insert_value(
            &mut doc,
            &field_for("http_user_agent"),
            "a \\x22quoted\\x22 agent",
        )
        .unwrap();
        insert_value(&mut doc, &field_for("my_var"), "x").unwrap();
        assert_eq!(
            doc.to_value(),
            json!({
                "http": {"response": {"status_code": 404}},
                "source": {"address": "2001:db8::1"},
                "event": {"duration": 125_000_000},
                "nginx": {"upstream_response_time": 0.012, "my_var": "x"},
                "user_agent": {"original": "a \"quoted\" agent"},
            })
        );
    }

    #[test]
    fn an_ipv4_address_that_parses_is_canonical() {
        for text in ["1.2.3.4", "255.255.255.255", "0.0.0.0", "10.200.3.99"] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(ip.to_string(), text);
        }
        for text in [
            "01.2.3.4",
            "1.2.3.04",
            " 1.2.3.4",
            "1.2.3.4 ",
            "1.2.3",
            "0x1.2.3.4",
        ] {
            assert!(text.parse::<IpAddr>().is_err(), "{text}");
        }
    }

    #[test]
    fn unescape_leaves_plain_text_alone() {
        assert_eq!(unescape("plain \\ text"), "plain \\ text");
        assert_eq!(unescape("\\x5C\\xZZ\\x"), "\\\\xZZ\\x");
    }

    /// Every field a known variable fills is in mappings/nginx-logs.json with a matching type,
    /// so Elasticsearch and the embedded store agree on what each field is.
    #[test]
    fn index_template_maps_every_known_field() {
        let template: Value =
            serde_json::from_str(include_str!("../../mappings/nginx-logs.json")).unwrap();
        let props = &template["template"]["mappings"]["properties"];
        let type_of = |p: &[&str]| -> String {
            let mut cur = props;
            for (i, k) in p.iter().enumerate() {
                cur = &cur[*k];
                if i + 1 < p.len() {
                    cur = &cur["properties"];
                }
            }
            cur["type"]
                .as_str()
                .unwrap_or_else(|| panic!("{} is not mapped", p.join(".")))
                .to_owned()
        };
        assert_eq!(type_of(&["@timestamp"]), "date");
        // What `--geoip` adds (src/ingest/geoip).
        assert_eq!(type_of(&["source", "geo", "location"]), "geo_point");
        assert_eq!(type_of(&["source", "as", "number"]), "long");
        for p in [
            ["http", "request", "method", ""],
            ["url", "original", "", ""],
            ["http", "version", "", ""],
            ["nginx", "request", "", ""],
            ["source", "geo", "country_iso_code", ""],
            ["source", "geo", "country_name", ""],
            ["source", "geo", "continent_code", ""],
            ["source", "geo", "city_name", ""],
            ["source", "as", "organization", "name"],
        ] {
            let p: Vec<&str> = p.into_iter().filter(|s| !s.is_empty()).collect();
            assert_eq!(type_of(&p), "keyword");
        }
        let vars = [
            "remote_addr",
            "realip_remote_addr",
            "remote_port",
            "remote_user",
            "request_method",
            "request_uri",
            "uri",
            "args",
            "scheme",
            "host",
            "server_port",
            "server_protocol",
            "status",
            "body_bytes_sent",
            "bytes_sent",
            "request_length",
            "http_referer",
            "http_user_agent",
            "request_id",
            "request_time",
            "upstream_response_time",
            "upstream_connect_time",
            "upstream_header_time",
            "geoip_country_code",
            "geoip_country_name",
            "geoip_city",
        ];
        for var in vars {
            let (path, want) = match field_for(var) {
                FieldKind::Ip(p) => (p, "ip"),
                FieldKind::Keyword(p) | FieldKind::Protocol(p) => (p, "keyword"),
                FieldKind::Long(p) | FieldKind::Status(p) | FieldKind::DurationNanos(p) => {
                    (p, "long")
                }
                FieldKind::SecondsSum(p) => (p, "double"),
                FieldKind::Time(_) | FieldKind::Request => continue,
            };
            let p: Vec<&str> = path.iter().map(String::as_str).collect();
            assert_eq!(type_of(&p), want, "${var}");
        }
    }
}
