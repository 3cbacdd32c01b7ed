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

/// A flag per document (an index's live flags, a request's match flags), a bit each: an
/// eighth of a `Vec<bool>`, which was a byte per document of the index for every request.
/// Bits past `len` are always clear.
#[derive(Clone, Default, Debug)]
pub(crate) struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    /// `len` flags, all `on`.
    pub(crate) fn new(len: usize, on: bool) -> Self {
        let mut b = Bits::default();
        b.resize(len, on);
        b
    }
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64] & (1 << (i % 64)) != 0
    }
    /// Sets flag `i` (which must be below `len`).
    #[inline]
    pub(crate) fn set(&mut self, i: usize, on: bool) {
        if i >= self.len {
            return;
        }
        let (w, m) = (i / 64, 1u64 << (i % 64));
        if on {
            self.words[w] |= m;
        } else {
            self.words[w] &= !m;
        }
    }
    pub(crate) fn push(&mut self, on: bool) {
        self.resize(self.len + 1, on);
    }
    /// Grows or shrinks to `len` flags; new ones are `on`.
    pub(crate) fn resize(&mut self, len: usize, on: bool) {
        if len <= self.len {
            self.truncate(len);
            return;
        }
        let old = self.len;
        self.words.resize(len.div_ceil(64), 0);
        self.len = len;
        if on {
            for i in old..len {
                self.words[i / 64] |= 1 << (i % 64);
            }
        }
    }
    pub(crate) fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.words.truncate(len.div_ceil(64));
        if len % 64 != 0 {
            if let Some(w) = self.words.last_mut() {
                *w &= (1u64 << (len % 64)) - 1;
            }
        }
        self.len = len;
    }
    /// How many flags are set.
    pub(crate) fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
    /// The positions of the set flags, in order.
    pub(crate) fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(k, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let b = w.trailing_zeros() as usize;
                    w &= w - 1;
                    k * 64 + b
                })
            })
        })
    }
    /// `self &= other` (`self &= !other` when `negate`); both cover the same documents.
    pub(crate) fn and(&mut self, other: &Bits, negate: bool) {
        // An AND only clears bits, so those past `len` stay clear.
        for (w, &o) in self.words.iter_mut().zip(&other.words) {
            *w &= if negate { !o } else { o };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Bits;

    /// `Bits` answers as a `Vec<bool>` through pushes, resizes, truncations, sets and ANDs.
    #[test]
    fn bits_behave_as_a_vector_of_booleans() {
        let mut b = Bits::default();
        let mut v: Vec<bool> = Vec::new();
        for i in 0..300usize {
            let on = i % 3 != 1;
            b.push(on);
            v.push(on);
        }
        b.resize(450, true);
        v.resize(450, true);
        b.truncate(130);
        v.truncate(130);
        b.resize(200, false);
        v.resize(200, false);
        for i in (0..200).step_by(7) {
            b.set(i, i % 2 == 0);
            v[i] = i % 2 == 0;
        }
        let other: Vec<bool> = (0..200).map(|i| i % 5 != 0).collect();
        let mut o = Bits::new(200, false);
        for (i, &x) in other.iter().enumerate() {
            o.set(i, x);
        }
        for negate in [false, true] {
            let mut b2 = b.clone();
            b2.and(&o, negate);
            let v2: Vec<bool> = v
                .iter()
                .zip(&other)
                .map(|(&a, &r)| a && (r != negate))
                .collect();
            assert_eq!((0..200).map(|i| b2.get(i)).collect::<Vec<_>>(), v2);
        }
        assert_eq!(b.len(), v.len());
        assert_eq!((0..210).map(|i| b.get(i)).collect::<Vec<_>>()[..200], v[..]);
        assert!(!b.get(200) && !b.get(205));
        let ones: Vec<usize> = b.ones().collect();
        let want: Vec<usize> = (0..200).filter(|&i| v[i]).collect();
        assert_eq!(ones, want);
        assert_eq!(b.count_ones(), want.len());
    }
}
