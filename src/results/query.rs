//! Reading results back: the query behind `tidewatch results`, and its table.

use crate::store::{Store, StoreError};
use crate::time::{format_short, EpochMillis};
use serde_json::{json, Value};

/// Which result documents to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultType {
    /// One document per bucket with its overall `anomaly_score`.
    Bucket,
    /// One document per anomalous partition value with its `record_score`.
    Record,
    /// One document per influencer value per bucket.
    Influencer,
}

impl ResultType {
    /// The `result_type` value in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultType::Bucket => "bucket",
            ResultType::Record => "record",
            ResultType::Influencer => "influencer",
        }
    }

    /// The score field of this result type.
    pub fn score_field(self) -> &'static str {
        match self {
            ResultType::Bucket => "anomaly_score",
            ResultType::Record => "record_score",
            ResultType::Influencer => "influencer_score",
        }
    }
}

/// A results query.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultsQuery {
    /// The job.
    pub job_id: String,
    /// Which documents.
    pub result_type: ResultType,
    /// Only documents scoring at least this.
    pub min_score: f64,
    /// Only buckets starting at or after this.
    pub from: Option<EpochMillis>,
    /// Only buckets starting before this.
    pub to: Option<EpochMillis>,
    /// At most this many documents, highest score first; `None` for all in time order.
    pub limit: Option<usize>,
    /// Also interim results (`is_interim: true`, the bucket still in progress), which
    /// are left out by default so an alert never fires on a half-filled bucket.
    pub include_interim: bool,
}

impl ResultsQuery {
    /// The query DSL part.
    pub fn query(&self) -> Value {
        let mut filter = vec![
            json!({ "term": { "job_id": self.job_id } }),
            json!({ "term": { "result_type": self.result_type.as_str() } }),
            json!({ "range": { self.result_type.score_field(): { "gte": self.min_score } } }),
        ];
        if self.from.is_some() || self.to.is_some() {
            let mut range = serde_json::Map::new();
            if let Some(f) = self.from {
                range.insert("gte".into(), json!(f));
            }
            if let Some(t) = self.to {
                range.insert("lt".into(), json!(t));
            }
            filter.push(json!({ "range": { "timestamp": range } }));
        }
        if self.include_interim {
            return json!({ "bool": { "filter": filter } });
        }
        json!({ "bool": { "filter": filter, "must_not": [{ "term": { "is_interim": true } }] } })
    }
}

/// Page size when reading results with `search_after`.
const PAGE: usize = 1_000;

/// Reads the matching documents: by score (highest first) when `limit` is set, else in time
/// order. Pages with `search_after`, so any number of documents can be read.
pub fn fetch(store: &dyn Store, index: &str, q: &ResultsQuery) -> Result<Vec<Value>, StoreError> {
    let sort = match q.limit {
        Some(_) => {
            json!([{ q.result_type.score_field(): "desc" }, { "timestamp": "asc" }, { "_id": "asc" }])
        }
        None => {
            json!([{ "timestamp": "asc" }, { q.result_type.score_field(): "desc" }, { "_id": "asc" }])
        }
    };
    let mut out = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let want = q
            .limit
            .map(|l| l.saturating_sub(out.len()))
            .unwrap_or(PAGE)
            .min(PAGE);
        if want == 0 {
            break;
        }
        let body =
            json!({ "size": want, "query": q.query(), "sort": sort, "track_total_hits": false });
        let n = next_page(store, index, body, &mut after, &mut out)?;
        if n < want || after.is_none() {
            break;
        }
    }
    Ok(out)
}

/// One page of a sorted search: runs `body` from `after` (the last hit's sort values, which
/// it then advances), appends the hits' sources to `out`, and returns how many hits came.
pub(crate) fn next_page(
    store: &dyn Store,
    index: &str,
    mut body: Value,
    after: &mut Option<Value>,
    out: &mut Vec<Value>,
) -> Result<usize, StoreError> {
    if let Some(a) = after.as_ref() {
        body["search_after"] = a.clone();
    }
    let resp = store.search(index, &body)?;
    let hits = resp
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for h in &hits {
        *after = h.get("sort").cloned();
        if let Some(s) = h.get("_source") {
            out.push(s.clone());
        }
    }
    Ok(hits.len())
}

/// Renders documents as a table for people.
pub fn table(result_type: ResultType, docs: &[Value]) -> String {
    let header: &[&str] = match result_type {
        ResultType::Record => &[
            "time",
            "job",
            "score",
            "function",
            "partition",
            "actual",
            "typical",
            "explanation",
        ],
        ResultType::Bucket => &["time", "job", "score", "events", "records"],
        ResultType::Influencer => &["time", "job", "score", "field", "value"],
    };
    let rows: Vec<Vec<String>> = docs.iter().map(|d| row(result_type, d)).collect();
    render(header, &rows)
}

fn row(t: ResultType, d: &Value) -> Vec<String> {
    let time = d
        .get("timestamp")
        .and_then(Value::as_i64)
        .map(format_short)
        .unwrap_or_default();
    let score = d
        .get(t.score_field())
        .and_then(Value::as_f64)
        .map(|s| format!("{s:.0}"))
        .unwrap_or_default();
    let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let job = s("job_id");
    match t {
        ResultType::Record => {
            let first = |k: &str| {
                d.pointer(&format!("/{k}/0"))
                    .and_then(Value::as_f64)
                    .map(super::number_text)
                    .unwrap_or_default()
            };
            vec![
                time,
                job,
                score,
                s("function"),
                partition_label(d),
                first("actual"),
                first("typical"),
                s("explanation"),
            ]
        }
        ResultType::Bucket => vec![
            time,
            job,
            score,
            d.get("event_count")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            d.get("record_count")
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ],
        ResultType::Influencer => vec![
            time,
            job,
            score,
            s("influencer_field_name"),
            s("influencer_field_value"),
        ],
    }
}

/// `field=value` for each split of a record, or `-` when it has none.
pub fn partition_label(d: &Value) -> String {
    let parts: Vec<String> = ["partition", "by", "over"]
        .iter()
        .filter_map(|k| {
            let f = d.get(format!("{k}_field_name"))?.as_str()?;
            let v = d.get(format!("{k}_field_value"))?.as_str()?;
            Some(format!("{f}={v}"))
        })
        .collect();
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(" ")
    }
}

fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let last = cells.len() - 1;
        for (i, c) in cells.iter().enumerate() {
            if i == last {
                out.push_str(c);
            } else {
                out.push_str(&format!("{:<w$}  ", c, w = widths[i]));
            }
        }
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// Severity band of a score, as Elastic colours them.
pub fn severity(score: f64) -> &'static str {
    match score {
        s if s >= 75.0 => "critical",
        s if s >= 50.0 => "major",
        s if s >= 25.0 => "minor",
        _ => "warning",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let docs = vec![
            json!({"timestamp": 0, "job_id": "web", "record_score": 91.2, "function": "count", "partition_field_name": "country",
                   "partition_field_value": "DE", "actual": [600.0], "typical": [30.0], "explanation": "spike"}),
        ];
        let t = table(ResultType::Record, &docs);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1].starts_with(
                "1970-01-01 00:00  web  91     count     country=DE  600     30       spike"
            ),
            "{t}"
        );
    }

    #[test]
    fn severities() {
        assert_eq!(severity(80.0), "critical");
        assert_eq!(severity(50.0), "major");
        assert_eq!(severity(10.0), "warning");
    }
}
