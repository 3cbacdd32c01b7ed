//! nginx `log_format` strings compiled to a line parser.
//!
//! A format is a literal prefix followed by `$variable` + literal-separator pairs. A line is
//! matched left to right: each variable's value runs up to the first occurrence of the
//! separator that follows it in the format (nginx escapes `"` inside values as `\x22`, so a
//! quoted value cannot contain its closing quote). This is a plain substring scan, with no
//! regular expression and no backtracking, and it reports exactly where a line stops
//! matching.

use super::doc::DocTree;
use super::ecs::{self, FieldKind};
use crate::time::EpochMillis;
use serde_json::Value;
use std::fmt;

/// nginx's predefined `combined` format.
pub const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;

/// A compiled nginx `log_format`: turns one access-log line into an ECS document.
///
/// ```
/// use tidewatch::ingest::LogFormat;
/// let format = LogFormat::named("combined").unwrap();
/// let line = r#"1.2.3.4 - - [17/May/2015:08:05:32 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.0""#;
/// let parsed = format.parse_line(line).unwrap();
/// assert_eq!(parsed.document["http"]["response"]["status_code"], 200);
/// assert_eq!(parsed.document["@timestamp"], "2015-05-17T08:05:32.000Z");
/// ```
#[derive(Debug, Clone)]
pub struct LogFormat {
    text: String,
    prefix: String,
    segments: Vec<Segment>,
    time: usize,
}

#[derive(Debug, Clone)]
struct Segment {
    name: String,
    kind: FieldKind,
    /// The literal text after the variable; empty only for a variable that ends the format.
    suffix: String,
}

/// A `log_format` string that cannot be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("log format `{format}`: {message}")]
pub struct FormatError {
    /// The format as given.
    pub format: String,
    /// What is wrong and what would fix it.
    pub message: String,
}

/// Why one line was not turned into a document.
#[derive(Debug, Clone, PartialEq)]
pub struct LineError {
    /// The variable (without `$`) whose value was wrong, when one was.
    pub field: Option<String>,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLine {
    /// The request's time (the document's `@timestamp`), epoch milliseconds.
    pub timestamp: EpochMillis,
    /// The ECS document, nested objects as in Elasticsearch's `_source`.
    pub document: Value,
}

impl LogFormat {
    /// `combined` (nginx's predefined format), or else a `log_format` string to compile.
    pub fn named(name_or_format: &str) -> Result<LogFormat, FormatError> {
        match name_or_format.trim() {
            "combined" => LogFormat::compile(COMBINED),
            other => LogFormat::compile(other),
        }
    }

    /// Compiles a `log_format` string such as
    /// `$remote_addr - $remote_user [$time_local] "$request" $status ...`.
    /// Variables may be written `$name` or `${name}`.
    pub fn compile(format: &str) -> Result<LogFormat, FormatError> {
        let err = |message: String| FormatError {
            format: format.to_owned(),
            message,
        };
        let mut prefix = String::new();
        let mut segments: Vec<Segment> = Vec::new();
        let mut literal = String::new();
        let (mut i, mut from) = (0, 0);
        while let Some(off) = format[i..].find('$') {
            let at = i + off;
            let (name, next) = if format[at + 1..].starts_with('{') {
                let Some(close) = format[at + 2..].find('}') else {
                    return Err(err(format!("`${{` at byte {at} is never closed with `}}`")));
                };
                (&format[at + 2..at + 2 + close], at + 3 + close)
            } else {
                let end = format[at + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(format.len(), |n| at + 1 + n);
                (&format[at + 1..end], end)
            };
            if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                // A lone `$` is literal text, as nginx treats it.
                i = at + 1;
                continue;
            }
            literal.push_str(&format[from..at]);
            (i, from) = (next, next);
            match segments.last_mut() {
                None => prefix = std::mem::take(&mut literal),
                Some(prev) if literal.is_empty() => {
                    return Err(err(format!(
                        "`${}` is directly followed by `${name}`; put a separator (a space, a quote...) \
                         between them so a line can be split",
                        prev.name
                    )))
                }
                Some(prev) => prev.suffix = std::mem::take(&mut literal),
            }
            segments.push(Segment {
                name: name.to_owned(),
                kind: ecs::field_for(name),
                suffix: String::new(),
            });
        }
        literal.push_str(&format[from..]);
        match segments.last_mut() {
            None => {
                return Err(err(
                    "it has no `$variable`s, so there is nothing to extract".into(),
                ))
            }
            Some(last) => last.suffix = literal,
        }
        let Some(time) = segments
            .iter()
            .position(|s| matches!(s.kind, FieldKind::Time(_)))
        else {
            return Err(err(
                "it has no time variable ($time_local, $time_iso8601 or $msec); every document needs an @timestamp"
                    .into(),
            ));
        };
        // Only the first time variable becomes @timestamp; others are kept as text.
        for (i, seg) in segments.iter_mut().enumerate() {
            if i != time && matches!(seg.kind, FieldKind::Time(_)) {
                seg.kind = FieldKind::Keyword(vec!["nginx".to_owned(), seg.name.clone()]);
            }
        }
        Ok(LogFormat {
            text: format.to_owned(),
            prefix,
            segments,
            time,
        })
    }

    /// The format string this was compiled from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The variables of the format, in order, without `$`.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(|s| s.name.as_str())
    }

    /// Parses one line (without its line terminator) into an ECS document. A value of `-`
    /// (nginx's "empty") leaves its field out of the document.
    pub fn parse_line(&self, line: &str) -> Result<ParsedLine, LineError> {
        let mut doc = DocTree::default();
        let timestamp = self.parse_into(line, &mut doc)?;
        Ok(ParsedLine {
            timestamp,
            document: doc.to_value(),
        })
    }

    /// [`LogFormat::parse_line`] into `doc` (cleared first, its buffers reused); returns the
    /// line's `@timestamp`.
    pub(crate) fn parse_into(
        &self,
        line: &str,
        doc: &mut DocTree,
    ) -> Result<EpochMillis, LineError> {
        let mut values: [&str; 32] = [""; 32];
        let mut more: Vec<&str> = Vec::new();
        let n = self.segments.len();
        let values: &mut [&str] = if n <= values.len() {
            &mut values[..n]
        } else {
            more.resize(n, "");
            &mut more
        };
        self.split(line, values)?;
        let time_seg = &self.segments[self.time];
        let time_text = values[self.time];
        if is_absent(time_text) {
            return Err(shape(
                Some(&time_seg.name),
                "missing; every line needs a time".into(),
            ));
        }
        let FieldKind::Time(syntax) = time_seg.kind else {
            return Err(shape(Some(&time_seg.name), "is not a time variable".into()));
        };
        let timestamp =
            ecs::parse_time(syntax, time_text).map_err(|e| shape(Some(&time_seg.name), e.0))?;
        doc.clear();
        doc.insert_timestamp(timestamp);
        for (i, (seg, text)) in self.segments.iter().zip(values.iter()).enumerate() {
            if i == self.time || is_absent(text) {
                continue;
            }
            ecs::insert_value(doc, &seg.kind, text).map_err(|e| shape(Some(&seg.name), e.0))?;
        }
        Ok(timestamp)
    }

    /// Splits a line into the text of each variable (`values` has one place per segment).
    fn split<'l>(&self, line: &'l str, values: &mut [&'l str]) -> Result<(), LineError> {
        let Some(mut rest) = line.strip_prefix(self.prefix.as_str()) else {
            return Err(shape(
                None,
                format!("expected the line to start with `{}`", self.prefix),
            ));
        };
        for (seg, value) in self.segments.iter().zip(values.iter_mut()) {
            if seg.suffix.is_empty() {
                *value = rest;
                rest = "";
                continue;
            }
            let Some(at) = find_text(rest, &seg.suffix) else {
                return Err(shape(
                    Some(&seg.name),
                    format!(
                        "expected `{}` after it, but the line ends first",
                        seg.suffix
                    ),
                ));
            };
            *value = &rest[..at];
            rest = &rest[at + seg.suffix.len()..];
        }
        if !rest.is_empty() {
            let last = self.segments.last().map_or("", |s| s.name.as_str());
            return Err(shape(
                None,
                format!(
                    "unexpected text after the last field `{last}`: `{}`",
                    ecs::shown(rest)
                ),
            ));
        }
        Ok(())
    }
}

fn shape(field: Option<&str>, message: String) -> LineError {
    LineError {
        field: field.map(str::to_owned),
        message,
    }
}

fn is_absent(text: &str) -> bool {
    text.is_empty() || text == "-"
}

/// Where `needle` (not empty) first starts in `hay`: candidates found by their first
/// character (a vectorised memchr) and then compared, several times faster than
/// `str::find`'s general substring search on the short separators of a log format.
fn find_text(hay: &str, needle: &str) -> Option<usize> {
    let first = needle.chars().next()?;
    let mut from = 0;
    while let Some(off) = hay[from..].find(first) {
        let at = from + off;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + first.len_utf8();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_text_agrees_with_find() {
        let hay = "1.2.3.4 - - [x] \"GET / HTTP/1.1\" 200 5 \"-\" \"é \"\" b\"";
        for needle in ["\" ", "\" \"", " - ", "\"", "é \"", "zz", "b\"", " "] {
            assert_eq!(find_text(hay, needle), hay.find(needle), "{needle}");
        }
    }
    use serde_json::json;

    #[test]
    fn combined_line_becomes_ecs() {
        let f = LogFormat::named("combined").unwrap();
        let line = r#"93.180.71.3 - bob [17/May/2015:08:05:32 +0000] "GET /downloads/product_1 HTTP/1.1" 304 0 "-" "Debian APT-HTTP/1.3 (0.8.16~exp12ubuntu10.21)""#;
        let p = f.parse_line(line).unwrap();
        assert_eq!(p.timestamp, 1_431_849_932_000);
        assert_eq!(
            p.document,
            json!({
                "@timestamp": "2015-05-17T08:05:32.000Z",
                "source": {"address": "93.180.71.3"},
                "user": {"name": "bob"},
                "http": {"request": {"method": "GET"}, "version": "1.1", "response": {"status_code": 304, "body": {"bytes": 0}}},
                "url": {"original": "/downloads/product_1"},
                "user_agent": {"original": "Debian APT-HTTP/1.3 (0.8.16~exp12ubuntu10.21)"},
            })
        );
        // Key order: @timestamp first, then the format's order.
        let keys: Vec<_> = p.document.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["@timestamp", "source", "user", "http", "url", "user_agent"]
        );
    }

    #[test]
    fn custom_format_with_country_latency_and_unknowns() {
        let f = LogFormat::compile(
            r#"$remote_addr [$time_iso8601] "$request" $status $bytes_sent rt=$request_time urt="$upstream_response_time" cc=${geoip2_data_country_code} $connection_requests"#,
        )
        .unwrap();
        assert_eq!(
            f.variables().collect::<Vec<_>>(),
            [
                "remote_addr",
                "time_iso8601",
                "request",
                "status",
                "bytes_sent",
                "request_time",
                "upstream_response_time",
                "geoip2_data_country_code",
                "connection_requests"
            ]
        );
        let p = f
            .parse_line(r#"10.0.0.1 [2024-05-06T10:00:00+02:00] "POST /api HTTP/2.0" 201 512 rt=0.250 urt="0.249" cc=DE 3"#)
            .unwrap();
        assert_eq!(p.document["@timestamp"], "2024-05-06T08:00:00.000Z");
        assert_eq!(p.document["http"]["response"]["bytes"], 512);
        assert_eq!(p.document["http"]["version"], "2.0");
        assert_eq!(p.document["event"]["duration"], 250_000_000);
        assert_eq!(p.document["nginx"]["upstream_response_time"], 0.249);
        assert_eq!(p.document["nginx"]["connection_requests"], "3");
        assert_eq!(p.document["source"]["geo"]["country_iso_code"], "DE");
        // `-` means absent.
        let p = f
            .parse_line(r#"10.0.0.1 [2024-05-06T10:00:00+02:00] "GET / HTTP/1.1" 200 5 rt=0.001 urt="-" cc=- -"#)
            .unwrap();
        assert!(p.document.get("nginx").is_none());
        assert!(p.document.get("source").unwrap().get("geo").is_none());
    }

    #[test]
    fn malformed_lines_say_where_and_why() {
        let f = LogFormat::named("combined").unwrap();
        let good =
            r#"1.2.3.4 - - [17/May/2015:08:05:32 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.0""#;
        assert!(f.parse_line(good).is_ok());
        let e = f.parse_line(&good.replace(" 200 ", " abc ")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field `status`: expected a number, found `abc`"
        );
        let e = f.parse_line(&good[..50]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field `request`: expected `\" ` after it, but the line ends first"
        );
        let e = f.parse_line(&format!("{good} \"US\"")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unexpected text after the last field `http_user_agent`: ` \"US\"`"
        );
        let e = f.parse_line(&good.replace("17/May", "17/Mai")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("field `time_local`: expected a time like"),
            "{e}"
        );
        let e = f.parse_line(&good.replace("1.2.3.4", "-")).unwrap();
        assert!(e.document.get("source").is_none());
        let e = f.parse_line("").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("remote_addr"));
    }

    #[test]
    fn bad_formats_are_refused_with_a_reason() {
        let e = LogFormat::compile("$remote_addr$status [$time_local]").unwrap_err();
        assert!(
            e.message
                .contains("`$remote_addr` is directly followed by `$status`"),
            "{e}"
        );
        let e = LogFormat::compile("$remote_addr $status").unwrap_err();
        assert!(e.message.contains("no time variable"), "{e}");
        let e = LogFormat::compile("plain text").unwrap_err();
        assert!(e.message.contains("no `$variable`s"), "{e}");
        let e = LogFormat::compile("${remote_addr [$time_local]").unwrap_err();
        assert!(e.message.contains("never closed"), "{e}");
        // A lone `$` is literal.
        let f = LogFormat::compile("$ [$time_local] $status").unwrap();
        assert!(f.parse_line("$ [17/May/2015:08:05:32 +0000] 200").is_ok());
    }

    #[test]
    fn a_second_time_variable_is_kept_as_text() {
        let f = LogFormat::compile("$msec [$time_local]").unwrap();
        let p = f
            .parse_line("1431849932.500 [17/May/2015:08:05:32 +0000]")
            .unwrap();
        assert_eq!(p.timestamp, 1_431_849_932_500);
        assert_eq!(
            p.document["nginx"]["time_local"],
            "17/May/2015:08:05:32 +0000"
        );
    }
}
