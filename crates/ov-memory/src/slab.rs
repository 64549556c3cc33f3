//! The vector slab: every memory's embedding, row after row, in one block.
//!
//! Small, it is a plain `Vec<f32>`. From [`HUGE_MIN_BYTES`] on Linux it is
//! an anonymous memory map that the kernel is asked to back with transparent
//! huge pages (2 MiB instead of 4 KiB), so that reads jumping between rows —
//! an approximate search, an exact scan over hundreds of megabytes — rarely
//! miss the TLB. Measured in one process, alternating each query between two
//! copies of one store (one on huge pages, one not): approximate reads of the
//! generated 100 k × 768 set 8–10 % faster, exact scans there 8–13 %, exact
//! scans of the 14 k × 384 corpus 6–10 %. A hint only: where the kernel keeps
//! huge pages off, elsewhere than Linux, in the browser and under Miri, the
//! slab is an ordinary allocation. What it holds and every result are the
//! same either way.
//!
//! Growing a map copies the rows into a new one (twice the capacity or more,
//! as a `Vec` grows); a batch reserves its room once. A slab read from a
//! snapshot is mapped from the same size as a growing one.
//!
//! The maps of dropped slabs, up to [`SPARE_MAX_BYTES`] together, are kept
//! as the process's spares and handed to the next slab that fits in one, as
//! the heap reuses memory a process freed: a fresh map's pages are faulted
//! in on first touch, which on this project's machine (a VM) made each of
//! five opens of the corpus in a row take 20–45 ms against 19–20 ms on the
//! heap, while the first open in a process took 31 ms mapped against 42–52 ms
//! on the heap (whose first large allocation is a fresh map of small pages).
//!
//! A snapshot file is read into a slab too ([`Bytes`]), so that opening one
//! reuses the buffer of the open before and the maps beside it (the rows, and
//! the 8-bit navigation copy of an f32 store: three spares): reading the 30 MB
//! corpus file took 23 ms into fresh 4 KiB pages, 8 ms into a fresh huge-page
//! map and 5 ms into memory used before.

use std::ops::{Deref, DerefMut};

/// Slabs from this size are mapped and advised to use huge pages (one huge
/// page; below it there is nothing to gain).
pub(crate) const HUGE_MIN_BYTES: usize = 2 << 20;

/// The most bytes of maps kept as spares when their slabs are dropped (the
/// module docs say why there are any). glibc's heap likewise keeps up to
/// 64 MiB that a process freed before it gives memory back; a larger map is
/// unmapped, and the oldest spares go first.
#[cfg(any(test, all(target_os = "linux", not(miri))))]
pub(crate) const SPARE_MAX_BYTES: usize = 64 << 20;

/// The rows' storage: see the module docs.
#[derive(Default)]
pub(crate) struct Slab {
    /// Floats in use (a map's length is its capacity).
    len: usize,
    block: Block,
}

enum Block {
    Heap(Vec<f32>),
    Map(Mapped),
}

/// An anonymous memory map; `None` only once it is given up (to the spares,
/// or unmapped when a larger map replaces it).
#[cfg(all(target_os = "linux", not(miri)))]
struct Mapped(Option<memmap2::MmapMut>);

#[cfg(all(target_os = "linux", not(miri)))]
impl Drop for Mapped {
    fn drop(&mut self) {
        if let Some(map) = self.0.take() {
            SPARE.keep(map);
        }
    }
}

/// Maps kept for reuse, newest last, together at most [`SPARE_MAX_BYTES`]
/// (see the module docs).
#[cfg(any(test, all(target_os = "linux", not(miri))))]
struct Spare<M>(std::sync::Mutex<Vec<M>>);

#[cfg(any(test, all(target_os = "linux", not(miri))))]
impl<M: AsRef<[u8]>> Spare<M> {
    const fn new() -> Spare<M> {
        Spare(std::sync::Mutex::new(Vec::new()))
    }

    /// Keeps `map` if it is no larger than [`SPARE_MAX_BYTES`], giving up the
    /// oldest maps kept until all fit in that.
    fn keep(&self, map: M) {
        if map.as_ref().len() > SPARE_MAX_BYTES {
            return;
        }
        let mut spare = self.0.lock().unwrap_or_else(|e| e.into_inner());
        spare.push(map);
        let mut total: usize = spare.iter().map(|m| m.as_ref().len()).sum();
        let mut old = Vec::new();
        while total > SPARE_MAX_BYTES {
            let m = spare.remove(0);
            total -= m.as_ref().len();
            old.push(m);
        }
        drop(spare);
        // The maps given up are unmapped outside the lock.
        drop(old);
    }

    /// The newest map kept that holds `bytes` without holding more than
    /// twice that.
    fn take(&self, bytes: usize) -> Option<M> {
        let mut spare = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let fits = spare.iter().rposition(|m| (bytes..=bytes.saturating_mul(2)).contains(&m.as_ref().len()))?;
        Some(spare.remove(fits))
    }
}

#[cfg(all(target_os = "linux", not(miri)))]
static SPARE: Spare<memmap2::MmapMut> = Spare::new();

/// No maps on this target: a type without values.
#[cfg(not(all(target_os = "linux", not(miri))))]
enum Mapped {}

/// Whether slabs may be mapped here.
const MAPS: bool = cfg!(all(target_os = "linux", not(miri)));

/// A map of at least `bytes`: a spare if one fits, else a new one.
#[cfg(all(target_os = "linux", not(miri)))]
fn new_map(bytes: usize) -> Result<Mapped, NoRoom> {
    if let Some(m) = SPARE.take(bytes) {
        return Ok(Mapped(Some(m)));
    }
    let m = memmap2::MmapMut::map_anon(bytes).map_err(|_| NoRoom)?;
    // A hint: refused (huge pages off, an old kernel), the map works as is.
    let _ = m.advise(memmap2::Advice::HugePage);
    Ok(Mapped(Some(m)))
}

/// Unmaps `m` now rather than keeping it as a spare (a slab that grew
/// out of it: keeping the smaller map would only add to the process's size).
#[cfg(all(target_os = "linux", not(miri)))]
fn unmap(m: &mut Mapped) {
    m.0 = None;
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn unmap(m: &mut Mapped) {
    match *m {}
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn new_map(_bytes: usize) -> Result<Mapped, NoRoom> {
    Err(NoRoom)
}

#[cfg(all(target_os = "linux", not(miri)))]
#[inline]
fn bytes(m: &Mapped) -> &[u8] {
    m.0.as_deref().unwrap_or_default()
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn bytes(m: &Mapped) -> &[u8] {
    match *m {}
}

#[cfg(all(target_os = "linux", not(miri)))]
#[inline]
fn bytes_mut(m: &mut Mapped) -> &mut [u8] {
    m.0.as_deref_mut().unwrap_or_default()
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn bytes_mut(m: &mut Mapped) -> &mut [u8] {
    match *m {}
}

impl Default for Block {
    fn default() -> Block {
        Block::Heap(Vec::new())
    }
}

/// The allocator (or the kernel) could not provide the room asked for.
#[derive(Debug)]
pub(crate) struct NoRoom;

impl Slab {
    /// Room for `len` floats that the caller overwrites (a snapshot's rows):
    /// they start as zeros or, in a reused map, as a dropped slab's floats.
    pub(crate) fn for_overwrite(len: usize) -> Result<Slab, NoRoom> {
        let mut slab = Slab::default();
        slab.grow_for_overwrite(len)?;
        Ok(slab)
    }

    /// Floats it can hold without growing.
    pub(crate) fn capacity(&self) -> usize {
        match &self.block {
            Block::Heap(v) => v.capacity(),
            Block::Map(m) => bytes(m).len() / 4,
        }
    }

    /// Makes room for `additional` more floats.
    pub(crate) fn try_reserve(&mut self, additional: usize) -> Result<(), NoRoom> {
        let needed = self.len.checked_add(additional).ok_or(NoRoom)?;
        if needed <= self.capacity() {
            return Ok(());
        }
        let target = needed.max(self.capacity().saturating_mul(2));
        if let Some(mut block) = map(target)? {
            slice_mut(&mut block, self.len).copy_from_slice(self);
            if let Block::Map(old) = &mut self.block {
                unmap(old);
            }
            self.block = block;
            return Ok(());
        }
        match &mut self.block {
            Block::Heap(v) => v.try_reserve(additional).map_err(|_| NoRoom),
            // A map is only ever replaced by a larger map.
            Block::Map(_) => Err(NoRoom),
        }
    }

    /// Appends `xs`. Room is reserved first (see [`Slab::try_reserve`]): the
    /// graph reserves before every insert, so running out here is the
    /// allocator failing as it would for a `Vec`.
    pub(crate) fn extend_from_slice(&mut self, xs: &[f32]) {
        if let Block::Heap(v) = &mut self.block {
            if self.len + xs.len() <= v.capacity() || map_size(self.len + xs.len()).is_none() {
                v.extend_from_slice(xs);
                self.len = v.len();
                return;
            }
        }
        if self.try_reserve(xs.len()).is_err() {
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<[f32; 1024]>());
        }
        let len = self.len;
        slice_mut(&mut self.block, len + xs.len())[len..].copy_from_slice(xs);
        self.len = len + xs.len();
    }

    /// Adds `additional` floats that the caller overwrites: zeros on the
    /// heap, in a map zeros or a dropped slab's floats (as
    /// [`Slab::for_overwrite`]). Reserves first as [`Slab::try_reserve`] does.
    pub(crate) fn grow_for_overwrite(&mut self, additional: usize) -> Result<(), NoRoom> {
        self.try_reserve(additional)?;
        let len = self.len + additional;
        if let Block::Heap(v) = &mut self.block {
            v.resize(len, 0.0);
        }
        self.len = len;
        Ok(())
    }

    /// Keeps the first `len` floats.
    pub(crate) fn truncate(&mut self, len: usize) {
        if let Block::Heap(v) = &mut self.block {
            v.truncate(len);
        }
        self.len = self.len.min(len);
    }

    /// Whether the rows are in a map advised to use huge pages.
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        !matches!(self.block, Block::Heap(_))
    }
}

/// The byte size of a map holding `floats`, or `None` when a slab that size
/// stays on the heap (too small, or no maps on this target).
fn map_size(floats: usize) -> Option<usize> {
    let bytes = floats.checked_mul(4)?;
    (MAPS && bytes >= HUGE_MIN_BYTES).then(|| bytes.div_ceil(HUGE_MIN_BYTES) * HUGE_MIN_BYTES)
}

/// A new map for `floats` (zeros), advised to use huge pages; `None` when a
/// slab that size stays on the heap.
fn map(floats: usize) -> Result<Option<Block>, NoRoom> {
    match map_size(floats) {
        Some(bytes) => Ok(Some(Block::Map(new_map(bytes)?))),
        None => Ok(None),
    }
}

#[inline]
fn slice(block: &Block, len: usize) -> &[f32] {
    match block {
        Block::Heap(v) => &v[..len],
        // Maps start on a page boundary, so the cast is aligned.
        Block::Map(m) => &bytemuck::cast_slice(bytes(m))[..len],
    }
}

#[inline]
fn slice_mut(block: &mut Block, len: usize) -> &mut [f32] {
    match block {
        Block::Heap(v) => &mut v[..len],
        Block::Map(m) => &mut bytemuck::cast_slice_mut(bytes_mut(m))[..len],
    }
}

impl Deref for Slab {
    type Target = [f32];
    #[inline]
    fn deref(&self) -> &[f32] {
        slice(&self.block, self.len)
    }
}

impl DerefMut for Slab {
    #[inline]
    fn deref_mut(&mut self) -> &mut [f32] {
        slice_mut(&mut self.block, self.len)
    }
}

impl Clone for Slab {
    fn clone(&self) -> Slab {
        let mut copy = Slab::default();
        copy.extend_from_slice(self);
        copy
    }
}

impl std::fmt::Debug for Slab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slab").field("len", &self.len).field("capacity", &self.capacity()).finish()
    }
}

/// A buffer of bytes that the caller overwrites whole (a snapshot file read
/// into memory): a slab's floats seen as bytes, so that a large one is a map
/// a dropped slab or buffer left (see the module docs).
pub(crate) struct Bytes {
    slab: Slab,
    len: usize,
}

impl Bytes {
    /// Room for `len` bytes, as zeros or a dropped slab's bytes.
    pub(crate) fn for_overwrite(len: usize) -> Result<Bytes, NoRoom> {
        Ok(Bytes { slab: Slab::for_overwrite(len.div_ceil(4))?, len })
    }
}

impl Deref for Bytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.slab[..])[..self.len]
    }
}

impl DerefMut for Bytes {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.slab[..])[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slab behaves as a `Vec<f32>` through growth onto a map, removals
    /// from the end, clones and zeroed starts, whichever block holds it.
    #[test]
    #[cfg_attr(miri, ignore)] // a million floats; under Miri a slab is a Vec anyway
    fn a_slab_holds_what_a_vec_would() {
        let row = |i: usize| -> Vec<f32> { (0..96).map(|j| (i * 96 + j) as f32).collect() };
        let mut slab = Slab::default();
        let mut want: Vec<f32> = Vec::new();
        // 96-float rows until well past the map threshold (2 MiB = 5 462 rows).
        for i in 0..12_000 {
            if i % 1000 == 0 {
                slab.try_reserve(96 * 700).unwrap();
            }
            slab.extend_from_slice(&row(i));
            want.extend_from_slice(&row(i));
            if i % 97 == 0 {
                slab.truncate(slab.len() - 96);
                want.truncate(want.len() - 96);
            }
            if i == 10 {
                assert!(!slab.is_mapped(), "small slabs stay on the heap");
            }
        }
        assert_eq!(&slab[..], &want[..]);
        assert!(slab.capacity() >= slab.len());
        assert_eq!(slab.is_mapped(), MAPS);
        let split = 5000 * 96;
        let (a, b) = slab.split_at_mut(split);
        a[..96].copy_from_slice(&b[..96]);
        want.copy_within(split..split + 96, 0);
        assert_eq!(&slab.clone()[..], &want[..]);
        for n in [0, 7, HUGE_MIN_BYTES / 4 + 3, 3 * HUGE_MIN_BYTES / 4] {
            let mut z = Slab::for_overwrite(n).unwrap();
            assert_eq!(z.len(), n);
            assert_eq!(z.is_mapped(), MAPS && n * 4 >= HUGE_MIN_BYTES);
            let want: Vec<f32> = (0..n).map(|i| i as f32).collect();
            z.copy_from_slice(&want);
            assert_eq!(&z[..], &want[..]);
        }
        assert!(Slab::default().try_reserve(usize::MAX).is_err());
    }

    /// Growing for overwrite keeps what was there, on the heap and into a map.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn growing_for_overwrite_keeps_the_floats_before() {
        for (start, add) in [(0, 5), (7, 1), (3, HUGE_MIN_BYTES / 4 + 9), (HUGE_MIN_BYTES / 4, HUGE_MIN_BYTES / 2)] {
            let head: Vec<f32> = (0..start).map(|i| i as f32).collect();
            let mut s = Slab::default();
            s.extend_from_slice(&head);
            s.grow_for_overwrite(add).unwrap();
            assert_eq!(s.len(), start + add);
            assert_eq!(&s[..start], &head[..]);
            s[start..].fill(2.0);
            assert!(s[start..].iter().all(|&x| x == 2.0));
        }
        assert!(Slab::default().grow_for_overwrite(usize::MAX).is_err(), "too large is refused");
    }

    /// The spare holds maps up to the limit together and hands out the
    /// newest that fits a request without being more than twice as large.
    #[test]
    fn the_spare_keeps_maps_that_fit_under_the_limit() {
        let spare: Spare<Vec<u8>> = Spare::new();
        spare.keep(vec![1; SPARE_MAX_BYTES + 1]);
        assert!(spare.take(1).is_none(), "too large to keep");
        spare.keep(vec![1; 100]);
        assert!(spare.take(101).is_none(), "too small");
        assert!(spare.take(49).is_none(), "more than twice the request");
        spare.keep(vec![2; 60]);
        assert_eq!(spare.take(50), Some(vec![2; 60]), "the newest that fits");
        assert_eq!(spare.take(50), Some(vec![1; 100]), "then the one before");
        assert!(spare.take(50).is_none(), "each taken once");
        // Past the limit together, the oldest go first.
        spare.keep(vec![3; SPARE_MAX_BYTES / 2]);
        spare.keep(vec![4; SPARE_MAX_BYTES / 2]);
        spare.keep(vec![5; 10]);
        assert!(spare.take(SPARE_MAX_BYTES / 2).is_some_and(|m| m[0] == 4));
        assert!(spare.take(SPARE_MAX_BYTES / 2).is_none(), "the oldest was given up");
        assert_eq!(spare.take(10), Some(vec![5; 10]));
    }

    /// A dropped slab's map is reused by the next one that fits, which then
    /// holds what is written into it.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_reused_map_holds_what_is_written() {
        let n = HUGE_MIN_BYTES / 4 * 3;
        for round in 0..3 {
            let mut a = Slab::for_overwrite(n).unwrap();
            let want: Vec<f32> = (0..n).map(|i| (i + round) as f32).collect();
            a.copy_from_slice(&want);
            let b = a.clone();
            assert_eq!(&b[..], &want[..]);
            drop(a);
            let mut c = Slab::for_overwrite(n / 2 + 1).unwrap();
            c.iter_mut().for_each(|x| *x = -1.0);
            c.extend_from_slice(&[7.0; 16]);
            assert!(c[..n / 2 + 1].iter().all(|&x| x == -1.0) && c[n / 2 + 1..] == [7.0; 16]);
        }
    }

    /// A byte buffer holds exactly its length, of any length, and what is
    /// written into it, in a reused map as on the heap.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_byte_buffer_holds_its_length() {
        for len in [0, 1, 3, 4, 5, HUGE_MIN_BYTES + 3, HUGE_MIN_BYTES * 2 + 1] {
            for _ in 0..2 {
                let mut b = Bytes::for_overwrite(len).unwrap();
                assert_eq!(b.len(), len);
                b.iter_mut().enumerate().for_each(|(i, x)| *x = (i % 251) as u8);
                assert!(b.iter().enumerate().all(|(i, &x)| x == (i % 251) as u8));
            }
        }
    }
}
