//! # OV-Memory core
//!
//! An embedded memory engine for AI agents: store memories (text, embedding,
//! importance, metadata), link them in a bounded-degree "honeycomb" graph, and
//! ask for the ones that matter now, ranked by a documented score or assembled
//! into a context that fits a token budget. Production promises (typed errors,
//! validation, limits, deadlines, a circuit breaker, metrics with real latency
//! percentiles, JSON logs, a health report) are kept here, once, for every
//! front-end (C, Node, WebAssembly).
//!
//! ```
//! use ov_memory::{AddOptions, Config, Store};
//!
//! let store = Store::new(Config { embedding_dim: 4, ..Config::default() })?;
//! let id = store.add(&[0.1, 0.9, 0.0, 0.2], "prefers dark mode", AddOptions::default())?;
//! assert_eq!(store.len(), 1);
//! assert_eq!(store.get(id)?.weight, 1.0);
//! assert_eq!(store.health().status, ov_memory::HealthStatus::Healthy);
//! # Ok::<(), ov_memory::Error>(())
//! ```
//!
//! The original surface (the project's first usage examples) is
//! [`OVMemoryProduction`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ann;
pub mod breaker;
mod bytes;
pub mod clock;
pub mod config;
pub mod context;
pub mod error;
pub mod filter;
pub mod frontend;
mod graph;
pub mod health;
mod json;
pub mod lexical;
pub mod log;
mod manage;
pub mod metabolism;
pub mod metrics;
mod original;
mod precision;
mod retrieve;
mod sample;
pub mod scoring;
mod slab;
pub mod snapshot;
mod store;
mod validate;

pub use breaker::{BreakerSnapshot, BreakerState};
#[cfg(not(target_arch = "wasm32"))]
pub use clock::SystemClock;
pub use clock::{Clock, ManualClock, SharedClock};
pub use config::{BreakerConfig, Config, Precision, Scoring};
pub use context::{
    estimate_tokens, ContextItem, ContextOptions, ContextResult, GuardrailCounts, TokenCounter, Trigger,
};
pub use error::{Error, ErrorCode, Result};
pub use filter::Filter;
pub use graph::{EDGE_BYTES, NODE_OVERHEAD_BYTES};
pub use health::{HealthReport, HealthStatus, HealthSummary};
pub use log::{Level, LogCallback, LogSink};
pub use manage::{
    BatchQuery, ImportOptions, ImportReport, ListOptions, MemoryUpdate, Namespaces, Page, ScopeOptions, MAX_PAGE,
};
pub use metabolism::{MetabolicState, MetabolismReport};
pub use metrics::{Exposition, MetricsReport, Op, OpReport};
pub use original::OVMemoryProduction;
pub use retrieve::{Hit, RetrieveOptions};
pub use scoring::Score;
pub use store::{AddOptions, Memory, NewMemory, Store};
pub use validate::{parse_metadata_json, MAX_NORM, MIN_NORM};

/// The README's Rust quick start, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// The tests' pseudo-random numbers: one xorshift64 step on `x`, returning
/// the new state (a fixed, seedable sequence; not for anything but tests).
#[cfg(test)]
pub(crate) fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn store_is_send_and_sync() {
        assert_send_sync::<crate::Store>();
        assert_send_sync::<crate::OVMemoryProduction>();
    }
}

/// The crate README's example, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;
