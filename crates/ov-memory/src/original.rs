//! The original surface, `OVMemoryProduction`, as the project's first usage
//! examples use it, over the idiomatic [`Store`].
//!
//! `OVMemoryProduction::new` cannot return an error, so invalid arguments
//! (for example a dimension of 0) do not panic: the failure is kept, every
//! later call returns it as an `Err` (INVALID_DATA with the original context),
//! and [`OVMemoryProduction::get_health_status`] reports CRITICAL with the
//! reason. Use [`OVMemoryProduction::try_new`] to see the error at once.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::health::{HealthReport, HealthStatus, HealthSummary};
use crate::metrics::MetricsReport;
use crate::store::{AddOptions, Memory, Store};
use serde_json::Value;

/// The store under its original name.
#[derive(Debug)]
pub struct OVMemoryProduction {
    inner: std::result::Result<Store, Error>,
}

impl OVMemoryProduction {
    /// A store of `dim`-dimensional embeddings holding at most `max_nodes`
    /// memories; `enable_monitoring` turns latency histograms and the health
    /// window on. Never panics; see the module docs for invalid arguments.
    pub fn new(dim: usize, max_nodes: usize, enable_monitoring: bool) -> OVMemoryProduction {
        OVMemoryProduction { inner: Self::build(dim, max_nodes, enable_monitoring) }
    }

    /// Like [`OVMemoryProduction::new`], but returns the error of invalid arguments.
    pub fn try_new(dim: usize, max_nodes: usize, enable_monitoring: bool) -> Result<OVMemoryProduction> {
        Self::build(dim, max_nodes, enable_monitoring).map(|s| OVMemoryProduction { inner: Ok(s) })
    }

    fn build(dim: usize, max_nodes: usize, monitoring: bool) -> Result<Store> {
        Store::new(Config { embedding_dim: dim, max_nodes, monitoring, ..Config::default() })
    }

    /// The underlying store, or the construction error.
    pub fn store(&self) -> Result<&Store> {
        self.inner.as_ref().map_err(Clone::clone)
    }

    /// Adds a memory (metadata: a JSON object or `None`) and returns its id.
    pub fn add_memory(&self, embedding: Vec<f32>, text: String, weight: f64, metadata: Option<Value>) -> Result<u64> {
        self.store()?.add(&embedding, &text, AddOptions { weight: Some(weight), metadata, ..AddOptions::default() })
    }

    /// A copy of one memory.
    pub fn get_memory(&self, id: u64) -> Result<Memory> {
        self.store()?.get(id)
    }

    /// The health report.
    pub fn get_health_status(&self) -> HealthReport {
        match &self.inner {
            Ok(s) => s.health(),
            Err(e) => HealthReport {
                status: HealthStatus::Critical,
                error_rate_pct: 0.0,
                caller_error_rate_pct: 0.0,
                circuit_breaker: crate::breaker::BreakerState::Closed,
                reasons: vec![format!("store could not be built: {e}")],
                metrics: HealthSummary::default(),
                timestamp: String::new(),
            },
        }
    }

    /// Every metric, or the construction error.
    pub fn get_metrics(&self) -> Result<MetricsReport> {
        Ok(self.store()?.metrics())
    }
}
