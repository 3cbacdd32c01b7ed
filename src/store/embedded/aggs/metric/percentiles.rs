//! `percentiles`: exact percentiles by linear interpolation between the sorted values.

use super::super::common::{check_params, f64_json, get_field, obj};
use crate::store::embedded::ctx::{bad, Ctx, DocRef, Field};
use crate::store::StoreError;
use serde_json::{json, Map, Value};

const PARAMS: &[&str] = &["field", "percents", "keyed", "tdigest"];

pub(in crate::store::embedded::aggs) struct Percentiles<'a> {
    field: Field<'a>,
    percents: Vec<f64>,
    keyed: bool,
}

impl<'a> Percentiles<'a> {
    pub(in crate::store::embedded::aggs) fn parse(
        ctx: &Ctx<'a>,
        v: &Value,
        what: &str,
    ) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        let s = obj(v, what)?;
        let percents = match s.get("percents") {
            None => vec![1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0],
            Some(Value::Array(a)) => a
                .iter()
                .map(|p| p.as_f64().filter(|p| (0.0..=100.0).contains(p)))
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| {
                    bad(
                        what,
                        "percents must be numbers between 0 and 100".to_string(),
                    )
                })?,
            Some(other) => {
                return Err(bad(what, format!("percents must be an array, got {other}")))
            }
        };
        Ok(Percentiles {
            field: get_field(ctx, s, what)?,
            percents,
            keyed: s.get("keyed").and_then(Value::as_bool).unwrap_or(true),
        })
    }

    pub(in crate::store::embedded::aggs) fn eval(&self, docs: &[DocRef]) -> Value {
        let mut vals: Vec<f64> = docs
            .iter()
            .flat_map(|&d| self.field.values(d).into_iter().filter_map(|v| v.as_f64()))
            .collect();
        vals.sort_by(f64::total_cmp);
        let at = |p: f64| -> Value {
            if vals.is_empty() {
                return Value::Null;
            }
            let rank = p / 100.0 * (vals.len() - 1) as f64;
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            f64_json(vals[lo] + (vals[hi] - vals[lo]) * (rank - lo as f64))
        };
        if self.keyed {
            let mut m = Map::new();
            for &p in &self.percents {
                m.insert(format!("{p:?}"), at(p));
            }
            json!({ "values": m })
        } else {
            let items: Vec<Value> = self
                .percents
                .iter()
                .map(|&p| json!({"key": p, "value": at(p)}))
                .collect();
            json!({ "values": items })
        }
    }
}
