//! The Kibana 8.x saved objects (`kibana/tidewatch.ndjson`), generated from the Vega-Lite
//! specs in `kibana/vega/` so the dashboard, the built-in UI and the tests share one source.
//!
//! The committed NDJSON must equal [`kibana_ndjson`]; the test says how to regenerate it
//! (`TIDEWATCH_BLESS=1 cargo test --lib kibana::`).

// The generator (everything but the three constants the UI serves) runs only in the test
// that keeps `kibana/tidewatch.ndjson` equal to it.
#![cfg_attr(not(test), allow(dead_code))]

use serde_json::{json, Value};

/// The swimlane spec, shared with the built-in UI.
pub(crate) const SWIMLANE_SPEC: &str = include_str!("../kibana/vega/swimlane.vl.json");
/// The single-metric spec, shared with the built-in UI.
pub(crate) const SINGLE_METRIC_SPEC: &str = include_str!("../kibana/vega/single_metric.vl.json");
/// The Kibana saved objects as committed (the UI serves them).
pub(crate) const KIBANA_NDJSON: &str = include_str!("../kibana/tidewatch.ndjson");
/// Top influencers per field, by max `influencer_score` (the Anomaly Explorer's list).
const TOP_INFLUENCERS_SPEC: &str = include_str!("../kibana/vega/top_influencers.vl.json");

/// Id of the results data view.
pub(crate) const RESULTS_DATA_VIEW: &str = "tidewatch-results";
/// Id of the nginx logs data view.
pub(crate) const LOGS_DATA_VIEW: &str = "tidewatch-nginx-logs";
/// Id of the dashboard.
pub(crate) const DASHBOARD: &str = "tidewatch-anomalies";

const CORE_MIGRATION: &str = "8.8.0";
const EMPTY_SEARCH_SOURCE: &str = r#"{"query":{"query":"","language":"kuery"},"filter":[]}"#;

fn object(
    kind: &str,
    id: &str,
    type_migration: &str,
    attributes: Value,
    references: Value,
) -> Value {
    json!({
        "attributes": attributes,
        "coreMigrationVersion": CORE_MIGRATION,
        "id": id,
        "managed": false,
        "references": references,
        "type": kind,
        "typeMigrationVersion": type_migration,
    })
}

fn data_view(id: &str, name: &str, pattern: &str, time_field: &str) -> Value {
    object(
        "index-pattern",
        id,
        "8.0.0",
        json!({
            "allowNoIndex": true,
            "fieldAttrs": "{}",
            "fieldFormatMap": "{}",
            "fields": "[]",
            "name": name,
            "runtimeFieldMap": "{}",
            "sourceFilters": "[]",
            "timeFieldName": time_field,
            "title": pattern,
            "typeMeta": "{}",
        }),
        json!([]),
    )
}

fn vega_vis(id: &str, title: &str, description: &str, spec: &str) -> Value {
    let vis_state = json!({
        "title": title,
        "type": "vega",
        "aggs": [],
        "params": { "spec": spec.trim_end() },
    });
    object(
        "visualization",
        id,
        "8.5.0",
        json!({
            "description": description,
            "kibanaSavedObjectMeta": { "searchSourceJSON": EMPTY_SEARCH_SOURCE },
            "title": title,
            "uiStateJSON": "{}",
            "version": 1,
            "visState": vis_state.to_string(),
        }),
        json!([]),
    )
}

fn top_anomalies() -> Value {
    let search_source = json!({
        "query": { "query": "result_type : \"record\" and record_score >= 25", "language": "kuery" },
        "filter": [],
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
    });
    object(
        "search",
        "tidewatch-top-anomalies",
        "8.0.0",
        json!({
            "columns": [
                "job_id", "record_score", "function", "partition_field_value", "by_field_value",
                "over_field_value", "actual", "typical", "explanation"
            ],
            "description": "Anomaly records scoring 25 or more, highest first, with their explanations.",
            "grid": {},
            "hideChart": true,
            "isTextBasedQuery": false,
            "kibanaSavedObjectMeta": { "searchSourceJSON": search_source.to_string() },
            "sort": [["record_score", "desc"], ["timestamp", "desc"]],
            "title": "tidewatch: top anomalies",
        }),
        json!([{
            "id": RESULTS_DATA_VIEW,
            "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
            "type": "index-pattern",
        }]),
    )
}

fn dashboard() -> Value {
    let (panels_json, mut references) = dashboard_panels();
    let control_panels = dashboard_controls(&mut references);
    object(
        "dashboard",
        DASHBOARD,
        "8.9.0",
        json!({
            "controlGroupInput": {
                "chainingSystem": "HIERARCHICAL",
                "controlStyle": "oneLine",
                "ignoreParentSettingsJSON": r#"{"ignoreFilters":false,"ignoreQuery":false,"ignoreTimerange":false,"ignoreValidations":false}"#,
                "panelsJSON": Value::Object(control_panels).to_string(),
            },
            "description": "tidewatch anomaly results: swimlane, single-metric view with model bounds and forecasts, top influencers and the top anomalies. Pick a job and a partition (or by) value with the controls.",
            "kibanaSavedObjectMeta": { "searchSourceJSON": EMPTY_SEARCH_SOURCE },
            "optionsJSON": r#"{"useMargins":true,"syncColors":false,"syncCursor":true,"syncTooltips":false,"hidePanelTitles":false}"#,
            "panelsJSON": Value::Array(panels_json).to_string(),
            "timeRestore": false,
            "title": "tidewatch: anomalies",
            "version": 1,
        }),
        Value::Array(references),
    )
}

/// The dashboard's panels (its `panelsJSON`) and their references.
fn dashboard_panels() -> (Vec<Value>, Vec<Value>) {
    // (panel id, saved object type, saved object id, x, y, w, h)
    let panels = [
        (
            "swimlane",
            "visualization",
            "tidewatch-swimlane",
            0,
            0,
            48,
            14,
        ),
        (
            "single-metric",
            "visualization",
            "tidewatch-single-metric",
            0,
            14,
            48,
            16,
        ),
        (
            "top-influencers",
            "visualization",
            "tidewatch-top-influencers",
            0,
            30,
            48,
            16,
        ),
        (
            "top-anomalies",
            "search",
            "tidewatch-top-anomalies",
            0,
            46,
            48,
            16,
        ),
    ];
    let panels_json: Vec<Value> = panels
        .iter()
        .map(|(pid, kind, _, x, y, w, h)| {
            json!({
                "version": CORE_MIGRATION,
                "type": kind,
                "gridData": { "x": x, "y": y, "w": w, "h": h, "i": pid },
                "panelIndex": pid,
                "embeddableConfig": { "enhancements": {} },
                "panelRefName": format!("panel_{pid}"),
            })
        })
        .collect();
    let references: Vec<Value> = panels
        .iter()
        .map(|(pid, kind, id, ..)| json!({ "name": format!("{pid}:panel_{pid}"), "type": kind, "id": id }))
        .collect();
    (panels_json, references)
}

/// Options-list controls to filter the whole dashboard by job and partition (its control
/// group's `panelsJSON`); their data-view references are added to `references`.
fn dashboard_controls(references: &mut Vec<Value>) -> serde_json::Map<String, Value> {
    let controls = [
        ("tidewatch-job", "job_id", "Job", 0),
        (
            "tidewatch-partition",
            "partition_field_value",
            "Partition",
            1,
        ),
        ("tidewatch-by", "by_field_value", "By value", 2),
    ];
    let mut control_panels = serde_json::Map::new();
    for (cid, field, title, order) in controls {
        control_panels.insert(
            cid.to_string(),
            json!({
                "order": order,
                "width": "medium",
                "grow": true,
                "type": "optionsListControl",
                "explicitInput": {
                    "id": cid,
                    "fieldName": field,
                    "title": title,
                    "singleSelect": true,
                    "enhancements": {},
                },
            }),
        );
        references.push(json!({
            "name": format!("controlGroup_{cid}:optionsListDataView"),
            "type": "index-pattern",
            "id": RESULTS_DATA_VIEW,
        }));
    }
    control_panels
}

/// The saved objects, one JSON object per line, in import order (data views first).
pub(crate) fn kibana_ndjson() -> String {
    let objects = [
        data_view(RESULTS_DATA_VIEW, "tidewatch results", "tidewatch-results*", "timestamp"),
        data_view(LOGS_DATA_VIEW, "nginx logs", "nginx-logs*", "@timestamp"),
        vega_vis(
            "tidewatch-swimlane",
            "tidewatch: anomaly swimlane",
            "Time x partition, max record score per cell, Elastic ML severity colours.",
            SWIMLANE_SPEC,
        ),
        vega_vis(
            "tidewatch-single-metric",
            "tidewatch: single metric",
            "Actual vs model bounds, anomalies by severity, forecast band. Filter to one partition.",
            SINGLE_METRIC_SPEC,
        ),
        vega_vis(
            "tidewatch-top-influencers",
            "tidewatch: top influencers",
            "Per influencer field, the values with the highest influencer score in the time range (interim results left out).",
            TOP_INFLUENCERS_SPEC,
        ),
        top_anomalies(),
        dashboard(),
    ];
    let mut out = String::new();
    for o in objects {
        out.push_str(&o.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn objects() -> Vec<Value> {
        KIBANA_NDJSON
            .lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("kibana/tidewatch.ndjson:{}: {e}", i + 1))
            })
            .collect()
    }

    fn parse_str(v: &Value, what: &str) -> Value {
        let s = v
            .as_str()
            .unwrap_or_else(|| panic!("{what} is not a string"));
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
    }

    #[test]
    fn committed_ndjson_is_generated_from_the_vega_files() {
        let generated = kibana_ndjson();
        if std::env::var_os("TIDEWATCH_BLESS").is_some() {
            let path =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kibana/tidewatch.ndjson");
            std::fs::write(&path, &generated).unwrap();
        }
        assert!(
            KIBANA_NDJSON == generated,
            "kibana/tidewatch.ndjson is out of date with kibana/vega/*.json or src/kibana.rs; \
             regenerate with: TIDEWATCH_BLESS=1 cargo test --lib kibana:: (then rebuild)"
        );
    }

    #[test]
    fn every_object_is_well_formed_and_every_reference_resolves() {
        let objs = objects();
        assert_eq!(objs.len(), 7);
        let mut ids = HashSet::new();
        for o in &objs {
            for field in ["id", "type", "coreMigrationVersion", "typeMigrationVersion"] {
                assert!(o[field].is_string(), "{field} missing in {o}");
            }
            assert!(o["attributes"].is_object() && o["references"].is_array());
            assert!(
                ids.insert((o["type"].as_str().unwrap(), o["id"].as_str().unwrap())),
                "duplicate {} {}",
                o["type"],
                o["id"]
            );
        }
        for o in &objs {
            let names: HashSet<&str> = o["references"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap())
                .collect();
            for r in o["references"].as_array().unwrap() {
                let key = (r["type"].as_str().unwrap(), r["id"].as_str().unwrap());
                assert!(ids.contains(&key), "{} refers to missing {key:?}", o["id"]);
            }
            // Every indexRefName in a search source names a reference of the object.
            if let Some(ss) = o.pointer("/attributes/kibanaSavedObjectMeta/searchSourceJSON") {
                let ss = parse_str(ss, "searchSourceJSON");
                if let Some(n) = ss.get("indexRefName").and_then(Value::as_str) {
                    assert!(
                        names.contains(n),
                        "{}: indexRefName {n} unresolved",
                        o["id"]
                    );
                }
            }
            if o["type"] == "dashboard" {
                let panels = parse_str(&o["attributes"]["panelsJSON"], "panelsJSON");
                let panels = panels.as_array().unwrap();
                assert_eq!(panels.len(), 4);
                for p in panels {
                    let name = format!(
                        "{}:{}",
                        p["panelIndex"].as_str().unwrap(),
                        p["panelRefName"].as_str().unwrap()
                    );
                    assert!(names.contains(name.as_str()), "panel {name} unresolved");
                    assert_eq!(p["gridData"]["i"], p["panelIndex"]);
                }
                let controls = parse_str(
                    &o["attributes"]["controlGroupInput"]["panelsJSON"],
                    "controlGroupInput.panelsJSON",
                );
                let controls = controls.as_object().unwrap();
                assert!(controls
                    .values()
                    .any(|c| c["explicitInput"]["fieldName"] == "job_id"));
                for id in controls.keys() {
                    let name = format!("controlGroup_{id}:optionsListDataView");
                    assert!(names.contains(name.as_str()), "control {name} unresolved");
                }
            }
        }
        let views: Vec<(&str, &str)> = objs
            .iter()
            .filter(|o| o["type"] == "index-pattern")
            .map(|o| {
                (
                    o["attributes"]["title"].as_str().unwrap(),
                    o["attributes"]["timeFieldName"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            views,
            vec![
                ("tidewatch-results*", "timestamp"),
                ("nginx-logs*", "@timestamp")
            ]
        );
    }

    /// Finds every object value under `v` that has `key`.
    fn find<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(m) => {
                if let Some(x) = m.get(key) {
                    out.push(x);
                }
                m.values().for_each(|x| find(x, key, out));
            }
            Value::Array(a) => a.iter().for_each(|x| find(x, key, out)),
            _ => {}
        }
    }

    #[test]
    fn vega_visualizations_embed_the_files_with_kibana_placeholders() {
        let files = [
            ("tidewatch-swimlane", SWIMLANE_SPEC),
            ("tidewatch-single-metric", SINGLE_METRIC_SPEC),
            ("tidewatch-top-influencers", TOP_INFLUENCERS_SPEC),
        ];
        let objs = objects();
        for (id, file) in files {
            let o = objs.iter().find(|o| o["id"] == id).unwrap();
            let vis = parse_str(&o["attributes"]["visState"], "visState");
            assert_eq!(vis["type"], "vega");
            let embedded = parse_str(&vis["params"]["spec"], "params.spec");
            let spec: Value = serde_json::from_str(file).unwrap();
            assert_eq!(embedded, spec, "{id} differs from its file in kibana/vega");
            assert!(spec["$schema"].as_str().unwrap().contains("vega-lite/v5"));
            let url = &spec["data"]["url"];
            assert_eq!(url["%context%"], true, "{id}");
            assert_eq!(url["%timefield%"], "timestamp", "{id}");
            assert_eq!(url["index"], "tidewatch-results*", "{id}");
            // Kibana refuses a body query together with %context%.
            assert!(url["body"].get("query").is_none(), "{id}");
            // Severity colours at 25/50/75, Elastic's palette.
            let mut scales = Vec::new();
            find(&spec, "scale", &mut scales);
            let threshold = scales
                .iter()
                .find(|s| s["type"] == "threshold")
                .unwrap_or_else(|| panic!("{id}: no threshold colour scale"));
            assert_eq!(threshold["domain"], json!([25, 50, 75]));
            assert_eq!(
                threshold["range"],
                json!(["#8bc8fb", "#fdec25", "#fba740", "#fe5050"])
            );
        }
        // Top influencers: influencer results only, no interim ones, values by max score.
        let top: Value = serde_json::from_str(TOP_INFLUENCERS_SPEC).unwrap();
        let agg = &top["data"]["url"]["body"]["aggs"]["influencers"];
        assert_eq!(
            agg["filter"]["bool"]["filter"][0]["term"]["result_type"],
            "influencer"
        );
        assert_eq!(
            agg["filter"]["bool"]["must_not"][0]["term"]["is_interim"],
            true
        );
        let values = &agg["aggs"]["fields"]["aggs"]["values"];
        assert_eq!(values["terms"]["field"], "influencer_field_value");
        assert_eq!(values["terms"]["order"]["max_score"], "desc");
        assert_eq!(
            values["aggs"]["max_score"]["max"]["field"],
            "influencer_score"
        );
        let swim: Value = serde_json::from_str(SWIMLANE_SPEC).unwrap();
        let mut intervals = Vec::new();
        find(&swim, "%autointerval%", &mut intervals);
        assert!(
            !intervals.is_empty() && intervals.iter().all(|v| **v == json!(true)),
            "swimlane uses %autointerval%: true for its time buckets"
        );
        let single: Value = serde_json::from_str(SINGLE_METRIC_SPEC).unwrap();
        let text = single.to_string();
        for needle in [
            "model_plot",
            "model_lower",
            "model_upper",
            "model_forecast",
            "forecast_upper",
            "record_score",
        ] {
            assert!(text.contains(needle), "single metric spec lacks {needle}");
        }
    }
}
