//! The relevance-statistics sample of a namespace served by its approximate
//! index.
//!
//! A query's relevance is a z-score: the cosine less its mean over the
//! memories in scope, over their standard deviation. An exact scan has every
//! cosine; a read through the approximate index has only its candidates, so
//! it estimates the mean and spread from a sample. Reading 256 scattered rows
//! of a large store at query time was a fifth to a quarter of an approximate
//! read (each row a fresh trip to main memory), so the sample is kept ready:
//!
//! - **Who**: the namespace's [`SIZE`] memories whose ids hash lowest
//!   ([`rank`], a fixed 64-bit mix) — a bottom-k sample, uniform over the
//!   namespace, that depends only on which memories it holds (not on their
//!   order, the platform or a snapshot round trip). The union of several
//!   namespaces' samples holds the bottom `SIZE` of their union, so a read of
//!   several namespaces merges them by rank.
//! - **What**: each member's vector, normalised, in 8-bit codes (held in
//!   16-bit lanes, which the multiply-add-pairs instructions read) with one
//!   scale per row, one contiguous block (256 × 384 dimensions is 192 KiB,
//!   inside the L2 cache). The cosine of a query (coded the same way) is an
//!   integer dot product times the two scales: exact integer arithmetic, so
//!   the same bits everywhere.
//!   On the 14 k real corpus coding moves a cosine by 0.0004 on average
//!   and 0.0023 at most (cosines spread by 0.08 across memories); a sample
//!   of 256 estimates the spread to about 4 % — the sample, not the coding,
//!   sets the accuracy.
//! - **When**: a namespace has a sample while it is past the exact limit
//!   (only then is it read approximately). Adding a memory that ranks below
//!   the sample's highest takes that one's place; removing a member takes the
//!   best-ranked memory outside the sample (one pass over the namespace, which
//!   happens for about `SIZE / n` of removals). A sample takes at most
//!   256 × (2 · dimensions + 28) bytes: 1.3 % of the vectors of a namespace
//!   just past the default exact limit of 10 000, less as it grows.
//!
//! A read whose filter admits fewer than half of the sample's members uses
//! every n/256-th memory in scope instead, read from the stored vectors.

use crate::precision::Elem;

/// Members of a namespace's sample (at most).
pub(crate) const SIZE: usize = crate::scoring::STATS_SAMPLE;

/// The rank of a memory id in samples (lower is in first): splitmix64's mix.
#[inline]
pub(crate) fn rank(id: u64) -> u64 {
    crate::ann::mix(id)
}

/// A coded component: an 8-bit value (−127..=127) held in 16 bits, the
/// width the multiply-add-pairs instructions read (widening 8-bit codes
/// in the loop cost more than the products).
pub(crate) type Code = i16;

/// `row · inv` (the normalised vector) in 8-bit codes, written to `out`, and
/// the scale that turns a code back into a component. A zero or non-finite
/// row codes as zeros with scale 0 (cosine 0).
#[inline(always)]
pub(crate) fn code<E: Elem>(row: &[E], inv: f32, out: &mut [Code]) -> f32 {
    let m = row.iter().fold(0f32, |m, &x| m.max((x.f() * inv).abs()));
    if !(m.is_finite() && m > 0.0) {
        out.fill(0);
        return 0.0;
    }
    let s = 127.0 / m;
    for (o, &x) in out.iter_mut().zip(row) {
        *o = crate::precision::level(x.f() * inv, s) as Code;
    }
    m / 127.0
}

/// The cosine two coded rows stand for, clamped to [-1, 1].
#[inline(always)]
pub(crate) fn cosine(a: &[Code], scale_a: f32, b: &[Code], scale_b: f32) -> f64 {
    (f64::from(dot(a, b)) * f64::from(scale_a) * f64::from(scale_b)).clamp(-1.0, 1.0)
}

/// The integer dot product of two coded rows: one integer sum, which the
/// compiler may reassociate freely (integers, so no bit changes) and
/// vectorises into 16-bit multiply-add-pairs (`vpmaddwd` with AVX2: sixteen
/// products per instruction). At most 127² per dimension: no overflow below
/// 133 000 dimensions, far past the largest accepted.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn dot(a: &[Code], b: &[Code]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum()
}

/// [`dot`] in simd128: eight codes per `i32x4.dot_i16x8_s`, two
/// accumulators; the same integer. LLVM's form of the portable loop
/// multiplies four 32-bit lanes at a time: against it, 0.95–0.99× the time
/// per approximate read of the 14 k corpus (two builds alternating in Node).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn dot(a: &[Code], b: &[Code]) -> i32 {
    use core::arch::wasm32::{i16x8, i32x4_add, i32x4_dot_i16x8, i32x4_splat, v128};
    #[inline(always)]
    fn load(x: &[Code]) -> v128 {
        i16x8(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7])
    }
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let (mut s0, mut s1) = (i32x4_splat(0), i32x4_splat(0));
    for (x, y) in ca.zip(cb) {
        s0 = i32x4_add(s0, i32x4_dot_i16x8(load(&x[..8]), load(&y[..8])));
        s1 = i32x4_add(s1, i32x4_dot_i16x8(load(&x[8..]), load(&y[8..])));
    }
    let s = i32x4_add(s0, s1);
    let rest: i32 = ra.iter().zip(rb).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
    crate::precision::lane_sum(s) + rest
}

/// One member: its rank, id and current storage slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    pub rank: u64,
    pub id: u64,
    pub slot: u32,
}

/// A namespace's sample: members by rank (then id), their codes in the same order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sample {
    pub members: Vec<Member>,
    pub scales: Vec<f32>,
    pub codes: Vec<Code>,
}

impl Sample {
    /// The sample of the memories `all` gives (id, slot, row, inverse norm).
    pub(crate) fn build<'r, E: Elem>(dim: usize, all: impl Iterator<Item = (u64, u32, &'r [E], f32)>) -> Sample {
        let mut picked: Vec<(Member, &'r [E], f32)> =
            all.map(|(id, slot, row, inv)| (Member { rank: rank(id), id, slot }, row, inv)).collect();
        let key = |m: &Member| (m.rank, m.id);
        if picked.len() > SIZE {
            picked.select_nth_unstable_by_key(SIZE - 1, |p| key(&p.0));
            picked.truncate(SIZE);
        }
        picked.sort_unstable_by_key(|p| key(&p.0));
        let mut s = Sample {
            members: Vec::with_capacity(picked.len()),
            scales: Vec::with_capacity(picked.len()),
            codes: vec![0; picked.len() * dim],
        };
        for (i, (m, row, inv)) in picked.into_iter().enumerate() {
            s.members.push(m);
            s.scales.push(code(row, inv, &mut s.codes[i * dim..(i + 1) * dim]));
        }
        s
    }

    /// Takes in a new memory if it ranks among the first [`SIZE`] (pushing
    /// the last member out when full).
    pub(crate) fn offer<E: Elem>(&mut self, id: u64, slot: u32, row: &[E], inv: f32) {
        let dim = row.len();
        let m = Member { rank: rank(id), id, slot };
        let at = self.members.partition_point(|x| (x.rank, x.id) < (m.rank, m.id));
        if at >= SIZE {
            return;
        }
        if self.members.len() == SIZE {
            self.members.pop();
            self.scales.pop();
            self.codes.truncate((SIZE - 1) * dim);
        }
        let mut coded: Vec<Code> = vec![0; dim];
        let scale = code(row, inv, &mut coded);
        self.members.insert(at, m);
        self.scales.insert(at, scale);
        self.codes.splice(at * dim..at * dim, coded);
    }

    /// Drops memory `id` if it is a member; true if it was (the caller then
    /// offers the best-ranked memory outside, [`Sample::refill_from`]).
    pub(crate) fn remove(&mut self, id: u64, dim: usize) -> bool {
        let Some(at) = self.position(id) else { return false };
        self.members.remove(at);
        self.scales.remove(at);
        self.codes.drain(at * dim..(at + 1) * dim);
        true
    }

    /// After a member left: the best-ranked of `all` (the namespace's
    /// memories) that is not a member joins, if any.
    pub(crate) fn refill_from<'r, E: Elem>(&mut self, all: impl Iterator<Item = (u64, u32, &'r [E], f32)>) {
        let last = self.members.last().map(|m| (m.rank, m.id));
        let mut best: Option<(u64, u64, u32, &'r [E], f32)> = None;
        for (id, slot, row, inv) in all {
            let k = (rank(id), id);
            // Members rank at or below the last one; everyone else above it.
            if last.is_some_and(|l| k <= l) {
                continue;
            }
            if best.is_none_or(|b| k < (b.0, b.1)) {
                best = Some((k.0, id, slot, row, inv));
            }
        }
        if let Some((_, id, slot, row, inv)) = best {
            self.offer(id, slot, row, inv);
        }
    }

    /// The member `id` now lives in `slot` (a removal moved it).
    pub(crate) fn moved(&mut self, id: u64, slot: u32) {
        if let Some(at) = self.position(id) {
            self.members[at].slot = slot;
        }
    }

    /// Where member `id` is, if it is one.
    fn position(&self, id: u64) -> Option<usize> {
        self.members.binary_search_by_key(&(rank(id), id), |x| (x.rank, x.id)).ok()
    }

    /// The codes of member `i`.
    #[inline(always)]
    pub(crate) fn row(&self, i: usize, dim: usize) -> &[Code] {
        &self.codes[i * dim..(i + 1) * dim]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_stand_for_the_cosine_closely() {
        let mut x = 0x1234_5678u64;
        let mut unit = || (crate::xorshift(&mut x) >> 11) as f32 / (1u64 << 53) as f32 - 0.5;
        for dim in [1usize, 3, 384, 768] {
            for _ in 0..if cfg!(miri) { 5 } else { 50 } {
                let a: Vec<f32> = (0..dim).map(|_| unit()).collect();
                let b: Vec<f32> = (0..dim).map(|_| unit() + 0.3 * a[0]).collect();
                let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
                let (ia, ib) = ((1.0 / norm(&a)) as f32, (1.0 / norm(&b)) as f32);
                let exact = crate::graph::cosine(&a, ia, &b, ib);
                let (mut ca, mut cb): (Vec<Code>, Vec<Code>) = (vec![0; dim], vec![0; dim]);
                let (sa, sb) = (code(&a, ia, &mut ca), code(&b, ib, &mut cb));
                let approx = cosine(&ca, sa, &cb, sb);
                assert!((approx - exact).abs() < 0.02, "dim {dim}: {approx} vs {exact}");
            }
        }
        // A zero row codes as zeros with scale 0.
        let mut c: Vec<Code> = vec![1; 4];
        assert_eq!(code(&[0.0; 4], f32::INFINITY, &mut c), 0.0);
        assert_eq!(c, vec![0; 4]);
    }

    /// The vectorised dot (as a read runs it, inside the SIMD-dispatched code)
    /// against a 64-bit sum, at every length around the vector widths and at
    /// the largest rows: no lane may overflow or drop a remainder.
    #[test]
    fn the_dot_is_exact_up_to_the_largest_rows() {
        let reference =
            |a: &[Code], b: &[Code]| -> i64 { a.iter().zip(b).map(|(&x, &y)| i64::from(x) * i64::from(y)).sum() };
        for n in (0usize..=70).chain([383, 384, 385, 770, 1536]) {
            let a: Vec<Code> = (0..n).map(|i| ((i * 37 % 255) as i32 - 127) as Code).collect();
            let b: Vec<Code> = (0..n).map(|i| ((i * 91 % 255) as i32 - 127) as Code).collect();
            let got = crate::graph::with_simd(|| dot(&a, &b));
            assert_eq!(i64::from(got), reference(&a, &b), "n {n}");
        }
        // The extremes: every product 127² (the largest sum a row can make), of both signs.
        let full: Vec<Code> = vec![-127; crate::config::MAX_EMBEDDING_DIM];
        let neg: Vec<Code> = vec![127; crate::config::MAX_EMBEDDING_DIM];
        assert_eq!(i64::from(crate::graph::with_simd(|| dot(&full, &full))), reference(&full, &full));
        assert_eq!(i64::from(crate::graph::with_simd(|| dot(&full, &neg))), reference(&full, &neg));
    }

    #[test]
    fn offers_and_removals_keep_the_bottom_ranks() {
        let dim = 2;
        let rows: Vec<[f32; 2]> = (0..1500).map(|i| [i as f32 + 1.0, 1.0]).collect();
        let mut live: Vec<u64> = Vec::new();
        let mut s = Sample::default();
        let mut x = 99u64;
        // Under Miri fewer steps, still enough for more live memories than the sample holds.
        let steps = if cfg!(miri) { 1200 } else { 4000u64 };
        for step in 0..steps {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if live.len() < 50 || (x >> 60) < 10 {
                let id = step + 1;
                live.push(id);
                let r = &rows[(id % 1500) as usize];
                s.offer(id, 0, r, 1.0);
            } else {
                let id = live.swap_remove((x >> 33) as usize % live.len());
                if s.remove(id, dim) {
                    s.refill_from(live.iter().map(|&i| (i, 0, &rows[(i % 1500) as usize][..], 1.0)));
                }
            }
            if step % 97 == 0 || step == steps - 1 {
                let want = Sample::build(dim, live.iter().map(|&i| (i, 0, &rows[(i % 1500) as usize][..], 1.0)));
                assert_eq!(s, want, "step {step}");
                assert_eq!(s.members.len(), live.len().min(SIZE));
            }
        }
        assert!(live.len() > SIZE, "{} live: the sample never had to choose", live.len());
    }
}
