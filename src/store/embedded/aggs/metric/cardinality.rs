//! `cardinality`: the number of distinct values (exact, whatever `precision_threshold`).

use super::super::common::{check_params, get_field, obj};
use crate::store::embedded::ctx::{Ctx, DocRef, Field};
use crate::store::embedded::index::{FastSet, Val};
use crate::store::StoreError;
use serde_json::{json, Value};

const PARAMS: &[&str] = &["field", "precision_threshold"];

pub(in crate::store::embedded::aggs) struct Cardinality<'a>(Field<'a>);

impl<'a> Cardinality<'a> {
    pub(in crate::store::embedded::aggs) fn parse(
        ctx: &Ctx<'a>,
        v: &Value,
        what: &str,
    ) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        Ok(Cardinality(get_field(ctx, obj(v, what)?, what)?))
    }

    pub(in crate::store::embedded::aggs) fn eval(&self, docs: &[DocRef]) -> Value {
        let mut set: FastSet<Val> = FastSet::default();
        for &d in docs {
            set.extend(self.0.values(d).iter().copied());
        }
        json!({ "value": set.len() })
    }
}
