//! Sibling pipeline aggregations: `max_bucket`, `min_bucket`, `avg_bucket`, `sum_bucket`
//! over a sibling's buckets (`buckets_path`: `agg>metric[.property]` or `agg>_count`).

use super::common::{check_params, f64_json, obj, sub_value};
use crate::store::embedded::ctx::bad;
use crate::store::StoreError;
use serde_json::{json, Map, Value};

const PARAMS: &[&str] = &["buckets_path", "gap_policy"];

#[derive(Clone, Copy, PartialEq)]
enum Pipeline {
    Max,
    Min,
    Avg,
    Sum,
}

pub(super) struct BucketPipeline {
    which: Pipeline,
    path: String,
}

impl BucketPipeline {
    /// `kind` is one of `max_bucket`, `min_bucket`, `avg_bucket`, `sum_bucket`.
    pub(super) fn parse(kind: &str, v: &Value, what: &str) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        let s = obj(v, what)?;
        let path = s
            .get("buckets_path")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                bad(
                    what,
                    "`buckets_path` is required, e.g. \"histo>count\"".to_string(),
                )
            })?;
        let which = match kind {
            "max_bucket" => Pipeline::Max,
            "min_bucket" => Pipeline::Min,
            "avg_bucket" => Pipeline::Avg,
            _ => Pipeline::Sum,
        };
        Ok(BucketPipeline {
            which,
            path: path.to_string(),
        })
    }

    /// The value over the buckets of the sibling aggregation `siblings` holds.
    pub(in crate::store::embedded::aggs) fn eval(&self, siblings: &Map<String, Value>) -> Value {
        let (p, path) = (self.which, self.path.as_str());
        let (agg, metric) = match path.split_once('>') {
            Some((a, m)) => (a, Some(m)),
            None => (path, None),
        };
        let buckets: Vec<&Value> = match siblings.get(agg).and_then(|v| v.get("buckets")) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(Value::Object(m)) => m.values().collect(),
            _ => Vec::new(),
        };
        let mut vals: Vec<(f64, String)> = Vec::new();
        for b in buckets {
            let v = match metric {
                None | Some("_count") => b.get("doc_count").and_then(Value::as_f64),
                Some(m) => {
                    let (name, prop) = match m.split_once('.') {
                        Some((n, p)) => (n, Some(p)),
                        None => (m, None),
                    };
                    sub_value(b.get(name), prop)
                }
            };
            let key = b
                .get("key_as_string")
                .and_then(Value::as_str)
                .map(String::from)
                .or_else(|| {
                    b.get("key").map(|k| {
                        k.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| k.to_string())
                    })
                })
                .unwrap_or_default();
            if let Some(v) = v {
                vals.push((v, key));
            }
        }
        if vals.is_empty() {
            return json!({ "value": Value::Null });
        }
        match p {
            Pipeline::Sum => json!({ "value": f64_json(vals.iter().map(|v| v.0).sum()) }),
            Pipeline::Avg => {
                json!({ "value": f64_json(vals.iter().map(|v| v.0).sum::<f64>() / vals.len() as f64) })
            }
            Pipeline::Max | Pipeline::Min => {
                let best = vals
                    .iter()
                    .map(|v| v.0)
                    .reduce(if p == Pipeline::Max {
                        f64::max
                    } else {
                        f64::min
                    })
                    .unwrap_or(0.0);
                let keys: Vec<&str> = vals
                    .iter()
                    .filter(|v| v.0 == best)
                    .map(|v| v.1.as_str())
                    .collect();
                json!({ "value": f64_json(best), "keys": keys })
            }
        }
    }
}
