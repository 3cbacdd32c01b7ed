//! Reading one series from a CSV file (plain or gzip) and inferring its bucket span.
//!
//! Column names are matched case-insensitively; fields may be double-quoted. Timestamps are
//! anything [`crate::time::parse_timestamp`] reads: unix seconds or milliseconds, ISO 8601
//! with or without zone, `YYYY-MM-DD HH:MM:SS`.

use crate::time::EpochMillis;
use crate::{Error, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// One row of a series, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The timestamp as written in the file.
    pub time_text: String,
    /// The parsed timestamp.
    pub time: EpochMillis,
    /// The value; `None` when the field is empty or not a number.
    pub value: Option<f64>,
    /// The label (1 = anomalous) when the file has a label column.
    pub label: Option<bool>,
}

/// A series read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Rows in file order.
    pub rows: Vec<Row>,
    /// Whether the file had a label column.
    pub labelled: bool,
    /// What in the file was not taken as written, by line.
    pub notes: InputNotes,
}

/// Values read as missing and timestamps out of the ordinary, each with the file lines
/// (1 is the header) where they were found; `detect` reports them on stderr.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputNotes {
    /// Lines whose value field is empty (or absent).
    pub empty: Vec<usize>,
    /// Lines whose value is not a number.
    pub not_numeric: Vec<usize>,
    /// Lines whose value is NaN or infinite.
    pub not_finite: Vec<usize>,
    /// Lines whose timestamp is before an earlier line's.
    pub out_of_order: Vec<usize>,
    /// Lines whose timestamp repeats the latest one so far.
    pub duplicate: Vec<usize>,
    /// Each timestamp shape seen, with its lines, in order of first appearance.
    pub shapes: Vec<(&'static str, Vec<usize>)>,
}

/// How many line numbers a warning lists before it only counts.
const LISTED_LINES: usize = 10;

fn lines_text(lines: &[usize]) -> String {
    let shown: Vec<String> = lines
        .iter()
        .take(LISTED_LINES)
        .map(usize::to_string)
        .collect();
    let word = if lines.len() == 1 { "line" } else { "lines" };
    match lines.len().saturating_sub(LISTED_LINES) {
        0 => format!("{word} {}", shown.join(", ")),
        more => format!("{word} {} and {more} more", shown.join(", ")),
    }
}

impl InputNotes {
    /// One warning line per kind of problem, naming `file` and the lines.
    pub fn warnings(&self, file: &Path) -> Vec<String> {
        let f = file.display();
        let mut out = Vec::new();
        let skipped = self.empty.len() + self.not_numeric.len() + self.not_finite.len();
        if skipped > 0 {
            let parts: Vec<String> = [
                ("empty", &self.empty),
                ("not a number", &self.not_numeric),
                ("NaN or infinite", &self.not_finite),
            ]
            .iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(what, l)| format!("{what} at {}", lines_text(l)))
            .collect();
            out.push(format!(
                "{f}: {skipped} value{} read as missing (written back empty): {}",
                if skipped == 1 { "" } else { "s" },
                parts.join("; ")
            ));
        }
        for (what, lines) in [
            ("out of order", &self.out_of_order),
            ("repeating the previous timestamp", &self.duplicate),
        ] {
            if !lines.is_empty() {
                out.push(format!(
                    "{f}: {} row{} {what} at {}: scored against the model as it stood, not learned",
                    lines.len(),
                    if lines.len() == 1 { "" } else { "s" },
                    lines_text(lines)
                ));
            }
        }
        if self.shapes.len() > 1 {
            let parts: Vec<String> = self
                .shapes
                .iter()
                .map(|(shape, l)| {
                    format!(
                        "{shape} ({} row{}, first at line {})",
                        l.len(),
                        if l.len() == 1 { "" } else { "s" },
                        l[0]
                    )
                })
                .collect();
            out.push(format!(
                "{f}: mixed timestamp formats: {}",
                parts.join(", ")
            ));
        }
        out
    }

    fn note_value(&mut self, text: Option<&str>, line: usize) -> Option<f64> {
        let text = text.map(str::trim).unwrap_or("");
        if text.is_empty() {
            self.empty.push(line);
            return None;
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            Ok(_) => {
                self.not_finite.push(line);
                None
            }
            Err(_) => {
                self.not_numeric.push(line);
                None
            }
        }
    }

    fn note_time(
        &mut self,
        text: &str,
        time: EpochMillis,
        latest: &mut Option<EpochMillis>,
        line: usize,
    ) {
        match *latest {
            Some(l) if time < l => self.out_of_order.push(line),
            Some(l) if time == l => self.duplicate.push(line),
            _ => *latest = Some(time),
        }
        let shape = timestamp_shape(text);
        match self.shapes.iter_mut().find(|(s, _)| *s == shape) {
            Some((_, lines)) => lines.push(line),
            None => self.shapes.push((shape, vec![line])),
        }
    }
}

/// The written form of a timestamp, to tell a file that mixes forms.
fn timestamp_shape(text: &str) -> &'static str {
    let digits = text.trim_start_matches('-');
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return if digits.len() > 11 {
            "unix milliseconds"
        } else {
            "unix seconds"
        };
    }
    if text.contains('T') {
        "ISO 8601"
    } else {
        "YYYY-MM-DD HH:MM:SS"
    }
}

/// Splits one CSV line into fields, honouring double quotes (`""` inside quotes is a quote).
pub(crate) fn split_csv(line: &str, out: &mut Vec<String>) {
    out.clear();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            '\r' | '\n' if !quoted => {}
            _ => field.push(c),
        }
    }
    out.push(field);
}

fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, reader)))
}

/// Finds a column by name, ignoring case and surrounding spaces.
fn column(header: &[String], name: &str) -> Option<usize> {
    header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name.trim()))
}

/// Reads a series: the timestamp and value columns by name, and a `label` column if any.
/// A row whose timestamp cannot be read is an error naming the file, line and field; an
/// empty or non-numeric value is kept as a missing value.
pub(crate) fn read_series(
    path: &Path,
    timestamp_column: &str,
    value_column: &str,
) -> Result<Series> {
    parse_series(path, open(path)?, timestamp_column, value_column)
}

/// `read_series` over an open reader; `path` names it in messages.
pub fn parse_series(
    path: &Path,
    mut reader: impl BufRead,
    timestamp_column: &str,
    value_column: &str,
) -> Result<Series> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut line = String::new();
    let mut fields = Vec::new();
    if reader.read_line(&mut line).map_err(io)? == 0 {
        return Err(Error::Input {
            path: path.display().to_string(),
            line: None,
            message: "the file is empty; expected a CSV header line".into(),
        });
    }
    split_csv(line.trim_start_matches('\u{feff}'), &mut fields);
    let header = fields.clone();
    let missing = |what: &str, name: &str| Error::Input {
        path: path.display().to_string(),
        line: Some(1),
        message: format!(
            "no `{name}` column for the {what}; the header has {}",
            header
                .iter()
                .map(|h| format!("`{}`", h.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let ti =
        column(&header, timestamp_column).ok_or_else(|| missing("timestamp", timestamp_column))?;
    let vi = column(&header, value_column).ok_or_else(|| missing("value", value_column))?;
    let li = column(&header, "label");
    let mut rows = Vec::new();
    let mut notes = InputNotes::default();
    let mut latest = None;
    let mut number = 1usize;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(io)? == 0 {
            break;
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        split_csv(&line, &mut fields);
        let time_text = fields.get(ti).map(|s| s.trim()).unwrap_or("");
        let time = crate::time::parse_timestamp(time_text).ok_or_else(|| {
            Error::Input {
                path: path.display().to_string(),
                line: Some(number),
                message: format!(
                    "field `{}`: `{time_text}` is not a timestamp; expected unix seconds or milliseconds, ISO 8601, or `YYYY-MM-DD HH:MM:SS`",
                    header[ti].trim()
                ),
            }
        })?;
        notes.note_time(time_text, time, &mut latest, number);
        let value = notes.note_value(fields.get(vi).map(String::as_str), number);
        let label = li.map(|i| {
            fields
                .get(i)
                .and_then(|s| s.trim().parse::<f64>().ok())
                .is_some_and(|l| l > 0.0)
        });
        rows.push(Row {
            time_text: time_text.to_string(),
            time,
            value,
            label,
        });
    }
    Ok(Series {
        rows,
        labelled: li.is_some(),
        notes,
    })
}

/// Whether a file's header has a `label` column (case-insensitive).
pub(crate) fn has_label_column(path: &Path) -> Result<bool> {
    let mut reader = open(path)?;
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut fields = Vec::new();
    split_csv(line.trim_start_matches('\u{feff}'), &mut fields);
    Ok(column(&fields, "label").is_some())
}

/// The bucket span of a series: the most common positive gap between consecutive distinct
/// timestamps (ties to the smaller), rounded to a whole second; 1 minute when there is
/// too little data to tell.
pub fn infer_span(times: &[EpochMillis]) -> i64 {
    let mut sorted: Vec<EpochMillis> = times.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut gaps: Vec<i64> = sorted
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0)
        .collect();
    if gaps.is_empty() {
        return 60_000;
    }
    gaps.sort_unstable();
    let (mut best, mut best_n, mut i) = (gaps[0], 0usize, 0usize);
    while i < gaps.len() {
        let mut j = i;
        while j < gaps.len() && gaps[j] == gaps[i] {
            j += 1;
        }
        if j - i > best_n {
            best = gaps[i];
            best_n = j - i;
        }
        i = j;
    }
    ((best + 500) / 1000 * 1000).max(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_fields() {
        let mut f = Vec::new();
        split_csv("\"2018-03-15T00:00:00Z\",3,\"a,\"\"b\"\"\"\r\n", &mut f);
        assert_eq!(f, vec!["2018-03-15T00:00:00Z", "3", "a,\"b\""]);
    }

    #[test]
    fn infers_the_most_common_gap() {
        let t: Vec<i64> = [0, 60, 120, 180, 300, 360, 360, 420]
            .iter()
            .map(|s| s * 1000)
            .collect();
        assert_eq!(infer_span(&t), 60_000);
        assert_eq!(infer_span(&[5]), 60_000);
    }

    #[test]
    fn reads_every_timestamp_format_in_shared_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(&p, "\"TimeStamp\",\"Value\",\"Label\"\n\"2018-03-15T00:00:00Z\",0,0\n2018-03-15 01:00:00,,1\n1521079200,2.5,0\n").unwrap();
        let s = read_series(&p, "timestamp", "value").unwrap();
        assert!(s.labelled);
        assert_eq!(s.rows.len(), 3);
        assert_eq!(s.rows[1].time - s.rows[0].time, 3_600_000);
        assert_eq!(s.rows[2].time - s.rows[0].time, 7_200_000);
        assert_eq!(s.rows[1].value, None);
        assert_eq!(s.rows[1].label, Some(true));
        std::fs::write(&p, "timestamp,value\nyesterday,1\n").unwrap();
        let e = read_series(&p, "timestamp", "value")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.csv:2: field `timestamp`"), "{e}");
        let e = read_series(&p, "time", "value").unwrap_err().to_string();
        assert!(e.contains("no `time` column"), "{e}");
    }
}
