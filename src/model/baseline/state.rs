//! Fixed-length little-endian encoding of the views' states, for snapshots.

/// Appends values to a state being written.
pub(super) struct Writer(pub(super) Vec<u8>);

impl Writer {
    pub(super) fn f32s<'a>(&mut self, values: impl IntoIterator<Item = &'a f32>) {
        for v in values {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }
    pub(super) fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
}

/// Reads values from the front of a state; `None` once the bytes run out.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub(super) fn f32s(&mut self, into: &mut [f32]) -> Option<()> {
        for v in into {
            *v = f32::from_le_bytes(self.array()?);
        }
        Some(())
    }
    pub(super) fn f32(&mut self) -> Option<f32> {
        Some(f32::from_le_bytes(self.array()?))
    }
    pub(super) fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.array()?))
    }
    pub(super) fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }
    pub(super) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
}
