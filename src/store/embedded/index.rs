//! One index of the embedded store: its segment files on disk and its in-memory form.
//!
//! On disk an index is a folder holding `manifest.json` and one or more segment files
//! (`seg-00000001.log`). A segment is a log of records, one per line:
//!
//! ```text
//! <16 hex digits: FNV-1a 64 of the rest of the line>\t<seq_no>\t<i|d>\t<id as JSON string>\t<source JSON>\n
//! ```
//!
//! `i` indexes (or overwrites) a document, `d` deletes it (the source is `null`). The checksum
//! lets a load tell a torn or corrupted record from a good one: a torn last record (a crash
//! in the middle of a write) is ignored and cut off before the next append; a bad record in
//! the middle of a file is skipped with a warning. Neither poisons the index.
//!
//! In memory each document is parsed once into columns (dotted field path -> typed values per
//! document), so a search scans flat vectors instead of walking JSON trees.

use super::super::StoreError;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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
    ids: HashMap<Box<str>, u32>,
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

/// The values of one document for one field.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    Missing,
    One(Val),
    Many(Box<[Val]>),
}

/// All values of one field path, by document slot.
#[derive(Default)]
pub(crate) struct Column {
    cells: Vec<Cell>,
    /// Some value was a non-integral JSON number (a `double` field rather than a `long`).
    pub(crate) has_float: bool,
}

impl Column {
    #[inline]
    pub(crate) fn values(&self, doc: u32) -> &[Val] {
        match self.cells.get(doc as usize) {
            Some(Cell::One(v)) => std::slice::from_ref(v),
            Some(Cell::Many(vs)) => vs,
            _ => &[],
        }
    }
    fn set(&mut self, doc: u32, vals: &[Val]) {
        let doc = doc as usize;
        if self.cells.len() <= doc {
            self.cells.resize(doc + 1, Cell::Missing);
        }
        self.cells[doc] = match vals.len() {
            0 => Cell::Missing,
            1 => Cell::One(vals[0]),
            _ => Cell::Many(vals.into()),
        };
    }
}

/// One stored document.
pub(crate) struct DocEntry {
    pub(crate) id: Box<str>,
    pub(crate) seq_no: u64,
    /// The source as compact JSON.
    pub(crate) source: Box<str>,
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

/// The primary term of every write: one process at a time owns a store directory.
pub(crate) const PRIMARY_TERM: u64 = 1;
const MANIFEST: &str = "manifest.json";

/// An index loaded in memory.
pub(crate) struct IndexState {
    pub(crate) name: String,
    dir: PathBuf,
    pub(crate) docs: Vec<DocEntry>,
    /// Whether each slot holds the current version of a document.
    pub(crate) live: Vec<bool>,
    pub(crate) live_count: usize,
    ids: HashMap<Box<str>, u32>,
    pub(crate) columns: BTreeMap<String, Column>,
    next_seq: u64,
    generation: u64,
    segments: Vec<String>,
    /// Length of the active (last) segment up to its last good record.
    active_len: u64,
    /// Torn bytes found at the end of the active segment on load, cut before the next append.
    torn_tail: bool,
    /// Records skipped on load because their checksum did not match.
    pub(crate) skipped_records: usize,
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

/// Converts a JSON scalar to a value, interning strings.
pub(crate) fn scalar_val(v: &Value, interner: &mut Interner) -> Option<Val> {
    match v {
        Value::Number(n) => n.as_f64().map(Val::Num),
        Value::String(s) => {
            if looks_like_date(s) {
                if let Some(ms) = crate::time::parse_timestamp(s) {
                    return Some(Val::Date(ms));
                }
            }
            Some(Val::Str(interner.intern(s)))
        }
        Value::Bool(b) => Some(Val::Bool(*b)),
        _ => None,
    }
}

/// Collects `(dotted path, value)` pairs of a document; arrays contribute each element to the
/// same path, objects inside arrays are flattened too (like Elasticsearch's `object` type).
fn flatten<'a>(prefix: &mut String, v: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let len = prefix.len();
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(k);
                flatten(prefix, child, out);
                prefix.truncate(len);
            }
        }
        Value::Array(items) => {
            for item in items {
                flatten(prefix, item, out);
            }
        }
        Value::Null => {}
        _ => out.push((prefix.clone(), v)),
    }
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
        return Err(StoreError::BadRequest(format!(
            "invalid index name `{name}`: expected lowercase, without spaces or any of \\ / * ? \" < > | , # :, not starting with - _ +"
        )));
    }
    Ok(())
}

impl IndexState {
    /// An index with no documents whose files go in `dir` (nothing is written until the
    /// first write).
    fn empty(name: &str, dir: PathBuf) -> Self {
        IndexState {
            name: name.to_string(),
            dir,
            docs: Vec::new(),
            live: Vec::new(),
            live_count: 0,
            ids: HashMap::new(),
            columns: BTreeMap::new(),
            next_seq: 0,
            generation: 0,
            segments: Vec::new(),
            active_len: 0,
            torn_tail: false,
            skipped_records: 0,
        }
    }

    /// Loads the index in `dir` (an empty index when the folder does not exist).
    pub(crate) fn load(
        name: &str,
        dir: PathBuf,
        interner: &mut Interner,
    ) -> Result<Self, StoreError> {
        let mut st = IndexState::empty(name, dir);
        let mpath = st.dir.join(MANIFEST);
        let manifest: Manifest = match fs::read(&mpath) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::BadRequest(format!(
                    "{}: not a tidewatch index manifest ({e}); expected JSON with `segments`",
                    mpath.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(st),
            Err(e) => return Err(io_err(&mpath, e)),
        };
        st.generation = manifest.generation;
        st.next_seq = manifest.max_seq_no;
        let nseg = manifest.segments.len();
        for (i, seg) in manifest.segments.iter().enumerate() {
            if seg.contains(['/', '\\']) || seg.starts_with('.') {
                return Err(StoreError::BadRequest(format!(
                    "{}: segment name `{seg}` is not a plain file name",
                    mpath.display()
                )));
            }
            let path = st.dir.join(seg);
            let mut bytes = Vec::new();
            match File::open(&path) {
                Ok(mut f) => f.read_to_end(&mut bytes).map_err(|e| io_err(&path, e))?,
                // A segment listed but never written (crash right after the manifest).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(io_err(&path, e)),
            };
            let good = st.replay(&path, &bytes, i + 1 == nseg, interner);
            if i + 1 == nseg {
                st.active_len = good as u64;
                st.torn_tail = good < bytes.len();
            }
        }
        st.segments = manifest.segments;
        Ok(st)
    }

    /// Applies the records of one segment; returns the length of the good prefix.
    fn replay(
        &mut self,
        path: &Path,
        bytes: &[u8],
        is_last: bool,
        interner: &mut Interner,
    ) -> usize {
        let mut pos = 0;
        let mut good_end = 0;
        let mut line_no = 0;
        while pos < bytes.len() {
            line_no += 1;
            let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') else {
                // No newline: the last write was torn. Ignore it.
                tracing::warn!(file = %path.display(), line = line_no, "Ignoring a torn record at the end of the segment");
                break;
            };
            let line = &bytes[pos..pos + nl];
            let next = pos + nl + 1;
            match parse_record(line) {
                Some((seq, op, id, src)) => {
                    self.next_seq = self.next_seq.max(seq + 1);
                    match op {
                        Op::Index => {
                            if let Ok(value) = serde_json::from_str::<Value>(src) {
                                self.apply_index(id, seq, src.into(), &value, interner);
                            } else {
                                self.skipped_records += 1;
                            }
                        }
                        Op::Delete => {
                            self.apply_delete(&id);
                        }
                    }
                    good_end = next;
                }
                None => {
                    let at_tail = next >= bytes.len();
                    if !(is_last && at_tail) {
                        tracing::warn!(file = %path.display(), line = line_no, "Skipping a record whose checksum does not match");
                        self.skipped_records += 1;
                        good_end = next;
                    } else {
                        tracing::warn!(file = %path.display(), line = line_no, "Ignoring a torn record at the end of the segment");
                    }
                }
            }
            pos = next;
        }
        good_end
    }

    fn apply_index(
        &mut self,
        id: String,
        seq_no: u64,
        source: Box<str>,
        value: &Value,
        interner: &mut Interner,
    ) -> u32 {
        let slot = self.docs.len() as u32;
        if let Some(old) = self.ids.insert(id.clone().into_boxed_str(), slot) {
            if self.live[old as usize] {
                self.live[old as usize] = false;
                self.live_count -= 1;
            }
        }
        self.docs.push(DocEntry {
            id: id.into_boxed_str(),
            seq_no,
            source,
        });
        self.live.push(true);
        self.live_count += 1;
        let mut pairs = Vec::new();
        flatten(&mut String::new(), value, &mut pairs);
        // Group values by path (a path repeats for arrays); keep first-seen order.
        let mut i = 0;
        let mut vals: Vec<Val> = Vec::new();
        let mut done: Vec<bool> = vec![false; pairs.len()];
        while i < pairs.len() {
            if done[i] {
                i += 1;
                continue;
            }
            vals.clear();
            let path = &pairs[i].0;
            let mut float = false;
            for j in i..pairs.len() {
                if !done[j] && pairs[j].0 == *path {
                    done[j] = true;
                    if let Some(v) = scalar_val(pairs[j].1, interner) {
                        if let (Val::Num(_), Value::Number(n)) = (v, pairs[j].1) {
                            float |= n.is_f64();
                        }
                        vals.push(v);
                    }
                }
            }
            let col = match self.columns.get_mut(path.as_str()) {
                Some(c) => c,
                None => self.columns.entry(path.clone()).or_default(),
            };
            col.has_float |= float;
            col.set(slot, &vals);
            i += 1;
        }
        slot
    }

    fn apply_delete(&mut self, id: &str) -> bool {
        if let Some(slot) = self.ids.remove(id) {
            if self.live[slot as usize] {
                self.live[slot as usize] = false;
                self.live_count -= 1;
                return true;
            }
        }
        false
    }

    /// The slot of the live document `id`.
    pub(crate) fn slot_of(&self, id: &str) -> Option<u32> {
        self.ids.get(id).copied().filter(|&s| self.live[s as usize])
    }

    /// The next sequence number to assign.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Number of superseded or deleted document versions still held.
    pub(crate) fn dead_count(&self) -> usize {
        self.docs.len() - self.live_count
    }

    /// Appends index records for `docs` (id, source JSON, parsed source) durably (one fsync),
    /// then applies them. Returns the seq_no of each.
    pub(crate) fn write_docs(
        &mut self,
        docs: Vec<(String, String, Value)>,
        interner: &mut Interner,
    ) -> Result<Vec<u64>, StoreError> {
        let mut buf = Vec::with_capacity(docs.iter().map(|d| d.1.len() + d.0.len() + 40).sum());
        let mut seqs = Vec::with_capacity(docs.len());
        for (k, (id, src, _)) in docs.iter().enumerate() {
            let seq = self.next_seq + k as u64;
            encode_record(&mut buf, seq, Op::Index, id, src);
            seqs.push(seq);
        }
        self.append(&buf)?;
        self.next_seq += docs.len() as u64;
        for ((id, src, value), seq) in docs.into_iter().zip(&seqs) {
            self.apply_index(id, *seq, src.into_boxed_str(), &value, interner);
        }
        Ok(seqs)
    }

    /// Deletes the live documents in `slots` durably; returns how many were deleted.
    pub(crate) fn delete_slots(&mut self, slots: &[u32]) -> Result<u64, StoreError> {
        let ids: Vec<Box<str>> = slots
            .iter()
            .filter(|&&s| self.live[s as usize])
            .map(|&s| self.docs[s as usize].id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let mut buf = Vec::new();
        for (k, id) in ids.iter().enumerate() {
            encode_record(&mut buf, self.next_seq + k as u64, Op::Delete, id, "null");
        }
        self.append(&buf)?;
        self.next_seq += ids.len() as u64;
        let mut n = 0;
        for id in &ids {
            n += self.apply_delete(id) as u64;
        }
        Ok(n)
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
        let body =
            serde_json::to_vec_pretty(&m).map_err(|e| StoreError::BadRequest(e.to_string()))?;
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(&body).map_err(|e| io_err(&tmp, e))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        let dst = self.dir.join(MANIFEST);
        fs::rename(&tmp, &dst).map_err(|e| io_err(&dst, e))?;
        sync_dir(&self.dir)
    }

    /// Appends bytes to the active segment and fsyncs.
    fn append(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        if self.segments.is_empty() {
            fs::create_dir_all(&self.dir).map_err(|e| io_err(&self.dir, e))?;
            if let Some(parent) = self.dir.parent() {
                sync_dir(parent)?;
            }
            let seg = segment_name(self.generation + 1);
            self.write_manifest(std::slice::from_ref(&seg), self.generation + 1)?;
            self.generation += 1;
            self.segments.push(seg);
            self.active_len = 0;
            self.torn_tail = false;
        }
        let path = self
            .dir
            .join(self.segments.last().map(String::as_str).unwrap_or_default());
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        if self.torn_tail || f.metadata().map(|m| m.len()).unwrap_or(0) != self.active_len {
            // Cut a torn tail (or anything past the last good record) before appending.
            f.set_len(self.active_len).map_err(|e| io_err(&path, e))?;
            self.torn_tail = false;
        }
        use std::io::{Seek, SeekFrom};
        f.seek(SeekFrom::Start(self.active_len))
            .map_err(|e| io_err(&path, e))?;
        f.write_all(bytes).map_err(|e| io_err(&path, e))?;
        f.sync_data().map_err(|e| io_err(&path, e))?;
        self.active_len += bytes.len() as u64;
        Ok(())
    }

    /// Rewrites the live documents into one new segment, then reloads from it. Document
    /// versions (seq_no) are kept.
    pub(crate) fn compact(&mut self, interner: &mut Interner) -> Result<(), StoreError> {
        if self.segments.is_empty() {
            return Ok(());
        }
        let generation = self.generation + 1;
        let seg = segment_name(generation);
        let path = self.dir.join(&seg);
        let mut buf = Vec::new();
        for (slot, d) in self.docs.iter().enumerate() {
            if self.live[slot] {
                encode_record(&mut buf, d.seq_no, Op::Index, &d.id, &d.source);
            }
        }
        let mut f = File::create(&path).map_err(|e| io_err(&path, e))?;
        f.write_all(&buf).map_err(|e| io_err(&path, e))?;
        f.sync_all().map_err(|e| io_err(&path, e))?;
        self.write_manifest(std::slice::from_ref(&seg), generation)?;
        for old in &self.segments {
            let p = self.dir.join(old);
            if let Err(e) = fs::remove_file(&p) {
                tracing::warn!(file = %p.display(), error = %e, "Could not remove a compacted segment");
            }
        }
        let reloaded = IndexState::load(&self.name, self.dir.clone(), interner)?;
        *self = reloaded;
        Ok(())
    }
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

fn parse_record(line: &[u8]) -> Option<(u64, Op, String, &str)> {
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
    let id: String = serde_json::from_str(parts.next()?).ok()?;
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

    #[test]
    fn record_roundtrip_and_checksum() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 42, Op::Index, "a\tb", r#"{"x":"y\tz"}"#);
        assert_eq!(*buf.last().unwrap(), b'\n');
        let line = &buf[..buf.len() - 1];
        let (seq, op, id, src) = parse_record(line).unwrap();
        assert_eq!(
            (seq, op, id.as_str(), src),
            (42, Op::Index, "a\tb", r#"{"x":"y\tz"}"#)
        );
        let mut bad = line.to_vec();
        let n = bad.len();
        bad[n - 2] = b'Y';
        assert!(parse_record(&bad).is_none());
        assert!(parse_record(&line[..line.len() - 3]).is_none());
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
    fn index_names_are_checked() {
        assert!(check_index_name("nginx-2015").is_ok());
        assert!(check_index_name(".ml-anomalies-x").is_ok());
        for bad in ["", "..", "A", "a/b", "a b", "_x", "a*"] {
            assert!(check_index_name(bad).is_err(), "{bad}");
        }
    }
}
