//! `avg`, `sum`, `min`, `max` and `stats` over a numeric (or date) field.

use super::super::common::{check_params, f64_json, get_field, obj};
use crate::store::embedded::ctx::{Ctx, DocRef, Field};
use crate::store::embedded::index::Val;
use crate::store::StoreError;
use serde_json::{json, Value};

const PARAMS: &[&str] = &["field"];

#[derive(Clone, Copy)]
enum Which {
    Avg,
    Sum,
    Min,
    Max,
    Stats,
}

pub(in crate::store::embedded::aggs) struct Stats<'a> {
    which: Which,
    field: Field<'a>,
}

impl<'a> Stats<'a> {
    /// `kind` is one of `avg`, `sum`, `min`, `max`, `stats`.
    pub(in crate::store::embedded::aggs) fn parse(
        ctx: &Ctx<'a>,
        kind: &str,
        v: &Value,
        what: &str,
    ) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        let s = obj(v, what)?;
        let which = match kind {
            "avg" => Which::Avg,
            "sum" => Which::Sum,
            "min" => Which::Min,
            "max" => Which::Max,
            _ => Which::Stats,
        };
        Ok(Stats {
            which,
            field: get_field(ctx, s, what)?,
        })
    }

    pub(in crate::store::embedded::aggs) fn eval(&self, docs: &[DocRef]) -> Value {
        let field = &self.field;
        let (mut n, mut sum, mut min, mut max) = (0u64, 0.0f64, f64::INFINITY, f64::NEG_INFINITY);
        for &d in docs {
            for v in field.values(d) {
                if let Some(x) = v.as_f64() {
                    n += 1;
                    sum += x;
                    min = min.min(x);
                    max = max.max(x);
                }
            }
        }
        let opt = |x: f64| if n == 0 { Value::Null } else { f64_json(x) };
        match self.which {
            Which::Avg => json!({ "value": opt(sum / n.max(1) as f64) }),
            Which::Sum => json!({ "value": f64_json(sum) }),
            Which::Min | Which::Max => {
                let x = if matches!(self.which, Which::Min) {
                    min
                } else {
                    max
                };
                if n > 0 && is_date_field(field, docs) {
                    json!({ "value": opt(x), "value_as_string": crate::time::format_millis(x as i64) })
                } else {
                    json!({ "value": opt(x) })
                }
            }
            Which::Stats => json!({
                "count": n,
                "min": opt(min),
                "max": opt(max),
                "avg": opt(sum / n.max(1) as f64),
                "sum": f64_json(sum),
            }),
        }
    }
}

/// Whether the first value of the field among `docs` is a date.
fn is_date_field(field: &Field, docs: &[DocRef]) -> bool {
    docs.iter()
        .find_map(|&d| field.values(d).first().copied())
        .is_some_and(|v| matches!(v, Val::Date(_)))
}
