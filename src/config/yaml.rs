//! A YAML document as a tree of nodes that remember where they were written.
//!
//! serde stops at the first problem it meets, but a user fixing a job file wants every
//! problem at once. So a file is first read into this loosely typed tree (only YAML syntax can
//! fail here), then checked field by field against the job schema, collecting every problem
//! with its line and column.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A position in the file, 1-based; 0 when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_location(l: serde_saphyr::Location) -> Pos {
        Pos {
            line: l.line() as usize,
            column: l.column() as usize,
        }
    }
}

/// One YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

/// What a node holds, with YAML 1.2 core schema scalar types.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order (keys are nodes so that their own position is known).
    Map(Vec<(Node, Node)>),
}

impl Kind {
    /// How the kind is named in messages ("a string", "a list").
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Null => "nothing (null)",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) | Kind::UInt(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The node as JSON, for typed deserialization and for free-form fields (`query`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::UInt(u) => Value::from(*u),
            Kind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The text of a node used as a mapping key.
    pub fn key_text(&self) -> String {
        match &self.kind {
            Kind::Str(s) => s.clone(),
            Kind::Null => "null".to_string(),
            Kind::Bool(b) => b.to_string(),
            Kind::Int(i) => i.to_string(),
            Kind::UInt(u) => u.to_string(),
            Kind::Float(f) => f.to_string(),
            Kind::Seq(_) | Kind::Map(_) => "<complex key>".to_string(),
        }
    }
}

/// A YAML syntax problem: where and what.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Parses one YAML document into a tree. An empty document gives a `Null` node.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.trim().is_empty() {
        return Ok(Node {
            kind: Kind::Null,
            pos: Pos { line: 1, column: 1 },
        });
    }
    // Duplicate keys reach our visitor, which keeps them all, so that they are reported with
    // the other problems of the file instead of stopping the parse.
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    serde_saphyr::from_str_with_options::<Node>(text, options).map_err(|e| {
        let pos = e.location().map(Pos::from_location).unwrap_or_default();
        SyntaxError {
            pos,
            message: clean_message(&e.without_snippet().to_string()),
        }
    })
}

/// Drops the position suffix serde-saphyr appends (we print our own) and any snippet lines.
fn clean_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let first = match first.find(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let first = first.trim_start_matches("error: ").trim();
    if first.is_empty() {
        "invalid YAML".to_string()
    } else {
        format!("invalid YAML: {first}")
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<Kind>::deserialize(d)?;
        Ok(Node {
            kind: s.value,
            pos: Pos::from_location(s.referenced),
        })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        Kind::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Kind::Int(i),
            Err(_) => Kind::UInt(v),
        })
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Kind, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Kind::Int(i),
            Err(_) => Kind::Float(v as f64),
        })
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Kind, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => return self.visit_u64(u),
            Err(_) => Kind::Float(v as f64),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Kind, E> {
        Ok(Kind::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(Kind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<Node>()? {
            let v = map.next_value::<Node>()?;
            entries.push((k, v));
        }
        Ok(Kind::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(n: &Node) -> (usize, usize) {
        (n.pos.line, n.pos.column)
    }

    #[test]
    fn nodes_keep_their_positions_and_types() {
        let text = "job_id: a\nanalysis_config:\n  detectors:\n    - function: count\n      use_null: true\nlist: [1, 2.5, x]\nempty:\n";
        let root = parse(text).unwrap();
        let Kind::Map(top) = &root.kind else {
            panic!("not a map")
        };
        assert_eq!(at(&top[0].0), (1, 1));
        assert_eq!(
            (at(&top[0].1), top[0].1.kind.clone()),
            ((1, 9), Kind::Str("a".into()))
        );
        let Kind::Map(ac) = &top[1].1.kind else {
            panic!()
        };
        let Kind::Seq(dets) = &ac[0].1.kind else {
            panic!()
        };
        assert_eq!(at(&ac[0].1), (4, 5));
        let Kind::Map(d0) = &dets[0].kind else {
            panic!()
        };
        assert_eq!(
            (at(&d0[1].0), at(&d0[1].1), d0[1].1.kind.clone()),
            ((5, 7), (5, 17), Kind::Bool(true))
        );
        let Kind::Seq(list) = &top[2].1.kind else {
            panic!()
        };
        let kinds: Vec<&Kind> = list.iter().map(|n| &n.kind).collect();
        assert_eq!(
            kinds,
            [&Kind::Int(1), &Kind::Float(2.5), &Kind::Str("x".into())]
        );
        assert_eq!(at(&list[2]), (6, 16));
        assert_eq!(top[3].1.kind, Kind::Null);
        assert_eq!(root.to_json()["list"], serde_json::json!([1, 2.5, "x"]));
    }

    #[test]
    fn syntax_errors_have_positions_and_duplicates_are_kept() {
        let e = parse("a: 1\n  b: 2\n").unwrap_err();
        assert_eq!((e.pos.line, e.pos.column), (2, 4));
        assert_eq!(
            e.message,
            "invalid YAML: mapping values are not allowed in this context"
        );
        let Kind::Map(entries) = parse("a: 1\na: 2\n").unwrap().kind else {
            panic!()
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(parse("  \n").unwrap().kind, Kind::Null);
    }
}
