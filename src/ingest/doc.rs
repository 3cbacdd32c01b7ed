//! One line's ECS document under construction, without a JSON tree per line.
//!
//! The fields a format can fill form a small trie, built once and kept by the parser: a
//! node per object key (`http`, `http.request`, `http.request.method`...). A line only
//! marks the nodes it fills, in the order it fills them, and keeps its scalars in one reused
//! text buffer; the document is then written straight out as compact JSON (the `_source`)
//! and as `(field, value)` leaves (the embedded store's columns). Nothing is allocated per
//! line once the buffers have grown.
//!
//! The result is exactly what inserting the same values into nested `serde_json` maps
//! (`preserve_order`) gives: keys in the order first inserted, a value inserted again at
//! the same path replacing the old one in place, a scalar in the way of a deeper path
//! replaced by an object, and an object replaced by a scalar losing its children.
//! [`DocTree::to_value`] builds that `Value`, for the tests and the library's
//! [`super::ParsedLine`].

use crate::store::{FlatDoc, FlatDocs, Leaf, LeafValue};
use serde_json::{Map, Value};

/// A scalar of the document: text in [`DocTree`]'s buffer, or a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar {
    /// Bytes `start..end` of the document's text.
    Str(u32, u32),
    /// A whole number (a count, a status, bytes).
    U64(u64),
    /// A signed whole number (nanoseconds).
    I64(i64),
    /// A number with a fraction (seconds, degrees).
    F64(f64),
}

/// A key of the trie.
#[derive(Debug, Clone)]
struct Node {
    key: String,
    /// The dotted path from the root, e.g. `http.request.method`.
    path: String,
    children: Vec<u32>,
}

/// The trie of fields and the document being built on it; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct DocTree {
    nodes: Vec<Node>,
    /// Per node: 0 when the document does not have it, else the order in which its key was
    /// first inserted into its parent (a smaller number comes first).
    stamp: Vec<u32>,
    /// Per node: the scalar when the document has one there (`None`: an object).
    value: Vec<Option<Scalar>>,
    /// The nodes stamped in this document, to clear them for the next.
    touched: Vec<u32>,
    clock: u32,
    text: String,
}

impl Default for DocTree {
    fn default() -> Self {
        let root = Node {
            key: String::new(),
            path: String::new(),
            children: Vec::new(),
        };
        DocTree {
            nodes: vec![root],
            stamp: vec![1],
            value: vec![None],
            touched: Vec::new(),
            clock: 1,
            text: String::new(),
        }
    }
}

impl DocTree {
    /// Starts the next document (the trie stays).
    pub(crate) fn clear(&mut self) {
        for &n in &self.touched {
            self.stamp[n as usize] = 0;
            self.value[n as usize] = None;
        }
        self.touched.clear();
        self.clock = 1;
        self.text.clear();
    }

    /// The child of `parent` named `key`, if the trie has it.
    fn child(&self, parent: u32, key: &str) -> Option<u32> {
        self.nodes[parent as usize]
            .children
            .iter()
            .copied()
            .find(|&c| self.nodes[c as usize].key == key)
    }

    /// The child of `parent` named `key`, added to the trie when missing.
    fn child_or_add(&mut self, parent: u32, key: &str) -> u32 {
        if let Some(c) = self.child(parent, key) {
            return c;
        }
        let id = self.nodes.len() as u32;
        let path = match parent {
            0 => key.to_owned(),
            p => format!("{}.{key}", self.nodes[p as usize].path),
        };
        self.nodes.push(Node {
            key: key.to_owned(),
            path,
            children: Vec::new(),
        });
        self.stamp.push(0);
        self.value.push(None);
        self.nodes[parent as usize].children.push(id);
        id
    }

    /// Marks `node` as present (appended after its present siblings) unless it is.
    fn mark(&mut self, node: u32) {
        if self.stamp[node as usize] == 0 {
            self.clock += 1;
            self.stamp[node as usize] = self.clock;
            self.touched.push(node);
        }
    }

    /// Takes `node`'s present descendants out of the document (an object replaced by a
    /// scalar).
    fn drop_children(&mut self, node: u32) {
        let mut stack = self.nodes[node as usize].children.clone();
        while let Some(n) = stack.pop() {
            if self.stamp[n as usize] != 0 {
                self.stamp[n as usize] = 0;
                self.value[n as usize] = None;
                stack.extend_from_slice(&self.nodes[n as usize].children);
            }
        }
    }

    /// Inserts `value` at a path, creating the objects on the way.
    pub(crate) fn insert<S: AsRef<str>>(&mut self, path: &[S], value: Scalar) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut cur = 0;
        for key in parents {
            cur = self.child_or_add(cur, key.as_ref());
            self.mark(cur);
            // A scalar in the way becomes an (empty) object, in place.
            self.value[cur as usize] = None;
        }
        let leaf = self.child_or_add(cur, last.as_ref());
        if self.stamp[leaf as usize] != 0 && self.value[leaf as usize].is_none() {
            self.drop_children(leaf);
        }
        self.mark(leaf);
        self.value[leaf as usize] = Some(value);
    }

    /// Inserts a string at a path.
    pub(crate) fn insert_str<S: AsRef<str>>(&mut self, path: &[S], text: &str) {
        let start = self.text.len() as u32;
        self.text.push_str(text);
        self.insert(path, Scalar::Str(start, self.text.len() as u32));
    }

    /// Inserts a value's text (`Display`) at a path, written straight into the buffer.
    pub(crate) fn insert_display<S: AsRef<str>>(
        &mut self,
        path: &[S],
        value: impl std::fmt::Display,
    ) {
        use std::fmt::Write;
        let start = self.text.len() as u32;
        let _ = write!(self.text, "{value}");
        self.insert(path, Scalar::Str(start, self.text.len() as u32));
    }

    /// The text of a string scalar.
    fn str_of(&self, start: u32, end: u32) -> &str {
        &self.text[start as usize..end as usize]
    }

    /// The node at a path when the document has it.
    fn present(&self, path: &[&str]) -> Option<u32> {
        let mut cur = 0;
        for key in path {
            cur = self.child(cur, key)?;
        }
        (!path.is_empty() && self.stamp[cur as usize] != 0).then_some(cur)
    }

    /// Whether the document has a value (scalar or object) at a path.
    pub(crate) fn has(&self, path: &[&str]) -> bool {
        self.present(path).is_some()
    }

    /// The string at a path, if the document has one there.
    pub(crate) fn get_str(&self, path: &[&str]) -> Option<&str> {
        match self.value[self.present(path)? as usize]? {
            Scalar::Str(s, e) => Some(self.str_of(s, e)),
            _ => None,
        }
    }

    /// The present child of `node` that comes after the one stamped `after` (0: the
    /// first), found without a buffer: an object has a handful of keys.
    fn next_child(&self, node: u32, after: u32) -> Option<u32> {
        self.nodes[node as usize]
            .children
            .iter()
            .copied()
            .filter(|&c| self.stamp[c as usize] > after)
            .min_by_key(|&c| self.stamp[c as usize])
    }

    /// Visits the document depth first: each key in document order with its scalar, or the
    /// start of an object, whose children follow before its end.
    fn visit(&self, node: u32, on: &mut impl FnMut(Visit<'_>)) {
        let mut place = 0;
        let mut after = 0;
        while let Some(c) = self.next_child(node, after) {
            after = self.stamp[c as usize];
            let n = &self.nodes[c as usize];
            match self.value[c as usize] {
                Some(v) => on(Visit::Scalar(place, c, v)),
                None => {
                    on(Visit::Open(place, &n.key));
                    self.visit(c, on);
                    on(Visit::Close);
                }
            }
            place += 1;
        }
    }

    /// Appends the document as compact JSON, byte for byte what `serde_json::to_writer` of
    /// [`DocTree::to_value`] writes.
    pub(crate) fn write_json(&self, out: &mut String) {
        out.push('{');
        self.visit(0, &mut |v| match v {
            Visit::Scalar(i, node, value) => {
                write_key(out, i, &self.nodes[node as usize].key);
                self.write_scalar(out, value);
            }
            Visit::Open(i, key) => {
                write_key(out, i, key);
                out.push('{');
            }
            Visit::Close => out.push('}'),
        });
        out.push('}');
    }

    fn write_scalar(&self, out: &mut String, value: Scalar) {
        match value {
            Scalar::Str(s, e) => write_json_str(out, self.str_of(s, e)),
            Scalar::U64(n) => out.push_str(itoa::Buffer::new().format(n)),
            Scalar::I64(n) => out.push_str(itoa::Buffer::new().format(n)),
            // serde_json's own text for a float (ryu's shortest form, `1.0` for a whole one).
            Scalar::F64(f) => match serde_json::Number::from_f64(f) {
                Some(n) => out.push_str(&n.to_string()),
                None => out.push_str("null"),
            },
        }
    }

    /// Appends the document to a batch under `id`: its `_source` and its leaves, whose
    /// fields are the trie's nodes (the batch's `fields` must be [`DocTree::fields`]).
    pub(crate) fn append_to(&self, batch: &mut FlatDocs, id: &str) {
        let id_start = batch.text.len();
        batch.text.push_str(id);
        let id = id_start..batch.text.len();
        let source_start = batch.json.len();
        self.write_json(&mut batch.json);
        let source = source_start..batch.json.len();
        let leaves_start = batch.leaves.len();
        self.visit(0, &mut |v| {
            if let Visit::Scalar(_, node, value) = v {
                let value = match value {
                    Scalar::Str(s, e) => {
                        let start = batch.text.len();
                        batch.text.push_str(self.str_of(s, e));
                        LeafValue::Str(start..batch.text.len())
                    }
                    Scalar::U64(n) => LeafValue::Num(n as f64, false),
                    Scalar::I64(n) => LeafValue::Num(n as f64, false),
                    Scalar::F64(f) if f.is_finite() => LeafValue::Num(f, true),
                    Scalar::F64(_) => return,
                };
                batch.leaves.push(Leaf { field: node, value });
            }
        });
        let leaves = leaves_start..batch.leaves.len();
        batch.docs.push(FlatDoc { id, source, leaves });
    }

    /// The dotted path of every node of the trie, by node number.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.path.as_str())
    }

    /// The document as nested `serde_json` objects.
    pub(crate) fn to_value(&self) -> Value {
        let mut stack: Vec<(String, Map<String, Value>)> = vec![(String::new(), Map::new())];
        self.visit(0, &mut |v| match v {
            Visit::Scalar(_, node, value) => {
                let key = &self.nodes[node as usize].key;
                let value = match value {
                    Scalar::Str(s, e) => Value::String(self.str_of(s, e).to_owned()),
                    Scalar::U64(n) => Value::from(n),
                    Scalar::I64(n) => Value::from(n),
                    Scalar::F64(f) => Value::from(f),
                };
                if let Some((_, map)) = stack.last_mut() {
                    map.insert(key.to_owned(), value);
                }
            }
            Visit::Open(_, key) => stack.push((key.to_owned(), Map::new())),
            Visit::Close => {
                if let (Some((key, map)), Some((_, parent))) = (stack.pop(), stack.last_mut()) {
                    parent.insert(key, Value::Object(map));
                }
            }
        });
        Value::Object(stack.pop().map(|(_, m)| m).unwrap_or_default())
    }
}

/// One step of [`DocTree::visit`]: a key's place among its siblings, node and scalar; the
/// start of an object (its place and name); the end of one.
enum Visit<'a> {
    Scalar(usize, u32, Scalar),
    Open(usize, &'a str),
    Close,
}

fn write_key(out: &mut String, place: usize, key: &str) {
    if place > 0 {
        out.push(',');
    }
    write_json_str(out, key);
    out.push(':');
}

/// A JSON string as `serde_json` writes it, with a fast path for text that needs no
/// escaping.
pub(crate) fn write_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else if let Ok(quoted) = serde_json::to_string(s) {
        out.push_str(&quoted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_of(doc: &DocTree) -> String {
        let mut out = String::new();
        doc.write_json(&mut out);
        out
    }

    #[test]
    fn order_replacement_and_escapes_match_serde_json() {
        let mut d = DocTree::default();
        for round in 0..2 {
            d.clear();
            d.insert_str(&["@timestamp"], "2015-05-17T08:05:32.000Z");
            d.insert_str(&["http", "request", "method"], "GET");
            d.insert(&["http", "response", "status_code"], Scalar::U64(200));
            d.insert_str(&["url", "original"], "/a\"b\\c\u{1}é");
            d.insert_str(&["http", "request", "referrer"], "-x");
            d.insert(&["event", "duration"], Scalar::I64(250_000_000));
            d.insert(&["nginx", "t"], Scalar::F64(0.249));
            d.insert(&["nginx", "u"], Scalar::F64(1.0));
            // The same path again: replaced in place.
            d.insert(
                &["http", "response", "status_code"],
                Scalar::U64(404 + round),
            );
            // A scalar in the way of a deeper path, then an object replaced by a scalar.
            d.insert_str(&["a"], "x");
            d.insert_str(&["a", "b"], "y");
            d.insert_str(&["c", "d"], "z");
            d.insert_str(&["c"], "w");
            let want = json!({
                "@timestamp": "2015-05-17T08:05:32.000Z",
                "http": {"request": {"method": "GET", "referrer": "-x"}, "response": {"status_code": 404 + round}},
                "url": {"original": "/a\"b\\c\u{1}é"},
                "event": {"duration": 250_000_000},
                "nginx": {"t": 0.249, "u": 1.0},
                "a": {"b": "y"},
                "c": "w",
            });
            assert_eq!(d.to_value(), want);
            assert_eq!(json_of(&d), serde_json::to_string(&want).unwrap());
            assert!(d.has(&["c"]) && !d.has(&["c", "d"]) && d.has(&["a", "b"]));
            assert_eq!(d.get_str(&["http", "request", "method"]), Some("GET"));
            let mut batch = FlatDocs::default();
            batch.fields.extend(d.fields().map(str::to_owned));
            d.append_to(&mut batch, "id-1");
            assert_eq!(batch.id(0), "id-1");
            assert_eq!(batch.source(0), json_of(&d));
            let leaves: Vec<(String, LeafValue)> = batch
                .leaves
                .iter()
                .map(|l| (batch.fields[l.field as usize].clone(), l.value.clone()))
                .collect();
            let paths: Vec<&str> = leaves.iter().map(|(p, _)| p.as_str()).collect();
            assert_eq!(
                paths,
                [
                    "@timestamp",
                    "http.request.method",
                    "http.request.referrer",
                    "http.response.status_code",
                    "url.original",
                    "event.duration",
                    "nginx.t",
                    "nginx.u",
                    "a.b",
                    "c"
                ]
            );
            assert_eq!(leaves[6].1, LeafValue::Num(0.249, true));
            assert_eq!(leaves[3].1, LeafValue::Num((404 + round) as f64, false));
        }
    }
}
