//! Time helpers shared by every stage: durations as people write them (`15m`, `1h`, `1d`),
//! and timestamps in the formats logs, CSVs and users use. All times are UTC; internally a
//! point in time is milliseconds since the Unix epoch (`i64`), as in Elasticsearch.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use std::time::Duration;

/// Milliseconds since the Unix epoch, UTC.
pub(crate) type EpochMillis = i64;

/// Parses a duration such as `90s`, `15m`, `1h`, `1d`, `2w`, `500ms` (Elasticsearch time units).
/// A bare number is rejected: the unit is what tells `60` seconds from `60` minutes.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let expected =
        "expected a number followed by a unit: ms, s, m, h, d or w (e.g. `15m`, `1h`, `1d`)";
    if num.is_empty() {
        return Err(format!("`{text}` is not a duration; {expected}"));
    }
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is too large a duration"))?;
    let millis_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "" => return Err(format!("`{text}` has no unit; {expected}")),
        other => return Err(format!("`{text}` has unknown unit `{other}`; {expected}")),
    };
    n.checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too large a duration"))
}

/// A duration in its largest whole unit: `3d`, `5h`, `12m`, `40s`.
pub(crate) fn rough_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        86_400.. => format!("{}d", s / 86_400),
        3_600.. => format!("{}h", s / 3_600),
        60.. => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// Formats a duration in the largest whole unit: `15m`, `1h`, `90s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    for (unit, size) in [
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Parses a timestamp: RFC 3339 / ISO 8601 (with or without zone; none means UTC),
/// `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD`, or a number of epoch seconds or milliseconds
/// (numbers above 10^11 are taken as milliseconds).
pub fn parse_timestamp(text: &str) -> Option<EpochMillis> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(n) = t.parse::<f64>() {
        if !n.is_finite() {
            return None;
        }
        return Some(if n.abs() >= 1e11 {
            n as i64
        } else {
            (n * 1000.0).round() as i64
        });
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%d/%b/%Y:%H:%M:%S %z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(t, fmt) {
            return Some(dt.timestamp_millis());
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(Utc.from_utc_datetime(&dt).timestamp_millis());
        }
    }
    for fmt in ["%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, fmt) {
            return Some(
                Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?)
                    .timestamp_millis(),
            );
        }
    }
    None
}

/// Formats epoch milliseconds as RFC 3339 UTC with millisecond precision, as Elasticsearch
/// prints `key_as_string` for `strict_date_optional_time`: `2015-05-17T08:05:32.000Z`.
/// Hand-written for years 0-9999 (this runs once per ingested line and result document;
/// chrono's format-string interpreter was a noticeable share of ingest time).
pub fn format_millis(ms: EpochMillis) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    if !(0..=9999).contains(&y) {
        return match Utc.timestamp_millis_opt(ms).single() {
            Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            None => ms.to_string(),
        };
    }
    let rest = ms.rem_euclid(86_400_000);
    let (h, mi, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    let mut out = String::with_capacity(24);
    for (n, width, sep) in [
        (y, 4, '-'),
        (m, 2, '-'),
        (d, 2, 'T'),
        (h, 2, ':'),
        (mi, 2, ':'),
        (s, 2, '.'),
        (milli, 3, 'Z'),
    ] {
        let mut div = 10i64.pow(width - 1);
        while div > 0 {
            out.push(char::from(b'0' + (n / div % 10) as u8));
            div /= 10;
        }
        out.push(sep);
    }
    out
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days in a month of the proleptic Gregorian calendar.
pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Formats epoch milliseconds compactly for tables: `2024-05-03 14:15`.
pub fn format_short(ms: EpochMillis) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(dt) => dt.format("%Y-%m-%d %H:%M").to_string(),
        None => ms.to_string(),
    }
}

/// Parses a time given on the command line: a timestamp (see [`parse_timestamp`]), `now`,
/// or `now-15m` style relative times.
pub fn parse_cli_time(text: &str, now: EpochMillis) -> Result<EpochMillis, String> {
    let t = text.trim();
    if t == "now" {
        return Ok(now);
    }
    if let Some(rel) = t.strip_prefix("now-") {
        return parse_duration(rel).map(|d| now - d.as_millis() as i64);
    }
    parse_timestamp(t).ok_or_else(|| {
        format!("`{text}` is not a time; expected e.g. `2024-05-01T00:00:00Z`, `2024-05-01 12:00`, epoch seconds, or `now-1h`")
    })
}

/// 1990-01-01T00:00:00Z: no log line analysed is older. Earlier timestamps are corrupt
/// (a year-0001 line would otherwise make a lookback walk two thousand years of empty buckets).
pub(crate) const EARLIEST_PLAUSIBLE: EpochMillis = 631_152_000_000;

/// Start of the bucket of width `span_ms` containing `t`, aligned to the epoch like
/// Elasticsearch's `fixed_interval` date_histogram.
#[inline]
pub fn bucket_start(t: EpochMillis, span_ms: i64) -> EpochMillis {
    t.div_euclid(span_ms) * span_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("15").unwrap_err().contains("no unit"));
        assert!(parse_duration("15 minutes")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("m").is_err());
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn timestamps() {
        let t = 1_431_907_200_000; // 2015-05-18T00:00:00Z
        assert_eq!(parse_timestamp("2015-05-18T00:00:00Z"), Some(t));
        assert_eq!(parse_timestamp("2015-05-18 00:00:00"), Some(t));
        assert_eq!(parse_timestamp("2015-05-18T02:00:00+02:00"), Some(t));
        assert_eq!(parse_timestamp("1431907200"), Some(t));
        assert_eq!(parse_timestamp("1431907200000"), Some(t));
        assert_eq!(parse_timestamp("18/May/2015:00:00:00 +0000"), Some(t));
        assert_eq!(parse_timestamp("garbage"), None);
        assert_eq!(format_millis(t), "2015-05-18T00:00:00.000Z");
        // The hand-written formatter agrees with chrono over a wide span, leap days included.
        let edges = [
            0,
            951_782_400_123,
            1_709_164_800_999,
            4_102_444_799_999,
            -86_400_001,
        ];
        let every_997th_day = (-800_000i64..800_000)
            .step_by(997)
            .map(|d| d * 86_400_000 + 3_723_004);
        for ms in edges.into_iter().chain(every_997th_day) {
            let chrono = Utc
                .timestamp_millis_opt(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            assert_eq!(format_millis(ms), chrono, "{ms}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(bucket_start(t + 1234, 900_000), t);
        assert_eq!(bucket_start(-1, 1000), -1000);
    }
}
