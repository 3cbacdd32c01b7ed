//! Job files: YAML with Elastic ML's field names, checked into a [`Job`] before anything runs.
//!
//! Raw, then checked: the file lands in structs that mirror it (`raw`), then converts once into
//! the validated [`Job`]. Nothing past this module sees raw YAML. Every problem is reported as
//! `file:line:column: field: message`, and all problems of all files are collected before
//! returning, so a user fixes them in one pass.

mod calendar;
mod check;
mod files;
mod import;
mod job;
mod problems;
mod raw;
mod rules;
mod shape;
mod yaml;

pub use calendar::{Calendar, EventTime, ScheduledEvent};
pub(crate) use check::parse_schedule;
pub use check::DEFAULT_RESULTS_INDEX;
pub use import::import_elastic;
pub use job::{Detector, Function, Job, Metric, ModelOptions, Side};
pub use rules::{
    outcome as rule_outcome, AppliesTo, Condition, FilterList, FilterType, Operator, Rule,
    RuleAction, RuleInput, RuleOutcome, Scope,
};

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// 1-based column, when the problem has a place in the file.
    pub column: Option<usize>,
    /// Dotted path of the field, e.g. `analysis_config.detectors[0].function` (`(yaml)` for
    /// a syntax error, `(job)` for the document as a whole); `None` for the file as a whole
    /// (it cannot be read, or is not a job file).
    pub field: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    /// A problem with the file as a whole: no place in it, no field.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            field: None,
            message: message.into(),
        }
    }

    /// A problem at `pos` (line and column 0 when the parser did not say where) in `field`
    /// (`None`: the file as a whole).
    pub(crate) fn at(file: &Path, pos: yaml::Pos, field: Option<String>, message: String) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: (pos.line > 0).then_some(pos.line),
            column: (pos.line > 0 && pos.column > 0).then_some(pos.column),
            field,
            message,
        }
    }
}

/// `FILE:LINE:COLUMN: FIELD: MESSAGE`, leaving out what is not known: `FILE: MESSAGE` for
/// the file as a whole.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All problems found while loading job files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Loads and validates job files; a directory means every `*.yml`/`*.yaml` in it (sorted).
/// Checks across files too (duplicate `job_id`). Returns every problem found, or the jobs in
/// the order given (files of a directory sorted by name).
pub fn load_jobs(paths: &[PathBuf]) -> Result<Vec<Job>, ConfigErrors> {
    let Loaded { jobs, errors, .. } = load_all(paths);
    if errors.is_empty() {
        Ok(jobs)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Loads one job file.
pub fn load_job(path: &Path) -> Result<Job, ConfigErrors> {
    load_jobs(&[path.to_path_buf()]).and_then(|mut jobs| {
        jobs.pop().ok_or_else(|| {
            ConfigErrors(vec![ConfigError::whole_file(
                path,
                "no job file found here; expected a .yml or .yaml file",
            )])
        })
    })
}

/// Parses and validates one job from text; `name` stands for the file in messages.
///
/// ```
/// let job = tidewatch::config::load_job_str("demo.yml", "
/// job_id: requests
/// analysis_config:
///   bucket_span: 15m
///   detectors: [{function: count}]
/// datafeed_config:
///   indices: [nginx-logs]
/// ").unwrap();
/// assert_eq!(job.bucket_span.as_secs(), 900);
/// assert_eq!(job.results_index, "tidewatch-results");
/// ```
pub fn load_job_str(name: &str, text: &str) -> Result<Job, ConfigErrors> {
    let (job, errors) = check_text(Path::new(name), text, &BTreeMap::new());
    match job {
        Some(job) if errors.is_empty() => Ok(job),
        _ => Err(ConfigErrors(errors)),
    }
}

/// Parses and validates one job from text whose custom rules may name the given filter
/// lists (as the catalog keeps them beside a recorded job); `name` stands for the file.
pub(crate) fn load_job_str_with_filters(
    name: &str,
    text: &str,
    filters: &[FilterList],
) -> Result<Job, ConfigErrors> {
    let by_id = filters
        .iter()
        .map(|f| (f.filter_id.clone(), f.clone()))
        .collect();
    let (job, errors) = check_text(Path::new(name), text, &by_id);
    match job {
        Some(job) if errors.is_empty() => Ok(job),
        _ => Err(ConfigErrors(errors)),
    }
}

/// What `tidewatch validate` reports: the number of job files that are valid, and every
/// problem of the others (sorted by file, line, column).
pub fn validate_report(paths: &[PathBuf]) -> (usize, Vec<ConfigError>) {
    let Loaded { jobs, errors, .. } = load_all(paths);
    let valid = jobs
        .iter()
        .filter(|j| !errors.iter().any(|e| e.file == j.source_file))
        .count();
    (valid, errors)
}

/// Options of `tidewatch validate`.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Job files, or directories of them (every *.yml / *.yaml inside).
    pub files: Vec<PathBuf>,
}

/// Runs `tidewatch validate`: writes one `file:line:column: field: message` line per problem
/// (or a summary of the valid jobs) to `out`, and fails when there is any problem, so the
/// exit status is non-zero.
pub fn run(args: &ValidateOptions, out: &mut dyn std::io::Write) -> crate::Result<usize> {
    let io = |e: std::io::Error| crate::Error::Io {
        path: "<output>".into(),
        source: e,
    };
    let Loaded {
        jobs,
        filters,
        calendars,
        errors,
    } = load_all(&args.files);
    if errors.is_empty() {
        let ids: Vec<&str> = jobs.iter().map(|j| j.job_id.as_str()).collect();
        writeln!(
            out,
            "{} job file{} valid: {}",
            jobs.len(),
            plural(jobs.len()),
            ids.join(", ")
        )
        .map_err(io)?;
        for line in files::summary(&jobs, &filters, &calendars) {
            writeln!(out, "{line}").map_err(io)?;
        }
        return Ok(jobs.len());
    }
    for e in &errors {
        writeln!(out, "{e}").map_err(io)?;
    }
    let mut files: Vec<&Path> = errors.iter().map(|e| e.file.as_path()).collect();
    files.dedup();
    Err(crate::Error::Invalid {
        problems: errors.len(),
        files: files.len(),
    })
}

/// Options of `tidewatch import-elastic`.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The Elastic ML job as JSON (a recipe's job.json, or GET _ml/anomaly_detectors/ID).
    pub job: PathBuf,
    /// Its datafeed as JSON (data_feed.json, or GET _ml/datafeeds/ID); not needed when the
    /// job embeds `datafeed_config`.
    pub datafeed: Option<PathBuf>,
}

/// Runs `tidewatch import-elastic`: writes the tidewatch job file to `out` (what was dropped
/// is listed in comments at its top).
pub fn run_import(args: &ImportOptions, out: &mut dyn std::io::Write) -> crate::Result<()> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| crate::Error::Io {
            path: p.display().to_string(),
            source: e,
        })
    };
    let job = read(&args.job)?;
    let datafeed = args.datafeed.as_deref().map(read).transpose()?;
    let yaml = import_elastic(&job, datafeed.as_deref()).map_err(crate::Error::Import)?;
    out.write_all(yaml.as_bytes())
        .map_err(|e| crate::Error::Io {
            path: "<output>".into(),
            source: e,
        })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Every job file the paths name: files as given, directories expanded to their sorted
/// `*.yml`/`*.yaml` entries.
fn expand(paths: &[PathBuf], errors: &mut Vec<ConfigError>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            p.is_file()
                                && matches!(
                                    p.extension().and_then(|e| e.to_str()),
                                    Some("yml" | "yaml")
                                )
                        })
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        errors.push(file_error(
                            path,
                            "no job files (*.yml, *.yaml) in this directory",
                        ));
                    }
                    files.extend(found);
                }
                Err(e) => errors.push(file_error(path, &format!("cannot read directory: {e}"))),
            }
        } else {
            files.push(path.clone());
        }
    }
    files
}

fn file_error(path: &Path, message: &str) -> ConfigError {
    ConfigError::whole_file(path, message)
}

/// Everything a set of paths holds: the valid jobs (with the calendars that name them), the
/// filter lists and calendars of their directories, and every problem.
#[derive(Debug, Default)]
struct Loaded {
    jobs: Vec<Job>,
    filters: Vec<FilterList>,
    calendars: Vec<Calendar>,
    errors: Vec<ConfigError>,
}

/// Loads every file, checks each, then checks across files (duplicate ids, references to
/// filter lists and from calendars).
fn load_all(paths: &[PathBuf]) -> Loaded {
    let mut errors = Vec::new();
    let files = expand(paths, &mut errors);
    let mut texts = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(t) => texts.push((file, t)),
            Err(e) => errors.push(file_error(&file, &format!("cannot read the file: {e}"))),
        }
    }
    check_texts(&texts, errors)
}

/// Loads jobs, filter lists and calendars from texts as if read from the named files, as
/// [`load_jobs`] does once it has read them (the fuzz harness drives the loader this way).
/// The directories of the named files are still searched for filter lists and calendars.
pub fn load_texts(texts: &[(PathBuf, String)]) -> Result<Vec<Job>, ConfigErrors> {
    let Loaded { jobs, errors, .. } = check_texts(texts, Vec::new());
    if errors.is_empty() {
        Ok(jobs)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn check_texts(texts: &[(PathBuf, String)], mut errors: Vec<ConfigError>) -> Loaded {
    let support = files::load_support(texts, &mut errors);
    let mut jobs = Vec::new();
    // job_id -> (file, line) of its first definition.
    let mut first_seen: std::collections::HashMap<String, (PathBuf, usize)> = Default::default();
    for (file, text) in texts
        .iter()
        .filter(|(_, t)| files::kind_of(t) == files::FileKind::Job)
    {
        let (job, mut file_errors) = check_text(file, text, &support.filters);
        if let Some((id, pos)) = job_id_of(text) {
            match first_seen.get(&id) {
                Some((first, line)) => file_errors.push(ConfigError::at(
                    file,
                    pos,
                    Some("job_id".into()),
                    format!(
                        "job_id `{id}` is already used by {}:{line}; each job needs its own id",
                        first.display()
                    ),
                )),
                None => {
                    first_seen.insert(id, (file.clone(), pos.line));
                }
            }
        }
        file_errors.sort_by_key(|e| (e.line, e.column));
        if file_errors.is_empty() {
            jobs.extend(job);
        }
        errors.extend(file_errors);
    }
    let calendars = files::attach_calendars(&mut jobs, &support, &mut errors);
    Loaded {
        jobs,
        filters: support.filters.into_values().collect(),
        calendars,
        errors,
    }
}

/// The job_id of a file and where it is written, if it parses that far.
fn job_id_of(text: &str) -> Option<(String, yaml::Pos)> {
    let root = yaml::parse(text).ok()?;
    let yaml::Kind::Map(entries) = root.kind else {
        return None;
    };
    entries
        .into_iter()
        .find_map(|(k, v)| match (k.kind, v.kind) {
            (yaml::Kind::Str(key), yaml::Kind::Str(id)) if key == "job_id" => Some((id, v.pos)),
            _ => None,
        })
}

/// Checks one job file's text against the known filter lists: shape, then meaning. Returns
/// the job when there is no problem.
fn check_text(
    file: &Path,
    text: &str,
    filters: &BTreeMap<String, FilterList>,
) -> (Option<Job>, Vec<ConfigError>) {
    let mut problems = problems::Problems::new(file);
    let what = "a job file is a mapping of fields (job_id, analysis_config, datafeed_config, ...)";
    let job = files::read_shaped::<raw::JobConfig>(text, job_schema(), what, &mut problems)
        .and_then(|(raw, positions)| {
            check::convert(&raw, &positions, &mut problems, file, filters)
        });
    let mut list = problems.list;
    list.sort_by_key(|e| (e.line, e.column));
    (job.filter(|_| list.is_empty()), list)
}

/// The job schema, generated once: every job loaded is checked against it.
fn job_schema() -> &'static serde_json::Value {
    static SCHEMA: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(schema_value)
}

fn schema_value() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    generator
        .into_root_schema_for::<raw::JobConfig>()
        .to_value()
}

/// The JSON Schema of job files, as written to `jobs/schema.json` (draft-07, which editors'
/// YAML plugins understand). Regenerate the file with `TIDEWATCH_BLESS=1 cargo test --lib config`.
#[cfg(test)]
pub(crate) fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&schema_value()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn crate_path(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    /// The problems of a job text as `(line, column, field, message)`.
    fn problems(text: &str) -> Vec<(usize, usize, String, String)> {
        match load_job_str("t.yml", text) {
            Ok(job) => panic!("expected problems, got a valid job {}", job.job_id),
            Err(ConfigErrors(list)) => list
                .into_iter()
                .map(|e| {
                    let field = e.field.unwrap_or_default();
                    (e.line.unwrap_or(0), e.column.unwrap_or(0), field, e.message)
                })
                .collect(),
        }
    }

    /// The one problem of a job text.
    fn problem(text: &str) -> (usize, usize, String, String) {
        let mut list = problems(text);
        assert_eq!(list.len(), 1, "expected exactly one problem, got {list:#?}");
        list.remove(0)
    }

    const MINIMAL: &str = "\
job_id: requests
analysis_config:
  bucket_span: 15m
  detectors:
    - function: count
datafeed_config:
  indices: [nginx-logs]
";

    #[test]
    fn minimal_job_gets_defaults() {
        let job = load_job_str("t.yml", MINIMAL).unwrap();
        assert_eq!(job.job_id, "requests");
        assert_eq!(job.bucket_span, Duration::from_secs(900));
        assert_eq!(job.detectors.len(), 1);
        assert_eq!(job.detectors[0].function, Function::Count(Side::Both));
        assert_eq!(job.detectors[0].description, "count");
        assert_eq!(job.time_field, "@timestamp");
        assert_eq!(job.query, serde_json::json!({"match_all": {}}));
        assert_eq!(job.query_delay, Duration::from_secs(60));
        assert_eq!(job.frequency, None);
        assert_eq!(job.effective_frequency(), Duration::from_secs(60));
        assert_eq!(job.results_index, "tidewatch-results");
        assert_eq!(job.model_memory_limit, 1024 << 20);
        assert_eq!(job.model.half_life, Duration::from_secs(14 * 86_400));
        assert!(!job.model_plot);
        assert_eq!(job.scroll_size, 1000);
        assert_eq!(job.source_file, PathBuf::from("t.yml"));
    }

    #[test]
    fn full_job_reads_every_field() {
        let text = r#"
job_id: full-job_1
description: every field
analysis_config:
  bucket_span: 1h
  detectors:
    - function: high_mean
      field_name: http.response.body.bytes
      by_field_name: http.request.method
      partition_field_name: source.geo.country_iso_code
      use_null: true
    - function: low_distinct_count
      field_name: url.original
      over_field_name: source.address
      detector_description: few URLs
  influencers: [source.address, http.request.method]
data_description:
  time_field: timestamp
  time_format: epoch
datafeed_config:
  indices: [nginx-logs, "other-*"]
  query:
    bool:
      filter: [{term: {http.request.method: GET}}]
  query_delay: 2m
  scroll_size: 500
  chunking_config:
    mode: manual
    time_span: 1d
  delayed_data_check_config:
    enabled: true
    check_window: 6h
model_plot_config:
  enabled: true
analysis_limits:
  model_memory_limit: 2gb
custom_settings:
  dashboard: https://example.com
schedule: "*/5 * * * *"
results_index: my-results
model:
  half_life: 7d
"#;
        let job = load_job_str("t.yml", text).unwrap();
        assert_eq!(job.description, "every field");
        assert_eq!(job.bucket_span, Duration::from_secs(3600));
        let d = &job.detectors[0];
        assert_eq!(d.function, Function::Mean(Side::High));
        assert_eq!(d.field_name.as_deref(), Some("http.response.body.bytes"));
        assert_eq!(d.by_field_name.as_deref(), Some("http.request.method"));
        assert_eq!(
            d.partition_field_name.as_deref(),
            Some("source.geo.country_iso_code")
        );
        assert!(d.use_null);
        assert_eq!(d.description, "high_mean(http.response.body.bytes) by \"http.request.method\" partitionfield=\"source.geo.country_iso_code\"");
        let d = &job.detectors[1];
        assert_eq!(
            (d.index, d.function),
            (1, Function::DistinctCount(Side::Low))
        );
        assert_eq!(d.over_field_name.as_deref(), Some("source.address"));
        assert_eq!(d.description, "few URLs");
        assert_eq!(job.influencers, ["source.address", "http.request.method"]);
        assert_eq!(
            (job.time_field.as_str(), job.time_format.as_str()),
            ("timestamp", "epoch")
        );
        assert_eq!(job.indices, ["nginx-logs", "other-*"]);
        assert_eq!(
            job.query,
            serde_json::json!({"bool": {"filter": [{"term": {"http.request.method": "GET"}}]}})
        );
        assert_eq!(job.query_delay, Duration::from_secs(120));
        assert_eq!(job.scroll_size, 500);
        assert_eq!(job.chunking_time_span, Some(Duration::from_secs(86_400)));
        assert!(!job.chunking_off);
        assert!(job.delayed_check_enabled);
        assert_eq!(
            job.delayed_check_window,
            Some(Duration::from_secs(6 * 3600))
        );
        assert!(job.model_plot);
        assert_eq!(job.model_memory_limit, 2 << 30);
        assert_eq!(
            job.custom_settings,
            Some(serde_json::json!({"dashboard": "https://example.com"}))
        );
        assert_eq!(job.schedule.as_deref(), Some("*/5 * * * *"));
        assert_eq!(job.results_index, "my-results");
        assert_eq!(job.model.half_life, Duration::from_secs(7 * 86_400));
        assert_eq!(job.effective_frequency(), Duration::from_secs(600));
    }

    #[test]
    fn example_jobs_all_validate() {
        let dir = crate_path("jobs");
        let jobs = load_jobs(std::slice::from_ref(&dir))
            .unwrap_or_else(|e| panic!("jobs/ does not validate:\n{e}"));
        let ids: Vec<&str> = jobs.iter().map(|j| j.job_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "client_distinct_urls",
                "client_request_rate",
                "country_traffic",
                "status_code_rate",
                "unique_visitors"
            ]
        );
        for job in &jobs {
            assert_eq!(job.bucket_span, Duration::from_secs(900), "{}", job.job_id);
            assert_eq!(job.indices, ["nginx-logs"], "{}", job.job_id);
            let stem = job
                .source_file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap();
            assert_eq!(stem, job.job_id, "file name and job_id agree");
        }
        let by_id = |id: &str| jobs.iter().find(|j| j.job_id == id).unwrap();
        let d = &by_id("status_code_rate").detectors[0];
        assert_eq!(
            (d.function, d.by_field_name.as_deref()),
            (
                Function::Count(Side::Both),
                Some("http.response.status_code")
            )
        );
        let d = &by_id("country_traffic").detectors[0];
        assert_eq!(
            (d.function, d.partition_field_name.as_deref()),
            (
                Function::Count(Side::Both),
                Some("source.geo.country_iso_code")
            )
        );
        let d = &by_id("unique_visitors").detectors[0];
        assert_eq!(
            (d.function, d.field_name.as_deref()),
            (Function::DistinctCount(Side::Both), Some("source.address"))
        );
        let d = &by_id("client_request_rate").detectors[0];
        assert_eq!(
            (d.function, d.over_field_name.as_deref()),
            (Function::Count(Side::High), Some("source.address"))
        );
        let d = &by_id("client_distinct_urls").detectors[0];
        assert_eq!(
            (
                d.function,
                d.field_name.as_deref(),
                d.over_field_name.as_deref()
            ),
            (
                Function::DistinctCount(Side::High),
                Some("url.original"),
                Some("source.address")
            )
        );
        let (valid, errors) = validate_report(&[dir]);
        assert_eq!((valid, errors.len()), (5, 0));
    }

    #[test]
    fn schema_file_is_fresh() {
        let path = crate_path("jobs/schema.json");
        let fresh = schema_json();
        if std::env::var_os("TIDEWATCH_BLESS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == fresh,
            "jobs/schema.json is stale (the job file types changed); regenerate it with `TIDEWATCH_BLESS=1 cargo test --lib config::tests::schema_file_is_fresh` and commit it"
        );
    }

    /// Every field path of the schema below `schema`, with the rejection reason of the
    /// fields validation rejects (the description after "Not supported", as `check` words it).
    fn schema_fields(
        root: &serde_json::Value,
        schema: &serde_json::Value,
        path: &str,
        out: &mut Vec<(String, Option<String>)>,
    ) {
        let mut schema = schema;
        while let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
            let name = r.rsplit('/').next().unwrap();
            schema = &root["definitions"][name];
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for sub in schema[key].as_array().into_iter().flatten() {
                schema_fields(root, sub, path, out);
            }
        }
        let Some(props) = schema["properties"].as_object() else {
            return;
        };
        for (k, v) in props {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if out.iter().any(|(q, _)| *q == p) {
                continue;
            }
            if v["deprecated"] == true {
                let d = v["description"].as_str().unwrap_or("remove it");
                let why = d
                    .trim_start_matches("Not supported")
                    .trim_start_matches([':', ' ']);
                out.push((
                    p,
                    Some(why.replace('\n', " ").trim_end_matches('.').to_string()),
                ));
                continue;
            }
            out.push((p.clone(), None));
            schema_fields(root, &v["items"], &format!("{p}[]"), out);
            schema_fields(root, v, &p, out);
        }
    }

    #[test]
    fn docs_list_every_field_as_honoured_or_rejected_with_its_message() {
        let schema: serde_json::Value = serde_json::from_str(&schema_json()).unwrap();
        let docs = std::fs::read_to_string(crate_path("docs/jobs.md")).unwrap();
        let mut fields = Vec::new();
        schema_fields(&schema, &schema, "", &mut fields);
        assert!(fields.len() > 60, "{fields:?}");
        for (path, rejected) in fields {
            let row = match rejected {
                None => format!("| `{path}` | honoured: "),
                Some(why) => {
                    let key = path.rsplit('.').next().unwrap();
                    format!("| `{path}` | rejected: `` `{key}` is an Elastic ML setting tidewatch does not support; {why} `` |")
                }
            };
            assert!(docs.contains(&row), "docs/jobs.md lacks the row `{row}`");
        }
    }

    #[test]
    fn schema_describes_fields_with_defaults() {
        let schema: serde_json::Value = serde_json::from_str(&schema_json()).unwrap();
        assert_eq!(schema["additionalProperties"], false);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(required, ["job_id", "analysis_config", "datafeed_config"]);
        assert_eq!(
            schema["properties"]["results_index"]["default"],
            "tidewatch-results"
        );
        let detector = &schema["definitions"]["DetectorConfig"];
        assert!(
            detector["properties"]["function"]["enum"]
                .as_array()
                .unwrap()
                .len()
                >= 20
        );
        assert_eq!(detector["properties"]["detector_rules"]["deprecated"], true);
        assert_eq!(
            detector["properties"]["custom_rules"]["type"],
            serde_json::json!(["array", "null"])
        );
    }

    // ---- every error class, with its exact line and column ----

    #[test]
    fn unknown_field_suggests_the_nearest() {
        let (line, col, field, msg) = problem(&MINIMAL.replace(
            "  bucket_span: 15m",
            "  bucket_spam: 15m\n  bucket_span: 15m",
        ));
        assert_eq!(
            (line, col, field.as_str()),
            (3, 3, "analysis_config.bucket_spam")
        );
        assert_eq!(
            msg,
            "unknown field `bucket_spam`; did you mean `bucket_span`?"
        );

        let (line, col, field, msg) = problem(&MINIMAL.replace(
            "    - function: count",
            "    - function: count\n      partition_field: x",
        ));
        assert_eq!(
            (line, col, field.as_str()),
            (6, 7, "analysis_config.detectors[0].partition_field")
        );
        assert!(
            msg.contains("did you mean `partition_field_name`?"),
            "{msg}"
        );

        let (line, col, field, msg) = problem(&format!("{MINIMAL}zzz: 1\n"));
        assert_eq!((line, col, field.as_str()), (8, 1, "zzz"));
        assert!(
            msg.starts_with("unknown field `zzz`; expected one of: job_id, description,"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_type_names_what_was_expected() {
        let (line, col, field, msg) = problem(&MINIMAL.replace("[nginx-logs]", "nginx-logs"));
        assert_eq!(
            (line, col, field.as_str()),
            (7, 12, "datafeed_config.indices")
        );
        assert_eq!(msg, "expected a list, found a string");

        let (line, col, field, msg) =
            problem(&format!("{MINIMAL}model_plot_config:\n  enabled: maybe\n"));
        assert_eq!(
            (line, col, field.as_str()),
            (9, 12, "model_plot_config.enabled")
        );
        assert_eq!(msg, "expected true or false, found a string");

        let (line, col, field, msg) =
            problem(&MINIMAL.replace("job_id: requests", "job_id: [a, b]"));
        assert_eq!((line, col, field.as_str()), (1, 9, "job_id"));
        assert_eq!(msg, "expected a string, found a list");

        let (line, col, field, msg) =
            problem(&MINIMAL.replace("function: count", "function: true"));
        assert_eq!(
            (line, col, field.as_str()),
            (5, 17, "analysis_config.detectors[0].function")
        );
        assert_eq!(
            msg,
            "expected a string, found a boolean (write \"true\" in quotes to make it a string)"
        );

        // A number where text is expected is read as text.
        let job = load_job_str(
            "t.yml",
            &MINIMAL.replace("job_id: requests", "job_id: 2024"),
        )
        .unwrap();
        assert_eq!(job.job_id, "2024");

        let (line, col, field, msg) =
            problem(&MINIMAL.replace("[nginx-logs]", "[nginx-logs]\n  scroll_size: 0"));
        assert_eq!(
            (line, col, field.as_str()),
            (8, 16, "datafeed_config.scroll_size")
        );
        assert!(msg.contains("out of range"), "{msg}");

        let (line, col, field, msg) = problem(&MINIMAL.replace(
            "[nginx-logs]",
            "[nginx-logs]\n  delayed_data_check_config:\n    check_window: 5m",
        ));
        assert_eq!(
            (line, col, field.as_str()),
            (
                9,
                19,
                "datafeed_config.delayed_data_check_config.check_window"
            )
        );
        assert!(msg.contains("at least the bucket span"), "{msg}");
        let off = MINIMAL.replace(
            "[nginx-logs]",
            "[nginx-logs]\n  delayed_data_check_config: {enabled: false}\n  chunking_config: {mode: \"off\"}",
        );
        let job = load_job_str("t.yml", &off).unwrap();
        assert!(!job.delayed_check_enabled && job.chunking_off);
    }

    #[test]
    fn unknown_function_suggests_the_nearest() {
        let (line, col, field, msg) =
            problem(&MINIMAL.replace("function: count", "function: hihg_count"));
        assert_eq!(
            (line, col, field.as_str()),
            (5, 17, "analysis_config.detectors[0].function")
        );
        assert_eq!(
            msg,
            "unknown function `hihg_count`; did you mean `high_count`?"
        );
    }

    #[test]
    fn min_and_max_have_no_sides() {
        let (line, col, _, msg) =
            problem(&MINIMAL.replace("function: count", "function: high_max\n      field_name: x"));
        assert_eq!((line, col), (5, 17));
        assert_eq!(msg, "unknown function `high_max`; `min` and `max` have no high_/low_ variants, use `min` or `max`");
    }

    #[test]
    fn unsupported_function_names_the_alternative() {
        let (line, col, field, msg) = problem(&MINIMAL.replace(
            "function: count",
            "function: non_null_sum\n      field_name: bytes",
        ));
        assert_eq!(
            (line, col, field.as_str()),
            (5, 17, "analysis_config.detectors[0].function")
        );
        assert!(
            msg.starts_with("function `non_null_sum` is not supported"),
            "{msg}"
        );
        assert!(msg.contains("`sum`"), "{msg}");
    }

    #[test]
    fn rare_functions_follow_elastics_rules() {
        let (_, _, field, msg) = problem(&MINIMAL.replace("function: count", "function: rare"));
        assert_eq!(field, "analysis_config.detectors[0].function");
        assert!(msg.starts_with("`rare` needs `by_field_name`"), "{msg}");
        let (_, _, field, msg) = problem(&MINIMAL.replace(
            "function: count",
            "function: rare\n      field_name: url.original\n      by_field_name: client",
        ));
        assert_eq!(field, "analysis_config.detectors[0].field_name");
        assert!(msg.contains("write `by_field_name: url.original`"), "{msg}");
        let (_, _, _, msg) = problem(&MINIMAL.replace(
            "function: count",
            "function: freq_rare\n      by_field_name: url.original",
        ));
        assert!(msg.contains("needs `over_field_name`"), "{msg}");
        let (_, _, field, msg) = problem(&MINIMAL.replace(
            "function: count",
            "function: rare\n      by_field_name: url.original\n      custom_rules:\n        - conditions: [{applies_to: actual, operator: gt, value: 1}]",
        ));
        assert_eq!(
            field,
            "analysis_config.detectors[0].custom_rules[0].conditions"
        );
        assert!(msg.contains("remove `conditions`"), "{msg}");
        let (_, _, _, msg) = problem(&MINIMAL.replace(
            "function: count",
            "function: metric\n      field_name: latency\n      custom_rules:\n        - conditions: [{applies_to: actual, operator: gt, value: 1}]",
        ));
        assert!(msg.contains("three actual and typical values"), "{msg}");
        let (_, _, _, msg) = problem(&MINIMAL.replace(
            "function: count",
            "function: time_of_day\n      field_name: user",
        ));
        assert!(msg.contains("models when documents occur"), "{msg}");
        for ok in [
            "function: rare\n      by_field_name: url.original\n      over_field_name: client",
            "function: high_info_content\n      field_name: dns.question.name",
            "function: low_median\n      field_name: latency",
            "function: varp\n      field_name: latency",
            "function: metric\n      field_name: latency\n      over_field_name: host",
            "function: time_of_week\n      over_field_name: user",
        ] {
            let job = load_job_str("t.yml", &MINIMAL.replace("function: count", ok))
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(
                job.detectors[0].function.name(),
                ok[10..].split('\n').next().unwrap_or_default()
            );
        }
    }

    #[test]
    fn function_and_field_name_must_agree() {
        let (line, col, field, msg) =
            problem(&MINIMAL.replace("function: count", "function: mean"));
        assert_eq!(
            (line, col, field.as_str()),
            (5, 17, "analysis_config.detectors[0].function")
        );
        assert!(msg.starts_with("`mean` needs `field_name`"), "{msg}");

        let (line, col, field, msg) = problem(&MINIMAL.replace(
            "function: count",
            "function: count\n      field_name: url.original",
        ));
        assert_eq!(
            (line, col, field.as_str()),
            (6, 7, "analysis_config.detectors[0].field_name")
        );
        assert!(
            msg.starts_with("`count` counts documents and takes no `field_name`"),
            "{msg}"
        );
        assert!(
            msg.contains("by_field_name") && msg.contains("distinct_count"),
            "{msg}"
        );
    }

    #[test]
    fn split_fields_must_differ() {
        let text = MINIMAL.replace(
            "    - function: count\n",
            "    - function: count\n      by_field_name: host\n      over_field_name: host\n",
        );
        let (line, col, field, msg) = problem(&text);
        assert_eq!(
            (line, col, field.as_str()),
            (7, 24, "analysis_config.detectors[0].over_field_name")
        );
        assert_eq!(
            msg,
            "`host` is also the `by_field_name`; the split fields must be different fields"
        );
    }

    #[test]
    fn bad_durations_say_what_is_expected() {
        let (line, col, field, msg) = problem(&MINIMAL.replace("15m", "15 minutes"));
        assert_eq!(
            (line, col, field.as_str()),
            (3, 16, "analysis_config.bucket_span")
        );
        assert!(
            msg.contains("unknown unit `minutes`") && msg.contains("`15m`, `1h`, `1d`"),
            "{msg}"
        );

        let (line, col, field, msg) =
            problem(&MINIMAL.replace("[nginx-logs]", "[nginx-logs]\n  query_delay: 90"));
        assert_eq!(
            (line, col, field.as_str()),
            (8, 16, "datafeed_config.query_delay")
        );
        assert!(
            msg.starts_with("`90` has no unit; expected a number followed by a unit"),
            "{msg}"
        );

        let (line, col, field, msg) = problem(&format!("{MINIMAL}model:\n  half_life: soon\n"));
        assert_eq!((line, col, field.as_str()), (9, 14, "model.half_life"));
        assert!(msg.contains("`soon` is not a duration"), "{msg}");
    }

    #[test]
    fn bucket_span_must_be_positive_and_divide_a_day() {
        let (line, col, _, msg) = problem(&MINIMAL.replace("15m", "0m"));
        assert_eq!((line, col), (3, 16));
        assert!(msg.contains("greater than 0"), "{msg}");
        let (_, _, _, msg) = problem(&MINIMAL.replace("15m", "7m"));
        assert!(msg.contains("does not divide a day"), "{msg}");
        let (_, _, _, msg) = problem(&MINIMAL.replace("15m", "36h"));
        assert!(msg.contains("whole number of days"), "{msg}");
        let (_, _, _, msg) = problem(&MINIMAL.replace("15m", "1500ms"));
        assert!(msg.contains("whole number of seconds"), "{msg}");
        for ok in ["1m", "5m", "30m", "1h", "1d", "2d", "30s"] {
            assert!(
                load_job_str("t.yml", &MINIMAL.replace("15m", ok)).is_ok(),
                "{ok}"
            );
        }
    }

    #[test]
    fn duplicate_job_id_across_files_points_at_the_second() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yml");
        let b = dir.path().join("b.yml");
        std::fs::write(&a, MINIMAL).unwrap();
        std::fs::write(&b, format!("# the same job again\n{MINIMAL}")).unwrap();
        let err = load_jobs(&[dir.path().to_path_buf()]).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        let e = &err.0[0];
        assert_eq!(
            (e.file.as_path(), e.line, e.column, e.field.as_deref()),
            (b.as_path(), Some(2), Some(9), Some("job_id"))
        );
        assert_eq!(
            e.message,
            format!(
                "job_id `requests` is already used by {}:1; each job needs its own id",
                a.display()
            )
        );
        let (valid, errors) = validate_report(&[a.clone(), b.clone()]);
        assert_eq!((valid, errors.len()), (1, 1));
    }

    #[test]
    fn bad_cron_expression() {
        let (line, col, field, msg) = problem(&format!("{MINIMAL}schedule: \"*/15 * * *\"\n"));
        assert_eq!((line, col, field.as_str()), (8, 11, "schedule"));
        assert!(
            msg.contains("has 4 fields") && msg.contains("expected 5 fields"),
            "{msg}"
        );
        let (line, col, _, msg) = problem(&format!("{MINIMAL}schedule: 70 * * * *\n"));
        assert_eq!((line, col), (8, 11));
        assert!(msg.contains("not a valid cron expression"), "{msg}");
        let (line, col, _, msg) = problem(
            &format!("{MINIMAL}schedule: \"*/5 * * * *\"\n")
                .replace("[nginx-logs]", "[nginx-logs]\n  frequency: 5m"),
        );
        assert_eq!((line, col), (9, 11));
        assert!(msg.contains("keep one"), "{msg}");
    }

    #[test]
    fn schedule_time_zones() {
        let (line, col, field, msg) = problem(&format!(
            "{MINIMAL}schedule: \"0 9 * * *\"\nschedule_time_zone: Europe/Berlln\n"
        ));
        assert_eq!((line, col, field.as_str()), (9, 21, "schedule_time_zone"));
        assert!(msg.contains("not an IANA time zone"), "{msg}");
        let (line, col, _, msg) = problem(&format!("{MINIMAL}schedule_time_zone: UTC\n"));
        assert_eq!((line, col), (8, 21));
        assert!(msg.contains("without a `schedule`"), "{msg}");
        let job = load_job_str(
            "ok.yml",
            &format!("{MINIMAL}schedule: \"0 9 * * *\"\nschedule_time_zone: Europe/Berlin\n"),
        )
        .expect("valid");
        assert_eq!(job.schedule_time_zone, Some(chrono_tz::Europe::Berlin));
    }

    #[test]
    fn influencers_may_be_any_field_but_not_blank_or_twice() {
        let text = MINIMAL.replace(
            "    - function: count\n",
            "    - function: count\n      by_field_name: http.response.status_code\n  influencers:\n    - source.address\n    - source.address\n",
        );
        let (line, col, field, msg) = problem(&text);
        assert_eq!(
            (line, col, field.as_str()),
            (9, 7, "analysis_config.influencers[1]")
        );
        assert_eq!(msg, "`source.address` is listed twice");
        let job = load_job_str("t.yml", &text.replacen("    - source.address\n", "", 1))
            .expect("an influencer that no detector reads is valid");
        assert_eq!(job.influencers, ["source.address"]);
        let (_, _, _, msg) = problem(&MINIMAL.replace(
            "    - function: count\n",
            "    - function: count\n  influencers: [\"\"]\n",
        ));
        assert!(msg.contains("is not a field name"), "{msg}");
    }

    #[test]
    fn empty_detectors_and_missing_fields() {
        let (line, col, field, msg) =
            problem(&MINIMAL.replace("  detectors:\n    - function: count\n", "  detectors: []\n"));
        assert_eq!(
            (line, col, field.as_str()),
            (4, 14, "analysis_config.detectors")
        );
        assert!(msg.starts_with("no detectors"), "{msg}");

        let list = problems("description: nothing else\n");
        let fields: Vec<&str> = list.iter().map(|p| p.2.as_str()).collect();
        assert_eq!(fields, ["job_id", "analysis_config", "datafeed_config"]);
        assert!(list.iter().all(|p| (p.0, p.1) == (1, 1)));
        assert_eq!(list[0].3, "missing required field `job_id`");

        let (line, col, field, msg) =
            problem(&MINIMAL.replace("    - function: count", "    - by_field_name: x"));
        assert_eq!(
            (line, col, field.as_str()),
            (5, 7, "analysis_config.detectors[0].function")
        );
        assert_eq!(
            msg,
            "missing required field `function` in `analysis_config.detectors[0]`"
        );

        let (line, col, field, msg) = problem(&MINIMAL.replace("job_id: requests", "job_id:"));
        assert_eq!((line, col, field.as_str()), (1, 1, "job_id"));
        assert_eq!(msg, "no value; expected a string");
    }

    #[test]
    fn job_id_format() {
        let (line, col, field, msg) =
            problem(&MINIMAL.replace("job_id: requests", "job_id: Requests_By_Host"));
        assert_eq!((line, col, field.as_str()), (1, 9, "job_id"));
        assert!(
            msg.contains("lowercase letters, digits, `-` and `_`"),
            "{msg}"
        );
        assert!(!problems(&MINIMAL.replace("job_id: requests", "job_id: requests-")).is_empty());
    }

    #[test]
    fn unsupported_elastic_settings_name_the_alternative() {
        let text = MINIMAL.replace(
            "  bucket_span: 15m",
            "  bucket_span: 15m\n  categorization_field_name: message\n  latency: 5m",
        );
        let list = problems(&text);
        assert_eq!(list.len(), 2, "{list:#?}");
        assert_eq!(
            (list[0].0, list[0].1, list[0].2.as_str()),
            (4, 3, "analysis_config.categorization_field_name")
        );
        assert!(
            list[0].3.contains("tidewatch does not support") && list[0].3.contains("by_field_name"),
            "{}",
            list[0].3
        );
        assert_eq!(
            (list[1].0, list[1].1, list[1].2.as_str()),
            (5, 3, "analysis_config.latency")
        );
        assert_eq!(
            list[1].3,
            "`latency` is an Elastic ML setting tidewatch does not support; use `datafeed_config.query_delay` to wait for late data"
        );
        let (_, _, field, msg) = problem(&MINIMAL.replace(
            "    - function: count",
            "    - function: count\n      detector_rules: []",
        ));
        assert_eq!(field, "analysis_config.detectors[0].detector_rules");
        assert!(msg.contains("custom_rules"), "{msg}");
    }

    #[test]
    fn every_problem_of_a_file_is_reported_in_one_pass() {
        let text = "\
job_id: Bad Id
analysis_config:
  bucket_span: 15x
  detectors:
    - function: sum
    - function: cuont
      by_field_name: status
  influencers: ['  ']
datafeed_config:
  indices: [nginx-logs]
  frequncy: 5m
schedule: nope
";
        let list = problems(text);
        let got: Vec<(usize, usize, &str)> =
            list.iter().map(|p| (p.0, p.1, p.2.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, 9, "job_id"),
                (3, 16, "analysis_config.bucket_span"),
                (5, 17, "analysis_config.detectors[0].function"),
                (6, 17, "analysis_config.detectors[1].function"),
                (8, 17, "analysis_config.influencers[0]"),
                (11, 3, "datafeed_config.frequncy"),
                (12, 11, "schedule"),
            ],
            "{list:#?}"
        );
    }

    #[test]
    fn yaml_syntax_and_duplicate_keys() {
        let (line, col, field, msg) = problem("job_id: a\n  analysis_config: x\n");
        assert_eq!((line, col, field.as_str()), (2, 18, "(yaml)"));
        assert!(msg.starts_with("invalid YAML"), "{msg}");
        let list = problems(&format!("{MINIMAL}job_id: again\n"));
        assert_eq!((list[0].0, list[0].1, list[0].2.as_str()), (8, 1, "job_id"));
        assert_eq!(list[0].3, "`job_id` is given twice; the first is on line 1");
        let (line, col, _, msg) = problem("- just\n- a list\n");
        assert_eq!((line, col), (1, 1));
        assert!(msg.starts_with("a job file is a mapping"), "{msg}");
    }

    #[test]
    fn validate_command_prints_problems_and_fails() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yml");
        let bad = dir.path().join("bad.yml");
        std::fs::write(&good, MINIMAL).unwrap();
        std::fs::write(
            &bad,
            MINIMAL
                .replace("requests", "other")
                .replace("count", "mean"),
        )
        .unwrap();
        let mut out = Vec::new();
        let args = ValidateOptions {
            files: vec![good.clone()],
        };
        assert_eq!(run(&args, &mut out).unwrap(), 1);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1 job file valid: requests\n"
        );
        let mut out = Vec::new();
        let args = ValidateOptions {
            files: vec![dir.path().to_path_buf()],
        };
        let err = run(&args, &mut out).unwrap_err();
        assert_eq!(err.to_string(), "1 problem in 1 job file");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            format!("{}:5:17: analysis_config.detectors[0].function: `mean` needs `field_name`: the field whose values it measures (e.g. `field_name: http.response.body.bytes`)\n", bad.display())
        );
    }
}
