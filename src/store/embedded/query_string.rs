//! A small `query_string` parser: `field:value` clauses joined by `AND`, `OR`, `NOT`
//! (also `&&`, `||`, `!`, `-`), parentheses, quoted values, `field:*` (exists),
//! `_exists_:field`, trailing-`*` / `?` wildcards, `field:[a TO b]` / `{a TO b}` ranges and
//! `field:>=n` style comparisons. Values match exactly (keyword semantics: no analysis, case
//! sensitive). A clause without a field searches `default_field` or every field. Juxtaposed
//! clauses use `default_operator` (OR unless told). Not supported: fuzzy `~`, boosts `^`,
//! regular expressions `/.../`, field groups `f:(a b)`.

use super::ctx::{bad, glob, Ctx};
use super::query::{exists_query, term_query, term_vals, Query, Range};
use crate::store::StoreError;
use serde_json::{json, Value};

struct Parser<'t> {
    chars: Vec<char>,
    pos: usize,
    text: &'t str,
    default_and: bool,
    default_field: Option<&'t str>,
}

/// Parses `text` into a query.
pub(crate) fn parse<'a>(
    ctx: &mut Ctx<'a>,
    text: &str,
    default_and: bool,
    default_field: Option<&str>,
) -> Result<Query<'a>, StoreError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        text,
        default_and,
        default_field,
    };
    p.skip_ws();
    if p.pos >= p.chars.len() {
        return Ok(Query::All);
    }
    let q = p.or(ctx)?;
    p.skip_ws();
    if p.pos < p.chars.len() {
        return Err(p.err("unexpected text"));
    }
    Ok(q)
}

impl<'t> Parser<'t> {
    fn err(&self, what: &str) -> StoreError {
        bad("query_string", format!(
            "query_string `{}`: {what} at character {}; supported: field:value, AND/OR/NOT, parentheses, quotes, field:*, field:[a TO b], field:>n",
            self.text,
            self.pos + 1
        ))
    }
    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
    }
    fn peek_word(&self, w: &str) -> bool {
        let end = self.pos + w.chars().count();
        end <= self.chars.len()
            && self.chars[self.pos..end].iter().copied().eq(w.chars())
            && (end == self.chars.len()
                || self.chars[end].is_whitespace()
                || self.chars[end] == '(')
    }
    fn eat_op(&mut self, words: &[&str]) -> bool {
        self.skip_ws();
        for w in words {
            if self.peek_word(w) {
                self.pos += w.chars().count();
                return true;
            }
        }
        false
    }
    fn at_clause_start(&mut self) -> bool {
        self.skip_ws();
        self.pos < self.chars.len() && self.chars[self.pos] != ')'
    }

    fn or<'a>(&mut self, ctx: &mut Ctx<'a>) -> Result<Query<'a>, StoreError> {
        let joins = |p: &mut Self| {
            p.eat_op(&["OR", "||"])
                || (!p.default_and && p.at_clause_start() && !p.peek_word("AND"))
        };
        self.joined(ctx, Self::and, joins, |parts| Query::Bool {
            must: Vec::new(),
            should: parts,
            must_not: Vec::new(),
            min_should: 1,
        })
    }

    fn and<'a>(&mut self, ctx: &mut Ctx<'a>) -> Result<Query<'a>, StoreError> {
        let joins = |p: &mut Self| {
            p.eat_op(&["AND", "&&"])
                || (p.default_and
                    && p.at_clause_start()
                    && !p.peek_word("OR")
                    && !p.peek_word("||"))
        };
        self.joined(ctx, Self::unary, joins, |parts| Query::Bool {
            must: parts,
            should: Vec::new(),
            must_not: Vec::new(),
            min_should: 0,
        })
    }

    /// Clauses parsed by `clause` for as long as `joins` says the next one joins the list: one
    /// clause stands alone, several make the query `combine` gives.
    fn joined<'a>(
        &mut self,
        ctx: &mut Ctx<'a>,
        clause: fn(&mut Self, &mut Ctx<'a>) -> Result<Query<'a>, StoreError>,
        joins: impl Fn(&mut Self) -> bool,
        combine: impl FnOnce(Vec<Query<'a>>) -> Query<'a>,
    ) -> Result<Query<'a>, StoreError> {
        let mut parts = vec![clause(self, ctx)?];
        while joins(self) {
            parts.push(clause(self, ctx)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Query::All)
        } else {
            combine(parts)
        })
    }

    fn unary<'a>(&mut self, ctx: &mut Ctx<'a>) -> Result<Query<'a>, StoreError> {
        self.skip_ws();
        if self.eat_op(&["NOT"]) || self.eat_char('!') || self.eat_char('-') {
            let inner = self.unary(ctx)?;
            return Ok(Query::Bool {
                must: Vec::new(),
                should: Vec::new(),
                must_not: vec![inner],
                min_should: 0,
            });
        }
        self.eat_char('+');
        if self.eat_char('(') {
            let q = self.or(ctx)?;
            self.skip_ws();
            if !self.eat_char(')') {
                return Err(self.err("expected `)`"));
            }
            return Ok(q);
        }
        self.clause(ctx)
    }

    fn eat_char(&mut self, c: char) -> bool {
        if self.pos < self.chars.len() && self.chars[self.pos] == c {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A bare word up to whitespace, `(`, `)` or (when `stop_colon`) an unescaped `:`.
    fn word(&mut self, stop_colon: bool) -> (String, bool) {
        let mut out = String::new();
        let mut wild = false;
        while self.pos < self.chars.len() {
            let c = self.chars[self.pos];
            if c == '\\' && self.pos + 1 < self.chars.len() {
                out.push(self.chars[self.pos + 1]);
                self.pos += 2;
                continue;
            }
            if c.is_whitespace() || c == '(' || c == ')' || (stop_colon && c == ':') {
                break;
            }
            wild |= c == '*' || c == '?';
            out.push(c);
            self.pos += 1;
        }
        (out, wild)
    }

    fn quoted(&mut self) -> Result<String, StoreError> {
        let mut out = String::new();
        while self.pos < self.chars.len() {
            let c = self.chars[self.pos];
            self.pos += 1;
            match c {
                '\\' if self.pos < self.chars.len() => {
                    out.push(self.chars[self.pos]);
                    self.pos += 1;
                }
                '"' => return Ok(out),
                _ => out.push(c),
            }
        }
        Err(self.err("unclosed quote"))
    }

    fn clause<'a>(&mut self, ctx: &mut Ctx<'a>) -> Result<Query<'a>, StoreError> {
        let start = self.pos;
        let mut field: Option<String> = None;
        if !self.eat_char('"') {
            let (w, _) = self.word(true);
            if self.eat_char(':') {
                if w.is_empty() {
                    return Err(self.err("empty field name"));
                }
                field = Some(w);
            } else {
                self.pos = start;
            }
        } else {
            self.pos = start;
        }
        let field = field.or_else(|| self.default_field.filter(|f| *f != "*").map(String::from));
        // Value.
        if self.eat_char('"') {
            let v = self.quoted()?;
            return Ok(self.term(ctx, field.as_deref(), &v));
        }
        if self.pos < self.chars.len() && matches!(self.chars[self.pos], '[' | '{') {
            let incl_lo = self.chars[self.pos] == '[';
            self.pos += 1;
            self.skip_ws();
            let (lo, _) = self.word(false);
            if !self.eat_op(&["TO"]) {
                return Err(self.err("expected `TO` in a range"));
            }
            self.skip_ws();
            let mut hi = String::new();
            while self.pos < self.chars.len()
                && !matches!(self.chars[self.pos], ']' | '}')
                && !self.chars[self.pos].is_whitespace()
            {
                hi.push(self.chars[self.pos]);
                self.pos += 1;
            }
            self.skip_ws();
            let incl_hi = match self.chars.get(self.pos) {
                Some(']') => true,
                Some('}') => false,
                _ => return Err(self.err("expected `]` or `}` to close the range")),
            };
            self.pos += 1;
            let f = field.ok_or_else(|| self.err("a range needs a field"))?;
            let mut spec = serde_json::Map::new();
            if lo != "*" {
                spec.insert(if incl_lo { "gte" } else { "gt" }.into(), bound(&lo));
            }
            if hi != "*" {
                spec.insert(if incl_hi { "lte" } else { "lt" }.into(), bound(&hi));
            }
            return Ok(Query::Range(
                ctx.field(&f),
                Range::parse(&f, &Value::Object(spec))?,
            ));
        }
        for (op, key) in [(">=", "gte"), ("<=", "lte"), (">", "gt"), ("<", "lt")] {
            let n = op.len();
            if self.chars[self.pos..]
                .iter()
                .take(n)
                .copied()
                .eq(op.chars())
                && field.is_some()
            {
                self.pos += n;
                let (w, _) = self.word(false);
                let f = field.clone().unwrap_or_default();
                let spec = json!({key: bound(&w)});
                return Ok(Query::Range(ctx.field(&f), Range::parse(&f, &spec)?));
            }
        }
        let (w, wild) = self.word(false);
        if w == "*" && field.as_deref().is_none_or(|f| f == "*") {
            return Ok(Query::All);
        }
        if w.is_empty() {
            return Err(self.err("expected a value"));
        }
        match field.as_deref() {
            Some("_exists_") => Ok(exists_query(ctx, &w)),
            Some(f) if w == "*" => Ok(exists_query(ctx, f)),
            Some(f) if wild => Ok(Query::Wildcard(ctx.field(f), w)),
            f => {
                if wild && f.is_none() {
                    return Err(self.err("wildcards need a field"));
                }
                Ok(self.term(ctx, f, &w))
            }
        }
    }

    fn term<'a>(&self, ctx: &mut Ctx<'a>, field: Option<&str>, v: &str) -> Query<'a> {
        match field {
            Some(f) if f.contains('*') => {
                let vals = term_vals(ctx, &Value::from(v));
                let fields = all_fields(ctx)
                    .into_iter()
                    .filter(|n| glob(f, n))
                    .map(|n| ctx.field(&n))
                    .collect();
                Query::AnyField(fields, vals)
            }
            Some(f) => term_query(ctx, f, &[Value::from(v)]),
            None => {
                let vals = term_vals(ctx, &Value::from(v));
                let fields = all_fields(ctx).into_iter().map(|n| ctx.field(&n)).collect();
                Query::AnyField(fields, vals)
            }
        }
    }
}

fn bound(w: &str) -> Value {
    match w.parse::<f64>() {
        Ok(f) if w.parse::<i64>().is_ok() => Value::from(w.parse::<i64>().unwrap_or(f as i64)),
        Ok(f) => Value::from(f),
        Err(_) => Value::from(w),
    }
}

fn all_fields(ctx: &Ctx) -> Vec<String> {
    let mut names: Vec<String> = ctx
        .indices
        .iter()
        .flat_map(|ix| ix.columns.names().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}
