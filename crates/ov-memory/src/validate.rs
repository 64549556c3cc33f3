//! Input validation. Everything here runs before any state changes,
//! so a rejected call leaves the store, the graph and the breaker as they were.

use crate::error::{Error, Result};
use crate::log::{Level, LogBuf};
use serde_json::{Map, Value};

/// Smallest accepted Euclidean norm of an embedding. Below it the products
/// in the f32 dot product fall into the subnormal range and cosines lose
/// their precision (a vector of 384 × 1e-40 would score as a perfect match).
pub const MIN_NORM: f64 = 1e-10;
/// Largest accepted Euclidean norm of an embedding. Above it an f32 dot
/// product of two vectors could overflow.
pub const MAX_NORM: f64 = 1e10;

/// Whether a norm lies in [`MIN_NORM`, `MAX_NORM`], where every cosine the
/// engine computes in f32 is accurate.
pub(crate) fn norm_in_range(norm: f64) -> bool {
    (MIN_NORM..=MAX_NORM).contains(&norm)
}

/// The sum of squares of `v` in f64 and whether every value is finite. Four
/// interleaved accumulators, added as `(a0 + a1) + (a2 + a3)`: a fixed order,
/// so the same bits on every platform, and four independent chains instead of
/// one (the loop is latency-bound). The sum is finite exactly when every value
/// is: a NaN or infinity makes it NaN or infinite, and the squares of finite
/// f32 values (< 2^256 each) cannot overflow an f64 sum.
pub(crate) fn squares(v: &[f32]) -> (f64, bool) {
    // The same operations with or without the wider instruction set (the
    // four accumulators fill one AVX2 register): only the speed differs.
    let sum = crate::graph::with_simd(
        #[inline(always)]
        || squares_in(v),
    );
    (sum, sum.is_finite())
}

#[inline(always)]
fn squares_in(v: &[f32]) -> f64 {
    let mut acc = [0f64; 4];
    let chunks = v.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += f64::from(x) * f64::from(x);
        }
    }
    for (a, &x) in acc.iter_mut().zip(rest) {
        *a += f64::from(x) * f64::from(x);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Checks an embedding: exact length, finite values, a Euclidean norm within
/// [`MIN_NORM`, `MAX_NORM`]. Values outside [-1, 1] are accepted with a
/// WARNING. Returns the norm.
pub(crate) fn embedding(v: &[f32], dim: usize, field: &str, logs: &mut LogBuf) -> Result<f64> {
    if v.len() != dim {
        return Err(Error::invalid(field, format!("{field} must have {dim} values, got {}", v.len()))
            .with("expected", dim)
            .with("got", v.len()));
    }
    let (sum_sq, finite) = squares(v);
    if !finite {
        let i = v.iter().position(|x| !x.is_finite()).unwrap_or(0);
        return Err(Error::invalid(field, format!("{field} holds a non-finite value at index {i}")).with("index", i));
    }
    let norm = sum_sq.sqrt();
    if norm == 0.0 {
        return Err(Error::invalid(field, format!("{field} has zero norm")));
    }
    if !norm_in_range(norm) {
        return Err(Error::invalid(
            field,
            format!("{field} has norm {norm:e}, outside the accepted range [{MIN_NORM:e}, {MAX_NORM:e}]"),
        )
        .with("norm", norm)
        .with("min", MIN_NORM)
        .with("max", MAX_NORM));
    }
    // Counted only when the warning would be written.
    let outside = || v.iter().filter(|x| x.abs() > 1.0).count();
    if logs.enabled(Level::Warning) && outside() > 0 {
        logs.push(
            Level::Warning,
            "embedding values outside [-1, 1] accepted",
            serde_json::json!({ "field": field, "count": outside() }),
        );
    }
    Ok(norm)
}

/// Checks a memory's text: not empty, not whitespace only, at most `max_chars` characters.
pub(crate) fn text(t: &str, max_chars: usize) -> Result<()> {
    if t.trim().is_empty() {
        return Err(Error::invalid("text", "text must not be empty or whitespace only"));
    }
    // A char is at least one byte: short texts need no count.
    if t.len() > max_chars {
        let n = t.chars().count();
        if n > max_chars {
            return Err(Error::invalid("text", format!("text has {n} characters, the limit is {max_chars}"))
                .with("limit", max_chars)
                .with("got", n));
        }
    }
    Ok(())
}

/// Checks an importance weight: finite and > 0.
pub(crate) fn weight(w: f64) -> Result<()> {
    if !(w.is_finite() && w > 0.0) {
        return Err(Error::invalid("weight", "weight must be finite and > 0")
            .with("got", if w.is_finite() { Value::from(w) } else { Value::from(w.to_string()) }));
    }
    Ok(())
}

/// Checks metadata: absent/null, or a JSON object of at most `max_bytes` bytes (compact
/// JSON). Returns the object and its size.
pub(crate) fn metadata(m: Option<Value>, max_bytes: usize) -> Result<(Option<Map<String, Value>>, usize)> {
    match m {
        None | Some(Value::Null) => Ok((None, 0)),
        Some(Value::Object(map)) => {
            let size = serde_json::to_string(&map).map(|s| s.len()).unwrap_or(usize::MAX);
            if size > max_bytes {
                return Err(Error::invalid("metadata", format!("metadata is {size} bytes, the limit is {max_bytes}"))
                    .with("limit", max_bytes)
                    .with("got", size));
            }
            Ok((Some(map), size))
        }
        Some(other) => Err(Error::invalid("metadata", "metadata must be a JSON object").with("got", json_kind(&other))),
    }
}

/// Parses metadata given as JSON text (front-ends pass it this way).
/// Duplicate keys are rejected.
pub fn parse_metadata_json(text: &str) -> Result<Value> {
    crate::json::parse(text, "metadata")
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks alpha: in [0, 1].
pub(crate) fn alpha(a: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&a) {
        return Err(Error::invalid("alpha", "alpha must be in [0, 1]")
            .with("got", if a.is_finite() { Value::from(a) } else { Value::from(a.to_string()) }));
    }
    Ok(())
}

/// Checks a per-call timeout: at least 1 ms.
pub(crate) fn timeout(ms: u64) -> Result<()> {
    if ms == 0 {
        return Err(Error::invalid("timeout_ms", "timeout_ms must be at least 1"));
    }
    Ok(())
}

/// Checks an as-of time: Unix ms, at least 0.
pub(crate) fn now(ms: Option<i64>) -> Result<()> {
    match ms {
        Some(v) if v < 0 => Err(Error::invalid("now", "now must be Unix milliseconds >= 0").with("got", v)),
        _ => Ok(()),
    }
}

/// How far past the store's clock a caller-given `created_at` may lie, in ms.
pub const MAX_FUTURE_MS: i64 = 60_000;

/// Checks a caller-given creation time: Unix ms, at least 0 and at most a minute
/// past the store's clock (`clock_ms`). Returns the time to store.
pub(crate) fn created_at(ms: Option<i64>, clock_ms: i64) -> Result<i64> {
    match ms {
        None => Ok(clock_ms),
        Some(v) if v < 0 => {
            Err(Error::invalid("created_at", "created_at must be Unix milliseconds >= 0").with("got", v))
        }
        Some(v) if v > clock_ms.saturating_add(MAX_FUTURE_MS) => {
            Err(Error::invalid("created_at", "created_at lies more than a minute in the future of the store's clock")
                .with("got", v)
                .with("clock", clock_ms))
        }
        Some(v) => Ok(v),
    }
}

/// Checks a value that must lie in [0, 1].
pub(crate) fn unit_interval(v: f64, field: &str) -> Result<()> {
    if !(0.0..=1.0).contains(&v) {
        return Err(Error::invalid(field, format!("{field} must be in [0, 1]"))
            .with("got", if v.is_finite() { Value::from(v) } else { Value::from(v.to_string()) }));
    }
    Ok(())
}

/// Checks a query text: at most `max_chars` characters (it may be empty of
/// searchable words; then it simply adds no lexical relevance).
pub(crate) fn query_text(t: &str, max_chars: usize) -> Result<()> {
    if t.len() > max_chars && t.chars().count() > max_chars {
        return Err(Error::invalid("text", format!("the query text is longer than {max_chars} characters"))
            .with("limit", max_chars));
    }
    Ok(())
}

/// Longest namespace, in bytes.
pub const MAX_NAMESPACE_BYTES: usize = 256;
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Most namespaces one read may name.
pub const MAX_NAMESPACES_PER_QUERY: usize = 1024;

/// Checks a namespace: any UTF-8 string (`""` is the default namespace) of at
/// most [`MAX_NAMESPACE_BYTES`] bytes without control characters.
pub(crate) fn namespace(ns: &str) -> Result<()> {
    if ns.len() > MAX_NAMESPACE_BYTES {
        return Err(Error::invalid("namespace", format!("a namespace has at most {MAX_NAMESPACE_BYTES} bytes"))
            .with("limit", MAX_NAMESPACE_BYTES)
            .with("got", ns.len()));
    }
    if ns.chars().any(char::is_control) {
        return Err(Error::invalid("namespace", "a namespace must not contain control characters"));
    }
    Ok(())
}

/// Checks a key: 1 to [`MAX_KEY_BYTES`] bytes.
pub(crate) fn key(k: &str) -> Result<()> {
    if k.is_empty() {
        return Err(Error::invalid("key", "a key must not be empty"));
    }
    if k.len() > MAX_KEY_BYTES {
        return Err(Error::invalid("key", format!("a key has at most {MAX_KEY_BYTES} bytes"))
            .with("limit", MAX_KEY_BYTES)
            .with("got", k.len()));
    }
    Ok(())
}

/// Resolves `expires_at` / `ttl_ms` (at most one) to an expiry time, which
/// must lie after the clock's `now_ms`.
pub(crate) fn expiry(expires_at: Option<i64>, ttl_ms: Option<u64>, now_ms: i64) -> Result<Option<i64>> {
    let t = match (expires_at, ttl_ms) {
        (Some(_), Some(_)) => return Err(Error::invalid("expires_at", "give expires_at or ttl_ms, not both")),
        (Some(t), None) => t,
        (None, Some(0)) => return Err(Error::invalid("ttl_ms", "ttl_ms must be at least 1")),
        (None, Some(ttl)) => now_ms.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
        (None, None) => return Ok(None),
    };
    if t <= now_ms {
        return Err(Error::invalid("expires_at", "expires_at must lie in the future of the store's clock")
            .with("expires_at", t)
            .with("now", now_ms));
    }
    Ok(Some(t))
}

#[cfg(test)]
mod tests {
    use super::squares;

    #[test]
    fn squares_agree_with_a_plain_sum() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in [0usize, 1, 3, 4, 5, 7, 384, 385, 768] {
            let v: Vec<f32> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    ((seed >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 3.0
                })
                .collect();
            let (sum, finite) = squares(&v);
            let plain: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            assert!((sum - plain).abs() <= 1e-12 * plain.max(1.0), "len {len}: {sum} vs {plain}");
            assert!(finite);
        }
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 2, 5] {
                let mut v = vec![0.5f32; 6];
                v[at] = bad;
                assert!(!squares(&v).1, "{bad} at {at}");
                v[at] = f32::MAX;
                assert!(squares(&v).1, "the largest finite value squared stays finite");
            }
        }
    }
}
