//! The honeycomb graph: memories, their vectors and a bounded-degree
//! undirected graph whose edge weights are cosine relevances.
//!
//! Storage is a dense slab: node `i` owns row `i` of one contiguous array
//! of 32-bit words (the vector's floats, or its compact codes: see
//! [`crate::precision`]), so scans walk memory in order. Deleting swaps the last row into the
//! hole; edges name ids, not rows, so nothing else moves.
//!
//! Insertion is split into a read-only [`Graph::plan_links`] (the expensive
//! scan, which checks the deadline and may fail) and an infallible
//! [`Graph::insert`] that applies the plan in O(plan × degree). A timed-out add
//! therefore changes nothing.
//!
//! Swapping: when a candidate neighbour is full, the new edge replaces the
//! candidate's weakest edge only if it is stronger; the displaced memory keeps
//! its other edges and lands in the candidate's overflow ("fractal") layer,
//! which context expansion reaches at one extra hop. An overflow layer holds
//! at most `max_degree` entries (the strongest); a memory dropped from it is
//! still stored and still found by search.

use crate::ann::{AnnPlan, Cand, Hnsw, NavRows, Rows};
use crate::clock::Deadline;
use crate::config::Precision;
use crate::error::Result;
use crate::precision::{by_precision, Elem};
use crate::sample::Sample;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};

/// A hash map with a fast, randomly seeded hasher (ids and words are hashed on every lookup).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Fixed per-memory overhead in the size estimate: the node record, its index
/// entry and allocation headers (measured on x86-64, rounded up).
pub const NODE_OVERHEAD_BYTES: u64 = 256;
/// Estimated bytes per edge or overflow entry, counted on both ends.
pub const EDGE_BYTES: u64 = 16;

/// A weighted link, in 12 bytes: packed to 4-byte alignment (a `u64` and
/// an `f32` take 16 otherwise), as the edge and overflow lists are a few per
/// memory. Fields are read by value (a packed field cannot be borrowed).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, packed(4))]
pub(crate) struct Edge {
    pub to: u64,
    pub relevance: f32,
}
const _: () = assert!(std::mem::size_of::<Edge>() == 12);

impl Edge {
    /// The order in which the weakest edge comes first (the one a full list
    /// gives up): the lower relevance, ties the higher id.
    fn weaker_first(a: &Edge, b: &Edge) -> std::cmp::Ordering {
        let (a_to, b_to) = (a.to, b.to);
        a.relevance.total_cmp(&b.relevance).then(b_to.cmp(&a_to))
    }
}

/// One stored memory.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub id: u64,
    pub text: String,
    pub weight: f64,
    pub created_at: i64,
    pub last_accessed: i64,
    pub access_count: u64,
    /// The namespace, as an index into [`Namespaces`].
    pub ns: u32,
    /// Metadata, key and expiry, boxed apart: most memories have none of
    /// them, and the record takes 160 bytes instead of 232.
    pub extras: Option<Box<Extras>>,
    pub inv_norm: f32,
    pub edges: Vec<Edge>,
    pub overflow: Vec<Edge>,
    /// Ids whose overflow layer holds this node (so delete can clean up).
    pub overflow_in: Vec<u64>,
    pub centrality: f64,
}

/// The fields of a [`Node`] that most memories leave empty.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extras {
    pub metadata: Option<Map<String, Value>>,
    /// The metadata's size as JSON text (what the limits count).
    pub metadata_bytes: usize,
    /// The caller's key, unique within the namespace.
    pub key: Option<String>,
    /// When the memory expires, Unix ms.
    pub expires_at: Option<i64>,
}

impl Extras {
    fn is_empty(&self) -> bool {
        self.metadata.is_none() && self.metadata_bytes == 0 && self.key.is_none() && self.expires_at.is_none()
    }

    /// The box a record keeps for these fields: none when all are empty.
    pub(crate) fn boxed(self) -> Option<Box<Extras>> {
        (!self.is_empty()).then(|| Box::new(self))
    }
}

impl Node {
    pub(crate) fn metadata(&self) -> Option<&Map<String, Value>> {
        self.extras.as_ref().and_then(|e| e.metadata.as_ref())
    }

    pub(crate) fn metadata_bytes(&self) -> usize {
        self.extras.as_ref().map_or(0, |e| e.metadata_bytes)
    }

    pub(crate) fn key(&self) -> Option<&String> {
        self.extras.as_ref().and_then(|e| e.key.as_ref())
    }

    pub(crate) fn expires_at(&self) -> Option<i64> {
        self.extras.as_ref().and_then(|e| e.expires_at)
    }

    /// Whether the memory has not expired at `now_ms` (Unix ms): it expires
    /// at its `expires_at`, not after.
    pub(crate) fn live_at(&self, now_ms: i64) -> bool {
        self.expires_at().is_none_or(|t| t > now_ms)
    }

    /// Changes the boxed fields through `f` (in the box the record has, or
    /// a new one); the box goes when they end up empty.
    fn with_extras(&mut self, f: impl FnOnce(&mut Extras)) {
        let mut e = self.extras.take().unwrap_or_default();
        f(&mut e);
        self.extras = (!e.is_empty()).then_some(e);
    }
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Node>() == 160);

/// What an insert needs besides the vector.
#[derive(Debug, Clone)]
pub(crate) struct NewNode {
    pub id: u64,
    pub text: String,
    pub weight: f64,
    pub metadata: Option<Map<String, Value>>,
    pub metadata_bytes: usize,
    pub created_at: i64,
    pub last_accessed: i64,
    pub access_count: u64,
    pub ns: u32,
    pub key: Option<String>,
    pub expires_at: Option<i64>,
    pub norm: f64,
}

/// The namespaces in use, interned: a memory stores a `u32`, scans compare
/// integers. Entries are never removed (an emptied namespace keeps its index).
#[derive(Debug, Clone, Default)]
pub(crate) struct Namespaces {
    names: Vec<String>,
    ids: FastMap<String, u32>,
    counts: Vec<usize>,
}

impl Namespaces {
    /// The index of a namespace, if any memory ever used it.
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The index of a namespace, interning it if new.
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), i);
        self.counts.push(0);
        i
    }

    /// The name of an interned namespace.
    pub(crate) fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", String::as_str)
    }

    /// Memories per namespace (only namespaces that hold some), by name.
    pub(crate) fn counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.names.iter().zip(&self.counts).filter(|(_, &c)| c > 0).map(|(n, &c)| (n.clone(), c as u64)).collect()
    }

    /// Memories in one namespace.
    pub(crate) fn count(&self, i: u32) -> usize {
        self.counts.get(i as usize).copied().unwrap_or(0)
    }

    /// How many namespaces were ever used (interned).
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

/// The graph and the vectors.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    dim: usize,
    max_degree: usize,
    nodes: Vec<Node>,
    /// How rows are stored, and the 32-bit words one takes.
    precision: Precision,
    row_words: usize,
    vectors: crate::slab::Slab,
    /// Each slot's inverse norm, apart from the node records so that a scan
    /// reads only the vectors and this array.
    inv_norms: Vec<f32>,
    index: FastMap<u64, usize>,
    edge_count: usize,
    estimate_bytes: u64,
    /// BM25 over the texts, kept in step with the nodes.
    pub(crate) lexical: crate::lexical::Lexical,
    /// The namespaces and how many memories each holds.
    pub(crate) namespaces: Namespaces,
    /// (namespace, key) → id, for upserts.
    keys: FastMap<(u32, String), u64>,
    /// (expires_at, id) of every memory that expires, soonest first.
    expiry: BTreeSet<(i64, u64)>,
    /// Metadata columns for filters, by storage slot (built on first use).
    pub(crate) columns: crate::filter::ColumnCache,
    /// The approximate index of each namespace (by interned index).
    pub(crate) ann: Vec<Hnsw>,
    /// Each slot's position in its namespace's index.
    ann_pos: Vec<u32>,
    /// What the indexes navigate by when the rows are full precision
    /// ([`NavRows`]); `None` at a compact precision (the rows themselves).
    nav: Option<NavRows>,
    /// The relevance-statistics sample of each namespace read through its
    /// index (those past the exact limit), by interned index; see [`crate::sample`].
    samples: Vec<Option<Sample>>,
    /// Namespaces holding more memories than this are served by their index.
    exact_limit: usize,
    /// Index candidates an insert examines per level (`Config::ef_construction`).
    ef_construction: usize,
    /// Whether batch plans work out their neighbours' rewritten link lists
    /// ahead ([`Graph::plan_rewrites`]); `None`: when plans are made on
    /// several threads (on one, a rewrite that goes stale would be work done
    /// twice). The test that checks the results are the same sets it both ways.
    pub(crate) rewrites_ahead: Option<bool>,
}

/// RESOURCE_EXHAUSTION for a collection that could not grow by `n` memories.
fn out_of_memory(what: &str, n: usize) -> crate::Error {
    crate::Error::new(crate::ErrorCode::ResourceExhaustion, format!("out of memory while growing the {what}"))
        .with("adding", n)
}

/// Default of `Config::exact_limit`.
pub const DEFAULT_EXACT_LIMIT: usize = 10_000;

/// Index candidates a memory left without edges is re-linked among.
const RELINK_CANDIDATES: usize = 64;

#[cfg(test)]
thread_local! {
    /// Stranded memories this thread re-linked among their index neighbours.
    static RELINKED_BY_NEIGHBOURS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Index candidates rescored beyond `max_degree` when planning links.
const LINK_RESCORE_SPARE: usize = 4;

/// Namespaces up to this size plan new links by an exact scan (measured on the
/// 14 k corpus: above it the index's candidates cost less than the scan, and
/// they hold over 90 % of the exact links).
pub const EXACT_LINKS_LIMIT: usize = 1024;

/// The dot product of every score and of the approximate index: 32
/// independent lanes (four 8-wide registers on AVX2), so the additions do not
/// wait on each other. Lane `i` accumulates `x[32k+i]·y[32k+i]` in order (a
/// multiply then an add, never fused), the lanes are summed in a fixed tree
/// and the remainder in order, so every target — the runtime-dispatched
/// builds ([`with_simd`]) and the explicit simd128 kernel below — computes the
/// same bits. (Until this version the scores used an 8-lane kernel, one
/// addition chain per row: the exact scan of the 14 k × 384 corpus took 1.33
/// ms of which most was waiting on those additions; with 32 lanes 1.16 ms when
/// the rows are in the cache and 1.22 against 1.39 ms when they are not.)
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    crate::precision::lanes(a, b)
}

/// The end of the simd128 kernel: lanes 0–3 (`lo`) and 4–7 (`hi`) of the
/// portable version's eight partial sums, summed in its fixed tree, then the
/// remainder in order.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn sum_lanes(lo: core::arch::wasm32::v128, hi: core::arch::wasm32::v128, ra: &[f32], rb: &[f32]) -> f32 {
    use core::arch::wasm32::f32x4_extract_lane as lane;
    let (l, h) = (
        [lane::<0>(lo), lane::<1>(lo), lane::<2>(lo), lane::<3>(lo)],
        [lane::<0>(hi), lane::<1>(hi), lane::<2>(hi), lane::<3>(hi)],
    );
    let mut s = ((l[0] + h[0]) + (l[1] + h[1])) + ((l[2] + h[2]) + (l[3] + h[3]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// [`dot`] in explicit wasm simd128 (the browser build is optimised for
/// size, where LLVM does not auto-vectorise): eight f32x4 accumulators hold
/// the 32 lanes (register `j` lanes `4j..4j + 4`), summed in the portable order.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    use core::arch::wasm32::{f32x4, f32x4_add, f32x4_mul, f32x4_splat, v128};
    #[inline(always)]
    fn mac(acc: v128, x: &[f32], y: &[f32]) -> v128 {
        f32x4_add(acc, f32x4_mul(f32x4(x[0], x[1], x[2], x[3]), f32x4(y[0], y[1], y[2], y[3])))
    }
    let z = f32x4_splat(0.0);
    let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5, mut a6, mut a7) = (z, z, z, z, z, z, z, z);
    let ca = a.chunks_exact(32);
    let cb = b.chunks_exact(32);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        a0 = mac(a0, &x[0..4], &y[0..4]);
        a1 = mac(a1, &x[4..8], &y[4..8]);
        a2 = mac(a2, &x[8..12], &y[8..12]);
        a3 = mac(a3, &x[12..16], &y[12..16]);
        a4 = mac(a4, &x[16..20], &y[16..20]);
        a5 = mac(a5, &x[20..24], &y[20..24]);
        a6 = mac(a6, &x[24..28], &y[24..28]);
        a7 = mac(a7, &x[28..32], &y[28..32]);
    }
    let lo = f32x4_add(f32x4_add(a0, a2), f32x4_add(a4, a6));
    let hi = f32x4_add(f32x4_add(a1, a3), f32x4_add(a5, a7));
    sum_lanes(lo, hi, ra, rb)
}

/// Runs a scan compiled for the best instruction set this CPU has (AVX2 or
/// AVX-512 on x86-64, NEON on aarch64; chosen at run time through `pulp`), so
/// the dot products inside it use the widest registers. The arithmetic is the
/// same — 32 lanes, multiply then add, never fused, summed in one order —
/// so every result is bit for bit the baseline build's (and the browser's).
#[cfg(not(any(target_arch = "wasm32", miri)))]
#[inline(always)]
pub(crate) fn with_simd<R>(scan: impl FnOnce() -> R) -> R {
    static ARCH: std::sync::OnceLock<pulp::Arch> = std::sync::OnceLock::new();
    ARCH.get_or_init(pulp::Arch::new).dispatch(scan)
}

/// The browser build has one instruction set (simd128, enabled at build
/// time); Miri cannot ask the CPU.
#[cfg(any(target_arch = "wasm32", miri))]
#[inline(always)]
pub(crate) fn with_simd<R>(scan: impl FnOnce() -> R) -> R {
    scan()
}

/// How many rows ahead an exact scan asks the cache for the row it will read
/// ([`prefetch`]). Measured on the 14 k × 384 corpus: 2–4 rows ahead cut the
/// scan by 10–30 % (the hardware prefetcher alone stops at page boundaries
/// and ramps up slowly); 8 was no better.
pub(crate) const PREFETCH_ROWS: usize = 3;

/// An exact scan asks for rows ahead only over a slab up to this size, about
/// what a large last-level cache holds. Past it the scan streams from main
/// memory, where the hardware prefetcher keeps up and the hints only take
/// load slots: on the generated 100 k × 768 set (300 MB) a scan without them
/// took 0.87× the time, while on the 14 k × 384 corpus (22 MB) one without
/// them took 1.26× (each query alternating between the two forms in one
/// process).
pub(crate) const PREFETCH_SLAB_MAX_BYTES: usize = 32 << 20;

/// Asks the CPU for the 64-byte line holding `x` (a hint only, it changes no
/// result). A no-op on other architectures than x86-64 (Rust has no stable
/// prefetch for them) and under Miri.
#[inline(always)]
pub(crate) fn prefetch_item<T>(x: &T) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    safe_arch::prefetch_t0(x);
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = x;
}

/// Asks the CPU to bring `row` into the cache: [`prefetch_item`] for each of
/// its 64-byte lines.
#[inline(always)]
pub(crate) fn prefetch(row: &[f32]) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    for line in row.chunks(16) {
        prefetch_item(&line[0]);
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = row;
}

/// [`prefetch`] for the first 64-byte line of `row` only: enough to start a
/// far row on its way without filling the cache with rows not read yet.
#[inline(always)]
pub(crate) fn prefetch_head(row: &[f32]) {
    if let Some(x) = row.first() {
        prefetch_item(x);
        // WebAssembly has no prefetch: a load whose value is kept starts the
        // line on its way just the same. Measured in Node on the 14 k corpus
        // (two builds in one process, alternating queries): approximate reads
        // 0.93–0.97× the time. Loading a line of every 64 bytes of the next row
        // the same way ([`prefetch`]) made them 1.02–1.05× slower, so it is not done.
        #[cfg(target_arch = "wasm32")]
        std::hint::black_box(*x);
    }
}

/// Cosine of two vectors (full-precision or stored rows) given their inverse
/// norms, clamped to [-1, 1], never NaN.
#[inline(always)]
pub(crate) fn cosine<A: Elem, B: Elem>(a: &[A], inv_a: f32, b: &[B], inv_b: f32) -> f64 {
    cosine_of(crate::precision::dot(a, b), a, inv_a, b, inv_b)
}

/// The [`cosine`]s of two f32 vectors (with their inverse norms) with one
/// row, in one pass over the row ([`crate::precision::dot2`]): the same bits.
#[inline(always)]
pub(crate) fn cosine2<E: Elem>(a: (&[f32], f32), b: (&[f32], f32), row: &[E], inv: f32) -> (f64, f64) {
    let (da, db) = crate::precision::dot2(a.0, b.0, row);
    (cosine_of(da, a.0, a.1, row, inv), cosine_of(db, b.0, b.1, row, inv))
}

/// [`cosine`] from the dot product `d` of `a` and `b`.
#[inline(always)]
fn cosine_of<A: Elem, B: Elem>(d: f32, a: &[A], inv_a: f32, b: &[B], inv_b: f32) -> f64 {
    let c = if d.is_finite() {
        f64::from(d) * f64::from(inv_a) * f64::from(inv_b)
    } else {
        // Huge components overflowed f32: redo in f64 (rare, slow path).
        let d64: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x.f()) * f64::from(y.f())).sum();
        d64 * f64::from(inv_a) * f64::from(inv_b)
    };
    if c.is_nan() {
        0.0
    } else {
        c.clamp(-1.0, 1.0)
    }
}

/// The inverse norm stored per vector.
pub(crate) fn inv_norm(norm: f64) -> f32 {
    (1.0 / norm) as f32
}

/// `0.6 · degree/max_degree + 0.4 · mean edge relevance`, in [0, 1] (0 without edges).
pub(crate) fn centrality(edges: &[Edge], max_degree: usize) -> f64 {
    if edges.is_empty() {
        return 0.0;
    }
    let mean = edges.iter().map(|e| f64::from(e.relevance)).sum::<f64>() / edges.len() as f64;
    (0.6 * edges.len() as f64 / max_degree as f64 + 0.4 * mean).clamp(0.0, 1.0)
}

/// The rows of 8-bit codes graph `$g`'s indexes navigate by, if they are
/// such codes: the [`NavRows`] of a full-precision store, an i8 store's own
/// rows. (A macro over the fields, not a method, so that callers may hold an
/// index mutably meanwhile.)
macro_rules! code_rows {
    ($g:expr) => {
        match &$g.nav {
            Some(nav) => Some(nav.rows()),
            None if $g.precision == Precision::I8 => {
                Some(Rows::<i8>::new(&$g.vectors, &$g.inv_norms, $g.dim, $g.row_words))
            }
            None => None,
        }
    };
}

/// Runs `$body` with `$rows` the rows graph `$g`'s indexes navigate by and
/// `$E` their component type: rows of 8-bit codes (`code_rows!`), else
/// the stored rows (each arm compiled for its type). With a query (`$q`, a
/// full-precision vector, and its inverse norm `$inv`), rebinds them to what
/// the index compares with its rows: its 8-bit codes where the rows are
/// codes, so that codes meet codes in the integer kernel.
macro_rules! with_index_rows {
    ($g:expr, $E:ident, $rows:ident => $body:expr) => {
        match code_rows!($g) {
            Some($rows) => {
                #[allow(dead_code)]
                type $E = i8;
                $body
            }
            None => by_precision!($g.precision, $E => {
                let $rows = Rows::<$E>::new(&$g.vectors, &$g.inv_norms, $g.dim, $g.row_words);
                $body
            }),
        }
    };
    ($g:expr, $E:ident, $rows:ident, $q:ident, $inv:ident => $body:expr) => {
        match code_rows!($g) {
            Some($rows) => {
                #[allow(dead_code)]
                type $E = i8;
                let coded = crate::ann::code_row($q);
                let ($q, $inv) = (crate::precision::view::<i8>(&coded.0, $g.dim), coded.1);
                $body
            }
            None => by_precision!($g.precision, $E => {
                let $rows = Rows::<$E>::new(&$g.vectors, &$g.inv_norms, $g.dim, $g.row_words);
                $body
            }),
        }
    };
}

/// Orders candidates: higher relevance first, then lower id.
fn stronger(a: &(u64, f32), b: &(u64, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

impl Graph {
    pub(crate) fn new(dim: usize, max_degree: usize) -> Graph {
        Graph {
            dim,
            max_degree,
            nodes: Vec::new(),
            precision: Precision::F32,
            row_words: dim,
            vectors: crate::slab::Slab::default(),
            inv_norms: Vec::new(),
            index: FastMap::default(),
            edge_count: 0,
            estimate_bytes: 0,
            lexical: crate::lexical::Lexical::default(),
            namespaces: Namespaces::default(),
            keys: FastMap::default(),
            expiry: BTreeSet::new(),
            columns: crate::filter::ColumnCache::default(),
            ann: Vec::new(),
            ann_pos: Vec::new(),
            nav: Some(NavRows::new(dim)),
            samples: Vec::new(),
            exact_limit: DEFAULT_EXACT_LIMIT,
            ef_construction: crate::ann::EF_CONSTRUCTION,
            rewrites_ahead: None,
        }
    }

    /// The same (empty) graph, keeping its vectors at precision `p`.
    pub(crate) fn with_precision(mut self, p: Precision) -> Graph {
        debug_assert!(self.nodes.is_empty());
        self.precision = p;
        self.row_words = crate::precision::row_words(p, self.dim);
        self.nav = (p == Precision::F32).then(|| NavRows::new(self.dim));
        self
    }

    /// How the rows are stored.
    pub(crate) fn precision(&self) -> Precision {
        self.precision
    }

    /// 32-bit words per stored row.
    pub(crate) fn row_words(&self) -> usize {
        self.row_words
    }

    /// The same graph, its inserts examining `ef` index candidates per level.
    pub(crate) fn with_ef_construction(mut self, ef: usize) -> Graph {
        self.ef_construction = ef;
        self
    }

    /// Index candidates an insert examines per level from now on.
    pub(crate) fn set_ef_construction(&mut self, ef: usize) {
        self.ef_construction = ef;
    }

    /// Index candidates an insert examines per level.
    pub(crate) fn ef_construction(&self) -> usize {
        self.ef_construction
    }

    /// The same graph, approximate above `limit` memories per namespace.
    pub(crate) fn with_exact_limit(mut self, limit: usize) -> Graph {
        self.set_exact_limit(limit);
        self
    }

    /// Serves namespaces of more than `limit` memories from their indexes
    /// from now on (their statistics samples follow).
    pub(crate) fn set_exact_limit(&mut self, limit: usize) {
        self.exact_limit = limit;
        for ns in 0..self.ann.len().max(self.samples.len()) {
            self.sync_sample(ns as u32);
        }
    }

    /// Builds every namespace's statistics sample again from its index (after
    /// the indexes were loaded or rebuilt).
    fn rebuild_samples(&mut self) {
        self.samples.clear();
        self.set_exact_limit(self.exact_limit);
    }

    /// Namespace `ns`'s statistics sample, if it is read approximately.
    pub(crate) fn sample_of(&self, ns: u32) -> Option<&Sample> {
        self.samples.get(ns as usize).and_then(Option::as_ref)
    }

    /// The memories of namespace `ns` as a sample takes them: (id, slot, row, inverse norm).
    fn sample_source<E: Elem>(&self, ns: u32) -> impl Iterator<Item = (u64, u32, &[E], f32)> + '_ {
        let slots = self.ann.get(ns as usize).map_or(&[][..], |h| &h.slots[..]);
        slots.iter().map(move |&s| {
            let (inv, row) = self.row_at::<E>(s as usize);
            (self.nodes[s as usize].id, s, row, inv)
        })
    }

    /// Gives namespace `ns` a sample if it is read approximately and has
    /// none, and drops the one it has if it is not.
    fn sync_sample(&mut self, ns: u32) {
        let want = self.approximate(ns);
        let i = ns as usize;
        if want && self.sample_of(ns).is_none() {
            let sample = by_precision!(self.precision, E => Sample::build(self.dim, self.sample_source::<E>(ns)));
            if self.samples.len() <= i {
                self.samples.resize(i + 1, None);
            }
            self.samples[i] = Some(sample);
        } else if !want && self.sample_of(ns).is_some() {
            self.samples[i] = None;
        }
    }

    /// The `ef` nodes of index `h` (one of this graph's) most similar to
    /// `q` that `admit` (given a graph slot) accepts, by the rows the index
    /// navigates by; most similar first.
    #[inline(always)]
    pub(crate) fn index_search(
        &self,
        h: &Hnsw,
        q: &[f32],
        inv_q: f32,
        ef: usize,
        admit: &dyn Fn(u32) -> bool,
    ) -> Vec<Cand> {
        with_index_rows!(self, E, rows, q, inv_q => h.search(rows, q, inv_q, ef, admit))
    }

    /// The row an index would navigate by for a new memory whose stored row
    /// is `words` with inverse norm `inv`: the codes of a full-precision row
    /// ([`NavRows`]), else the row itself.
    pub(crate) fn index_row<'w>(&self, words: &'w [f32], inv: f32) -> (std::borrow::Cow<'w, [f32]>, f32) {
        match &self.nav {
            Some(_) => {
                let (codes, inv) = crate::ann::code_row(words);
                (std::borrow::Cow::Owned(codes), inv)
            }
            None => (std::borrow::Cow::Borrowed(words), inv),
        }
    }

    /// The similarity the indexes navigate by between two rows given as
    /// [`Graph::index_row`] gives them.
    #[inline(always)]
    pub(crate) fn index_similarity(&self, a: &[f32], inv_a: f32, b: &[f32], inv_b: f32) -> f32 {
        with_index_rows!(self, E, _rows => {
            let view = |w| crate::precision::view::<E>(w, self.dim);
            crate::ann::similarity(view(a), inv_a, view(b), inv_b)
        })
    }

    /// Whether namespace `ns`'s reads are served by its approximate index.
    pub(crate) fn approximate(&self, ns: u32) -> bool {
        self.namespaces.count(ns) > self.exact_limit
    }

    /// Whether new memories of namespace `ns` find their honeycomb
    /// neighbours through its index (above [`EXACT_LINKS_LIMIT`] memories, or
    /// the exact limit if lower) rather than by scanning it.
    pub(crate) fn approximate_links(&self, ns: u32) -> bool {
        self.namespaces.count(ns) > self.exact_limit.min(EXACT_LINKS_LIMIT)
    }

    /// The index of namespace `ns`, if it has one.
    pub(crate) fn index_of(&self, ns: u32) -> Option<&Hnsw> {
        self.ann.get(ns as usize)
    }

    /// Plans where a new vector goes in namespace `ns`'s index: its level (the
    /// `offset`-th insert from now into that index) and the candidates of each
    /// level, by memory id.
    pub(crate) fn plan_ann(&self, v: &[f32], inv: f32, ns: u32, offset: u64) -> AnnPlan {
        let Some(h) = self.index_of(ns) else {
            return AnnPlan { level: crate::ann::level_of(offset), ..AnnPlan::default() };
        };
        let level = crate::ann::level_of(h.inserted + offset);
        let layers = with_simd(
            #[inline(always)]
            || with_index_rows!(self, E, rows, v, inv => h.plan(rows, v, inv, level, self.ef_construction)),
        )
        .into_iter()
        .map(|l| l.into_iter().map(|c| (c.sim, self.nodes[h.slots[c.node as usize] as usize].id)).collect())
        .collect();
        AnnPlan { level, layers, epoch: h.epoch(), ..AnnPlan::default() }
    }

    /// Works out ahead, for a plan whose neighbours are chosen
    /// ([`Graph::select_plan`]), how inserting it rewrites those neighbours'
    /// full link lists ([`crate::ann::Rewrite`]): the costly part of applying a
    /// plan, moved to where plans are made in parallel. `v` is the new row as
    /// the index will navigate by it ([`Graph::index_row`]).
    pub(crate) fn plan_rewrites(&self, plan: &mut AnnPlan, v: &[f32], inv: f32, ns: u32) {
        let Some(h) = self.index_of(ns) else { return };
        if !plan.selected || h.epoch() != plan.epoch {
            return;
        }
        let chosen: Vec<Vec<u32>> =
            plan.layers.iter().map(|l| l.iter().filter_map(|&(_, id)| self.index_node(ns, id)).collect()).collect();
        plan.rewrites = with_simd(
            #[inline(always)]
            || {
                with_index_rows!(self, E, rows => {
                    h.rewrites(rows, crate::precision::view::<E>(v, self.dim), inv, &chosen)
                })
            },
        );
    }

    /// Runs the neighbour heuristic on a plan's candidates now (see
    /// [`crate::ann::select`]); `extra` resolves ids that are not stored yet
    /// (to the rows the index will navigate by, [`Graph::index_row`]: words,
    /// and inverse norms).
    pub(crate) fn select_plan<'v>(&'v self, plan: &mut AnnPlan, extra: impl Fn(u64) -> Option<(&'v [f32], f32)>) {
        with_index_rows!(self, E, rows => {
            // The batch's own rows first: an upsert reuses the id of the memory it replaces.
            let vector = |id: u64| {
                extra(id)
                    .map(|(words, inv)| (crate::precision::view::<E>(words, self.dim), inv))
                    .or_else(|| self.slot(id).map(|slot| rows.row(slot as u32)))
            };
            for layer in &mut plan.layers {
                *layer = with_simd(
                    #[inline(always)]
                    || crate::ann::select(layer, crate::ann::M, 0, vector),
                );
            }
        });
        plan.selected = true;
    }

    /// The best `max_degree` link candidates among an index plan's level-0
    /// candidates (the approximate counterpart of the scan in `plan_links`).
    /// The index ranks by its own similarity: a few more than needed are
    /// rescored with the engine's cosine, which decides.
    #[inline(always)]
    fn links_from_plan(&self, v: &[f32], inv: f32, plan: &AnnPlan, exclude: &[u64]) -> Vec<(u64, f32)> {
        let Some(layer) = plan.layers.first() else { return Vec::new() };
        let mut best: Vec<(u64, f32)> = Vec::with_capacity(self.max_degree + LINK_RESCORE_SPARE);
        for &(_, id) in layer {
            if best.len() == self.max_degree + LINK_RESCORE_SPARE {
                break;
            }
            if exclude.binary_search(&id).is_ok() {
                continue;
            }
            if let Some(slot) = self.slot(id) {
                let rel = self.cosine_to(v, inv, slot) as f32;
                if rel > 0.0 {
                    best.push((id, rel));
                }
            }
        }
        best.sort_by(stronger);
        best.truncate(self.max_degree);
        best
    }

    /// Every memory, in storage order.
    pub(crate) fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The id of the memory with this key in namespace `ns`.
    pub(crate) fn by_key(&self, ns: u32, key: &str) -> Option<u64> {
        self.keys.get(&(ns, key.to_owned())).copied()
    }

    /// Ids of the memories that have expired at `now_ms` (expires_at ≤ now), soonest first.
    pub(crate) fn expired(&self, now_ms: i64) -> Vec<u64> {
        self.expiry.iter().take_while(|(t, _)| *t <= now_ms).map(|&(_, id)| id).collect()
    }

    /// Whether any memory has expired at `now_ms`.
    pub(crate) fn any_expired(&self, now_ms: i64) -> bool {
        self.expiry.first().is_some_and(|&(t, _)| t <= now_ms)
    }

    /// The embedding dimension.
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    /// Replaces a memory's text (the lexical index follows). Returns false if absent.
    pub(crate) fn set_text(&mut self, id: u64, text: String) -> bool {
        let Some(slot) = self.slot(id) else { return false };
        let old = self.nodes[slot].text.len();
        self.estimate_bytes = (self.estimate_bytes + text.len() as u64).saturating_sub(old as u64);
        self.lexical.remove(id, &self.nodes[slot].text);
        self.lexical.add(id, &text);
        self.nodes[slot].text = text;
        true
    }

    /// Replaces a memory's metadata.
    pub(crate) fn set_metadata(&mut self, id: u64, metadata: Option<Map<String, Value>>, bytes: usize) {
        if let Some(slot) = self.slot(id) {
            let old = self.nodes[slot].metadata_bytes();
            self.estimate_bytes = (self.estimate_bytes + bytes as u64).saturating_sub(old as u64);
            self.nodes[slot].with_extras(|e| {
                e.metadata = metadata;
                e.metadata_bytes = bytes;
            });
            self.columns.0.get_mut().set(slot, self.nodes[slot].metadata());
        }
    }

    /// Sets or clears a memory's expiry.
    pub(crate) fn set_expiry(&mut self, id: u64, expires_at: Option<i64>) {
        if let Some(slot) = self.slot(id) {
            if let Some(t) = self.nodes[slot].expires_at() {
                self.expiry.remove(&(t, id));
            }
            if let Some(t) = expires_at {
                self.expiry.insert((t, id));
            }
            self.nodes[slot].with_extras(|e| e.expires_at = expires_at);
        }
    }

    /// The estimate of bytes held by memory `id` without its edges (0 if absent).
    pub(crate) fn node_bytes(&self, id: u64) -> u64 {
        self.node(id).map_or(0, |n| self.node_cost(n.text.len(), n.key(), n.metadata_bytes()))
    }

    /// The estimate of bytes held by one memory without its edges.
    fn node_cost(&self, text_bytes: usize, key: Option<&String>, metadata_bytes: usize) -> u64 {
        self.node_estimate(text_bytes + key.map_or(0, String::len), metadata_bytes)
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Makes room for `n` more memories in the big collections (the vector slab,
    /// the node records, the id index), or reports that the allocator cannot.
    /// Capacity only: nothing visible changes. This is what turns running out
    /// of memory (in a browser: wasm's 4 GiB) into RESOURCE_EXHAUSTION instead
    /// of an abort.
    pub(crate) fn try_reserve(&mut self, n: usize) -> Result<(), crate::Error> {
        let oom = |what: &str| out_of_memory(what, n);
        let floats = n.checked_mul(self.row_words).ok_or_else(|| oom("vector slab"))?;
        self.vectors.try_reserve(floats).map_err(|_| oom("vector slab"))?;
        self.try_reserve_tables(n)
    }

    /// [`Graph::try_reserve`] for all but the vector slab.
    pub(crate) fn try_reserve_tables(&mut self, n: usize) -> Result<(), crate::Error> {
        let oom = |what: &str| out_of_memory(what, n);
        self.inv_norms.try_reserve(n).map_err(|_| oom("vector slab"))?;
        if let Some(nav) = &mut self.nav {
            nav.try_reserve(n).map_err(|_| oom("approximate index"))?;
        }
        self.nodes.try_reserve(n).map_err(|_| oom("memory records"))?;
        self.index.try_reserve(n).map_err(|_| oom("id index"))?;
        self.ann_pos.try_reserve(n).map_err(|_| oom("approximate index"))?;
        Ok(())
    }

    pub(crate) fn edge_count(&self) -> usize {
        self.edge_count
    }

    /// The documented size estimate, kept current on every change.
    pub(crate) fn estimate_bytes(&self) -> u64 {
        self.estimate_bytes
    }

    /// Estimated bytes of one memory without edges: its stored row (see
    /// [`Precision::row_bytes`]) and, at full precision, the row its index
    /// navigates by ([`NavRows::row_bytes`]) + text bytes + metadata bytes +
    /// `NODE_OVERHEAD_BYTES`.
    pub(crate) fn node_estimate(&self, text_bytes: usize, metadata_bytes: usize) -> u64 {
        let nav = if self.nav.is_some() { NavRows::row_bytes(self.dim) } else { 0 };
        (4 * self.row_words + text_bytes + metadata_bytes) as u64 + nav + NODE_OVERHEAD_BYTES
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.index.contains_key(&id)
    }

    pub(crate) fn node(&self, id: u64) -> Option<&Node> {
        self.index.get(&id).map(|&i| &self.nodes[i])
    }

    pub(crate) fn node_mut(&mut self, id: u64) -> Option<&mut Node> {
        match self.index.get(&id) {
            Some(&i) => Some(&mut self.nodes[i]),
            None => None,
        }
    }

    /// The storage slot of a memory (valid until the next insert or remove).
    pub(crate) fn slot(&self, id: u64) -> Option<usize> {
        self.index.get(&id).copied()
    }

    /// [`Graph::slot`] looked up once per run of entries naming the same
    /// memory (a snapshot's link entries come grouped by memory): `last`
    /// keeps the run's id and slot.
    fn slot_in_run(&self, last: &mut Option<(u64, usize)>, id: u64) -> Option<usize> {
        match *last {
            Some((known, slot)) if known == id => Some(slot),
            _ => {
                let slot = self.slot(id)?;
                *last = Some((id, slot));
                Some(slot)
            }
        }
    }

    /// The memory in a storage slot.
    pub(crate) fn node_at(&self, slot: usize) -> &Node {
        &self.nodes[slot]
    }

    /// The embedding of memory `id` as stored (at a compact precision, its
    /// codes times its scale).
    pub(crate) fn vector(&self, id: u64) -> Option<Vec<f32>> {
        self.index.get(&id).map(|&i| crate::precision::embedding(self.precision, self.words(i), self.dim))
    }

    /// The stored words of slot `i` (what a prefetch asks for).
    #[inline(always)]
    pub(crate) fn words(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.row_words..(i + 1) * self.row_words]
    }

    /// The stored row of slot `i` as components of type `E` (the store's precision).
    #[inline(always)]
    pub(crate) fn row<E: Elem>(&self, i: usize) -> &[E] {
        debug_assert_eq!(std::mem::size_of::<E>() == 4, self.precision == Precision::F32);
        crate::precision::view(self.words(i), self.dim)
    }

    /// The inverse norm and row of one slot.
    #[inline(always)]
    pub(crate) fn row_at<E: Elem>(&self, slot: usize) -> (f32, &[E]) {
        (self.inv_norms[slot], self.row(slot))
    }

    /// The cosine of a full-precision vector (`q`, inverse norm `inv_q`) and
    /// the row in `slot`, at whatever precision it is stored.
    #[inline(always)]
    pub(crate) fn cosine_to(&self, q: &[f32], inv_q: f32, slot: usize) -> f64 {
        by_precision!(self.precision, E => {
            let (inv, row) = self.row_at::<E>(slot);
            cosine(q, inv_q, row, inv)
        })
    }

    /// Every slot's inverse norm and row, in storage order (what scans read).
    pub(crate) fn rows<E: Elem>(&self) -> impl Iterator<Item = (f32, &[E])> {
        let dim = self.dim;
        self.inv_norms
            .iter()
            .copied()
            .zip(self.vectors.chunks_exact(self.row_words.max(1)).map(move |w| crate::precision::view(w, dim)))
    }

    /// Every node with its stored words, in storage order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Node, &[f32])> {
        self.nodes.iter().zip(self.vectors.chunks_exact(self.row_words.max(1)))
    }

    /// Ids in ascending order.
    pub(crate) fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        ids
    }

    /// The best `max_degree` existing memories of namespace `ns` to link a new
    /// vector to, by positive relevance (ties: lower id), skipping the ids in
    /// `exclude` (sorted; memories a batch replaces). `extra` are vectors about
    /// to be inserted before this one (a batch), as (id, vector, inverse norm,
    /// namespace).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn plan_links(
        &self,
        v: &[f32],
        inv: f32,
        ns: u32,
        exclude: &[u64],
        extra: &[(u64, &[f32], f32, u32)],
        ann: Option<&AnnPlan>,
        deadline: &Deadline,
        op: &str,
    ) -> Result<Vec<(u64, f32)>> {
        deadline.check(op)?;
        let k = self.max_degree;
        let mut best: Vec<(u64, f32)> = Vec::with_capacity(k + 1);
        let approximate = ann.is_some() && self.approximate_links(ns);
        if approximate {
            best = ann
                .map(|p| {
                    with_simd(
                        #[inline(always)]
                        || self.links_from_plan(v, inv, p, exclude),
                    )
                })
                .unwrap_or_default();
        }
        let mut offer = |id: u64, rel: f64| {
            let rel = rel as f32;
            if rel <= 0.0 {
                return;
            }
            let cand = (id, rel);
            if best.len() == k && stronger(&cand, &best[k - 1]) != std::cmp::Ordering::Less {
                return;
            }
            let pos = best.partition_point(|b| stronger(b, &cand) == std::cmp::Ordering::Less);
            best.insert(pos, cand);
            best.truncate(k);
        };
        with_simd(
            #[inline(always)]
            || {
                // One namespace only: skip the scan when the store holds no other memory
                // of it, or when its index gave the candidates.
                if self.namespaces.count(ns) > 0 && !approximate {
                    by_precision!(self.precision, E => {
                        for (i, ((inv_b, row), node)) in self.rows::<E>().zip(&self.nodes).enumerate() {
                            deadline.check_every(i, op)?;
                            if node.ns != ns || exclude.binary_search(&node.id).is_ok() {
                                continue;
                            }
                            offer(node.id, cosine(v, inv, row, inv_b));
                        }
                    });
                }
                for (i, (id, row, inv_b, ns_b)) in extra.iter().enumerate() {
                    deadline.check_every(i, op)?;
                    if *ns_b == ns {
                        offer(*id, cosine(v, inv, row, *inv_b));
                    }
                }
                Ok(())
            },
        )?;
        Ok(best)
    }

    /// Adds a memory's record and the tables beside it (id index, lexical
    /// index, keys, expiry, namespace count, inverse norm, metadata columns),
    /// without links. Its vector must be in the slab already, at the slot
    /// the record takes.
    fn push_record(&mut self, n: NewNode) {
        let id = n.id;
        self.estimate_bytes += self.node_cost(n.text.len(), n.key.as_ref(), n.metadata_bytes);
        self.lexical.add(id, &n.text);
        self.index.insert(id, self.nodes.len());
        if let Some(c) = self.namespaces.counts.get_mut(n.ns as usize) {
            *c += 1;
        }
        if let Some(k) = &n.key {
            self.keys.insert((n.ns, k.clone()), id);
        }
        if let Some(t) = n.expires_at {
            self.expiry.insert((t, id));
        }
        self.nodes.push(Node {
            id,
            text: n.text,
            weight: n.weight,
            created_at: n.created_at,
            last_accessed: n.last_accessed,
            access_count: n.access_count,
            ns: n.ns,
            extras: Extras {
                metadata: n.metadata,
                metadata_bytes: n.metadata_bytes,
                key: n.key,
                expires_at: n.expires_at,
            }
            .boxed(),
            inv_norm: inv_norm(n.norm),
            edges: Vec::with_capacity(self.max_degree),
            overflow: Vec::new(),
            overflow_in: Vec::new(),
            centrality: 0.0,
        });
        self.inv_norms.push(inv_norm(n.norm));
        self.columns.0.get_mut().push(self.nodes.last().and_then(|n| n.metadata()));
    }

    /// A snapshot's records in order, each with its namespace's name, and
    /// their stored rows in one slab (which becomes the store's: no copy).
    /// Rejects a repeated id or a key repeated within a namespace, naming the
    /// record's position.
    pub(crate) fn load_records(
        &mut self,
        records: Vec<(NewNode, &str)>,
        vectors: crate::slab::Slab,
    ) -> Result<(), (usize, &'static str, &'static str)> {
        debug_assert!(self.nodes.is_empty() && vectors.len() == records.len() * self.row_words);
        // The navigation copy is coded beside the records' tables (on a
        // second core where there is one, for a large snapshot): it reads
        // only the rows. An empty copy stands in meanwhile (the size
        // estimate counts a copy where there is one).
        let dim = self.dim;
        let mut nav = self.nav.as_mut().map(|n| std::mem::replace(n, NavRows::new(dim)));
        let parallel = records.len() >= crate::ann::PARALLEL_CODING_ROWS;
        let code = || {
            if let Some(nav) = &mut nav {
                nav.extend(&vectors);
            }
        };
        let push = || {
            for (i, (mut n, namespace)) in records.into_iter().enumerate() {
                if self.index.contains_key(&n.id) {
                    return Err((i, "ids", "duplicate id"));
                }
                n.ns = self.namespaces.intern(namespace);
                if n.key.as_deref().is_some_and(|k| self.by_key(n.ns, k).is_some()) {
                    return Err((i, "key", "duplicate key in a namespace"));
                }
                self.push_record(n);
            }
            Ok(())
        };
        let (_, pushed) = crate::store::join_if(parallel, code, push);
        self.nav = nav;
        self.vectors = vectors;
        pushed
    }

    /// Adds a node (its row as stored: `words`) and applies its link plan.
    /// Returns how many edges were displaced into overflow layers. Never
    /// fails: everything was checked before.
    pub(crate) fn insert(&mut self, n: NewNode, words: &[f32], plan: &[(u64, f32)], ann: Option<AnnPlan>) -> u64 {
        debug_assert_eq!(words.len(), self.row_words);
        let id = n.id;
        let ns = n.ns;
        self.vectors.extend_from_slice(words);
        if let Some(nav) = &mut self.nav {
            nav.push(words);
        }
        self.push_record(n);
        if let Some(a) = ann {
            self.index_insert(ns, a);
        }
        let slot = self.nodes.len() - 1;
        match self.samples.get_mut(ns as usize).and_then(Option::as_mut) {
            Some(sample) => {
                let words = &self.vectors[slot * self.row_words..(slot + 1) * self.row_words];
                let inv = self.inv_norms[slot];
                by_precision!(self.precision, E => {
                    sample.offer(id, slot as u32, crate::precision::view::<E>(words, self.dim), inv)
                });
            }
            None => self.sync_sample(ns),
        }
        let mut overflows = 0;
        let mut stranded: Vec<u64> = Vec::new();
        for &(c, rel) in plan {
            if c == id || !self.contains(c) || self.degree(id) >= self.max_degree {
                continue;
            }
            if self.degree(c) < self.max_degree {
                self.link(id, c, rel);
                continue;
            }
            // Full: swap out the weakest edge (ties: the higher id goes) if ours is stronger.
            let weakest = self.nodes[self.index[&c]].edges.iter().copied().min_by(Edge::weaker_first);
            if let Some(w) = weakest {
                if rel > w.relevance {
                    self.unlink(c, w.to);
                    self.push_overflow(c, w);
                    self.link(id, c, rel);
                    overflows += 1;
                    if self.degree(w.to) == 0 {
                        stranded.push(w.to);
                    }
                }
            }
        }
        // Never strand a memory: the new one if no candidate took it, and one that
        // lost its last edge to a swap, are re-linked to their best remaining
        // candidate (measured: stranded memories were question truths that then
        // ranked last).
        // (An empty plan means no related memory exists, or a snapshot is being
        // loaded and brings its own edges.)
        if !plan.is_empty() && self.degree(id) == 0 {
            stranded.push(id);
        }
        for s in stranded {
            if self.degree(s) == 0 {
                overflows += self.relink(s);
            }
        }
        overflows
    }

    /// The position of memory `id` in namespace `ns`'s index, if it is stored in that namespace.
    fn index_node(&self, ns: u32, id: u64) -> Option<u32> {
        let s = *self.index.get(&id)?;
        if self.nodes[s].ns == ns {
            self.ann_pos.get(s).copied()
        } else {
            None
        }
    }

    /// Adds the last slot to its namespace's index, its plan's candidates
    /// translated from ids to current positions.
    fn index_insert(&mut self, ns: u32, plan: AnnPlan) {
        let slot = self.nodes.len() - 1;
        while self.ann.len() <= ns as usize {
            self.ann.push(Hnsw::default());
        }
        let layers: Vec<Vec<Cand>> = plan
            .layers
            .iter()
            .map(|l| {
                l.iter()
                    // (The new memory itself may be named: an upsert keeps its id.)
                    .filter_map(|&(sim, id)| Some(Cand { sim, node: self.index_node(ns, id)? }))
                    .collect()
            })
            .collect();
        let h = &mut self.ann[ns as usize];
        // (Removals since the plan was made may have moved positions.)
        let rewrites = if h.epoch() == plan.epoch { &plan.rewrites[..] } else { &[] };
        let pos = with_simd(
            #[inline(always)]
            || {
                with_index_rows!(self, E, rows => {
                    h.insert(rows, slot as u32, plan.level, layers, plan.selected, rewrites)
                })
            },
        );
        self.ann_pos.push(pos);
    }

    /// Rebuilds every namespace's index from the stored vectors, in storage
    /// order (loading a snapshot written before indexes were saved).
    pub(crate) fn rebuild_indexes(&mut self) {
        self.ann.clear();
        self.ann_pos.clear();
        let (dim, words, precision, ef) = (self.dim, self.row_words, self.precision, self.ef_construction);
        let mut v: Vec<f32> = Vec::with_capacity(dim);
        // Insert slot by slot: plan against the index as built so far.
        for slot in 0..self.nodes.len() {
            let ns = self.nodes[slot].ns;
            while self.ann.len() <= ns as usize {
                self.ann.push(Hnsw::default());
            }
            let h = &mut self.ann[ns as usize];
            let level = crate::ann::level_of(h.inserted);
            // The query side of a plan is f32: a compact row's decoded codes.
            v.clear();
            crate::precision::decode(precision, &self.vectors[slot * words..(slot + 1) * words], dim, &mut v);
            let (q, inv) = (&v[..], self.inv_norms[slot]);
            let pos = with_index_rows!(self, E, rows, q, inv => {
                let layers = with_simd(
                    #[inline(always)]
                    || h.plan(rows, q, inv, level, ef),
                );
                with_simd(
                    #[inline(always)]
                    || h.insert(rows, slot as u32, level, layers, false, &[]),
                )
            });
            self.ann_pos.push(pos);
        }
        self.rebuild_samples();
    }

    /// The saved indexes: per namespace (by name) its name, its node count and
    /// the ids of its nodes in position order, then [`Hnsw::encode`].
    pub(crate) fn encode_indexes(&self, out: &mut impl crate::bytes::Sink) {
        // By name, so that the bytes do not depend on the order namespaces were first used.
        let mut order: Vec<(&str, &Hnsw)> = (0..self.ann.len())
            .filter(|&ns| self.ann[ns].inserted > 0)
            .map(|ns| (self.namespaces.name(ns as u32), &self.ann[ns]))
            .collect();
        order.sort_by(|a, b| a.0.cmp(b.0));
        out.put(&(order.len() as u64).to_le_bytes());
        for (name, h) in order {
            out.put(&(name.len() as u64).to_le_bytes());
            out.put(name.as_bytes());
            out.put(&(h.len() as u64).to_le_bytes());
            for &slot in &h.slots {
                out.put(&self.nodes[slot as usize].id.to_le_bytes());
            }
            h.encode(out);
        }
    }

    /// Loads what [`Graph::encode_indexes`] wrote; checks that every memory is
    /// in exactly its own namespace's index.
    pub(crate) fn decode_indexes(&mut self, bytes: &[u8]) -> Result<(), String> {
        let b = &mut crate::bytes::Cursor::new(bytes);
        let u64_at = |b: &mut crate::bytes::Cursor<'_>| b.u64().ok_or("the index section is cut off");
        let count = u64_at(b)? as usize;
        if count > b.left() {
            return Err(format!("{count} indexes do not fit the section"));
        }
        let mut ann: Vec<Hnsw> = Vec::new();
        let mut pos = vec![u32::MAX; self.nodes.len()];
        for _ in 0..count {
            let name_len = u64_at(b)? as usize;
            let name = b.take(name_len).ok_or("a namespace name runs past the section")?;
            let name = std::str::from_utf8(name).map_err(|_| "a namespace name is not UTF-8")?;
            let ns = self.namespaces.intern(name) as usize;
            if ns < ann.len() && ann[ns].len() > 0 {
                return Err(format!("two indexes for namespace {name:?}"));
            }
            let len = u64_at(b)? as usize;
            if len > self.nodes.len() {
                return Err(format!("index {ns} holds {len} nodes for {} memories", self.nodes.len()));
            }
            let mut slots = Vec::with_capacity(len);
            for p in 0..len {
                let id = u64_at(b)?;
                let slot = *self.index.get(&id).ok_or_else(|| format!("index {ns} names unknown memory {id}"))?;
                if self.nodes[slot].ns as usize != ns || pos[slot] != u32::MAX {
                    return Err(format!("memory {id} is in the wrong index or twice"));
                }
                pos[slot] = p as u32;
                slots.push(slot as u32);
            }
            let h = Hnsw::decode(b, slots).ok_or_else(|| format!("index {ns} is malformed"))?;
            while ann.len() <= ns {
                ann.push(Hnsw::default());
            }
            ann[ns] = h;
        }
        if b.left() != 0 {
            return Err("the index section has trailing bytes".into());
        }
        if pos.contains(&u32::MAX) {
            return Err("a memory is missing from its namespace's index".into());
        }
        self.ann = ann;
        self.ann_pos = pos;
        self.rebuild_samples();
        Ok(())
    }

    /// Links a memory without edges to its most similar memory that has room
    /// (positive relevance; ties to the lower id); failing that, to its most
    /// similar memory whose weakest edge is weaker and whose other end keeps an
    /// edge, swapping that edge out; failing that, the same with a weakest edge
    /// that is stronger (an edge is worth less than a memory that can be found
    /// through the graph at all). Returns the overflows caused (0 or 1).
    ///
    /// It runs only when a memory would otherwise have no edge. Its candidates,
    /// past the exact-planning size: first the memory's own neighbours in the
    /// namespace's index (its nearest memories, kept by the index since it was
    /// added: no search), then, if none of them can take it, the index's 64
    /// nearest memories (a search); below that size, and as the fallback, a
    /// scan of the namespace.
    pub(crate) fn relink(&mut self, s: u64) -> u64 {
        let Some(slot) = self.slot(s) else { return 0 };
        let inv_s = self.nodes[slot].inv_norm;
        let ns = self.nodes[slot].ns;
        // (The candidates are compared with the row's decoded codes at a compact precision.)
        let mut v: Vec<f32> = Vec::new();
        crate::precision::decode(self.precision, self.words(slot), self.dim, &mut v);
        if !self.approximate_links(ns) {
            return self.relink_among(s, &v, inv_s, ns, 0..self.nodes.len()).unwrap_or(0);
        }
        // Its index neighbours: measured on the generated 100 k × 768 batch, a
        // search for each of the 6 600 memories stranded by swaps took 1.6 s of
        // the 3.4 s the batch spends applying its plans one by one.
        let h = &self.ann[ns as usize];
        let own: Vec<usize> = self
            .ann_pos
            .get(slot)
            .map_or(Vec::new(), |&pos| h.neighbours(pos).map(|n| h.slots[n as usize] as usize).collect());
        if let Some(o) = self.relink_among(s, &v, inv_s, ns, own) {
            #[cfg(test)]
            RELINKED_BY_NEIGHBOURS.with(|n| n.set(n.get() + 1));
            return o;
        }
        // A search of the index for its nearest memories (a scan of the
        // namespace for every stranded memory made a large batch quadratic).
        let h = &self.ann[ns as usize];
        let found = with_simd(
            #[inline(always)]
            || self.index_search(h, &v, inv_s, RELINK_CANDIDATES, &|_| true),
        );
        let near: Vec<usize> = found.into_iter().map(|c| h.slots[c.node as usize] as usize).collect();
        if near.is_empty() {
            return self.relink_among(s, &v, inv_s, ns, 0..self.nodes.len()).unwrap_or(0);
        }
        self.relink_among(s, &v, inv_s, ns, near).unwrap_or(0)
    }

    /// [`Graph::relink`] among the memories at `slots`: the overflows caused
    /// (0 or 1) if it linked `s` (vector `v`, inverse norm `inv_s`, namespace
    /// `ns`), `None` if no candidate could take it.
    fn relink_among(
        &mut self,
        s: u64,
        v: &[f32],
        inv_s: f32,
        ns: u32,
        slots: impl IntoIterator<Item = usize>,
    ) -> Option<u64> {
        let mut room: Option<(u64, f32)> = None;
        let mut full: Vec<(u64, f32)> = Vec::new();
        for j in slots {
            let n = &self.nodes[j];
            if n.id == s || n.ns != ns {
                continue;
            }
            let rel = by_precision!(self.precision, E => cosine(v, inv_s, self.row::<E>(j), n.inv_norm)) as f32;
            if rel <= 0.0 {
                continue;
            }
            if n.edges.len() < self.max_degree {
                if room.is_none_or(|r| stronger(&(n.id, rel), &r) == std::cmp::Ordering::Less) {
                    room = Some((n.id, rel));
                }
            } else {
                full.push((n.id, rel));
            }
        }
        if let Some((c, rel)) = room {
            self.link(s, c, rel);
            return Some(0);
        }
        full.sort_by(stronger);
        for only_stronger in [true, false] {
            for &(c, rel) in &full {
                let weakest = self.node(c).and_then(|n| n.edges.iter().copied().min_by(Edge::weaker_first));
                if let Some(w) = weakest {
                    if (!only_stronger || rel > w.relevance) && self.degree(w.to) > 1 {
                        self.unlink(c, w.to);
                        self.push_overflow(c, w);
                        self.link(s, c, rel);
                        return Some(1);
                    }
                }
            }
        }
        None
    }

    pub(crate) fn degree(&self, id: u64) -> usize {
        self.node(id).map_or(0, |n| n.edges.len())
    }

    fn refresh_centrality(&mut self, id: u64) {
        let max = self.max_degree;
        if let Some(n) = self.node_mut(id) {
            n.centrality = centrality(&n.edges, max);
        }
    }

    fn link(&mut self, a: u64, b: u64, relevance: f32) {
        for (x, y) in [(a, b), (b, a)] {
            if let Some(n) = self.node_mut(x) {
                n.edges.push(Edge { to: y, relevance });
            }
            self.refresh_centrality(x);
        }
        self.edge_count += 1;
        self.estimate_bytes += 2 * EDGE_BYTES;
    }

    fn unlink(&mut self, a: u64, b: u64) {
        let mut removed = false;
        for (x, y) in [(a, b), (b, a)] {
            if let Some(n) = self.node_mut(x) {
                let before = n.edges.len();
                n.edges.retain(|e| e.to != y);
                removed |= n.edges.len() != before;
            }
            self.refresh_centrality(x);
        }
        if removed {
            self.edge_count -= 1;
            self.estimate_bytes = self.estimate_bytes.saturating_sub(2 * EDGE_BYTES);
        }
    }

    /// Puts `e` into `owner`'s overflow layer, keeping the strongest `max_degree` entries.
    fn push_overflow(&mut self, owner: u64, e: Edge) {
        let max = self.max_degree;
        let Some(n) = self.node_mut(owner) else {
            return;
        };
        if n.overflow.iter().any(|o| o.to == e.to) {
            return;
        }
        n.overflow.push(e);
        let mut dropped = None;
        if n.overflow.len() > max {
            let (i, _) =
                n.overflow.iter().enumerate().min_by(|(_, a), (_, b)| Edge::weaker_first(a, b)).expect("non-empty");
            dropped = Some(n.overflow.swap_remove(i).to);
        }
        if dropped != Some(e.to) {
            if let Some(t) = self.node_mut(e.to) {
                t.overflow_in.push(owner);
            }
            self.estimate_bytes += EDGE_BYTES;
        }
        if let Some(d) = dropped.filter(|&d| d != e.to) {
            if let Some(t) = self.node_mut(d) {
                t.overflow_in.retain(|&o| o != owner);
            }
            self.estimate_bytes = self.estimate_bytes.saturating_sub(EDGE_BYTES);
        }
    }

    /// Removes a node with all its edges and overflow references. Returns false if absent.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let Some(&slot) = self.index.get(&id) else {
            return false;
        };
        let node = self.nodes[slot].clone();
        self.lexical.remove(id, &node.text);
        for e in &node.edges {
            self.unlink(id, e.to);
        }
        for o in &node.overflow {
            if let Some(t) = self.node_mut(o.to) {
                t.overflow_in.retain(|&x| x != id);
            }
        }
        for owner in &node.overflow_in {
            if let Some(t) = self.node_mut(*owner) {
                t.overflow.retain(|x| x.to != id);
            }
        }
        let refs = (node.overflow.len() + node.overflow_in.len()) as u64;
        self.estimate_bytes = self
            .estimate_bytes
            .saturating_sub(self.node_cost(node.text.len(), node.key(), node.metadata_bytes()) + refs * EDGE_BYTES);
        if let Some(c) = self.namespaces.counts.get_mut(node.ns as usize) {
            *c = c.saturating_sub(1);
        }
        if let Some(t) = node.expires_at() {
            self.expiry.remove(&(t, id));
        }
        if let Some(k) = node.extras.and_then(|e| e.key) {
            self.keys.remove(&(node.ns, k));
        }
        // Out of its index first (the repair reads vectors that are about to move).
        if let (Some(&d), Some(h)) = (self.ann_pos.get(slot), self.ann.get_mut(node.ns as usize)) {
            if let Some(moved) = with_simd(
                #[inline(always)]
                || with_index_rows!(self, E, rows => h.remove(rows, d)),
            ) {
                self.ann_pos[moved as usize] = d;
            }
        }
        let sampled =
            self.samples.get_mut(node.ns as usize).and_then(Option::as_mut).is_some_and(|s| s.remove(id, self.dim));
        // Swap the last row into the hole.
        let last = self.nodes.len() - 1;
        if slot != last {
            let moved_ns = self.nodes[last].ns as usize;
            if let (Some(&p), Some(h)) = (self.ann_pos.get(last), self.ann.get_mut(moved_ns)) {
                if let Some(s) = h.slots.get_mut(p as usize) {
                    *s = slot as u32;
                }
            }
            if let Some(sample) = self.samples.get_mut(moved_ns).and_then(Option::as_mut) {
                sample.moved(self.nodes[last].id, slot as u32);
            }
        }
        if slot < self.ann_pos.len() {
            self.ann_pos.swap_remove(slot);
        }
        self.nodes.swap_remove(slot);
        self.inv_norms.swap_remove(slot);
        if let Some(nav) = &mut self.nav {
            nav.swap_remove(slot);
        }
        self.columns.0.get_mut().swap_remove(slot);
        if slot != last {
            let w = self.row_words;
            let (dst, src) = self.vectors.split_at_mut(last * w);
            dst[slot * w..(slot + 1) * w].copy_from_slice(&src[..w]);
            self.index.insert(self.nodes[slot].id, slot);
        }
        self.vectors.truncate(last * self.row_words);
        self.index.remove(&id);
        if sampled && self.approximate(node.ns) {
            // The best-ranked memory outside the sample takes the free place.
            let mut sample = self.samples[node.ns as usize].take().unwrap_or_default();
            by_precision!(self.precision, E => sample.refill_from(self.sample_source::<E>(node.ns)));
            self.samples[node.ns as usize] = Some(sample);
        }
        self.sync_sample(node.ns);
        true
    }

    /// Adds a snapshot's directed edge entries (from, to, relevance) to nodes
    /// inserted without links, in each memory's own order (so every
    /// centrality is bit-identical), and sets the centralities. Checks that
    /// `from` is known and the degree bound; symmetry, duplicates and unknown
    /// targets are for [`Graph::check_invariants`].
    pub(crate) fn load_edges(&mut self, edges: &[(u64, u64, f32)]) -> Result<(), String> {
        let max = self.max_degree;
        let mut last = None;
        for &(from, to, relevance) in edges {
            let slot = self.slot_in_run(&mut last, from).ok_or_else(|| format!("edge from unknown memory {from}"))?;
            let n = &mut self.nodes[slot];
            if n.edges.len() >= max {
                return Err(format!("memory {from} has more than {max} edges"));
            }
            n.edges.push(Edge { to, relevance });
        }
        for n in &mut self.nodes {
            n.centrality = centrality(&n.edges, max);
        }
        self.edge_count = edges.len() / 2;
        self.estimate_bytes += edges.len() as u64 * EDGE_BYTES;
        Ok(())
    }

    /// Loads a snapshot's overflow entries (owner, target, relevance): both
    /// memories known, at most `max_degree` per owner, none repeated.
    pub(crate) fn load_overflow(&mut self, overflow: &[(u64, u64, f32)]) -> Result<(), String> {
        let max = self.max_degree;
        // Both ends looked up first, up to the first unknown memory (whose
        // error comes after those of the entries before it), so that every
        // list is allocated once at its size instead of growing.
        let mut slots: Vec<(usize, usize)> = Vec::with_capacity(overflow.len());
        let (mut unknown, mut last) = (None, None);
        for &(owner, to, _) in overflow {
            let (Some(o), Some(t)) = (self.slot_in_run(&mut last, owner), self.slot(to)) else {
                unknown = Some(format!("overflow entry {owner}->{to} names an unknown memory"));
                break;
            };
            slots.push((o, t));
        }
        let mut counts = vec![(0u32, 0u32); self.nodes.len()];
        for &(o, t) in &slots {
            counts[o].0 += 1;
            counts[t].1 += 1;
        }
        for (n, &(out, into)) in self.nodes.iter_mut().zip(&counts) {
            // At most `max` are kept (the check below stops at more).
            n.overflow.reserve_exact((out as usize).min(max));
            n.overflow_in.reserve_exact(into as usize);
        }
        for (&(owner, to, relevance), &(o, t)) in overflow.iter().zip(&slots) {
            let n = &mut self.nodes[o];
            if n.overflow.len() >= max || n.overflow.iter().any(|e| e.to == to) {
                return Err(format!("memory {owner} has a repeated overflow entry or more than {max}"));
            }
            n.overflow.push(Edge { to, relevance });
            self.nodes[t].overflow_in.push(owner);
        }
        if let Some(e) = unknown {
            return Err(e);
        }
        self.estimate_bytes += overflow.len() as u64 * EDGE_BYTES;
        Ok(())
    }

    /// The hubs of namespace `ns`: its `min(5, max(1, floor(0.05·n)))` most
    /// central memories (n: memories of the namespace that `visible` admits),
    /// ties to the lower id.
    pub(crate) fn hubs(&self, ns: u32, visible: impl Fn(&Node) -> bool) -> Vec<u64> {
        let mut all: Vec<(f64, u64)> =
            self.nodes.iter().filter(|x| x.ns == ns && visible(x)).map(|x| (x.centrality, x.id)).collect();
        let n = all.len();
        if n == 0 {
            return Vec::new();
        }
        let k = ((n as f64 * 0.05).floor() as usize).clamp(1, 5);
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        all.into_iter().map(|(_, id)| id).collect()
    }

    /// Checks every structural invariant; returns the first violation. Used by
    /// tests after every step (snapshot loading runs [`Graph::check_links`]:
    /// the rest it builds from checked records).
    pub(crate) fn check_invariants(&self) -> std::result::Result<(), String> {
        self.check_links()?;
        self.check_tables()?;
        self.check_indexes()
    }

    /// Edges and overflow entries: degree bound, no self, duplicate or
    /// dangling edge, symmetric relevances, no edge across namespaces, the
    /// edge count, overflow entries and their back references.
    pub(crate) fn check_links(&self) -> std::result::Result<(), String> {
        let mut edges = 0usize;
        for n in &self.nodes {
            if n.edges.len() > self.max_degree {
                return Err(format!("{} has degree {} > {}", n.id, n.edges.len(), self.max_degree));
            }
            for (i, e) in n.edges.iter().enumerate() {
                if e.to == n.id {
                    return Err(format!("{} has a self edge", n.id));
                }
                if n.edges[..i].iter().any(|x| x.to == e.to) {
                    return Err(format!("{} has a duplicate edge to {}", n.id, { e.to }));
                }
                let Some(other) = self.node(e.to) else {
                    return Err(format!("{} has a dangling edge to {}", n.id, { e.to }));
                };
                if !other.edges.iter().any(|x| x.to == n.id && x.relevance == e.relevance) {
                    return Err(format!("edge {}-{} is not symmetric", n.id, { e.to }));
                }
                if other.ns != n.ns {
                    return Err(format!("edge {}-{} crosses namespaces", n.id, { e.to }));
                }
            }
            for o in &n.overflow {
                let Some(t) = self.node(o.to) else {
                    return Err(format!("{} has a dangling overflow entry {}", n.id, { o.to }));
                };
                if !t.overflow_in.contains(&n.id) {
                    return Err(format!("overflow {}->{} has no back reference", n.id, { o.to }));
                }
            }
            for owner in &n.overflow_in {
                if !self.node(*owner).is_some_and(|t| t.overflow.iter().any(|x| x.to == n.id)) {
                    return Err(format!("{} names {} as an overflow owner wrongly", n.id, owner));
                }
            }
            edges += n.edges.len();
        }
        if edges != 2 * self.edge_count {
            return Err(format!("edge count {} but {} edge ends", self.edge_count, edges));
        }
        Ok(())
    }

    /// The tables kept beside the records: slab sizes, id index, inverse
    /// norms, centralities, the lexical index's size, namespace counts, keys
    /// and expiry times.
    fn check_tables(&self) -> std::result::Result<(), String> {
        if self.vectors.len() != self.nodes.len() * self.row_words
            || self.index.len() != self.nodes.len()
            || self.inv_norms.len() != self.nodes.len()
        {
            return Err("slab sizes disagree".into());
        }
        if let Some(nav) = &self.nav {
            if nav.len() != self.nodes.len() {
                return Err(format!("{} navigation rows for {} memories", nav.len(), self.nodes.len()));
            }
            if let Some(slot) = (0..self.nodes.len()).find(|&s| !nav.holds(s, self.words(s))) {
                return Err(format!("navigation row of {} is stale", self.nodes[slot].id));
            }
        }
        for (slot, n) in self.nodes.iter().enumerate() {
            if self.index.get(&n.id) != Some(&slot) {
                return Err(format!("index of {} is stale", n.id));
            }
            if self.inv_norms[slot].to_bits() != n.inv_norm.to_bits() {
                return Err(format!("inverse norm of {} is stale", n.id));
            }
            if (n.centrality - centrality(&n.edges, self.max_degree)).abs() > 1e-12 {
                return Err(format!("centrality of {} is stale", n.id));
            }
        }
        if self.lexical.len() != self.nodes.len() {
            return Err(format!("lexical index holds {} texts for {} memories", self.lexical.len(), self.nodes.len()));
        }
        let mut per_ns = vec![0usize; self.namespaces.names.len()];
        let (mut keyed, mut expiring) = (0usize, 0usize);
        for n in &self.nodes {
            match per_ns.get_mut(n.ns as usize) {
                Some(c) => *c += 1,
                None => return Err(format!("{} has an unknown namespace {}", n.id, n.ns)),
            }
            if let Some(k) = n.key() {
                keyed += 1;
                if self.keys.get(&(n.ns, k.clone())) != Some(&n.id) {
                    return Err(format!("key of {} is not indexed", n.id));
                }
            }
            if let Some(t) = n.expires_at() {
                expiring += 1;
                if !self.expiry.contains(&(t, n.id)) {
                    return Err(format!("expiry of {} is not indexed", n.id));
                }
            }
        }
        if per_ns != self.namespaces.counts {
            return Err("namespace counts are stale".into());
        }
        if keyed != self.keys.len() || expiring != self.expiry.len() {
            return Err("key or expiry index holds stale entries".into());
        }
        Ok(())
    }

    /// Each namespace's approximate index: positions in step with the slab,
    /// its size, its own structure.
    fn check_indexes(&self) -> std::result::Result<(), String> {
        if self.ann_pos.len() != self.nodes.len() || self.ann.iter().map(Hnsw::len).sum::<usize>() != self.nodes.len() {
            return Err("index positions disagree with the slab".into());
        }
        for ns in 0..self.ann.len().max(self.samples.len()) {
            let want = self.approximate(ns as u32).then(
                || by_precision!(self.precision, E => Sample::build(self.dim, self.sample_source::<E>(ns as u32))),
            );
            if self.sample_of(ns as u32) != want.as_ref() {
                return Err(format!("the statistics sample of namespace {ns} is stale"));
            }
        }
        for (ns, h) in self.ann.iter().enumerate() {
            h.check().map_err(|e| format!("index of namespace {ns}: {e}"))?;
            if h.len() != self.namespaces.count(ns as u32) {
                return Err(format!(
                    "index of namespace {ns} holds {} of {}",
                    h.len(),
                    self.namespaces.count(ns as u32)
                ));
            }
            for (p, &slot) in h.slots.iter().enumerate() {
                if self.ann_pos.get(slot as usize) != Some(&(p as u32)) || self.nodes[slot as usize].ns as usize != ns {
                    return Err(format!("index of namespace {ns}: position {p} is stale"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn a_record_boxes_its_extras_only_while_one_is_set() {
        assert!(Extras::default().boxed().is_none());
        let mut g = Graph::new(3, 6);
        add(&mut g, 1, &[1.0, 0.0, 0.0]);
        let slot = g.slot(1).unwrap();
        assert!(g.nodes[slot].extras.is_none(), "a plain memory has no box");
        g.set_expiry(1, Some(50));
        let meta: Map<String, Value> = serde_json::from_str(r#"{"k": 1}"#).unwrap();
        g.set_metadata(1, Some(meta.clone()), 7);
        let n = &g.nodes[slot];
        assert_eq!((n.expires_at(), n.metadata(), n.metadata_bytes(), n.key()), (Some(50), Some(&meta), 7, None));
        g.set_expiry(1, None);
        assert!(g.nodes[slot].extras.is_some(), "the metadata keeps it");
        g.set_metadata(1, None, 0);
        assert!(g.nodes[slot].extras.is_none(), "emptied: the box goes");
        assert_eq!(g.check_invariants(), Ok(()));
    }

    fn deadline() -> Deadline<'static> {
        static CLOCK: std::sync::LazyLock<ManualClock> = std::sync::LazyLock::new(ManualClock::new);
        Deadline::new(&*CLOCK, 1000)
    }

    fn add(g: &mut Graph, id: u64, v: &[f32]) -> u64 {
        let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let ns = g.namespaces.intern("");
        let ann = g.plan_ann(v, inv_norm(norm), ns, 0);
        let plan = g.plan_links(v, inv_norm(norm), ns, &[], &[], Some(&ann), &deadline(), "add").unwrap();
        let n = NewNode {
            id,
            text: format!("m{id}"),
            weight: 1.0,
            metadata: None,
            metadata_bytes: 0,
            created_at: 0,
            last_accessed: 0,
            access_count: 0,
            ns,
            key: None,
            expires_at: None,
            norm,
        };
        g.insert(n, v, &plan, Some(ann))
    }

    /// Neighbours' link lists rewritten ahead while a batch is planned give
    /// the very store a batch gives without them (the same snapshot bytes,
    /// indexes included): over several chunks, then a second batch whose
    /// upserts remove memories first (which voids the rewrites planned before
    /// the removals).
    #[test]
    #[cfg_attr(miri, ignore = "thousands of inserts; safe code the native tests cover")]
    fn link_lists_rewritten_ahead_change_no_result() {
        let dim = 64;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || (crate::xorshift(&mut x) >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        let rows: Vec<f32> = (0..1200 * dim).map(|_| next()).collect();
        let texts: Vec<String> = (0..1200).map(|i| format!("memory {i}")).collect();
        let keys: Vec<Option<String>> = (0..1200).map(|i| Some(format!("k{}", i % 900))).collect();
        let build = |ahead: bool| {
            // (A manual clock: creation times must not differ between the two.)
            let clock = std::sync::Arc::new(crate::clock::ManualClock::new());
            let config = crate::Config { embedding_dim: dim, max_nodes: 5000, ..Default::default() };
            let store = crate::Store::with_clock(config, clock).unwrap();
            store.state.write().graph.rewrites_ahead = Some(ahead);
            let opts = |from: usize, to: usize| crate::frontend::BatchOptions {
                keys: Some(keys[from..to].to_vec()),
                ..Default::default()
            };
            store.add_batch_rows(&rows[..700 * dim], &texts[..700], &opts(0, 700)).unwrap();
            // Keys k700..k899 are new, then k0..k299 replace memories of the first batch.
            store.add_batch_rows(&rows[700 * dim..], &texts[700..], &opts(700, 1200)).unwrap();
            assert_eq!(store.len(), 900);
            store.to_bytes().unwrap()
        };
        crate::ann::REWRITES_USED.with(|n| n.set(0));
        let without = build(false);
        assert_eq!(crate::ann::REWRITES_USED.with(|n| n.get()), 0);
        let with = build(true);
        let used = crate::ann::REWRITES_USED.with(|n| n.get());
        assert!(used > 20, "rewrites planned ahead were taken: {used}");
        assert!(with == without, "the same store with and without rewrites planned ahead");
    }

    #[test]
    fn dot_matches_naive_sum_closely() {
        let a: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
        assert!((f64::from(dot(&a, &b)) - naive).abs() < 1e-5);
        let big = vec![3e38f32; 4];
        let inv = (1.0 / 6e38f64) as f32;
        assert!((cosine(&big, inv, &big, inv) - 1.0).abs() < 1e-6);
    }

    /// The dot product's documented order, one lane at a time.
    fn dot_reference(a: &[f32], b: &[f32]) -> f32 {
        let full = a.len() / 32 * 32;
        let mut acc = [0f32; 32];
        for (i, (x, y)) in a[..full].iter().zip(&b[..full]).enumerate() {
            acc[i % 32] += x * y;
        }
        let lanes: Vec<f32> = (0..8).map(|i| (acc[i] + acc[i + 8]) + (acc[i + 16] + acc[i + 24])).collect();
        let mut s = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
        for (x, y) in a[full..].iter().zip(&b[full..]) {
            s += x * y;
        }
        s
    }

    /// The scans' dot products run under runtime dispatch (AVX2, AVX-512,
    /// NEON): the results are bit for bit those of the baseline build and of
    /// a scalar reference of the documented order (which the browser build's
    /// simd128 kernel follows too: the shared vectors compare its scores).
    #[test]
    fn dispatched_dot_products_are_bit_identical() {
        let mut x = 3u64;
        for len in [1usize, 7, 8, 9, 31, 32, 33, 384, 385, 768] {
            let mut v =
                || (0..len).map(|_| (crate::xorshift(&mut x) % 20_001) as f32 / 10_000.0 - 1.0).collect::<Vec<f32>>();
            let (a, b) = (v(), v());
            let plain = dot(&a, &b);
            let dispatched = with_simd(
                #[inline(always)]
                || dot(&a, &b),
            );
            assert_eq!(plain.to_bits(), dispatched.to_bits(), "length {len}");
            assert_eq!(plain.to_bits(), dot_reference(&a, &b).to_bits(), "length {len}");
            let naive: f64 = a.iter().zip(&b).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum();
            assert!((f64::from(plain) - naive).abs() < 1e-3, "length {len}");
        }
    }

    #[test]
    fn swapping_keeps_every_memory_and_counts_overflow() {
        let mut g = Graph::new(2, 2);
        // A hub at angle 0 and neighbours at growing angles.
        add(&mut g, 1, &[1.0, 0.0]);
        add(&mut g, 2, &[1.0, 0.5]);
        add(&mut g, 3, &[1.0, 0.4]);
        // 1 is full (2, 3). 4 is closer to 1 than 2 is: 2 is displaced into 1's overflow.
        let overflows = add(&mut g, 4, &[1.0, 0.1]);
        assert!(overflows >= 1);
        g.check_invariants().unwrap();
        let one = g.node(1).unwrap();
        assert!(one.edges.iter().any(|e| e.to == 4));
        assert!(one.overflow.iter().any(|e| e.to == 2), "{:?}", one.overflow);
        assert_eq!(g.len(), 4, "never delete");
        assert!(!g.node(2).unwrap().edges.is_empty(), "2 keeps its other edge");
        // Deleting cleans edges and overflow references both ways.
        assert!(g.remove(2));
        g.check_invariants().unwrap();
        assert!(g.node(1).unwrap().overflow.is_empty());
        assert!(g.remove(1));
        g.check_invariants().unwrap();
        assert!(!g.remove(1));
        assert_eq!(g.ids(), vec![3, 4]);
    }

    #[test]
    fn centrality_and_hubs() {
        let e = |to, relevance| Edge { to, relevance };
        assert_eq!(centrality(&[], 6), 0.0);
        let c = centrality(&[e(1, 0.5), e(2, 1.0), e(3, 0.75)], 6);
        assert!((c - (0.6 * 0.5 + 0.4 * 0.75)).abs() < 1e-9);
        let mut g = Graph::new(2, 6);
        for id in 1..=3 {
            add(&mut g, id, &[1.0, id as f32 * 0.01]);
        }
        // n = 3: floor(0.15) = 0 → 1 hub. All have degree 2; highest mean relevance wins.
        assert_eq!(g.hubs(0, |_| true).len(), 1);
        for id in 4..=60 {
            add(&mut g, id, &[(id as f32).cos(), (id as f32).sin()]);
        }
        assert_eq!(g.hubs(0, |_| true).len(), 3, "floor(0.05 * 60)");
        g.check_invariants().unwrap();
    }

    /// A swap that takes a memory's only edge re-links it: no memory with a
    /// positively related peer ends up without edges, whatever the order.
    /// Past the exact-planning size too, where a stranded memory is re-linked
    /// first among its own index neighbours (which the test sees happen), then
    /// among the index's nearest.
    #[test]
    fn swaps_never_strand_a_memory() {
        for approximate in [false, true] {
            let before = RELINKED_BY_NEIGHBOURS.with(std::cell::Cell::get);
            swaps_never_strand(approximate);
            let used = RELINKED_BY_NEIGHBOURS.with(std::cell::Cell::get) - before;
            assert_eq!(used > 0, approximate, "re-linked among index neighbours {used} times");
        }
    }

    fn swaps_never_strand(approximate: bool) {
        // Miri interprets every step: one seed there (22 minutes with three;
        // it still re-links among index neighbours), forty natively.
        for seed in 0..if cfg!(miri) { 1u64 } else { 40 } {
            let mut g = Graph::new(3, 2);
            if approximate {
                g.set_exact_limit(0);
            }
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            for id in 1..=60u64 {
                let mut v = [0f32; 3];
                for c in &mut v {
                    *c = (crate::xorshift(&mut x) % 1000) as f32 / 1000.0 + 0.01;
                    // all positive: every pair is related
                }
                add(&mut g, id, &v);
                g.check_invariants().unwrap();
                for n in &g.nodes {
                    assert!(!n.edges.is_empty() || g.len() == 1, "seed {seed}: memory {} stranded after {id}", n.id);
                }
            }
        }
    }

    #[test]
    fn orthogonal_or_opposite_memories_are_not_linked() {
        let mut g = Graph::new(2, 6);
        add(&mut g, 1, &[1.0, 0.0]);
        add(&mut g, 2, &[0.0, 1.0]);
        add(&mut g, 3, &[-1.0, 0.0]);
        assert_eq!(g.edge_count(), 0);
    }
}
