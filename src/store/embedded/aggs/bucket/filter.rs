//! `filter`: one bucket of the documents matching a query.

use super::super::{with_subs, Agg};
use crate::store::embedded::ctx::{Ctx, DocRef};
use crate::store::embedded::index::Bits;
use crate::store::embedded::{dsl, query};
use crate::store::StoreError;
use serde_json::{Map, Value};

/// The query's match flags per slot of each index.
pub(in crate::store::embedded::aggs) struct Filter(Vec<Bits>);

impl Filter {
    pub(in crate::store::embedded::aggs) fn parse(
        ctx: &mut Ctx,
        v: &Value,
    ) -> Result<Self, StoreError> {
        let q = dsl::parse(ctx, v)?;
        Ok(Filter(query::eval(ctx, &q)))
    }

    pub(in crate::store::embedded::aggs) fn eval(
        &self,
        ctx: &Ctx,
        subs: &[Agg],
        docs: &[DocRef],
    ) -> Value {
        let flags = &self.0;
        let ds: Vec<DocRef> = docs
            .iter()
            .copied()
            .filter(|d| flags[d.ix as usize].get(d.doc as usize))
            .collect();
        let mut b = Map::new();
        b.insert("doc_count".into(), Value::from(ds.len()));
        with_subs(ctx, subs, &ds, b)
    }
}
