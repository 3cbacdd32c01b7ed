//! `_field_caps` for the embedded store: every column is searchable and aggregatable (the
//! store keeps values whole, like `keyword`), its type read from its values, so the datafeed
//! checks a job's fields through the same call and the same response as on a cluster.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The `_field_caps?include_unmapped=true` response for `fields` over `indices`, given each
/// field's type per index (`None`: the index has no value for it).
pub(super) fn response<'a>(
    indices: &[String],
    fields: &[String],
    mapped: impl Fn(&str) -> Vec<(&'a str, Option<&'static str>)>,
) -> Value {
    let mut out = Map::new();
    for field in fields {
        let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (index, t) in mapped(field) {
            by_type
                .entry(t.unwrap_or("unmapped"))
                .or_default()
                .push(index);
        }
        if by_type.is_empty() || by_type.keys().all(|t| *t == "unmapped") {
            continue;
        }
        let uniform = by_type.len() == 1;
        let mut types = Map::new();
        for (t, names) in by_type {
            let usable = t != "unmapped";
            let mut caps = json!({ "type": t, "searchable": usable, "aggregatable": usable });
            if !uniform {
                caps["indices"] = json!(names);
            }
            types.insert(t.to_string(), caps);
        }
        out.insert(field.clone(), Value::Object(types));
    }
    json!({ "indices": indices, "fields": out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_listed_per_index_only_when_they_differ() {
        let indices = vec!["a".to_string(), "b".to_string()];
        let fields = vec![
            "host".to_string(),
            "bytes".to_string(),
            "nowhere".to_string(),
        ];
        let got = response(&indices, &fields, |f| match f {
            "host" => vec![("a", Some("keyword")), ("b", Some("keyword"))],
            "bytes" => vec![("a", Some("long")), ("b", None)],
            _ => vec![("a", None), ("b", None)],
        });
        assert_eq!(got["indices"], json!(["a", "b"]));
        assert_eq!(
            got["fields"]["host"],
            json!({"keyword": {"type": "keyword", "searchable": true, "aggregatable": true}})
        );
        assert_eq!(got["fields"]["bytes"]["long"]["indices"], json!(["a"]));
        assert_eq!(got["fields"]["bytes"]["unmapped"]["indices"], json!(["b"]));
        assert_eq!(got["fields"]["bytes"]["unmapped"]["aggregatable"], false);
        assert!(got["fields"].get("nowhere").is_none());
    }
}
