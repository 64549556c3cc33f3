//! The score: relevance first, then bounded priors.
//!
//! For a query (an embedding, a text, or both) and every memory in scope:
//!
//! * **S** = max(0, cos(q, e)): semantic relevance, reported in [0, 1].
//! * **L** = BM25 of the query text against the memory's text (see `lexical`).
//! * **Relevance** `rel` = `w·z(cos) + (1 − w)·z(L)` with `w` = `hybrid_weight`
//!   (default [`DEFAULT_HYBRID_WEIGHT`]), where `z(x) = (x − mean)/sd` over the
//!   memories in scope for this query. With only an embedding `rel = z(cos)`;
//!   with only a text `rel = z(L)`. Per-query standardisation puts the two
//!   signals on one scale and makes every threshold downstream (context's
//!   triggers) calibrated to this store and this query, not to one embedding
//!   model's cosine range.
//! * **G**: graph activation. The [`SOURCES`] most relevant memories with
//!   `rel > 0` activate their honeycomb neighbours: a source of relevance
//!   `rel` gives a neighbour `min(1, rel/`[`G_SATURATION`]`) × edge relevance`
//!   (half that through an overflow link); G is the strongest activation a
//!   memory receives, in [0, 1]. Related memories wake up together.
//! * **R** = exp(−age/τ), age from `created_at` to `now`, τ = `decay_tau_secs`
//!   (default 30 days); **W** = the weight, entering as W/(1 + W) ∈ (0, 1).
//! * **C** = centrality, reported only: query-independent, it rewarded dense
//!   regions whatever was asked and measurably hurt.
//!
//! `P = rel + (1 − α)·(c_G·G + c_R·R + c_W·W/(1+W))`, with the weights
//! `graph_weight`, `recency_weight`, `importance_weight` of the configuration
//! (defaults [`C_G`], [`C_R`], [`C_W`]).
//!
//! The priors are bounded: together they add at most
//! `(1 − α)·(C_G + C_R + C_W)` standard deviations (0.75 at the default
//! α = 0.75), so they reorder near-ties but never lift a memory above one whose
//! relevance is clearly higher; α = 1 ranks by relevance alone. With equal
//! weights and no timestamps W and R are the same for every memory and only
//! the query-dependent G can reorder.
//!
//! The legacy form `scoring: "product"` (P = S·C·R·W) is kept for stores that
//! were tuned on it.

use crate::clock::{Deadline, DEADLINE_STRIDE};
use crate::config::Scoring;
use crate::error::Result;
use crate::graph::{cosine, cosine2, prefetch, FastMap, Graph, Node, PREFETCH_ROWS, PREFETCH_SLAB_MAX_BYTES};
use crate::precision::by_precision;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Default weight of semantic relevance in the fusion (lexical gets the rest):
/// chosen on the public LoCoMo conversations (`make quality`).
pub const DEFAULT_HYBRID_WEIGHT: f64 = 0.7;
/// Most relevant memories that activate their neighbours.
pub const SOURCES: usize = 64;
/// Relevance (in standard deviations) at which a source activates fully.
pub const G_SATURATION: f64 = 3.0;
/// Default weight of graph activation among the priors: 0, because on the
/// public data it did not help (`make quality`'s ablation: +0.1 R@10 on
/// LoCoMo at weight 2, one question fewer at acc@1 on qa_coding). G is still
/// computed and reported, and a store may weigh it (`graph_weight`).
pub const C_G: f64 = 0.0;
/// Default weight of recency among the priors.
pub const C_R: f64 = 0.5;
/// Default weight of importance among the priors.
pub const C_W: f64 = 0.5;
/// A scope holding at least this share of the memories (in fifths) is scanned
/// whole: measured on the 14 k corpus, skipping rows stopped paying below
/// about 40 % (every other row: 3.4–3.9 ms skipped, 2.6–3.0 ms whole; 30 %:
/// 1.8 ms skipped, 2.5 ms whole).
const DENSE_SCAN_FIFTHS: usize = 2;
/// Activation through an overflow ("fractal") link counts this much of a direct edge.
pub const OVERFLOW_FACTOR: f64 = 0.5;

/// The score of one memory and its parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Score {
    /// Semantic relevance, max(0, cosine) ∈ [0, 1] (0 without a query embedding).
    #[serde(rename = "S")]
    pub s: f64,
    /// Lexical relevance, BM25 ≥ 0 (0 without a query text).
    #[serde(rename = "L")]
    pub l: f64,
    /// Centrality ∈ [0, 1] (reported; not part of the default score).
    #[serde(rename = "C")]
    pub c: f64,
    /// Graph activation ∈ [0, 1].
    #[serde(rename = "G")]
    pub g: f64,
    /// Recency, exp(−age/τ) ∈ (0, 1].
    #[serde(rename = "R")]
    pub r: f64,
    /// Weight (importance).
    #[serde(rename = "W")]
    pub w: f64,
    /// Relevance: the standardised fusion of S and L, in standard deviations.
    #[serde(rename = "rel")]
    pub rel: f64,
    /// The final score.
    #[serde(rename = "P")]
    pub p: f64,
}

/// A query as the scorer sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueryParts<'a> {
    /// The embedding and its inverse norm.
    pub embedding: Option<(&'a [f32], f32)>,
    /// The query text, if it has searchable words.
    pub text: Option<&'a str>,
}

/// How to score.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scorer {
    pub alpha: f64,
    pub scoring: Scoring,
    pub tau_secs: f64,
    pub now_ms: i64,
    pub hybrid_weight: f64,
    /// The prior weights (graph, recency, importance).
    pub priors: (f64, f64, f64),
    /// Candidates asked of a namespace's approximate index (its `ef`); `None`:
    /// always scan exactly.
    pub search_ef: Option<usize>,
}

/// Default `ef` of approximate retrieval: candidates taken from each
/// namespace's index (at least `top_k`).
pub const DEFAULT_EF: usize = 96;

/// Most memories drawn to estimate the mean and spread of semantic relevance
/// when a query is served by the approximate index (see `crate::sample`).
pub const STATS_SAMPLE: usize = 256;

/// A filtered scope smaller than this fraction of its namespaces is scanned
/// exactly even when they are indexed (a graph search would walk mostly
/// memories that the filter rejects).
pub const APPROXIMATE_MIN_SHARE: f64 = 0.1;

/// Mean and standard deviation of a signal over the memories in scope.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    mean: f64,
    sd: f64,
}

impl Stats {
    #[inline(always)]
    fn z(&self, x: f64) -> f64 {
        if self.sd > 1e-12 {
            (x - self.mean) / self.sd
        } else {
            0.0
        }
    }
    fn from_sums(sum: f64, sum_sq: f64, n: usize) -> Stats {
        if n == 0 {
            return Stats::default();
        }
        let mean = sum / n as f64;
        Stats { mean, sd: (sum_sq / n as f64 - mean * mean).max(0.0).sqrt() }
    }
}

/// Interned namespaces a read covers: a read names a few, kept inline.
pub(crate) type NsList = smallvec::SmallVec<[u32; 4]>;

/// The memories a read may see: those of its namespaces that pass its filter
/// and have not expired. Everything a query computes — the statistics of
/// relevance, BM25's document frequencies, graph activation, the top k — is
/// over this set only, so a namespace's results never depend on another's
/// memories.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// Admitted slots; `None`: every memory.
    mask: Option<Vec<bool>>,
    count: usize,
    /// The namespaces it covers (interned).
    namespaces: NsList,
}

impl Scope {
    /// The memories of the namespaces `ns` (interned indices) that pass
    /// `filter` and have not expired at `now_ms`.
    pub(crate) fn new(
        graph: &Graph,
        mut ns: NsList,
        filter: Option<&crate::filter::Filter>,
        now_ms: i64,
        deadline: &Deadline,
        op: &str,
    ) -> Result<Scope> {
        // The one check every scoped call makes once it holds the lock (a wait
        // for a writer may have used up the time).
        deadline.check(op)?;
        let in_ns: usize = ns.iter().map(|&i| graph.namespaces.count(i)).sum();
        if filter.is_none() && in_ns == graph.len() && !graph.any_expired(now_ms) {
            // Every memory is in scope: the namespaces that hold any are these
            // (ascending), with no new list.
            ns.retain(|i| graph.namespaces.count(*i) > 0);
            return Ok(Scope { mask: None, count: graph.len(), namespaces: ns });
        }
        let namespaces = ns;
        let mut mask = vec![false; graph.len()];
        let mut count = 0;
        if in_ns > 0 {
            // The filter runs on the store's metadata columns (see `filter`): built
            // if missing under the exclusive lock, then evaluated under the shared one.
            let (compiled, cols) = match filter {
                Some(f) => {
                    let mut w = graph.columns.0.write();
                    let c = f.compile(&mut w, graph.nodes());
                    (Some(c), Some(parking_lot::RwLockWriteGuard::downgrade(w)))
                }
                None => (None, None),
            };
            // (Expiry and metadata are boxed apart from the record: looked at
            // only when some memory has expired, or a column cannot answer.)
            let expired = graph.any_expired(now_ms);
            for (i, node) in graph.nodes().iter().enumerate() {
                deadline.check_every(i, op)?;
                let ok = namespaces.contains(&node.ns)
                    && (!expired || node.live_at(now_ms))
                    && match (&compiled, &cols) {
                        (Some(f), Some(c)) => f.matches(c, i, &|| node.metadata()),
                        _ => true,
                    };
                mask[i] = ok;
                count += usize::from(ok);
            }
        }
        Ok(Scope { mask: Some(mask), count, namespaces })
    }

    /// Whether a read with a query embedding scans this scope exactly
    /// (`scorer` asks for no approximate search, or [`Scope::approximate`]
    /// says the indexes should not serve it).
    pub(crate) fn exact_for(&self, graph: &Graph, scorer: &Scorer) -> bool {
        scorer.search_ef.is_none() || !self.approximate(graph)
    }

    /// Whether `graph`'s approximate indexes should serve this scope: all its
    /// namespaces are indexed and it is not a small filtered part of them.
    fn approximate(&self, graph: &Graph) -> bool {
        let total: usize = self.namespaces.iter().map(|&i| graph.namespaces.count(i)).sum();
        !self.namespaces.is_empty()
            && self.namespaces.iter().all(|&i| graph.approximate(i))
            && self.count as f64 >= APPROXIMATE_MIN_SHARE * total as f64
    }

    /// Whether the memory in `slot` is in scope.
    pub(crate) fn contains(&self, slot: usize) -> bool {
        self.mask.as_ref().is_none_or(|m| m.get(slot).copied().unwrap_or(false))
    }

    /// How many memories are in scope.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The admitted slots, in storage order.
    pub(crate) fn slots(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        (0..n).filter(move |&i| self.contains(i))
    }

    /// Every `stride`-th admitted slot (the first, then every `stride`-th after it).
    fn sample(&self, n: usize, stride: usize) -> Box<dyn Iterator<Item = usize> + '_> {
        match &self.mask {
            // Everything admitted: no need to look at every slot.
            None => Box::new((0..n).step_by(stride.max(1))),
            Some(_) => Box::new(self.slots(n).step_by(stride.max(1))),
        }
    }
}

/// Where a memory's entries are in a [`Ranking`]'s arrays.
#[derive(Debug)]
enum Positions {
    /// Every memory, at its storage slot (an exact scan).
    Dense,
    /// Only the candidates of an approximate search: their slots, and slot → position.
    Sparse { slots: Vec<usize>, at: FastMap<usize, usize> },
}

/// The relevance and activation of the memories a query ranks: every memory
/// in scope (exact), or the candidates its namespaces' approximate indexes
/// and its lexical matches give (approximate). Any other memory is scored on
/// demand ([`Ranking::score`]).
#[derive(Debug)]
pub(crate) struct Ranking<'s> {
    cos: Vec<f32>,
    lex: Vec<f32>,
    rel: Vec<f32>,
    g: Vec<f32>,
    pos: Positions,
    scorer: Scorer,
    scope: &'s Scope,
    query: Option<(&'s [f32], f32)>,
    has_text: bool,
    cos_stats: Stats,
    lex_stats: Stats,
    /// The semantic share of relevance.
    w: f64,
    /// Lexical scores by memory id (approximate rankings only): the lexical
    /// index's answer as it is, read through a memory's record.
    lex_by_id: FastMap<u64, f64>,
    /// The activation sources: (slot, strength), by slot. When G cannot
    /// change the order (no graph prior, or alpha 1), `g` stays empty and G is
    /// computed for the memories actually scored, from their own links.
    sources: Vec<(usize, f64)>,
    /// The sources by memory id: (id, strength, slot), sorted by id, built
    /// the first time G is computed from a memory's own links ([`Ranking::g_at`]):
    /// links name memories by id, so a source is found without looking up
    /// each linked memory's slot.
    source_ids: std::sync::OnceLock<Vec<(u64, f64, usize)>>,
}

impl<'s> Ranking<'s> {
    /// Scores the memories of `graph` in `scope` for `query` (deadline-checked every 1 024).
    /// `scanned`: the query embedding's cosines over `scope`, if a shared
    /// pass over the rows ([`scan`]) already computed them for a read that
    /// [`Scope::exact_for`] says is exact.
    pub(crate) fn new(
        graph: &Graph,
        query: QueryParts<'s>,
        scorer: Scorer,
        scope: &'s Scope,
        scanned: Option<Cosines>,
        deadline: &Deadline,
        op: &str,
    ) -> Result<Ranking<'s>> {
        let w = match (query.embedding.is_some(), query.text.is_some()) {
            (true, true) => scorer.hybrid_weight,
            (true, false) => 1.0,
            _ => 0.0,
        };
        let mut r = Ranking {
            cos: Vec::new(),
            lex: Vec::new(),
            rel: Vec::new(),
            g: Vec::new(),
            pos: Positions::Dense,
            scorer,
            scope,
            query: query.embedding,
            has_text: query.text.is_some(),
            cos_stats: Stats::default(),
            lex_stats: Stats::default(),
            w,
            lex_by_id: FastMap::default(),
            sources: Vec::new(),
            source_ids: std::sync::OnceLock::new(),
        };
        match scorer.search_ef {
            Some(ef) if query.embedding.is_some() && !scope.exact_for(graph, &scorer) => {
                r.approximate(graph, query, ef, deadline, op)?
            }
            _ => r.exact(graph, query, scanned, deadline, op)?,
        }
        Ok(r)
    }

    /// Every memory in scope, scanned (the embedding's cosines taken from
    /// `scanned` when given).
    fn exact(
        &mut self,
        graph: &Graph,
        query: QueryParts<'_>,
        scanned: Option<Cosines>,
        deadline: &Deadline,
        op: &str,
    ) -> Result<()> {
        let scope = self.scope;
        let n = graph.len();
        let in_scope = scope.len();
        let Cosines { cos, sum, sum_sq } = match (scanned, query.embedding) {
            (Some(c), Some(_)) => c,
            (None, Some(q)) => scan(graph, scope, &[q], deadline, op)?.pop().unwrap_or_default(),
            (_, None) => Cosines::default(),
        };
        self.cos_stats = Stats::from_sums(sum, sum_sq, in_scope);
        let mut lex = zeros(if query.text.is_some() { n } else { 0 });
        if let Some(text) = query.text {
            let admits = |id: u64| graph.slot(id).is_some_and(|slot| scope.contains(slot));
            let scores = graph.lexical.scores(text, in_scope, admits, |i| deadline.check_every(i, op))?;
            let (mut s1, mut s2) = (0f64, 0f64);
            for (id, l) in scores {
                if let Some(slot) = graph.slot(id) {
                    lex[slot] = l as f32;
                    s1 += l;
                    s2 += l * l;
                }
            }
            self.lex_stats = Stats::from_sums(s1, s2, in_scope);
        }
        let mut rel = zeros(n);
        if scope.mask.is_none() && lex.is_empty() && cos.len() == n {
            // The usual case (every memory in scope, no text query) without a
            // branch per memory that depends on the memory, so the loop
            // vectorises; the same computation as below, so the same bits.
            // (What `relevance(c, None)` is, its inputs copied into the
            // closure: read through `self`, or through a capture by
            // reference, they were loaded again for every memory, which kept
            // the loop scalar.)
            let (w, stats) = (self.w, self.cos_stats);
            let chunks = rel.chunks_mut(DEADLINE_STRIDE).zip(cos.chunks(DEADLINE_STRIDE));
            crate::graph::with_simd(
                #[inline(always)]
                || {
                    let (w, stats) = (w, stats);
                    for (k, (rel_chunk, cos_chunk)) in chunks.enumerate() {
                        deadline.check_every(k * DEADLINE_STRIDE, op)?;
                        for (r, &c) in rel_chunk.iter_mut().zip(cos_chunk) {
                            *r = blend(w, stats.z(f64::from(c)), 0.0);
                        }
                    }
                    Ok::<(), crate::Error>(())
                },
            )?;
        } else {
            for (i, r) in rel.iter_mut().enumerate() {
                deadline.check_every(i, op)?;
                if !scope.contains(i) {
                    continue;
                }
                // (`cos` is empty without a query vector, `lex` without a query text.)
                *r = self.relevance(cos.get(i).map_or(0.0, |&c| f64::from(c)), lex.get(i).copied());
            }
        }
        self.sources = sources(&rel, |slot| slot);
        if self.g_ranks() {
            self.g = activation(graph, &self.sources, scope, n);
        }
        (self.cos, self.lex, self.rel) = (cos, lex, rel);
        Ok(())
    }

    /// The candidates of each namespace's approximate index (the `ef` most
    /// similar memories in scope) and the query's `ef` best lexical matches,
    /// scored exactly. The statistics of semantic relevance are estimated
    /// from a sample of the scope (at most [`STATS_SAMPLE`] memories: the
    /// namespaces' kept samples, [`kept_sample`], or failing those every
    /// n/256-th memory in scope); the lexical ones are exact (BM25 visits
    /// every match anyway).
    fn approximate(
        &mut self,
        graph: &Graph,
        query: QueryParts<'_>,
        ef: usize,
        deadline: &Deadline,
        op: &str,
    ) -> Result<()> {
        let scope = self.scope;
        let Some((q, inv_q)) = query.embedding else { return self.exact(graph, query, None, deadline, op) };
        let mut slots: Vec<usize> = Vec::with_capacity(ef + ef / 2);
        let mut cos: Vec<f32> = Vec::with_capacity(ef + ef / 2);
        crate::graph::with_simd(
            #[inline(always)]
            || {
                by_precision!(graph.precision(), E => {
                    for &ns in &scope.namespaces {
                        if let Some(h) = graph.index_of(ns) {
                            for c in graph.index_search(h, q, inv_q, ef, &|slot| scope.contains(slot as usize)) {
                                // Rescored with the engine's cosine (the index's may differ in the last bits).
                                let slot = h.slots[c.node as usize] as usize;
                                let (inv, row) = graph.row_at::<E>(slot);
                                slots.push(slot);
                                cos.push(cosine(q, inv_q, row, inv) as f32);
                            }
                        }
                    }
                })
            },
        );
        deadline.check(op)?;
        self.cos_stats = kept_sample(graph, scope, q, inv_q).unwrap_or_else(|| strided_sample(graph, scope, q, inv_q));
        let mut at: FastMap<usize, usize> = slots.iter().enumerate().map(|(p, &s)| (s, p)).collect();
        if let Some(text) = query.text {
            let admits = |id: u64| graph.slot(id).is_some_and(|slot| scope.contains(slot));
            let scores = graph.lexical.scores(text, scope.len(), admits, |i| deadline.check_every(i, op))?;
            let (mut s1, mut s2) = (0f64, 0f64);
            let mut best: Vec<(f32, usize)> = Vec::with_capacity(scores.len());
            for (&id, &l) in &scores {
                if let Some(slot) = graph.slot(id) {
                    best.push((l as f32, slot));
                    s1 += l;
                    s2 += l * l;
                }
            }
            self.lex_by_id = scores;
            self.lex_stats = Stats::from_sums(s1, s2, scope.len());
            if best.len() > ef {
                best.select_nth_unstable_by(ef - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                best.truncate(ef);
            }
            crate::graph::with_simd(
                #[inline(always)]
                || {
                    for (_, slot) in best {
                        if let std::collections::hash_map::Entry::Vacant(e) = at.entry(slot) {
                            e.insert(slots.len());
                            slots.push(slot);
                            cos.push(graph.cosine_to(q, inv_q, slot) as f32);
                        }
                    }
                },
            );
        }
        let lex: Vec<f32> =
            if self.has_text { slots.iter().map(|&s| lex_at(&self.lex_by_id, graph, s)).collect() } else { Vec::new() };
        (self.cos, self.lex) = (cos, lex);
        self.rel = (0..slots.len()).map(|p| self.relevance(f64::from(self.cos[p]), self.lex.get(p).copied())).collect();
        // Activation from the most relevant candidates. When it can change the
        // order, the neighbours they reach join the candidates (scored exactly),
        // as in a scan.
        self.sources = sources(&self.rel, |p| slots[p]);
        self.pos = Positions::Sparse { slots, at };
        if !self.g_ranks() {
            return Ok(());
        }
        let Positions::Sparse { slots, at } = &mut self.pos else { return Ok(()) };
        self.g = zeros(slots.len());
        for &(src, a) in &self.sources {
            let node = graph.node_at(src);
            let links = node.edges.iter().map(|e| (e, 1.0)).chain(node.overflow.iter().map(|e| (e, OVERFLOW_FACTOR)));
            for (e, factor) in links {
                let Some(slot) = graph.slot(e.to).filter(|&s| scope.contains(s)) else { continue };
                let p = match at.get(&slot) {
                    Some(&p) => p,
                    None => {
                        // (In the SIMD-dispatched context, as the other cosines of a read.)
                        let c = crate::graph::with_simd(
                            #[inline(always)]
                            || graph.cosine_to(q, inv_q, slot),
                        ) as f32;
                        let l = self.has_text.then(|| lex_at(&self.lex_by_id, graph, slot));
                        at.insert(slot, slots.len());
                        slots.push(slot);
                        self.cos.push(c);
                        if let Some(l) = l {
                            self.lex.push(l);
                        }
                        let zc = self.cos_stats.z(f64::from(c));
                        let zl = l.map_or(0.0, |l| self.lex_stats.z(f64::from(l)));
                        self.rel.push(blend(self.w, zc, zl));
                        self.g.push(0.0);
                        slots.len() - 1
                    }
                };
                let v = (a * f64::from(e.relevance) * factor) as f32;
                if v > self.g[p] {
                    self.g[p] = v;
                }
            }
        }
        Ok(())
    }

    /// Whether graph activation can change the order (a geometric score with
    /// a graph prior and alpha below 1): then it is computed for every ranked
    /// memory up front, otherwise only for the memories scored.
    fn g_ranks(&self) -> bool {
        matches!(self.scorer.scoring, Scoring::Geometric) && self.scorer.priors.0 > 0.0 && self.scorer.alpha < 1.0
    }

    /// G of the memory at position `p` (slot `slot`): from the array when it
    /// was computed up front, else from the memory's own links to the sources
    /// (edges are symmetric; an overflow entry is found through `overflow_in`),
    /// the same numbers a pass from the sources gives.
    fn g_at(&self, graph: &Graph, p: Option<usize>, slot: usize) -> f32 {
        if let Some(&g) = p.and_then(|p| self.g.get(p)) {
            return g;
        }
        if self.sources.is_empty() || !self.scope.contains(slot) {
            return 0.0;
        }
        let ids = self.source_ids.get_or_init(|| {
            let mut ids: Vec<(u64, f64, usize)> =
                self.sources.iter().map(|&(slot, a)| (graph.node_at(slot).id, a, slot)).collect();
            ids.sort_unstable_by_key(|s| s.0);
            ids
        });
        let source = |id: u64| ids.binary_search_by_key(&id, |s| s.0).ok().map(|i| (ids[i].1, ids[i].2));
        let node = graph.node_at(slot);
        let mut g = 0f32;
        for e in &node.edges {
            if let Some((a, _)) = source(e.to) {
                g = g.max((a * f64::from(e.relevance)) as f32);
            }
        }
        for &owner in &node.overflow_in {
            let Some((a, owner_slot)) = source(owner) else { continue };
            for o in &graph.node_at(owner_slot).overflow {
                if o.to == node.id {
                    g = g.max((a * f64::from(o.relevance) * OVERFLOW_FACTOR) as f32);
                }
            }
        }
        g
    }

    /// Fused relevance of a semantic and a lexical score.
    #[inline(always)]
    fn relevance(&self, cos: f64, lex: Option<f32>) -> f32 {
        let zc = if self.query.is_some() { self.cos_stats.z(cos) } else { 0.0 };
        let zl = lex.map_or(0.0, |l| self.lex_stats.z(f64::from(l)));
        blend(self.w, zc, zl)
    }

    /// The position of `slot` in this ranking's arrays.
    #[inline(always)]
    fn at(&self, slot: usize) -> Option<usize> {
        match &self.pos {
            Positions::Dense => (slot < self.rel.len()).then_some(slot),
            Positions::Sparse { at, .. } => at.get(&slot).copied(),
        }
    }

    /// Whether the memory in `slot` is in this query's scope.
    pub(crate) fn in_scope(&self, slot: usize) -> bool {
        self.scope.contains(slot)
    }

    /// How many memories are in scope.
    pub(crate) fn scope_len(&self) -> usize {
        self.scope.len()
    }

    /// The score of the memory in `slot`.
    pub(crate) fn score(&self, graph: &Graph, slot: usize) -> Score {
        self.score_g(graph, slot, true)
    }

    /// [`Ranking::score`], with G left at 0 unless `with_g`. When G does not
    /// rank ([`Ranking::g_ranks`] is false) its term in P is an exact zero
    /// (`(1 - 1)·…` or `0·G`), so P has the same bits either way: a ranking
    /// computes G (a walk over the memory's links) only for the memories it
    /// returns.
    fn score_g(&self, graph: &Graph, slot: usize, with_g: bool) -> Score {
        let node = graph.node_at(slot);
        let p = self.at(slot);
        let g = if with_g { f64::from(self.g_at(graph, p, slot)) } else { 0.0 };
        let (s, l, rel) = match p {
            Some(p) => (
                self.cos.get(p).map_or(0.0, |&c| f64::from(c).max(0.0)),
                self.lex.get(p).map_or(0.0, |&x| f64::from(x)),
                f64::from(self.rel[p]),
            ),
            // Not a candidate of an approximate ranking: scored now, without activation.
            None => {
                let c = self.query.map_or(0.0, |(q, inv_q)| {
                    crate::graph::with_simd(
                        #[inline(always)]
                        || graph.cosine_to(q, inv_q, slot),
                    )
                });
                let l = self.has_text.then(|| lex_at(&self.lex_by_id, graph, slot));
                let rel = if self.scope.contains(slot) { f64::from(self.relevance(c, l)) } else { 0.0 };
                (f64::from(c as f32).max(0.0), l.map_or(0.0, f64::from), rel)
            }
        };
        let r = self.recency(node);
        let w = node.weight;
        let p = match self.scorer.scoring {
            Scoring::Geometric => {
                let (cg, cr, cw) = self.scorer.priors;
                rel + (1.0 - self.scorer.alpha) * (cg * g + cr * r + cw * w / (1.0 + w))
            }
            Scoring::Product => s * node.centrality * r * w,
        };
        let p = if p.is_finite() { p } else { 0.0 };
        Score { s, l, c: node.centrality, g, r, w, rel, p }
    }

    fn recency(&self, node: &Node) -> f64 {
        let age_secs = self.scorer.now_ms.saturating_sub(node.created_at).max(0) as f64 / 1000.0;
        // The portable exp (see Cargo.toml): the same bits on every platform.
        libm::exp(-age_secs / self.scorer.tau_secs)
    }

    /// The most P could be for the memory at position `p` (slot `slot`)
    /// whatever its recency (skips `exp` for memories that cannot enter the result).
    fn upper_bound(&self, graph: &Graph, p: usize, slot: usize) -> f64 {
        match self.scorer.scoring {
            Scoring::Geometric => {
                let w = graph.node_at(slot).weight;
                let (cg, cr, cw) = self.scorer.priors;
                f64::from(self.rel[p])
                    + (1.0 - self.scorer.alpha)
                        * (cg * f64::from(self.g.get(p).copied().unwrap_or(0.0)) + cr + cw * w / (1.0 + w))
            }
            Scoring::Product => f64::INFINITY,
        }
    }

    /// The most P could be for position `p` whatever its recency and weight:
    /// reads only this query's arrays, so most memories are ruled out without
    /// touching their records.
    fn loose_bound(&self, p: usize) -> f64 {
        match self.scorer.scoring {
            Scoring::Geometric => f64::from(self.rel[p]) + self.prior_room(self.g.get(p).copied().unwrap_or(0.0)),
            Scoring::Product => f64::INFINITY,
        }
    }

    /// The most the priors add to relevance in a geometric score for a
    /// memory whose G is `g`, whatever its recency and weight:
    /// `(1 − alpha)·(cg·G + cr + cw)`.
    fn prior_room(&self, g: f32) -> f64 {
        let (cg, cr, cw) = self.scorer.priors;
        (1.0 - self.scorer.alpha) * (cg * f64::from(g) + cr + cw)
    }

    /// The `k`-th highest relevance over the positions in scope (−∞ when
    /// fewer are in scope), reading only this query's relevance array: a
    /// k-smallest heap of order-preserving integer keys, and over the whole
    /// store a block of 16 whose largest cannot enter is passed over at once.
    fn kth_relevance(&self, k: usize, count: usize, sparse: Option<&[usize]>) -> f32 {
        // Ordered as the floats are (rel is never NaN: z-scores of finite cosines).
        let key = |x: f32| {
            let b = x.to_bits();
            if b >> 31 == 1 {
                !b
            } else {
                b | 0x8000_0000
            }
        };
        let mut heap: BinaryHeap<std::cmp::Reverse<u32>> = BinaryHeap::with_capacity(k + 1);
        let offer = |heap: &mut BinaryHeap<std::cmp::Reverse<u32>>, x: f32| {
            let kx = key(x);
            if heap.len() < k {
                heap.push(std::cmp::Reverse(kx));
            } else if heap.peek().is_some_and(|m| kx > m.0) {
                heap.pop();
                heap.push(std::cmp::Reverse(kx));
            }
        };
        let rel = &self.rel[..count];
        if sparse.is_none() && self.scope.mask.is_none() {
            let mut floor = f32::NEG_INFINITY;
            for block in rel.chunks(16) {
                if block_max(block) <= floor {
                    continue;
                }
                block.iter().for_each(|&x| offer(&mut heap, x));
                if heap.len() == k {
                    floor = heap.peek().map_or(f32::NEG_INFINITY, |m| unkey(m.0));
                }
            }
        } else {
            for (p, &x) in rel.iter().enumerate() {
                if self.scope.contains(sparse.map_or(p, |s| s[p])) {
                    offer(&mut heap, x);
                }
            }
        }
        match heap.peek() {
            Some(m) if heap.len() == k => unkey(m.0),
            _ => f32::NEG_INFINITY,
        }
    }

    /// The best `k` memories by P, best first; ties to the lower id. Exact
    /// over the ranked memories (all of the scope, or the approximate candidates).
    pub(crate) fn top_k(&self, graph: &Graph, k: usize, deadline: &Deadline, op: &str) -> Result<Vec<Ranked>> {
        let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(k + 1);
        if k == 0 {
            return Ok(Vec::new());
        }
        let g_ranks = self.g_ranks();
        // Without G, [`Ranking::loose_bound`] is relevance plus a constant,
        // worked out once here.
        let slack = match self.scorer.scoring {
            Scoring::Geometric if self.g.is_empty() => Some(self.prior_room(0.0)),
            _ => None,
        };
        let (count, sparse) = match &self.pos {
            Positions::Dense => (graph.len(), None),
            Positions::Sparse { slots, .. } => (slots.len(), Some(&slots[..])),
        };
        // First the k-th best relevance, from the relevance array alone: P is
        // relevance plus priors that are never negative, so the k-th best P is
        // at least that, and a memory whose loose bound falls below it cannot
        // enter. Only the rest have their records read (at alpha 1 that is the
        // k best and their ties, instead of every memory that would have
        // entered the heap on the way: about k·ln(n/k)).
        let floor = slack.map(|s| (s, f64::from(self.kth_relevance(k, count, sparse))));
        for p in 0..count {
            deadline.check_every(p, op)?;
            if floor.is_some_and(|(s, kth)| f64::from(self.rel[p]) + s < kth) {
                continue;
            }
            let slot = sparse.map_or(p, |s| s[p]);
            if !self.scope.contains(slot) {
                continue;
            }
            if heap.len() == k {
                if let Some(worst) = heap.peek() {
                    // First a bound that reads no memory record (W/(1+W) < 1), then the tighter one.
                    let loose = match slack {
                        Some(slack) => f64::from(self.rel[p]) + slack,
                        None => self.loose_bound(p),
                    };
                    if loose < worst.p || self.upper_bound(graph, p, slot) < worst.p {
                        continue;
                    }
                }
            }
            let score = self.score_g(graph, slot, g_ranks);
            let cand = Ranked { p: score.p, id: graph.node_at(slot).id, slot, score };
            if heap.len() < k {
                heap.push(cand);
            } else if let Some(worst) = heap.peek() {
                if cand.better(worst) == Ordering::Less {
                    heap.pop();
                    heap.push(cand);
                }
            }
        }
        let mut out = heap.into_vec();
        // The hits' link lists and texts are read next (G, then the hits
        // themselves): each is asked for now, so their trips to memory overlap.
        for r in &out {
            let node = graph.node_at(r.slot);
            if let Some(e) = node.edges.first() {
                crate::graph::prefetch_item(e);
            }
            if let Some(b) = node.text.as_bytes().first() {
                crate::graph::prefetch_item(b);
            }
        }
        if !g_ranks {
            for r in &mut out {
                r.score.g = f64::from(self.g_at(graph, self.at(r.slot), r.slot));
            }
        }
        out.sort_by(Ranked::better);
        Ok(out)
    }
}

/// The float a [`Ranking::kth_relevance`] key stands for.
fn unkey(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7fff_ffff } else { !k })
}

/// One query embedding's cosines with every memory of a scope (0 outside
/// it), and their sum and sum of squares over the scope: where an exact
/// ranking starts.
#[derive(Debug, Default)]
pub(crate) struct Cosines {
    cos: Vec<f32>,
    sum: f64,
    sum_sq: f64,
}

/// Most queries one pass over the rows serves ([`scan`], in
/// `Store::retrieve_many`): each row is read from memory once and compared
/// with every query of the block while it is in the cache.
pub(crate) const SCAN_BLOCK: usize = 8;

/// The [`Cosines`] of each query (embedding, inverse norm) over `scope`, in
/// one pass over the rows (deadline-checked every 1 024 rows). Each cosine is
/// the same computation in the same order whatever the other queries: a
/// query scanned with others gets the same bits as alone.
pub(crate) fn scan(
    graph: &Graph,
    scope: &Scope,
    queries: &[(&[f32], f32)],
    deadline: &Deadline,
    op: &str,
) -> Result<Vec<Cosines>> {
    let n = graph.len();
    let mut out: Vec<Cosines> = queries.iter().map(|_| Cosines { cos: zeros(n), sum: 0.0, sum_sq: 0.0 }).collect();
    crate::graph::with_simd(
        #[inline(always)]
        || {
            by_precision!(graph.precision(), E => {
                match (queries, out.as_mut_slice()) {
                    // No query vector (a block of text-only queries): no pass over the rows.
                    ([], _) => {}
                    // One query (every single read): its sums stay in registers.
                    ([(q, inv_q)], [o]) => {
                        let (mut sum, mut sum_sq) = (0f64, 0f64);
                        each_row::<E>(graph, scope, deadline, op, #[inline(always)] |i, inv, row, admitted| {
                            let c = cosine(q, *inv_q, row, inv);
                            if admitted {
                                o.cos[i] = c as f32;
                                sum += c;
                                sum_sq += c * c;
                            }
                        })?;
                        (o.sum, o.sum_sq) = (sum, sum_sq);
                    }
                    // A block: two queries at a time share each load of the row.
                    (qs, out) => each_row::<E>(graph, scope, deadline, op, #[inline(always)] |i, inv, row, ok| {
                        block_row(qs, out, i, inv, row, ok)
                    })?,
                }
            });
            Ok::<(), crate::Error>(())
        },
    )?;
    Ok(out)
}

/// One row of a block's [`scan`]: two queries at a time share each load of
/// the row; the cosines kept if the row is `admitted`.
#[inline(always)]
fn block_row<E: crate::precision::Elem>(
    queries: &[(&[f32], f32)],
    out: &mut [Cosines],
    i: usize,
    inv: f32,
    row: &[E],
    admitted: bool,
) {
    for (pair, outs) in queries.chunks(2).zip(out.chunks_mut(2)) {
        let (c0, c1) = match *pair {
            [a, b] => {
                let (c0, c1) = cosine2(a, b, row, inv);
                (c0, Some(c1))
            }
            [(q, inv_q)] => (cosine(q, inv_q, row, inv), None),
            _ => unreachable!("chunks of two"),
        };
        if !admitted {
            continue;
        }
        for (o, c) in outs.iter_mut().zip(std::iter::once(c0).chain(c1)) {
            o.cos[i] = c as f32;
            o.sum += c;
            o.sum_sq += c * c;
        }
    }
}

/// Calls `f(slot, inverse norm, row, admitted)` for the rows a scan of
/// `scope` compares (deadline-checked every 1 024 rows). Skipping rows breaks
/// the hardware's sequential prefetch: measured on the 14 k corpus, scoring
/// every other row cost more than scoring all. So a scope holding at least
/// 40 % of the memories is scanned whole, `admitted` telling which rows are
/// in it (the others' cosines are discarded); a smaller one row by row, only
/// its own.
#[inline(always)]
fn each_row<E: crate::precision::Elem>(
    graph: &Graph,
    scope: &Scope,
    deadline: &Deadline,
    op: &str,
    mut f: impl FnMut(usize, f32, &[E], bool),
) -> Result<()> {
    let n = graph.len();
    let dense = scope.len().saturating_mul(5) >= n.saturating_mul(DENSE_SCAN_FIFTHS);
    let ahead = dense && n.saturating_mul(graph.row_words()).saturating_mul(4) <= PREFETCH_SLAB_MAX_BYTES;
    for (i, (inv, row)) in graph.rows::<E>().enumerate() {
        deadline.check_every(i, op)?;
        let admitted = scope.contains(i);
        if !dense && !admitted {
            continue;
        }
        if ahead && i + PREFETCH_ROWS < n {
            prefetch(graph.words(i + PREFETCH_ROWS));
        }
        f(i, inv, row, admitted);
    }
    Ok(())
}

/// The statistics of semantic relevance over `scope`, estimated from its
/// namespaces' kept samples ([`crate::sample`]): the first [`STATS_SAMPLE`]
/// members of their union by rank, those the scope admits. `None` when a
/// namespace has no sample or a filter admits fewer than half of them (too
/// few for a steady estimate).
fn kept_sample(graph: &Graph, scope: &Scope, q: &[f32], inv_q: f32) -> Option<Stats> {
    let samples: smallvec::SmallVec<[&crate::sample::Sample; 4]> =
        scope.namespaces.iter().map(|&ns| graph.sample_of(ns)).collect::<Option<_>>()?;
    // (sample, member) pairs in rank order: one namespace's as they are, several merged.
    let order: Vec<(usize, usize)> = match samples.as_slice() {
        [one] => (0..one.members.len()).map(|i| (0, i)).collect(),
        many => {
            let mut all: Vec<(u64, u64, usize, usize)> = many
                .iter()
                .enumerate()
                .flat_map(|(k, s)| s.members.iter().enumerate().map(move |(i, m)| (m.rank, m.id, k, i)))
                .collect();
            all.sort_unstable();
            all.truncate(STATS_SAMPLE);
            all.into_iter().map(|(_, _, k, i)| (k, i)).collect()
        }
    };
    let admitted = order.iter().filter(|&&(k, i)| scope.contains(samples[k].members[i].slot as usize)).count();
    if admitted < (STATS_SAMPLE / 2).min(scope.len()) {
        return None;
    }
    let dim = graph.dim();
    let mut coded: Vec<crate::sample::Code> = vec![0; dim];
    let (mut sum, mut sum_sq) = (0f64, 0f64);
    crate::graph::with_simd(
        #[inline(always)]
        || {
            // (Coded in here too: with the wider instruction sets the rounding is inline.)
            let scale_q = crate::sample::code(q, inv_q, &mut coded);
            for &(k, i) in &order {
                let s = samples[k];
                if scope.contains(s.members[i].slot as usize) {
                    let c = crate::sample::cosine(&coded, scale_q, s.row(i, dim), s.scales[i]);
                    sum += c;
                    sum_sq += c * c;
                }
            }
        },
    );
    Some(Stats::from_sums(sum, sum_sq, admitted))
}

/// The statistics of semantic relevance over `scope` from every `n / 256`-th
/// memory it admits, read from the store's rows (when [`kept_sample`] has none).
fn strided_sample(graph: &Graph, scope: &Scope, q: &[f32], inv_q: f32) -> Stats {
    let stride = (scope.len() / STATS_SAMPLE).max(1);
    let (mut sum, mut sum_sq, mut m) = (0f64, 0f64, 0usize);
    crate::graph::with_simd(
        #[inline(always)]
        || {
            // Rows a stride apart: each asked for a few samples ahead.
            let sample: Vec<usize> = scope.sample(graph.len(), stride).collect();
            for (i, &slot) in sample.iter().enumerate() {
                if let Some(&next) = sample.get(i + PREFETCH_ROWS) {
                    prefetch(graph.words(next));
                }
                let c = graph.cosine_to(q, inv_q, slot);
                sum += c;
                sum_sq += c * c;
                m += 1;
            }
        },
    );
    Stats::from_sums(sum, sum_sq, m)
}

/// The largest of a block of relevances (−∞ for none): a select, not
/// `f32::max`, whose NaN rule keeps the browser build from vectorising it
/// (relevance is never NaN).
#[inline(always)]
fn block_max(block: &[f32]) -> f32 {
    block.iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m })
}

/// The lexical score of the memory in `slot` in an approximate ranking's
/// `lex_by_id` (0 if the query's text does not match it).
fn lex_at(lex_by_id: &FastMap<u64, f64>, graph: &Graph, slot: usize) -> f32 {
    lex_by_id.get(&graph.node_at(slot).id).map_or(0.0, |&l| l as f32)
}

/// Relevance from its semantic and lexical z-scores, `w` the semantic share.
#[inline(always)]
fn blend(w: f64, zc: f64, zl: f64) -> f32 {
    (w * zc + (1.0 - w) * zl) as f32
}

/// `n` zeros, from a plain allocation. `vec![0.0; n]` asks for zeroed memory
/// (`calloc`), which glibc serves past its per-thread cache; the cache then
/// fills with the blocks freed and frees overflow into the general path. For
/// the short vectors of a small store that was about 500 of the ~5 400
/// instructions of a whole retrieve (callgrind, one memory). A large vector
/// costs one `memset` more, which is small next to the scan that fills it.
fn zeros(n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    v.resize(n, 0.0);
    v
}

/// The activation sources: the `SOURCES` positions of `rel` of highest
/// positive relevance (ties: lower slot) as (slot, strength `min(1, rel/3)`),
/// by slot. (A memory out of scope has relevance 0 in an exact ranking, so
/// it is never a source.)
fn sources(rel: &[f32], slot: impl Fn(usize) -> usize) -> Vec<(usize, f64)> {
    // One pass keeping the best `SOURCES` in a heap whose top is the worst
    // kept (higher relevance, then lower slot, is better: a total order, so
    // the set is the one a full sort would pick).
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    struct Kept(std::cmp::Reverse<u32>, usize, usize);
    let key = |p: usize| std::cmp::Reverse(rel[p].to_bits());
    // Sized for what can enter: a small store allocates little.
    let mut heap: BinaryHeap<Kept> = BinaryHeap::with_capacity((SOURCES + 1).min(rel.len()));
    // Once the heap is full, the worst kept relevance (0 before): a position
    // below it cannot enter, nor can a block of 16 whose best is below it.
    // (Position by position, with every position's comparison, this loop
    // was 6 % of an exact read of the corpus.)
    let mut bar = 0f32;
    for (b, block) in rel.chunks(16).enumerate() {
        let best = block_max(block);
        if !(best > 0.0 && best >= bar) {
            continue;
        }
        for (j, &r) in block.iter().enumerate() {
            if !(r > 0.0 && r >= bar) {
                continue;
            }
            let p = b * 16 + j;
            // Positive f32s order as their bits do.
            let k = Kept(key(p), slot(p), p);
            if heap.len() < SOURCES {
                heap.push(k);
            } else if heap.peek().is_some_and(|w| k < *w) {
                heap.pop();
                heap.push(k);
            }
            if heap.len() == SOURCES {
                bar = heap.peek().map_or(bar, |w| f32::from_bits(w.0 .0));
            }
        }
    }
    let mut out: Vec<(usize, f64)> =
        heap.into_iter().map(|Kept(_, s, p)| (s, (f64::from(rel[p]) / G_SATURATION).min(1.0))).collect();
    out.sort_unstable_by_key(|s| s.0);
    out
}

/// Spreading activation from the sources to their neighbours in scope, by slot.
fn activation(graph: &Graph, sources: &[(usize, f64)], scope: &Scope, n: usize) -> Vec<f32> {
    let mut g = zeros(n);
    for &(src, a) in sources {
        let node = graph.node_at(src);
        let links = node.edges.iter().map(|e| (e, 1.0)).chain(node.overflow.iter().map(|e| (e, OVERFLOW_FACTOR)));
        for (e, factor) in links {
            if let Some(slot) = graph.slot(e.to).filter(|&s| scope.contains(s)) {
                let v = (a * f64::from(e.relevance) * factor) as f32;
                if v > g[slot] {
                    g[slot] = v;
                }
            }
        }
    }
    g
}

/// A heap entry ordered so that the heap's top is the worst kept candidate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ranked {
    pub p: f64,
    pub id: u64,
    /// Where the memory is stored (valid while the ranking's lock is held).
    pub slot: usize,
    pub score: Score,
}

impl Ranked {
    /// Better: higher P, then lower id.
    pub(crate) fn better(&self, other: &Ranked) -> Ordering {
        other.p.total_cmp(&self.p).then(self.id.cmp(&other.id))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.better(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    /// Greater means worse-ranked, so a max-heap keeps its worst candidate on top.
    fn cmp(&self, other: &Self) -> Ordering {
        self.better(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sources as a full sort picks them: positive relevance, best
    /// `SOURCES` (higher relevance, then lower slot), by slot.
    fn sorted_reference(rel: &[f32], slot: impl Fn(usize) -> usize) -> Vec<(usize, f64)> {
        let mut best: Vec<usize> = (0..rel.len()).filter(|&p| rel[p] > 0.0).collect();
        best.sort_by(|&a, &b| rel[b].total_cmp(&rel[a]).then(slot(a).cmp(&slot(b))));
        best.truncate(SOURCES);
        let mut out: Vec<(usize, f64)> =
            best.into_iter().map(|p| (slot(p), (f64::from(rel[p]) / G_SATURATION).min(1.0))).collect();
        out.sort_unstable_by_key(|s| s.0);
        out
    }

    /// The kept samples estimate the statistics of every scope an approximate
    /// read can have — one namespace, several merged by rank, a filter most
    /// sample members pass — close to the exact ones; a filter that admits
    /// too few members falls back to the strided sample.
    #[test]
    #[cfg_attr(miri, ignore = "3000 adds through the index: over an hour under Miri; the sample's own tests run there")]
    fn kept_samples_estimate_the_exact_statistics() {
        use crate::{AddOptions, Config, Store};
        let dim = 32;
        let store = Store::new(Config { embedding_dim: dim, max_nodes: 10_000, exact_limit: 100, ..Config::default() })
            .unwrap();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut unit = move || (crate::xorshift(&mut x) >> 11) as f32 / (1u64 << 53) as f32 - 0.5;
        let centres: Vec<Vec<f32>> = (0..12).map(|_| (0..dim).map(|_| unit()).collect()).collect();
        for i in 0..3000usize {
            let v: Vec<f32> = centres[i % 12].iter().map(|c| c + 0.4 * unit()).collect();
            let meta = serde_json::json!({ "half": i % 2, "tenth": i % 10 });
            let namespace = Some(["a", "b", "c"][i % 3].to_string());
            store.add(&v, "m", AddOptions { namespace, metadata: Some(meta), ..AddOptions::default() }).unwrap();
        }
        // Removals refill the samples (and check them against a fresh build in debug builds).
        for id in (1..3000).step_by(5) {
            store.delete(id).unwrap();
        }
        store.check_integrity().unwrap();
        let st = store.state.read();
        let g = &st.graph;
        let ns = |names: &[&str]| names.iter().map(|n| g.namespaces.get(n).unwrap()).collect::<NsList>();
        let half = crate::filter::Filter::new(&serde_json::json!({ "half": 1 })).unwrap();
        let tenth = crate::filter::Filter::new(&serde_json::json!({ "tenth": 3 })).unwrap();
        let clock = crate::clock::ManualClock::new();
        let d = Deadline::new(&clock, 1000);
        let cases = [(ns(&["a"]), None, true), (ns(&["a", "b", "c"]), None, true), (ns(&["b"]), Some(&half), true)];
        let cases = cases.into_iter().chain([(ns(&["c"]), Some(&tenth), false)]);
        for (k, (names, filter, kept)) in cases.enumerate() {
            let scope = Scope::new(g, names, filter, 0, &d, "test").unwrap();
            let (mut worst_mean, mut worst_sd) = (0f64, 0f64);
            for _ in 0..20 {
                let q: Vec<f32> = (0..dim).map(|_| unit()).collect();
                let inv_q = crate::graph::inv_norm(q.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt());
                let cos: Vec<f64> = scope.slots(g.len()).map(|s| g.cosine_to(&q, inv_q, s)).collect();
                let exact = Stats::from_sums(cos.iter().sum(), cos.iter().map(|c| c * c).sum(), cos.len());
                let est = kept_sample(g, &scope, &q, inv_q);
                assert_eq!(est.is_some(), kept, "case {k}");
                let est = est.unwrap_or_else(|| strided_sample(g, &scope, &q, inv_q));
                worst_mean = worst_mean.max((est.mean - exact.mean).abs() / exact.sd);
                worst_sd = worst_sd.max((est.sd / exact.sd - 1.0).abs());
            }
            // A sample of 128–256 puts the mean within a fraction of a standard
            // deviation and the spread within about a fifth (the expected error
            // of one estimate is 4–9 %; this is the worst of 20 queries).
            assert!(
                worst_mean < 0.35 && worst_sd < 0.25,
                "case {k}: mean off by {worst_mean} sd, spread by {worst_sd}"
            );
        }
    }

    #[test]
    fn sources_are_the_best_by_relevance_then_slot() {
        let mut x = 7u64;
        for n in [0usize, 1, 63, 64, 65, 500, 3000] {
            for coarse in [false, true] {
                // Coarse values make many ties (decided by the lower slot).
                let rel: Vec<f32> = (0..n)
                    .map(|_| {
                        let v = (crate::xorshift(&mut x) % 2001) as f32 / 1000.0 - 1.0;
                        if coarse {
                            (v * 4.0).round() / 4.0
                        } else {
                            v
                        }
                    })
                    .collect();
                let want = sorted_reference(&rel, |p| p);
                assert_eq!(sources(&rel, |p| p), want, "n {n}");
                // Rising values: the worst kept changes at almost every position.
                let rising: Vec<f32> = rel.iter().enumerate().map(|(p, &v)| p as f32 / 64.0 + v).collect();
                assert_eq!(sources(&rising, |p| p), sorted_reference(&rising, |p| p), "n {n}, rising");
                // Positions that map to slots in another order (an approximate ranking's).
                let slots: Vec<usize> = (0..n).map(|p| (p * 7919) % n.max(1) + 3 * n).collect();
                let want = sorted_reference(&rel, |p| slots[p]);
                assert_eq!(sources(&rel, |p| slots[p]), want, "n {n}, mapped");
            }
        }
    }
}
