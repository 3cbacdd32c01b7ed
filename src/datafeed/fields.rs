//! Before a job reads anything: how each of its fields is mapped in its source indices.
//!
//! A split or influencer field that the engine cannot aggregate (`text`, the dynamic mapping
//! of a string) fails every search with `all shards failed`, and a field that exists in no
//! index makes a job run forever with no partitions. So the datafeed asks the store's
//! `_field_caps` (the embedded store answers the same call from its columns) once per run:
//! - a `text` field with an aggregatable `.keyword` sub-field is read through it, and the
//!   job says so once (log and `status`), as Kibana does for the same mapping;
//! - a field mapped nowhere, or mapped in some index as a type that cannot be aggregated, is
//!   an error naming the job, the field, the index and the type, before any bucket is read.
//!
//! A job whose indices do not exist yet (a pattern that matches nothing) has nothing to
//! check: it waits for data as before.

use crate::config::{Job, Metric};
use crate::store::Store;
use serde_json::Value;
use std::collections::BTreeMap;

/// The fields of a job that cannot be aggregated in its source indices, one sentence each.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct FieldProblems(pub Vec<String>);

/// A job ready to read: its fields resolved against the source indices' mappings.
#[derive(Debug, Clone)]
pub struct ResolvedJob {
    /// The job, with [`Job::field_sources`] filled in.
    pub job: Job,
    /// One sentence per field read through another, e.g. "`source.address` is `text` in
    /// `weblogs`: reading it through `source.address.keyword`".
    pub notes: Vec<String>,
    /// Whether any of the job's indices existed to check the fields in (a pattern that
    /// matches nothing yet leaves them unchecked).
    pub checked: bool,
}

/// One field of the job and what the job does with it.
struct Use {
    field: String,
    /// Where the job names it, e.g. `by_field_name`.
    role: String,
    /// Whether a `.keyword` sub-field can stand in (splits, influencers, counted values;
    /// not the numbers a `mean` averages nor the time field).
    keyword_ok: bool,
}

/// Every field the datafeed aggregates, first use first (one entry per field).
fn uses(job: &Job) -> Vec<Use> {
    let mut out: Vec<Use> = Vec::new();
    let mut add = |field: &str, role: String, keyword_ok: bool| {
        if !out.iter().any(|u| u.field == field) {
            out.push(Use {
                field: field.to_string(),
                role,
                keyword_ok,
            });
        }
    };
    add(&job.time_field, "data_description.time_field".into(), false);
    for d in &job.detectors {
        let at = |name: &str| format!("analysis_config.detectors[{}].{name}", d.index);
        let splits = [
            ("partition_field_name", &d.partition_field_name),
            ("by_field_name", &d.by_field_name),
            ("over_field_name", &d.over_field_name),
        ];
        for (name, field) in splits {
            if let Some(f) = field {
                add(f, at(name), true);
            }
        }
        if let Some(f) = &d.field_name {
            let counted = matches!(
                d.function.metric(),
                Metric::DistinctCount | Metric::InfoContent
            );
            add(f, at("field_name"), counted);
        }
    }
    for f in &job.influencers {
        add(f, "analysis_config.influencers".into(), true);
    }
    out
}

/// Checks every field the job aggregates with the store's `_field_caps` over the job's
/// indices; see the module docs. Store failures are [`crate::Error::Store`], fields that
/// cannot be read are [`FieldProblems`] (all of them, not only the first).
pub fn resolve_fields(store: &dyn Store, job: &Job) -> crate::Result<ResolvedJob> {
    let uses = uses(job);
    let mut asked: Vec<String> = Vec::new();
    for u in &uses {
        asked.push(u.field.clone());
        if u.keyword_ok {
            asked.push(format!("{}.keyword", u.field));
        }
    }
    let caps = store.field_caps(&job.indices.join(","), &asked)?;
    let indices: Vec<&str> = caps
        .get("indices")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut resolved = ResolvedJob {
        job: job.clone(),
        notes: Vec::new(),
        checked: !indices.is_empty(),
    };
    resolved.job.field_sources = BTreeMap::new();
    if indices.is_empty() {
        return Ok(resolved);
    }
    let fields = caps.get("fields").cloned().unwrap_or(Value::Null);
    let mut problems = Vec::new();
    for u in &uses {
        let keyword = format!("{}.keyword", u.field);
        match check_field(&fields, &indices, u, &keyword) {
            Ok(None) => {}
            Ok(Some(note)) => {
                resolved
                    .job
                    .field_sources
                    .insert(u.field.clone(), keyword.clone());
                resolved.notes.push(note);
            }
            Err(problem) => problems.push(format!("job `{}`: {problem}", job.job_id)),
        }
    }
    if !problems.is_empty() {
        return Err(FieldProblems(problems).into());
    }
    for note in &resolved.notes {
        tracing::info!(job_id = %job.job_id, "{note}");
    }
    Ok(resolved)
}

/// How one field is mapped: `(type, indices)` for every type it has, and the indices where
/// it is mapped but cannot be aggregated (with their type).
struct Mapped<'a> {
    types: Vec<(&'a str, Vec<&'a str>)>,
    unaggregatable: Vec<(&'a str, &'a str)>,
}

fn mapped<'a>(fields: &'a Value, field: &str, all: &[&'a str]) -> Mapped<'a> {
    let mut out = Mapped {
        types: Vec::new(),
        unaggregatable: Vec::new(),
    };
    let Some(types) = fields.get(field).and_then(Value::as_object) else {
        return out;
    };
    let names = |v: Option<&'a Value>| -> Option<Vec<&'a str>> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
    };
    for (t, caps) in types {
        if t == "unmapped" {
            continue;
        }
        let of_type = names(caps.get("indices")).unwrap_or_else(|| all.to_vec());
        let aggregatable = caps.get("aggregatable").and_then(Value::as_bool) == Some(true);
        let bad = match names(caps.get("non_aggregatable_indices")) {
            Some(bad) => bad,
            None if aggregatable => Vec::new(),
            None => of_type.clone(),
        };
        out.unaggregatable
            .extend(bad.into_iter().map(|i| (i, t.as_str())));
        out.types.push((t.as_str(), of_type));
    }
    out
}

/// The `(index, type)` pairs where `field` is mapped but cannot be aggregated, from a
/// `_field_caps` response.
pub(crate) fn unaggregatable<'a>(caps: &'a Value, field: &str) -> Vec<(&'a str, &'a str)> {
    let indices: Vec<&str> = caps
        .get("indices")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fields = caps.get("fields").unwrap_or(&Value::Null);
    mapped(fields, field, &indices).unaggregatable
}

/// Whether `field` is mapped and aggregatable in `index`, from a `_field_caps` response.
pub(crate) fn aggregatable_in(caps: &Value, field: &str, index: &str) -> bool {
    let Some(types) = caps
        .pointer("/fields")
        .and_then(|f| f.get(field))
        .and_then(Value::as_object)
    else {
        return false;
    };
    let listed = |v: Option<&Value>, default: bool| {
        v.and_then(Value::as_array)
            .map_or(default, |a| a.iter().any(|i| i.as_str() == Some(index)))
    };
    types.iter().any(|(t, c)| {
        t != "unmapped"
            && listed(c.get("indices"), true)
            && (c.get("aggregatable").and_then(Value::as_bool) == Some(true)
                || (c.get("non_aggregatable_indices").is_some()
                    && !listed(c.get("non_aggregatable_indices"), false)))
    })
}

/// `None` when the field aggregates as it is, a note when it is read through `keyword`, the
/// problem otherwise.
fn check_field(
    fields: &Value,
    indices: &[&str],
    u: &Use,
    keyword: &str,
) -> Result<Option<String>, String> {
    let m = mapped(fields, &u.field, indices);
    if m.types.is_empty() {
        return Err(format!(
            "{} `{}` is in none of the job's indices ({}): no mapping and no document has it; check its spelling",
            u.role,
            u.field,
            listed(indices)
        ));
    }
    if m.unaggregatable.is_empty() {
        return Ok(None);
    }
    let bad: Vec<&str> = m.unaggregatable.iter().map(|(i, _)| *i).collect();
    let aggregatable_somewhere = m
        .types
        .iter()
        .any(|(_, on)| on.iter().any(|i| !bad.contains(i)));
    let k = mapped(fields, keyword, indices);
    let keyword_covers = k.unaggregatable.is_empty()
        && bad
            .iter()
            .all(|i| k.types.iter().any(|(_, on)| on.contains(i)));
    let all_text = m.unaggregatable.iter().all(|(_, t)| *t == "text");
    if u.keyword_ok && all_text && keyword_covers && !aggregatable_somewhere {
        return Ok(Some(format!(
            "`{}` is `text` in {}: reading it through `{keyword}`",
            u.field,
            listed(&bad)
        )));
    }
    let (index, t) = m.unaggregatable[0];
    let others = match bad.len() {
        1 => String::new(),
        n => format!(
            " (and {} more {})",
            n - 1,
            plural(n - 1, "index", "indices")
        ),
    };
    let hint = if t == "text" && u.keyword_ok && !keyword_covers {
        format!("; map it as `keyword` (or with a `{keyword}` sub-field) and re-index")
    } else if t == "text" && u.keyword_ok {
        format!(
            "; `{keyword}` exists there, but `{}` aggregates as it is in other indices: give it one type in every index",
            u.field
        )
    } else {
        "; a field the job aggregates needs a `keyword`, numeric, `ip` or `date` type".to_string()
    };
    Err(format!(
        "{} `{}` cannot be aggregated: index `{index}` maps it as `{t}`{others}{hint}",
        u.role, u.field
    ))
}

/// `a`, `b`, `c` and 4 more.
fn listed(indices: &[&str]) -> String {
    const SHOWN: usize = 5;
    let mut text = indices
        .iter()
        .take(SHOWN)
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if indices.len() > SHOWN {
        text.push_str(&format!(" and {} more", indices.len() - SHOWN));
    }
    text
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BulkDoc, EmbeddedStore};
    use serde_json::json;

    fn job(extra: &str) -> Job {
        crate::config::load_job_str(
            "jobs/j.yml",
            &format!("job_id: j\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      by_field_name: source.address\n{extra}datafeed_config:\n  indices: [weblogs]\n"),
        )
        .unwrap()
    }

    fn text_and_keyword() -> Value {
        json!({
            "@timestamp": {"date": {"type": "date", "searchable": true, "aggregatable": true}},
            "source.address": {"text": {"type": "text", "searchable": true, "aggregatable": false}},
            "source.address.keyword": {"keyword": {"type": "keyword", "searchable": true, "aggregatable": true}},
            "url.original": {"text": {"type": "text", "searchable": true, "aggregatable": false}},
        })
    }

    fn check(fields: &Value, field: &str, keyword_ok: bool) -> Result<Option<String>, String> {
        let u = Use {
            field: field.into(),
            role: "by_field_name".into(),
            keyword_ok,
        };
        check_field(fields, &["weblogs"], &u, &format!("{field}.keyword"))
    }

    #[test]
    fn a_text_field_with_a_keyword_sub_field_is_read_through_it() {
        let note = check(&text_and_keyword(), "source.address", true).unwrap();
        assert_eq!(
            note.as_deref(),
            Some("`source.address` is `text` in `weblogs`: reading it through `source.address.keyword`")
        );
        assert_eq!(check(&text_and_keyword(), "@timestamp", false), Ok(None));
        // A number the job averages is never replaced by a string.
        let e = check(&text_and_keyword(), "source.address", false).unwrap_err();
        assert!(e.contains("index `weblogs` maps it as `text`"), "{e}");
    }

    #[test]
    fn text_only_and_missing_fields_name_index_field_and_type() {
        let e = check(&text_and_keyword(), "url.original", true).unwrap_err();
        assert_eq!(
            e,
            "by_field_name `url.original` cannot be aggregated: index `weblogs` maps it as `text`; map it as `keyword` (or with a `url.original.keyword` sub-field) and re-index"
        );
        let e = check(&text_and_keyword(), "client.ip", true).unwrap_err();
        assert!(
            e.contains("`client.ip` is in none of the job's indices (`weblogs`)"),
            "{e}"
        );
    }

    #[test]
    fn a_field_aggregatable_in_one_index_and_text_in_another_is_an_error() {
        let fields = json!({
            "host": {
                "keyword": {"type": "keyword", "searchable": true, "aggregatable": true, "indices": ["a"]},
                "text": {"type": "text", "searchable": true, "aggregatable": false, "indices": ["b"]}
            },
            "host.keyword": {
                "keyword": {"type": "keyword", "searchable": true, "aggregatable": true, "indices": ["b"]},
                "unmapped": {"type": "unmapped", "searchable": false, "aggregatable": false, "indices": ["a"]}
            }
        });
        let u = Use {
            field: "host".into(),
            role: "influencers".into(),
            keyword_ok: true,
        };
        let e = check_field(&fields, &["a", "b"], &u, "host.keyword").unwrap_err();
        assert!(e.contains("index `b` maps it as `text`"), "{e}");
        assert!(e.contains("give it one type in every index"), "{e}");
    }

    #[test]
    fn the_embedded_store_answers_through_the_same_check() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        // No index yet: nothing to check, the job waits for data.
        let resolved = resolve_fields(&store, &job("")).unwrap();
        assert!(resolved.job.field_sources.is_empty() && !resolved.checked);
        let doc = json!({"@timestamp": "2024-01-01T00:00:00Z", "source": {"address": "10.0.0.1"}});
        store
            .bulk(
                "weblogs",
                vec![BulkDoc {
                    id: None,
                    source: doc,
                }],
            )
            .unwrap();
        let resolved = resolve_fields(&store, &job("")).unwrap();
        assert!(resolved.notes.is_empty() && resolved.checked);
        let err = resolve_fields(&store, &job("  influencers: [client.ip]\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "job `j`: analysis_config.influencers `client.ip` is in none of the job's indices (`weblogs`): no mapping and no document has it; check its spelling"
        );
    }
}
