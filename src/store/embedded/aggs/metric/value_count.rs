//! `value_count`: how many values the documents hold in a field.

use super::super::common::{check_params, get_field, obj};
use crate::store::embedded::ctx::{Ctx, DocRef, Field};
use crate::store::StoreError;
use serde_json::{json, Value};

const PARAMS: &[&str] = &["field"];

pub(in crate::store::embedded::aggs) struct ValueCount<'a>(Field<'a>);

impl<'a> ValueCount<'a> {
    pub(in crate::store::embedded::aggs) fn parse(
        ctx: &Ctx<'a>,
        v: &Value,
        what: &str,
    ) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        Ok(ValueCount(get_field(ctx, obj(v, what)?, what)?))
    }

    pub(in crate::store::embedded::aggs) fn eval(&self, docs: &[DocRef]) -> Value {
        let n: usize = docs.iter().map(|&d| self.0.values(d).len()).sum();
        json!({ "value": n })
    }
}
