//! A bounds-checked reader of little-endian values over a byte slice: the
//! one every snapshot decoder reads with (the container and its sections,
//! the approximate indexes, the lexical index). A read past the end gives
//! `None` and moves nothing; each decoder turns that into its own error.

/// A position in a byte slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    /// A cursor at `pos` of `buf` (at its end if `pos` is past it).
    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Cursor<'a> {
        Cursor { buf, pos: pos.min(buf.len()) }
    }

    /// Bytes left.
    pub(crate) fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len())?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Some(s)
    }

    /// The next `N` bytes, as an array.
    #[inline]
    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }

    pub(crate) fn f32(&mut self) -> Option<f32> {
        self.array().map(f32::from_le_bytes)
    }

    pub(crate) fn f64(&mut self) -> Option<f64> {
        self.array().map(f64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_and_stops_at_the_end() {
        let mut bytes = Vec::new();
        bytes.push(7u8);
        bytes.extend_from_slice(&0xDEAD_BEEFu32.to_le_bytes());
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        bytes.extend_from_slice(&(-5i64).to_le_bytes());
        bytes.extend_from_slice(&1.5f32.to_le_bytes());
        bytes.extend_from_slice(&(-2.25f64).to_le_bytes());
        let mut c = Cursor::new(&bytes);
        assert_eq!(c.u8(), Some(7));
        assert_eq!(c.u32(), Some(0xDEAD_BEEF));
        assert_eq!(c.u64(), Some(u64::MAX));
        assert_eq!(c.i64(), Some(-5));
        assert_eq!(c.f32(), Some(1.5));
        assert_eq!(c.f64(), Some(-2.25));
        assert_eq!(c.left(), 0);
        assert_eq!(c.u8(), None);
        // A read that does not fit moves nothing.
        let mut c = Cursor::at(&bytes, bytes.len() - 3);
        assert_eq!(c.u32(), None);
        assert_eq!(c.left(), 3);
        assert_eq!(c.take(usize::MAX), None);
        assert_eq!(c.take(3).map(<[u8]>::len), Some(3));
        assert_eq!(Cursor::at(&bytes, 1000).left(), 0);
    }
}
