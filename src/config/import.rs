//! Import of an Elastic ML anomaly-detection job (and its datafeed) as a tidewatch job file.
//!
//! The job's JSON is trimmed with the same schema that validates job files: fields tidewatch
//! reads are kept, in the schema's order; Elastic ML settings it does not support and fields
//! it does not know (`job_type`, `create_time`...) are dropped, each noted in a comment at the
//! top of the file with the reason. What cannot be converted faithfully (an unsupported
//! function) is kept and flagged, so `tidewatch validate` points at it.

use super::job::Function;
use super::problems::did_you_mean;
use serde_json::{Map, Value};

/// Converts an Elastic ML job (`GET _ml/anomaly_detectors/<id>` or a recipe's `job.json`) and
/// optionally its datafeed (`data_feed.json`; a job that embeds `datafeed_config` needs none)
/// into the text of a tidewatch job file.
///
/// ```
/// let yaml = tidewatch::config::import_elastic(
///     r#"{"job_id": "logins", "analysis_config": {"bucket_span": "15m", "latency": "0s",
///         "detectors": [{"function": "high_count", "partition_field_name": "host"}],
///         "influencers": ["host", "user"]}}"#,
///     Some(r#"{"job_id": "logins", "indexes": ["filebeat-*"], "types": ["doc"]}"#),
/// ).unwrap();
/// assert!(yaml.contains("indices:\n    - filebeat-*"));
/// assert!(yaml.contains("# dropped analysis_config.latency"));
/// let job = tidewatch::config::load_job_str("logins.yml", &yaml).unwrap();
/// assert_eq!(job.influencers, ["host", "user"]);
/// ```
pub fn import_elastic(job_json: &str, datafeed_json: Option<&str>) -> Result<String, String> {
    let mut job: Value =
        serde_json::from_str(job_json).map_err(|e| format!("the job is not valid JSON: {e}"))?;
    let Value::Object(job_obj) = &mut job else {
        return Err("the job JSON must be an object with job_id, analysis_config, ...".into());
    };
    // `GET _ml/anomaly_detectors` wraps jobs in {"jobs": [...]}.
    if let Some(Value::Array(jobs)) = job_obj.get("jobs") {
        match jobs.as_slice() {
            [one] => job = one.clone(),
            _ => {
                return Err(format!(
                    "the JSON holds {} jobs; import one at a time",
                    jobs.len()
                ))
            }
        }
    }
    let mut notes = Vec::new();
    if let Some(df) = datafeed_json {
        let mut df: Value =
            serde_json::from_str(df).map_err(|e| format!("the datafeed is not valid JSON: {e}"))?;
        if let Some(Value::Array(feeds)) = df.get("datafeeds") {
            match feeds.as_slice() {
                [one] => df = one.clone(),
                _ => {
                    return Err(format!(
                        "the datafeed JSON holds {} datafeeds; import one at a time",
                        feeds.len()
                    ))
                }
            }
        }
        if !df.is_object() {
            return Err("the datafeed JSON must be an object with indices, query, ...".into());
        }
        if let Some(obj) = job.as_object_mut() {
            obj.insert("datafeed_config".into(), df);
        }
    }
    let Some(obj) = job.as_object_mut() else {
        return Err("the job JSON must be an object".into());
    };
    let job_id = obj
        .get("job_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(Value::Object(df)) = obj.get_mut("datafeed_config") {
        if !df.contains_key("indices") {
            if let Some(ix) = df.remove("indexes") {
                df.insert("indices".into(), ix);
            }
        }
    } else {
        notes.push("NOTE: no datafeed given; set datafeed_config.indices before use".to_string());
    }

    let schema = super::job_schema();
    let trimmed = trim(schema, schema, &job, "", &mut notes).unwrap_or(Value::Null);
    let mut trimmed = match trimmed {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    flag_functions(&mut trimmed, &mut notes);

    let mut out = String::new();
    out.push_str("# yaml-language-server: $schema=./schema.json\n");
    out.push_str(&format!(
        "# Imported from the Elastic ML job `{job_id}` by `tidewatch import-elastic`.\n"
    ));
    for n in &notes {
        out.push_str(&format!("# {n}\n"));
    }
    emit_map(&trimmed, 0, &mut out);
    Ok(out)
}

fn resolve<'s>(root: &'s Value, mut schema: &'s Value) -> &'s Value {
    for _ in 0..16 {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
        {
            Some(ptr) => match root.pointer(ptr) {
                Some(s) => schema = s,
                None => break,
            },
            None => break,
        }
    }
    schema
}

/// Keeps what the schema knows, in its order; notes what is dropped.
fn trim(
    root: &Value,
    schema: &Value,
    value: &Value,
    path: &str,
    notes: &mut Vec<String>,
) -> Option<Value> {
    let schema = resolve(root, schema);
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        let want = if value.is_object() {
            "object"
        } else if value.is_array() {
            "array"
        } else {
            ""
        };
        let branch = branches
            .iter()
            .map(|b| resolve(root, b))
            .find(|b| b.get("type").and_then(Value::as_str) == Some(want))
            .or_else(|| {
                branches
                    .iter()
                    .map(|b| resolve(root, b))
                    .find(|b| b.get("type") != Some(&Value::from("null")))
            });
        return match branch {
            Some(b) if want == "object" || want == "array" => trim(root, b, value, path, notes),
            _ => Some(value.clone()),
        };
    }
    match value {
        Value::Object(obj) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return Some(value.clone()); // free-form (query, custom_settings)
            };
            let mut out = Map::new();
            for (name, ps) in props {
                let Some(v) = obj.get(name) else { continue };
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                if ps.get("deprecated") == Some(&Value::Bool(true)) {
                    let why = ps
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .trim_start_matches("Not supported")
                        .trim_start_matches([':', ' '])
                        .replace('\n', " ");
                    notes.push(format!("dropped {child}: {}", why.trim_end_matches('.')));
                } else if !v.is_null() {
                    if let Some(t) = trim(root, ps, v, &child, notes) {
                        out.insert(name.clone(), t);
                    }
                }
            }
            for name in obj.keys().filter(|k| !props.contains_key(*k)) {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                notes.push(format!("dropped {child}: not a tidewatch setting"));
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => {
            let item_schema = schema.get("items").unwrap_or(&Value::Bool(true));
            let out = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    trim(root, item_schema, item, &format!("{path}[{i}]"), notes)
                })
                .collect();
            Some(Value::Array(out))
        }
        _ => Some(value.clone()),
    }
}

/// Flags functions tidewatch lacks, and the filter lists custom rules name (Elastic keeps them
/// apart from the job, so they must be written as their own files).
fn flag_functions(job: &mut Map<String, Value>, notes: &mut Vec<String>) {
    let Some(Value::Array(dets)) = job
        .get("analysis_config")
        .and_then(|ac| ac.get("detectors"))
    else {
        return;
    };
    for (i, d) in dets.iter().enumerate() {
        if let Some(f) = d.get("function").and_then(Value::as_str) {
            if Function::parse(f).is_none() {
                let hint = did_you_mean(f, Function::NAMES)
                    .map(|s| format!(" (closest: `{s}`)"))
                    .unwrap_or_default();
                notes.push(format!(
                    "NOTE: analysis_config.detectors[{i}].function `{f}` is not supported by tidewatch{hint}; `tidewatch validate` says what to use instead"
                ));
            }
        }
        let rules = d.get("custom_rules").and_then(Value::as_array);
        let scopes = rules
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("scope")?.as_object());
        for id in scopes.flat_map(|s| s.values().filter_map(|f| f.get("filter_id")?.as_str())) {
            notes.push(format!(
                "NOTE: analysis_config.detectors[{i}].custom_rules name the filter list `{id}`; write it as a file in the jobs directory: `filter_id: {id}` and its `items` (GET _ml/filters/{id})"
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// A small YAML writer: block mappings and lists, plain scalars where unambiguous, JSON-quoted
// strings otherwise (a JSON string is a valid YAML double-quoted scalar).

fn emit_map(map: &Map<String, Value>, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for (k, v) in map {
        out.push_str(&pad);
        out.push_str(&scalar_text(k));
        out.push(':');
        emit_value_after_key(v, indent, out);
    }
}

fn emit_value_after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit_map(m, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            emit_list(items, indent + 2, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&inline(v));
            out.push('\n');
        }
    }
}

fn emit_list(items: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for item in items {
        out.push_str(&pad);
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first entry shares the dash's line; the rest align under it.
                let mut first = true;
                for (k, v) in m {
                    if !first {
                        out.push_str(&pad);
                        out.push_str("  ");
                    }
                    first = false;
                    out.push_str(&scalar_text(k));
                    out.push(':');
                    emit_value_after_key(v, indent + 2, out);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                emit_list(inner, indent + 2, out);
            }
            _ => {
                out.push_str(&inline(item));
                out.push('\n');
            }
        }
    }
}

fn inline(v: &Value) -> String {
    match v {
        Value::String(s) => scalar_text(s),
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        other => other.to_string(),
    }
}

/// A string as a YAML scalar: plain when it cannot be misread, JSON-quoted otherwise.
fn scalar_text(s: &str) -> String {
    let plain_char = |c: char| c.is_ascii_alphanumeric() || "_-./*".contains(c);
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '/');
    let lower = s.to_ascii_lowercase();
    let keyword = matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~" | ".inf" | ".nan"
    );
    let numeric = s.parse::<f64>().is_ok() || s.starts_with("0x") || s.starts_with("0o");
    let spaces_ok =
        !s.ends_with(' ') && !s.contains(": ") && !s.contains(" #") && !s.contains("  ");
    let all_plain = s.chars().all(|c| plain_char(c) || c == ' ');
    if first_ok && all_plain && spaces_ok && !keyword && !numeric {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn recipes_dir() -> PathBuf {
        crate::shared_data::shared_data().join("elastic-recipes")
    }

    fn import_recipe(name: &str) -> String {
        let dir = recipes_dir().join(name);
        let job = std::fs::read_to_string(dir.join("job.json")).unwrap();
        let df = std::fs::read_to_string(dir.join("data_feed.json")).unwrap();
        import_elastic(&job, Some(&df)).unwrap()
    }

    #[test]
    fn scalars_are_quoted_only_when_needed() {
        assert_eq!(scalar_text("nginx-logs"), "nginx-logs");
        assert_eq!(scalar_text("filebeat-*"), "filebeat-*");
        assert_eq!(scalar_text("@timestamp"), "\"@timestamp\"");
        assert_eq!(scalar_text("yes"), "\"yes\"");
        assert_eq!(scalar_text("404"), "\"404\"");
        assert_eq!(scalar_text("a: b"), "\"a: b\"");
        assert_eq!(scalar_text("system metric change"), "system metric change");
        assert_eq!(scalar_text("a #b"), "\"a #b\"");
        assert_eq!(scalar_text(""), "\"\"");
    }

    #[test]
    fn every_elastic_recipe_imports_and_validates() {
        let mut names: Vec<String> = std::fs::read_dir(recipes_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("job.json").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 7, "{names:?}");
        for name in &names {
            let yaml = import_recipe(name);
            assert!(
                !yaml.contains("# NOTE: analysis_config.detectors[0].function"),
                "{yaml}"
            );
            let job = super::super::load_job_str(&format!("{name}.yml"), &yaml)
                .unwrap_or_else(|e| panic!("{name} does not validate:\n{e}\n{yaml}"));
            assert!(!job.indices.is_empty());
            let function = job.detectors[0].function.name();
            match name.as_str() {
                "dns_data_exfiltration" => assert_eq!(function, "high_info_content"),
                "suspicious_process_activity" => assert_eq!(function, "rare"),
                _ => {}
            }
        }
    }

    #[test]
    fn service_response_change_keeps_its_meaning() {
        let yaml = import_recipe("service_response_change");
        let job = super::super::load_job_str("s.yml", &yaml).unwrap();
        assert_eq!(job.job_id, "service_response_change");
        let d = &job.detectors[0];
        assert_eq!(d.function, Function::Count(super::super::Side::High));
        assert_eq!(
            d.by_field_name.as_deref(),
            Some("apache2.access.response_code")
        );
        assert_eq!(d.partition_field_name.as_deref(), Some("beat.hostname"));
        assert_eq!(job.indices, ["filebeat-*"]);
        assert_eq!(job.frequency, Some(std::time::Duration::from_secs(150)));
        assert_eq!(
            job.influencers,
            [
                "apache2.access.response_code",
                "apache2.access.site_area",
                "apache2.access.geoip.country_iso_code"
            ]
        );
        assert!(
            yaml.contains("# dropped analysis_config.detectors[0].detector_rules:"),
            "{yaml}"
        );
        assert!(yaml.contains("# dropped datafeed_config.types:"), "{yaml}");
    }

    #[test]
    fn a_query_survives_the_round_trip() {
        let yaml = import_recipe("suspicious_login_activity");
        let job = super::super::load_job_str("s.yml", &yaml).unwrap();
        let original: Value = serde_json::from_str(
            &std::fs::read_to_string(
                recipes_dir().join("suspicious_login_activity/data_feed.json"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(job.query, original["query"]);
    }

    #[test]
    fn rules_groups_and_influencers_come_across() {
        let job = r#"{"job_id": "web_404", "groups": ["web", "nginx"],
            "analysis_config": {"bucket_span": "15m",
              "detectors": [{"function": "high_count", "over_field_name": "source.address",
                "custom_rules": [{"actions": ["skip_result"],
                  "scope": {"source.address": {"filter_id": "safe_ips", "filter_type": "include"}},
                  "conditions": [{"applies_to": "actual", "operator": "lt", "value": 5}]}]}],
              "influencers": ["source.address", "url.original"]},
            "datafeed_config": {"indices": ["nginx-logs"]}}"#;
        let yaml = import_elastic(job, None).unwrap();
        assert!(
            yaml.contains(
                "NOTE: analysis_config.detectors[0].custom_rules name the filter list `safe_ips`"
            ),
            "{yaml}"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web_404.yml"), &yaml).unwrap();
        std::fs::write(
            dir.path().join("safe_ips.yml"),
            "filter_id: safe_ips\nitems: [10.0.0.1]\n",
        )
        .unwrap();
        let jobs = super::super::load_jobs(&[dir.path().to_path_buf()])
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(jobs[0].groups, ["web", "nginx"]);
        assert_eq!(jobs[0].influencers, ["source.address", "url.original"]);
        let rule = &jobs[0].detectors[0].rules[0];
        assert_eq!(rule.scope[0].filter.items, ["10.0.0.1"]);
        assert_eq!(rule.conditions[0].value, 5.0);
    }

    #[test]
    fn bad_input_is_reported() {
        assert!(import_elastic("{", None)
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(import_elastic("[1]", None)
            .unwrap_err()
            .contains("must be an object"));
        let yaml = import_elastic(r#"{"job_id": "x", "analysis_config": {"bucket_span": "1h", "detectors": [{"function": "count"}]}}"#, None).unwrap();
        assert!(yaml.contains("NOTE: no datafeed given"), "{yaml}");
    }
}
