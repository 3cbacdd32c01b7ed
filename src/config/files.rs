//! The other files of a jobs directory: filter lists (top-level key `filter_id`) and calendars
//! (`calendar_id`), told from job files by that key, as Elastic keeps them as their own
//! objects beside the jobs.
//!
//! A job given as a single file still sees the filter lists and calendars of its directory, so
//! `tidewatch run --jobs jobs/one.yml` behaves as the whole directory does for that job.

use super::calendar::{check_calendar, Calendar, CalendarConfig};
use super::problems::{Positions, Problems};
use super::rules::{check_filter, FilterConfig, FilterList};
use super::shape::ShapeWalker;
use super::yaml::{self, Kind, Pos};
use super::{ConfigError, Job};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What a YAML file of a jobs directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// An anomaly-detection job (anything that is not one of the others).
    Job,
    /// A filter list (`filter_id`).
    Filter,
    /// A calendar (`calendar_id`).
    Calendar,
}

/// The kind of a file, by its top-level keys.
pub(crate) fn kind_of(text: &str) -> FileKind {
    let Ok(yaml::Node {
        kind: Kind::Map(entries),
        ..
    }) = yaml::parse(text)
    else {
        return FileKind::Job;
    };
    let has = |name: &str| {
        entries
            .iter()
            .any(|(k, _)| matches!(&k.kind, Kind::Str(s) if s == name))
    };
    if has("job_id") {
        FileKind::Job
    } else if has("filter_id") {
        FileKind::Filter
    } else if has("calendar_id") {
        FileKind::Calendar
    } else {
        FileKind::Job
    }
}

/// Parses `text` and checks its shape against `schema` (the schema of `T`), then reads it into
/// `T`; `what` describes the expected top level for the message when it is not a mapping.
pub(crate) fn read_shaped<T: DeserializeOwned>(
    text: &str,
    schema: &serde_json::Value,
    what: &str,
    problems: &mut Problems,
) -> Option<(T, Positions)> {
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(e) => {
            problems.at(e.pos, "(yaml)", e.message);
            return None;
        }
    };
    if !matches!(root.kind, Kind::Map(_)) {
        let found = root.kind.describe();
        problems.whole_file(root.pos, format!("{what}, found {found}"));
        return None;
    }
    let mut walker = ShapeWalker::new(schema, problems);
    let shaped = walker.walk(schema, &root, "");
    let positions = std::mem::take(&mut walker.positions);
    match shaped.map(serde_json::from_value) {
        Some(Ok(raw)) => Some((raw, positions)),
        Some(Err(e)) => {
            problems.whole_file(root.pos, format!("cannot read the file: {e}"));
            None
        }
        None => None,
    }
}

fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
    schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// A calendar and where it came from, for messages about its `job_ids`.
#[derive(Debug)]
pub(crate) struct LoadedCalendar {
    calendar: Calendar,
    file: PathBuf,
    positions: Positions,
    /// Whether the file was named (directly or by its directory) rather than found beside a
    /// job file: only then must each of its `job_ids` name a loaded job.
    given: bool,
}

/// The filter lists and calendars found.
#[derive(Debug, Default)]
pub(crate) struct Support {
    /// By `filter_id`.
    pub filters: BTreeMap<String, FilterList>,
    calendars: Vec<LoadedCalendar>,
}

/// Loads the filter lists and calendars among the given files and beside them (in the
/// directories of given files), reporting their problems and duplicate ids.
pub(crate) fn load_support(given: &[(PathBuf, String)], errors: &mut Vec<ConfigError>) -> Support {
    let mut support = Support::default();
    let given_paths: BTreeSet<&Path> = given.iter().map(|(p, _)| p.as_path()).collect();
    for (file, text) in given {
        load_one(file, text, true, &mut support, errors);
    }
    let dirs: BTreeSet<&Path> = given_paths.iter().filter_map(|p| p.parent()).collect();
    for dir in dirs {
        for file in yaml_files_in(dir) {
            if given_paths.contains(file.as_path()) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(&file) {
                load_one(&file, &text, false, &mut support, errors);
            }
        }
    }
    support
}

fn yaml_files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
        })
        .collect();
    files.sort();
    files
}

fn load_one(
    file: &Path,
    text: &str,
    given: bool,
    support: &mut Support,
    errors: &mut Vec<ConfigError>,
) {
    let mut p = Problems::new(file);
    match kind_of(text) {
        FileKind::Job => return,
        FileKind::Filter => {
            let what = "a filter list is a mapping with `filter_id`, `description` and `items`";
            static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
            let schema = SCHEMA.get_or_init(schema_of::<FilterConfig>);
            if let Some((raw, pos)) = read_shaped::<FilterConfig>(text, schema, what, &mut p) {
                if let Some(f) = check_filter(&raw, &pos, &mut p) {
                    if support.filters.contains_key(&f.filter_id) {
                        let msg = format!("filter_id `{}` is already used by another filter list in the jobs directory; each needs its own id", f.filter_id);
                        p.at(pos.of("filter_id"), "filter_id", msg);
                    } else if p.list.is_empty() {
                        support.filters.insert(f.filter_id.clone(), f);
                    }
                }
            }
        }
        FileKind::Calendar => {
            let what = "a calendar is a mapping with `calendar_id`, `job_ids` and `events`";
            static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
            let schema = SCHEMA.get_or_init(schema_of::<CalendarConfig>);
            if let Some((raw, pos)) = read_shaped::<CalendarConfig>(text, schema, what, &mut p) {
                if let Some(calendar) = check_calendar(&raw, &pos, &mut p) {
                    support.calendars.push(LoadedCalendar {
                        calendar,
                        file: file.to_path_buf(),
                        positions: pos,
                        given,
                    });
                }
            }
        }
    }
    p.list.sort_by_key(|e| (e.line, e.column));
    errors.extend(p.list);
}

/// Gives each job the calendars that name it or one of its groups; reports given calendars
/// whose `job_ids` name no loaded job or group. Returns the calendars.
pub(crate) fn attach_calendars(
    jobs: &mut [Job],
    support: &Support,
    errors: &mut Vec<ConfigError>,
) -> Vec<Calendar> {
    for loaded in &support.calendars {
        let c = &loaded.calendar;
        for job in jobs.iter_mut() {
            if c.applies_to(&job.job_id, &job.groups) {
                job.calendars.push(c.clone());
            }
        }
        if !loaded.given {
            continue;
        }
        for (i, id) in c.job_ids.iter().enumerate() {
            let known = jobs
                .iter()
                .any(|j| j.job_id == *id || j.groups.contains(id));
            if !known {
                let path = format!("job_ids[{i}]");
                let Pos { line, column } = loaded.positions.of(&path);
                errors.push(ConfigError::at(
                    &loaded.file,
                    Pos { line, column },
                    Some(path),
                    format!("`{id}` is neither the job_id nor a group of any job loaded with this calendar; expected a job_id or a job's `groups` entry"),
                ));
            }
        }
    }
    support
        .calendars
        .iter()
        .map(|l| l.calendar.clone())
        .collect()
}

/// Lines for `validate`: each filter list with its size, and each calendar with its events
/// and the jobs it silences.
pub(crate) fn summary(jobs: &[Job], filters: &[FilterList], calendars: &[Calendar]) -> Vec<String> {
    let mut lines = Vec::new();
    for f in filters {
        lines.push(format!(
            "filter list {}: {} item{}",
            f.filter_id,
            f.items.len(),
            if f.items.len() == 1 { "" } else { "s" }
        ));
    }
    for c in calendars {
        let applies: Vec<&str> = jobs
            .iter()
            .filter(|j| c.applies_to(&j.job_id, &j.groups))
            .map(|j| j.job_id.as_str())
            .collect();
        lines.push(format!(
            "calendar {}: {} event{}, applies to: {}",
            c.calendar_id,
            c.events.len(),
            if c.events.len() == 1 { "" } else { "s" },
            if applies.is_empty() {
                "no loaded job".to_string()
            } else {
                applies.join(", ")
            }
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendars_and_rules_round_trip_through_json_for_storing_with_jobs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text);
        write("ips.yml", "filter_id: ips\nitems: [\"10.*\"]\n").expect("write");
        write("cal.yml", "calendar_id: cal\njob_ids: [web]\nevents:\n  - {description: a, start_time: 1714953600000, end_time: \"2024-05-06T01:00:00Z\"}\n  - {description: b, schedule: \"0 2 * * 0\", duration: 2h}\n").expect("write");
        write("j.yml", "job_id: j\ngroups: [web]\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      by_field_name: ip\n      custom_rules: [{scope: {ip: {filter_id: ips}}}]\ndatafeed_config:\n  indices: [logs]\n").expect("write");
        let jobs = crate::config::load_jobs(&[dir.path().join("j.yml")])
            .expect("a single job file sees its directory's filter lists and calendars");
        let job = &jobs[0];
        assert_eq!(job.calendars.len(), 1);
        let events = &job.calendars[0].events;
        assert_eq!(
            events[0].when,
            super::super::calendar::EventTime::Once {
                start_time: 1_714_953_600_000,
                end_time: 1_714_957_200_000
            }
        );
        let text = serde_json::to_string(&job.calendars).expect("serialise");
        let back: Vec<Calendar> = serde_json::from_str(&text).expect("deserialise");
        assert_eq!(back, job.calendars);
        let rules = &job.detectors[0].rules;
        let text = serde_json::to_string(rules).expect("serialise");
        let back: Vec<super::super::rules::Rule> = serde_json::from_str(&text).expect("back");
        assert_eq!(&back, rules);
        assert!(text.contains(r#""actions":["skip_result"]"#), "{text}");
    }

    #[test]
    fn a_calendar_naming_no_loaded_job_is_reported_at_its_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("cal.yml"),
            "calendar_id: cal\njob_ids: [nobody]\nevents: []\n",
        )
        .expect("write");
        let (_, errors) = crate::config::validate_report(&[dir.path().to_path_buf()]);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(
            (errors[0].line, errors[0].field.as_deref()),
            (Some(2), Some("job_ids[0]"))
        );
        assert!(errors[0].message.contains("`nobody` is neither"));
    }
}
