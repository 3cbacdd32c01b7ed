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
        let mut acc = StatsAcc::default();
        self.add(&mut acc, docs);
        self.finish(&acc)
    }

    /// Adds `docs` (the next ones, in order) to `acc`.
    pub(in crate::store::embedded::aggs) fn add(&self, acc: &mut StatsAcc, docs: &[DocRef]) {
        for &d in docs {
            let vals = self.field.values(d);
            if acc.first_is_date.is_none() {
                acc.first_is_date = vals.first().map(|v| matches!(v, Val::Date(_)));
            }
            for v in vals {
                if let Some(x) = v.as_f64() {
                    acc.n += 1;
                    acc.sum += x;
                    acc.min = acc.min.min(x);
                    acc.max = acc.max.max(x);
                }
            }
        }
    }

    /// The aggregation's value from what `acc` gathered.
    pub(in crate::store::embedded::aggs) fn finish(&self, acc: &StatsAcc) -> Value {
        let StatsAcc {
            n, sum, min, max, ..
        } = *acc;
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
                if n > 0 && acc.first_is_date == Some(true) {
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

/// What [`Stats`] has gathered from the documents so far (given in one list, or in batches).
#[derive(Clone, Copy)]
pub(in crate::store::embedded::aggs) struct StatsAcc {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    /// Whether the field's first value among the documents is a date (dates print
    /// `value_as_string`).
    first_is_date: Option<bool>,
}

impl Default for StatsAcc {
    fn default() -> Self {
        StatsAcc {
            n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            first_is_date: None,
        }
    }
}
