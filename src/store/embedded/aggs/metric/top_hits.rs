//! `top_hits`: the first documents of the bucket, sorted, with their (filtered) sources.

use super::super::common::{check_params, get_u64, obj};
use crate::store::embedded::ctx::{Ctx, DocRef};
use crate::store::embedded::hits::{self, SortKey, SourceFilter};
use crate::store::StoreError;
use serde_json::{json, Value};

const PARAMS: &[&str] = &["size", "from", "sort", "_source"];

pub(in crate::store::embedded::aggs) struct TopHits<'a> {
    size: usize,
    from: usize,
    sort: Vec<SortKey<'a>>,
    source: SourceFilter,
}

impl<'a> TopHits<'a> {
    pub(in crate::store::embedded::aggs) fn parse(
        ctx: &mut Ctx<'a>,
        v: &Value,
        what: &str,
    ) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        let s = obj(v, what)?;
        Ok(TopHits {
            size: get_u64(s, "size", 3, what)? as usize,
            from: get_u64(s, "from", 0, what)? as usize,
            sort: hits::parse_sort(ctx, s.get("sort"))?,
            source: hits::parse_source(s.get("_source"))?,
        })
    }

    /// The hits; a source that cannot be read fails the request (see [`Ctx::fail`]).
    pub(in crate::store::embedded::aggs) fn eval(&self, ctx: &Ctx, docs: &[DocRef]) -> Value {
        let (size, from, sort) = (self.size, self.from, &self.sort);
        let rows = hits::sort_docs(ctx, sort, docs.to_vec(), from + size);
        let hits: Result<Vec<Value>, StoreError> = rows
            .iter()
            .skip(from)
            .take(size)
            .map(|(d, v)| {
                hits::render_hit(
                    ctx,
                    *d,
                    &self.source,
                    (!sort.is_empty()).then_some((&sort[..], &v[..])),
                )
            })
            .collect();
        let hits = hits.unwrap_or_else(|e| {
            ctx.fail(e);
            Vec::new()
        });
        json!({"hits": {"total": {"value": docs.len(), "relation": "eq"}, "max_score": Value::Null, "hits": hits}})
    }
}
