//! How a store keeps its vectors: as given (f32), or compact (f16 or i8).
//!
//! A stored row is a run of 32-bit words in the vector slab. At full
//! precision the words are the vector's floats. A compact row holds the
//! vector's codes packed into the words (two f16 or four i8 per word, the
//! last word's spare bytes zero), then one word with the row's scale:
//!
//! | precision | codes | scale | bytes per row |
//! |---|---|---|---|
//! | f32 | the floats | — | 4·dim |
//! | f16 | `x / m` in IEEE half precision, `m` the largest magnitude | `m` | 2·⌈dim/2⌉ + 4 |
//! | i8 | `round(127·x / m)` | `m / 127` | 4·⌈dim/4⌉ + 4 |
//!
//! Every computation reads a compact row as its codes turned back into f32
//! (exactly: every f16 and i8 value is an f32) *without* the scale — a cosine
//! does not depend on it — and the row's inverse norm is that of the decoded
//! codes. So the arithmetic is the full-precision store's, on the stored
//! vector: the same dot-product kernel order, the same bits on every target.
//! A new memory is planned (linked, indexed) from its decoded codes too, so a
//! batch gives the same store as the same adds one by one. The scale only
//! turns codes back into the embedding a read returns.
//!
//! f16 decoding is three integer operations and a multiplication, which
//! vectorise; the encoder keeps values below half precision's smallest
//! normal (2⁻¹⁴ of the row's largest magnitude) as zero, so the decoder
//! never meets a subnormal code (slow on x86) in what the store writes.

use crate::config::Precision;

/// A stored component type: f32, f16 (its bits, in a `u16`) or i8.
pub(crate) trait Elem: bytemuck::Pod + Send + Sync + 'static {
    /// Whether this is `f32` itself (then a dot product takes the tuned f32 kernel).
    const IS_F32: bool = false;
    /// Whether this is `i8` (two such rows take the integer kernel).
    const IS_I8: bool = false;
    /// The component as f32 (exact).
    fn f(self) -> f32;
}

impl Elem for f32 {
    const IS_F32: bool = true;
    #[inline(always)]
    fn f(self) -> f32 {
        self
    }
}

/// The bits of an IEEE half-precision value.
impl Elem for u16 {
    #[inline(always)]
    fn f(self) -> f32 {
        f16_to_f32(self)
    }
}

impl Elem for i8 {
    const IS_I8: bool = true;
    #[inline(always)]
    fn f(self) -> f32 {
        f32::from(self)
    }
}

/// Runs `$body` with the type alias `$E` naming the component type of
/// precision `$p` (each arm compiled for its type).
macro_rules! by_precision {
    ($p:expr, $E:ident => $body:expr) => {
        match $p {
            $crate::config::Precision::F32 => {
                #[allow(dead_code)]
                type $E = f32;
                $body
            }
            $crate::config::Precision::F16 => {
                #[allow(dead_code)]
                type $E = u16;
                $body
            }
            $crate::config::Precision::I8 => {
                #[allow(dead_code)]
                type $E = i8;
                $body
            }
        }
    };
}
pub(crate) use by_precision;

/// 32-bit words one row of `dim` components takes.
pub(crate) fn row_words(p: Precision, dim: usize) -> usize {
    match p {
        Precision::F32 => dim,
        Precision::F16 => dim.div_ceil(2) + 1,
        Precision::I8 => dim.div_ceil(4) + 1,
    }
}

/// The codes of a stored row (its first `dim` components).
#[inline(always)]
pub(crate) fn view<E: Elem>(words: &[f32], dim: usize) -> &[E] {
    let all: &[E] = bytemuck::cast_slice(words);
    // (A full-precision row is its words: no padding, no scale.)
    if E::IS_F32 {
        all
    } else {
        all.get(..dim).unwrap_or(all)
    }
}

/// A row's scale: what its decoded codes are multiplied by to give the
/// embedding (1 at full precision).
pub(crate) fn scale(p: Precision, words: &[f32]) -> f32 {
    match p {
        Precision::F32 => 1.0,
        _ => words.last().copied().unwrap_or(0.0),
    }
}

/// f16 bits to f32, exact for every finite value; the all-ones exponent
/// (infinity and NaN, which the encoder never writes) reads as a finite value
/// of magnitude 2¹⁶ to 2¹⁷. Sign-extended and shifted, the code's exponent
/// and fraction land in an f32 whose exponent is 112 too small, which one
/// exact multiplication by 2¹¹² puts right (four vector instructions per
/// eight codes, no branch or select). A subnormal code would make that
/// multiplication slow on x86 (a denormal operand); the encoder writes none.
#[inline(always)]
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let bits = ((i32::from(h as i16) << 13) as u32) & 0x8fff_e000;
    f32::from_bits(bits) * f32::from_bits(0x7780_0000)
}

/// f32 in [−1, 1] to f16 bits, rounded to nearest (ties to even); values
/// below 2⁻¹⁴ in magnitude become (signed) zero.
#[inline(always)]
pub(crate) fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let a = b & 0x7fff_ffff;
    if a < 0x3880_0000 {
        return sign;
    }
    // Drop 13 fraction bits, rounding to nearest even (a carry moves into the exponent).
    let rounded = a + 0x0fff + ((a >> 13) & 1);
    sign | ((rounded >> 13) - (112 << 10)) as u16
}

/// Appends `v` stored at precision `p` (see the module docs) to `out`.
/// `v` is finite and not all zero (checked before).
pub(crate) fn encode(p: Precision, v: &[f32], out: &mut Vec<f32>) {
    if p == Precision::F32 {
        out.extend_from_slice(v);
        return;
    }
    let m = max_abs(v);
    let start = out.len();
    out.resize(start + row_words(p, v.len()), 0.0);
    let (codes, last) = out[start..].split_at_mut(row_words(p, v.len()) - 1);
    match p {
        Precision::F16 => {
            let inv = 1.0 / m;
            for (c, &x) in bytemuck::cast_slice_mut::<f32, u16>(codes).iter_mut().zip(v) {
                *c = f32_to_f16((x * inv).clamp(-1.0, 1.0));
            }
            last[0] = m;
        }
        Precision::I8 => last[0] = code_i8(v, m, bytemuck::cast_slice_mut::<f32, i8>(codes)),
        Precision::F32 => unreachable!("handled above"),
    }
}

/// `v`'s 8-bit codes, `round(127·x / m)` with `m` its largest magnitude
/// (`v` finite, `m` positive), written to the front of `codes`; returns the scale `m / 127`.
/// Inlined, so that it vectorises in a caller that runs in
/// [`crate::graph::with_simd`].
#[inline(always)]
pub(crate) fn code_i8(v: &[f32], m: f32, codes: &mut [i8]) -> f32 {
    let s = 127.0 / m;
    for (c, &x) in codes.iter_mut().zip(v) {
        let r = level(x, s);
        // `r` is a whole number in −127..=127 (`v` is finite): added to
        // 1.5·2²³, it is the low bits of the sum's mantissa. The same value as
        // `r as i8`, whose saturating conversion ran one lane at a time.
        *c = ((r + 12_582_912.0).to_bits() as i32 - 0x4B40_0000) as i8;
    }
    m / 127.0
}

/// `x · s` rounded to the nearest whole number, clamped to −127..=127: the
/// 8-bit code of a component whose scale's reciprocal is `s` (`127 / m` for
/// `m` the row's largest magnitude). Shared by the stored codes
/// ([`code_i8`]) and the relevance sample's (`sample::code`).
#[inline(always)]
pub(crate) fn level(x: f32, s: f32) -> f32 {
    (x * s).round().clamp(-127.0, 127.0)
}

/// The largest magnitude in `v`, NaNs passed over (as a fold with
/// `f32::max` does), in eight independent lanes so that it vectorises.
#[inline(always)]
pub(crate) fn max_abs(v: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            if x.abs() > *l {
                *l = x.abs();
            }
        }
    }
    lanes.into_iter().chain(rest.iter().map(|x| x.abs())).fold(0f32, |m, a| if a > m { a } else { m })
}

/// Appends the codes of a stored row (its words, at precision `p`) as f32
/// to `out`, without the scale: what every comparison reads.
pub(crate) fn decode(p: Precision, words: &[f32], dim: usize, out: &mut Vec<f32>) {
    by_precision!(p, E => out.extend(view::<E>(words, dim).iter().map(|&c| c.f())))
}

/// The embedding a stored row stands for: its decoded codes times its scale
/// (the floats themselves at full precision).
pub(crate) fn embedding(p: Precision, words: &[f32], dim: usize) -> Vec<f32> {
    let s = scale(p, words);
    by_precision!(p, E => {
        if E::IS_F32 {
            view::<f32>(words, dim).to_vec()
        } else {
            view::<E>(words, dim).iter().map(|&c| c.f() * s).collect()
        }
    })
}

/// The dot product of two rows of any component types, in the order
/// [`crate::graph::dot`] documents (which f32 rows go through): so a compact
/// row gives the same bits as its decoded codes as f32. Two rows of 8-bit
/// codes take the integer kernel ([`dot_i8`]): the exact sum, which the
/// float kernel also gives while its partial sums stay below 2²⁴ (up to
/// about a thousand dimensions).
#[inline(always)]
pub(crate) fn dot<A: Elem, B: Elem>(a: &[A], b: &[B]) -> f32 {
    if A::IS_F32 && B::IS_F32 {
        crate::graph::dot(bytemuck::cast_slice(a), bytemuck::cast_slice(b))
    } else if A::IS_I8 && B::IS_I8 {
        dot_i8(bytemuck::cast_slice(a), bytemuck::cast_slice(b)) as f32
    } else {
        lanes(a, b)
    }
}

/// The exact dot product of two rows of 8-bit codes (at most 127² per
/// component: no overflow up to `MAX_EMBEDDING_DIM`). One integer sum, which
/// the compiler may reassociate freely: it vectorises into widening and
/// 16-bit multiply-add-pairs (`vpmaddwd`).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| i32::from(i16::from(x) * i16::from(y))).sum()
}

/// [`dot_i8`] in simd128: sixteen codes per step, widened to 16 bits and
/// multiplied and added in pairs by `i32x4.dot_i16x8_s` (which LLVM does not
/// find in the portable form); the same integer.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    use core::arch::wasm32::{
        i16x8_extend_high_i8x16, i16x8_extend_low_i8x16, i32x4_add, i32x4_dot_i16x8, i32x4_splat, i8x16, v128,
    };
    #[inline(always)]
    fn load(x: &[i8]) -> v128 {
        i8x16(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11], x[12], x[13], x[14], x[15])
    }
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = i32x4_splat(0);
    for (x, y) in ca.zip(cb) {
        let (x, y) = (load(x), load(y));
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y)));
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y)));
    }
    let rest: i32 = ra.iter().zip(rb).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
    lane_sum(acc) + rest
}

/// The sum of an `i32x4`'s four lanes: the end of the simd128 integer dot
/// products (this one and the relevance sample's).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
pub(crate) fn lane_sum(v: core::arch::wasm32::v128) -> i32 {
    use core::arch::wasm32::i32x4_extract_lane;
    i32x4_extract_lane::<0>(v) + i32x4_extract_lane::<1>(v) + i32x4_extract_lane::<2>(v) + i32x4_extract_lane::<3>(v)
}

/// The portable kernel of [`crate::graph::dot`], for any component types:
/// 32 lanes, multiply then add (never fused), the lanes summed in a fixed
/// tree, the remainder in order.
#[inline(always)]
pub(crate) fn lanes<A: Elem, B: Elem>(a: &[A], b: &[B]) -> f32 {
    let mut acc = [0f32; 32];
    let ca = a.chunks_exact(32);
    let cb = b.chunks_exact(32);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..32 {
            acc[i] += x[i].f() * y[i].f();
        }
    }
    fold(acc, ra, rb)
}

/// The end of [`lanes`]: the 32 partial sums in the fixed tree, then the
/// remainder `ra`·`rb` in order.
#[inline(always)]
fn fold<A: Elem, B: Elem>(acc: [f32; 32], ra: &[A], rb: &[B]) -> f32 {
    // A barrier between the loop and the fixed tree: seen together, LLVM's
    // SLP vectoriser maps the accumulators to shuffled half-registers inside
    // the hot loop (measured: 3x slower in the index's searches).
    let acc = std::hint::black_box(acc);
    let mut lanes = [0f32; 8];
    for (i, l) in lanes.iter_mut().enumerate() {
        *l = (acc[i] + acc[i + 8]) + (acc[i + 16] + acc[i + 24]);
    }
    let mut s = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x.f() * y.f();
    }
    s
}

/// The [`dot`] products of two f32 vectors `a` and `b` with one row, in one
/// pass over the row (each of its chunks loaded once for both): the same two
/// values, bit for bit, as two calls. (The browser build makes the two calls:
/// its f32 kernel is explicit simd128.)
#[inline(always)]
pub(crate) fn dot2<E: Elem>(a: &[f32], b: &[f32], row: &[E]) -> (f32, f32) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return (dot(a, row), dot(b, row));
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        // (What `dot` is for an f32 vector and a row of any type here: `lanes`.)
        let (mut acc_a, mut acc_b) = ([0f32; 32], [0f32; 32]);
        let (ca, cb, cr) = (a.chunks_exact(32), b.chunks_exact(32), row.chunks_exact(32));
        let (ra, rb, rr) = (ca.remainder(), cb.remainder(), cr.remainder());
        for ((x, y), z) in ca.zip(cb).zip(cr) {
            for i in 0..32 {
                let z = z[i].f();
                acc_a[i] += x[i] * z;
                acc_b[i] += y[i] * z;
            }
        }
        (fold(acc_a, ra, rr), fold(acc_b, rb, rr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two rows of 8-bit codes meet in the exact integer sum, with or
    /// without the wider instruction set, at every length (the remainder
    /// after whole blocks too); up to a thousand dimensions the float kernel
    /// gives the same value.
    #[test]
    fn the_integer_dot_product_is_exact() {
        let mut x = 0x1d0_7a11u64;
        for len in [0usize, 1, 15, 16, 17, 31, 64, 384, 385, 1000, 4099] {
            let mut code = || ((crate::xorshift(&mut x) % 255) as i32 - 127) as i8;
            let (a, b): (Vec<i8>, Vec<i8>) = (0..len).map(|_| (code(), code())).unzip();
            let want: i64 = a.iter().zip(&b).map(|(&p, &q)| i64::from(p) * i64::from(q)).sum();
            assert_eq!(i64::from(dot_i8(&a, &b)), want, "{len}");
            let wide = crate::graph::with_simd(
                #[inline(always)]
                || dot_i8(&a, &b),
            );
            assert_eq!(i64::from(wide), want, "{len}");
            if len <= 1000 {
                assert_eq!(lanes(&a, &b), want as f32, "{len}");
                assert_eq!(dot(&a, &b), want as f32, "{len}");
            }
        }
        // The extremes: 127² in every component of the longest row.
        let full = vec![-127i8; crate::config::MAX_EMBEDDING_DIM];
        assert_eq!(dot_i8(&full, &full), 127 * 127 * crate::config::MAX_EMBEDDING_DIM as i32);
    }

    /// 8-bit coding gives `round(127·x / m)` clamped, as a plain saturating
    /// cast would, with or without the wider instruction set; the largest
    /// magnitude is what a fold with `f32::max` gives.
    #[test]
    fn i8_codes_are_the_rounded_scaled_values() {
        let mut x = 0x51ed_2701u64;
        for len in [1usize, 3, 8, 9, 31, 384, 385] {
            for _ in 0..if cfg!(miri) { 4 } else { 200 } {
                let scale = 2f32.powi((crate::xorshift(&mut x) % 40) as i32 - 20);
                let mut v: Vec<f32> = (0..len)
                    .map(|_| ((crate::xorshift(&mut x) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale)
                    .collect();
                // The largest magnitude first, then values on the halfway
                // points between codes (ties round away from zero).
                if len > 2 {
                    v[0] = scale;
                    v[1] = scale * 0.5 / 127.0;
                    v[2] = -scale * 2.5 / 127.0;
                }
                let m = max_abs(&v);
                assert_eq!(m, v.iter().fold(0f32, |m, &x| m.max(x.abs())));
                let want: Vec<i8> = v.iter().map(|&x| (x * (127.0 / m)).round().clamp(-127.0, 127.0) as i8).collect();
                let mut plain = vec![0i8; len];
                code_i8(&v, m, &mut plain);
                let mut wide = vec![0i8; len];
                crate::graph::with_simd(
                    #[inline(always)]
                    || code_i8(&v, m, &mut wide),
                );
                assert_eq!(plain, want);
                assert_eq!(wide, want);
            }
        }
        assert_eq!(max_abs(&[f32::NAN, -3.0, 2.0, f32::NAN, 0.5, 1.0, 0.0, -1.0, 2.5, f32::NAN]), 3.0);
    }

    /// Every f16 code against the `half` crate: every finite value exactly
    /// (signed zeros and subnormals too); the all-ones exponent (never
    /// written) as a finite value.
    #[test]
    fn f16_decoding_matches_ieee_half_precision() {
        for h in 0..=u16::MAX {
            let got = f16_to_f32(h);
            let want = half::f16::from_bits(h).to_f32();
            if (h >> 10) & 0x1f == 0x1f {
                assert!(got.is_finite() && (65536.0..131072.0).contains(&got.abs()), "{h:#06x}");
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "{h:#06x}");
            }
        }
    }

    /// Encoding rounds as IEEE half precision does (to nearest, ties to even)
    /// for every value it keeps, and flushes the rest to a signed zero.
    #[test]
    fn f16_encoding_rounds_to_nearest_even() {
        let mut x = 0x0dd5_eed5u64;
        let mut values: Vec<f32> = vec![1.0, -1.0, 0.5, 2f32.powi(-14), -(2f32.powi(-14)), 0.999_9, 1e-3];
        // The halfway points between neighbouring half-precision values (ties).
        for h in [0x3c00u16, 0x3555, 0x0400, 0x2e66, 0x3bff] {
            let (a, b) = (half::f16::from_bits(h).to_f32(), half::f16::from_bits(h + 1).to_f32());
            values.push((a + b) / 2.0);
        }
        for _ in 0..if cfg!(miri) { 2_000 } else { 200_000 } {
            let u = (crate::xorshift(&mut x) >> 40) as f32 / (1u64 << 24) as f32;
            values.push((u * 2.0 - 1.0) * 2f32.powi(-((crate::xorshift(&mut x) % 16) as i32)));
        }
        for v in values {
            let got = f32_to_f16(v);
            if v.abs() < 2f32.powi(-14) {
                assert_eq!(got & 0x7fff, 0, "{v}");
                assert_eq!(got >> 15, u16::from(v.is_sign_negative()), "{v}");
            } else {
                assert_eq!(got, half::f16::from_f32(v).to_bits(), "{v}");
            }
        }
    }

    fn random_rows(seed: u64, dims: &[usize]) -> Vec<Vec<f32>> {
        let mut x = seed;
        let mut unit = || (crate::xorshift(&mut x) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
        dims.iter().map(|&d| (0..d).map(|_| unit() * 3.0).collect()).collect()
    }

    /// A stored row reads back as the vector within its precision, its scale
    /// and codes as documented, and the padding zero.
    #[test]
    fn rows_hold_the_vector_within_their_precision() {
        let dims: Vec<usize> = (1..=70).chain([383, 384, 385, 768]).collect();
        for v in random_rows(7, &dims) {
            let dim = v.len();
            let m = v.iter().fold(0f32, |m, x| m.max(x.abs()));
            for (p, tol) in
                [(Precision::F32, 0.0), (Precision::F16, m / 2048.0 + m * 2f32.powi(-14)), (Precision::I8, m / 254.0)]
            {
                let mut w = vec![9.0];
                encode(p, &v, &mut w);
                assert_eq!(w.len(), 1 + row_words(p, dim));
                assert_eq!(p.row_bytes(dim), 4 * row_words(p, dim));
                let words = &w[1..];
                let back = embedding(p, words, dim);
                for (a, b) in back.iter().zip(&v) {
                    assert!((a - b).abs() <= tol * 1.0001, "{p:?} dim {dim}: {a} vs {b}");
                }
                match p {
                    Precision::F32 => assert_eq!(back, v),
                    Precision::F16 => {
                        assert_eq!(scale(p, words), m);
                        let codes: &[u16] = bytemuck::cast_slice(&words[..words.len() - 1]);
                        assert!(codes[dim..].iter().all(|&c| c == 0), "padding");
                        assert!(view::<u16>(words, dim).iter().any(|&c| c & 0x7fff == 0x3c00), "the largest is ±1");
                    }
                    Precision::I8 => {
                        assert_eq!(scale(p, words), m / 127.0);
                        let codes: &[i8] = bytemuck::cast_slice(&words[..words.len() - 1]);
                        assert!(codes[dim..].iter().all(|&c| c == 0), "padding");
                        assert!(view::<i8>(words, dim).iter().any(|&c| c.abs() == 127), "the largest is ±127");
                    }
                }
            }
        }
    }

    /// A dot product with a compact row is bit for bit the dot product with
    /// its decoded codes as f32 (the order is the same), in the plain build
    /// and in the SIMD-dispatched one; so are two compact rows.
    #[test]
    fn compact_dot_products_are_those_of_the_decoded_rows() {
        let dims: Vec<usize> = (0..=70).chain([383, 384, 385, 770]).collect();
        let qs = random_rows(11, &dims);
        let rs = random_rows(12, &dims);
        for ((q, r), &dim) in qs.iter().zip(&rs).zip(&dims) {
            for p in [Precision::F16, Precision::I8] {
                let mut w = Vec::new();
                encode(p, if dim == 0 { &[] } else { r }, &mut w);
                let mut dec = Vec::new();
                decode(p, &w, dim, &mut dec);
                let want = crate::graph::dot(q, &dec);
                let want_self = crate::graph::dot(&dec, &dec);
                by_precision!(p, E => {
                    let codes = view::<E>(&w, dim);
                    assert_eq!(dot(q, codes).to_bits(), want.to_bits(), "{p:?} dim {dim}");
                    assert_eq!(dot(codes, codes).to_bits(), want_self.to_bits(), "{p:?} dim {dim}");
                    let simd = crate::graph::with_simd(|| (dot(q, codes), dot(codes, codes)));
                    assert_eq!(simd.0.to_bits(), want.to_bits(), "{p:?} dim {dim} dispatched");
                    assert_eq!(simd.1.to_bits(), want_self.to_bits(), "{p:?} dim {dim} dispatched");
                });
            }
        }
    }

    /// Two vectors' dot products with one row in one pass are bit for bit
    /// the two products alone, for rows of every precision, at every length,
    /// in the plain build and in the SIMD-dispatched one.
    #[test]
    fn two_dot_products_in_one_pass_are_the_two_alone() {
        let dims: Vec<usize> = (0..=70).chain([383, 384, 385, 770]).collect();
        let (qa, qb, rs) = (random_rows(21, &dims), random_rows(22, &dims), random_rows(23, &dims));
        for (((a, b), r), &dim) in qa.iter().zip(&qb).zip(&rs).zip(&dims) {
            for p in [Precision::F32, Precision::F16, Precision::I8] {
                let mut w = Vec::new();
                encode(p, if dim == 0 { &[] } else { r }, &mut w);
                by_precision!(p, E => {
                    let row = view::<E>(&w, dim);
                    let want = (dot(a, row).to_bits(), dot(b, row).to_bits());
                    let (x, y) = dot2(a, b, row);
                    assert_eq!((x.to_bits(), y.to_bits()), want, "{p:?} dim {dim}");
                    let (x, y) = crate::graph::with_simd(|| dot2(a, b, row));
                    assert_eq!((x.to_bits(), y.to_bits()), want, "{p:?} dim {dim} dispatched");
                });
            }
        }
    }
}
