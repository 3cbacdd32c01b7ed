//! The query DSL: a JSON query object parsed into a [`Query`] (`query_string` text through
//! `query_string.rs`).

use super::ctx::{bad, Ctx};
use super::query::{exists_query, term_query, Query, Range};
use super::query_string;
use crate::store::StoreError;
use serde_json::Value;

/// Parses a query DSL object.
pub(crate) fn parse<'a>(ctx: &mut Ctx<'a>, q: &Value) -> Result<Query<'a>, StoreError> {
    let obj = q.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        bad(
            "query",
            format!(
                "a query must be an object with exactly one key such as `bool` or `term`, got {q}"
            ),
        )
    })?;
    let (kind, spec) = obj
        .iter()
        .next()
        .ok_or_else(|| bad("query", "empty query"))?;
    Ok(match kind.as_str() {
        "match_all" => Query::All,
        "match_none" => Query::None,
        "bool" => parse_bool(ctx, spec)?,
        "term" | "match" | "match_phrase" => {
            let key = if kind == "term" { "value" } else { "query" };
            let (field, v) = field_and_value(kind, spec, key)?;
            term_query(ctx, field, std::slice::from_ref(v))
        }
        "terms" => {
            let obj = spec.as_object().ok_or_else(|| bad("query", "`terms` expects an object"))?;
            let (field, v) = obj
                .iter()
                .find(|(k, _)| *k != "boost")
                .ok_or_else(|| bad("query", "`terms` expects a field"))?;
            let items = v
                .as_array()
                .ok_or_else(|| bad("query", format!("`terms` on `{field}`: expected an array of values, got {v}")))?;
            term_query(ctx, field, items)
        }
        "ids" => {
            let vals = spec
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("query", "`ids` expects `values`: [..]"))?;
            Query::Ids(vals.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        }
        "range" => {
            let obj = spec.as_object().filter(|o| o.len() == 1).ok_or_else(|| bad("query", "`range` expects one field"))?;
            let (field, r) = obj.iter().next().ok_or_else(|| bad("query", "`range` expects one field"))?;
            Query::Range(ctx.field(field), Range::parse(field, r)?)
        }
        "exists" => {
            let field = spec
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("query", "`exists` expects `field`"))?;
            exists_query(ctx, field)
        }
        "prefix" => {
            let (field, v) = field_and_value(kind, spec, "value")?;
            let p = v.as_str().ok_or_else(|| bad("query", "`prefix` expects a string"))?;
            Query::Prefix(ctx.field(field), p.to_string())
        }
        "wildcard" => {
            let (field, v) = field_and_value(kind, spec, "value")?;
            let p = v.as_str().ok_or_else(|| bad("query", "`wildcard` expects a string"))?;
            Query::Wildcard(ctx.field(field), p.to_string())
        }
        "query_string" => parse_query_string(ctx, spec)?,
        "constant_score" => {
            let f = spec.get("filter").ok_or_else(|| bad("query", "`constant_score` expects `filter`"))?;
            parse(ctx, f)?
        }
        other => {
            return Err(StoreError::UnsupportedQuery {
                kind: other.to_string(),
                supported: "match_all, match_none, bool, term, terms, ids, range, exists, prefix, wildcard, match, match_phrase, query_string, constant_score",
            })
        }
    })
}

/// `bool`: `must`, `filter`, `should` (with `minimum_should_match`), `must_not`.
fn parse_bool<'a>(ctx: &mut Ctx<'a>, spec: &Value) -> Result<Query<'a>, StoreError> {
    let spec = spec
        .as_object()
        .ok_or_else(|| bad("query", "`bool` expects an object"))?;
    let list = |ctx: &mut Ctx<'a>, key: &str| -> Result<Vec<Query<'a>>, StoreError> {
        match spec.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(|i| parse(ctx, i)).collect(),
            Some(one) => Ok(vec![parse(ctx, one)?]),
        }
    };
    for k in spec.keys() {
        if !matches!(
            k.as_str(),
            "must" | "filter" | "should" | "must_not" | "minimum_should_match" | "boost" | "_name"
        ) {
            return Err(bad(
                "query",
                format!("`bool` has unknown clause `{k}`; expected must, filter, should, must_not"),
            ));
        }
    }
    let mut must = list(ctx, "must")?;
    must.extend(list(ctx, "filter")?);
    let should = list(ctx, "should")?;
    let must_not = list(ctx, "must_not")?;
    let min_should = match spec.get("minimum_should_match") {
        None => usize::from(must.is_empty() && !should.is_empty()),
        Some(v) => {
            let n = min_should_match(v, should.len())?;
            if should.is_empty() {
                0
            } else {
                n
            }
        }
    };
    Ok(Query::Bool {
        must,
        should,
        must_not,
        min_should,
    })
}

/// `query_string`: `query`, `default_operator`, `default_field`.
fn parse_query_string<'a>(ctx: &mut Ctx<'a>, spec: &Value) -> Result<Query<'a>, StoreError> {
    let text = spec
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("query", "`query_string` expects `query`"))?;
    let default_and = spec
        .get("default_operator")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("and"));
    let default_field = spec.get("default_field").and_then(Value::as_str);
    query_string::parse(ctx, text, default_and, default_field)
}

/// `{"field": value}` or `{"field": {"value"|"query": value}}`: the single field and its value.
fn field_and_value<'v>(
    kind: &str,
    spec: &'v Value,
    key: &str,
) -> Result<(&'v str, &'v Value), StoreError> {
    let obj = spec
        .as_object()
        .filter(|o| o.len() == 1 || o.keys().filter(|k| *k != "boost").count() == 1)
        .ok_or_else(|| {
            bad(
                "query",
                format!("`{kind}` expects an object with one field, got {spec}"),
            )
        })?;
    let (field, v) = obj.iter().find(|(k, _)| *k != "boost").ok_or_else(|| {
        bad(
            "query",
            format!("`{kind}` expects an object with one field"),
        )
    })?;
    let value = match v {
        Value::Object(o) => o.get(key).or_else(|| o.get("value")).ok_or_else(|| {
            bad(
                "query",
                format!("`{kind}` on `{field}`: expected `{key}` in {v}"),
            )
        })?,
        other => other,
    };
    Ok((field, value))
}

fn min_should_match(v: &Value, n: usize) -> Result<usize, StoreError> {
    let err = || {
        bad(
            "query",
            format!(
            "minimum_should_match: expected an integer or a percentage such as \"75%\", got {v}"
        ),
        )
    };
    let (num, pct) = match v {
        Value::Number(x) => (x.as_i64().ok_or_else(err)?, false),
        Value::String(s) => match s.trim().strip_suffix('%') {
            Some(p) => (p.trim().parse::<i64>().map_err(|_| err())?, true),
            None => (s.trim().parse::<i64>().map_err(|_| err())?, false),
        },
        _ => return Err(err()),
    };
    let k = if pct {
        (n as i64 * num.abs() / 100) * num.signum()
    } else {
        num
    };
    Ok(if k < 0 {
        (n as i64 + k).max(0) as usize
    } else {
        (k as usize).min(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_should_match_forms() {
        assert_eq!(min_should_match(&Value::from(2), 3).unwrap(), 2);
        assert_eq!(min_should_match(&Value::from("-1"), 3).unwrap(), 2);
        assert_eq!(min_should_match(&Value::from("50%"), 4).unwrap(), 2);
        assert!(min_should_match(&Value::from("x"), 4).is_err());
    }
}
