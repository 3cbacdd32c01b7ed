//! `filters`: a bucket per named (or listed) query, with an optional bucket of the
//! documents none matched.

use super::super::common::{bucket_list, check_params, obj};
use super::super::{with_subs, Agg};
use crate::store::embedded::ctx::{bad, Ctx, DocRef};
use crate::store::embedded::index::Bits;
use crate::store::embedded::{dsl, query};
use crate::store::StoreError;
use serde_json::{Map, Value};

const PARAMS: &[&str] = &["filters", "other_bucket", "other_bucket_key"];

pub(in crate::store::embedded::aggs) struct Filters {
    /// Each bucket's key and its query's match flags.
    filters: Vec<(String, Vec<Bits>)>,
    keyed: bool,
    other: Option<String>,
}

impl Filters {
    pub(in crate::store::embedded::aggs) fn parse(
        ctx: &mut Ctx,
        v: &Value,
        what: &str,
    ) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        let s = obj(v, what)?;
        let fs = s
            .get("filters")
            .ok_or_else(|| bad(what, "`filters` is required".to_string()))?;
        let mut filters = Vec::new();
        let keyed = match fs {
            Value::Object(m) => {
                for (k, q) in m {
                    let q = dsl::parse(ctx, q)?;
                    filters.push((k.clone(), query::eval(ctx, &q)));
                }
                true
            }
            Value::Array(a) => {
                for (i, q) in a.iter().enumerate() {
                    let q = dsl::parse(ctx, q)?;
                    filters.push((i.to_string(), query::eval(ctx, &q)));
                }
                false
            }
            other => {
                return Err(bad(
                    what,
                    format!("`filters` must be an object or array, got {other}"),
                ))
            }
        };
        let other = match (s.get("other_bucket_key"), s.get("other_bucket")) {
            (Some(Value::String(k)), _) => Some(k.clone()),
            (_, Some(Value::Bool(true))) => Some("_other_".to_string()),
            _ => None,
        };
        Ok(Filters {
            filters,
            keyed,
            other,
        })
    }

    pub(in crate::store::embedded::aggs) fn eval(
        &self,
        ctx: &Ctx,
        subs: &[Agg],
        docs: &[DocRef],
    ) -> Value {
        let n = self.filters.len() + usize::from(self.other.is_some());
        if !ctx.add_buckets(n) {
            return bucket_list(Vec::new(), self.keyed);
        }
        let mut buckets = Vec::new();
        let mut matched = vec![false; docs.len()];
        for (key, flags) in &self.filters {
            let mut ds = Vec::new();
            for (i, d) in docs.iter().enumerate() {
                if flags[d.ix as usize].get(d.doc as usize) {
                    ds.push(*d);
                    matched[i] = true;
                }
            }
            let mut b = Map::new();
            b.insert("doc_count".into(), Value::from(ds.len()));
            buckets.push((key.clone(), with_subs(ctx, subs, &ds, b)));
        }
        if let Some(key) = &self.other {
            let ds: Vec<DocRef> = docs
                .iter()
                .zip(&matched)
                .filter(|(_, m)| !**m)
                .map(|(d, _)| *d)
                .collect();
            let mut b = Map::new();
            b.insert("doc_count".into(), Value::from(ds.len()));
            buckets.push((key.clone(), with_subs(ctx, subs, &ds, b)));
        }
        bucket_list(buckets, self.keyed)
    }
}
