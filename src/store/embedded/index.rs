//! One index of the embedded store: its segment files on disk and its in-memory form.
//!
//! On disk an index is a folder holding `manifest.json`, its sealed segments
//! (`seg-00000002.col`, columnar and immutable, see `sealed.rs`) and its open segment, a
//! log (`seg-00000003.log`) of records, one per line:
//!
//! ```text
//! <16 hex digits: FNV-1a 64 of the rest of the line>\t<seq_no>\t<i|d>\t<id as JSON string>\t<source JSON>\n
//! ```
//!
//! `i` indexes (or overwrites) a document, `d` deletes it (the source is `null`). The checksum
//! lets a load tell a torn or corrupted record from a good one: a torn last record (a crash
//! in the middle of a write) is ignored and cut off before the next append; a bad record
//! anywhere else is corruption: it is counted, and every read of the index is refused
//! ([`StoreError::Corrupt`], naming the file, line and byte offset of the first one), while
//! appends still work.
//!
//! Documents take slots in segment order: the sealed segments' first, then the log's. The
//! log's documents are parsed once into in-memory columns (dotted field path -> typed values
//! per document), so a search scans flat vectors instead of walking JSON trees; their sources
//! stay on disk (a document keeps where its source text lies in the log, which is
//! append-only, so a recorded position stays valid). Once the log holds [`SEAL_DOCS`]
//! versions it is sealed: its live documents become a sealed segment and a new empty log
//! takes its place, so memory holds one log's worth of documents whatever the index's size.
//! Logs are read through a bounded buffer on load, never whole.

use super::super::{BulkDoc, FlatDocs, LeafValue, StoreError};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub(crate) use super::codec::{FastHasher, FastMap, FastSet};
pub(crate) use super::column::{Bits, Column, Interner, Kind, Val, Vals};
use super::sealed::id_key;
pub(crate) use super::sealed::Bounds;
use super::sealed::{self, Sealed, SegmentWriter};

/// Bytes per block of a [`TextArena`].
const ARENA_BLOCK: usize = 4 << 20;

/// Where a text lives in a [`TextArena`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextRef {
    block: u32,
    start: u32,
    len: u32,
}

/// Document ids kept in large blocks rather than one heap allocation each: half
/// a million small long-lived allocations interleaved with each bulk request's short-lived
/// JSON trees fragment the C allocator's heap until every `malloc` takes its slow path (the
/// cause of most of the ingest time before this arena).
#[derive(Default)]
pub(crate) struct TextArena {
    blocks: Vec<String>,
}

impl TextArena {
    /// Stores `s`; `None` when it is longer than 4 GiB.
    fn push(&mut self, s: &str) -> Option<TextRef> {
        let len = u32::try_from(s.len()).ok()?;
        let fits = self
            .blocks
            .last()
            .is_some_and(|b| b.capacity() - b.len() >= s.len());
        if !fits {
            self.blocks
                .push(String::with_capacity(ARENA_BLOCK.max(s.len())));
        }
        let block = self.blocks.len() - 1;
        let b = &mut self.blocks[block];
        let start = u32::try_from(b.len()).ok()?;
        b.push_str(s);
        Some(TextRef {
            block: block as u32,
            start,
            len,
        })
    }

    /// The text at `r`.
    #[inline]
    pub(crate) fn get(&self, r: TextRef) -> &str {
        let start = r.start as usize;
        self.blocks
            .get(r.block as usize)
            .and_then(|b| b.get(start..start + r.len as usize))
            .unwrap_or("")
    }
}

/// Where a document's source text (compact JSON) lies in a segment file.
#[derive(Debug, Clone, Copy)]
struct SourceRef {
    /// Position of the segment in [`IndexState::segments`].
    seg: u32,
    len: u32,
    offset: u64,
}

/// A document version of the open segment: its id in the index's arena, its source on disk.
struct DocEntry {
    id: TextRef,
    seq_no: u64,
    source: SourceRef,
}

/// Documents in the open segment (its write-ahead log) at which it is sealed into a
/// columnar segment: bounds what the open segment holds in memory (about 30 MB of columns
/// and ids for the demo's log lines).
pub(crate) const SEAL_DOCS: usize = 131_072;

/// Small sealed segments side by side at which they are merged (see
/// [`IndexState::merge_small`]).
const MERGE_AT: usize = 4;

/// Sealed documents whose ids one pass of a load's [`IndexState::resolve_sealed`] takes, on
/// average: its map then holds at most a few MB. Tests take a few dozen, so that every load
/// with sealed documents runs several passes.
#[cfg(not(test))]
const RESOLVE_IDS: usize = 1 << 18;
#[cfg(test)]
const RESOLVE_IDS: usize = 48;

/// A sealed segment and the first slot of its documents.
struct SealedSeg {
    seg: Sealed,
    base: u32,
}

/// Slots of live ids, keyed by a 64-bit hash of the id (no copy of the id per document);
/// an id whose hash is already taken by another id goes to `others`.
#[derive(Default)]
struct IdIndex {
    by_hash: FastMap<IdHash, u32>,
    others: FastMap<Box<str>, u32>,
}

/// A 64-bit hash of an id, held as two halves: beside a `u32` slot it makes a 12-byte map
/// entry where a `u64` key padded the pair to 16. The map has an entry per live document,
/// so it is the store's largest structure that grows with the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdHash([u32; 2]);

impl std::hash::Hash for IdHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.0[0]) | u64::from(self.0[1]) << 32);
    }
}

fn id_hash(id: &str) -> IdHash {
    use std::hash::Hasher;
    let mut h = FastHasher::default();
    h.write(id.as_bytes());
    let h = h.finish();
    IdHash([h as u32, (h >> 32) as u32])
}

/// A set of id keys (see [`id_key`]) that answers most misses from a bitmap of 2^20 bits
/// before its hash set: [`IndexState::resolve_pending`] asks it once per sealed document.
struct KeyFilter {
    bits: Vec<u64>,
    keys: FastSet<u32>,
}

impl KeyFilter {
    fn new(keys: impl Iterator<Item = u32>) -> Self {
        let mut f = KeyFilter {
            bits: vec![0; 1 << 14],
            keys: FastSet::default(),
        };
        for k in keys {
            f.bits[(k >> 18) as usize] |= 1 << ((k >> 12) & 63);
            f.keys.insert(k);
        }
        f
    }

    #[inline]
    fn may_hold(&self, k: u32) -> bool {
        self.bits[(k >> 18) as usize] & (1 << ((k >> 12) & 63)) != 0 && self.keys.contains(&k)
    }
}

/// What a segment record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Index,
    Delete,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    format: u32,
    generation: u64,
    segments: Vec<String>,
    primary_term: u64,
    /// Highest seq_no ever assigned before the last compaction (deleted records are gone).
    max_seq_no: u64,
}

/// Source of [`IndexState::version`]: unique across the process.
static VERSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_version() -> u64 {
    VERSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The primary term of every write: one process at a time owns a store directory.
pub(crate) const PRIMARY_TERM: u64 = 1;
const MANIFEST: &str = "manifest.json";

/// An index loaded in memory.
pub(crate) struct IndexState {
    pub(crate) name: String,
    /// Changes with every write (and differs between loads), so answers computed from one
    /// version can be reused while it holds.
    pub(crate) version: u64,
    dir: PathBuf,
    /// The sealed segments, oldest first; their documents take the first slots.
    sealed: Vec<SealedSeg>,
    /// The first slot of the open segment (the number of sealed documents).
    open_base: u32,
    /// The document versions of the open segment, by slot - `open_base`.
    docs: Vec<DocEntry>,
    /// Ids of `docs`.
    text: TextArena,
    /// Ids deleted by records of the open segment (kept as tombstones when it is sealed).
    open_deletes: Vec<String>,
    /// A read handle of each segment (by position in `segments`) once it exists on disk.
    readers: Vec<Option<File>>,
    /// Whether each slot holds the current version of a document.
    pub(crate) live: Bits,
    pub(crate) live_count: usize,
    /// The open segment's live documents by id. Sealed documents are not in it (an entry per
    /// document would grow with the index): a load finds which are live in bounded passes
    /// ([`IndexState::resolve_sealed`]), and the versions the log's records replace since
    /// are marked dead before the next read or seal ([`IndexState::resolve_pending`]).
    ids: IdIndex,
    /// Whether records written since the last [`IndexState::resolve_pending`] may replace
    /// sealed versions still marked live.
    unresolved: bool,
    pub(crate) columns: Columns,
    /// Reused buffer of one document's leaves.
    scratch: Vec<(u32, Val)>,
    /// Reused buffer of one document's values of one field.
    scratch_vals: Vec<Val>,
    /// Reused buffer of a field path while walking a document.
    path: String,
    /// Reused buffer of the records of one write.
    write_buf: Vec<u8>,
    next_seq: u64,
    generation: u64,
    segments: Vec<String>,
    /// Length of the active (last) segment up to its last good record.
    active_len: u64,
    /// Torn bytes found at the end of the active segment on load, cut before the next append.
    torn_tail: bool,
    /// The active segment, open for appending after the first append (checked then).
    active_file: Option<File>,
    /// Records skipped on load because their checksum did not match.
    pub(crate) skipped_records: usize,
    /// The first of them: segment file, line and byte offset.
    pub(crate) first_skipped: Option<(String, usize, u64)>,
}

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// FNV-1a, 64 bits: the record checksum.
pub(crate) fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Whether `s` has the shape of Elasticsearch's `strict_date_optional_time` (so dynamic
/// mapping would make it a `date`): `yyyy-MM-dd` optionally followed by `T...`.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 10 || (b.len() > 10 && b[10] != b'T') {
        return false;
    }
    b[0..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// A string as a value: a date when it has the shape of one, else an interned string.
fn str_val(s: &str, interner: &mut Interner) -> Val {
    if looks_like_date(s) {
        if let Some(ms) = fast_rfc3339(s.as_bytes()).or_else(|| crate::time::parse_timestamp(s)) {
            return Val::Date(ms);
        }
    }
    Val::Str(interner.intern(s))
}

/// Converts a JSON scalar to a value, interning strings.
#[cfg(test)]
pub(crate) fn scalar_val(v: &Value, interner: &mut Interner) -> Option<Val> {
    match v {
        Value::Number(n) => n.as_f64().map(Val::Num),
        Value::String(s) => Some(str_val(s, interner)),
        Value::Bool(b) => Some(Val::Bool(*b)),
        _ => None,
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The common `YYYY-MM-DDTHH:MM:SS[.fff]Z` / `±HH:MM` form, parsed without chrono;
/// `None` hands anything else to the general parser.
fn fast_rfc3339(b: &[u8]) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut n = 0i64;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + (c - b'0') as i64;
        }
        Some(n)
    };
    if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                ms = ms * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..3 {
            ms *= 10;
        }
    }
    let offset_min = match b.get(i..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let o = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi - offset_min) * 60_000 + sec * 1000 + ms)
}

/// Column ids by dotted field path, and the columns.
#[derive(Default)]
pub(crate) struct Columns {
    names: BTreeMap<String, u32>,
    ids: FastMap<String, u32>,
    /// The open segment's columns, by column id.
    cols: Vec<Column>,
    /// What is known of each column across all segments, by column id.
    meta: Vec<ColMeta>,
}

/// What is known of a column across all segments of an index.
#[derive(Default, Clone, Copy)]
struct ColMeta {
    /// Some value was a non-integral JSON number (a `double` field rather than a `long`).
    has_float: bool,
    /// The kind of the first value stored (in slot order).
    first: Option<Kind>,
}

impl Columns {
    /// The column id of a field path.
    pub(crate) fn id(&self, name: &str) -> Option<u32> {
        self.names.get(name).copied()
    }
    /// Whether column `id` holds non-integral numbers.
    pub(crate) fn has_float(&self, id: u32) -> bool {
        self.meta.get(id as usize).is_some_and(|m| m.has_float)
    }
    /// The Elasticsearch field type a field path answers like, from its first value (see
    /// [`Kind::type_name`]); `None` when no document holds a value.
    pub(crate) fn type_name(&self, name: &str) -> Option<&'static str> {
        let m = self.meta.get(self.id(name)? as usize)?;
        m.first.map(|k| k.type_name(m.has_float))
    }
    /// All field paths, sorted.
    pub(crate) fn names(&self) -> impl Iterator<Item = &String> {
        self.names.keys()
    }
    /// Field paths starting with `prefix`, sorted.
    pub(crate) fn with_prefix<'s>(&'s self, prefix: &'s str) -> impl Iterator<Item = &'s String> {
        use std::ops::Bound;
        self.names
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k)
    }
    /// The column id of a sealed segment's column, what it holds merged into the index's.
    fn register(&mut self, c: sealed::ColInfo) -> u32 {
        let id = self.id_for(c.name);
        let m = &mut self.meta[id as usize];
        m.has_float |= c.has_float;
        m.first = m.first.or(c.first);
        id
    }
    #[inline]
    fn id_for(&mut self, path: &str) -> u32 {
        if let Some(&i) = self.ids.get(path) {
            return i;
        }
        let i = self.cols.len() as u32;
        self.cols.push(Column::default());
        self.meta.push(ColMeta::default());
        self.names.insert(path.to_string(), i);
        self.ids.insert(path.to_string(), i);
        i
    }
}

/// Receives the leaves of one document as `(column id, value)` pairs.
struct Sink<'s> {
    cols: &'s mut Columns,
    interner: &'s mut Interner,
    out: &'s mut Vec<(u32, Val)>,
}

impl Sink<'_> {
    #[inline]
    fn num(&mut self, path: &str, f: f64, float: bool) {
        let id = self.cols.id_for(path);
        self.num_at(id, f, float);
    }
    #[inline]
    fn num_at(&mut self, id: u32, f: f64, float: bool) {
        if float {
            self.cols.cols[id as usize].has_float = true;
            self.cols.meta[id as usize].has_float = true;
        }
        self.out.push((id, Val::Num(f)));
    }
    #[inline]
    fn string(&mut self, path: &str, s: &str) {
        let id = self.cols.id_for(path);
        self.string_at(id, s);
    }
    #[inline]
    fn string_at(&mut self, id: u32, s: &str) {
        let v = str_val(s, self.interner);
        self.out.push((id, v));
    }
    #[inline]
    fn boolean(&mut self, path: &str, b: bool) {
        let id = self.cols.id_for(path);
        self.out.push((id, Val::Bool(b)));
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// Walks a parsed document: objects extend the dotted path, arrays contribute each element to
/// the same path (objects inside arrays are flattened too, like Elasticsearch's `object`
/// type), `null` is skipped.
fn walk_value(path: &mut String, v: &Value, sink: &mut Sink) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let len = path.len();
                push_key(path, k);
                walk_value(path, child, sink);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk_value(path, item, sink);
            }
        }
        Value::Null => {}
        Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                sink.num(path, f, n.is_f64());
            }
        }
        Value::String(s) => sink.string(path, s),
        Value::Bool(b) => sink.boolean(path, *b),
    }
}

/// The same walk straight from JSON text, without building a `Value` tree.
struct Walk<'p, 's, 'x> {
    path: &'p mut String,
    sink: &'p mut Sink<'s>,
    _x: std::marker::PhantomData<&'x ()>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Walk<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

struct KeySeed<'p>(&'p mut String);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        push_key(self.0, v);
        Ok(())
    }
}

impl<'de> serde::de::Visitor<'de> for Walk<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON document")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.sink.boolean(self.path, v);
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.sink.num(self.path, v as f64, false);
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.sink.num(self.path, v as f64, false);
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.sink.num(self.path, v, true);
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.sink.string(self.path, v);
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Walk {
                path: &mut *self.path,
                sink: &mut *self.sink,
                _x: std::marker::PhantomData,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        loop {
            let len = self.path.len();
            if map.next_key_seed(KeySeed(&mut *self.path))?.is_none() {
                break;
            }
            map.next_value_seed(Walk {
                path: &mut *self.path,
                sink: &mut *self.sink,
                _x: std::marker::PhantomData,
            })?;
            self.path.truncate(len);
        }
        Ok(())
    }
}

/// Parses JSON text into leaves; `false` if it is not valid JSON.
fn walk_text(text: &str, path: &mut String, sink: &mut Sink) -> bool {
    use serde::de::DeserializeSeed;
    path.clear();
    let mut de = serde_json::Deserializer::from_str(text);
    Walk {
        path,
        sink,
        _x: std::marker::PhantomData,
    }
    .deserialize(&mut de)
    .is_ok()
        && de.end().is_ok()
}

/// Checks an index name the way Elasticsearch does (and so that it is a safe folder name).
pub(crate) fn check_index_name(name: &str) -> Result<(), StoreError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.len() > 255
        || name.starts_with(['-', '_', '+'])
        || name.chars().any(|c| {
            c.is_uppercase()
                || matches!(
                    c,
                    '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ' ' | ',' | '#' | ':'
                )
        });
    if bad {
        return Err(StoreError::InvalidIndexName {
            name: name.to_string(),
        });
    }
    Ok(())
}

impl IndexState {
    /// An index with no documents whose files go in `dir` (nothing is written until the
    /// first write).
    fn empty(name: &str, dir: PathBuf) -> Self {
        IndexState {
            name: name.to_string(),
            version: next_version(),
            dir,
            sealed: Vec::new(),
            open_base: 0,
            docs: Vec::new(),
            text: TextArena::default(),
            open_deletes: Vec::new(),
            readers: Vec::new(),
            live: Bits::default(),
            live_count: 0,
            ids: IdIndex::default(),
            unresolved: false,
            columns: Columns::default(),
            scratch: Vec::new(),
            scratch_vals: Vec::new(),
            path: String::new(),
            write_buf: Vec::new(),
            next_seq: 0,
            generation: 0,
            segments: Vec::new(),
            active_len: 0,
            torn_tail: false,
            active_file: None,
            skipped_records: 0,
            first_skipped: None,
        }
    }

    /// Loads the index in `dir` (an empty index when the folder does not exist).
    pub(crate) fn load(
        name: &str,
        dir: PathBuf,
        interner: &mut Interner,
    ) -> Result<Self, StoreError> {
        let mut attempts = 0;
        loop {
            let (st, manifest, missing) = Self::load_once(name, dir.clone(), interner)?;
            if !missing || attempts >= 4 {
                return Ok(st);
            }
            // A listed segment is gone. Under the lock that is a crash right after a manifest
            // switch; for a read-only handle (no lock) the writer may have compacted meanwhile:
            // then the manifest has changed, and reading again gets the new segments.
            if fs::read(dir.join(MANIFEST)).ok() == manifest {
                return Ok(st);
            }
            attempts += 1;
        }
    }

    /// One pass of [`IndexState::load`]: the state, the manifest's bytes, and whether a
    /// segment the manifest lists was missing.
    fn load_once(
        name: &str,
        dir: PathBuf,
        interner: &mut Interner,
    ) -> Result<(Self, Option<Vec<u8>>, bool), StoreError> {
        let mut st = IndexState::empty(name, dir);
        let mpath = st.dir.join(MANIFEST);
        let manifest_bytes = match fs::read(&mpath) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((st, None, false)),
            Err(e) => return Err(io_err(&mpath, e)),
        };
        let manifest: Manifest =
            serde_json::from_slice(&manifest_bytes).map_err(|e| StoreError::Damaged {
                path: mpath.display().to_string(),
                problem: format!(
                    "not a tidewatch index manifest ({e}); expected JSON with `segments`"
                ),
            })?;
        let mut missing = false;
        st.generation = manifest.generation;
        st.next_seq = manifest.max_seq_no;
        let nseg = manifest.segments.len();
        for (i, seg) in manifest.segments.iter().enumerate() {
            if seg.contains(['/', '\\']) || seg.starts_with('.') {
                return Err(StoreError::Damaged {
                    path: mpath.display().to_string(),
                    problem: format!("segment name `{seg}` is not a plain file name"),
                });
            }
            let path = st.dir.join(seg);
            let file = match File::open(&path) {
                Ok(f) => f,
                // A segment listed but never written (crash right after the manifest).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    missing = true;
                    st.readers.push(None);
                    continue;
                }
                Err(e) => return Err(io_err(&path, e)),
            };
            if seg.ends_with(".col") {
                st.load_sealed(&path, &file, interner)?;
                st.readers.push(None);
                continue;
            }
            let len = file.metadata().map_err(|e| io_err(&path, e))?.len();
            let good = st.replay(i as u32, &path, &file, i + 1 == nseg, interner)?;
            st.readers.push(Some(file));
            if i + 1 == nseg {
                st.active_len = good;
                st.torn_tail = good < len;
            }
        }
        st.segments = manifest.segments;
        st.resolve_sealed();
        Ok((st, Some(manifest_bytes), missing))
    }

    /// Opens the sealed segment at `path`: its tombstones delete documents of older
    /// segments, then its documents take the next slots.
    fn load_sealed(
        &mut self,
        path: &Path,
        file: &File,
        interner: &mut Interner,
    ) -> Result<(), StoreError> {
        if !self.docs.is_empty() {
            return Err(StoreError::Damaged {
                path: path.display().to_string(),
                problem: "a sealed segment is listed after a log segment".into(),
            });
        }
        let columns = &mut self.columns;
        let opened = Sealed::open(&self.name, path, file, interner, |c| columns.register(c));
        let seg = match opened {
            Ok(seg) => seg,
            Err(sealed::OpenError::Corrupt(offset)) => {
                self.note_skipped(path, 0, offset);
                return Ok(());
            }
            Err(sealed::OpenError::Io(e)) => return Err(e),
        };
        self.next_seq = self.next_seq.max(seg.next_seq);
        let base = self.open_base;
        let n = seg.docs;
        seg.release_pages();
        self.sealed.push(SealedSeg { seg, base });
        self.open_base += n;
        // Live until `resolve_sealed` finds the versions later ones replaced or deleted.
        self.live.resize(self.open_base as usize, true);
        self.live_count += n as usize;
        Ok(())
    }

    /// After a load: marks dead the sealed documents that a later version or a tombstone
    /// replaced (a segment's tombstones apply to the segments before it; the log's records to
    /// every sealed one). Ids are taken in passes of [`RESOLVE_IDS`] or so, by [`id_key`],
    /// so the map a pass builds is bounded whatever the index's size; `ids` keeps only the
    /// log's documents afterwards.
    fn resolve_sealed(&mut self) {
        let sealed_docs = self.open_base as usize;
        if sealed_docs == 0 {
            return;
        }
        let passes = sealed_docs.div_ceil(RESOLVE_IDS) as u64;
        let pass_of = |key: u32| ((u64::from(key) * passes) >> 32) as u32;
        let open = std::mem::take(&mut self.ids);
        for pass in 0..passes as u32 {
            self.resolve_pass(|key| pass_of(key) == pass);
            self.ids.by_hash.clear();
            self.ids.others.clear();
        }
        self.ids = open;
        self.unresolved = false;
    }

    /// One pass of [`IndexState::resolve_sealed`] over the ids whose key `mine` takes, with
    /// `self.ids` empty at the start.
    fn resolve_pass(&mut self, mine: impl Fn(u32) -> bool) {
        for k in 0..self.sealed.len() {
            for t in 0..self.sealed[k].seg.tombstones.len() {
                if mine(id_key(&self.sealed[k].seg.tombstones[t])) {
                    let id = self.sealed[k].seg.tombstones[t].clone();
                    self.apply_delete(&id);
                }
            }
            let base = self.sealed[k].base;
            for d in 0..self.sealed[k].seg.docs {
                if !mine(self.sealed[k].seg.id_key(d)) {
                    continue;
                }
                let id = self.sealed[k].seg.id(d).into_owned();
                if let Some(old) = self.set_id_slot(&id, base + d) {
                    self.kill(old);
                }
            }
            // The pass read the segment's ids: give their pages back.
            self.sealed[k].seg.release_pages();
        }
        // A record of the log, index or delete, replaces any sealed version of its id.
        for i in 0..self.docs.len() + self.open_deletes.len() {
            let id = match self.docs.get(i) {
                Some(d) => self.text.get(d.id),
                None => &self.open_deletes[i - self.docs.len()],
            };
            if mine(id_key(id)) {
                let id = id.to_owned();
                if let Some(old) = self.remove_id(&id) {
                    self.kill(old);
                }
            }
        }
    }

    /// Drops the pages of the sealed segments' mappings from the resident set (see
    /// [`Sealed::release_pages`]): what a request read of them would otherwise stay counted
    /// in it, and a request over the whole index (a data extent) reads every segment.
    pub(crate) fn release_pages(&self) {
        for s in &self.sealed {
            s.seg.release_pages();
        }
    }

    /// Marks the version in `slot` dead.
    fn kill(&mut self, slot: u32) {
        if self.live.get(slot as usize) {
            self.live.set(slot as usize, false);
            self.live_count -= 1;
        }
    }

    /// Marks dead the sealed versions that the log's records (index or delete) replaced
    /// since the last call: one pass over the sealed ids' keys (see [`id_key`]), comparing the
    /// id itself only when its key is one of the log's. Runs before a read, a seal and
    /// anything else that counts on the sealed documents' live flags, not per write (an
    /// `ingest` writing a log's lines pays it once a seal).
    pub(crate) fn resolve_pending(&mut self) {
        if !std::mem::take(&mut self.unresolved) {
            return;
        }
        let keys = KeyFilter::new(
            self.docs
                .iter()
                .map(|d| id_key(self.text.get(d.id)))
                .chain(self.open_deletes.iter().map(|id| id_key(id))),
        );
        let deleted: FastSet<&str> = self.open_deletes.iter().map(String::as_str).collect();
        let mut dead = Vec::new();
        for s in &self.sealed {
            for d in 0..s.seg.docs {
                let slot = s.base + d;
                if !self.live.get(slot as usize) || !keys.may_hold(s.seg.id_key(d)) {
                    continue;
                }
                let id = s.seg.id(d);
                if self.id_slot(&id).is_some() || deleted.contains(&*id) {
                    dead.push(slot);
                }
            }
            s.seg.release_pages();
        }
        for slot in dead {
            self.kill(slot);
        }
    }

    /// Whether records written since the last [`IndexState::resolve_pending`] could make
    /// the dead versions outnumber the live documents (what calls for a compaction).
    pub(crate) fn may_be_compactable(&self, min_dead: usize) -> bool {
        let pending = if self.unresolved {
            self.docs.len() + self.open_deletes.len()
        } else {
            0
        };
        let dead = self.dead_count() + pending;
        dead > min_dead && dead > self.live_count.saturating_sub(pending)
    }

    /// Whether [`IndexState::resolve_pending`] has work left.
    pub(crate) fn unresolved(&self) -> bool {
        self.unresolved
    }

    fn note_skipped(&mut self, path: &Path, line: usize, offset: u64) {
        self.skipped_records += 1;
        if self.first_skipped.is_none() {
            self.first_skipped = Some((path.display().to_string(), line, offset));
        }
    }

    /// Applies the records of segment number `seg`, read through a bounded buffer; returns
    /// the length of the good prefix.
    fn replay(
        &mut self,
        seg: u32,
        path: &Path,
        file: &File,
        is_last: bool,
        interner: &mut Interner,
    ) -> Result<u64, StoreError> {
        let file_len = file.metadata().map_err(|e| io_err(path, e))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        let (mut pos, mut good_end, mut line_no) = (0u64, 0u64, 0usize);
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| io_err(path, e))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if line.last() != Some(&b'\n') {
                // No newline: the last write was torn. Ignore it.
                tracing::warn!(file = %path.display(), line = line_no, "Ignoring a torn record at the end of the segment");
                break;
            }
            let next = pos + n as u64;
            let body = &line[..n - 1];
            let at_tail = next >= file_len;
            match parse_record(body) {
                Some((seq, op, id, src)) => {
                    self.next_seq = self.next_seq.max(seq + 1);
                    let source = SourceRef {
                        seg,
                        len: u32::try_from(src.len()).unwrap_or(u32::MAX),
                        offset: pos + (src.as_ptr() as usize - body.as_ptr() as usize) as u64,
                    };
                    let applied = match op {
                        Op::Index => {
                            self.leaves_of_text(src, interner)
                                && self.apply_index(&id, seq, source).is_some()
                        }
                        Op::Delete => {
                            self.apply_delete(&id);
                            self.open_deletes.push(id.into_owned());
                            true
                        }
                    };
                    if !applied {
                        self.note_skipped(path, line_no, pos);
                    }
                    good_end = next;
                }
                None if is_last && at_tail => {
                    tracing::warn!(file = %path.display(), line = line_no, "Ignoring a torn record at the end of the segment");
                }
                None => {
                    tracing::warn!(file = %path.display(), line = line_no, "Skipping a record whose checksum does not match");
                    self.note_skipped(path, line_no, pos);
                    good_end = next;
                }
            }
            pos = next;
        }
        Ok(good_end)
    }

    /// Deletes files a crash left behind: segments the manifest does not list (a compaction
    /// that did not finish, or finished without removing the old ones) and a manifest draft.
    pub(crate) fn remove_orphans(&self) {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let orphan = (name.starts_with("seg-")
                && (name.ends_with(".log") || name.ends_with(".col"))
                && !self.segments.contains(&name))
                || name == "manifest.json.tmp";
            if orphan {
                if let Err(err) = fs::remove_file(e.path()) {
                    tracing::warn!(file = %e.path().display(), error = %err, "Could not remove a leftover file");
                }
            }
        }
    }

    /// The sealed segment holding `slot`, and the document's position in it.
    #[inline]
    fn sealed_of(&self, slot: u32) -> Option<(&Sealed, u32)> {
        let i = self
            .sealed
            .partition_point(|s| s.base <= slot)
            .checked_sub(1)?;
        let s = self.sealed.get(i)?;
        let doc = slot - s.base;
        (doc < s.seg.docs).then_some((&s.seg, doc))
    }

    /// The open segment's entry of `slot`.
    #[inline]
    fn open_doc(&self, slot: u32) -> Option<&DocEntry> {
        self.docs.get(slot.checked_sub(self.open_base)? as usize)
    }

    /// The id of the document version in `slot`.
    #[inline]
    pub(crate) fn doc_id(&self, slot: u32) -> Cow<'_, str> {
        if slot >= self.open_base {
            return Cow::Borrowed(self.open_doc(slot).map_or("", |d| self.text.get(d.id)));
        }
        self.sealed_of(slot)
            .map_or(Cow::Borrowed(""), |(s, d)| s.id(d))
    }

    /// The `seq_no` of the document version in `slot`.
    pub(crate) fn seq_no(&self, slot: u32) -> u64 {
        match self.open_doc(slot) {
            Some(d) => d.seq_no,
            None => self.sealed_of(slot).map_or(0, |(s, d)| s.seq(d)),
        }
    }

    /// The index's slots by segment (sealed ones, then the open one), each with what column
    /// `col` holds there, so a query can skip or take a segment whole.
    pub(crate) fn spans(&self, col: u32) -> Vec<(std::ops::Range<u32>, Bounds)> {
        let mut out: Vec<_> = self
            .sealed
            .iter()
            .map(|s| (s.base..s.base + s.seg.docs, s.seg.bounds(col)))
            .collect();
        out.push((self.open_base..self.live.len() as u32, Bounds::Unknown));
        out
    }

    /// The values of column `col` in `slot`.
    #[inline]
    pub(crate) fn values(&self, col: u32, slot: u32) -> Vals<'_> {
        if slot >= self.open_base {
            return match self.columns.cols.get(col as usize) {
                Some(c) => Vals::Slice(c.values(slot - self.open_base)),
                None => Vals::NONE,
            };
        }
        self.sealed_of(slot)
            .map_or(Vals::NONE, |(s, d)| s.values(col, d))
    }

    /// The source (compact JSON) of the document version in `slot`, read from its segment.
    pub(crate) fn doc_source(&self, slot: u32) -> Result<String, StoreError> {
        let mut out = String::new();
        if let Some(d) = self.open_doc(slot) {
            self.read_source(d.source, &mut out)?;
        } else if let Some((s, d)) = self.sealed_of(slot) {
            out = s.source(d)?;
        }
        Ok(out)
    }

    /// Reads the source text at `r` into `out` (replacing what it held).
    fn read_source(&self, r: SourceRef, out: &mut String) -> Result<(), StoreError> {
        let mut window = SourceWindow::default();
        *out = self.read_window(r, &mut window, 0)?.to_owned();
        Ok(())
    }

    /// The source text at `r`, read through `window`: when it is not there, the window is
    /// refilled from `r` on with at least `ahead` bytes (reading a run of sources in file
    /// order, as a seal does, takes one read a window instead of one a source).
    fn read_window<'w>(
        &self,
        r: SourceRef,
        window: &'w mut SourceWindow,
        ahead: usize,
    ) -> Result<&'w str, StoreError> {
        let seg = self
            .segments
            .get(r.seg as usize)
            .map_or("?", String::as_str);
        let path = self.dir.join(seg);
        let end = r.offset + u64::from(r.len);
        let inside = window.seg == r.seg
            && r.offset >= window.start
            && end <= window.start + window.bytes.len() as u64;
        if !inside {
            let Some(Some(file)) = self.readers.get(r.seg as usize) else {
                return Err(StoreError::Unavailable(format!(
                    "{}: segment is not open for reading",
                    path.display()
                )));
            };
            window.seg = r.seg;
            window.start = r.offset;
            window.bytes.resize(ahead.max(r.len as usize), 0);
            let got =
                read_at_most(file, &mut window.bytes, r.offset).map_err(|e| io_err(&path, e))?;
            window.bytes.truncate(got);
            if got < r.len as usize {
                let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
                return Err(io_err(&path, eof));
            }
        }
        let from = (r.offset - window.start) as usize;
        std::str::from_utf8(&window.bytes[from..from + r.len as usize]).map_err(|_| {
            StoreError::Unavailable(format!(
                "{}: the source at byte {} is not UTF-8 (the file changed under the store)",
                path.display(),
                r.offset
            ))
        })
    }

    /// The slot last recorded for `id` (live or not).
    fn id_slot(&self, id: &str) -> Option<u32> {
        match self.ids.by_hash.get(&id_hash(id)) {
            Some(&s) if self.doc_id(s) == id => Some(s),
            _ => self.ids.others.get(id).copied(),
        }
    }

    /// Records `slot` (whose entry is already in `docs`) as the current one of `id`; returns
    /// the previous slot.
    fn set_id_slot(&mut self, id: &str, slot: u32) -> Option<u32> {
        let h = id_hash(id);
        match self.ids.by_hash.get(&h).copied() {
            Some(s) if s != slot && self.doc_id(s) == id => self.ids.by_hash.insert(h, slot),
            Some(_) => self.ids.others.insert(id.into(), slot),
            None => match self.ids.others.get_mut(id) {
                Some(s) => Some(std::mem::replace(s, slot)),
                None => self.ids.by_hash.insert(h, slot),
            },
        }
    }

    /// Forgets `id`; returns its slot.
    fn remove_id(&mut self, id: &str) -> Option<u32> {
        let h = id_hash(id);
        match self.ids.by_hash.get(&h).copied() {
            Some(s) if self.doc_id(s) == id => self.ids.by_hash.remove(&h),
            _ => self.ids.others.remove(id),
        }
    }

    /// Records a new version of document `id` whose leaves are in `self.scratch` and whose
    /// source lies at `source`; `None` (nothing recorded) when the id is too large for the
    /// arena or the source for a [`SourceRef`].
    fn apply_index(&mut self, id: &str, seq_no: u64, source: SourceRef) -> Option<u32> {
        let local = self.docs.len() as u32;
        let slot = self.open_base + local;
        let id_ref = self.text.push(id).filter(|_| source.len < u32::MAX);
        let Some(id_ref) = id_ref else {
            self.scratch.clear();
            return None;
        };
        self.docs.push(DocEntry {
            id: id_ref,
            seq_no,
            source,
        });
        if let Some(old) = self.set_id_slot(id, slot) {
            self.kill(old);
        }
        // A sealed version of `id` is left for `resolve_pending`.
        self.unresolved |= self.open_base > 0;
        self.live.push(true);
        self.live_count += 1;
        // Group leaves by column (a path repeats for arrays), keeping document order.
        let leaves = &mut self.scratch;
        leaves.sort_by_key(|(c, _)| *c);
        let mut i = 0;
        while i < leaves.len() {
            let c = leaves[i].0;
            let mut j = i + 1;
            while j < leaves.len() && leaves[j].0 == c {
                j += 1;
            }
            let vals = &mut self.scratch_vals;
            vals.clear();
            vals.extend(leaves[i..j].iter().map(|(_, v)| *v));
            let meta = &mut self.columns.meta[c as usize];
            meta.first = meta.first.or(Some(Kind::of(vals[0])));
            self.columns.cols[c as usize].set(local, vals);
            i = j;
        }
        leaves.clear();
        Some(slot)
    }

    /// Collects a parsed document's leaves into `self.scratch`.
    fn leaves_of_value(&mut self, value: &Value, interner: &mut Interner) {
        self.scratch.clear();
        let mut sink = Sink {
            cols: &mut self.columns,
            interner,
            out: &mut self.scratch,
        };
        self.path.clear();
        walk_value(&mut self.path, value, &mut sink);
    }

    /// Collects a JSON text's leaves into `self.scratch`; `false` if it is not JSON.
    fn leaves_of_text(&mut self, text: &str, interner: &mut Interner) -> bool {
        self.scratch.clear();
        let mut sink = Sink {
            cols: &mut self.columns,
            interner,
            out: &mut self.scratch,
        };
        let ok = walk_text(text, &mut self.path, &mut sink);
        if !ok {
            self.scratch.clear();
        }
        ok
    }

    fn apply_delete(&mut self, id: &str) -> bool {
        if let Some(slot) = self.remove_id(id) {
            if self.live.get(slot as usize) {
                self.live.set(slot as usize, false);
                self.live_count -= 1;
                return true;
            }
        }
        false
    }

    /// The slot of the live document `id`: in the log through `ids`, else the sealed
    /// segments are searched one id key after the other (their live flags must be resolved,
    /// see [`IndexState::resolve_pending`]).
    pub(crate) fn slot_of(&self, id: &str) -> Option<u32> {
        let found = self.id_slot(id).filter(|&s| self.live.get(s as usize));
        if found.is_some() {
            return found;
        }
        let key = id_key(id);
        self.sealed.iter().find_map(|s| {
            (0..s.seg.docs).find_map(|d| {
                let slot = s.base + d;
                let hit =
                    self.live.get(slot as usize) && s.seg.id_key(d) == key && s.seg.id(d) == id;
                hit.then_some(slot)
            })
        })
    }

    /// The next sequence number to assign.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Number of superseded or deleted document versions still held.
    pub(crate) fn dead_count(&self) -> usize {
        self.live.len() - self.live_count
    }

    /// Appends index records for `docs` (each with its id set and an object source) durably
    /// (one fsync), then applies them. Each source is serialised once, straight into the
    /// record buffer, and its text is kept from there. Returns the seq_no of each.
    pub(crate) fn write_docs(
        &mut self,
        docs: Vec<BulkDoc>,
        interner: &mut Interner,
    ) -> Result<Vec<u64>, StoreError> {
        self.write_records(&mut TreeDocs(&docs, self.name.clone()), interner)
    }

    /// [`IndexState::write_docs`] of the documents `keep` of a [`FlatDocs`] batch: each
    /// source is copied into its record as it is, and the leaves into the columns.
    pub(crate) fn write_flat(
        &mut self,
        docs: &FlatDocs,
        keep: &[usize],
        interner: &mut Interner,
    ) -> Result<Vec<u64>, StoreError> {
        let mut records = FlatRecords {
            docs,
            keep,
            cols: vec![u32::MAX; docs.fields.len()],
        };
        self.write_records(&mut records, interner)
    }

    /// Appends the records of `docs` durably (one fsync), then indexes them.
    fn write_records(
        &mut self,
        docs: &mut impl Records,
        interner: &mut Interner,
    ) -> Result<Vec<u64>, StoreError> {
        let mut buf = std::mem::take(&mut self.write_buf);
        buf.clear();
        let count = docs.count();
        let mut spans = Vec::with_capacity(count);
        let mut seqs = Vec::with_capacity(count);
        for k in 0..count {
            let seq = self.next_seq + k as u64;
            spans.push(docs.encode(&mut buf, k, seq)?);
            seqs.push(seq);
        }
        if spans.iter().any(|r| r.len() > u32::MAX as usize) {
            self.write_buf = buf;
            return Err(StoreError::TooLarge {
                what: format!("a document for index `{}`", self.name),
                limit: "a document is at most 4 GiB".into(),
            });
        }
        let (path, to_sync, start) = match self.write_segment(&buf) {
            Ok(written) => written,
            Err(e) => {
                self.write_buf = buf;
                return Err(e);
            }
        };
        self.next_seq += count as u64;
        self.version = next_version();
        // The fsync runs beside the in-memory indexing of the same documents; the call returns
        // only once both are done. Should the fsync fail, the documents are written and
        // searchable but their durability is unknown, and the error is returned.
        let synced = std::thread::scope(|scope| {
            let sync = scope.spawn(move || to_sync.sync_data());
            let seg = self.segments.len().saturating_sub(1) as u32;
            for (k, (seq, span)) in seqs.iter().zip(spans).enumerate() {
                docs.leaves(k, self, interner);
                let source = SourceRef {
                    seg,
                    len: span.len() as u32,
                    offset: start + span.start as u64,
                };
                // Sizes were checked before the write, so every document is recorded.
                let _ = self.apply_index(docs.id(k), *seq, source);
            }
            sync.join()
        });
        match synced {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(io_err(&path, e)),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "{}: the fsync thread panicked",
                    path.display()
                )))
            }
        }
        // Keep a modest buffer for the next call; a huge one goes back to the allocator.
        if buf.capacity() <= 16 << 20 {
            self.write_buf = buf;
        }
        Ok(seqs)
    }

    /// Deletes the live documents in `slots` durably; returns how many were deleted.
    pub(crate) fn delete_slots(&mut self, slots: &[u32]) -> Result<u64, StoreError> {
        self.resolve_pending();
        let slots: Vec<u32> = slots
            .iter()
            .copied()
            .filter(|&s| self.live.get(s as usize))
            .collect();
        let ids: Vec<String> = slots.iter().map(|&s| self.doc_id(s).into_owned()).collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let mut buf = Vec::new();
        for (k, id) in ids.iter().enumerate() {
            encode_record(&mut buf, self.next_seq + k as u64, Op::Delete, id, "null");
        }
        self.append(&buf)?;
        self.next_seq += ids.len() as u64;
        self.version = next_version();
        // A sealed slot is not in `ids`: it is marked dead here, the log's in `ids` too.
        for (&slot, id) in slots.iter().zip(ids) {
            if slot >= self.open_base {
                self.remove_id(&id);
            }
            self.kill(slot);
            self.open_deletes.push(id);
        }
        Ok(slots.len() as u64)
    }

    /// Deletes the segment files the manifest just written (`listed`) no longer names; a
    /// file left behind is only disk, so a failure is a warning.
    fn remove_unlisted(&self, listed: &[String]) {
        for old in &self.segments {
            if !listed.contains(old) {
                let p = self.dir.join(old);
                if let Err(e) = fs::remove_file(&p) {
                    tracing::warn!(file = %p.display(), error = %e, "Could not remove a replaced segment");
                }
            }
        }
    }

    fn write_manifest(&self, segments: &[String], generation: u64) -> Result<(), StoreError> {
        let m = Manifest {
            format: 1,
            generation,
            segments: segments.to_vec(),
            primary_term: PRIMARY_TERM,
            max_seq_no: self.next_seq,
        };
        let tmp = self.dir.join("manifest.json.tmp");
        let body = serde_json::to_vec_pretty(&m)?;
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(&body).map_err(|e| io_err(&tmp, e))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        let dst = self.dir.join(MANIFEST);
        fs::rename(&tmp, &dst).map_err(|e| io_err(&dst, e))?;
        sync_dir(&self.dir)
    }

    /// Appends bytes to the active segment and fsyncs.
    fn append(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let (path, f, _) = self.write_segment(bytes)?;
        f.sync_data().map_err(|e| io_err(&path, e))
    }

    /// Appends bytes to the active segment without syncing; returns its path, a handle to
    /// sync it with and the offset the bytes start at.
    fn write_segment(&mut self, bytes: &[u8]) -> Result<(PathBuf, File, u64), StoreError> {
        if self.segments.is_empty() {
            fs::create_dir_all(&self.dir).map_err(|e| io_err(&self.dir, e))?;
            if let Some(parent) = self.dir.parent() {
                sync_dir(parent)?;
            }
            let seg = segment_name(self.generation + 1);
            self.write_manifest(std::slice::from_ref(&seg), self.generation + 1)?;
            self.generation += 1;
            self.segments.push(seg);
            self.readers.push(None);
            self.active_len = 0;
            self.torn_tail = false;
            self.active_file = None;
        }
        let path = self
            .dir
            .join(self.segments.last().map(String::as_str).unwrap_or_default());
        let mut f = match self.active_file.take() {
            Some(f) => f,
            None => {
                let f = OpenOptions::new()
                    .create(true)
                    .read(true)
                    .write(true)
                    .truncate(false)
                    .open(&path)
                    .map_err(|e| io_err(&path, e))?;
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                if self.torn_tail || len != self.active_len {
                    // Cut a torn tail (or anything past the last good record) first.
                    f.set_len(self.active_len).map_err(|e| io_err(&path, e))?;
                    self.torn_tail = false;
                }
                f
            }
        };
        use std::io::{Seek, SeekFrom};
        f.seek(SeekFrom::Start(self.active_len))
            .map_err(|e| io_err(&path, e))?;
        f.write_all(bytes).map_err(|e| io_err(&path, e))?;
        let to_sync = f.try_clone().map_err(|e| io_err(&path, e))?;
        if let Some(reader @ None) = self.readers.last_mut() {
            *reader = Some(f.try_clone().map_err(|e| io_err(&path, e))?);
        }
        let start = self.active_len;
        self.active_len += bytes.len() as u64;
        // Kept only after a complete write: after a failure the next append opens the file
        // again and cuts what the failed one left past the last good record.
        self.active_file = Some(f);
        Ok((path, to_sync, start))
    }

    /// Number of document versions in the open segment.
    pub(crate) fn open_docs(&self) -> usize {
        self.docs.len()
    }

    /// Seals the open segment: its live documents (and the ids its records deleted) go to a
    /// new columnar segment, and a new empty log takes its place. Skipped while a segment is
    /// corrupt (its documents could not be carried over). Only the new segment is opened:
    /// the older ones and the ids of their documents stay as they are.
    pub(crate) fn seal(&mut self, interner: &mut Interner) -> Result<(), StoreError> {
        if self.docs.is_empty() || self.first_skipped.is_some() {
            return Ok(());
        }
        // The log's records must have replaced their sealed versions before the log goes.
        self.resolve_pending();
        let slots: Vec<u32> = (self.open_base..self.live.len() as u32)
            .filter(|&s| self.live.get(s as usize))
            .collect();
        let mut tombstones = self.open_deletes.clone();
        tombstones.sort_unstable();
        tombstones.dedup();
        let generation = self.generation + 1;
        let name = sealed_name(generation);
        let path = self.dir.join(&name);
        self.write_sealed(&path, &slots, tombstones, interner)?;
        let mut segs: Vec<String> = self.sealed.iter().map(|s| s.seg.file.clone()).collect();
        segs.push(name);
        let (segs, generation) = self.switch_files(segs, generation)?;
        if let Err(e) = self.adopt_sealed(&path, &slots, segs, generation, interner) {
            tracing::warn!(file = %path.display(), error = %e, "Reloading the index after a seal");
            *self = IndexState::load(&self.name, self.dir.clone(), interner)?;
        }
        Ok(())
    }

    /// After a seal's manifest switch: the open segment's live documents (`slots`, in slot
    /// order) are now the sealed segment at `path`, and the last of `segs` is the new empty
    /// log. Their ids point to their new slots, the in-memory open segment is emptied, and
    /// the new segment is opened.
    fn adopt_sealed(
        &mut self,
        path: &Path,
        slots: &[u32],
        segs: Vec<String>,
        generation: u64,
        interner: &mut Interner,
    ) -> Result<(), StoreError> {
        let base = self.open_base;
        // `ids` holds the log's documents only, and the log is now empty.
        self.ids = IdIndex::default();
        self.live.truncate(base as usize);
        self.live_count -= slots.len();
        self.docs.clear();
        self.text = TextArena::default();
        self.open_deletes.clear();
        for c in &mut self.columns.cols {
            *c = Column::default();
        }
        self.readers = segs.iter().map(|_| None).collect();
        self.segments = segs;
        self.generation = generation;
        self.active_len = 0;
        self.torn_tail = false;
        self.active_file = None;
        self.version = next_version();
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        let columns = &mut self.columns;
        let seg = Sealed::open(&self.name, path, &file, interner, |c| columns.register(c))
            .map_err(|e| match e {
                sealed::OpenError::Corrupt(offset) => StoreError::Unavailable(format!(
                    "{}: the segment just written fails its check at byte {offset}",
                    path.display()
                )),
                sealed::OpenError::Io(e) => e,
            })?;
        if seg.docs as usize != slots.len() {
            return Err(StoreError::Unavailable(format!(
                "{}: holds {} documents, {} were written",
                path.display(),
                seg.docs,
                slots.len()
            )));
        }
        seg.release_pages();
        self.sealed.push(SealedSeg { seg, base });
        self.open_base = base + slots.len() as u32;
        self.live.resize(self.open_base as usize, true);
        self.live_count += slots.len();
        Ok(())
    }

    /// Rewrites the live documents into new sealed segments (document versions, seq_no, are
    /// kept) and an empty log, then reloads from them. Skipped while a segment is corrupt.
    pub(crate) fn compact(&mut self, interner: &mut Interner) -> Result<(), StoreError> {
        if self.segments.is_empty() || self.first_skipped.is_some() {
            return Ok(());
        }
        self.resolve_pending();
        let live: Vec<u32> = (0..self.live.len() as u32)
            .filter(|&s| self.live.get(s as usize))
            .collect();
        let mut generation = self.generation;
        let mut segs = Vec::new();
        for chunk in live.chunks(SEAL_DOCS) {
            generation += 1;
            let name = sealed_name(generation);
            self.write_sealed(&self.dir.join(&name), chunk, Vec::new(), interner)?;
            segs.push(name);
        }
        self.switch_to(segs, generation, interner)
    }

    /// The sealed segments with their slots, oldest first.
    fn sealed_spans(&self) -> Vec<std::ops::Range<u32>> {
        self.sealed
            .iter()
            .map(|s| s.base..s.base + s.seg.docs)
            .collect()
    }

    /// Rewrites the sealed segments at positions `run` into new ones holding only their live
    /// documents, in slot order, with the union of their tombstones (which apply to the
    /// segments before them); the other segments and the log stay as they are. The manifest
    /// switch is atomic, as a seal's, and the index is then loaded again. Skipped while a
    /// segment is corrupt.
    pub(crate) fn rewrite_sealed(
        &mut self,
        run: std::ops::Range<usize>,
        interner: &mut Interner,
    ) -> Result<(), StoreError> {
        let spans = self.sealed_spans();
        if run.is_empty() || run.end > spans.len() || self.first_skipped.is_some() {
            return Ok(());
        }
        self.resolve_pending();
        let slots: Vec<u32> = (spans[run.start].start..spans[run.end - 1].end)
            .filter(|&s| self.live.get(s as usize))
            .collect();
        let mut tombstones: Vec<String> = self.sealed[run.clone()]
            .iter()
            .flat_map(|s| s.seg.tombstones.iter().cloned())
            .collect();
        tombstones.sort_unstable();
        tombstones.dedup();
        let mut generation = self.generation;
        let mut new = Vec::new();
        let mut chunks: Vec<&[u32]> = slots.chunks(SEAL_DOCS).collect();
        if chunks.is_empty() && !tombstones.is_empty() {
            chunks.push(&[]);
        }
        for chunk in chunks {
            generation += 1;
            let name = sealed_name(generation);
            let t = std::mem::take(&mut tombstones);
            self.write_sealed(&self.dir.join(&name), chunk, t, interner)?;
            new.push(name);
        }
        self.switch_keeping_log(run, new, generation, interner)
    }

    /// Drops the oldest sealed segments whose every document has a value of column `col`
    /// below `cutoff` (as a number or epoch milliseconds), as a prefix: a segment after a
    /// kept one stays, since dropping it could bring back an older version its documents
    /// replaced. Returns how many live documents went with them.
    pub(crate) fn drop_older_segments(
        &mut self,
        col: u32,
        cutoff: f64,
        interner: &mut Interner,
    ) -> Result<u64, StoreError> {
        if self.first_skipped.is_some() {
            return Ok(0);
        }
        let old = |s: &SealedSeg| match s.seg.bounds(col) {
            Bounds::Range { hi, full, .. } => full && hi.as_f64().is_some_and(|h| h < cutoff),
            _ => false,
        };
        let n = self.sealed.iter().take_while(|s| old(s)).count();
        if n == 0 {
            return Ok(0);
        }
        self.resolve_pending();
        let end = self.sealed_spans()[n - 1].end as usize;
        let dropped = (0..end).filter(|&s| self.live.get(s)).count() as u64;
        self.switch_keeping_log(0..n, Vec::new(), self.generation, interner)?;
        Ok(dropped)
    }

    /// Lists `new` in place of the sealed segments at positions `run`, keeping the others and
    /// the log: the manifest switch is atomic (write, fsync, rename), then the segments no
    /// longer listed are removed and the index is loaded again.
    fn switch_keeping_log(
        &mut self,
        run: std::ops::Range<usize>,
        new: Vec<String>,
        generation: u64,
        interner: &mut Interner,
    ) -> Result<(), StoreError> {
        let names: Vec<String> = self.sealed.iter().map(|s| s.seg.file.clone()).collect();
        let mut segs: Vec<String> = names[..run.start].to_vec();
        segs.extend(new);
        segs.extend_from_slice(&names[run.end..]);
        segs.extend(
            self.segments
                .iter()
                .filter(|s| s.ends_with(".log"))
                .cloned(),
        );
        let generation = generation + 1;
        self.write_manifest(&segs, generation)?;
        self.remove_unlisted(&segs);
        *self = IndexState::load(&self.name, self.dir.clone(), interner)?;
        Ok(())
    }

    /// Merges small sealed segments (fewer than a quarter of [`SEAL_DOCS`] documents each)
    /// once [`MERGE_AT`] of them lie side by side: each `refresh` of a results index seals a
    /// few thousand documents, and a request pays per segment. Only neighbours are merged,
    /// so documents keep their order.
    pub(crate) fn merge_small(&mut self, interner: &mut Interner) -> Result<(), StoreError> {
        let small = |r: &std::ops::Range<u32>| ((r.end - r.start) as usize) < SEAL_DOCS / 4;
        let spans = self.sealed_spans();
        let mut best: Option<std::ops::Range<usize>> = None;
        let mut start = 0;
        for i in 0..=spans.len() {
            if i < spans.len() && small(&spans[i]) {
                continue;
            }
            if i - start >= MERGE_AT {
                best = Some(start..i);
            }
            start = i + 1;
        }
        match best {
            Some(run) => self.rewrite_sealed(run, interner),
            None => Ok(()),
        }
    }

    /// Positions of the sealed segments that may hold a value of column `col` below `cutoff`,
    /// from the first to the last of them (the segments a prune deletes from).
    pub(crate) fn sealed_reaching_below(&self, col: u32, cutoff: f64) -> std::ops::Range<usize> {
        let reach: Vec<usize> = (0..self.sealed.len())
            .filter(|&i| match self.sealed[i].seg.bounds(col) {
                Bounds::Absent => false,
                Bounds::Range { lo, .. } => lo.as_f64().is_none_or(|l| l < cutoff),
                Bounds::Unknown => true,
            })
            .collect();
        match (reach.first(), reach.last()) {
            (Some(&a), Some(&b)) => a..b + 1,
            _ => 0..0,
        }
    }

    /// Writes the documents in `slots` as a sealed segment at `path`.
    fn write_sealed(
        &self,
        path: &Path,
        slots: &[u32],
        tombstones: Vec<String>,
        interner: &Interner,
    ) -> Result<(), StoreError> {
        let mut w = SegmentWriter::new();
        let mut window = SourceWindow::default();
        for &slot in slots {
            let id = self.doc_id(slot);
            match self.open_doc(slot) {
                Some(d) => {
                    let src = self.read_window(d.source, &mut window, SOURCE_WINDOW)?;
                    w.doc(&id, self.seq_no(slot), src);
                }
                None => w.doc(&id, self.seq_no(slot), &self.doc_source(slot)?),
            }
        }
        for (name, &id) in &self.columns.names {
            let mut col = Column::new(self.columns.has_float(id));
            let mut any = false;
            for (k, &slot) in slots.iter().enumerate() {
                let vals = self.values(id, slot);
                if !vals.is_empty() {
                    col.set(k as u32, &vals);
                    any = true;
                }
            }
            if any {
                w.column(name, &col, interner)
                    .ok_or_else(|| StoreError::TooLarge {
                        what: format!("{}: column `{name}`", path.display()),
                        limit: "a column is at most 4 GiB".into(),
                    })?;
            }
        }
        w.finish(path, tombstones, self.next_seq)
    }

    /// Makes `sealed` (new files first written and synced) and a new empty log the index's
    /// segments, then loads the index again.
    fn switch_to(
        &mut self,
        segs: Vec<String>,
        generation: u64,
        interner: &mut Interner,
    ) -> Result<(), StoreError> {
        self.switch_files(segs, generation)?;
        *self = IndexState::load(&self.name, self.dir.clone(), interner)?;
        Ok(())
    }

    /// Makes `segs` (sealed segments, new ones first written and synced) and a new empty log
    /// the index's segments on disk: the manifest switch is atomic (write, fsync, rename),
    /// then segments no longer listed are removed. Returns the segments (the new log last)
    /// and the new generation.
    fn switch_files(
        &self,
        mut segs: Vec<String>,
        generation: u64,
    ) -> Result<(Vec<String>, u64), StoreError> {
        let generation = generation + 1;
        let log = segment_name(generation);
        let path = self.dir.join(&log);
        let f = File::create(&path).map_err(|e| io_err(&path, e))?;
        f.sync_all().map_err(|e| io_err(&path, e))?;
        segs.push(log);
        self.write_manifest(&segs, generation)?;
        self.remove_unlisted(&segs);
        Ok((segs, generation))
    }
}

/// Bytes a seal reads from the log at once.
const SOURCE_WINDOW: usize = 1 << 20;

/// Bytes of one segment file from `start` on, kept to read the sources that lie in them.
#[derive(Default)]
struct SourceWindow {
    seg: u32,
    start: u64,
    bytes: Vec<u8>,
}

/// Fills `buf` from `offset` on, or as much of it as the file holds; how many bytes were read.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn sealed_name(generation: u64) -> String {
    format!("seg-{generation:08}.col")
}

fn segment_name(generation: u64) -> String {
    format!("seg-{generation:08}.log")
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    match File::open(dir) {
        Ok(f) => f.sync_all().or(Ok(())),
        Err(e) => Err(io_err(dir, e)),
    }
}

/// Documents [`IndexState::write_records`] appends: how each one's record is encoded and
/// what it puts into the columns.
trait Records {
    /// How many documents.
    fn count(&self) -> usize;
    /// The id of document `k`.
    fn id(&self, k: usize) -> &str;
    /// Appends document `k`'s index record to `buf`; the byte range of its source there.
    fn encode(&self, buf: &mut Vec<u8>, k: usize, seq: u64) -> Result<Span, StoreError>;
    /// Collects document `k`'s leaves into `st.scratch`.
    fn leaves(&mut self, k: usize, st: &mut IndexState, interner: &mut Interner);
}

/// A byte range of a record buffer.
type Span = std::ops::Range<usize>;

/// Documents as `serde_json` trees, for the index named.
struct TreeDocs<'a>(&'a [BulkDoc], String);

impl Records for TreeDocs<'_> {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn id(&self, k: usize) -> &str {
        self.0[k].id.as_deref().unwrap_or_default()
    }
    fn encode(&self, buf: &mut Vec<u8>, k: usize, seq: u64) -> Result<Span, StoreError> {
        encode_record_value(buf, seq, (&self.1, self.id(k)), &self.0[k].source)
    }
    fn leaves(&mut self, k: usize, st: &mut IndexState, interner: &mut Interner) {
        st.leaves_of_value(&self.0[k].source, interner);
    }
}

/// The documents `keep` of a [`FlatDocs`] batch, and the column of each of its fields once
/// known (`u32::MAX` before).
struct FlatRecords<'a> {
    docs: &'a FlatDocs,
    keep: &'a [usize],
    cols: Vec<u32>,
}

impl Records for FlatRecords<'_> {
    fn count(&self) -> usize {
        self.keep.len()
    }
    fn id(&self, k: usize) -> &str {
        self.docs.id(self.keep[k])
    }
    fn encode(&self, buf: &mut Vec<u8>, k: usize, seq: u64) -> Result<Span, StoreError> {
        let src = self.docs.source(self.keep[k]);
        encode_record(buf, seq, Op::Index, self.id(k), src);
        // The record ends with the source and a newline.
        let end = buf.len() - 1;
        Ok(end - src.len()..end)
    }
    fn leaves(&mut self, k: usize, st: &mut IndexState, interner: &mut Interner) {
        st.scratch.clear();
        let mut sink = Sink {
            cols: &mut st.columns,
            interner,
            out: &mut st.scratch,
        };
        let range = self.docs.docs[self.keep[k]].leaves.clone();
        for leaf in &self.docs.leaves[range] {
            let field = leaf.field as usize;
            let col = match self.cols.get(field) {
                Some(&c) if c != u32::MAX => c,
                _ => {
                    let c = sink.cols.id_for(&self.docs.fields[field]);
                    if let Some(slot) = self.cols.get_mut(field) {
                        *slot = c;
                    }
                    c
                }
            };
            match &leaf.value {
                LeafValue::Num(f, float) => sink.num_at(col, *f, *float),
                LeafValue::Str(r) => sink.string_at(col, self.docs.str(r)),
            }
        }
    }
}

fn encode_record(buf: &mut Vec<u8>, seq: u64, op: Op, id: &str, src: &str) {
    let start = buf.len();
    buf.extend_from_slice(b"0000000000000000\t");
    let body = buf.len();
    let _ = write!(buf, "{seq}\t{}\t", if op == Op::Index { 'i' } else { 'd' });
    // A JSON string never contains a raw tab or newline.
    let _ = serde_json::to_writer(&mut *buf, id);
    buf.push(b'\t');
    buf.extend_from_slice(src.as_bytes());
    let h = fnv64(&buf[body..]);
    let hex = format!("{h:016x}");
    buf[start..start + 16].copy_from_slice(hex.as_bytes());
    buf.push(b'\n');
}

/// Encodes an index record whose source is serialised from `value` into `buf`; returns the
/// byte range of the source text within `buf`.
fn encode_record_value(
    buf: &mut Vec<u8>,
    seq: u64,
    (index, id): (&str, &str),
    value: &Value,
) -> Result<std::ops::Range<usize>, StoreError> {
    let start = buf.len();
    buf.extend_from_slice(b"0000000000000000\t");
    let body = buf.len();
    let _ = write!(buf, "{seq}\ti\t");
    let _ = serde_json::to_writer(&mut *buf, id);
    buf.push(b'\t');
    let src_start = buf.len();
    if let Err(e) = write_json(buf, value) {
        buf.truncate(start);
        return Err(StoreError::InvalidDocument {
            index: index.to_string(),
            id: id.to_string(),
            problem: format!("cannot be serialised as JSON: {e}"),
        });
    }
    let src_end = buf.len();
    let h = fnv64(&buf[body..]);
    let hex = format!("{h:016x}");
    buf[start..start + 16].copy_from_slice(hex.as_bytes());
    buf.push(b'\n');
    Ok(src_start..src_end)
}

/// Compact JSON of `v`, byte for byte what `serde_json::to_writer` writes, with a fast path
/// for the common string that needs no escaping (serde_json looks up every byte in a table).
fn write_json(buf: &mut Vec<u8>, v: &Value) -> serde_json::Result<()> {
    match v {
        Value::Null => buf.extend_from_slice(b"null"),
        Value::Bool(true) => buf.extend_from_slice(b"true"),
        Value::Bool(false) => buf.extend_from_slice(b"false"),
        Value::Number(n) => serde_json::to_writer(&mut *buf, n)?,
        Value::String(s) => write_json_str(buf, s)?,
        Value::Array(items) => {
            buf.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_json(buf, item)?;
            }
            buf.push(b']');
        }
        Value::Object(map) => {
            buf.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_json_str(buf, k)?;
                buf.push(b':');
                write_json(buf, item)?;
            }
            buf.push(b'}');
        }
    }
    Ok(())
}

fn write_json_str(buf: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(&mut *buf, s)
    }
}

fn parse_record(line: &[u8]) -> Option<(u64, Op, Cow<'_, str>, &str)> {
    if line.len() < 17 || line[16] != b'\t' {
        return None;
    }
    let want = u64::from_str_radix(std::str::from_utf8(&line[..16]).ok()?, 16).ok()?;
    let body = &line[17..];
    if fnv64(body) != want {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let mut parts = text.splitn(4, '\t');
    let seq: u64 = parts.next()?.parse().ok()?;
    let op = match parts.next()? {
        "i" => Op::Index,
        "d" => Op::Delete,
        _ => return None,
    };
    let quoted = parts.next()?;
    // Most ids need no unescaping: take them from the line as they are.
    let id = match quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .filter(|q| !q.contains(['\\', '"']))
    {
        Some(plain) => Cow::Borrowed(plain),
        None => Cow::Owned(serde_json::from_str::<String>(quoted).ok()?),
    };
    let src = parts.next()?;
    Some((seq, op, id, src))
}

/// Record encoding for tests elsewhere in the store.
#[cfg(test)]
pub(crate) mod tests_support {
    /// Encodes an index record.
    pub(crate) fn encode(buf: &mut Vec<u8>, seq: u64, id: &str, src: &str) {
        super::encode_record(buf, seq, super::Op::Index, id, src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_roundtrip_and_checksum() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 42, Op::Index, "a\tb", r#"{"x":"y\tz"}"#);
        assert_eq!(*buf.last().unwrap(), b'\n');
        let line = &buf[..buf.len() - 1];
        let (seq, op, id, src) = parse_record(line).unwrap();
        assert_eq!(
            (seq, op, &*id, src),
            (42, Op::Index, "a\tb", r#"{"x":"y\tz"}"#)
        );
        let mut bad = line.to_vec();
        let n = bad.len();
        bad[n - 2] = b'Y';
        assert!(parse_record(&bad).is_none());
        assert!(parse_record(&line[..line.len() - 3]).is_none());
        // A plain id is read from the line as it is; one with escapes is unescaped.
        for (id, borrowed) in [("0af3-x", true), ("q\"uote", false), ("back\\slash", false)] {
            let mut buf = Vec::new();
            encode_record(&mut buf, 1, Op::Index, id, "{}");
            let (_, _, got, _) = parse_record(&buf[..buf.len() - 1]).unwrap();
            assert_eq!((&*got, matches!(got, Cow::Borrowed(_))), (id, borrowed));
        }
    }

    #[test]
    fn sources_are_written_exactly_as_serde_json_writes_them() {
        let docs = [
            json!({}),
            json!([]),
            json!({"a": null, "b": [true, false, [], {}], "c": {"d": [1, -2, 3.5, 1e300, -0.0, 0.1]}}),
            json!({"q\"k": "tab\there", "nl": "a\nb", "bs": "c:\\x", "ctl": "\u{1}\u{1f}", "u": "é😀\u{7f}", "sl": "/</"}),
            json!({"big": u64::MAX, "neg": i64::MIN, "f": 12345.678, "e": 5e-324}),
            json!({"@timestamp": "2024-05-06T00:00:06.000Z", "url": {"original": "/x?a=1&b=\"2\""}}),
        ];
        for d in docs {
            let mut buf = Vec::new();
            write_json(&mut buf, &d).unwrap();
            assert_eq!(String::from_utf8(buf).unwrap(), d.to_string());
        }
    }

    #[test]
    fn dates_are_detected_like_strict_date_optional_time() {
        assert!(looks_like_date("2015-05-17T10:05:03Z"));
        assert!(looks_like_date("2015-05-17"));
        assert!(!looks_like_date("2015-05-17 10:05:03"));
        assert!(!looks_like_date("/2015-05-17"));
        let mut i = Interner::default();
        assert_eq!(
            scalar_val(&Value::from("2015-05-17T00:00:01.5Z"), &mut i),
            Some(Val::Date(1431820801500))
        );
        assert_eq!(scalar_val(&Value::from("US"), &mut i), Some(Val::Str(0)));
    }

    #[test]
    fn fast_date_parser_agrees_with_the_general_one() {
        for t in [
            "2015-05-17T10:05:03Z",
            "2015-05-17T10:05:03.1Z",
            "2015-05-17T10:05:03.123456Z",
            "1969-12-31T23:59:59.999Z",
            "2000-02-29T00:00:00+05:30",
            "2024-12-31T23:59:59-08:00",
        ] {
            assert_eq!(
                fast_rfc3339(t.as_bytes()),
                crate::time::parse_timestamp(t),
                "{t}"
            );
        }
        for t in [
            "2015-05-17",
            "2015-05-17T10:05",
            "2015-13-17T10:05:03Z",
            "2015-05-17T10:05:03",
        ] {
            assert_eq!(fast_rfc3339(t.as_bytes()), None, "{t}");
        }
    }

    #[test]
    fn walking_text_and_values_gives_the_same_leaves() {
        let text =
            r#"{"a":{"b":[1,2.5,{"c":"x"}],"d":null},"e.f":true,"t":"2015-05-17T00:00:00Z"}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let mut i = Interner::default();
        let mut c1 = Columns::default();
        let mut o1 = Vec::new();
        assert!(walk_text(
            text,
            &mut String::new(),
            &mut Sink {
                cols: &mut c1,
                interner: &mut i,
                out: &mut o1
            }
        ));
        let mut c2 = Columns::default();
        let mut o2 = Vec::new();
        walk_value(
            &mut String::new(),
            &value,
            &mut Sink {
                cols: &mut c2,
                interner: &mut i,
                out: &mut o2,
            },
        );
        assert_eq!(o1, o2);
        assert_eq!(c1.names().collect::<Vec<_>>(), ["a.b", "a.b.c", "e.f", "t"]);
        assert!(c1.has_float(c1.id("a.b").unwrap()));
        assert_eq!(o1[4], (3, Val::Date(1431820800000)));
        assert!(!walk_text(
            r#"{"a":"#,
            &mut String::new(),
            &mut Sink {
                cols: &mut c1,
                interner: &mut i,
                out: &mut o1
            }
        ));
    }

    #[test]
    fn an_id_map_entry_takes_12_bytes() {
        assert_eq!(std::mem::size_of::<(IdHash, u32)>(), 12);
        assert_ne!(id_hash("a"), id_hash("b"));
        assert_eq!(id_hash("a"), id_hash("a"));
    }

    #[test]
    fn index_names_are_checked() {
        assert!(check_index_name("nginx-2015").is_ok());
        assert!(check_index_name(".ml-anomalies-x").is_ok());
        for bad in ["", "..", "A", "a/b", "a b", "_x", "a*"] {
            assert!(check_index_name(bad).is_err(), "{bad}");
        }
    }
}
