//! The shape check of a configuration file: its YAML tree walked against the JSON Schema
//! that schemars derives from the raw types (unknown fields with a did-you-mean, wrong types,
//! missing required fields, Elastic ML fields tidewatch does not support). Parts that fail
//! are dropped, so the typed parse of the rest succeeds and its meaning is still checked.

use super::problems::{did_you_mean, Positions, Problems};
use super::yaml::{Kind, Node, Pos};
use serde_json::{Map, Value};
use std::collections::HashMap;

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Walks a YAML tree against a JSON Schema (the subset schemars emits), recording positions
/// and problems, and returns the JSON of the parts that have the right shape.
pub(crate) struct ShapeWalker<'s, 'p, 'f> {
    root: &'s Value,
    problems: &'p mut Problems<'f>,
    pub positions: Positions,
}

impl<'s, 'p, 'f> ShapeWalker<'s, 'p, 'f> {
    pub fn new(root: &'s Value, problems: &'p mut Problems<'f>) -> Self {
        ShapeWalker {
            root,
            problems,
            positions: Positions::default(),
        }
    }

    fn resolve(&self, mut schema: &'s Value) -> &'s Value {
        for _ in 0..16 {
            let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let Some(ptr) = r.strip_prefix('#') else {
                break;
            };
            match self.root.pointer(ptr) {
                Some(s) => schema = s,
                None => break,
            }
        }
        schema
    }

    fn types(&self, schema: &'s Value) -> Vec<&'s str> {
        match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `node` could match `schema` by type alone (used to pick an `anyOf` branch).
    fn accepts(&self, schema: &'s Value, node: &Node) -> bool {
        let schema = self.resolve(schema);
        if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
            return branches.iter().any(|b| self.accepts(b, node));
        }
        let types = self.types(schema);
        types.is_empty() || types.iter().any(|t| type_matches(t, &node.kind))
    }

    fn expected(&self, schema: &'s Value) -> String {
        let schema = self.resolve(schema);
        if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
            let parts: Vec<String> = branches
                .iter()
                .filter(|b| self.types(self.resolve(b)) != ["null"])
                .map(|b| self.expected(b))
                .collect();
            return parts.join(" or ");
        }
        let names: Vec<&str> = self
            .types(schema)
            .into_iter()
            .filter(|t| *t != "null")
            .map(|t| match t {
                "string" => "a string",
                "integer" => "an integer",
                "number" => "a number",
                "boolean" => "true or false",
                "array" => "a list",
                "object" => "a mapping",
                _ => "a value",
            })
            .collect();
        if names.is_empty() {
            "a value".to_string()
        } else {
            names.join(" or ")
        }
    }

    /// Checks `node` at `path`; returns its JSON, or `None` when it has the wrong shape.
    pub fn walk(&mut self, schema: &'s Value, node: &Node, path: &str) -> Option<Value> {
        let schema = self.resolve(schema);
        self.positions.values.insert(path.to_string(), node.pos);
        if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
            if let Some(b) = branches.iter().find(|b| self.accepts(b, node)) {
                return self.walk(b, node, path);
            }
            self.wrong_type(schema, node, path);
            return None;
        }
        let types = self.types(schema);
        if types.is_empty() && schema.get("properties").is_none() {
            return Some(node.to_json()); // free-form value
        }
        // A number where text is expected is taken as its text, as YAML users expect:
        // `job_id: 2024` is the id "2024", and `query_delay: 90` gets the duration message.
        let wants_number = types.iter().any(|t| matches!(*t, "integer" | "number"));
        if types.contains(&"string") && !wants_number {
            if let Kind::Int(_) | Kind::UInt(_) | Kind::Float(_) = node.kind {
                return Some(Value::String(node.key_text()));
            }
        }
        if !types.is_empty() && !types.iter().any(|t| type_matches(t, &node.kind)) {
            self.wrong_type(schema, node, path);
            return None;
        }
        match &node.kind {
            Kind::Map(entries) => self.walk_map(schema, node, entries, path),
            Kind::Seq(items) => {
                let item_schema = schema.get("items").unwrap_or(&Value::Bool(true));
                let mut out = Vec::with_capacity(items.len());
                let mut all_ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.walk(item_schema, item, &format!("{path}[{i}]")) {
                        Some(v) => out.push(v),
                        None => all_ok = false,
                    }
                }
                // Dropping one item would shift the indices later checks report; drop the list.
                all_ok.then_some(Value::Array(out))
            }
            Kind::Int(_) | Kind::UInt(_) | Kind::Float(_) => {
                self.check_range(schema, node, path).then(|| node.to_json())
            }
            _ => Some(node.to_json()),
        }
    }

    fn wrong_type(&mut self, schema: &'s Value, node: &Node, path: &str) {
        let expected = self.expected(schema);
        let mut msg = format!("expected {expected}, found {}", node.kind.describe());
        let scalar = matches!(
            node.kind,
            Kind::Int(_) | Kind::UInt(_) | Kind::Float(_) | Kind::Bool(_)
        );
        if expected == "a string" && scalar {
            msg.push_str(&format!(
                " (write \"{}\" in quotes to make it a string)",
                node.key_text()
            ));
        }
        let mut at = node.pos;
        if matches!(node.kind, Kind::Null) {
            // A null has no text of its own to point at: point at its key.
            msg = format!("no value; expected {expected}");
            at = self.positions.keys.get(path).copied().unwrap_or(at);
        }
        self.problems.at(at, path, msg);
    }

    fn check_range(&mut self, schema: &'s Value, node: &Node, path: &str) -> bool {
        let v = match node.kind {
            Kind::Int(i) => i as f64,
            Kind::UInt(u) => u as f64,
            Kind::Float(f) => f,
            _ => return true,
        };
        let min = schema.get("minimum").and_then(Value::as_f64);
        let max = schema.get("maximum").and_then(Value::as_f64);
        if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
            let msg = match (min, max) {
                (Some(a), Some(b)) => {
                    format!("{} is out of range; expected {a} to {b}", node.key_text())
                }
                (Some(a), None) => {
                    format!("{} is out of range; expected at least {a}", node.key_text())
                }
                (None, Some(b)) => {
                    format!("{} is out of range; expected at most {b}", node.key_text())
                }
                (None, None) => unreachable!("checked above"),
            };
            self.problems.at(node.pos, path, msg);
            return false;
        }
        true
    }

    fn walk_map(
        &mut self,
        schema: &'s Value,
        node: &Node,
        entries: &[(Node, Node)],
        path: &str,
    ) -> Option<Value> {
        let props = schema.get("properties").and_then(Value::as_object);
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        let mut out = Map::new();
        let mut seen: HashMap<String, Pos> = HashMap::new();
        for (k, v) in entries {
            let Kind::Str(key) = &k.kind else {
                self.problems.at(
                    k.pos,
                    path,
                    format!("field names must be text, found {}", k.kind.describe()),
                );
                continue;
            };
            let child = join(path, key);
            if let Some(first) = seen.get(key) {
                self.problems.at(
                    k.pos,
                    &child,
                    format!(
                        "`{key}` is given twice; the first is on line {}",
                        first.line
                    ),
                );
                continue;
            }
            seen.insert(key.clone(), k.pos);
            self.positions.keys.insert(child.clone(), k.pos);
            match props.and_then(|ps| ps.get(key)) {
                Some(ps) if ps.get("deprecated") == Some(&Value::Bool(true)) => {
                    self.positions.values.insert(child.clone(), v.pos);
                    self.problems
                        .at(k.pos, &child, unsupported_message(key, ps));
                }
                Some(ps) => {
                    if let Some(j) = self.walk(ps, v, &child) {
                        out.insert(key.clone(), j);
                    }
                }
                None if schema
                    .get("additionalProperties")
                    .is_some_and(Value::is_object) =>
                {
                    // A map keyed by the user's own names (a rule's `scope`): check each value.
                    let values = &schema["additionalProperties"];
                    if let Some(j) = self.walk(values, v, &child) {
                        out.insert(key.clone(), j);
                    }
                }
                None if closed => {
                    self.problems
                        .at(k.pos, &child, unknown_field_message(key, props));
                }
                None => {
                    out.insert(key.clone(), v.to_json());
                }
            }
        }
        self.check_required(schema, node, entries, path, &mut out);
        Some(Value::Object(out))
    }

    /// Reports each of the schema's `required` fields that `entries` lacks, or gives without
    /// a value (removing it from `out`).
    fn check_required(
        &mut self,
        schema: &'s Value,
        node: &Node,
        entries: &[(Node, Node)],
        path: &str,
        out: &mut Map<String, Value>,
    ) {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                let child = join(path, r);
                match entries
                    .iter()
                    .find(|(k, _)| matches!(&k.kind, Kind::Str(s) if s == r))
                {
                    None => {
                        let where_ = if path.is_empty() {
                            String::new()
                        } else {
                            format!(" in `{path}`")
                        };
                        self.problems.at(
                            node.pos,
                            &child,
                            format!("missing required field `{r}`{where_}"),
                        );
                    }
                    Some((k, v)) if matches!(v.kind, Kind::Null) && out.contains_key(r) => {
                        let expected = props
                            .and_then(|ps| ps.get(r))
                            .map(|s| self.expected(s))
                            .unwrap_or_default();
                        self.problems.at(
                            k.pos,
                            &child,
                            format!("`{r}` has no value; expected {expected}"),
                        );
                        out.remove(r);
                    }
                    Some(_) => {}
                }
            }
        }
    }
}

/// The message for an Elastic ML field tidewatch knows but does not support (`deprecated`
/// in the schema), with the alternative its description names.
fn unsupported_message(key: &str, ps: &Value) -> String {
    let why = ps
        .get("description")
        .and_then(Value::as_str)
        .map(|d| {
            d.trim_start_matches("Not supported")
                .trim_start_matches([':', ' '])
        })
        .unwrap_or("remove it")
        .replace('\n', " ")
        .trim_end_matches('.')
        .to_string();
    format!("`{key}` is an Elastic ML setting tidewatch does not support; {why}")
}

/// The message for a field a closed mapping does not have: a did-you-mean, or every
/// supported field.
fn unknown_field_message(key: &str, props: Option<&Map<String, Value>>) -> String {
    let supported: Vec<&str> = props
        .into_iter()
        .flatten()
        .filter(|(_, s)| s.get("deprecated") != Some(&Value::Bool(true)))
        .map(|(n, _)| n.as_str())
        .collect();
    match did_you_mean(key, &supported) {
        Some(s) => format!("unknown field `{key}`; did you mean `{s}`?"),
        None => format!(
            "unknown field `{key}`; expected one of: {}",
            supported.join(", ")
        ),
    }
}

fn type_matches(t: &str, kind: &Kind) -> bool {
    matches!(
        (t, kind),
        ("null", Kind::Null)
            | ("boolean", Kind::Bool(_))
            | ("integer", Kind::Int(_) | Kind::UInt(_))
            | ("number", Kind::Int(_) | Kind::UInt(_) | Kind::Float(_))
            | ("string", Kind::Str(_))
            | ("array", Kind::Seq(_))
            | ("object", Kind::Map(_))
    )
}
