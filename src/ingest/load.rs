//! Reading inputs (plain, gzip, stdin), batching documents into bulk requests, counting.

use super::doc::DocTree;
use super::seen::SeenLines;
use super::{IngestError, LogFormat};
use crate::store::{BulkResponse, FlatDocs, Store, StoreError};
use crate::time::EpochMillis;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Documents per bulk request unless told otherwise. About 0.6 MB of JSON per request, well
/// within what Elasticsearch likes; larger batches measured slower here (5,000 documents of
/// nested JSON objects outgrow the CPU caches before the store frees them: about 1.5x the
/// CPU time per line with a store that does nothing).
pub const DEFAULT_BATCH_SIZE: usize = 1_000;

/// How many rejected lines an [`IngestSummary`] lists (all are counted).
pub(crate) const MAX_REPORTED_REJECTIONS: usize = 10;

const READ_BUFFER: usize = 256 * 1024;

/// One line that was not stored, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The input it came from (`-` for stdin).
    pub source: String,
    /// Its line number, from 1.
    pub line: u64,
    /// What was wrong, e.g. "field `status`: expected a number, found `abc`".
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.reason)
    }
}

/// What an ingest did. `lines == stored + rejected` when the store reports every item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestSummary {
    /// The index written to.
    pub index: String,
    /// Inputs read.
    pub files: usize,
    /// Non-blank lines read.
    pub lines: u64,
    /// Blank lines skipped (not counted in `lines`).
    pub blank: u64,
    /// Documents the store accepted.
    pub stored: u64,
    /// Lines that did not parse plus documents the store refused.
    pub rejected: u64,
    /// The first `MAX_REPORTED_REJECTIONS` rejections, in input order.
    pub rejections: Vec<Rejection>,
    /// Earliest `@timestamp` parsed.
    pub first_timestamp: Option<EpochMillis>,
    /// Latest `@timestamp` parsed.
    pub last_timestamp: Option<EpochMillis>,
    /// Wall-clock time taken.
    pub elapsed: Duration,
    /// What `--geoip` did, when it was given.
    pub geoip: Option<super::GeoIpCounts>,
}

/// Keeps a rejection's details while fewer than [`MAX_REPORTED_REJECTIONS`] are kept.
fn keep_rejection(rejections: &mut Vec<Rejection>, source: &str, line: u64, reason: String) {
    if rejections.len() < MAX_REPORTED_REJECTIONS {
        rejections.push(Rejection {
            source: source.to_owned(),
            line,
            reason,
        });
    }
}

impl IngestSummary {
    fn reject(&mut self, source: &str, line: u64, reason: String) {
        self.rejected += 1;
        keep_rejection(&mut self.rejections, source, line, reason);
    }

    /// Counts in the lines one batch covers.
    fn merge(&mut self, tally: Tally) {
        self.lines += tally.lines;
        self.blank += tally.blank;
        self.rejected += tally.rejected;
        let room = MAX_REPORTED_REJECTIONS.saturating_sub(self.rejections.len());
        self.rejections
            .extend(tally.rejections.into_iter().take(room));
    }
}

/// The lines behind one batch: how many were read, blank and rejected while parsing.
#[derive(Debug, Default)]
struct Tally {
    lines: u64,
    blank: u64,
    rejected: u64,
    /// The first `MAX_REPORTED_REJECTIONS` of them.
    rejections: Vec<Rejection>,
}

impl Tally {
    fn reject(&mut self, source: &str, line: u64, reason: String) {
        self.rejected += 1;
        keep_rejection(&mut self.rejections, source, line, reason);
    }
}

/// Documents on their way to the store, with what is needed to account for them.
struct Batch {
    docs: FlatDocs,
    /// The input line of each document.
    lines: Vec<u64>,
    tally: Tally,
}

/// The store's answer for one [`Batch`].
struct Answer {
    /// The batch's documents, given back so their buffers serve again.
    docs: FlatDocs,
    lines: Vec<u64>,
    tally: Tally,
    result: Result<BulkResponse, StoreError>,
}

/// The parsing thread's ends of the channels to and from the sending thread.
struct Pipe {
    batches: mpsc::SyncSender<Batch>,
    answers: mpsc::Receiver<Answer>,
}

/// Batches parsed but not yet sent (besides the one being sent and the one being parsed):
/// one keeps both cores busy; more would only hold more documents in memory.
const QUEUED_BATCHES: usize = 1;

/// The sending thread: stores each batch in turn and answers for it; stops after a failed
/// request (later batches are dropped unsent) or when the parsing side hangs up.
fn send_batches(
    store: &dyn Store,
    index: &str,
    batches: mpsc::Receiver<Batch>,
    answers: mpsc::Sender<Answer>,
) {
    for batch in batches {
        let result = store.bulk_flat(index, &batch.docs);
        let failed = result.is_err();
        let answer = Answer {
            docs: batch.docs,
            lines: batch.lines,
            tally: batch.tally,
            result,
        };
        if answers.send(answer).is_err() || failed {
            return;
        }
    }
}

impl fmt::Display for IngestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "Stored {} of {} lines from {} {} into `{}`; rejected {}",
            thousands(self.stored),
            thousands(self.lines),
            self.files,
            if self.files == 1 { "file" } else { "files" },
            self.index,
            thousands(self.rejected),
        )?;
        if self.blank > 0 {
            write!(f, "; skipped {} blank", thousands(self.blank))?;
        }
        write!(f, " ({secs:.1} s")?;
        if secs > 0.0 && self.lines > 0 {
            write!(
                f,
                ", {} lines/s",
                thousands((self.lines as f64 / secs) as u64)
            )?;
        }
        write!(f, ").")?;
        if let (Some(a), Some(b)) = (self.first_timestamp, self.last_timestamp) {
            write!(
                f,
                "\nTime range: {} to {}.",
                crate::time::format_millis(a),
                crate::time::format_millis(b)
            )?;
        }
        if let Some(geo) = &self.geoip {
            write!(f, "\n{geo}")?;
        }
        if !self.rejections.is_empty() {
            let shown = self.rejections.len() as u64;
            if shown < self.rejected {
                write!(
                    f,
                    "\nFirst {shown} of {} rejected lines:",
                    thousands(self.rejected)
                )?;
            } else {
                write!(f, "\nRejected lines:")?;
            }
            for r in &self.rejections {
                write!(f, "\n  {r}")?;
            }
            if self.rejected * 2 > self.lines {
                write!(
                    f,
                    "\nMost lines were rejected: if the log is not in nginx's `combined` format, pass its \
                     `log_format` string with --format."
                )?;
            }
        }
        Ok(())
    }
}

pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Parses access-log inputs and bulk-loads their documents into one index.
///
/// [`super::run`] drives it for the CLI; `tidewatch demo` can feed it an in-memory log:
/// `Loader::new(store, index, format).read("demo.log", &bytes[..])?` then
/// [`Loader::finish`].
pub struct Loader<'a> {
    store: &'a dyn Store,
    index: String,
    format: LogFormat,
    batch_size: usize,
    /// The line being parsed (its buffers reused from line to line).
    tree: DocTree,
    /// The open batch, the line number of each of its documents, and the lines read since
    /// the previous batch (counted into `summary` once the store has answered for the batch).
    batch: FlatDocs,
    /// Batches the store has answered for, emptied, to be filled again.
    spare: Vec<FlatDocs>,
    pending_lines: Vec<u64>,
    pending: Tally,
    /// Non-blank lines read so far, for the progress bar (`summary.lines` lags by the batches
    /// in flight).
    lines_seen: u64,
    summary: IngestSummary,
    progress: ProgressBar,
    started: Instant,
    /// Lines dated outside `[from, to)` are rejected.
    time_bounds: Option<(EpochMillis, EpochMillis)>,
    /// Adds geo fields from the client address.
    geoip: Option<super::GeoIp>,
}

impl<'a> Loader<'a> {
    /// A loader writing to `index` in `store`, parsing with `format`.
    pub fn new(store: &'a dyn Store, index: &str, format: LogFormat) -> Loader<'a> {
        Loader {
            store,
            index: index.to_owned(),
            format,
            batch_size: DEFAULT_BATCH_SIZE,
            tree: DocTree::default(),
            batch: FlatDocs::default(),
            spare: Vec::new(),
            pending_lines: Vec::new(),
            pending: Tally::default(),
            lines_seen: 0,
            summary: IngestSummary {
                index: index.to_owned(),
                ..IngestSummary::default()
            },
            progress: ProgressBar::hidden(),
            started: Instant::now(),
            time_bounds: None,
            geoip: None,
        }
    }

    /// Adds `source.geo.*` and `source.as.*` to each document from its client address.
    pub fn with_geoip(mut self, geoip: super::GeoIp) -> Self {
        self.geoip = Some(geoip);
        self
    }

    /// Rejects lines dated before `from` or at or after `to`.
    pub fn with_time_bounds(mut self, from: EpochMillis, to: EpochMillis) -> Self {
        self.time_bounds = Some((from, to));
        self
    }

    /// Why a line's timestamp is out of bounds, if it is.
    fn out_of_bounds(&self, t: EpochMillis) -> Option<String> {
        let (from, to) = self.time_bounds?;
        let at = crate::time::format_millis(t);
        if t < from {
            return Some(format!("timestamp {at} is before {}: a garbled year or a wrong clock? (--any-time accepts it)", crate::time::format_millis(from)));
        }
        (t >= to).then(|| format!("timestamp {at} is more than a day in the future (now {}): a wrong clock? (--any-time accepts it)", crate::time::format_millis(to - super::MAX_FUTURE_MS)))
    }

    /// Documents per bulk request (at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Draws a progress bar on stderr over the total size of `paths` (a spinner when one is
    /// stdin). The caller decides whether stderr is a terminal.
    pub fn with_progress(mut self, paths: &[PathBuf]) -> Self {
        let total: Option<u64> = paths
            .iter()
            .map(|p| {
                if p.as_os_str() == "-" {
                    None
                } else {
                    std::fs::metadata(p).ok().map(|m| m.len())
                }
            })
            .sum();
        let template = match total {
            Some(_) => "{spinner} {wide_bar} {bytes}/{total_bytes} {msg} (eta {eta})",
            None => "{spinner} {bytes} {msg}",
        };
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        self.progress = bar;
        self
    }

    /// Opens and reads one input: a file (plain or gzip) or `-` for stdin.
    pub fn read_path(&mut self, path: &Path) -> Result<(), IngestError> {
        let name = path.display().to_string();
        let raw: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(io::stdin())
        } else {
            let file = File::open(path).map_err(|source| IngestError::Open {
                path: name.clone(),
                source,
            })?;
            Box::new(self.progress.wrap_read(file))
        };
        let reader = decompressed(raw).map_err(|source| IngestError::Read {
            path: name.clone(),
            line: 1,
            source,
        })?;
        self.read(&name, reader)
    }

    /// Reads every line of `reader` (already decompressed), naming it `source` in reports.
    ///
    /// Parsing and storing overlap: a second thread sends batch N to the store while this one
    /// parses batch N+1 (two cores roughly halve an embedded ingest; a cluster's round trip
    /// hides behind the parsing). Answers are settled in input order, so the summary reads
    /// exactly as if the batches had been stored one after the other; after a failed request
    /// no later batch is sent.
    pub fn read(&mut self, source: &str, reader: impl BufRead) -> Result<(), IngestError> {
        self.summary.files += 1;
        let store = self.store;
        let index = self.index.clone();
        std::thread::scope(|scope| {
            let (to_store, batches) = mpsc::sync_channel::<Batch>(QUEUED_BATCHES);
            let (to_loader, answers) = mpsc::channel::<Answer>();
            let sender = scope.spawn(move || send_batches(store, &index, batches, to_loader));
            let pipe = Pipe {
                batches: to_store,
                answers,
            };
            let parsed = self.parse_lines(source, reader, &pipe);
            let Pipe { batches, answers } = pipe;
            drop(batches);
            // Every batch handed over is answered before `read` returns, so an input error
            // leaves only the unsent batch for `stopped` to store.
            let settled = answers.into_iter().try_for_each(|a| self.settle(source, a));
            let joined = sender.join().map_err(|_| IngestError::Store {
                path: source.to_owned(),
                first_line: 0,
                last_line: 0,
                source: StoreError::Unavailable("the thread sending bulk requests panicked".into()),
            });
            // A store error names what was stored; it wins over the input error it followed.
            match (parsed, settled, joined) {
                (_, Err(e), _) | (Err(e @ IngestError::Store { .. }), _, _) => Err(e),
                (_, _, Err(e)) | (Err(e), _, _) => Err(e),
                (Ok(()), Ok(()), Ok(())) => self.flush(source),
            }
        })
    }

    /// Parses lines into batches handed to `pipe` until the input ends or fails, or the store
    /// fails a request.
    fn parse_lines(
        &mut self,
        source: &str,
        mut reader: impl BufRead,
        pipe: &Pipe,
    ) -> Result<(), IngestError> {
        let mut buf = Vec::with_capacity(1024);
        let mut seen = SeenLines::default();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| IngestError::Read {
                    path: source.to_owned(),
                    line: line_no + 1,
                    source: e,
                })?;
            if n == 0 {
                return Ok(());
            }
            line_no += 1;
            if line_no % 16_384 == 0 {
                self.show_progress(); // also when nothing is flushed because every line is bad
            }
            let mut bytes = buf.as_slice();
            while let [rest @ .., b'\n' | b'\r'] = bytes {
                bytes = rest;
            }
            self.take_line(source, line_no, bytes, &mut seen)?;
            if self.batch.len() >= self.batch_size {
                self.dispatch(source, pipe)?;
            }
        }
    }

    /// Parses one line (without its line end) into the open batch, or counts it as blank or
    /// rejected.
    fn take_line(
        &mut self,
        source: &str,
        line_no: u64,
        bytes: &[u8],
        seen: &mut SeenLines,
    ) -> Result<(), IngestError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            self.pending.blank += 1;
            return Ok(());
        }
        self.pending.lines += 1;
        self.lines_seen += 1;
        let text = match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        let timestamp = match self.format.parse_into(&text, &mut self.tree) {
            Ok(timestamp) => timestamp,
            Err(e) => {
                self.pending.reject(source, line_no, e.to_string());
                return Ok(());
            }
        };
        if let Some(why) = self.out_of_bounds(timestamp) {
            self.pending.reject(source, line_no, why);
            return Ok(());
        }
        let s = &mut self.summary;
        s.first_timestamp = Some(s.first_timestamp.map_or(timestamp, |t| t.min(timestamp)));
        s.last_timestamp = Some(s.last_timestamp.map_or(timestamp, |t| t.max(timestamp)));
        if let Some(geoip) = &mut self.geoip {
            geoip.enrich_doc(&mut self.tree)?;
        }
        let id = document_id(bytes, timestamp, seen).map_err(|e| IngestError::Read {
            path: source.to_owned(),
            line: line_no,
            source: io::Error::new(
                e.kind(),
                format!("the temporary file of repeated lines: {e}"),
            ),
        })?;
        self.tree.append_to(&mut self.batch, hex_str(&id));
        self.pending_lines.push(line_no);
        Ok(())
    }

    /// Closes the open batch: its documents, their line numbers and the lines read since the
    /// previous batch.
    fn cut(&mut self) -> Batch {
        self.batch.fields.clear();
        self.batch
            .fields
            .extend(self.tree.fields().map(str::to_owned));
        let next = self.spare.pop().unwrap_or_default();
        Batch {
            docs: std::mem::replace(&mut self.batch, next),
            lines: std::mem::take(&mut self.pending_lines),
            tally: std::mem::take(&mut self.pending),
        }
    }

    /// Hands the open batch to the sending thread, first settling the answers already back.
    fn dispatch(&mut self, source: &str, pipe: &Pipe) -> Result<(), IngestError> {
        while let Ok(answer) = pipe.answers.try_recv() {
            self.settle(source, answer)?;
        }
        let batch = self.cut();
        if pipe.batches.send(batch).is_ok() {
            return Ok(());
        }
        // The sender stopped after a failed request: its last answer says which.
        while let Ok(answer) = pipe.answers.recv() {
            self.settle(source, answer)?;
        }
        Err(IngestError::Store {
            path: source.to_owned(),
            first_line: 0,
            last_line: 0,
            source: StoreError::Unavailable("the thread sending bulk requests stopped".into()),
        })
    }

    /// Stores the open batch on this thread (after the pipeline of [`Loader::read`] is
    /// drained: at the end of an input, and for `stopped`).
    fn flush(&mut self, source: &str) -> Result<(), IngestError> {
        let batch = self.cut();
        let result = if batch.docs.is_empty() {
            Ok(BulkResponse::default())
        } else {
            self.store.bulk_flat(&self.index, &batch.docs)
        };
        self.settle(
            source,
            Answer {
                docs: batch.docs,
                lines: batch.lines,
                tally: batch.tally,
                result,
            },
        )
    }

    /// Counts one batch's lines and the store's answer for its documents into the summary.
    fn settle(&mut self, source: &str, answer: Answer) -> Result<(), IngestError> {
        let Answer {
            mut docs,
            lines,
            tally,
            result,
        } = answer;
        docs.clear();
        self.spare.push(docs);
        self.summary.merge(tally);
        let response = result.map_err(|e| IngestError::Store {
            path: source.to_owned(),
            first_line: lines.first().copied().unwrap_or(0),
            last_line: lines.last().copied().unwrap_or(0),
            source: e,
        })?;
        for item in response.failed {
            let line = lines.get(item.position).copied().unwrap_or(0);
            let why = item.error.unwrap_or_else(|| "no reason given".to_owned());
            self.summary.reject(
                source,
                line,
                format!(
                    "the store refused the document (status {}): {why}",
                    item.status
                ),
            );
        }
        self.summary.stored += response.stored as u64;
        if !lines.is_empty() {
            self.show_progress();
        }
        Ok(())
    }

    fn show_progress(&self) {
        self.progress.set_message(format!(
            "{} lines, {} stored, {} rejected",
            thousands(self.lines_seen),
            thousands(self.summary.stored),
            thousands(self.summary.rejected + self.pending.rejected)
        ));
    }

    /// Turns the error that stopped an ingest into one that says exactly how much was
    /// stored: after an input error the lines read before it are stored first; after a
    /// store error the failed batch is named as possibly partly stored.
    pub fn stopped(mut self, e: IngestError) -> IngestError {
        self.progress.finish_and_clear();
        let mut note = String::new();
        match &e {
            IngestError::Read { path, .. } => {
                if let Err(flush) = self.flush(path) {
                    note =
                        format!(" (storing the lines read before the error failed too: {flush})");
                }
            }
            IngestError::Store {
                first_line,
                last_line,
                ..
            } => {
                note = format!(
                    " (lines {first_line}-{last_line} may be partly stored; re-run the same ingest to store them, without duplicates)"
                );
            }
            _ => {}
        }
        if self.summary.lines == 0 && self.summary.stored == 0 {
            return e;
        }
        if let Err(refresh) = self.store.refresh(&self.index) {
            tracing::warn!(index = %self.index, error = %refresh, "Could not refresh after a failed ingest");
        }
        IngestError::Stopped {
            source: Box::new(e),
            stored: self.summary.stored,
            lines: self.summary.lines,
            index: self.index.clone(),
            note,
        }
    }

    /// Refreshes the index so the documents are searchable and returns the summary.
    pub fn finish(mut self) -> Result<IngestSummary, IngestError> {
        self.progress.finish_and_clear();
        self.store
            .refresh(&self.index)
            .map_err(|source| IngestError::Refresh {
                index: self.index.clone(),
                source,
            })?;
        self.summary.elapsed = self.started.elapsed();
        self.summary.geoip = self.geoip.as_ref().map(|g| g.counts().clone());
        Ok(self.summary)
    }
}

/// Wraps `raw` in a gzip decoder when it starts with the gzip magic bytes (concatenated gzip
/// members, as `logrotate` and `cat a.gz b.gz` make, are read through).
fn decompressed(raw: Box<dyn Read>) -> io::Result<Box<dyn BufRead>> {
    let mut reader = BufReader::with_capacity(READ_BUFFER, raw);
    let head = reader.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(reader);
        Ok(Box::new(BufReader::with_capacity(READ_BUFFER, gz)))
    } else {
        Ok(Box::new(reader))
    }
}

/// The id of a line's document: hex of the first 128 bits of SHA-256 of the line; the n-th
/// repeat (n ≥ 1) of an identical line within one input hashes the line with `\n#n`.
/// `timestamp` is the line's (see [`SeenLines`]).
fn document_id(line: &[u8], timestamp: EpochMillis, seen: &mut SeenLines) -> io::Result<[u8; 32]> {
    let digest = Sha256::digest(line);
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    let n = seen.repeat_of(u64::from_le_bytes(key), timestamp)?;
    Ok(if n == 0 {
        hex(&digest[..16])
    } else {
        let mut h = Sha256::new();
        h.update(line);
        h.update(format!("\n#{n}").as_bytes());
        hex(&h.finalize()[..16])
    })
}

/// Lower-case hex of 16 bytes.
fn hex(bytes: &[u8]) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; 32];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
    out
}

/// The text of [`hex`]'s digits.
fn hex_str(digits: &[u8; 32]) -> &str {
    std::str::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::{run, IngestError, IngestOptions, COMBINED};
    use super::*;
    use crate::store::{BulkDoc, BulkItemResult, BulkResponse, PutMode, StoreError, VersionedDoc};
    use serde_json::Value;
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::sync::Mutex;

    /// Records bulk calls; refuses documents whose `url.original` is `/refuse-me`.
    #[derive(Default)]
    struct RecordingStore {
        calls: Mutex<Vec<usize>>,
        docs: Mutex<BTreeMap<String, Value>>,
        refreshed: Mutex<u32>,
        /// Fails the whole bulk request with this number (from 1).
        fail_call: Option<usize>,
        /// How long each bulk request takes (lets the parsing thread run ahead).
        delay: Duration,
    }

    impl Store for RecordingStore {
        fn describe(&self) -> String {
            "recording".into()
        }
        fn search(&self, _: &str, _: &Value) -> Result<Value, StoreError> {
            Err(StoreError::InvalidSearch {
                at: "recording store".into(),
                problem: "not in this test".into(),
            })
        }
        fn bulk(&self, index: &str, docs: Vec<BulkDoc>) -> Result<BulkResponse, StoreError> {
            assert_eq!(index, "logs");
            std::thread::sleep(self.delay);
            let mut calls = self.calls.lock().unwrap();
            calls.push(docs.len());
            if self.fail_call == Some(calls.len()) {
                return Err(StoreError::Unavailable("disk on fire".into()));
            }
            drop(calls);
            let mut failed = Vec::new();
            let mut stored = 0;
            let mut map = self.docs.lock().unwrap();
            for (position, d) in docs.into_iter().enumerate() {
                if d.source.pointer("/url/original") == Some(&Value::from("/refuse-me")) {
                    failed.push(BulkItemResult {
                        position,
                        status: 400,
                        error: Some("mapper_parsing_exception".into()),
                    });
                } else {
                    map.insert(d.id.expect("ingest always sets ids"), d.source);
                    stored += 1;
                }
            }
            Ok(BulkResponse { failed, stored })
        }
        fn get(&self, _: &str, _: &str) -> Result<Option<VersionedDoc>, StoreError> {
            Ok(None)
        }
        fn put(&self, _: &str, _: &str, _: &Value, _: PutMode) -> Result<VersionedDoc, StoreError> {
            Err(StoreError::InvalidSearch {
                at: "recording store".into(),
                problem: "not in this test".into(),
            })
        }
        fn delete_by_query(&self, _: &str, _: &Value) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn refresh(&self, _: &str) -> Result<(), StoreError> {
            *self.refreshed.lock().unwrap() += 1;
            Ok(())
        }
    }

    fn args(files: Vec<PathBuf>, batch_size: usize) -> IngestOptions {
        IngestOptions {
            index: "logs".into(),
            format: "combined".into(),
            batch_size,
            any_time: false,
            geoip: None,
            geoip_asn: None,
            files,
        }
    }

    fn good_line(i: usize) -> String {
        format!(
            r#"10.0.{}.{} - - [06/May/2024:10:{:02}:00 +0000] "GET /p/{i} HTTP/1.1" 200 {} "-" "test""#,
            i / 250,
            i % 250,
            i % 60,
            i * 10
        )
    }

    #[test]
    fn elastic_example_log_is_fully_stored() {
        let path =
            crate::shared_data::shared_data().join("logs/nginx_access_elastic_example.log.gz");
        let store = RecordingStore::default();
        let summary = run(&args(vec![path], 5_000), &store).unwrap();
        // 51,462 lines in the file (README of the shared data); every one is valid `combined`.
        assert_eq!(summary.lines, 51_462);
        assert_eq!(summary.stored, 51_462, "{summary}");
        assert_eq!(summary.rejected, 0, "{summary}");
        assert_eq!(summary.blank, 0);
        // The file holds repeated identical lines; each still gets its own document.
        assert_eq!(store.docs.lock().unwrap().len(), 51_462);
        let calls = store.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 11);
        assert!(calls[..10].iter().all(|&n| n == 5_000));
        assert_eq!(*store.refreshed.lock().unwrap(), 1);
        assert_eq!(
            summary
                .first_timestamp
                .map(crate::time::format_millis)
                .as_deref(),
            Some("2015-05-17T08:05:00.000Z")
        );
        assert_eq!(
            summary
                .last_timestamp
                .map(crate::time::format_millis)
                .as_deref(),
            Some("2015-06-04T07:06:52.000Z")
        );
    }

    #[test]
    fn malformed_lines_are_counted_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let mut text = String::new();
        let mut bad_lines = Vec::new();
        let mut good = 0;
        for i in 0..1_000usize {
            let line_no = i + 1;
            let line = match i {
                16 => good_line(i).replace(" 200 ", " abc "),
                100 => good_line(i)[..55].to_owned(),
                200 => "2024/05/06 10:00:00 [error] 12#0: *1 open() failed".to_owned(),
                300 => good_line(i).replace("06/May/2024", "06/Mai/2024"),
                400 => good_line(i).replace("10.0.", "not-an-ip."),
                500..=519 => good_line(i).replace(" 200 ", " - 200 "),
                600 => String::new(),
                _ => {
                    good += 1;
                    good_line(i)
                }
            };
            if matches!(i, 16 | 100 | 200 | 300 | 400 | 500..=519) {
                bad_lines.push(line_no as u64);
            }
            text.push_str(&line);
            text.push_str(if i % 2 == 0 { "\n" } else { "\r\n" });
        }
        std::fs::write(&path, &text).unwrap();
        let store = RecordingStore::default();
        let summary = run(&args(vec![path], 64), &store).unwrap();
        assert_eq!(summary.lines, 999);
        assert_eq!(summary.blank, 1);
        assert_eq!(summary.stored, good as u64);
        assert_eq!(summary.rejected, bad_lines.len() as u64);
        assert_eq!(summary.stored + summary.rejected, summary.lines);
        let reported: Vec<u64> = summary.rejections.iter().map(|r| r.line).collect();
        assert_eq!(reported, bad_lines[..MAX_REPORTED_REJECTIONS]);
        let reasons: Vec<String> = summary
            .rejections
            .iter()
            .take(5)
            .map(|r| r.to_string())
            .collect();
        let file = dir.path().join("access.log").display().to_string();
        assert_eq!(
            reasons[0],
            format!("{file}:17: field `status`: expected a number, found `abc`")
        );
        assert_eq!(
            reasons[1],
            format!(
                "{file}:101: field `request`: expected `\" ` after it, but the line ends first"
            )
        );
        assert!(
            reasons[2].starts_with(&format!(
                "{file}:201: field `remote_addr`: expected ` - ` after it"
            )),
            "{}",
            reasons[2]
        );
        assert!(
            reasons[3].contains(":301: field `time_local`: expected a time like"),
            "{}",
            reasons[3]
        );
        assert_eq!(
            reasons[4],
            format!(
                "{file}:401: field `remote_addr`: expected an IP address, found `not-an-ip.1.150`"
            )
        );
        // Every good line is stored, under the id of its content.
        let docs = store.docs.lock().unwrap();
        assert_eq!(docs.len(), good);
        let urls: std::collections::BTreeSet<&str> = docs
            .values()
            .map(|d| d["url"]["original"].as_str().unwrap())
            .collect();
        for i in (0..1_000).filter(|i| !bad_lines.contains(&(*i as u64 + 1)) && *i != 600) {
            assert!(
                urls.contains(format!("/p/{i}").as_str()),
                "line {} missing",
                i + 1
            );
        }
        let text = summary.to_string();
        assert!(!text.contains("Most lines were rejected"), "{text}");
        assert!(
            text.contains(&format!(
                "Stored {good} of 999 lines from 1 file into `logs`; rejected 25; skipped 1 blank"
            )),
            "{text}"
        );
        assert!(text.contains("First 10 of 25 rejected lines:"), "{text}");
    }

    #[test]
    fn a_failed_bulk_request_stops_the_load_and_names_its_lines() {
        let mut input = String::new();
        for i in 0..40 {
            input.push_str(&good_line(i));
            input.push('\n');
        }
        let store = RecordingStore {
            fail_call: Some(3),
            ..RecordingStore::default()
        };
        let mut loader =
            Loader::new(&store, "logs", LogFormat::compile(COMBINED).unwrap()).batch_size(3);
        let e = loader.read("mem", input.as_bytes()).unwrap_err();
        assert!(
            matches!(
                e,
                IngestError::Store {
                    first_line: 7,
                    last_line: 9,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "mem: lines 7-9 could not be stored: store: unavailable: disk on fire"
        );
        // No request after the failed one; what was stored before it is counted.
        assert_eq!(*store.calls.lock().unwrap(), [3, 3, 3]);
        assert_eq!(loader.summary.stored, 6);
        // The message (a full disk fails a bulk request this way) says exactly how much was
        // stored, and that the failed batch may be partly stored (issue 19).
        let e = loader.stopped(e);
        assert_eq!(
            e.to_string(),
            "mem: lines 7-9 could not be stored: store: unavailable: disk on fire; stopped after \
             storing 6 of the 9 lines read into `logs` (lines 7-9 may be partly stored; re-run \
             the same ingest to store them, without duplicates)"
        );
        assert_eq!(crate::Error::Ingest(e).exit_code(), crate::EXIT_UNAVAILABLE);
    }

    #[test]
    fn store_refusals_are_rejections_with_their_line() {
        let mut input = Vec::new();
        for i in 0..10 {
            let line = if i == 7 {
                good_line(i).replace("/p/7", "/refuse-me")
            } else {
                good_line(i)
            };
            writeln!(input, "{line}").unwrap();
        }
        let store = RecordingStore::default();
        let mut loader =
            Loader::new(&store, "logs", LogFormat::compile(COMBINED).unwrap()).batch_size(3);
        loader.read("mem", &input[..]).unwrap();
        let s = loader.finish().unwrap();
        assert_eq!((s.stored, s.rejected), (9, 1));
        assert_eq!(
            s.rejections[0].to_string(),
            "mem:8: the store refused the document (status 400): mapper_parsing_exception"
        );
        assert_eq!(*store.calls.lock().unwrap(), [3, 3, 3, 1]);
    }

    #[test]
    fn a_slow_store_still_gets_an_exact_summary_in_input_order() {
        // Line 2 is refused by the store, lines 5 and 8 do not parse; batches of 3 with a slow
        // store let the parser run ahead, yet the rejections come in line order.
        let mut input = String::new();
        for i in 0..12 {
            let line = match i {
                1 => good_line(i).replace("/p/1", "/refuse-me"),
                4 | 7 => good_line(i).replace(" 200 ", " abc "),
                _ => good_line(i),
            };
            input.push_str(&line);
            input.push('\n');
        }
        let slow = || RecordingStore {
            delay: Duration::from_millis(30),
            ..RecordingStore::default()
        };
        let store = slow();
        let mut loader =
            Loader::new(&store, "logs", LogFormat::compile(COMBINED).unwrap()).batch_size(3);
        loader.read("mem", input.as_bytes()).unwrap();
        let s = loader.finish().unwrap();
        assert_eq!((s.lines, s.stored, s.rejected), (12, 9, 3));
        let lines: Vec<u64> = s.rejections.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 5, 8]);
        // A failure in the second request (lines 4, 6 and 7): only the 7 lines up to it count as read,
        // and nothing is sent after it, however far the parser had got.
        let store = RecordingStore {
            fail_call: Some(2),
            ..slow()
        };
        let mut loader =
            Loader::new(&store, "logs", LogFormat::compile(COMBINED).unwrap()).batch_size(3);
        let e = loader.read("mem", input.as_bytes()).unwrap_err();
        assert_eq!(*store.calls.lock().unwrap(), [3, 3]);
        assert_eq!((loader.summary.lines, loader.summary.stored), (7, 2));
        let lines: Vec<u64> = loader.summary.rejections.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 5]);
        let text = loader.stopped(e).to_string();
        assert!(text.contains("lines 4-7 could not be stored"), "{text}");
        assert!(
            text.contains("stopped after storing 2 of the 7 lines read"),
            "{text}"
        );
    }

    #[test]
    fn gzip_and_plain_give_the_same_ids_and_reingesting_does_not_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..50 {
            text.push_str(&good_line(i % 20)); // lines 20.. repeat earlier ones
            text.push('\n');
        }
        let plain = dir.path().join("a.log");
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join("rotated.1"); // no .gz extension: detected from content
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        let store = RecordingStore::default();
        let s = run(&args(vec![plain.clone()], 7), &store).unwrap();
        assert_eq!(s.stored, 50);
        let first: Vec<String> = store.docs.lock().unwrap().keys().cloned().collect();
        assert_eq!(first.len(), 50, "repeated lines keep distinct ids");
        assert!(first
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit())));
        let s = run(&args(vec![gz, plain], 7), &store).unwrap();
        assert_eq!((s.files, s.stored, s.rejected), (2, 100, 0));
        let after: Vec<String> = store.docs.lock().unwrap().keys().cloned().collect();
        assert_eq!(first, after);
    }

    #[test]
    fn missing_file_and_bad_format_are_errors() {
        let store = RecordingStore::default();
        let e = run(&args(vec![PathBuf::from("/nonexistent/x.log")], 10), &store).unwrap_err();
        assert!(
            matches!(e, crate::Error::Ingest(IngestError::Open { .. })),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("/nonexistent/x.log: cannot open:"),
            "{e}"
        );
        let mut a = args(vec![PathBuf::from("/nonexistent/x.log")], 10);
        a.format = "$remote_addr $status".into();
        let e = run(&a, &store).unwrap_err();
        assert!(e.to_string().contains("no time variable"), "{e}");
    }

    #[test]
    fn geoip_needs_a_client_address_and_a_readable_database() {
        let store = RecordingStore::default();
        let mut a = args(vec![PathBuf::from("/nonexistent/x.log")], 10);
        a.geoip = Some(PathBuf::from("/nonexistent/GeoLite2-City.mmdb"));
        let e = run(&a, &store).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--geoip /nonexistent/GeoLite2-City.mmdb: cannot read:"),
            "{e}"
        );
        assert_eq!(e.exit_code(), crate::EXIT_UNAVAILABLE);
        a.format = "[$time_local] $status".into();
        let e = run(&a, &store).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--geoip needs the client address, but the log format has none of $remote_addr or $realip_remote_addr: [$time_local] $status"
        );
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
    }

    #[test]
    fn demo_log_loads_with_exactly_its_malformed_lines_rejected() {
        let cfg = crate::demo::DemoConfig {
            days: 1,
            visitor_requests_per_day: 5_000.0,
            malformed_rate: 0.01,
            ..crate::demo::DemoConfig::default()
        };
        let mut bytes = Vec::new();
        let log = crate::demo::generate(&cfg, &mut bytes).unwrap();
        assert!(log.malformed > 20, "{log}");
        let store = RecordingStore::default();
        let format = LogFormat::compile(crate::demo::DEMO_LOG_FORMAT).unwrap();
        let mut loader = Loader::new(&store, "logs", format);
        loader.read("demo.log", &bytes[..]).unwrap();
        let s = loader.finish().unwrap();
        assert_eq!(s.lines, log.lines);
        assert_eq!(s.rejected, log.malformed);
        assert_eq!(s.stored, log.lines - log.malformed);
        assert_eq!(
            store.docs.lock().unwrap().len() as u64,
            s.stored,
            "every stored line has its own id"
        );
    }

    #[test]
    fn a_wrong_format_gets_a_hint() {
        let mut input = String::new();
        for i in 0..5 {
            input.push_str(&good_line(i));
            input.push_str(" 0.012 \"US\"\n");
        }
        let store = RecordingStore::default();
        let mut loader = Loader::new(&store, "logs", LogFormat::compile(COMBINED).unwrap());
        loader.read("demo.log", input.as_bytes()).unwrap();
        let s = loader.finish().unwrap();
        assert_eq!((s.stored, s.rejected), (0, 5));
        let text = s.to_string();
        assert!(text.contains("demo.log:1: unexpected text after the last field `http_user_agent`: ` 0.012 \"US\"`"), "{text}");
        assert!(text.contains("Most lines were rejected"), "{text}");
    }

    #[test]
    fn repeated_lines_are_numbered_wherever_they_repeat() {
        let mut seen = SeenLines::default();
        let ids: Vec<[u8; 32]> = ["a", "b", "a", "a", "b", "c"]
            .iter()
            .map(|l| document_id(l.as_bytes(), 0, &mut seen).expect("in memory"))
            .collect();
        let plain = |l: &str| hex(&Sha256::digest(l)[..16]);
        let nth = |l: &str, n: u32| hex(&Sha256::digest(format!("{l}\n#{n}"))[..16]);
        assert_eq!(
            ids,
            [
                plain("a"),
                plain("b"),
                nth("a", 1),
                nth("a", 2),
                nth("b", 1),
                plain("c")
            ]
        );
        // A fixed point: the first 128 bits of SHA-256("a"), as any other tool computes them.
        assert_eq!(hex_str(&plain("a")), "ca978112ca1bbdcafac231b39a23dc4d");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(51_462), "51,462");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
