//! Byte-level codecs of sealed segments (see `sealed.rs`): bit-packed integer arrays read in
//! place from a mapped file, deflate blocks, and a word-wise checksum. Nothing here knows
//! about documents or fields.

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use std::collections::HashMap;
use std::io::{Read, Write};

/// A multiply-rotate hasher, much cheaper than SipHash on the hot paths (values, ids, field
/// paths); the keys come from the store's own data, so flooding is not a concern.
#[derive(Default)]
pub(crate) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.write_u64(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
    }
    #[inline]
    fn write_u8(&mut self, x: u8) {
        self.write_u64(x as u64);
    }
    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64);
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
}

/// A map with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;
/// A set with [`FastHasher`].
pub(crate) type FastSet<K> =
    std::collections::HashSet<K, std::hash::BuildHasherDefault<FastHasher>>;

/// Where a bit-packed array of `u64` codes lies in a file: `n` codes of `bits` bits from
/// byte `off`. Each code `c` stands for `min + (c - 1) * mul` (0 is "no value"), so a column
/// of similar numbers (timestamps, status codes) takes a few bits per document.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(crate) struct Packed {
    pub(crate) off: u64,
    pub(crate) n: u32,
    pub(crate) bits: u8,
    pub(crate) min: i64,
    pub(crate) mul: u64,
}

/// Codes wider than this are not packed (a code is read with one unaligned 64-bit load).
pub(crate) const MAX_BITS: u8 = 56;

/// Bytes a packed array of `n` codes of `bits` bits takes, plus 8 bytes of padding so every
/// code can be read with one 64-bit load.
pub(crate) fn packed_len(n: u32, bits: u8) -> u64 {
    (n as u64 * bits as u64).div_ceil(8) + 8
}

impl Packed {
    /// The code of entry `i` (0 when `i` is out of range or the bytes are short: the
    /// segment was checked on open, so neither happens).
    #[inline]
    pub(crate) fn code(&self, bytes: &[u8], i: u32) -> u64 {
        if self.bits == 0 || i >= self.n {
            return 0;
        }
        let bit = i as u64 * self.bits as u64;
        let at = (self.off + bit / 8) as usize;
        let Some(b) = bytes.get(at..at + 8) else {
            return 0;
        };
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        (u64::from_le_bytes(w) >> (bit % 8)) & ((1u64 << self.bits) - 1)
    }

    /// The value of entry `i`, `None` for code 0.
    #[inline]
    pub(crate) fn get(&self, bytes: &[u8], i: u32) -> Option<i64> {
        match self.code(bytes, i) {
            0 => None,
            c => Some(
                self.min
                    .wrapping_add(((c - 1).wrapping_mul(self.mul)) as i64),
            ),
        }
    }

    /// Whether the array lies within a file of `len` bytes.
    pub(crate) fn fits(&self, len: u64) -> bool {
        self.bits <= MAX_BITS
            && self
                .off
                .checked_add(packed_len(self.n, self.bits))
                .is_some_and(|end| end <= len)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Packs `vals` (`None` for no value) at the end of `out`; `None` when their range needs more
/// than [`MAX_BITS`] bits.
pub(crate) fn pack(out: &mut Vec<u8>, vals: &[Option<i64>]) -> Option<Packed> {
    let n = u32::try_from(vals.len()).ok()?;
    let min = vals.iter().flatten().copied().min().unwrap_or(0);
    let mul = vals
        .iter()
        .flatten()
        .fold(0, |g, &v| gcd(g, v.wrapping_sub(min) as u64))
        .max(1);
    let max_code = vals
        .iter()
        .flatten()
        .map(|&v| v.wrapping_sub(min) as u64 / mul + 1)
        .max()
        .unwrap_or(0);
    let bits = (64 - max_code.leading_zeros()) as u8;
    if bits > MAX_BITS {
        return None;
    }
    let off = out.len() as u64;
    let start = out.len();
    out.resize(start + packed_len(n, bits) as usize, 0);
    if bits > 0 {
        for (i, v) in vals.iter().enumerate() {
            let code = v.map_or(0, |v| v.wrapping_sub(min) as u64 / mul + 1);
            let bit = i as u64 * bits as u64;
            let at = start + (bit / 8) as usize;
            let mut w = [0u8; 8];
            w.copy_from_slice(&out[at..at + 8]);
            let word = u64::from_le_bytes(w) | (code << (bit % 8));
            out[at..at + 8].copy_from_slice(&word.to_le_bytes());
        }
    }
    Some(Packed {
        off,
        n,
        bits,
        min,
        mul,
    })
}

/// The deflate level of segment blocks: zlib-rs's level 2 (greedy matching) ingests the demo
/// log 15-30% faster than miniz_oxide at level 6 for 10-15% more bytes on disk (77 against
/// 66 bytes per line; `scripts/store-bench.sh`). Any level inflates the same, so segments
/// written at another level still read.
const DEFLATE_LEVEL: i32 = 2;

/// Deflates `raw` (raw deflate, no zlib header) with zlib-rs.
pub(crate) fn deflate(raw: &[u8]) -> Vec<u8> {
    let config = zlib_rs::DeflateConfig {
        window_bits: -15,
        ..zlib_rs::DeflateConfig::new(DEFLATE_LEVEL)
    };
    let mut out = vec![0u8; zlib_rs::compress_bound(raw.len())];
    let (z, rc) = zlib_rs::compress_slice(&mut out, raw, config);
    let n = z.len();
    if rc != zlib_rs::ReturnCode::Ok {
        // Cannot happen with a `compress_bound` buffer; flate2 is the fallback all the same.
        let mut enc = DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        let _ = enc.write_all(raw);
        return enc.finish().unwrap_or_default();
    }
    out.truncate(n);
    out
}

/// Inflates a block that must come to `len` bytes; `None` when it is not valid deflate data or
/// not of that length.
pub(crate) fn inflate(block: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    DeflateDecoder::new(block)
        .take(len as u64 + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() == len).then_some(out)
}

/// A 64-bit checksum of `bytes`, eight bytes a step (the record checksum, FNV-1a, takes one).
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = FastHasher::default();
    h.write(bytes);
    h.write_usize(bytes.len());
    h.finish()
}

/// Appends a little-endian `u32`.
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Reads length-prefixed byte strings (`u32` length, bytes) one after another.
pub(crate) struct Prefixed<'b>(pub(crate) &'b [u8]);

impl<'b> Iterator for Prefixed<'b> {
    type Item = Option<&'b [u8]>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let Some((len, rest)) = self.0.split_first_chunk::<4>() else {
            self.0 = &[];
            return Some(None);
        };
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            self.0 = &[];
            return Some(None);
        }
        let (item, rest) = rest.split_at(len);
        self.0 = rest;
        Some(Some(item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_roundtrip() {
        for vals in [
            vec![Some(5), None, Some(7), Some(1_000_000)],
            vec![Some(1_714_953_606_000), Some(1_714_953_608_000), None],
            vec![None, None],
            vec![Some(-3), Some(-3)],
            vec![Some(i64::MIN), Some(i64::MIN + (1 << 40))],
        ] {
            let mut out = vec![1, 2, 3];
            let p = pack(&mut out, &vals).unwrap();
            assert!(p.fits(out.len() as u64));
            let got: Vec<_> = (0..vals.len() as u32).map(|i| p.get(&out, i)).collect();
            assert_eq!(got, vals);
        }
        assert!(pack(&mut Vec::new(), &[Some(0), Some(1), Some(1 << 60)]).is_none());
    }

    #[test]
    fn deflate_roundtrip_and_checks() {
        let raw = b"{\"a\":1}{\"a\":2}".repeat(50);
        let z = deflate(&raw);
        assert_eq!(inflate(&z, raw.len()).unwrap(), raw);
        assert!(inflate(&z, raw.len() - 1).is_none());
        assert!(inflate(b"\xff\xff", 3).is_none());
        let mut p = Vec::new();
        put_u32(&mut p, 2);
        p.extend_from_slice(b"ab");
        put_u32(&mut p, 9);
        let items: Vec<_> = Prefixed(&p).collect();
        assert_eq!(items, [Some(&b"ab"[..]), None]);
    }
}
