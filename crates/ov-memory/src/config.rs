//! Store configuration with the defaults, validated when a store is built.
//!
//! A configuration can be written in Rust or parsed from JSON
//! ([`Config::from_json`]); JSON keys are the field names in `snake_case`, and
//! the `camelCase` spelling is accepted too so the JS front-ends can pass their
//! options objects through unchanged. Unknown keys are rejected.

use crate::error::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};

/// How [`crate::Store::retrieve`] combines the score factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Scoring {
    /// `P = S^alpha · (max(0.1,C) · max(0.1,R) · W)^(1−alpha)` (the default).
    #[default]
    Geometric,
    /// `P = S · C · R · W`.
    Product,
}

/// How a store keeps its vectors ([`Config::vector_precision`]).
///
/// Compact rows keep each vector's direction in fewer bits plus one scale:
/// every cosine the store computes is then the cosine of the stored (rounded)
/// vector, in the same f32 arithmetic as a full-precision store, and
/// [`crate::Store::get`] returns the stored vector times its scale.
///
/// ```
/// use ov_memory::{AddOptions, Config, Precision, Store};
/// let store = Store::new(Config { embedding_dim: 4, vector_precision: Precision::I8, ..Config::default() })?;
/// let id = store.add(&[0.1, 0.25, -0.3, 0.4], "the user prefers green tea", AddOptions::default())?;
/// // Stored as round(127·x / 0.4) = [32, 79, -95, 127] with the scale 0.4 / 127:
/// let e = store.get(id)?.embedding;
/// assert!((e[1] - 79.0 * 0.4 / 127.0).abs() < 1e-6);
/// assert_eq!(Precision::I8.row_bytes(4), 4 + 4);
/// # Ok::<(), ov_memory::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Precision {
    /// 4 bytes per component, the vector as given (the default).
    #[default]
    F32,
    /// IEEE half precision: 2 bytes per component plus 4 per vector. Each
    /// vector is divided by its largest component's magnitude, so every
    /// value is in [−1, 1] and keeps 11 significant bits (values below 2⁻¹⁴
    /// of the largest are kept as 0).
    F16,
    /// 8-bit integers: 1 byte per component plus 4 per vector. Each
    /// vector is scaled so that its largest component is ±127, then rounded.
    I8,
}

impl Precision {
    /// Bytes one stored vector of `dim` components takes.
    pub fn row_bytes(self, dim: usize) -> usize {
        4 * crate::precision::row_words(self, dim)
    }
}

/// Circuit-breaker thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "BreakerOptions", rename_all = "camelCase"))]
pub struct BreakerConfig {
    /// Consecutive counted failures that open the breaker (default 5).
    #[serde(alias = "failureThreshold")]
    pub failure_threshold: u32,
    /// How long the breaker stays open before probing, in milliseconds (default 30 000).
    #[serde(alias = "openMs")]
    pub open_ms: u64,
    /// Probe calls admitted at once while half-open; this many successes close it (default 3).
    #[serde(alias = "halfOpenProbes")]
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failure_threshold: 5, open_ms: 30_000, half_open_probes: 3 }
    }
}

/// Everything a store can be configured with. Each setting left out takes its
/// documented default (`Config::default()` gives them all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "StoreOptions", rename_all = "camelCase"))]
pub struct Config {
    /// Length of every embedding (default 768, 1..=65 536).
    #[serde(alias = "embeddingDim")]
    pub embedding_dim: usize,
    /// Most memories the store holds (default 10 000, at least 1).
    #[serde(alias = "maxNodes")]
    pub max_nodes: usize,
    /// Optional ceiling on [`crate::Store::memory_estimate_bytes`], in MiB.
    /// In the browser build (wasm32, whose memory ends at 4 GiB) it defaults to
    /// 1 024 ([`WASM_DEFAULT_MEMORY_MB`]) and may not exceed 2 048
    /// ([`WASM_MAX_MEMORY_MB`]), so a store reports RESOURCE_EXHAUSTION well
    /// before the module runs out.
    #[serde(alias = "maxMemoryMb")]
    pub max_memory_mb: Option<f64>,
    /// Most honeycomb neighbours per memory (default 6, 1..=64).
    #[serde(alias = "maxDegree")]
    pub max_degree: usize,
    /// Most characters (Unicode scalar values) in a memory's text (default 1 000 000).
    #[serde(alias = "maxTextChars")]
    pub max_text_chars: usize,
    /// Most bytes of a memory's metadata, serialised as compact JSON (default 65 536).
    #[serde(alias = "maxMetadataBytes")]
    pub max_metadata_bytes: usize,
    /// `top_k` above this is served but logged at WARNING (default 1 000).
    #[serde(alias = "maxTopK")]
    pub max_top_k: usize,
    /// Default deadline of add, retrieve and context, in milliseconds (default 30 000).
    #[serde(alias = "timeoutMs")]
    pub timeout_ms: u64,
    /// Recency time constant τ in seconds (default 2 592 000: 30 days).
    #[serde(alias = "decayTauSecs")]
    pub decay_tau_secs: f64,
    /// Default alpha of [`crate::Store::retrieve`] (default 0.75): 1 ranks by
    /// relevance alone, lower values give the bounded priors more say.
    pub alpha: f64,
    /// Weight of semantic relevance when a query has an embedding and a text
    /// (default 0.7; lexical relevance gets the rest).
    #[serde(alias = "hybridWeight")]
    pub hybrid_weight: f64,
    /// Weight of graph activation G among the bounded priors (default 2.0).
    #[serde(alias = "graphWeight")]
    pub graph_weight: f64,
    /// Weight of recency R among the bounded priors (default 0.5).
    #[serde(alias = "recencyWeight")]
    pub recency_weight: f64,
    /// Weight of importance W/(1+W) among the bounded priors (default 0.5).
    #[serde(alias = "importanceWeight")]
    pub importance_weight: f64,
    /// Score form: `"geometric"` (the default, relevance plus bounded priors)
    /// or the legacy `"product"` (S·C·R·W).
    pub scoring: Scoring,
    /// Circuit-breaker thresholds.
    pub breaker: BreakerConfig,
    /// Length of the sliding window that health reads, in seconds (default 60).
    #[serde(alias = "healthWindowSecs")]
    pub health_window_secs: u32,
    /// Record latency histograms and the health window (default true). Errors,
    /// counters and the breaker work either way.
    pub monitoring: bool,
    /// Log threshold: DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO).
    #[serde(alias = "logLevel")]
    pub log_level: crate::log::Level,
    /// Token budget of the metabolism (default 100 000).
    #[serde(alias = "budgetTokens")]
    pub budget_tokens: u64,
    /// A namespace holding more memories than this (default 10 000) is served
    /// by its approximate index: new memories find their honeycomb neighbours
    /// through it and retrieval takes its semantic candidates from it (then
    /// scores them exactly). Up to this size every read and insert scans
    /// exactly. 0: always approximate.
    #[serde(alias = "exactLimit")]
    pub exact_limit: usize,
    /// How vectors are stored: `"f32"` (the default), `"f16"` (half the
    /// memory) or `"i8"` (a quarter). See [`Precision`]. Fixed for the
    /// store's life; a snapshot keeps it.
    #[serde(alias = "vectorPrecision", skip_serializing_if = "is_f32")]
    pub vector_precision: Precision,
    /// Candidates an insert examines in the approximate index, 1..=10 000
    /// (default 200, as hnswlib's): more builds an index that finds more of
    /// the exact top k at the same `ef`, and makes adding slower. Applies to
    /// memories added from then on; a snapshot keeps it (one that does not
    /// name it continues at the default).
    #[serde(alias = "efConstruction", skip_serializing_if = "is_default_ef_construction")]
    pub ef_construction: usize,
}

/// The default `ef_construction` is left out of a configuration's JSON (as
/// before it could be set), so a snapshot names it only when it was chosen.
fn is_default_ef_construction(ef: &usize) -> bool {
    *ef == crate::ann::EF_CONSTRUCTION
}

/// Full precision is left out of a configuration's JSON, so that a store
/// that keeps f32 vectors writes the snapshots it wrote before compact
/// vectors existed (which older versions read).
fn is_f32(p: &Precision) -> bool {
    *p == Precision::F32
}

impl Default for Config {
    fn default() -> Self {
        Config {
            embedding_dim: 768,
            max_nodes: 10_000,
            max_memory_mb: if cfg!(target_arch = "wasm32") { Some(WASM_DEFAULT_MEMORY_MB) } else { None },
            max_degree: 6,
            max_text_chars: 1_000_000,
            max_metadata_bytes: 64 * 1024,
            max_top_k: 1_000,
            timeout_ms: 30_000,
            decay_tau_secs: 2_592_000.0,
            alpha: 0.75,
            hybrid_weight: crate::scoring::DEFAULT_HYBRID_WEIGHT,
            graph_weight: crate::scoring::C_G,
            recency_weight: crate::scoring::C_R,
            importance_weight: crate::scoring::C_W,
            scoring: Scoring::Geometric,
            breaker: BreakerConfig::default(),
            health_window_secs: 60,
            monitoring: true,
            log_level: crate::log::Level::Info,
            budget_tokens: 100_000,
            exact_limit: crate::graph::DEFAULT_EXACT_LIMIT,
            vector_precision: Precision::F32,
            ef_construction: crate::ann::EF_CONSTRUCTION,
        }
    }
}

/// The default `max_memory_mb` of the browser build (wasm32).
pub const WASM_DEFAULT_MEMORY_MB: f64 = 1024.0;
/// The largest `max_memory_mb` the browser build accepts: the size estimate
/// counts the data, and the process needs headroom for copies and the
/// allocator within wasm32's 4 GiB.
pub const WASM_MAX_MEMORY_MB: f64 = 2048.0;

/// Largest accepted `embedding_dim`.
pub const MAX_EMBEDDING_DIM: usize = 65_536;

fn bad(field: &str, message: String) -> Error {
    Error::new(ErrorCode::InvalidData, message).with("field", field)
}

impl Config {
    /// Parses a JSON object; missing keys take their defaults. The result is validated.
    pub fn from_json(text: &str) -> Result<Config> {
        let invalid = |e: serde_json::Error| {
            Error::new(ErrorCode::InvalidData, format!("invalid config JSON: {e}")).with("field", "config")
        };
        // An object only (serde would read an array positionally), with no duplicate key.
        let value = crate::json::parse_object(text, "config")?;
        let config: Config = serde_json::from_value(value).map_err(invalid)?;
        config.validate()?;
        Ok(config)
    }

    /// The memory ceiling in force: `max_memory_mb`, or in the browser build
    /// [`WASM_DEFAULT_MEMORY_MB`] when none is set (wasm32 memory ends at 4 GiB).
    pub fn effective_max_memory_mb(&self) -> Option<f64> {
        self.max_memory_mb.or(if cfg!(target_arch = "wasm32") { Some(WASM_DEFAULT_MEMORY_MB) } else { None })
    }

    /// Parses a JSON object without validating it (snapshots validate what they use).
    pub(crate) fn from_json_unchecked(text: &str) -> Result<Config> {
        let value = crate::json::parse_object(text, "config")?;
        serde_json::from_value(value).map_err(|e| {
            Error::new(ErrorCode::InvalidData, format!("invalid config JSON: {e}")).with("field", "config")
        })
    }

    /// This configuration with the resource limits of `limits`: `max_nodes`,
    /// `max_memory_mb`, `max_text_chars`, `max_metadata_bytes`, `max_top_k`
    /// and `timeout_ms`. A store opened from a snapshot takes its behaviour
    /// from the file but its limits from the caller, so a file never decides
    /// how much it may grow.
    pub fn with_limits_of(&self, limits: &Config) -> Config {
        Config {
            max_nodes: limits.max_nodes,
            max_memory_mb: limits.max_memory_mb,
            max_text_chars: limits.max_text_chars,
            max_metadata_bytes: limits.max_metadata_bytes,
            max_top_k: limits.max_top_k,
            timeout_ms: limits.timeout_ms,
            ..self.clone()
        }
    }

    /// The configuration as a JSON object text (snake_case keys).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Checks every field; the first problem is returned as INVALID_DATA.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_EMBEDDING_DIM).contains(&self.embedding_dim) {
            return Err(bad("embedding_dim", format!("embedding_dim must be in 1..={MAX_EMBEDDING_DIM}"))
                .with("got", self.embedding_dim));
        }
        if self.max_nodes == 0 {
            return Err(bad("max_nodes", "max_nodes must be at least 1".into()));
        }
        if let Some(mb) = self.max_memory_mb {
            if !(mb.is_finite() && mb > 0.0) {
                return Err(bad("max_memory_mb", "max_memory_mb must be finite and > 0".into()));
            }
            if cfg!(target_arch = "wasm32") && mb > WASM_MAX_MEMORY_MB {
                return Err(bad(
                    "max_memory_mb",
                    format!("max_memory_mb is at most {WASM_MAX_MEMORY_MB} in the browser build (4 GiB of memory)"),
                )
                .with("got", mb));
            }
        }
        if !(1..=crate::retrieve::MAX_EF).contains(&self.ef_construction) {
            return Err(bad("ef_construction", format!("ef_construction must be in 1..={}", crate::retrieve::MAX_EF))
                .with("got", self.ef_construction));
        }
        if !(1..=64).contains(&self.max_degree) {
            return Err(bad("max_degree", "max_degree must be in 1..=64".into()).with("got", self.max_degree));
        }
        if self.max_text_chars == 0 {
            return Err(bad("max_text_chars", "max_text_chars must be at least 1".into()));
        }
        if self.max_top_k == 0 {
            return Err(bad("max_top_k", "max_top_k must be at least 1".into()));
        }
        if self.timeout_ms == 0 {
            return Err(bad("timeout_ms", "timeout_ms must be at least 1".into()));
        }
        if !(self.decay_tau_secs.is_finite() && self.decay_tau_secs > 0.0) {
            return Err(bad("decay_tau_secs", "decay_tau_secs must be finite and > 0".into()));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(bad("alpha", "alpha must be in [0, 1]".into()));
        }
        if !(0.0..=1.0).contains(&self.hybrid_weight) {
            return Err(bad("hybrid_weight", "hybrid_weight must be in [0, 1]".into()));
        }
        for (field, v) in [
            ("graph_weight", self.graph_weight),
            ("recency_weight", self.recency_weight),
            ("importance_weight", self.importance_weight),
        ] {
            if !(0.0..=10.0).contains(&v) {
                return Err(bad(field, format!("{field} must be in [0, 10]")));
            }
        }
        if self.breaker.failure_threshold == 0 {
            return Err(bad("breaker.failure_threshold", "failure_threshold must be at least 1".into()));
        }
        if self.breaker.half_open_probes == 0 {
            return Err(bad("breaker.half_open_probes", "half_open_probes must be at least 1".into()));
        }
        if !(1..=86_400).contains(&self.health_window_secs) {
            return Err(bad("health_window_secs", "health_window_secs must be in 1..=86400".into()));
        }
        if self.budget_tokens == 0 {
            return Err(bad("budget_tokens", "budget_tokens must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_specs() {
        let c = Config::default();
        assert_eq!(c.embedding_dim, 768);
        assert_eq!(c.max_nodes, 10_000);
        assert_eq!(c.max_degree, 6);
        assert_eq!(c.max_text_chars, 1_000_000);
        assert_eq!(c.max_metadata_bytes, 65_536);
        assert_eq!(c.timeout_ms, 30_000);
        assert_eq!(c.decay_tau_secs, 2_592_000.0);
        assert_eq!(c.alpha, 0.75);
        assert_eq!(c.breaker, BreakerConfig { failure_threshold: 5, open_ms: 30_000, half_open_probes: 3 });
        assert_eq!(c.budget_tokens, 100_000);
        assert_eq!(c.log_level, crate::log::Level::Info);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn json_takes_both_spellings_and_rejects_unknown_keys() {
        let c = Config::from_json(r#"{"embedding_dim": 4, "maxNodes": 9}"#).unwrap();
        assert_eq!((c.embedding_dim, c.max_nodes), (4, 9));
        let e = Config::from_json(r#"{"embeding_dim": 4}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidData);
        assert!(Config::from_json("[1]").is_err());
        assert!(Config::from_json("{").is_err());
        assert!(Config::from_json("").is_err(), "empty text is not an object");
        assert!(Config::from_json(r#"{"embedding_dim": 4, "embedding_dim": 8}"#).is_err(), "duplicate key");
        let round = Config::from_json(&c.to_json()).unwrap();
        assert_eq!(round, c);
    }

    #[test]
    fn every_bound_is_checked() {
        type Mutation = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("embedding_dim", Box::new(|c| c.embedding_dim = 0)),
            ("embedding_dim", Box::new(|c| c.embedding_dim = MAX_EMBEDDING_DIM + 1)),
            ("max_nodes", Box::new(|c| c.max_nodes = 0)),
            ("max_memory_mb", Box::new(|c| c.max_memory_mb = Some(f64::NAN))),
            ("max_memory_mb", Box::new(|c| c.max_memory_mb = Some(0.0))),
            ("max_degree", Box::new(|c| c.max_degree = 0)),
            ("max_text_chars", Box::new(|c| c.max_text_chars = 0)),
            ("max_top_k", Box::new(|c| c.max_top_k = 0)),
            ("timeout_ms", Box::new(|c| c.timeout_ms = 0)),
            ("decay_tau_secs", Box::new(|c| c.decay_tau_secs = -1.0)),
            ("alpha", Box::new(|c| c.alpha = 1.5)),
            ("breaker.failure_threshold", Box::new(|c| c.breaker.failure_threshold = 0)),
            ("breaker.half_open_probes", Box::new(|c| c.breaker.half_open_probes = 0)),
            ("health_window_secs", Box::new(|c| c.health_window_secs = 0)),
            ("budget_tokens", Box::new(|c| c.budget_tokens = 0)),
        ];
        for (field, mutate) in cases {
            let mut c = Config::default();
            mutate(&mut c);
            let e = c.validate().unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidData, "{field}");
            assert_eq!(e.context()["field"], field);
        }
        let ok = Config { embedding_dim: MAX_EMBEDDING_DIM, ..Config::default() };
        assert!(ok.validate().is_ok());
    }
}
