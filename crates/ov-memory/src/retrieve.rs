//! Scoring and ranked retrieval (SPEC §3).
//!
//! For a query q and a memory m:
//!
//! * S = max(0, cos(q, e)) — semantic resonance
//! * C = centrality (SPEC §2)
//! * R = exp(−age_seconds / τ), age from `created_at`
//! * W = the memory's weight
//! * geometric (default): `P = S^α · (max(0.1, C) · max(0.1, R) · W)^(1−α)`
//! * product: `P = S · C · R · W`
//!
//! P is never NaN: every factor is finite and non-negative, and `0^0` is taken as 1.
//!
//! Retrieval is exact: a linear scan keeps the best `top_k` in a bounded heap,
//! ordered by P descending and then by lower id, so results are deterministic.
//! The scan checks its deadline every 1 024 memories. There is no approximate
//! mode; the scan is contiguous and SIMD-friendly (see `make bench`).

use crate::clock::Deadline;
use crate::config::Scoring;
use crate::error::{Error, Result};
use crate::graph::{cosine, Node};
use crate::log::Level;
use crate::metrics::Op;
use crate::store::{State, Store};
use crate::validate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The score of one memory and its factors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    /// Semantic resonance, max(0, cosine) ∈ [0, 1].
    #[serde(rename = "S")]
    pub s: f64,
    /// Centrality ∈ [0, 1].
    #[serde(rename = "C")]
    pub c: f64,
    /// Recency, exp(−age/τ) ∈ (0, 1].
    #[serde(rename = "R")]
    pub r: f64,
    /// Weight (importance).
    #[serde(rename = "W")]
    pub w: f64,
    /// The combined score.
    #[serde(rename = "P")]
    pub p: f64,
}

/// How to score: alpha, form, τ and the current time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scorer {
    pub alpha: f64,
    pub scoring: Scoring,
    pub tau_secs: f64,
    pub now_ms: i64,
}

impl Scorer {
    pub(crate) fn score(&self, cos: f64, node: &Node) -> Score {
        let s = cos.max(0.0);
        let c = node.centrality;
        let age_secs = (self.now_ms.saturating_sub(node.created_at)).max(0) as f64 / 1000.0;
        let r = (-age_secs / self.tau_secs).exp();
        let w = node.weight;
        let p = match self.scoring {
            Scoring::Geometric => {
                let rest = c.max(0.1) * r.max(0.1) * w;
                // Exact at the ends: powf(x, 1.0) need not return x on every platform (Miri).
                let sem = if self.alpha == 0.0 {
                    1.0
                } else if self.alpha == 1.0 {
                    s
                } else {
                    s.powf(self.alpha)
                };
                let ctx = if self.alpha == 1.0 { 1.0 } else { rest.powf(1.0 - self.alpha) };
                sem * ctx
            }
            Scoring::Product => s * c * r * w,
        };
        Score { s, c, r, w, p: if p.is_nan() { 0.0 } else { p } }
    }
}

/// Options of [`Store::retrieve`]. JSON keys: `top_k`/`topK`, `alpha`,
/// `timeout_ms`/`timeoutMs`, `scoring`, `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrieveOptions {
    /// How many results at most (≥ 1; clamped to the number of memories). Default 5.
    #[serde(alias = "topK")]
    pub top_k: usize,
    /// Alpha ∈ [0, 1]; default: the configured `alpha`.
    pub alpha: Option<f64>,
    /// Deadline in ms; default: the configured `timeout_ms`.
    #[serde(alias = "timeoutMs")]
    pub timeout_ms: Option<u64>,
    /// Score form; default: the configured `scoring`.
    pub scoring: Option<Scoring>,
    /// The time to score as of (Unix ms, ≥ 0): recency is measured from each
    /// memory's `created_at` to this instant. Default: the store's clock.
    pub now: Option<i64>,
}

impl Default for RetrieveOptions {
    fn default() -> Self {
        RetrieveOptions { top_k: 5, alpha: None, timeout_ms: None, scoring: None, now: None }
    }
}

impl RetrieveOptions {
    /// Options with this `top_k` and defaults otherwise.
    pub fn top_k(top_k: usize) -> RetrieveOptions {
        RetrieveOptions { top_k, ..RetrieveOptions::default() }
    }

    /// Parses options from a JSON object text (`{}` gives the defaults).
    pub fn from_json(text: &str) -> Result<RetrieveOptions> {
        parse_options(text, "options")
    }
}

/// Parses a JSON object of options (missing keys take their defaults; unknown
/// or duplicate keys are rejected).
pub(crate) fn parse_options<T: serde::de::DeserializeOwned + Default>(text: &str, field: &str) -> Result<T> {
    let value = crate::json::parse_object(text, field)?;
    serde_json::from_value(value).map_err(|e| Error::invalid(field, format!("invalid {field}: {e}")))
}

/// One retrieval result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The memory's id.
    pub id: u64,
    /// Its text.
    pub text: String,
    /// Its metadata, if any.
    pub metadata: Option<Value>,
    /// The score and its factors.
    pub score: Score,
}

/// A heap entry ordered so that the heap's top is the worst kept candidate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ranked {
    pub p: f64,
    pub id: u64,
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

/// The best `k` memories by P (exact), best first.
pub(crate) fn top_k(
    st: &State,
    query: &[f32],
    inv_q: f32,
    k: usize,
    scorer: &Scorer,
    deadline: &Deadline,
    op: &str,
) -> Result<Vec<Ranked>> {
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(k + 1);
    if k == 0 {
        return Ok(Vec::new());
    }
    for (i, (node, row)) in st.graph.iter().enumerate() {
        deadline.check_every(i, op)?;
        let score = scorer.score(cosine(query, inv_q, row, node.inv_norm), node);
        let cand = Ranked { p: score.p, id: node.id, score };
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
    out.sort_by(Ranked::better);
    Ok(out)
}

impl Store {
    pub(crate) fn scorer(&self, alpha: f64, scoring: Option<Scoring>, now: Option<i64>) -> Scorer {
        Scorer {
            alpha,
            scoring: scoring.unwrap_or(self.config.scoring),
            tau_secs: self.config.decay_tau_secs,
            now_ms: now.unwrap_or_else(|| self.clock.unix_millis()),
        }
    }

    /// The up to `top_k` memories with the highest score P for `query`, best first
    /// (ties: lower id), each with its factors. Exact over all memories.
    ///
    /// Errors: INVALID_DATA (query, top_k, alpha), TIMEOUT, CIRCUIT_OPEN.
    ///
    /// ```
    /// use ov_memory::{AddOptions, Config, RetrieveOptions, Store};
    /// let store = Store::new(Config { embedding_dim: 2, ..Config::default() })?;
    /// store.add(&[1.0, 0.0], "east", AddOptions::default())?;
    /// store.add(&[0.0, 1.0], "north", AddOptions::default())?;
    /// let hits = store.retrieve(&[0.9, 0.1], &RetrieveOptions { top_k: 1, alpha: Some(1.0), ..Default::default() })?;
    /// assert_eq!(hits[0].text, "east");
    /// assert!(hits[0].score.s > 0.99);
    /// # Ok::<(), ov_memory::Error>(())
    /// ```
    pub fn retrieve(&self, query: &[f32], options: &RetrieveOptions) -> Result<Vec<Hit>> {
        self.call(Op::Retrieve, true, |logs| {
            let deadline = self.deadline(options.timeout_ms)?;
            self.retrieve_in(query, options, &deadline, logs)
        })
    }

    /// [`Store::retrieve`] with the result as a JSON array, serialised under the
    /// same deadline (a large result cannot push the call past it by more than
    /// one hit's serialisation). This is what the C and JS front-ends return.
    pub fn retrieve_json(&self, query: &[f32], options: &RetrieveOptions) -> Result<String> {
        self.call(Op::Retrieve, true, |logs| {
            let deadline = self.deadline(options.timeout_ms)?;
            let hits = self.retrieve_in(query, options, &deadline, logs)?;
            json_array(&hits, &deadline, "retrieve")
        })
    }

    fn retrieve_in(
        &self,
        query: &[f32],
        options: &RetrieveOptions,
        deadline: &Deadline,
        logs: &mut crate::log::LogBuf,
    ) -> Result<Vec<Hit>> {
        let norm = validate::embedding(query, self.config.embedding_dim, "query", logs)?;
        if options.top_k == 0 {
            return Err(Error::invalid("top_k", "top_k must be at least 1"));
        }
        let alpha = options.alpha.unwrap_or(self.config.alpha);
        validate::alpha(alpha)?;
        validate::now(options.now)?;
        if options.top_k > self.config.max_top_k {
            logs.push(
                Level::Warning,
                "top_k above the configured maximum",
                json!({ "top_k": options.top_k, "max_top_k": self.config.max_top_k }),
            );
        }
        let st = self.state.read();
        let k = options.top_k.min(st.graph.len());
        let scorer = self.scorer(alpha, options.scoring, options.now);
        let ranked = top_k(&st, query, crate::graph::inv_norm(norm), k, &scorer, deadline, "retrieve")?;
        let mut hits = Vec::with_capacity(ranked.len());
        for r in ranked {
            // Copying texts is work too: a result of many long texts stays within the deadline.
            deadline.check("retrieve")?;
            if let Some(n) = st.graph.node(r.id) {
                hits.push(Hit {
                    id: r.id,
                    text: n.text.clone(),
                    metadata: n.metadata.clone().map(Value::Object),
                    score: r.score,
                });
            }
        }
        drop(st);
        logs.push(Level::Debug, "retrieved", json!({ "results": hits.len(), "top_k": options.top_k }));
        Ok(hits)
    }
}

/// Serialises `items` as a JSON array, checking the deadline before each item.
pub(crate) fn json_array<T: Serialize>(items: &[T], deadline: &Deadline, op: &str) -> Result<String> {
    let mut out = Vec::with_capacity(64 * items.len() + 2);
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        deadline.check(op)?;
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, item)
            .map_err(|e| Error::new(crate::ErrorCode::Internal, format!("cannot serialise a result: {e}")))?;
    }
    out.push(b']');
    String::from_utf8(out).map_err(|_| Error::new(crate::ErrorCode::Internal, "serialised result is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(centrality: f64, created_at: i64, weight: f64) -> Node {
        Node {
            id: 1,
            text: String::new(),
            weight,
            metadata: None,
            metadata_bytes: 0,
            created_at,
            last_accessed: created_at,
            access_count: 0,
            inv_norm: 1.0,
            edges: Vec::new(),
            overflow: Vec::new(),
            overflow_in: Vec::new(),
            centrality,
        }
    }

    #[test]
    fn geometric_and_product_forms() {
        let sc = Scorer { alpha: 0.75, scoring: Scoring::Geometric, tau_secs: 86_400.0, now_ms: 86_400_000 };
        let s = sc.score(0.8, &node(0.5, 0, 2.0));
        let r = (-1.0f64).exp();
        assert!((s.r - r).abs() < 1e-12);
        let want = 0.8f64.powf(0.75) * (0.5 * r * 2.0f64).powf(0.25);
        assert!((s.p - want).abs() < 1e-12);
        // The floors of 0.1 apply to C and R.
        let s = sc.score(0.8, &node(0.0, -10_000_000_000, 1.0));
        assert!((s.p - 0.8f64.powf(0.75) * (0.1f64 * 0.1).powf(0.25)).abs() < 1e-12);
        // Negative cosine clamps to S = 0.
        assert_eq!(sc.score(-0.5, &node(0.5, 0, 1.0)).s, 0.0);
        assert_eq!(sc.score(-0.5, &node(0.5, 0, 1.0)).p, 0.0);
        let prod = Scorer { scoring: Scoring::Product, ..sc };
        let s = prod.score(0.8, &node(0.5, 86_400_000, 2.0));
        assert!((s.p - 0.8 * 0.5 * 1.0 * 2.0).abs() < 1e-12);
    }

    #[test]
    fn alpha_extremes_are_never_nan() {
        for alpha in [0.0, 1e-300, 0.5, 1.0 - 1e-16, 1.0] {
            let sc = Scorer { alpha, scoring: Scoring::Geometric, tau_secs: 1e-300, now_ms: i64::MAX };
            for cos in [0.0, 1e-300, 0.5, 1.0] {
                for w in [f64::MIN_POSITIVE, 1.0, f64::MAX] {
                    let s = sc.score(cos, &node(0.0, i64::MIN, w));
                    assert!(!s.p.is_nan() && s.p.is_finite() && s.p >= 0.0, "alpha {alpha} cos {cos} w {w}: {s:?}");
                }
            }
        }
        let sc = Scorer { alpha: 1.0, scoring: Scoring::Geometric, tau_secs: 1.0, now_ms: 0 };
        assert_eq!(sc.score(0.6, &node(0.0, 0, 123.0)).p, 0.6, "alpha 1 ranks by meaning alone");
    }

    #[test]
    fn options_json() {
        let o = RetrieveOptions::from_json(r#"{"topK": 3, "alpha": 0.5, "timeout_ms": 10}"#).unwrap();
        assert_eq!((o.top_k, o.alpha, o.timeout_ms), (3, Some(0.5), Some(10)));
        assert_eq!(RetrieveOptions::from_json("{}").unwrap(), RetrieveOptions::default());
        assert!(RetrieveOptions::from_json("").is_err(), "an object, or no options at all");
        assert!(RetrieveOptions::from_json("null").is_err());
        assert!(RetrieveOptions::from_json(r#"{"top_k": 1, "top_k": 2}"#).is_err(), "duplicate key");
        assert!(RetrieveOptions::from_json(r#"{"top_k": 1, "topK": 2}"#).is_err(), "both spellings");
        assert!(RetrieveOptions::from_json("[3]").is_err());
        assert!(RetrieveOptions::from_json(r#"{"k": 3}"#).is_err());
        assert!(RetrieveOptions::from_json(r#"{"top_k": -1}"#).is_err());
    }
}
