//! Typed field values and the in-memory column of the open segment.

use super::codec::FastMap;

/// A typed value of a field in one document.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val {
    /// Any JSON number.
    Num(f64),
    /// A string, by id in the store's [`Interner`].
    Str(u32),
    /// A string that looked like an ISO 8601 date: epoch milliseconds.
    Date(i64),
    /// A boolean.
    Bool(bool),
    /// A string known only to one request (not interned), by position in its side table.
    Ext(u32),
}

impl Val {
    fn bits(&self) -> (u8, u64) {
        match *self {
            Val::Num(f) => (0, if f == 0.0 { 0 } else { f.to_bits() }),
            Val::Str(s) => (1, s as u64),
            Val::Date(d) => (2, d as u64),
            Val::Bool(b) => (3, b as u64),
            Val::Ext(e) => (4, e as u64),
        }
    }
    /// The value as a number when it is numeric (numbers, dates as millis, booleans as 0/1).
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match *self {
            Val::Num(f) => Some(f),
            Val::Date(d) => Some(d as f64),
            Val::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }
}

impl PartialEq for Val {
    fn eq(&self, other: &Self) -> bool {
        self.bits() == other.bits()
    }
}
impl Eq for Val {}
impl std::hash::Hash for Val {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (t, b) = self.bits();
        state.write_u64(b ^ ((t as u64) << 61));
    }
}

/// Strings shared by all indices of a store, so that string values compare by id.
#[derive(Default)]
pub(crate) struct Interner {
    ids: FastMap<Box<str>, u32>,
    strs: Vec<Box<str>>,
}

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strs.len() as u32;
        self.strs.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
    pub(crate) fn lookup(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }
    pub(crate) fn get(&self, id: u32) -> &str {
        self.strs.get(id as usize).map(|s| &**s).unwrap_or("")
    }
}

/// The values of one document for one field. 16 bytes, like one [`Val`] (the enum tag
/// lives in `Val`'s unused tag values): a column holds one per document of its index.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell {
    Missing,
    One(Val),
    /// Several values (an array), by position in [`Column::many`].
    Many(u32),
}

const _: () = assert!(std::mem::size_of::<Cell>() == 16);

/// The kind of a value, as field types tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Kind {
    Num,
    Str,
    Date,
    Bool,
}

impl Kind {
    pub(crate) fn of(v: Val) -> Kind {
        match v {
            Val::Num(_) => Kind::Num,
            Val::Str(_) | Val::Ext(_) => Kind::Str,
            Val::Date(_) => Kind::Date,
            Val::Bool(_) => Kind::Bool,
        }
    }
    /// The Elasticsearch field type of a field whose first value is of this kind: `long` or
    /// `double` (numbers; `double` once a non-integral one appears), `keyword`, `date`,
    /// `boolean`.
    pub(crate) fn type_name(self, has_float: bool) -> &'static str {
        match self {
            Kind::Num if has_float => "double",
            Kind::Num => "long",
            Kind::Str => "keyword",
            Kind::Date => "date",
            Kind::Bool => "boolean",
        }
    }
}

/// The values of one document for one field, as a request reads them: one value decoded
/// from a sealed segment, or a slice of an in-memory column.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Vals<'a> {
    One(Val),
    Slice(&'a [Val]),
}

impl Vals<'_> {
    pub(crate) const NONE: Vals<'static> = Vals::Slice(&[]);
}

impl std::ops::Deref for Vals<'_> {
    type Target = [Val];
    #[inline]
    fn deref(&self) -> &[Val] {
        match self {
            Vals::One(v) => std::slice::from_ref(v),
            Vals::Slice(s) => s,
        }
    }
}

/// The values of [`Vals`], by value.
pub(crate) enum ValsIter<'a> {
    One(Option<Val>),
    Slice(std::slice::Iter<'a, Val>),
}

impl Iterator for ValsIter<'_> {
    type Item = Val;
    #[inline]
    fn next(&mut self) -> Option<Val> {
        match self {
            ValsIter::One(v) => v.take(),
            ValsIter::Slice(it) => it.next().copied(),
        }
    }
}

impl<'a> IntoIterator for Vals<'a> {
    type Item = Val;
    type IntoIter = ValsIter<'a>;
    #[inline]
    fn into_iter(self) -> ValsIter<'a> {
        match self {
            Vals::One(v) => ValsIter::One(Some(v)),
            Vals::Slice(s) => ValsIter::Slice(s.iter()),
        }
    }
}

/// The values of one field path in the open segment (or of a sealed column kept in memory),
/// by document position.
#[derive(Default)]
pub(crate) struct Column {
    cells: Vec<Cell>,
    /// The values of documents with several (rare in logs: most fields hold one value).
    many: Vec<Box<[Val]>>,
    /// Some value was a non-integral JSON number (a `double` field rather than a `long`).
    pub(crate) has_float: bool,
}

impl Column {
    #[inline]
    pub(crate) fn values(&self, doc: u32) -> &[Val] {
        match self.cells.get(doc as usize) {
            Some(Cell::One(v)) => std::slice::from_ref(v),
            Some(Cell::Many(i)) => self.many.get(*i as usize).map_or(&[], |vs| &vs[..]),
            _ => &[],
        }
    }
    /// An empty column; `has_float` as given.
    pub(crate) fn new(has_float: bool) -> Self {
        Column {
            has_float,
            ..Column::default()
        }
    }
    /// Sets the values of document `doc`.
    pub(crate) fn set(&mut self, doc: u32, vals: &[Val]) {
        let doc = doc as usize;
        if self.cells.len() <= doc {
            self.cells.resize(doc + 1, Cell::Missing);
        }
        self.cells[doc] = match vals {
            [] => Cell::Missing,
            [v] => Cell::One(*v),
            many => match u32::try_from(self.many.len()) {
                Ok(i) => {
                    self.many.push(many.into());
                    Cell::Many(i)
                }
                // Over 4 billion multi-valued cells: keep the first value.
                Err(_) => Cell::One(many[0]),
            },
        };
    }
}
