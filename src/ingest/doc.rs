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
use crate::time::EpochMillis;
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
    parent: u32,
    children: Vec<u32>,
}

/// No node.
const NONE: u32 = u32::MAX;

/// What the document being built has at a node.
#[derive(Debug, Clone, Copy)]
struct Slot {
    present: bool,
    /// The scalar there (`None`: an object).
    value: Option<Scalar>,
    /// The object's present keys in the order first inserted, as a list: the first and last
    /// child, and the next sibling.
    first: u32,
    last: u32,
    next: u32,
}

const ABSENT: Slot = Slot {
    present: false,
    value: None,
    first: NONE,
    last: NONE,
    next: NONE,
};

/// The trie of fields and the document being built on it; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct DocTree {
    nodes: Vec<Node>,
    /// Per node, this document's state (the root's is always present).
    slots: Vec<Slot>,
    /// The nodes made present in this document, to clear them for the next.
    touched: Vec<u32>,
    text: String,
    /// The last `@timestamp` written and its text (a log's lines share their second).
    time: Option<(EpochMillis, String)>,
}

impl Default for DocTree {
    fn default() -> Self {
        let root = Node {
            key: String::new(),
            path: String::new(),
            parent: NONE,
            children: Vec::new(),
        };
        DocTree {
            nodes: vec![root],
            slots: vec![Slot {
                present: true,
                ..ABSENT
            }],
            touched: Vec::new(),
            text: String::new(),
            time: None,
        }
    }
}

impl DocTree {
    /// Starts the next document (the trie stays).
    pub(crate) fn clear(&mut self) {
        for &n in &self.touched {
            self.slots[n as usize] = ABSENT;
        }
        self.touched.clear();
        self.slots[0].first = NONE;
        self.slots[0].last = NONE;
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
            parent,
            children: Vec::new(),
        });
        self.slots.push(ABSENT);
        self.nodes[parent as usize].children.push(id);
        id
    }

    /// Makes `node` present, appended after its parent's present keys, unless it is.
    fn mark(&mut self, node: u32) {
        if self.slots[node as usize].present {
            return;
        }
        self.slots[node as usize] = Slot {
            present: true,
            ..ABSENT
        };
        self.touched.push(node);
        let parent = self.nodes[node as usize].parent as usize;
        match self.slots[parent].last {
            NONE => self.slots[parent].first = node,
            last => self.slots[last as usize].next = node,
        }
        self.slots[parent].last = node;
    }

    /// Takes `node`'s present descendants out of the document (an object replaced by a
    /// scalar).
    fn drop_children(&mut self, node: u32) {
        let mut stack = vec![self.slots[node as usize].first];
        self.slots[node as usize].first = NONE;
        self.slots[node as usize].last = NONE;
        while let Some(mut c) = stack.pop() {
            while c != NONE {
                let slot = std::mem::replace(&mut self.slots[c as usize], ABSENT);
                stack.push(slot.first);
                c = slot.next;
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
            self.slots[cur as usize].value = None;
        }
        let leaf = self.child_or_add(cur, last.as_ref());
        let slot = self.slots[leaf as usize];
        if slot.present && slot.value.is_none() {
            self.drop_children(leaf);
        }
        self.mark(leaf);
        self.slots[leaf as usize].value = Some(value);
    }

    /// Inserts `@timestamp` (ISO 8601 in UTC, milliseconds).
    pub(crate) fn insert_timestamp(&mut self, ms: EpochMillis) {
        let mut time = match self.time.take() {
            Some((t, text)) if t == ms => text,
            _ => crate::time::format_millis(ms),
        };
        self.insert_str(&["@timestamp"], &time);
        self.time = Some((ms, std::mem::take(&mut time)));
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
        (!path.is_empty() && self.slots[cur as usize].present).then_some(cur)
    }

    /// Whether the document has a value (scalar or object) at a path.
    pub(crate) fn has(&self, path: &[&str]) -> bool {
        self.present(path).is_some()
    }

    /// The string at a path, if the document has one there.
    pub(crate) fn get_str(&self, path: &[&str]) -> Option<&str> {
        match self.slots[self.present(path)? as usize].value? {
            Scalar::Str(s, e) => Some(self.str_of(s, e)),
            _ => None,
        }
    }

    /// Visits the document depth first: each key in document order with its scalar, or the
    /// start of an object, whose children follow before its end.
    fn visit(&self, node: u32, on: &mut impl FnMut(Visit<'_>)) {
        let mut place = 0;
        let mut c = self.slots[node as usize].first;
        while c != NONE {
            let slot = &self.slots[c as usize];
            match slot.value {
                Some(v) => on(Visit::Scalar(place, c, v)),
                None => {
                    on(Visit::Open(place, &self.nodes[c as usize].key));
                    self.visit(c, on);
                    on(Visit::Close);
                }
            }
            place += 1;
            c = slot.next;
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
