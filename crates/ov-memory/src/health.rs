//! The health report.
//!
//! Status comes from the recent window of calls (so it recovers once errors
//! stop), escalated by the breaker, capacity and latency:
//!
//! | condition | at least |
//! |---|---|
//! | engine error rate in the window < 5 % | HEALTHY |
//! | engine error rate 5–10 % | WARNING |
//! | engine error rate > 10 % | CRITICAL |
//! | caller error rate > 25 % | WARNING (never more) |
//! | breaker HALF_OPEN, or capacity ≥ 80 % | WARNING |
//! | at least 20 calls in the window and average latency > 50 ms | WARNING |
//! | breaker OPEN | CRITICAL |
//! | at least 20 calls in the window and max latency > 1 000 ms | CRITICAL |
//!
//! *Engine* errors are the failures that count for the breaker (TIMEOUT,
//! MEMORY_CORRUPTION, IO, INTERNAL); *caller* errors (INVALID_DATA,
//! NOT_FOUND, RESOURCE_EXHAUSTION, CIRCUIT_OPEN) say a client misbehaves, not
//! that the engine is failing, so they can raise the status to WARNING only.
//! Latency is judged only on enough calls, so one slow first call (a cold
//! cache, a debugger, valgrind) does not make a fresh store look degraded.
//!
//! The report's `metrics` is a compact summary so a healthy report fits 512 bytes.

use crate::breaker::BreakerState;
use crate::metrics::WindowSummary;
use serde::Serialize;
use std::fmt;

/// Overall status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum HealthStatus {
    /// All is well.
    Healthy,
    /// Degraded; look at `reasons`.
    Warning,
    /// Failing; look at `reasons`.
    Critical,
}

/// Engine error rate (%) from which status is at least WARNING.
pub const WARNING_ERROR_RATE_PCT: f64 = 5.0;
/// Caller error rate (%) above which status is at least WARNING.
pub const WARNING_CALLER_ERROR_RATE_PCT: f64 = 25.0;
/// Calls the window must hold before the latency rules apply.
pub const MIN_CALLS_FOR_LATENCY: u64 = 20;
/// Engine error rate (%) above which status is CRITICAL.
pub const CRITICAL_ERROR_RATE_PCT: f64 = 10.0;
/// Capacity (%) from which status is at least WARNING.
pub const WARNING_CAPACITY_PCT: f64 = 80.0;
/// Average latency (ms) in the window above which status is at least WARNING.
pub const WARNING_AVG_LATENCY_MS: f64 = 50.0;
/// Max latency (ms) in the window above which status is CRITICAL.
pub const CRITICAL_MAX_LATENCY_MS: f64 = 1000.0;

/// The compact figures inside a health report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HealthSummary {
    /// All calls since start.
    pub queries: u64,
    /// Calls per second since start.
    pub qps: f64,
    /// Mean latency since start, ms.
    pub avg_latency_ms: f64,
    /// 95th percentile latency since start, ms.
    pub p95_latency_ms: f64,
    /// 99th percentile latency since start, ms.
    pub p99_latency_ms: f64,
    /// Failed calls since start.
    pub error_count: u64,
    /// Memories stored.
    pub nodes: u64,
    /// Capacity used, %.
    pub capacity_pct: f64,
}

/// The health report (in Rust, `Display` writes it as JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HealthReport {
    /// Overall status.
    pub status: HealthStatus,
    /// Engine error rate over the recent window, % (failures that count for the breaker).
    pub error_rate_pct: f64,
    /// Caller error rate over the recent window, % (bad input, unknown ids, limits, open breaker).
    pub caller_error_rate_pct: f64,
    /// Breaker state.
    pub circuit_breaker: BreakerState,
    /// Why the status is not HEALTHY (empty when it is).
    pub reasons: Vec<String>,
    /// Compact figures.
    pub metrics: HealthSummary,
    /// When the report was made, RFC 3339 UTC.
    pub timestamp: String,
}

impl HealthReport {
    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

impl fmt::Display for HealthReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Rounds to 3 decimals so the report stays short.
pub(crate) fn round3(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// Applies the table above.
pub(crate) fn assess(
    window: &WindowSummary,
    breaker: BreakerState,
    capacity_pct: f64,
    metrics: HealthSummary,
    timestamp: String,
) -> HealthReport {
    let mut status = HealthStatus::Healthy;
    let mut reasons = Vec::new();
    let mut raise = |to: HealthStatus, why: String| {
        status = status.max(to);
        reasons.push(why);
    };
    let rate = window.error_rate_pct;
    if rate > CRITICAL_ERROR_RATE_PCT {
        raise(HealthStatus::Critical, format!("error rate {:.1}% > {CRITICAL_ERROR_RATE_PCT}%", rate));
    } else if rate >= WARNING_ERROR_RATE_PCT {
        raise(HealthStatus::Warning, format!("error rate {:.1}% >= {WARNING_ERROR_RATE_PCT}%", rate));
    }
    let caller = window.caller_error_rate_pct;
    if caller > WARNING_CALLER_ERROR_RATE_PCT {
        raise(HealthStatus::Warning, format!("caller error rate {:.1}% > {WARNING_CALLER_ERROR_RATE_PCT}%", caller));
    }
    match breaker {
        BreakerState::Open => raise(HealthStatus::Critical, "circuit breaker OPEN".into()),
        BreakerState::HalfOpen => raise(HealthStatus::Warning, "circuit breaker HALF_OPEN".into()),
        BreakerState::Closed => {}
    }
    if capacity_pct >= WARNING_CAPACITY_PCT {
        raise(HealthStatus::Warning, format!("capacity {:.1}% >= {WARNING_CAPACITY_PCT}%", capacity_pct));
    }
    let judge_latency = window.calls >= MIN_CALLS_FOR_LATENCY;
    if judge_latency && window.avg_latency_ms > WARNING_AVG_LATENCY_MS {
        raise(
            HealthStatus::Warning,
            format!("average latency {:.1} ms > {WARNING_AVG_LATENCY_MS} ms", window.avg_latency_ms),
        );
    }
    if judge_latency && window.max_latency_ms > CRITICAL_MAX_LATENCY_MS {
        raise(
            HealthStatus::Critical,
            format!("max latency {:.1} ms > {CRITICAL_MAX_LATENCY_MS} ms", window.max_latency_ms),
        );
    }
    HealthReport {
        status,
        error_rate_pct: round3(rate),
        caller_error_rate_pct: round3(caller),
        circuit_breaker: breaker,
        reasons,
        metrics,
        timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> HealthSummary {
        HealthSummary::default()
    }

    fn window(calls: u64, errors: u64, avg: f64, max: f64) -> WindowSummary {
        with_callers(calls, errors, 0, avg, max)
    }

    fn with_callers(calls: u64, engine: u64, caller: u64, avg: f64, max: f64) -> WindowSummary {
        let pct = |n: u64| if calls == 0 { 0.0 } else { n as f64 * 100.0 / calls as f64 };
        WindowSummary {
            calls,
            engine_errors: engine,
            caller_errors: caller,
            error_rate_pct: pct(engine),
            caller_error_rate_pct: pct(caller),
            avg_latency_ms: avg,
            max_latency_ms: max,
        }
    }

    fn status(w: WindowSummary, b: BreakerState, cap: f64) -> HealthStatus {
        assess(&w, b, cap, summary(), String::new()).status
    }

    #[test]
    fn error_rate_thresholds() {
        use HealthStatus::*;
        let c = BreakerState::Closed;
        assert_eq!(status(window(0, 0, 0.0, 0.0), c, 0.0), Healthy);
        assert_eq!(status(window(1000, 49, 0.0, 0.0), c, 0.0), Healthy); // 4.9 %
        assert_eq!(status(window(100, 5, 0.0, 0.0), c, 0.0), Warning); // 5 %
        assert_eq!(status(window(100, 10, 0.0, 0.0), c, 0.0), Warning); // 10 %
        assert_eq!(status(window(1000, 101, 0.0, 0.0), c, 0.0), Critical); // 10.1 %
    }

    #[test]
    fn escalations() {
        use HealthStatus::*;
        let w = window(20, 0, 1.0, 1.0);
        assert_eq!(status(w, BreakerState::HalfOpen, 0.0), Warning);
        assert_eq!(status(w, BreakerState::Open, 0.0), Critical);
        assert_eq!(status(w, BreakerState::Closed, 79.9), Healthy);
        assert_eq!(status(w, BreakerState::Closed, 80.0), Warning);
        assert_eq!(status(window(20, 0, 50.0, 50.0), BreakerState::Closed, 0.0), Healthy);
        assert_eq!(status(window(20, 0, 50.1, 60.0), BreakerState::Closed, 0.0), Warning);
        assert_eq!(status(window(20, 0, 1.0, 1000.0), BreakerState::Closed, 0.0), Healthy);
        assert_eq!(status(window(20, 0, 1.0, 1000.1), BreakerState::Closed, 0.0), Critical);
        let r = assess(&window(100, 20, 60.0, 2000.0), BreakerState::Open, 90.0, summary(), String::new());
        assert_eq!(r.status, Critical);
        assert_eq!(r.reasons.len(), 5, "{:?}", r.reasons);
    }

    #[test]
    fn latency_needs_enough_calls() {
        use HealthStatus::*;
        let c = BreakerState::Closed;
        // One slow first call (valgrind, a cold cache) is not a degraded store.
        assert_eq!(status(window(1, 0, 50_000.0, 50_000.0), c, 0.0), Healthy);
        assert_eq!(status(window(19, 0, 2000.0, 5000.0), c, 0.0), Healthy);
        assert_eq!(status(window(20, 0, 60.0, 60.0), c, 0.0), Warning);
        assert_eq!(status(window(20, 0, 60.0, 5000.0), c, 0.0), Critical);
    }

    #[test]
    fn caller_errors_raise_to_warning_at_most() {
        use HealthStatus::*;
        let c = BreakerState::Closed;
        // One malformed call among three: a client problem, not an outage.
        let r = assess(&with_callers(3, 0, 1, 1.0, 1.0), c, 0.0, summary(), String::new());
        assert_eq!(r.status, Warning);
        assert_eq!(r.error_rate_pct, 0.0);
        assert_eq!(r.caller_error_rate_pct, 33.333);
        assert_eq!(status(with_callers(100, 0, 100, 1.0, 1.0), c, 0.0), Warning, "never CRITICAL");
        assert_eq!(status(with_callers(4, 0, 1, 1.0, 1.0), c, 0.0), Healthy, "25 % is not above 25 %");
        assert_eq!(status(with_callers(100, 11, 50, 1.0, 1.0), c, 0.0), Critical, "engine errors still count");
    }
}
