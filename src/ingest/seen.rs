//! Numbering identical lines of one input, in memory that does not grow with the input.
//!
//! A line's document id is the hash of the line; the n-th repeat of an identical line gets
//! the hash of the line and `n` (see `load::document_id`), so ingesting the same file again
//! writes the same ids and two identical lines stay two documents. That needs, for every
//! line, how many identical lines came before it in the input.
//!
//! Identical lines share their timestamp, and a log is written in time order, give or take
//! a request's duration. So the counts are kept by timestamp for a window behind the
//! newest timestamp seen ([`WINDOW_MS`]); a timestamp that falls out of the window has its
//! counts moved to sorted runs in an unnamed temporary file, which only a line arriving
//! later than the window reads back (a rare line in a log, one binary search per run). An
//! input that is not in time order (several servers' logs concatenated) would send most
//! lines there: after [`LATE_LOOKUPS`] such lines every count is read back into memory
//! and the input is numbered from memory to its end, as if it had never been spilled.
//! Either way every line gets the number it would get from one map of every line.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read, Seek, SeekFrom, Write};

/// How far behind an input's newest timestamp a line may fall and still be numbered from the
/// counts in memory (milliseconds).
const WINDOW_MS: i64 = 10 * 60_000;

/// Counts moved out of the window that are gathered before they are written as one sorted
/// run (12 bytes each on disk; a few MB in memory until then).
const RUN_KEYS: usize = 1 << 19;

/// Lines later than the window looked up in the runs before the input is taken as out of
/// time order and every count is read back into memory.
const LATE_LOOKUPS: u32 = 10_000;

/// Bytes of one `(key, count)` entry of a run.
const ENTRY: u64 = 12;

type KeyCounts = HashMap<u64, u32, BuildHasherDefault<KeyIsHash>>;

/// How many identical lines came before each line of one input (see the module doc).
#[derive(Default)]
pub(super) struct SeenLines {
    /// Counts by key of the lines whose timestamp is in the window, by timestamp.
    recent: BTreeMap<i64, KeyCounts>,
    /// The newest timestamp seen.
    newest: Option<i64>,
    /// Counts moved out of the window, not yet written to a run.
    evicted: KeyCounts,
    /// Sorted runs of `(key, count)` in one unnamed temporary file: (offset, entries).
    runs: Vec<(u64, u64)>,
    file: Option<std::fs::File>,
    /// Counts of the keys of lines later than the window (or, once `unordered`, of all).
    late: KeyCounts,
    late_lookups: u32,
    /// The input proved out of time order: everything is counted in `late`.
    unordered: bool,
}

impl SeenLines {
    /// How many times `key` (the first 64 bits of the line's SHA-256) was seen before in
    /// this input (0 the first time); `timestamp` is the line's. Errs only when the
    /// temporary file of spilled counts cannot be written or read.
    pub(super) fn repeat_of(&mut self, key: u64, timestamp: i64) -> io::Result<u32> {
        if self.unordered {
            return Ok(bump(&mut self.late, key));
        }
        let newest = *self.newest.get_or_insert(timestamp);
        if timestamp >= newest - WINDOW_MS {
            let n = bump(self.recent.entry(timestamp).or_default(), key);
            if timestamp > newest {
                self.newest = Some(timestamp);
                self.evict_before(timestamp - WINDOW_MS)?;
            }
            return Ok(n);
        }
        if let Some(n) = self.late.get_mut(&key) {
            *n += 1;
            return Ok(*n - 1);
        }
        self.late_lookups += 1;
        if self.late_lookups > LATE_LOOKUPS {
            self.read_back()?;
            return Ok(bump(&mut self.late, key));
        }
        let n = self.spilled(key)?;
        self.late.insert(key, n + 1);
        Ok(n)
    }

    /// Moves the counts of timestamps before `start` out of the window.
    fn evict_before(&mut self, start: i64) -> io::Result<()> {
        while let Some(entry) = self.recent.first_entry() {
            if *entry.key() >= start {
                break;
            }
            for (key, n) in entry.remove() {
                *self.evicted.entry(key).or_insert(0) += n;
            }
            if self.evicted.len() >= RUN_KEYS {
                self.write_run()?;
            }
        }
        Ok(())
    }

    /// Writes the evicted counts as one run sorted by key.
    fn write_run(&mut self) -> io::Result<()> {
        let mut entries: Vec<(u64, u32)> = self.evicted.drain().collect();
        entries.sort_unstable();
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile()?),
        };
        let offset = file.seek(SeekFrom::End(0))?;
        let mut out = io::BufWriter::new(&mut *file);
        for (key, n) in &entries {
            out.write_all(&key.to_le_bytes())?;
            out.write_all(&n.to_le_bytes())?;
        }
        out.flush()?;
        self.runs.push((offset, entries.len() as u64));
        Ok(())
    }

    /// The count of `key` moved out of the window: the evicted counts' and every run's
    /// (a key is in a run once; it can be in several only through a 64-bit collision).
    fn spilled(&mut self, key: u64) -> io::Result<u32> {
        let mut n = self.evicted.get(&key).copied().unwrap_or(0);
        let Some(file) = &mut self.file else {
            return Ok(n);
        };
        for &(offset, len) in &self.runs {
            let (mut lo, mut hi) = (0, len);
            while lo < hi {
                let mid = (lo + hi) / 2;
                let (k, c) = read_entry(file, offset + mid * ENTRY)?;
                if k == key {
                    n += c;
                    break;
                }
                if k < key {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
        }
        Ok(n)
    }

    /// The input is out of time order: every count (window, evicted, runs) goes into `late`,
    /// which numbers the rest of the input.
    fn read_back(&mut self) -> io::Result<()> {
        self.unordered = true;
        let mut all = std::mem::take(&mut self.evicted);
        for (_, counts) in std::mem::take(&mut self.recent) {
            for (key, n) in counts {
                *all.entry(key).or_insert(0) += n;
            }
        }
        if let Some(mut file) = self.file.take() {
            file.seek(SeekFrom::Start(0))?;
            let mut reader = io::BufReader::new(file);
            let mut buf = [0u8; ENTRY as usize];
            for _ in 0..self.runs.iter().map(|r| r.1).sum::<u64>() {
                reader.read_exact(&mut buf)?;
                let (key, n) = decode(&buf);
                *all.entry(key).or_insert(0) += n;
            }
        }
        self.runs.clear();
        // Keys met late were counted from the runs when first met: theirs replace the sums.
        for (key, n) in std::mem::take(&mut self.late) {
            all.insert(key, n);
        }
        self.late = all;
        Ok(())
    }
}

/// Returns `key`'s count in `counts` and adds one to it.
fn bump(counts: &mut KeyCounts, key: u64) -> u32 {
    let n = counts.entry(key).or_insert(0);
    *n += 1;
    *n - 1
}

fn read_entry(file: &mut std::fs::File, at: u64) -> io::Result<(u64, u32)> {
    let mut buf = [0u8; ENTRY as usize];
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(&mut buf)?;
    Ok(decode(&buf))
}

fn decode(buf: &[u8; ENTRY as usize]) -> (u64, u32) {
    let mut key = [0u8; 8];
    key.copy_from_slice(&buf[..8]);
    let mut n = [0u8; 4];
    n.copy_from_slice(&buf[8..]);
    (u64::from_le_bytes(key), u32::from_le_bytes(n))
}

/// A hasher for keys that are already uniform hashes (bits of a SHA-256): a `u64` key is its
/// own hash, where SipHash cost as much as a tenth of the SHA-256 itself.
#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used (the keys are `u64`); a plain FNV-1a fold keeps it correct.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: one map of every key.
    fn numbered_from_one_map(lines: &[(u64, i64)]) -> Vec<u32> {
        let mut all = HashMap::new();
        lines
            .iter()
            .map(|(k, _)| {
                let n = all.entry(*k).or_insert(0u32);
                *n += 1;
                *n - 1
            })
            .collect()
    }

    fn numbered(lines: &[(u64, i64)]) -> (Vec<u32>, SeenLines) {
        let mut seen = SeenLines::default();
        let ns = lines
            .iter()
            .map(|&(k, t)| seen.repeat_of(k, t).expect("temporary file"))
            .collect();
        (ns, seen)
    }

    /// A log of `n` lines a second apart, with a repeat of an earlier line now and then:
    /// mostly within its second, sometimes far later (`late` of them), keys as a hash
    /// would spread them.
    fn log(n: u64, late: u64) -> Vec<(u64, i64)> {
        let key = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
        let mut lines = Vec::new();
        for i in 0..n {
            let t = i as i64 * 1_000;
            lines.push((key(i), t));
            if i % 7 == 0 {
                lines.push((key(i), t)); // an identical line in the same second
            }
            if i % 1_000 == 999 && i / 1_000 < late {
                // A line of an hour before (out of the window) and its repeat.
                let old = i - 900 - (i / 1_000) % 50;
                lines.push((key(old), old as i64 * 1_000));
                lines.push((key(old), old as i64 * 1_000));
            }
        }
        lines
    }

    #[test]
    fn numbers_as_one_map_would_in_a_log_in_time_order() {
        let lines = log(40_000, 30);
        let (ns, seen) = numbered(&lines);
        assert_eq!(ns, numbered_from_one_map(&lines));
        // Only the window and the late lines stayed in memory; the rest went to the file.
        assert!(seen.recent.len() as i64 <= WINDOW_MS / 1_000 + 1);
        assert!(!seen.unordered);
        assert!(seen.late.len() <= 60, "{}", seen.late.len());
    }

    #[test]
    fn numbers_as_one_map_would_through_runs_on_disk() {
        // Small enough to stay in `evicted`, or spilled in runs: the same numbers.
        let lines = log(3 * RUN_KEYS as u64, 100);
        let (ns, seen) = numbered(&lines);
        assert!(seen.runs.len() >= 2, "runs: {}", seen.runs.len());
        assert_eq!(ns, numbered_from_one_map(&lines));
    }

    #[test]
    fn an_input_out_of_time_order_is_numbered_from_memory_after_enough_late_lines() {
        // Two servers' logs concatenated: the second starts back at the first's beginning.
        let mut lines = log(30_000, 0);
        lines.extend(log(30_000, 0).into_iter().map(|(k, t)| (k ^ 1, t)));
        lines.extend(log(30_000, 0)); // and the first one's lines once more
        let (ns, seen) = numbered(&lines);
        assert!(seen.unordered);
        assert_eq!(ns, numbered_from_one_map(&lines));
    }
}
