//! Documents handed to a store already serialised, with their leaves ([`FlatDocs`]).
//!
//! Why: `tidewatch ingest` used to build a `serde_json` tree per log line, which the
//! embedded store then serialised into its log and walked again for its columns, and the
//! cluster store serialised into `_bulk` NDJSON: building, walking and freeing half a
//! million small trees was most of an ingest's CPU (issue 17). A batch of [`FlatDocs`] is a
//! handful of buffers instead: each `_source` as compact JSON text, and each document's
//! scalar leaves as `(dotted field, number or text)`. The embedded store copies the text into
//! its log and the leaves into its columns; the cluster store copies the text into the
//! request body. The buffers are cleared and reused from batch to batch.

use super::{BulkDoc, StoreError};
use std::ops::Range;

/// A batch of documents, each with an id, a `_source` serialised as a compact JSON object,
/// and its scalar leaves in `_source` order (what walking the object gives: objects extend
/// the dotted path).
#[derive(Debug, Default, Clone)]
pub struct FlatDocs {
    /// The dotted field paths leaves name, by number ([`Leaf::field`]); may hold paths no
    /// leaf names.
    pub fields: Vec<String>,
    /// Every `_source`, one after the other.
    pub json: String,
    /// Ids and string leaves.
    pub text: String,
    /// The documents.
    pub docs: Vec<FlatDoc>,
    /// Every document's leaves.
    pub leaves: Vec<Leaf>,
}

/// One document of [`FlatDocs`]: where its parts lie in the batch's buffers.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatDoc {
    /// Its id, in [`FlatDocs::text`].
    pub id: Range<usize>,
    /// Its `_source`, in [`FlatDocs::json`].
    pub source: Range<usize>,
    /// Its leaves, in [`FlatDocs::leaves`].
    pub leaves: Range<usize>,
}

/// A scalar of a document at a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    /// The field, an index into [`FlatDocs::fields`].
    pub field: u32,
    /// Its value.
    pub value: LeafValue,
}

/// The value of a [`Leaf`].
#[derive(Debug, Clone, PartialEq)]
pub enum LeafValue {
    /// A number (as `f64`), and whether it was written with a fraction (a `double` rather than
    /// a `long`).
    Num(f64, bool),
    /// A string, in [`FlatDocs::text`].
    Str(Range<usize>),
}

impl FlatDocs {
    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.fields.clear();
        self.json.clear();
        self.text.clear();
        self.docs.clear();
        self.leaves.clear();
    }

    /// The number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether there is no document.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The id of document `k`.
    pub fn id(&self, k: usize) -> &str {
        &self.text[self.docs[k].id.clone()]
    }

    /// The `_source` of document `k`.
    pub fn source(&self, k: usize) -> &str {
        &self.json[self.docs[k].source.clone()]
    }

    /// The text of a string leaf.
    pub fn str(&self, range: &Range<usize>) -> &str {
        &self.text[range.clone()]
    }

    /// The documents as [`BulkDoc`]s (each source parsed back), for a store that takes
    /// only those.
    pub fn to_bulk(&self) -> Result<Vec<BulkDoc>, StoreError> {
        (0..self.len())
            .map(|k| {
                Ok(BulkDoc {
                    id: Some(self.id(k).to_owned()),
                    source: serde_json::from_str(self.source(k))?,
                })
            })
            .collect()
    }
}
