//! The vector slab: every memory's embedding, row after row, in one block.
//!
//! Small, it is a plain `Vec<f32>`. From [`HUGE_MIN_BYTES`] on Linux it is
//! an anonymous memory map that the kernel is asked to back with transparent
//! huge pages (2 MiB instead of 4 KiB), so that reads jumping between rows —
//! an approximate search, an exact scan over hundreds of megabytes — rarely
//! miss the TLB. Measured in one process, alternating each query between two
//! copies of one store (one on huge pages, one not): approximate reads of the
//! generated 100 k × 768 set 8–10 % faster, exact scans there 8–13 %, exact
//! scans of the 14 k × 384 corpus 6 %. A hint only: where the kernel keeps
//! huge pages off, elsewhere than Linux, in the browser and under Miri, the
//! slab is an ordinary allocation. What it holds and every result are the
//! same either way.
//!
//! Growing a map copies the rows into a new one (twice the capacity or more,
//! as a `Vec` grows); a batch reserves its room once. A slab read from a
//! snapshot is mapped only from [`OPEN_MAP_MIN_BYTES`] (see there why).

use std::ops::{Deref, DerefMut};

/// Slabs from this size are mapped and advised to use huge pages (one huge
/// page; below it there is nothing to gain).
pub(crate) const HUGE_MIN_BYTES: usize = 2 << 20;

/// A slab read from a snapshot is mapped only from this size. Each huge page
/// is faulted in and zeroed on first touch, where a heap allocation reuses
/// memory a process freed before: opening the 14 k × 384 corpus (a 22 MB slab)
/// five times in a row took 40–47 ms per open mapped against 19–20 ms on the
/// heap (this machine is a VM, where memory touched for the first time costs
/// more still), while the reads gain about a tenth. A store opened below
/// this size keeps its rows on the heap until it grows past its capacity.
pub(crate) const OPEN_MAP_MIN_BYTES: usize = 64 << 20;

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

/// An anonymous memory map.
#[cfg(all(target_os = "linux", not(miri)))]
type Mapped = memmap2::MmapMut;

/// No maps on this target: a type without values.
#[cfg(not(all(target_os = "linux", not(miri))))]
enum Mapped {}

/// Whether slabs may be mapped here.
const MAPS: bool = cfg!(all(target_os = "linux", not(miri)));

#[cfg(all(target_os = "linux", not(miri)))]
fn new_map(bytes: usize) -> Result<Mapped, NoRoom> {
    let m = memmap2::MmapMut::map_anon(bytes).map_err(|_| NoRoom)?;
    // A hint: refused (huge pages off, an old kernel), the map works as is.
    let _ = m.advise(memmap2::Advice::HugePage);
    Ok(m)
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn new_map(_bytes: usize) -> Result<Mapped, NoRoom> {
    Err(NoRoom)
}

#[cfg(all(target_os = "linux", not(miri)))]
fn bytes(m: &Mapped) -> &[u8] {
    m
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn bytes(m: &Mapped) -> &[u8] {
    match *m {}
}

#[cfg(all(target_os = "linux", not(miri)))]
fn bytes_mut(m: &mut Mapped) -> &mut [u8] {
    m
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
    /// `len` zeros, for a snapshot's rows (mapped from [`OPEN_MAP_MIN_BYTES`]).
    pub(crate) fn zeroed(len: usize) -> Result<Slab, NoRoom> {
        if len.saturating_mul(4) >= OPEN_MAP_MIN_BYTES {
            if let Some(map) = map(len)? {
                // A new anonymous map reads as zeros.
                return Ok(Slab { len, block: map });
            }
        }
        let mut v = Vec::new();
        v.try_reserve_exact(len).map_err(|_| NoRoom)?;
        v.resize(len, 0.0);
        Ok(Slab { len, block: Block::Heap(v) })
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

fn slice(block: &Block, len: usize) -> &[f32] {
    match block {
        Block::Heap(v) => &v[..len],
        // Maps start on a page boundary, so the cast is aligned.
        Block::Map(m) => &bytemuck::cast_slice(bytes(m))[..len],
    }
}

fn slice_mut(block: &mut Block, len: usize) -> &mut [f32] {
    match block {
        Block::Heap(v) => &mut v[..len],
        Block::Map(m) => &mut bytemuck::cast_slice_mut(bytes_mut(m))[..len],
    }
}

impl Deref for Slab {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        slice(&self.block, self.len)
    }
}

impl DerefMut for Slab {
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
        for n in [0, 7, HUGE_MIN_BYTES / 4 + 3, OPEN_MAP_MIN_BYTES / 4 + 5] {
            let z = Slab::zeroed(n).unwrap();
            assert!(z.len() == n && z.iter().all(|&x| x == 0.0));
            assert_eq!(z.is_mapped(), MAPS && n * 4 >= OPEN_MAP_MIN_BYTES);
        }
        assert!(Slab::default().try_reserve(usize::MAX).is_err());
    }
}
