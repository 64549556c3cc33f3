//! The approximate index: one HNSW graph (hierarchical navigable small
//! world, Malkov & Yashunin 2016) per namespace, over the vectors the
//! [`crate::graph::Graph`] already stores — in a full-precision store, over
//! their 8-bit codes ([`NavRows`]).
//!
//! Every memory is in its namespace's index from the moment it is added. A
//! namespace holding more than `Config::exact_below` memories is served
//! from it: link planning on insert asks the index for candidates instead of
//! scanning every memory (so ingest is about n log n), and retrieval takes
//! its semantic candidates from it and rescores them exactly. Smaller
//! namespaces are scanned exactly, as before.
//!
//! Layout, by *node* (a dense position in this index, not the graph's slot):
//! level 0 is one flat array of `M0` links per node (hnswlib's layout); the
//! few nodes with upper levels keep them in small vectors. Node levels are
//! drawn from a counter-based hash, so an index depends only on the order in
//! which its namespace's memories arrived — not on the platform, the thread
//! count or other namespaces.
//!
//! Deleting node `d` (the graph removes a memory) repairs each neighbour that
//! linked back to `d` with the best of `d`'s other neighbours, then moves the
//! last node into `d`'s position and renames it in its neighbours' lists.
//! Links that still name a vanished position (from nodes that were not `d`'s
//! neighbours) are harmless: a search skips positions past the end and
//! computes true similarities for whatever a link names, so stale links cost a
//! little navigability, never a wrong answer.
//!
//! The index navigates by a cosine on the engine's dot product
//! ([`crate::graph::dot`]: the same bits on every platform) multiplied out in
//! f32, so not always the last bits of the engine's [`crate::graph::cosine`]
//! (in f64): everything an index search returns is rescored with the engine's
//! cosine before anyone sees it.

use crate::bytes::Cursor;
use crate::precision::{dot, Elem};
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Links per node on the upper levels, and the most a new node makes.
pub const M: usize = 16;
/// Links per node on level 0.
pub const M0: usize = 2 * M;
/// Links a level-0 list keeps when a new one overflows it: the neighbour
/// heuristic's choice (23 of the 33 on average, building the corpus without
/// the top-up; 21 with it), topped up with the most similar of the links it
/// passed over. hnswlib keeps the heuristic's choice alone. The two slots
/// left free take the next two new links without running the heuristic
/// again (the corpus's lists overflowed 24 k times instead of 9.5 k);
/// topping up to all 32 ran it on nearly every new link, which made a batch
/// add of the corpus 1.3× as long.
///
/// Measured against the heuristic alone (two stores built from the same
/// data, reads alternating between them): recall@10 at `ef` 16 went from
/// 0.9440 to 0.9570 on the 14 k corpus (0.7216 to 0.7395 with 1 000 more
/// queries of another kind, questions from conversations) and from 0.9090 to
/// 0.9310 on the generated 100 k × 768 set; recall 0.95 took `ef` 14 instead
/// of 18 on the corpus and 20 instead of 24 on the generated set. A read at
/// the same `ef` took 0.98–1.03× the time; a batch add 1.04–1.08× as long.
pub const M0_FILL: usize = M0 - 2;
/// Candidates examined when a node is inserted, by default
/// (`Config::ef_construction`).
pub const EF_CONSTRUCTION: usize = 200;
/// The highest level a node can have.
const MAX_LEVEL: u8 = 15;
/// An empty level-0 link entry.
const NONE: u32 = u32::MAX;

/// The stored vectors an index reads: by graph slot, rows of `words` 32-bit
/// words holding `dim` components of type `E` (see [`crate::precision`]),
/// with inverse norms.
pub(crate) struct Rows<'a, E> {
    vectors: &'a [f32],
    inv: &'a [f32],
    dim: usize,
    words: usize,
    _elem: std::marker::PhantomData<E>,
}

impl<E> Clone for Rows<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for Rows<'_, E> {}

impl<'a, E: Elem> Rows<'a, E> {
    pub(crate) fn new(vectors: &'a [f32], inv: &'a [f32], dim: usize, words: usize) -> Rows<'a, E> {
        Rows { vectors, inv, dim, words, _elem: std::marker::PhantomData }
    }

    /// The stored words of a slot (what a prefetch asks for).
    #[inline(always)]
    fn words(&self, slot: u32) -> &'a [f32] {
        let s = slot as usize;
        self.vectors.get(s * self.words..(s + 1) * self.words).unwrap_or(&[])
    }

    #[inline(always)]
    pub(crate) fn row(&self, slot: u32) -> (&'a [E], f32) {
        (crate::precision::view(self.words(slot), self.dim), self.inv.get(slot as usize).copied().unwrap_or(0.0))
    }

    /// Asks for the first line of a slot's row and for its inverse norm (an
    /// array apart from the rows, past the L2 cache on large stores: asking
    /// for it too took the 100 k × 768 set's reads to 0.92–0.96× the time,
    /// two stores alternating reads at ef 24–40; no change on the 14 k corpus).
    #[inline(always)]
    fn prefetch_head(&self, slot: u32) {
        crate::graph::prefetch_head(self.words(slot));
        if let Some(i) = self.inv.get(slot as usize) {
            crate::graph::prefetch_item(i);
        }
    }
}

/// What the index of a full-precision store navigates by: each row's 8-bit
/// codes and their inverse norm, by graph slot, kept in step with the rows.
///
/// A search's time goes mostly to fetching rows from memory, one candidate
/// after another: a row of 8-bit codes is a quarter of the f32 row's bytes
/// (384 bytes at 384 dimensions: six cache lines instead of twenty-four).
/// The codes are those of an i8 store (`round(127·x / m)`, `m` the row's
/// largest magnitude; see [`crate::precision`]) without the scale, which a
/// cosine does not need. A query (and a new memory, while its place is
/// planned) is coded the same way, so every comparison is an exact integer
/// dot product ([`crate::precision::dot_i8`]: `vpmaddwd` natively,
/// `i32x4.dot_i16x8_s` in wasm) times the two inverse norms: the same bits on
/// every target. Whatever a search returns is rescored on the stored f32
/// rows, so the codes decide which candidates are found, never their
/// scores. Two builds alternating every query, against navigating by the f32
/// rows: on the 14 k corpus 0.73–0.78× the time per read at ef 10 to 64,
/// recall@10 0.9555 against 0.9570 at ef 20 and the same from ef 24; on the
/// 100 k × 768 set 0.80–0.82×; in wasm 0.63–0.65× on the corpus; single adds
/// of the corpus 0.6× the time. (Comparing the f32 query with the codes as
/// floats gained less: 0.77–0.82× natively, 0.81–0.84× in wasm, recall
/// 0.9535 at ef 20.) Stores at a compact precision navigate by their own
/// rows (already that small, or nearly); an i8 store's are such codes, and
/// its queries are coded the same way.
#[derive(Debug, Clone, Default)]
pub(crate) struct NavRows {
    /// `words` 32-bit words per row, holding `dim` codes. In a slab: opening
    /// a snapshot codes every row into it, and a dropped store's memory is
    /// reused instead of faulting fresh pages in (which took as long as the
    /// coding).
    codes: crate::slab::Slab,
    inv: Vec<f32>,
    dim: usize,
    words: usize,
}

impl NavRows {
    pub(crate) fn new(dim: usize) -> NavRows {
        NavRows { dim, words: dim.div_ceil(4), ..NavRows::default() }
    }

    /// Rows held.
    pub(crate) fn len(&self) -> usize {
        self.inv.len()
    }

    /// Appends the row of `v` (full precision).
    pub(crate) fn push(&mut self, v: &[f32]) {
        let (words, inv) = code_row(v);
        self.codes.extend_from_slice(&words);
        self.inv.push(inv);
    }

    /// Appends the rows of `rows` (full precision, `dim` floats each): a
    /// snapshot's, as it is opened; a large one on two cores (coding the
    /// 14 k corpus's rows took a third of its open on one).
    pub(crate) fn extend(&mut self, rows: &[f32]) {
        let (dim, w) = (self.dim.max(1), self.words.max(1));
        let n = rows.len() / dim;
        let (start, first) = (self.codes.len(), self.inv.len());
        // Every word is written below (`code_into` writes whole rows). Room
        // was reserved before (`Graph::try_reserve_tables`); running out here
        // is the allocator failing as it would for a `Vec`.
        if self.codes.grow_for_overwrite(n * w).is_err() {
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<[f32; 1024]>());
        }
        self.inv.resize(first + n, 0.0);
        let (codes, inv) = (&mut self.codes[start..], &mut self.inv[first..]);
        let code = |rows: &[f32], codes: &mut [f32], inv: &mut [f32]| {
            crate::graph::with_simd(
                #[inline(always)]
                || {
                    for ((row, out), i) in rows.chunks_exact(dim).zip(codes.chunks_exact_mut(w)).zip(inv.iter_mut()) {
                        *i = code_into(row, out, dim);
                    }
                },
            )
        };
        if n < PARALLEL_CODING_ROWS {
            return code(rows, codes, inv);
        }
        let half = n / 2;
        let (rows_a, rows_b) = rows.split_at(half * dim);
        let (codes_a, codes_b) = codes.split_at_mut(half * w);
        let (inv_a, inv_b) = inv.split_at_mut(half);
        crate::store::par_join(|| code(rows_a, codes_a, inv_a), || code(rows_b, codes_b, inv_b));
    }

    /// Moves the last row into `slot` (as the graph does with its rows).
    pub(crate) fn swap_remove(&mut self, slot: usize) {
        let last = self.len() - 1;
        let w = self.words;
        if slot != last {
            self.codes.copy_within(last * w..(last + 1) * w, slot * w);
        }
        self.codes.truncate(last * w);
        self.inv.swap_remove(slot);
    }

    /// Whether row `slot` holds the codes of `v` (the invariant check).
    pub(crate) fn holds(&self, slot: usize, v: &[f32]) -> bool {
        let (words, inv) = code_row(v);
        let row = self.codes.get(slot * self.words..(slot + 1) * self.words);
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        row.is_some_and(|r| same(r, &words)) && self.inv.get(slot).is_some_and(|i| i.to_bits() == inv.to_bits())
    }

    /// Makes room for `n` more rows.
    pub(crate) fn try_reserve(&mut self, n: usize) -> Result<(), crate::slab::NoRoom> {
        self.codes.try_reserve(n.saturating_mul(self.words))?;
        self.inv.try_reserve(n).map_err(|_| crate::slab::NoRoom)
    }

    /// The rows as the index reads them.
    #[inline(always)]
    pub(crate) fn rows(&self) -> Rows<'_, i8> {
        Rows::new(&self.codes, &self.inv, self.dim, self.words)
    }

    /// Bytes per row (codes and inverse norm): `4·⌈dim/4⌉ + 4`.
    pub(crate) fn row_bytes(dim: usize) -> u64 {
        4 * dim.div_ceil(4) as u64 + 4
    }
}

/// Rows from which [`NavRows::extend`] codes on two cores.
pub(crate) const PARALLEL_CODING_ROWS: usize = 4096;

/// The 8-bit codes of `v` (finite, not all zero) as [`NavRows`] keeps a
/// row (in 32-bit words), and their inverse norm: also what a query is
/// compared with such rows as.
pub(crate) fn code_row(v: &[f32]) -> (Vec<f32>, f32) {
    let mut words = vec![0f32; v.len().div_ceil(4)];
    let inv = crate::graph::with_simd(
        #[inline(always)]
        || code_into(v, &mut words, v.len()),
    );
    (words, inv)
}

/// Writes the codes of `v` into the words `out` (the bytes past the last
/// code zeroed) and returns their inverse norm (see [`NavRows`]). Inlined
/// into SIMD-dispatched callers.
#[inline(always)]
fn code_into(v: &[f32], out: &mut [f32], dim: usize) -> f32 {
    let codes: &mut [i8] = bytemuck::cast_slice_mut(out);
    crate::precision::code_i8(v, crate::precision::max_abs(v), codes);
    codes[dim..].fill(0);
    // An exact integer sum: at most 127² per component, below 2³¹ up to
    // `MAX_EMBEDDING_DIM` (65 536) components.
    let squares: i32 = codes[..dim].iter().map(|&c| i32::from(c) * i32::from(c)).sum();
    if squares > 0 {
        crate::graph::inv_norm(f64::from(squares).sqrt())
    } else {
        0.0
    }
}

/// The similarity the index navigates by: cosine through [`dot`] in f32 (its
/// rounding may differ from the engine's [`crate::graph::cosine`] in the last
/// bits; callers rescore what they keep). Never NaN.
#[inline(always)]
pub(crate) fn similarity<A: Elem, B: Elem>(a: &[A], inv_a: f32, b: &[B], inv_b: f32) -> f32 {
    let c = dot(a, b) * inv_a * inv_b;
    if c.is_nan() {
        0.0
    } else {
        c
    }
}

/// A candidate: a similarity and a node, ordered by similarity then by node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cand {
    pub sim: f32,
    pub node: u32,
}

impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cand {
    /// Greater: more similar (ties: the lower node).
    fn cmp(&self, other: &Self) -> Ordering {
        self.sim.total_cmp(&other.sim).then(other.node.cmp(&self.node))
    }
}

/// A reusable visited set (one per thread): a stamp per node, so clearing is O(1).
#[derive(Default)]
struct Visited {
    stamp: u32,
    marks: Vec<u32>,
}

impl Visited {
    fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.stamp = 1;
        }
    }
    /// Marks `i`; true if it was not marked yet.
    #[inline(always)]
    fn insert(&mut self, i: u32) -> bool {
        match self.marks.get_mut(i as usize) {
            Some(m) if *m != self.stamp => {
                *m = self.stamp;
                true
            }
            _ => false,
        }
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = RefCell::new(Visited::default());
}

/// The level of the `count`-th node ever inserted into an index: geometric
/// with ratio 1/M (`M` = 16 = 2⁴: four trailing zero bits of a hash per
/// level), from a fixed hash so that it is the same everywhere.
pub(crate) fn level_of(count: u64) -> u8 {
    ((mix(count).trailing_zeros() / 4) as u8).min(MAX_LEVEL)
}

/// splitmix64's output function: a fixed, portable 64-bit hash of `x` (node
/// levels here, statistics-sample ranks in [`crate::sample`]).
#[inline]
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One namespace's HNSW graph.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hnsw {
    /// Graph slot of each node.
    pub(crate) slots: Vec<u32>,
    levels: Vec<u8>,
    /// Level-0 links, `M0` per node, unused entries `NONE`.
    links0: Vec<u32>,
    /// Levels 1..=level of each node: `upper[node][l - 1]`.
    upper: Vec<Vec<Vec<u32>>>,
    entry: Option<u32>,
    /// Nodes ever inserted (drives the levels).
    pub(crate) inserted: u64,
    /// Removals so far: positions planned before one may name other nodes after it.
    removals: u64,
}

/// A link list's capacity on `level`, and how many links it keeps when a
/// new one overflows it (see [`M0_FILL`]).
fn overflow(level: u8) -> (usize, usize) {
    if level == 0 {
        (M0, M0_FILL)
    } else {
        (M, 0)
    }
}

/// Stands for the node being inserted in a [`Rewrite`] (positions never reach it).
const NEW: u32 = u32::MAX - 1;

#[cfg(test)]
thread_local! {
    /// Rewrites this thread's inserts took as planned (the test that compares
    /// results with and without them checks that some were).
    pub(crate) static REWRITES_USED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A neighbour's link list as inserting a planned node will rewrite it,
/// worked out while planning (in parallel) instead of while applying
/// (sequentially): the neighbour heuristic over its full list and the new
/// node. Used only if the list is still `before` when the node goes in;
/// otherwise the insert works it out again, so results never depend on it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rewrite {
    pub level: u8,
    pub node: u32,
    /// The list it was worked out from (full, no stale links).
    pub before: Vec<u32>,
    /// The new list; [`NEW`] stands for the inserted node.
    pub after: Vec<u32>,
}

/// What an insert found, planned without changing the index: per level
/// (index 0 = level 0) the candidates, most similar first, named by memory id
/// (positions may move before the plan is applied).
#[derive(Debug, Clone, Default)]
pub(crate) struct AnnPlan {
    pub level: u8,
    pub layers: Vec<Vec<(f32, u64)>>,
    /// The layers hold the chosen neighbours already ([`select`] ran while
    /// planning, in parallel), not all candidates.
    pub selected: bool,
    /// Neighbours' lists rewritten ahead ([`Hnsw::rewrites`]), valid while the
    /// index has seen `epoch` removals.
    pub rewrites: Vec<Rewrite>,
    pub epoch: u64,
}

impl AnnPlan {
    /// Keeps the `ef_construction` most similar candidates of each layer (ties:
    /// the lower id), as many as an insert's own search returns. A batch adds
    /// the chunk's earlier items to what the search found; without this bound
    /// the heuristic walked up to twice as many candidates, and on the
    /// generated 100 k × 768 batch kept links that made the index slower to
    /// search and no better (ingest 27.0–27.7 s → 20.4–21.8 s, recall@10 at
    /// ef 16 0.9095 → 0.9130, in two runs each).
    pub(crate) fn keep_best(&mut self, ef_construction: usize) {
        for layer in &mut self.layers {
            if layer.len() > ef_construction {
                layer.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                layer.truncate(ef_construction);
            }
        }
    }
}

/// A candidate of the neighbour heuristic: its similarity to the base and
/// what names it (a node, or while planning a memory id).
pub(crate) trait Candidate: Copy {
    type Key: Copy + Ord;
    fn sim(&self) -> f32;
    fn key(&self) -> Self::Key;
}

impl Candidate for Cand {
    type Key = u32;
    fn sim(&self) -> f32 {
        self.sim
    }
    fn key(&self) -> u32 {
        self.node
    }
}

impl Candidate for (f32, u64) {
    type Key = u64;
    fn sim(&self) -> f32 {
        self.0
    }
    fn key(&self) -> u64 {
        self.1
    }
}

/// hnswlib's neighbour heuristic: walking the candidates from the most
/// similar (ties: the lower key first, each key once), keep one only if it is
/// more similar to the base than to every one kept, up to `max`; then, while
/// fewer than `fill` are kept, the most similar of those passed over (see
/// [`M0_FILL`]). Returns them most similar first. `row` gives a
/// candidate's row and inverse norm; one it cannot find (a memory gone since
/// it was planned) is passed over. Used by [`Hnsw::insert`] on nodes and,
/// while planning off the lock's critical path, on memory ids
/// ([`crate::graph::Graph::select_plan`]). Inlined so that it runs in its
/// caller's SIMD-dispatched code ([`crate::graph::with_simd`]): as a function
/// of its own it was compiled for the baseline instruction set.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
#[cfg_attr(target_arch = "wasm32", inline(never))]
pub(crate) fn select<'r, C: Candidate, E: Elem>(
    cands: &mut Vec<C>,
    max: usize,
    fill: usize,
    row: impl Fn(C::Key) -> Option<(&'r [E], f32)>,
) -> Vec<C> {
    cands.sort_by(|a, b| b.sim().total_cmp(&a.sim()).then(a.key().cmp(&b.key())));
    cands.dedup_by_key(|c| c.key());
    // Kept candidates by their place in `cands`, so most similar first.
    let mut kept: Vec<(usize, &'r [E], f32)> = Vec::with_capacity(max);
    let mut passed = Vec::new();
    for (i, &c) in cands.iter().enumerate() {
        if kept.len() >= max {
            break;
        }
        let Some((rc, ic)) = row(c.key()) else { continue };
        if kept.iter().all(|&(_, rk, ik)| similarity(rc, ic, rk, ik) <= c.sim()) {
            kept.push((i, rc, ic));
        } else if passed.len() < fill {
            passed.push(i);
        }
    }
    let mut chosen: Vec<usize> = kept.into_iter().map(|k| k.0).collect();
    if chosen.len() < fill.min(max) {
        passed.truncate(fill.min(max) - chosen.len());
        chosen.extend(passed);
        chosen.sort_unstable();
    }
    chosen.into_iter().map(|i| cands[i]).collect()
}

impl Hnsw {
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    fn top(&self) -> u8 {
        self.entry.map_or(0, |e| self.levels[e as usize])
    }

    /// Links of `node` on `level` (empty for levels it does not have).
    #[inline(always)]
    fn links(&self, node: u32, level: u8) -> &[u32] {
        let n = node as usize;
        if level == 0 {
            let l = self.links0.get(n * M0..(n + 1) * M0).unwrap_or(&[]);
            let len = l.iter().position(|&x| x == NONE).unwrap_or(l.len());
            &l[..len]
        } else {
            self.upper.get(n).and_then(|u| u.get(level as usize - 1)).map_or(&[], |v| v.as_slice())
        }
    }

    /// The nodes `node` links to on level 0 (its nearest, as the heuristic
    /// kept them), without links that name a vanished position.
    pub(crate) fn neighbours(&self, node: u32) -> impl Iterator<Item = u32> + '_ {
        let n = self.len();
        self.links(node, 0).iter().copied().filter(move |&x| (x as usize) < n && x != node)
    }

    /// Asks for `node`'s level-0 links (128 bytes, apart from the rows). A
    /// search does it when a node joins its frontier, so that they are there
    /// if it is expanded: two stores alternating reads, as beside a peer,
    /// 0.96–0.98× the time per read on the 14 k corpus and the 100 k × 768 set.
    #[inline(always)]
    fn prefetch_links0(&self, node: u32) {
        if let Some(l) = self.links0.get(node as usize * M0..(node as usize + 1) * M0) {
            crate::graph::prefetch_item(&l[0]);
            crate::graph::prefetch_item(&l[M0 / 2]);
        }
    }

    fn set_links(&mut self, node: u32, level: u8, list: &[u32]) {
        let n = node as usize;
        if level == 0 {
            let l = &mut self.links0[n * M0..(n + 1) * M0];
            l.fill(NONE);
            l[..list.len().min(M0)].copy_from_slice(&list[..list.len().min(M0)]);
        } else if let Some(v) = self.upper.get_mut(n).and_then(|u| u.get_mut(level as usize - 1)) {
            v.clear();
            v.extend_from_slice(list);
        }
    }

    #[inline(always)]
    fn sim<E: Elem, Q: Elem>(&self, rows: Rows<'_, E>, q: &[Q], inv_q: f32, node: u32) -> f32 {
        let (row, inv) = rows.row(self.slots[node as usize]);
        similarity(q, inv_q, row, inv)
    }

    #[inline(always)]
    fn sim_nodes<E: Elem>(&self, rows: Rows<'_, E>, a: u32, b: u32) -> f32 {
        let (ra, ia) = rows.row(self.slots[a as usize]);
        let (rb, ib) = rows.row(self.slots[b as usize]);
        similarity(ra, ia, rb, ib)
    }

    /// The `ef` nodes most similar to `q` on `level` that `admit` accepts,
    /// reached from `entries`; most similar first. Nodes `admit` rejects are
    /// still walked through.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn search_layer<E: Elem, Q: Elem>(
        &self,
        rows: Rows<'_, E>,
        q: &[Q],
        inv_q: f32,
        entries: &[Cand],
        ef: usize,
        level: u8,
        admit: &dyn Fn(u32) -> bool,
    ) -> Vec<Cand> {
        let n = self.len();
        // The visited set is taken out of its thread-local for the search (the
        // search then inlines into the caller's SIMD-dispatched code).
        let mut visited = VISITED.with(|v| std::mem::take(&mut *v.borrow_mut()));
        visited.reset(n);
        let mut frontier: BinaryHeap<Cand> = BinaryHeap::new();
        let mut found: BinaryHeap<std::cmp::Reverse<Cand>> = BinaryHeap::new();
        for &e in entries {
            if (e.node as usize) < n && visited.insert(e.node) {
                frontier.push(e);
                if admit(self.slots[e.node as usize]) {
                    found.push(std::cmp::Reverse(e));
                    if found.len() > ef {
                        found.pop();
                    }
                }
            }
        }
        let mut fresh = [0u32; M0];
        while let Some(c) = frontier.pop() {
            if found.len() >= ef && found.peek().is_some_and(|w| c.sim < w.0.sim) {
                break;
            }
            // The unvisited neighbours first, then their similarities.
            let mut k = 0;
            for &nb in self.links(c.node, level) {
                if (nb as usize) < n && k < M0 && visited.insert(nb) {
                    fresh[k] = nb;
                    k += 1;
                    // Their rows are scattered over memory: each one's first
                    // line is asked for now, and the whole of the next row
                    // while one is compared. (Asking for every line of every
                    // row at once — up to 32 rows, more than the L1 cache —
                    // measured 10–13 % slower at ef 20 and 32 on the 14 k
                    // corpus: the first rows were evicted before they were read.)
                    rows.prefetch_head(self.slots[nb as usize]);
                }
            }
            for (j, &nb) in fresh[..k].iter().enumerate() {
                if let Some(&next) = fresh[..k].get(j + 1) {
                    crate::graph::prefetch(rows.words(self.slots[next as usize]));
                }
                let s = self.sim(rows, q, inv_q, nb);
                if found.len() < ef || found.peek().is_some_and(|w| s > w.0.sim) {
                    let cand = Cand { sim: s, node: nb };
                    if level == 0 {
                        self.prefetch_links0(nb);
                    }
                    frontier.push(cand);
                    if admit(self.slots[nb as usize]) {
                        found.push(std::cmp::Reverse(cand));
                        if found.len() > ef {
                            found.pop();
                        }
                    }
                }
            }
        }
        VISITED.with(|v| *v.borrow_mut() = visited);
        let mut out: Vec<Cand> = found.into_iter().map(|r| r.0).collect();
        out.sort_by(|a, b| b.cmp(a));
        out
    }

    /// From the top level down to `down_to + 1`, the one most similar node (greedy).
    #[inline(always)]
    fn descend<E: Elem, Q: Elem>(&self, rows: Rows<'_, E>, q: &[Q], inv_q: f32, down_to: u8) -> Option<Cand> {
        let e = self.entry?;
        let mut best = Cand { sim: self.sim(rows, q, inv_q, e), node: e };
        let mut level = self.top();
        while level > down_to {
            loop {
                let mut moved = false;
                for &nb in self.links(best.node, level) {
                    if (nb as usize) >= self.len() {
                        continue;
                    }
                    let c = Cand { sim: self.sim(rows, q, inv_q, nb), node: nb };
                    if c > best {
                        best = c;
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
            level -= 1;
        }
        Some(best)
    }

    /// The `ef` nodes most similar to `q` that `admit` (given a graph slot) accepts, most similar first.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn search<E: Elem, Q: Elem>(
        &self,
        rows: Rows<'_, E>,
        q: &[Q],
        inv_q: f32,
        ef: usize,
        admit: &dyn Fn(u32) -> bool,
    ) -> Vec<Cand> {
        match self.descend(rows, q, inv_q, 0) {
            Some(ep) => self.search_layer(rows, q, inv_q, &[ep], ef.max(1), 0, admit),
            None => Vec::new(),
        }
    }

    /// Searches for the neighbours a new node of `level` would get (read-only),
    /// examining `ef_construction` candidates per level. Candidates are named
    /// by node; the caller turns them into memory ids.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn plan<E: Elem, Q: Elem>(
        &self,
        rows: Rows<'_, E>,
        q: &[Q],
        inv_q: f32,
        level: u8,
        ef_construction: usize,
    ) -> Vec<Vec<Cand>> {
        let Some(mut ep) = self.descend(rows, q, inv_q, level) else {
            return Vec::new();
        };
        let top = self.top().min(level);
        let mut layers = vec![Vec::new(); top as usize + 1];
        let mut entries = vec![ep];
        for l in (0..=top).rev() {
            let found = self.search_layer(rows, q, inv_q, &entries, ef_construction.max(1), l, &|_| true);
            if let Some(&best) = found.first() {
                ep = best;
            }
            entries = if found.is_empty() { vec![ep] } else { found.clone() };
            layers[l as usize] = found;
        }
        layers
    }

    /// The neighbour heuristic ([`select`]) on nodes: `cands` are
    /// (similarity to the base, node); the kept nodes, most similar first.
    #[inline(always)]
    fn select<E: Elem>(&self, rows: Rows<'_, E>, cands: &mut Vec<Cand>, max: usize, fill: usize) -> Vec<u32> {
        let kept = select(cands, max, fill, |node| Some(rows.row(self.slots[node as usize])));
        kept.iter().map(|c| c.node).collect()
    }

    /// The lists of the chosen neighbours (`chosen`: per level, by current
    /// position) that inserting a node with vector `v` would rewrite through
    /// the heuristic (those full, without stale links), worked out now; see
    /// [`Rewrite`].
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn rewrites<E: Elem>(&self, rows: Rows<'_, E>, v: &[E], inv: f32, chosen: &[Vec<u32>]) -> Vec<Rewrite> {
        let n = self.len();
        let mut out = Vec::new();
        for (l, nodes) in chosen.iter().enumerate() {
            let level = l as u8;
            let (cap, fill) = overflow(level);
            for &e in nodes {
                let before = self.links(e, level);
                if (e as usize) >= n || before.len() < cap || before.iter().any(|&o| (o as usize) >= n) {
                    continue;
                }
                let (re, ie) = rows.row(self.slots[e as usize]);
                let mut pool: Vec<Cand> = before
                    .iter()
                    .map(|&o| Cand { sim: self.sim_nodes(rows, e, o), node: o })
                    .chain([Cand { sim: similarity(re, ie, v, inv), node: NEW }])
                    .collect();
                let after = select(&mut pool, cap, fill, |node| {
                    Some(if node == NEW { (v, inv) } else { rows.row(self.slots[node as usize]) })
                });
                let after = after.iter().map(|c| c.node).collect();
                out.push(Rewrite { level, node: e, before: before.to_vec(), after });
            }
        }
        out
    }

    /// Removals this index has seen (see [`AnnPlan::epoch`]).
    pub(crate) fn epoch(&self) -> u64 {
        self.removals
    }

    /// Adds a node for graph slot `slot` with its planned candidates (named by
    /// node, already translated to current positions; the caller may append
    /// nodes it knows about). Returns the new node's position.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn insert<E: Elem>(
        &mut self,
        rows: Rows<'_, E>,
        slot: u32,
        level: u8,
        mut layers: Vec<Vec<Cand>>,
        selected: bool,
        rewrites: &[Rewrite],
    ) -> u32 {
        let x = self.slots.len() as u32;
        self.slots.push(slot);
        self.levels.push(level);
        self.links0.extend(std::iter::repeat_n(NONE, M0));
        self.upper.push(vec![Vec::new(); level as usize]);
        self.inserted += 1;
        let Some(_) = self.entry else {
            self.entry = Some(x);
            return x;
        };
        let top = self.top();
        for l in 0..=level.min(top) {
            let Some(cands) = layers.get_mut(l as usize) else { continue };
            cands.retain(|c| c.node != x && (c.node as usize) < self.len());
            let chosen = if selected { cands.iter().map(|c| c.node).collect() } else { self.select(rows, cands, M, 0) };
            self.set_links(x, l, &chosen);
            let (cap, fill) = overflow(l);
            for &e in &chosen {
                let mut list = self.links(e, l).to_vec();
                if list.contains(&x) {
                    continue;
                }
                if let Some(r) = rewrites.iter().find(|r| r.level == l && r.node == e && r.before == list) {
                    // Worked out while planning, from this very list.
                    let after: Vec<u32> = r.after.iter().map(|&o| if o == NEW { x } else { o }).collect();
                    self.set_links(e, l, &after);
                    #[cfg(test)]
                    REWRITES_USED.with(|n| n.set(n.get() + 1));
                    continue;
                }
                // Stale links past the end (left by deletes) go now.
                list.retain(|&o| (o as usize) < self.slots.len());
                if list.len() < cap {
                    list.push(x);
                } else {
                    let mut pool: Vec<Cand> =
                        list.iter().chain([&x]).map(|&o| Cand { sim: self.sim_nodes(rows, e, o), node: o }).collect();
                    list = self.select(rows, &mut pool, cap, fill);
                }
                self.set_links(e, l, &list);
            }
        }
        if level > top {
            self.entry = Some(x);
        }
        x
    }

    /// Removes node `d`. The last node moves into its position: returns that
    /// node's graph slot if one moved (the caller records its new position `d`).
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn remove<E: Elem>(&mut self, rows: Rows<'_, E>, d: u32) -> Option<u32> {
        let n = self.len();
        if (d as usize) >= n {
            return None;
        }
        self.removals += 1;
        // Repair: each neighbour that linked back to d takes d's best other neighbour.
        for l in 0..=self.levels[d as usize] {
            let around: Vec<u32> = self.links(d, l).iter().copied().filter(|&o| (o as usize) < n && o != d).collect();
            for &p in &around {
                let mut list = self.links(p, l).to_vec();
                let Some(pos) = list.iter().position(|&o| o == d) else { continue };
                list.remove(pos);
                let best = around
                    .iter()
                    .filter(|&&o| o != p && !list.contains(&o))
                    .map(|&o| Cand { sim: self.sim_nodes(rows, p, o), node: o })
                    .max();
                if let Some(b) = best {
                    list.push(b.node);
                }
                self.set_links(p, l, &list);
            }
        }
        let last = (n - 1) as u32;
        let moved = if d != last {
            // Move the last node into d and rename it where its neighbours name it.
            let slot = self.slots[last as usize];
            self.slots[d as usize] = slot;
            self.levels[d as usize] = self.levels[last as usize];
            let (lo, hi) = self.links0.split_at_mut(last as usize * M0);
            lo[d as usize * M0..(d as usize + 1) * M0].copy_from_slice(&hi[..M0]);
            self.upper.swap(d as usize, last as usize);
            for l in 0..=self.levels[d as usize] {
                let around: Vec<u32> = self.links(d, l).to_vec();
                for p in around {
                    if p == last || (p as usize) >= n {
                        continue;
                    }
                    let mut list = self.links(p, l).to_vec();
                    if let Some(i) = list.iter().position(|&o| o == last) {
                        // (A stale link may already name position d.)
                        if list.contains(&d) || p == d {
                            list.remove(i);
                        } else {
                            list[i] = d;
                        }
                        self.set_links(p, l, &list);
                    }
                }
            }
            Some(slot)
        } else {
            None
        };
        self.slots.pop();
        self.levels.pop();
        self.links0.truncate(last as usize * M0);
        self.upper.pop();
        if self.entry == Some(d) {
            // Any node of the highest remaining level.
            self.entry = (0..self.len() as u32).max_by_key(|&i| (self.levels[i as usize], std::cmp::Reverse(i)));
        } else if self.entry == Some(last) {
            self.entry = Some(d);
        }
        // A self-link can appear when d's neighbour was the moved node: drop it.
        if moved.is_some() {
            for l in 0..=self.levels[d as usize] {
                let list: Vec<u32> = self.links(d, l).iter().copied().filter(|&o| o != d).collect();
                self.set_links(d, l, &list);
            }
        }
        moved
    }

    /// Structural checks for tests and snapshot loading: positions in range, no
    /// self-links or duplicates, capacities, the entry point has the top level.
    pub(crate) fn check(&self) -> Result<(), String> {
        let n = self.len();
        if self.levels.len() != n || self.upper.len() != n || self.links0.len() != n * M0 {
            return Err("index arrays disagree in length".into());
        }
        match self.entry {
            None if n > 0 => return Err("index without an entry point".into()),
            Some(e) if (e as usize) >= n => return Err("entry point out of range".into()),
            Some(e) if self.levels.iter().any(|&l| l > self.levels[e as usize]) => {
                return Err("entry point below the top level".into())
            }
            _ => {}
        }
        // A repeat within a list shows as a mark equal to the list's stamp
        // (links past the last node, which deletes leave, are compared in full).
        let mut marks = vec![0u32; n];
        let mut stamp = 0u32;
        for i in 0..n as u32 {
            if self.upper[i as usize].len() != self.levels[i as usize] as usize {
                return Err(format!("node {i}: upper levels disagree with its level"));
            }
            for l in 0..=self.levels[i as usize] {
                let list = self.links(i, l);
                let cap = if l == 0 { M0 } else { M };
                if list.len() > cap {
                    return Err(format!("node {i} level {l}: {} links", list.len()));
                }
                stamp += 1;
                for (k, &x) in list.iter().enumerate() {
                    let repeat = match marks.get_mut(x as usize) {
                        Some(m) => std::mem::replace(m, stamp) == stamp,
                        None => list[..k].contains(&x),
                    };
                    if repeat || x == i {
                        return Err(format!("node {i} level {l}: duplicate or self link"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The index in a snapshot's terms: `inserted`, entry (or `u32::MAX`), then
    /// per node its level and its link lists (level 0 first), each as a count
    /// and positions.
    pub(crate) fn encode(&self, out: &mut impl crate::bytes::Sink) {
        out.put(&self.inserted.to_le_bytes());
        out.put(&self.entry.unwrap_or(NONE).to_le_bytes());
        for i in 0..self.len() as u32 {
            out.put(&[self.levels[i as usize]]);
            for l in 0..=self.levels[i as usize] {
                let list = self.links(i, l);
                out.put(&[list.len() as u8]);
                for &o in list {
                    out.put(&o.to_le_bytes());
                }
            }
        }
    }

    /// Reads what [`Hnsw::encode`] wrote for nodes at `slots`; `None` if malformed.
    pub(crate) fn decode(bytes: &mut Cursor<'_>, slots: Vec<u32>) -> Option<Hnsw> {
        let inserted = bytes.u64()?;
        let entry = bytes.u32()?;
        let n = slots.len();
        let mut h = Hnsw {
            slots,
            levels: Vec::with_capacity(n),
            links0: vec![NONE; n * M0],
            upper: Vec::with_capacity(n),
            entry: (entry != NONE).then_some(entry),
            inserted,
            removals: 0,
        };
        for i in 0..n {
            let level = bytes.u8()?;
            if level > MAX_LEVEL {
                return None;
            }
            h.levels.push(level);
            h.upper.push(vec![Vec::new(); level as usize]);
            for l in 0..=level {
                let count = bytes.u8()? as usize;
                if count > if l == 0 { M0 } else { M } {
                    return None;
                }
                let raw = bytes.take(count * 4)?;
                let mut list = [0u32; M0];
                for (x, c) in list.iter_mut().zip(raw.chunks_exact(4)) {
                    *x = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
                h.set_links(i as u32, l, &list[..count]);
            }
        }
        h.check().ok()?;
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A navigation row holds the codes an i8 store keeps for the same
    /// vector and their inverse norm; rows coded one by one, in bulk (on two
    /// cores past `PARALLEL_CODING_ROWS`) and after removals agree bit for bit.
    #[test]
    fn navigation_rows_follow_the_rows() {
        let dim = 13;
        let mut x = 0x0a11_ce55u64;
        // Under Miri, which interprets every step, a few rows (the bulk coding
        // in one piece): 4 103 rows took over a quarter of an hour there.
        let n = if cfg!(miri) { 37 } else { PARALLEL_CODING_ROWS + 7 };
        let rows: Vec<f32> =
            (0..n * dim).map(|_| (crate::xorshift(&mut x) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0).collect();
        let (mut one, mut bulk) = (NavRows::new(dim), NavRows::new(dim));
        for row in rows.chunks_exact(dim) {
            one.push(row);
        }
        bulk.extend(&rows);
        assert_eq!((one.len(), bulk.len()), (n, n));
        for (slot, row) in rows.chunks_exact(dim).enumerate() {
            assert!(one.holds(slot, row) && bulk.holds(slot, row), "row {slot}");
            let mut stored = Vec::new();
            crate::precision::encode(crate::config::Precision::I8, row, &mut stored);
            let (codes, inv) = one.rows().row(slot as u32);
            assert_eq!(codes, crate::precision::view::<i8>(&stored, dim));
            let norm = codes.iter().map(|&c| f64::from(c) * f64::from(c)).sum::<f64>().sqrt();
            assert_eq!(inv.to_bits(), crate::graph::inv_norm(norm).to_bits());
        }
        // Removing moves the last row into the hole, as the graph's rows do.
        let mut model: Vec<&[f32]> = rows.chunks_exact(dim).collect();
        for slot in [5, 0, n - 3, 17, 5] {
            one.swap_remove(slot);
            model.swap_remove(slot);
            assert_eq!(one.len(), model.len());
        }
        assert!(model.iter().enumerate().all(|(slot, row)| one.holds(slot, row)));
    }

    /// Rows coded into memory that held other floats (a map, as a dropped
    /// store's is reused): every word is written, the bytes past a row's
    /// last code as zeros.
    #[test]
    #[cfg_attr(miri, ignore)] // two million floats
    fn navigation_rows_coded_over_old_floats_equal_fresh_ones() {
        let dim = 1021usize; // three bytes past the last code of each row
        let n = crate::slab::HUGE_MIN_BYTES / (4 * dim.div_ceil(4)) + 3; // a map where there are maps
        let mut x = 0x5eed_0f0du64;
        let rows: Vec<f32> =
            (0..n * dim).map(|_| (crate::xorshift(&mut x) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0).collect();
        let mut reused = NavRows::new(dim);
        reused.codes.extend_from_slice(&vec![f32::from_bits(0xdead_beef); n * reused.words]);
        reused.codes.truncate(0);
        reused.extend(&rows);
        assert_eq!(reused.len(), n);
        assert!(rows.chunks_exact(dim).enumerate().all(|(slot, row)| reused.holds(slot, row)));
    }

    /// The heuristic keeps a candidate only if it is nearer the base than
    /// every one kept; a full level-0 list is then topped up with the most
    /// similar of those passed over, never past its capacity, and never with
    /// a candidate whose row is gone.
    #[test]
    fn the_heuristic_tops_up_with_the_nearest_it_passed_over() {
        // Unit vectors in the plane, the base at 0°: a candidate at `deg`
        // degrees has similarity cos(deg) to it.
        let at = |deg: f32| [deg.to_radians().cos(), deg.to_radians().sin()];
        let rows: Vec<[f32; 2]> = [10.0, 12.0, 50.0, 55.0, -40.0, 11.0].into_iter().map(at).collect();
        let cands = || -> Vec<Cand> {
            [0u32, 1, 2, 3, 4, 5].into_iter().map(|node| Cand { sim: rows[node as usize][0], node }).collect()
        };
        // Node 5's memory is gone since it was planned.
        let row = |node: u32| (node != 5).then(|| (&rows[node as usize][..], 1.0f32));
        let nodes = |kept: Vec<Cand>| kept.iter().map(|c| c.node).collect::<Vec<_>>();
        // 12° is nearer 10° than the base, 50° and 55° too; -40° is not.
        assert_eq!(nodes(select(&mut cands(), M0, 0, row)), [0, 4]);
        // Topped up by similarity to the base: 12°, then 50°.
        assert_eq!(nodes(select(&mut cands(), M0, 4, row)), [0, 1, 4, 2]);
        assert_eq!(nodes(select(&mut cands(), M0, M0_FILL, row)), [0, 1, 4, 2, 3]);
        // Never past `max`, and the heuristic's choice comes first.
        assert_eq!(nodes(select(&mut cands(), 1, 4, row)), [0]);
        assert_eq!(nodes(select(&mut cands(), 3, 4, row)), [0, 1, 4]);
    }

    /// A batch's candidates are cut to as many as a search returns: the most
    /// similar, the lower id first among equals; shorter layers are untouched.
    #[test]
    fn a_plan_keeps_its_best_candidates() {
        let big: Vec<(f32, u64)> = (0..300u64).map(|i| (((i * 37) % 100) as f32 / 100.0, i)).collect();
        let small: Vec<(f32, u64)> = (0..5u64).map(|i| (i as f32, 10 - i)).collect();
        let mut plan = AnnPlan { layers: vec![big.clone(), small.clone()], ..AnnPlan::default() };
        plan.keep_best(EF_CONSTRUCTION);
        let mut want = big;
        want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        want.truncate(EF_CONSTRUCTION);
        assert_eq!(plan.layers[0], want);
        // Three ids share each similarity: the cut falls inside one such group.
        assert_eq!(plan.layers[0].iter().filter(|c| c.0 == want[EF_CONSTRUCTION - 1].0).count() % 3, 2);
        assert_eq!(plan.layers[1], small);
    }
}
