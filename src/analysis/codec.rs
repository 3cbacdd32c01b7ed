//! A tiny length-prefixed binary codec for model snapshots: little-endian integers,
//! length-prefixed byte strings, tagged options. Decoding never panics on bad input.

/// Appends values to a byte buffer.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn u32(&mut self, x: u32) {
        self.buf.extend_from_slice(&x.to_le_bytes());
    }
    pub fn u64(&mut self, x: u64) {
        self.buf.extend_from_slice(&x.to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.buf.extend_from_slice(b);
    }
    pub fn opt_str(&mut self, s: &Option<String>) {
        match s {
            None => self.buf.push(0),
            Some(s) => {
                self.buf.push(1);
                self.bytes(s.as_bytes());
            }
        }
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads values written by [`Writer`]; every read returns `None` past the end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn opt_str(&mut self) -> Option<Option<String>> {
        match self.take(1)?[0] {
            0 => Some(None),
            1 => Some(Some(String::from_utf8(self.bytes()?.to_vec()).ok()?)),
            _ => None,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut w = Writer::default();
        w.u32(7);
        w.u64(u64::MAX - 1);
        w.opt_str(&Some("DE".into()));
        w.opt_str(&None);
        w.bytes(&[1, 2, 3]);
        let buf = w.finish();
        let mut r = Reader::new(&buf);
        assert_eq!(r.u32(), Some(7));
        assert_eq!(r.u64(), Some(u64::MAX - 1));
        assert_eq!(r.opt_str(), Some(Some("DE".into())));
        assert_eq!(r.opt_str(), Some(None));
        assert_eq!(r.bytes(), Some(&[1u8, 2, 3][..]));
        assert!(r.is_empty());
        for cut in 0..buf.len() {
            let mut r = Reader::new(&buf[..cut]);
            let ok = (|| {
                r.u32()?;
                r.u64()?;
                r.opt_str()?;
                r.opt_str()?;
                r.bytes()
            })();
            assert!(ok.is_none(), "truncated at {cut} decoded");
        }
    }
}
