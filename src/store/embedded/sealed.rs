//! Sealed segments: immutable, columnar files an index's open segment (its write-ahead log)
//! is turned into once it holds enough documents, read in place through `mmap`.
//!
//! A sealed segment `seg-NNNNNNNN.col` holds:
//! - the documents' ids (16 bytes each when every id is 32 lowercase hex digits, as
//!   `ingest` makes them; else their text with bit-packed end offsets) and `seq_no`s
//!   (bit-packed);
//! - their sources (compact JSON, byte for byte as written) deflated in blocks of
//!   [`BLOCK_DOCS`], for hits and `get`;
//! - per field path one column: numbers, dates and booleans as bit-packed integers
//!   (`min + code * gcd`, decimals scaled by a power of ten when that gives back every
//!   value bit for bit), strings as bit-packed ids into a deflated dictionary of the
//!   segment, and any other field (several values per document, mixed types) as a deflated
//!   list of typed values that is decoded into memory on open;
//! - the ids of documents deleted by the write-ahead log it was sealed from (they apply to
//!   older segments);
//! - a JSON footer locating all of it, its length, a checksum of everything before, and a
//!   magic number.
//!
//! In memory a sealed segment keeps its mapping, its footer and, per string column, the
//! map from its dictionary to the store's interned ids: no per-document data.

use super::codec::{self, put_u32, Packed, Prefixed};
use super::column::{Column, Interner, Kind, Val, Vals};
use crate::store::StoreError;
use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Documents per deflated block of sources.
pub(crate) const BLOCK_DOCS: u32 = 512;
const MAGIC: &[u8; 8] = b"TWSEG01\n";
/// Footer length, checksum, magic.
const TAIL: usize = 24;

/// Where the ids lie.
#[derive(serde::Serialize, serde::Deserialize)]
enum Ids {
    /// 16 bytes per document: ids of 32 lowercase hex digits.
    Hex { off: u64 },
    /// Text, document after document; `ends` are the end offsets within it.
    Text { off: u64, ends: Packed },
}

/// How one column is stored.
#[derive(serde::Serialize, serde::Deserialize)]
enum Enc {
    /// One number, date or boolean per document at most; numbers are `code / scale`. `lo`
    /// and `hi` are the least and greatest code, `full` whether every document has one
    /// (so a range query can skip or take the whole segment).
    Int {
        kind: Kind,
        scale: u32,
        codes: Packed,
        lo: i64,
        hi: i64,
        full: bool,
    },
    /// One string per document at most: `codes` are 1 + the position in the dictionary
    /// (deflated, length-prefixed strings).
    Dict {
        off: u64,
        len: u64,
        raw_len: u64,
        count: u32,
        codes: Packed,
    },
    /// Anything else: per document a `u32` count, then typed values (see `put_val`).
    Raw { off: u64, len: u64, raw_len: u64 },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ColFooter {
    name: String,
    has_float: bool,
    first: Option<Kind>,
    enc: Enc,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Footer {
    docs: u32,
    next_seq: u64,
    seqs: Packed,
    ids: Ids,
    /// Start offset of each block of sources, and the end of the last.
    blocks: Packed,
    /// Inflated length of each block.
    block_lens: Packed,
    tombstones: Vec<String>,
    columns: Vec<ColFooter>,
}

/// Builds a sealed segment: documents are added one by one (their sources deflated block
/// by block as they come), then its columns one by one, then [`SegmentWriter::finish`]
/// writes it.
#[derive(Default)]
pub(crate) struct SegmentWriter {
    body: Vec<u8>,
    ids: Vec<u8>,
    id_ends: Vec<Option<i64>>,
    seqs: Vec<Option<i64>>,
    block: Vec<u8>,
    block_starts: Vec<Option<i64>>,
    block_lens: Vec<Option<i64>>,
    columns: Vec<ColFooter>,
}

impl SegmentWriter {
    pub(crate) fn new() -> Self {
        SegmentWriter {
            body: MAGIC.to_vec(),
            ..Default::default()
        }
    }

    /// Number of documents added.
    pub(crate) fn len(&self) -> u32 {
        self.seqs.len() as u32
    }

    /// Adds a document (all documents come before the first column).
    pub(crate) fn doc(&mut self, id: &str, seq: u64, source: &str) {
        self.ids.extend_from_slice(id.as_bytes());
        self.id_ends.push(Some(self.ids.len() as i64));
        self.seqs.push(Some(seq as i64));
        put_u32(&mut self.block, source.len() as u32);
        self.block.extend_from_slice(source.as_bytes());
        if self.seqs.len() % BLOCK_DOCS as usize == 0 {
            self.flush_block();
        }
    }

    fn flush_block(&mut self) {
        if self.block.is_empty() {
            return;
        }
        if self.block_starts.is_empty() {
            self.block_starts.push(Some(self.body.len() as i64));
        }
        self.block_lens.push(Some(self.block.len() as i64));
        let z = codec::deflate(&self.block);
        self.body.extend_from_slice(&z);
        self.block_starts.push(Some(self.body.len() as i64));
        self.block.clear();
    }

    /// Adds the column `name` of the documents (`col` by their position); `has_float` says
    /// whether the field holds non-integral numbers.
    pub(crate) fn column(&mut self, name: &str, col: &Column, interner: &Interner) -> Option<()> {
        self.flush_block();
        let docs = self.len();
        let footer = encode_column(&mut self.body, name, col, docs, interner)?;
        self.columns.push(footer);
        Some(())
    }

    /// Writes the segment to `path` (and fsyncs it).
    pub(crate) fn finish(
        mut self,
        path: &Path,
        tombstones: Vec<String>,
        next_seq: u64,
    ) -> Result<(), StoreError> {
        self.flush_block();
        let docs = self.len();
        let body = &mut self.body;
        let bad = || StoreError::TooLarge {
            what: format!("{}: segment", path.display()),
            limit: "a sealed segment's columns are at most 4 GiB each".into(),
        };
        let seqs = codec::pack(body, &self.seqs).ok_or_else(bad)?;
        let ids = write_ids(body, &self.ids, &self.id_ends).ok_or_else(bad)?;
        let blocks = codec::pack(body, &self.block_starts).ok_or_else(bad)?;
        let block_lens = codec::pack(body, &self.block_lens).ok_or_else(bad)?;
        let columns = std::mem::take(&mut self.columns);
        let footer = Footer {
            docs,
            next_seq,
            seqs,
            ids,
            blocks,
            block_lens,
            tombstones,
            columns,
        };
        let json = serde_json::to_vec(&footer)?;
        body.extend_from_slice(&json);
        body.extend_from_slice(&(json.len() as u64).to_le_bytes());
        let sum = codec::checksum(body);
        body.extend_from_slice(&sum.to_le_bytes());
        body.extend_from_slice(MAGIC);
        let io = |e| StoreError::Io {
            path: path.display().to_string(),
            source: e,
        };
        let mut f = File::create(path).map_err(io)?;
        f.write_all(body).map_err(io)?;
        f.sync_all().map_err(io)
    }
}

fn is_hex_id(id: &[u8]) -> bool {
    id.len() == 32 && id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A 32-bit key of `id` that spreads ids over the passes of an index load (see
/// `IndexState::resolve_sealed`): the first four bytes of an id of 32 hex digits, as a
/// segment stores it (so a pass reads them without decoding the id), else a hash of its text.
pub(crate) fn id_key(id: &str) -> u32 {
    use std::hash::Hasher;
    let b = id.as_bytes();
    if is_hex_id(b) {
        return b[..8]
            .iter()
            .fold(0u32, |k, &c| (k << 4) | u32::from(hex_digit(c)));
    }
    let mut h = codec::FastHasher::default();
    h.write(b);
    h.finish() as u32
}

fn write_ids(body: &mut Vec<u8>, ids: &[u8], ends: &[Option<i64>]) -> Option<Ids> {
    let mut start = 0usize;
    let all_hex = ends.iter().flatten().all(|&e| {
        let ok = ids.get(start..e as usize).is_some_and(is_hex_id);
        start = e as usize;
        ok
    });
    if all_hex {
        let off = body.len() as u64;
        for id in ids.chunks_exact(32) {
            for pair in id.chunks_exact(2) {
                body.push((hex_digit(pair[0]) << 4) | hex_digit(pair[1]));
            }
        }
        return Some(Ids::Hex { off });
    }
    let off = body.len() as u64;
    body.extend_from_slice(ids);
    let ends = codec::pack(body, ends)?;
    Some(Ids::Text { off, ends })
}

fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'a' + 10,
    }
}

/// The column `c` as bit-packed integers when every document holds at most one value of one
/// kind (and numbers come back bit for bit), else as a dictionary or raw values.
fn encode_column(
    body: &mut Vec<u8>,
    name: &str,
    col: &Column,
    docs: u32,
    interner: &Interner,
) -> Option<ColFooter> {
    let mut first = None;
    let mut single = true;
    for d in 0..docs {
        match col.values(d) {
            [] => {}
            [v] => {
                let k = Kind::of(*v);
                single &= *first.get_or_insert(k) == k;
            }
            [v, ..] => {
                first.get_or_insert(Kind::of(*v));
                single = false;
            }
        }
    }
    let one = |d: u32| col.values(d).first().copied();
    let enc = match first {
        Some(Kind::Str) if single => encode_dict(body, docs, one, interner)?,
        Some(kind) if single => match int_codes(docs, one, kind) {
            Some((scale, vals)) => Enc::Int {
                kind,
                scale,
                lo: vals.iter().flatten().copied().min().unwrap_or(0),
                hi: vals.iter().flatten().copied().max().unwrap_or(0),
                full: vals.iter().all(Option::is_some),
                codes: codec::pack(body, &vals)?,
            },
            None => encode_raw(body, col, docs, interner),
        },
        _ => encode_raw(body, col, docs, interner),
    };
    Some(ColFooter {
        name: name.to_string(),
        has_float: col.has_float,
        first,
        enc,
    })
}

/// Integer codes of single-valued numbers, dates or booleans, with the scale numbers are
/// divided by; `None` when some number does not come back bit for bit.
fn int_codes(
    docs: u32,
    one: impl Fn(u32) -> Option<Val>,
    kind: Kind,
) -> Option<(u32, Vec<Option<i64>>)> {
    let vals: Vec<Option<Val>> = (0..docs).map(&one).collect();
    match kind {
        Kind::Date => Some((
            1,
            vals.iter()
                .map(|v| {
                    v.and_then(|v| match v {
                        Val::Date(d) => Some(d),
                        _ => None,
                    })
                })
                .collect(),
        )),
        Kind::Bool => Some((
            1,
            vals.iter()
                .map(|v| v.map(|v| matches!(v, Val::Bool(true)) as i64))
                .collect(),
        )),
        Kind::Str => None,
        Kind::Num => {
            let nums: Vec<Option<f64>> = vals.iter().map(|v| v.and_then(|v| v.as_f64())).collect();
            [1u32, 10, 100, 1_000, 10_000, 100_000, 1_000_000]
                .into_iter()
                .find_map(|scale| {
                    let codes: Option<Vec<Option<i64>>> = nums
                        .iter()
                        .map(|f| match f {
                            None => Some(None),
                            Some(f) => scaled(*f, scale).map(Some),
                        })
                        .collect();
                    codes.map(|c| (scale, c))
                })
        }
    }
}

/// `f * scale` as an integer when dividing it back gives `f` bit for bit.
fn scaled(f: f64, scale: u32) -> Option<i64> {
    let k = (f * scale as f64).round();
    if !k.is_finite() || k.abs() >= 9.007e15 {
        return None;
    }
    let k = k as i64;
    (unscale(k, scale).to_bits() == f.to_bits()).then_some(k)
}

/// The value of an integer code of a column of `kind`.
#[inline]
fn int_val(kind: Kind, v: i64, scale: u32) -> Val {
    match kind {
        Kind::Date => Val::Date(v),
        Kind::Bool => Val::Bool(v != 0),
        _ => Val::Num(unscale(v, scale)),
    }
}

#[inline]
fn unscale(k: i64, scale: u32) -> f64 {
    if scale == 1 {
        k as f64
    } else {
        k as f64 / scale as f64
    }
}

fn encode_dict(
    body: &mut Vec<u8>,
    docs: u32,
    one: impl Fn(u32) -> Option<Val>,
    interner: &Interner,
) -> Option<Enc> {
    let mut local = codec::FastMap::<u32, i64>::default();
    let mut dict = Vec::new();
    let mut codes = Vec::with_capacity(docs as usize);
    for d in 0..docs {
        codes.push(match one(d) {
            Some(Val::Str(g)) => {
                let next = local.len() as i64;
                let id = *local.entry(g).or_insert_with(|| {
                    let s = interner.get(g);
                    put_u32(&mut dict, s.len() as u32);
                    dict.extend_from_slice(s.as_bytes());
                    next
                });
                Some(id)
            }
            _ => None,
        });
    }
    let z = codec::deflate(&dict);
    let off = body.len() as u64;
    body.extend_from_slice(&z);
    Some(Enc::Dict {
        off,
        len: z.len() as u64,
        raw_len: dict.len() as u64,
        count: local.len() as u32,
        codes: codec::pack(body, &codes)?,
    })
}

fn encode_raw(body: &mut Vec<u8>, col: &Column, docs: u32, interner: &Interner) -> Enc {
    let mut raw = Vec::new();
    for d in 0..docs {
        let vals = col.values(d);
        put_u32(&mut raw, vals.len() as u32);
        for v in vals {
            put_val(&mut raw, *v, interner);
        }
    }
    let z = codec::deflate(&raw);
    let off = body.len() as u64;
    body.extend_from_slice(&z);
    Enc::Raw {
        off,
        len: z.len() as u64,
        raw_len: raw.len() as u64,
    }
}

/// A typed value: a tag byte, then 8 bytes (a number's bits, a date, a boolean) or a
/// length-prefixed string.
fn put_val(out: &mut Vec<u8>, v: Val, interner: &Interner) {
    match v {
        Val::Num(f) => {
            out.push(0);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Val::Date(d) => {
            out.push(2);
            out.extend_from_slice(&d.to_le_bytes());
        }
        Val::Bool(b) => {
            out.push(3);
            out.extend_from_slice(&(b as u64).to_le_bytes());
        }
        Val::Str(_) | Val::Ext(_) => {
            let s = match v {
                Val::Str(g) => interner.get(g),
                _ => "",
            };
            out.push(1);
            put_u32(out, s.len() as u32);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Decodes the values `encode_raw` wrote into an in-memory column; `None` if malformed.
fn decode_raw(raw: &[u8], docs: u32, interner: &mut Interner, has_float: bool) -> Option<Column> {
    let mut col = Column::new(has_float);
    let mut rest = raw;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (a, b) = rest.split_at_checked(n)?;
        rest = b;
        Some(a)
    };
    let mut vals = Vec::new();
    for d in 0..docs {
        let n = u32::from_le_bytes(take(4)?.try_into().ok()?);
        vals.clear();
        for _ in 0..n {
            let tag = take(1)?[0];
            if tag == 1 {
                let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
                let s = std::str::from_utf8(take(len)?).ok()?;
                vals.push(Val::Str(interner.intern(s)));
                continue;
            }
            let x = u64::from_le_bytes(take(8)?.try_into().ok()?);
            vals.push(match tag {
                0 => Val::Num(f64::from_bits(x)),
                2 => Val::Date(x as i64),
                3 => Val::Bool(x != 0),
                _ => return None,
            });
        }
        col.set(d, &vals);
    }
    Some(col)
}

/// What a segment's column holds, for a query to skip or take the segment whole.
pub(crate) enum Bounds {
    /// No document has a value.
    Absent,
    /// One value per document at most, from `lo` to `hi`; `full`: every document has one.
    Range { lo: Val, hi: Val, full: bool },
    /// Anything else (strings, several values): documents must be looked at.
    Unknown,
}

/// A column of a sealed segment, ready to read.
enum SealedCol {
    Int {
        kind: Kind,
        scale: u32,
        codes: Packed,
        lo: i64,
        hi: i64,
        full: bool,
    },
    Dict {
        map: Vec<u32>,
        codes: Packed,
    },
    Mem(Column),
}

/// A sealed segment, open for reading.
pub(crate) struct Sealed {
    /// Its file name.
    pub(crate) file: String,
    index: String,
    map: memmap2::Mmap,
    pub(crate) docs: u32,
    pub(crate) next_seq: u64,
    seqs: Packed,
    ids: Ids,
    blocks: Packed,
    block_lens: Packed,
    /// Ids deleted by the log this segment was sealed from (they apply to older segments).
    pub(crate) tombstones: Vec<String>,
    /// Columns by the index's column id.
    cols: Vec<Option<SealedCol>>,
    /// The last block of sources read.
    cache: Mutex<Option<(u32, Arc<Vec<u8>>)>>,
}

/// A column of a segment as the index registers it.
pub(crate) struct ColInfo<'a> {
    pub(crate) name: &'a str,
    pub(crate) has_float: bool,
    pub(crate) first: Option<Kind>,
}

/// Why a segment could not be opened: corruption at a byte offset, or an I/O error.
pub(crate) enum OpenError {
    Corrupt(u64),
    Io(StoreError),
}

impl Sealed {
    /// Maps and checks the segment at `path`; `col_id` gives the index's column id of each
    /// of its columns.
    pub(crate) fn open(
        index: &str,
        path: &Path,
        file: &File,
        interner: &mut Interner,
        mut col_id: impl FnMut(ColInfo) -> u32,
    ) -> Result<Sealed, OpenError> {
        // SAFETY: sealed segments are never written after they are renamed into place (a
        // compaction writes new files and removes old ones, which stay mapped), so the
        // mapping does not change under us.
        let map = unsafe { memmap2::Mmap::map(file) }.map_err(|e| {
            OpenError::Io(StoreError::Io {
                path: path.display().to_string(),
                source: e,
            })
        })?;
        let footer = read_footer(&map).map_err(OpenError::Corrupt)?;
        let len = map.len() as u64;
        let ids_fit = match &footer.ids {
            Ids::Hex { off } => off
                .checked_add(16 * footer.docs as u64)
                .is_some_and(|end| end <= len),
            Ids::Text { off, ends } => ends.fits(len) && ends.n == footer.docs && *off <= len,
        };
        let fits = footer.seqs.fits(len)
            && footer.blocks.fits(len)
            && footer.block_lens.fits(len)
            && ids_fit;
        if !fits || footer.seqs.n != footer.docs {
            return Err(OpenError::Corrupt(0));
        }
        let mut cols: Vec<Option<SealedCol>> = Vec::new();
        for c in &footer.columns {
            let col = open_column(&map, &c.enc, footer.docs, interner, c.has_float)
                .ok_or(OpenError::Corrupt(0))?;
            let id = col_id(ColInfo {
                name: &c.name,
                has_float: c.has_float,
                first: c.first,
            }) as usize;
            if cols.len() <= id {
                cols.resize_with(id + 1, || None);
            }
            cols[id] = Some(col);
        }
        Ok(Sealed {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            index: index.to_string(),
            docs: footer.docs,
            next_seq: footer.next_seq,
            seqs: footer.seqs,
            ids: footer.ids,
            blocks: footer.blocks,
            block_lens: footer.block_lens,
            tombstones: footer.tombstones,
            cols,
            map,
            cache: Mutex::new(None),
        })
    }

    /// The values of document `doc` in the column with the index's id `col`.
    #[inline]
    pub(crate) fn values(&self, col: u32, doc: u32) -> Vals<'_> {
        match self.cols.get(col as usize) {
            Some(Some(SealedCol::Int {
                kind, scale, codes, ..
            })) => match codes.get(&self.map, doc) {
                None => Vals::NONE,
                Some(v) => Vals::One(int_val(*kind, v, *scale)),
            },
            Some(Some(SealedCol::Dict { map, codes })) => match codes.get(&self.map, doc) {
                Some(i) => map
                    .get(i as usize)
                    .map_or(Vals::NONE, |&g| Vals::One(Val::Str(g))),
                None => Vals::NONE,
            },
            Some(Some(SealedCol::Mem(c))) => Vals::Slice(c.values(doc)),
            _ => Vals::NONE,
        }
    }

    /// Drops the pages of the mapping from this process's memory (the kernel keeps them
    /// cached and maps them again on the next read): opening a segment reads all of it for
    /// its checksum, which would otherwise stay counted in the resident set.
    pub(crate) fn release_pages(&self) {
        // SAFETY: the mapping is read-only and shared, so dropping its pages loses nothing:
        // a later read faults them in from the file again.
        let _ = unsafe {
            self.map
                .unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
        };
    }

    /// What the column with the index's id `col` holds.
    pub(crate) fn bounds(&self, col: u32) -> Bounds {
        match self.cols.get(col as usize) {
            None | Some(None) => Bounds::Absent,
            Some(Some(SealedCol::Int {
                kind,
                scale,
                lo,
                hi,
                full,
                ..
            })) => Bounds::Range {
                lo: int_val(*kind, *lo, *scale),
                hi: int_val(*kind, *hi, *scale),
                full: *full,
            },
            Some(Some(_)) => Bounds::Unknown,
        }
    }

    /// The `seq_no` of document `doc`.
    pub(crate) fn seq(&self, doc: u32) -> u64 {
        self.seqs.get(&self.map, doc).unwrap_or(0) as u64
    }

    /// The id of document `doc`.
    pub(crate) fn id(&self, doc: u32) -> Cow<'_, str> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        match &self.ids {
            Ids::Hex { off } => {
                let at = *off as usize + doc as usize * 16;
                let Some(bytes) = self.map.get(at..at + 16) else {
                    return Cow::Borrowed("");
                };
                let mut s = String::with_capacity(32);
                for b in bytes {
                    s.push(DIGITS[(b >> 4) as usize] as char);
                    s.push(DIGITS[(b & 15) as usize] as char);
                }
                Cow::Owned(s)
            }
            Ids::Text { off, ends } => {
                let start = if doc == 0 {
                    0
                } else {
                    ends.get(&self.map, doc - 1).unwrap_or(0)
                };
                let end = ends.get(&self.map, doc).unwrap_or(0);
                let (a, b) = (*off as usize + start as usize, *off as usize + end as usize);
                let bytes = self.map.get(a..b).unwrap_or_default();
                Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default())
            }
        }
    }

    /// [`id_key`] of document `doc`'s id.
    #[inline]
    pub(crate) fn id_key(&self, doc: u32) -> u32 {
        match &self.ids {
            Ids::Hex { off } => {
                let at = *off as usize + doc as usize * 16;
                self.map
                    .get(at..at + 4)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }
            Ids::Text { .. } => id_key(&self.id(doc)),
        }
    }

    fn corrupt(&self, offset: u64) -> StoreError {
        StoreError::Corrupt {
            index: self.index.clone(),
            file: self.file.clone(),
            line: 0,
            offset,
            count: 1,
        }
    }

    /// The source of document `doc`, inflating its block (the last block read is kept).
    pub(crate) fn source(&self, doc: u32) -> Result<String, StoreError> {
        let b = doc / BLOCK_DOCS;
        let cached = self.cache.lock().ok().and_then(|c| {
            c.as_ref()
                .filter(|(k, _)| *k == b)
                .map(|(_, v)| Arc::clone(v))
        });
        let block = match cached {
            Some(block) => block,
            None => {
                let start = self.blocks.get(&self.map, b).unwrap_or(0) as u64;
                let end = self.blocks.get(&self.map, b + 1).unwrap_or(0) as u64;
                let raw_len = self.block_lens.get(&self.map, b).unwrap_or(0) as usize;
                let bytes = self
                    .map
                    .get(start as usize..end as usize)
                    .ok_or_else(|| self.corrupt(start))?;
                let block =
                    Arc::new(codec::inflate(bytes, raw_len).ok_or_else(|| self.corrupt(start))?);
                if let Ok(mut c) = self.cache.lock() {
                    *c = Some((b, Arc::clone(&block)));
                }
                block
            }
        };
        let src = Prefixed(&block)
            .nth((doc % BLOCK_DOCS) as usize)
            .flatten()
            .and_then(|s| std::str::from_utf8(s).ok())
            .ok_or_else(|| self.corrupt(self.blocks.get(&self.map, b).unwrap_or(0) as u64))?;
        Ok(src.to_string())
    }
}

/// The footer of a mapped segment, checked; the error is the offset of what is wrong.
fn read_footer(map: &[u8]) -> Result<Footer, u64> {
    let len = map.len();
    if len < MAGIC.len() + TAIL || &map[..MAGIC.len()] != MAGIC || &map[len - 8..] != MAGIC {
        return Err(0);
    }
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&map[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let sum_at = len - 16;
    if codec::checksum(&map[..sum_at]) != word(sum_at) {
        return Err(sum_at as u64);
    }
    let flen = word(len - TAIL) as usize;
    let fstart = (len - TAIL)
        .checked_sub(flen)
        .filter(|&s| s >= MAGIC.len())
        .ok_or((len - TAIL) as u64)?;
    serde_json::from_slice(&map[fstart..len - TAIL]).map_err(|_| fstart as u64)
}

fn open_column(
    map: &[u8],
    enc: &Enc,
    docs: u32,
    interner: &mut Interner,
    has_float: bool,
) -> Option<SealedCol> {
    let len = map.len() as u64;
    let section = |off: u64, n: u64, raw_len: u64| -> Option<Vec<u8>> {
        let bytes = map.get(off as usize..off.checked_add(n)? as usize)?;
        codec::inflate(bytes, usize::try_from(raw_len).ok()?)
    };
    match enc {
        Enc::Int {
            kind,
            scale,
            codes,
            lo,
            hi,
            full,
        } => (codes.fits(len) && codes.n == docs && *scale > 0).then_some(SealedCol::Int {
            kind: *kind,
            scale: *scale,
            codes: *codes,
            lo: *lo,
            hi: *hi,
            full: *full,
        }),
        Enc::Dict {
            off,
            len: n,
            raw_len,
            count,
            codes,
        } => {
            if !codes.fits(len) || codes.n != docs {
                return None;
            }
            let dict = section(*off, *n, *raw_len)?;
            let map = Prefixed(&dict)
                .map(|s| Some(interner.intern(std::str::from_utf8(s?).ok()?)))
                .collect::<Option<Vec<u32>>>()?;
            (map.len() == *count as usize).then_some(SealedCol::Dict { map, codes: *codes })
        }
        Enc::Raw {
            off,
            len: n,
            raw_len,
        } => {
            let raw = section(*off, *n, *raw_len)?;
            decode_raw(&raw, docs, interner, has_float).map(SealedCol::Mem)
        }
    }
}
