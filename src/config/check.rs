//! Checking a parsed job file: its shape first (`shape.rs`: the YAML tree against the JSON
//! Schema schemars derives from [`raw::JobConfig`], so the field names, types and "not
//! supported" notes live in one place and `jobs/schema.json` cannot disagree with
//! validation), then its meaning here (functions, durations, cron, influencers...), section
//! by section, and finally conversion into the validated [`Job`]. Problems carry file, line
//! and column (`problems.rs`); one pass reports every problem of the file.

use super::job::{Detector, Function, Job, ModelOptions};
use super::problems::{did_you_mean, Positions, Problems};
use super::raw::{self, JobConfig, MemoryLimit};
use super::rules::{check_rules, FilterList};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Default index of result documents.
pub const DEFAULT_RESULTS_INDEX: &str = "tidewatch-results";
/// Default `data_description.time_field`.
pub(crate) const DEFAULT_TIME_FIELD: &str = "@timestamp";
/// Default `datafeed_config.query_delay`.
pub(crate) const DEFAULT_QUERY_DELAY: Duration = Duration::from_secs(60);
/// Default `datafeed_config.scroll_size`.
pub(crate) const DEFAULT_SCROLL_SIZE: usize = 1000;
/// Default `analysis_limits.model_memory_limit`, in bytes (1024mb).
pub(crate) const DEFAULT_MODEL_MEMORY_LIMIT: u64 = 1024 * 1024 * 1024;

const DAY_MS: u128 = 86_400_000;

// ---------------------------------------------------------------------------------------
// Meaning: the typed raw job, field by field, into a Job.

/// Elastic ML functions tidewatch knows but does not implement, with what to use instead.
const UNSUPPORTED_FUNCTIONS: &[(&str, &str)] =
    &[("non_null_sum", "use `sum` (`high_sum`/`low_sum`)")];

fn unsupported_function(name: &str) -> Option<(&'static str, &'static str)> {
    let base = name
        .strip_prefix("high_")
        .or_else(|| name.strip_prefix("low_"))
        .unwrap_or(name);
    UNSUPPORTED_FUNCTIONS
        .iter()
        .find(|(f, _)| *f == base || *f == name)
        .copied()
}

/// `datafeed_config.delayed_data_check_config`: whether the check runs, and its window
/// (at least one bucket, at most 10,000, as Elastic ML requires).
fn delayed_check(
    p: &mut Problems,
    pos: &Positions,
    df: &raw::DatafeedConfig,
    bucket_span: Option<Duration>,
) -> (bool, Option<Duration>) {
    let Some(cfg) = &df.delayed_data_check_config else {
        return (true, None);
    };
    let path = "datafeed_config.delayed_data_check_config.check_window";
    let window = cfg
        .check_window
        .as_ref()
        .and_then(|t| duration(p, pos, path, t).map(|d| (t, d)));
    let (Some((text, d)), Some(span)) = (window, bucket_span) else {
        return (cfg.enabled.unwrap_or(true), None);
    };
    if d < span || d.as_secs() > span.as_secs().saturating_mul(10_000) {
        p.at(
            pos.of(path),
            path,
            format!("`{text}` must be at least the bucket span and at most 10,000 buckets"),
        );
    }
    (cfg.enabled.unwrap_or(true), Some(d))
}

/// Parses a duration field, reporting a problem (with what is expected) when it is not one.
fn duration(p: &mut Problems, pos: &Positions, path: &str, text: &str) -> Option<Duration> {
    match crate::time::parse_duration(text) {
        Ok(d) => Some(d),
        Err(e) => {
            p.at(pos.of(path), path, e);
            None
        }
    }
}

/// Whether `text` matches an index pattern where `*` stands for any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    if !pattern.contains('*') {
        return rest.is_empty();
    }
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The longest bucket span tidewatch accepts (see docs/jobs.md).
pub(crate) const MAX_BUCKET_SPAN_MS: u128 = 7 * DAY_MS;

fn whole_seconds(p: &mut Problems, pos: &Positions, path: &str, text: &str, d: Duration) -> bool {
    if d.as_millis() % 1000 != 0 {
        p.at(
            pos.of(path),
            path,
            format!("`{text}` is not a whole number of seconds; expected e.g. `30s`, `15m`"),
        );
        return false;
    }
    true
}

/// Parses a cron expression as the `schedule` field takes it: 5 fields
/// (`minute hour day-of-month month day-of-week`) or 6 with seconds first, or a nickname such
/// as `@hourly`. The runner uses the same parser.
pub(crate) fn parse_schedule(expr: &str) -> Result<croner::Cron, String> {
    use croner::parser::{CronParser, Seconds, Year};
    let fields = expr.split_whitespace().count();
    let expected = "expected 5 fields `minute hour day-of-month month day-of-week` (e.g. `*/15 * * * *`), or 6 with seconds first";
    if !expr.trim_start().starts_with('@') && fields != 5 && fields != 6 {
        return Err(format!(
            "`{expr}` has {fields} field{}; {expected}",
            if fields == 1 { "" } else { "s" }
        ));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| {
            let why = e.to_string();
            let why = why.trim_end_matches('.');
            format!("`{expr}` is not a valid cron expression ({why}); {expected}")
        })?;
    // A date that no month has (`0 0 30 2 *`, `0 0 31 4 *`) parses but never fires. Every
    // day-of-month and weekday pattern repeats within 28 years of leap-year cycles, so a
    // first firing after 2000-01-01 that is not found by 2400 never comes.
    let start = chrono::DateTime::<chrono::Utc>::from_timestamp(946_684_800, 0).unwrap_or_default();
    match cron.find_next_occurrence(&start, true) {
        Ok(t) if t.timestamp() < 13_569_465_600 => Ok(cron),
        _ => Err(format!(
            "`{expr}` never fires: no date matches its day-of-month, month and day-of-week fields (e.g. 30 February)"
        )),
    }
}

/// Parses an IANA time zone name (`Europe/Berlin`, `America/New_York`, `UTC`).
pub(crate) fn parse_time_zone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        format!("`{name}` is not an IANA time zone; expected a name such as `UTC`, `Europe/Berlin` or `America/New_York`")
    })
}

/// Parses a memory size as Elasticsearch writes byte sizes (`64mb`, `1gb`, `512kb`), or a
/// bare number of megabytes.
pub(crate) fn parse_memory_limit(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let expected = "expected a whole number followed by b, kb, mb, gb or tb (e.g. `64mb`, `1gb`)";
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a memory size; {expected}"))?;
    let mult: u64 = match unit.trim() {
        "" | "mb" | "m" => 1 << 20,
        "b" => 1,
        "kb" | "k" => 1 << 10,
        "gb" | "g" => 1 << 30,
        "tb" | "t" => 1 << 40,
        other => return Err(format!("`{text}` has unknown unit `{other}`; {expected}")),
    };
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if bytes < 1 << 20 {
        return Err(format!("`{text}` is too small; expected at least `1mb`"));
    }
    Ok(bytes)
}

pub(crate) fn valid_job_id(id: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| ok_char(c) || c == '-' || c == '_')
        && id.chars().next().is_some_and(ok_char)
        && id.chars().last().is_some_and(ok_char)
}

fn index_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the index name is empty".into());
    }
    if name != name.to_lowercase() {
        return Some(format!(
            "`{name}` has uppercase letters; index names must be lowercase"
        ));
    }
    if let Some(c) = name.chars().find(|c| "\\/*?\"<>| ,#:".contains(*c)) {
        return Some(format!(
            "`{name}` contains `{c}`; index names cannot contain \\ / * ? \" < > | space , # :"
        ));
    }
    if name.starts_with(['-', '_', '+']) || name == "." || name == ".." {
        return Some(format!(
            "`{name}` is not a valid index name; it cannot start with -, _ or + or be . or .."
        ));
    }
    if name.len() > 255 {
        return Some(format!("`{name}` is longer than 255 bytes"));
    }
    None
}

/// Elastic ML's generated detector description, e.g. `high_count by "status" partitionfield="host"`.
fn describe_detector(function: Function, d: &raw::DetectorConfig) -> String {
    let mut s = function.name();
    if let Some(f) = &d.field_name {
        s.push_str(&format!("({f})"));
    }
    if let Some(b) = &d.by_field_name {
        s.push_str(&format!(" by \"{b}\""));
    }
    if let Some(o) = &d.over_field_name {
        s.push_str(&format!(" over \"{o}\""));
    }
    if let Some(p) = &d.partition_field_name {
        s.push_str(&format!(" partitionfield=\"{p}\""));
    }
    s
}

/// Why a function that reads no field must not have `field_name`, and what to write instead.
fn no_field_message(f: Function, field: &str) -> String {
    let name = f.name();
    match f {
        Function::Rare | Function::FreqRare => format!("`{name}` takes no `field_name`: the field whose rare values it finds is the `by_field_name`; write `by_field_name: {field}`"),
        Function::TimeOfDay | Function::TimeOfWeek => format!("`{name}` takes no `field_name`: it models when documents occur (the job's time field); to model each value of `{field}` on its own use `by_field_name`"),
        _ => format!("`{name}` counts documents and takes no `field_name`; to split the count by `{field}` use `by_field_name`, to count its distinct values use `distinct_count`"),
    }
}

/// Elastic's rules for the rare functions and `metric`: `rare` needs the field whose values
/// are rare as `by_field_name`, `freq_rare` also the population (`over_field_name`), and
/// their custom rules (and `metric`'s) take no numeric conditions.
fn check_frequency_function(
    f: Function,
    d: &raw::DetectorConfig,
    base: &str,
    pos: &Positions,
    p: &mut Problems,
) {
    let fpath = format!("{base}.function");
    let name = f.name();
    if matches!(f, Function::Rare | Function::FreqRare) && d.by_field_name.is_none() {
        p.at(pos.of(&fpath), &fpath, format!("`{name}` needs `by_field_name`: the field whose rare values it finds (e.g. `by_field_name: url.original`)"));
    }
    if f == Function::FreqRare && d.over_field_name.is_none() {
        p.at(pos.of(&fpath), &fpath, format!("`{name}` needs `over_field_name`: the population whose members use the rare values frequently (e.g. `over_field_name: source.address`); for rarity alone use `rare`"));
    }
    if !matches!(
        f,
        Function::Rare | Function::FreqRare | Function::MinMaxMean
    ) {
        return;
    }
    for (r, rule) in d.custom_rules.iter().flatten().enumerate() {
        if rule.conditions.as_ref().is_some_and(|c| !c.is_empty()) {
            let path = format!("{base}.custom_rules[{r}].conditions");
            let why = if f == Function::MinMaxMean {
                "its three models (min, max, mean) have three actual and typical values"
            } else {
                "a rare value has no actual or typical number to compare"
            };
            p.at(pos.key_of(&path), &path, format!("`{name}` detectors take custom rules with a `scope` only, as in Elastic ML: {why}; remove `conditions`"));
        }
    }
}

/// Checks the meaning of a raw job and converts it; `None` when any problem was found.
/// Each section is checked on its own, in file order (so problems come out in that order),
/// then the validated [`Job`] is assembled from the pieces.
pub(crate) fn convert(
    raw: &JobConfig,
    pos: &Positions,
    p: &mut Problems,
    file: &Path,
    filters: &BTreeMap<String, FilterList>,
) -> Option<Job> {
    let before = p.list.len();
    let job_id = check_job_id(raw, pos, p);
    let ac = raw.analysis_config.clone().unwrap_or_default();
    let analysis = check_analysis(&ac, pos, p, filters);
    let dd = raw.data_description.clone().unwrap_or_default();
    let time_field = check_data_description(&dd, pos, p);
    let df = raw.datafeed_config.clone().unwrap_or_default();
    let datafeed = check_datafeed(&df, analysis.bucket_span, pos, p);
    // schedule (tidewatch)
    let schedule_time_zone = check_schedule(raw, &df, pos, p);
    let model_plot = raw
        .model_plot_config
        .as_ref()
        .and_then(|m| m.enabled)
        .unwrap_or(false);
    let model_memory_limit = check_memory_limit(raw, pos, p);
    let results_index = check_results_index(raw, &datafeed.indices, pos, p);
    let model = check_model(raw, pos, p);
    let groups = check_groups(raw, &job_id, pos, p);

    let incomplete = raw.job_id.is_none()
        || raw.analysis_config.is_none()
        || raw.datafeed_config.is_none()
        || ac.bucket_span.is_none()
        || ac.detectors.is_none()
        || df.indices.is_none();
    if p.list.len() > before || incomplete {
        return None;
    }
    Some(Job {
        job_id,
        description: raw.description.clone().unwrap_or_default(),
        source_file: file.to_path_buf(),
        bucket_span: analysis.bucket_span,
        detectors: analysis.detectors,
        influencers: analysis.influencers,
        time_field,
        time_format: dd
            .time_format
            .clone()
            .unwrap_or_else(|| "epoch_ms".to_string()),
        indices: datafeed.indices,
        query: datafeed.query,
        query_delay: datafeed.query_delay,
        frequency: datafeed.frequency,
        scroll_size: datafeed.scroll_size,
        chunking_time_span: datafeed.chunking_time_span,
        chunking_off: datafeed.chunking_off,
        delayed_check_enabled: datafeed.delayed_check_enabled,
        delayed_check_window: datafeed.delayed_check_window,
        schedule: raw.schedule.clone(),
        schedule_time_zone,
        model_plot,
        model_memory_limit,
        results_index,
        custom_settings: raw.custom_settings.clone().map(Value::Object),
        model,
        groups,
        calendars: Vec::new(),
        field_sources: BTreeMap::new(),
    })
}

/// The checked `analysis_config`.
struct AnalysisSection {
    /// Zero when missing or wrong.
    bucket_span: Duration,
    detectors: Vec<Detector>,
    influencers: Vec<String>,
}

/// `analysis_config`: the bucket span, the detectors, the influencers.
fn check_analysis(
    ac: &raw::AnalysisConfig,
    pos: &Positions,
    p: &mut Problems,
    filters: &BTreeMap<String, FilterList>,
) -> AnalysisSection {
    AnalysisSection {
        bucket_span: check_bucket_span(ac, pos, p),
        detectors: check_detectors(ac, pos, p, filters),
        influencers: check_influencers(ac, pos, p),
    }
}

/// The checked `datafeed_config` (its `schedule`, a tidewatch field, is checked apart).
struct DatafeedSection {
    indices: Vec<String>,
    query: Value,
    query_delay: Duration,
    frequency: Option<Duration>,
    scroll_size: usize,
    chunking_time_span: Option<Duration>,
    chunking_off: bool,
    delayed_check_enabled: bool,
    delayed_check_window: Option<Duration>,
}

/// `datafeed_config`: indices, query, timing, chunking and the delayed-data check, whose
/// window is measured in buckets of `bucket_span` (zero when the span is wrong).
fn check_datafeed(
    df: &raw::DatafeedConfig,
    bucket_span: Duration,
    pos: &Positions,
    p: &mut Problems,
) -> DatafeedSection {
    let indices = check_indices(df, pos, p);
    let query = check_query(df, pos, p);
    let query_delay = match &df.query_delay {
        Some(t) => duration(p, pos, "datafeed_config.query_delay", t).unwrap_or_default(),
        None => DEFAULT_QUERY_DELAY,
    };
    let frequency = check_frequency(df, pos, p);
    let scroll_size = df
        .scroll_size
        .map(|n| n as usize)
        .unwrap_or(DEFAULT_SCROLL_SIZE);
    let (chunking_time_span, chunking_off) = check_chunking(df, pos, p);
    let (delayed_check_enabled, delayed_check_window) =
        delayed_check(p, pos, df, (!bucket_span.is_zero()).then_some(bucket_span));
    DatafeedSection {
        indices,
        query,
        query_delay,
        frequency,
        scroll_size,
        chunking_time_span,
        chunking_off,
        delayed_check_enabled,
        delayed_check_window,
    }
}

/// `job_id`, reported when it is not a valid id.
fn check_job_id(raw: &JobConfig, pos: &Positions, p: &mut Problems) -> String {
    let job_id = raw.job_id.clone().unwrap_or_default();
    if raw.job_id.is_some() && !valid_job_id(&job_id) {
        p.at(
            pos.of("job_id"),
            "job_id",
            format!("`{job_id}` is not a valid job_id; use lowercase letters, digits, `-` and `_`, starting and ending with a letter or digit, at most 64 characters"),
        );
    }
    job_id
}

/// `analysis_config.bucket_span`: positive, at most 7 days, whole seconds, and dividing a
/// day (or a whole number of days); zero when missing or wrong.
fn check_bucket_span(ac: &raw::AnalysisConfig, pos: &Positions, p: &mut Problems) -> Duration {
    let mut bucket_span = Duration::ZERO;
    if let Some(text) = &ac.bucket_span {
        let path = "analysis_config.bucket_span";
        if let Some(d) = duration(p, pos, path, text) {
            let ms = d.as_millis();
            if ms == 0 {
                p.at(
                    pos.of(path),
                    path,
                    format!(
                        "`{text}` is zero; the bucket span must be greater than 0 (e.g. `15m`)"
                    ),
                );
            } else if ms > MAX_BUCKET_SPAN_MS {
                p.at(pos.of(path), path, format!("`{text}` is longer than `7d`, the longest bucket span tidewatch accepts (Elastic ML sets no documented maximum, but a longer bucket leaves the model under a handful of buckets a year to learn from); expected e.g. `15m`, `1h`, `1d`"));
            } else if whole_seconds(p, pos, path, text, d) {
                if ms < DAY_MS && DAY_MS % ms != 0 {
                    p.at(pos.of(path), path, format!("`{text}` does not divide a day evenly, so buckets would drift against the daily cycle; expected e.g. `1m`, `5m`, `10m`, `15m`, `30m`, `1h`"));
                } else if ms > DAY_MS && ms % DAY_MS != 0 {
                    p.at(pos.of(path), path, format!("`{text}` is longer than a day but not a whole number of days; expected e.g. `1d`, `2d`"));
                } else {
                    bucket_span = d;
                }
            }
        }
    }
    bucket_span
}

/// `analysis_config.detectors`: at least one, each checked.
fn check_detectors(
    ac: &raw::AnalysisConfig,
    pos: &Positions,
    p: &mut Problems,
    filters: &BTreeMap<String, FilterList>,
) -> Vec<Detector> {
    let mut detectors = Vec::new();
    if let Some(list) = &ac.detectors {
        if list.is_empty() {
            let path = "analysis_config.detectors";
            p.at(
                pos.of(path),
                path,
                "no detectors; expected at least one, e.g. `- function: count`",
            );
        }
        for (i, d) in list.iter().enumerate() {
            if let Some(det) = check_detector(i, d, pos, p, filters) {
                detectors.push(det);
            }
        }
    }
    detectors
}

/// `analysis_config.influencers`: field names, each once.
fn check_influencers(ac: &raw::AnalysisConfig, pos: &Positions, p: &mut Problems) -> Vec<String> {
    // Influencers may be any field of the source documents (as in Elastic ML): the values
    // that dominate an anomalous record's documents are looked up when it is written.
    let mut influencers = Vec::new();
    for (i, inf) in ac.influencers.iter().flatten().enumerate() {
        let path = format!("analysis_config.influencers[{i}]");
        if inf.trim().is_empty() || inf.contains(char::is_whitespace) {
            p.at(pos.of(&path), &path, format!("`{inf}` is not a field name; expected a field of the source documents, e.g. `source.address`"));
        } else if influencers.contains(inf) {
            p.at(pos.of(&path), &path, format!("`{inf}` is listed twice"));
        } else {
            influencers.push(inf.clone());
        }
    }
    influencers
}

/// `data_description`: the time field (default `@timestamp`), and a time format that is not
/// empty.
fn check_data_description(dd: &raw::DataDescription, pos: &Positions, p: &mut Problems) -> String {
    let time_field = dd
        .time_field
        .clone()
        .unwrap_or_else(|| DEFAULT_TIME_FIELD.to_string());
    if time_field.trim().is_empty() {
        let path = "data_description.time_field";
        p.at(
            pos.of(path),
            path,
            "the time field is empty; expected a date field such as `@timestamp`",
        );
    }
    if let Some(tf) = &dd.time_format {
        if tf.trim().is_empty() {
            let path = "data_description.time_format";
            p.at(
                pos.of(path),
                path,
                "empty; expected `epoch`, `epoch_ms` or a date pattern",
            );
        }
    }
    time_field
}

/// `datafeed_config.indices`: at least one, each a name or pattern.
fn check_indices(df: &raw::DatafeedConfig, pos: &Positions, p: &mut Problems) -> Vec<String> {
    let mut indices = Vec::new();
    if let Some(list) = &df.indices {
        if list.is_empty() {
            let path = "datafeed_config.indices";
            p.at(
                pos.of(path),
                path,
                "no indices; expected at least one index name or pattern, e.g. `[nginx-logs]`",
            );
        }
        for (i, name) in list.iter().enumerate() {
            let path = format!("datafeed_config.indices[{i}]");
            if name.trim().is_empty() || name.contains(char::is_whitespace) {
                p.at(pos.of(&path), &path, format!("`{name}` is not an index name or pattern; expected e.g. `nginx-logs` or `logs-*`"));
            } else {
                indices.push(name.clone());
            }
        }
    }
    indices
}

/// `datafeed_config.query` (default `match_all`); `null` when given empty.
fn check_query(df: &raw::DatafeedConfig, pos: &Positions, p: &mut Problems) -> Value {
    match &df.query {
        Some(q) if q.is_empty() => {
            let path = "datafeed_config.query";
            p.at(pos.of(path), path, "empty query; expected a query DSL object such as `match_all: {}` or `bool: {filter: [...]}`, or leave it out");
            Value::Null
        }
        Some(q) => Value::Object(q.clone()),
        None => serde_json::json!({ "match_all": {} }),
    }
}

/// `datafeed_config.frequency`: positive whole seconds, if given.
fn check_frequency(
    df: &raw::DatafeedConfig,
    pos: &Positions,
    p: &mut Problems,
) -> Option<Duration> {
    let mut frequency = None;
    if let Some(t) = &df.frequency {
        let path = "datafeed_config.frequency";
        if let Some(d) = duration(p, pos, path, t) {
            if d.is_zero() {
                p.at(
                    pos.of(path),
                    path,
                    format!("`{t}` is zero; expected a positive duration such as `5m`"),
                );
            } else if whole_seconds(p, pos, path, t, d) {
                frequency = Some(d);
            }
        }
    }
    frequency
}

/// `datafeed_config.chunking_config`: the manual chunk span, and whether chunking is off.
fn check_chunking(
    df: &raw::DatafeedConfig,
    pos: &Positions,
    p: &mut Problems,
) -> (Option<Duration>, bool) {
    let mut chunking_time_span = None;
    let mut chunking_off = false;
    if let Some(cc) = &df.chunking_config {
        let mode = cc.mode.as_deref().unwrap_or("auto");
        let mpath = "datafeed_config.chunking_config.mode";
        let tpath = "datafeed_config.chunking_config.time_span";
        match mode {
            "auto" | "off" => {
                chunking_off = mode == "off";
                if cc.time_span.is_some() {
                    p.at(
                        pos.of(tpath),
                        tpath,
                        format!("`time_span` only applies with `mode: manual` (mode is `{mode}`)"),
                    );
                }
            }
            "manual" => match &cc.time_span {
                Some(t) => {
                    if let Some(d) = duration(p, pos, tpath, t) {
                        if d.is_zero() {
                            p.at(
                                pos.of(tpath),
                                tpath,
                                format!("`{t}` is zero; expected a positive duration such as `1d`"),
                            );
                        } else {
                            chunking_time_span = Some(d);
                        }
                    }
                }
                None => p.at(
                    pos.of(mpath),
                    mpath,
                    "`mode: manual` needs `time_span`, e.g. `time_span: 1d`",
                ),
            },
            other => {
                let hint = did_you_mean(other, &["auto", "manual", "off"])
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                p.at(
                    pos.of(mpath),
                    mpath,
                    format!("unknown mode `{other}`; {hint}expected `auto`, `manual` or `off`"),
                );
            }
        }
    }
    (chunking_time_span, chunking_off)
}

/// `schedule` and `schedule_time_zone` (tidewatch's own): a cron that parses, not beside a
/// `frequency`, and a time zone only with a schedule.
fn check_schedule(
    raw: &JobConfig,
    df: &raw::DatafeedConfig,
    pos: &Positions,
    p: &mut Problems,
) -> Option<chrono_tz::Tz> {
    let mut schedule_time_zone = None;
    if let Some(name) = &raw.schedule_time_zone {
        match parse_time_zone(name) {
            Ok(tz) if raw.schedule.is_some() => schedule_time_zone = Some(tz),
            Ok(_) => p.at(
                pos.of("schedule_time_zone"),
                "schedule_time_zone",
                "a time zone without a `schedule` has no effect; add a cron `schedule` or remove it",
            ),
            Err(e) => p.at(pos.of("schedule_time_zone"), "schedule_time_zone", e),
        }
    }
    if let Some(expr) = &raw.schedule {
        if let Err(e) = parse_schedule(expr) {
            p.at(pos.of("schedule"), "schedule", e);
        } else if df.frequency.is_some() {
            p.at(pos.of("schedule"), "schedule", "both `schedule` and `datafeed_config.frequency` are set; keep one (the schedule replaces the frequency)");
        }
    }
    schedule_time_zone
}

/// `analysis_limits.model_memory_limit`, in bytes (default 1024mb).
fn check_memory_limit(raw: &JobConfig, pos: &Positions, p: &mut Problems) -> u64 {
    let mut model_memory_limit = DEFAULT_MODEL_MEMORY_LIMIT;
    if let Some(limit) = raw
        .analysis_limits
        .as_ref()
        .and_then(|l| l.model_memory_limit.as_ref())
    {
        let path = "analysis_limits.model_memory_limit";
        let parsed = match limit {
            MemoryLimit::Megabytes(mb) => parse_memory_limit(&mb.to_string()),
            MemoryLimit::Text(t) => parse_memory_limit(t),
        };
        match parsed {
            Ok(b) => model_memory_limit = b,
            Err(e) => p.at(pos.of(path), path, e),
        }
    }
    model_memory_limit
}

/// `results_index` (default `tidewatch-results`): a valid index name that is not among the
/// job's source indices.
fn check_results_index(
    raw: &JobConfig,
    indices: &[String],
    pos: &Positions,
    p: &mut Problems,
) -> String {
    let results_index = raw
        .results_index
        .clone()
        .unwrap_or_else(|| DEFAULT_RESULTS_INDEX.to_string());
    if let Some(problem) = index_name_problem(&results_index) {
        p.at(pos.of("results_index"), "results_index", problem);
    } else if let Some(source) = indices.iter().find(|i| {
        i.split(',')
            .any(|part| wildcard(part.trim(), &results_index))
    }) {
        p.at(pos.of("results_index"), "results_index", format!(
            "`{results_index}` is also a source index (`datafeed_config.indices` has `{source}`): the job would analyse its own results; use another index, e.g. `tidewatch-results`"
        ));
    }
    results_index
}

/// `model` (tidewatch's own): a positive `half_life`.
fn check_model(raw: &JobConfig, pos: &Positions, p: &mut Problems) -> ModelOptions {
    let mut model = ModelOptions::default();
    if let Some(t) = raw.model.as_ref().and_then(|m| m.half_life.as_ref()) {
        let path = "model.half_life";
        if let Some(d) = duration(p, pos, path, t) {
            if d.is_zero() {
                p.at(
                    pos.of(path),
                    path,
                    format!("`{t}` is zero; expected a positive duration such as `14d`"),
                );
            } else {
                model.half_life = d;
            }
        }
    }
    model
}

/// `groups`: valid ids, none the job's own.
fn check_groups(raw: &JobConfig, job_id: &str, pos: &Positions, p: &mut Problems) -> Vec<String> {
    let groups = raw.groups.clone().unwrap_or_default();
    for (i, g) in groups.iter().enumerate() {
        let path = format!("groups[{i}]");
        if !valid_job_id(g) {
            p.at(pos.of(&path), &path, format!("`{g}` is not a valid group; use lowercase letters, digits, `-` and `_`, starting and ending with a letter or digit, at most 64 characters"));
        } else if *g == job_id {
            p.at(
                pos.of(&path),
                &path,
                format!("`{g}` is the job's own id; a group needs another name"),
            );
        }
    }
    groups
}

fn check_detector(
    i: usize,
    d: &raw::DetectorConfig,
    pos: &Positions,
    p: &mut Problems,
    filters: &BTreeMap<String, FilterList>,
) -> Option<Detector> {
    let base = format!("analysis_config.detectors[{i}]");
    let fpath = format!("{base}.function");
    let before = p.list.len();
    let function = check_function(d, &fpath, pos, p);
    let field_path = format!("{base}.field_name");
    if let Some(f) = function {
        match (&d.field_name, f.needs_field()) {
            (None, true) => {
                let name = f.name();
                p.at(pos.of(&fpath), &fpath, format!("`{name}` needs `field_name`: the field whose values it measures (e.g. `field_name: http.response.body.bytes`)"));
            }
            (Some(field), false) => {
                p.at(
                    pos.key_of(&field_path),
                    &field_path,
                    no_field_message(f, field),
                );
            }
            _ => {}
        }
        check_frequency_function(f, d, &base, pos, p);
    }
    let splits = [
        ("field_name", &d.field_name),
        ("by_field_name", &d.by_field_name),
        ("over_field_name", &d.over_field_name),
        ("partition_field_name", &d.partition_field_name),
    ];
    check_split_fields(d, &splits, &base, pos, p);
    let split_fields: Vec<&str> = splits[1..]
        .iter()
        .filter_map(|(_, v)| v.as_deref())
        .collect();
    let rules = check_rules(
        &base,
        d.custom_rules.as_deref().unwrap_or_default(),
        &split_fields,
        filters,
        pos,
        p,
    );
    let function = function?;
    if p.list.len() > before {
        return None;
    }
    let description = d
        .detector_description
        .clone()
        .unwrap_or_else(|| describe_detector(function, d));
    Some(Detector {
        index: i,
        function,
        field_name: d.field_name.clone(),
        by_field_name: d.by_field_name.clone(),
        over_field_name: d.over_field_name.clone(),
        partition_field_name: d.partition_field_name.clone(),
        description,
        use_null: d.use_null.unwrap_or(false),
        rules,
    })
}

/// A detector's `function`, reported when tidewatch does not know or support it (with the
/// alternative, or a did-you-mean); `None` also when it is missing (the shape check said so).
fn check_function(
    d: &raw::DetectorConfig,
    fpath: &str,
    pos: &Positions,
    p: &mut Problems,
) -> Option<Function> {
    match &d.function {
        None => None, // reported as missing by the shape check
        Some(name) => match Function::parse(name) {
            Some(f) => Some(f),
            None => {
                let base = name
                    .strip_prefix("high_")
                    .or_else(|| name.strip_prefix("low_"));
                let msg = match unsupported_function(name) {
                    _ if matches!(base, Some("min" | "max")) => format!(
                        "unknown function `{name}`; `min` and `max` have no high_/low_ variants, use `min` or `max`"
                    ),
                    Some((base_name, alt)) if base_name != name => format!(
                        "function `{name}` (of Elastic ML's `{base_name}` family) is not supported by tidewatch; {alt}"
                    ),
                    Some((_, alt)) => format!("function `{name}` is not supported by tidewatch; {alt}"),
                    None => match did_you_mean(name, Function::NAMES) {
                        Some(s) => format!("unknown function `{name}`; did you mean `{s}`?"),
                        None => format!("unknown function `{name}`; expected one of: {}", Function::NAMES.join(", ")),
                    },
                };
                p.at(pos.of(fpath), fpath, msg);
                None
            }
        },
    }
}

/// The field and split fields of a detector (`(name, value)` in `splits`): none empty, no
/// two split fields the same, and the `by` field not the measured field.
fn check_split_fields(
    d: &raw::DetectorConfig,
    splits: &[(&str, &Option<String>); 4],
    base: &str,
    pos: &Positions,
    p: &mut Problems,
) {
    for (name, value) in splits {
        if let Some(v) = value {
            let path = format!("{base}.{name}");
            if v.trim().is_empty() {
                p.at(
                    pos.of(&path),
                    &path,
                    "empty field name; expected a field of the source documents, or leave it out",
                );
            }
        }
    }
    for (a, (an, av)) in splits.iter().enumerate().skip(1) {
        for (bn, bv) in splits.iter().skip(a + 1) {
            if let (Some(x), Some(y)) = (av, bv) {
                if x == y && !x.trim().is_empty() {
                    let path = format!("{base}.{bn}");
                    p.at(
                        pos.of(&path),
                        &path,
                        format!(
                            "`{y}` is also the `{an}`; the split fields must be different fields"
                        ),
                    );
                }
            }
        }
    }
    if let (Some(f), Some(field)) = (&d.field_name, &d.by_field_name) {
        if f == field && !f.trim().is_empty() {
            let path = format!("{base}.by_field_name");
            p.at(
                pos.of(&path),
                &path,
                format!("`{field}` is also the `field_name`; split by a different field"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits() {
        assert_eq!(parse_memory_limit("64mb"), Ok(64 << 20));
        assert_eq!(parse_memory_limit("1GB"), Ok(1 << 30));
        assert_eq!(parse_memory_limit("512"), Ok(512 << 20));
        assert!(parse_memory_limit("64 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_memory_limit("10kb")
            .unwrap_err()
            .contains("too small"));
        assert!(parse_memory_limit("mb").is_err());
    }

    #[test]
    fn schedules() {
        assert!(parse_schedule("*/15 * * * *").is_ok());
        assert!(parse_schedule("0 */15 * * * *").is_ok());
        assert!(parse_schedule("@hourly").is_ok());
        assert!(parse_schedule("* * * *")
            .unwrap_err()
            .contains("has 4 fields"));
        assert!(parse_schedule("0 0 * * * * 2030")
            .unwrap_err()
            .contains("has 7 fields"));
        assert!(parse_schedule("61 * * * *")
            .unwrap_err()
            .contains("not a valid cron expression"));
        assert!(parse_schedule("0 0 29 2 *").is_ok(), "fires in leap years");
        for never in ["0 0 30 2 *", "0 0 31 4 *", "0 0 0 31 11 *"] {
            assert!(
                parse_schedule(never).unwrap_err().contains("never fires"),
                "{never}"
            );
        }
    }

    #[test]
    fn index_wildcards() {
        assert!(wildcard("nginx-*", "nginx-logs"));
        assert!(wildcard("*", "tidewatch-results"));
        assert!(wildcard("tidewatch-results", "tidewatch-results"));
        assert!(wildcard("t*-res*s", "tidewatch-results"));
        assert!(!wildcard("nginx-*", "tidewatch-results"));
        assert!(!wildcard("tidewatch", "tidewatch-results"));
        assert!(!wildcard("*-logs", "tidewatch-results"));
    }

    #[test]
    fn job_ids() {
        assert!(valid_job_id("status_code-rate2"));
        assert!(!valid_job_id("Status"));
        assert!(!valid_job_id("-a"));
        assert!(!valid_job_id("a_"));
        assert!(!valid_job_id(&"a".repeat(65)));
        assert!(valid_job_id("a"));
    }
}
