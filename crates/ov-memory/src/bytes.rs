//! A bounds-checked reader of little-endian values over a byte slice: the
//! one every snapshot decoder reads with (the container and its sections,
//! the approximate indexes, the lexical index). A read past the end gives
//! `None` and moves nothing; each decoder turns that into its own error.
//!
//! And where every snapshot encoder writes: a [`Sink`], which is a growing
//! buffer, a buffer of exactly the snapshot's size, or only a count of the
//! bytes. One encoder thus gives both a snapshot's length and its bytes, so
//! that a snapshot is written once, in a buffer allocated once.

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

/// Where an encoder's bytes go (see the module docs).
pub(crate) trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
    /// How many bytes were put so far.
    fn pos(&self) -> usize;
    /// Overwrites bytes already put, from `at` on: a length or checksum
    /// known only once what follows it is written.
    fn patch(&mut self, at: usize, bytes: &[u8]);
    /// Calls `f` with the bytes put from `start` on (a [`Counter`] has none
    /// and gives `default`).
    fn since<R>(&self, start: usize, default: R, f: impl FnOnce(&[u8]) -> R) -> R;
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn pos(&self) -> usize {
        self.len()
    }
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        self[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn since<R>(&self, start: usize, _: R, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&self[start..])
    }
}

/// Counts the bytes put, and keeps none.
#[derive(Debug, Default)]
pub(crate) struct Counter(pub(crate) usize);

impl Sink for Counter {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
    fn pos(&self) -> usize {
        self.0
    }
    fn patch(&mut self, _: usize, _: &[u8]) {}
    fn since<R>(&self, _: usize, default: R, _: impl FnOnce(&[u8]) -> R) -> R {
        default
    }
}

/// Fills a buffer of a size counted before by a [`Counter`]. Bytes past its
/// end are dropped and recorded as an overflow (the caller checks
/// [`Filler::filled`]): never a panic.
#[derive(Debug)]
pub(crate) struct Filler<'a> {
    buf: &'a mut [u8],
    pos: usize,
    overflow: bool,
}

impl<'a> Filler<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Filler<'a> {
        Filler { buf, pos: 0, overflow: false }
    }

    /// Whether exactly the whole buffer was written.
    pub(crate) fn filled(&self) -> bool {
        !self.overflow && self.pos == self.buf.len()
    }
}

impl Sink for Filler<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            Some(to) => {
                to.copy_from_slice(bytes);
                self.pos += bytes.len();
            }
            None => self.overflow = true,
        }
    }
    fn pos(&self) -> usize {
        self.pos
    }
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        match self.buf.get_mut(at..at + bytes.len()) {
            Some(to) => to.copy_from_slice(bytes),
            None => self.overflow = true,
        }
    }
    fn since<R>(&self, start: usize, default: R, f: impl FnOnce(&[u8]) -> R) -> R {
        self.buf.get(start..self.pos).map_or(default, f)
    }
}

/// A [`Sink`] as an [`std::io::Write`] (for `serde_json::to_writer`).
pub(crate) struct Writer<'a, S>(pub(crate) &'a mut S);

impl<S: Sink> std::io::Write for Writer<'_, S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.put(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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

    #[test]
    fn sinks_agree_and_a_full_filler_drops_instead_of_panicking() {
        fn write(out: &mut impl Sink) {
            out.put(b"head");
            let at = out.pos();
            out.put(&[0; 4]);
            out.put(b"payload");
            let n = out.since(at + 4, 0, |b| b.len() as u32);
            out.patch(at, &n.to_le_bytes());
            std::io::Write::write_all(&mut Writer(out), b"!").unwrap();
        }
        let mut v = Vec::new();
        write(&mut v);
        let mut c = Counter::default();
        write(&mut c);
        assert_eq!(c.0, v.len());
        assert_eq!(&v[4..8], &7u32.to_le_bytes());
        let mut buf = vec![0; v.len()];
        let mut f = Filler::new(&mut buf);
        write(&mut f);
        assert!(f.filled());
        assert_eq!(buf, v);
        // Too small or too large: recorded, never a panic.
        for len in [0, 5, v.len() - 1, v.len() + 1] {
            let mut buf = vec![0; len];
            let mut f = Filler::new(&mut buf);
            write(&mut f);
            assert!(!f.filled(), "{len} bytes");
        }
        let mut buf = vec![0; 2];
        let mut f = Filler::new(&mut buf);
        f.patch(1, b"xy");
        assert!(!f.filled());
    }
}
