//! Metrics: call counts, errors by name, latency percentiles from
//! real HDR histograms (per operation and overall), guardrail counters, and a
//! sliding window of recent calls that the health report reads.
//!
//! Latencies are recorded in microseconds (1 µs … 1 h, 3 significant digits)
//! and reported in milliseconds. [`MetricsReport`] is the one source of both the
//! JSON and the Prometheus text, so the two always agree.

use crate::breaker::BreakerSnapshot;
use crate::error::ErrorCode;
use crate::metabolism::MetabolismReport;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The operations that metrics break down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// One memory added.
    Add,
    /// A batch of memories added.
    AddBatch,
    /// A memory read by id.
    Get,
    /// A memory deleted.
    Delete,
    /// A ranked retrieval.
    Retrieve,
    /// A context assembly.
    Context,
    /// A snapshot written.
    Save,
    /// A snapshot read.
    Load,
    /// A memory changed in place.
    Update,
    /// A page of memories listed (also `count`, `get_many`, export).
    List,
    /// Several memories deleted (`delete_many`, `delete_namespace`, `sweep`).
    DeleteMany,
    /// Memories imported from JSON Lines.
    Import,
    /// Several queries answered in one call.
    RetrieveMany,
}

impl Op {
    /// Every operation.
    pub const ALL: [Op; 13] = [
        Op::Add,
        Op::AddBatch,
        Op::Get,
        Op::Delete,
        Op::Retrieve,
        Op::Context,
        Op::Save,
        Op::Load,
        Op::Update,
        Op::List,
        Op::DeleteMany,
        Op::Import,
        Op::RetrieveMany,
    ];

    /// The operation's name in metrics (`"add"`, `"add_batch"`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::AddBatch => "add_batch",
            Op::Get => "get",
            Op::Delete => "delete",
            Op::Retrieve => "retrieve",
            Op::Context => "context",
            Op::Save => "save",
            Op::Load => "load",
            Op::Update => "update",
            Op::List => "list",
            Op::DeleteMany => "delete_many",
            Op::Import => "import",
            Op::RetrieveMany => "retrieve_many",
        }
    }
}

/// The largest latency a histogram tracks (an hour, in µs); longer calls
/// count as this long.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A latency histogram (µs, 3 significant digits) that grows to the longest
/// latency recorded: allocated for the whole range up front, a store's 14
/// histograms took 2.6 MB, zeroed on every open.
fn histogram() -> Histogram<u64> {
    // A constant precision hdrhistogram accepts; a failure here is a bug we want loud in tests.
    Histogram::new(3).expect("valid histogram precision")
}

/// Records `latency_us`, clamped to 1..=[`MAX_LATENCY_US`].
fn record_latency(h: &mut Histogram<u64>, latency_us: u64) {
    let v = latency_us.clamp(1, MAX_LATENCY_US);
    // Growing can fail only for values far beyond the clamp; count it at the
    // top of the current range then.
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

#[derive(Debug)]
struct OpStats {
    calls: u64,
    errors: u64,
    hist: Histogram<u64>,
}

/// One second of the health window.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    second: u64,
    calls: u64,
    /// Failures that count for the breaker (the engine is in trouble).
    engine_errors: u64,
    /// Failures caused by the caller (bad input, unknown ids, limits, open breaker).
    caller_errors: u64,
    latency_sum_us: u64,
    max_latency_us: u64,
}

/// What the health report reads: the recent window only, so it recovers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowSummary {
    /// Calls in the window.
    pub calls: u64,
    /// Failed calls in the window that count for the breaker (TIMEOUT,
    /// MEMORY_CORRUPTION, IO, INTERNAL): the engine is in trouble.
    pub engine_errors: u64,
    /// Failed calls in the window caused by the caller (INVALID_DATA,
    /// NOT_FOUND, RESOURCE_EXHAUSTION, CIRCUIT_OPEN).
    pub caller_errors: u64,
    /// engine_errors / calls × 100 (0 without calls).
    pub error_rate_pct: f64,
    /// caller_errors / calls × 100 (0 without calls).
    pub caller_error_rate_pct: f64,
    /// Mean latency in the window, ms.
    pub avg_latency_ms: f64,
    /// Largest latency in the window, ms.
    pub max_latency_ms: f64,
}

#[derive(Debug)]
struct Inner {
    overall: Histogram<u64>,
    ops: Vec<OpStats>,
    calls: u64,
    errors: u64,
    latency_sum_us: u64,
    breakdown: BTreeMap<ErrorCode, u64>,
    window: Vec<Bucket>,
}

/// Records calls. Shared by every operation of one store.
#[derive(Debug)]
pub struct Recorder {
    monitoring: bool,
    start_us: u64,
    inner: Mutex<Inner>,
    pub(crate) drift_detections: AtomicU64,
    pub(crate) loop_preventions: AtomicU64,
    pub(crate) redundancy_filters: AtomicU64,
    pub(crate) fractal_overflows: AtomicU64,
    pub(crate) expired_removed: AtomicU64,
}

impl Recorder {
    /// A recorder whose uptime starts at `start_us`, with a `window_secs` health window.
    pub fn new(monitoring: bool, start_us: u64, window_secs: u32) -> Recorder {
        Recorder {
            monitoring,
            start_us,
            inner: Mutex::new(Inner {
                overall: histogram(),
                ops: Op::ALL.iter().map(|_| OpStats { calls: 0, errors: 0, hist: histogram() }).collect(),
                calls: 0,
                errors: 0,
                latency_sum_us: 0,
                breakdown: BTreeMap::new(),
                window: vec![Bucket::default(); window_secs.max(1) as usize],
            }),
            drift_detections: AtomicU64::new(0),
            loop_preventions: AtomicU64::new(0),
            redundancy_filters: AtomicU64::new(0),
            fractal_overflows: AtomicU64::new(0),
            expired_removed: AtomicU64::new(0),
        }
    }

    /// Bytes the recorder itself holds (its histograms' counters and the health
    /// window): the fixed cost of a store, whatever it holds.
    pub fn heap_bytes(&self) -> u64 {
        let g = self.inner.lock();
        let hist = |h: &Histogram<u64>| (h.distinct_values() * std::mem::size_of::<u64>()) as u64;
        let counters: u64 = hist(&g.overall) + g.ops.iter().map(|o| hist(&o.hist)).sum::<u64>();
        counters + (g.window.len() * std::mem::size_of::<Bucket>()) as u64
    }

    /// Records one finished call.
    pub fn record(&self, op: Op, latency_us: u64, outcome: Option<ErrorCode>, now_us: u64) {
        let mut g = self.inner.lock();
        let failed = outcome.is_some();
        g.calls += 1;
        let stats = &mut g.ops[op as usize];
        stats.calls += 1;
        if failed {
            stats.errors += 1;
        }
        if self.monitoring {
            record_latency(&mut stats.hist, latency_us);
        }
        if let Some(code) = outcome {
            g.errors += 1;
            *g.breakdown.entry(code).or_insert(0) += 1;
        }
        if !self.monitoring {
            return;
        }
        record_latency(&mut g.overall, latency_us);
        g.latency_sum_us = g.latency_sum_us.saturating_add(latency_us);
        let second = now_us / 1_000_000;
        let len = g.window.len() as u64;
        let b = &mut g.window[(second % len) as usize];
        if b.second != second {
            *b = Bucket { second, ..Bucket::default() };
        }
        b.calls += 1;
        match outcome {
            Some(code) if code.counts_for_breaker() => b.engine_errors += 1,
            Some(_) => b.caller_errors += 1,
            None => {}
        }
        b.latency_sum_us = b.latency_sum_us.saturating_add(latency_us);
        b.max_latency_us = b.max_latency_us.max(latency_us);
    }

    /// The health window ending at `now_us`.
    pub fn window(&self, now_us: u64) -> WindowSummary {
        let g = self.inner.lock();
        let now_s = now_us / 1_000_000;
        let len = g.window.len() as u64;
        let (mut calls, mut engine, mut caller, mut sum, mut max) = (0u64, 0u64, 0u64, 0u64, 0u64);
        for b in g.window.iter().filter(|b| b.calls > 0 && b.second + len > now_s && b.second <= now_s) {
            calls += b.calls;
            engine += b.engine_errors;
            caller += b.caller_errors;
            sum = sum.saturating_add(b.latency_sum_us);
            max = max.max(b.max_latency_us);
        }
        WindowSummary {
            calls,
            engine_errors: engine,
            caller_errors: caller,
            error_rate_pct: pct(engine, calls),
            caller_error_rate_pct: pct(caller, calls),
            avg_latency_ms: if calls == 0 { 0.0 } else { sum as f64 / calls as f64 / 1000.0 },
            max_latency_ms: max as f64 / 1000.0,
        }
    }

    /// Every figure: the recorder's own plus those the store passes in.
    pub(crate) fn report(&self, now_us: u64, rest: StoreFigures) -> MetricsReport {
        let g = self.inner.lock();
        let uptime_seconds = now_us.saturating_sub(self.start_us) as f64 / 1e6;
        let operations = Op::ALL
            .iter()
            .map(|&op| {
                let s = &g.ops[op as usize];
                (op.name().to_owned(), OpReport::from_hist(s.calls, s.errors, &s.hist))
            })
            .collect();
        let overall = OpReport::from_hist(g.calls, g.errors, &g.overall);
        MetricsReport {
            queries_processed: g.calls,
            qps: if uptime_seconds > 0.0 { g.calls as f64 / uptime_seconds } else { 0.0 },
            avg_latency_ms: if g.overall.is_empty() {
                0.0
            } else {
                g.latency_sum_us as f64 / g.overall.len() as f64 / 1000.0
            },
            p50_latency_ms: overall.p50_latency_ms,
            p95_latency_ms: overall.p95_latency_ms,
            p99_latency_ms: overall.p99_latency_ms,
            max_latency_ms: overall.max_latency_ms,
            error_count: g.errors,
            error_rate_pct: pct(g.errors, g.calls),
            error_breakdown: g.breakdown.iter().map(|(c, n)| (c.name().to_owned(), *n)).collect(),
            uptime_seconds,
            operations,
            drift_detections: self.drift_detections.load(Ordering::Relaxed),
            loop_preventions: self.loop_preventions.load(Ordering::Relaxed),
            redundancy_filters: self.redundancy_filters.load(Ordering::Relaxed),
            fractal_overflows: self.fractal_overflows.load(Ordering::Relaxed),
            expired_removed: self.expired_removed.load(Ordering::Relaxed),
            namespaces: rest.namespaces,
            log_lines_dropped: rest.log_lines_dropped,
            node_count: rest.node_count,
            edge_count: rest.edge_count,
            memory_estimate_bytes: rest.memory_estimate_bytes,
            capacity_pct: rest.capacity_pct,
            max_nodes: rest.max_nodes,
            circuit_breaker: rest.breaker,
            metabolism: rest.metabolism,
        }
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Counts and latency percentiles of one operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "OperationMetrics"))]
pub struct OpReport {
    /// Calls.
    pub count: u64,
    /// Calls whose latency the histogram holds (all of them while monitoring is on).
    #[serde(skip)]
    pub observed: u64,
    /// Failed calls.
    pub errors: u64,
    /// Mean latency, ms.
    pub avg_latency_ms: f64,
    /// Median latency, ms.
    pub p50_latency_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_latency_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_latency_ms: f64,
    /// Largest latency, ms.
    pub max_latency_ms: f64,
}

impl OpReport {
    fn from_hist(count: u64, errors: u64, h: &Histogram<u64>) -> OpReport {
        let q = |p: f64| {
            if h.is_empty() {
                0.0
            } else {
                ms(h.value_at_quantile(p))
            }
        };
        OpReport {
            count,
            observed: h.len(),
            errors,
            avg_latency_ms: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
            p50_latency_ms: q(0.50),
            p95_latency_ms: q(0.95),
            p99_latency_ms: q(0.99),
            max_latency_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
        }
    }
}

/// Every figure, as the metrics call returns it. Serialises to the
/// documented JSON keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "Metrics"))]
pub struct MetricsReport {
    /// All calls recorded (every operation, successful or not).
    pub queries_processed: u64,
    /// `queries_processed / uptime_seconds`.
    pub qps: f64,
    /// Mean latency over all calls, ms.
    pub avg_latency_ms: f64,
    /// Median latency over all calls, ms.
    pub p50_latency_ms: f64,
    /// 95th percentile, ms.
    pub p95_latency_ms: f64,
    /// 99th percentile, ms.
    pub p99_latency_ms: f64,
    /// Largest latency, ms.
    pub max_latency_ms: f64,
    /// Failed calls.
    pub error_count: u64,
    /// `error_count / queries_processed × 100`.
    pub error_rate_pct: f64,
    /// Failed calls by error name.
    #[cfg_attr(feature = "ts", ts(type = "Partial<Record<ErrorCode, number>>"))]
    pub error_breakdown: BTreeMap<String, u64>,
    /// Seconds since the store was built.
    pub uptime_seconds: f64,
    /// Per-operation counts and percentiles, keyed by [`Op::name`].
    pub operations: BTreeMap<String, OpReport>,
    /// Memories rejected by the drift guardrail.
    pub drift_detections: u64,
    /// Memories rejected by the loop guardrail.
    pub loop_preventions: u64,
    /// Memories rejected by the redundancy guardrail.
    pub redundancy_filters: u64,
    /// Edges moved to an overflow layer by relevance-based swapping.
    pub fractal_overflows: u64,
    /// Expired memories removed (on writes and by `sweep`).
    pub expired_removed: u64,
    /// Memories per namespace (namespaces that hold at least one).
    pub namespaces: BTreeMap<String, u64>,
    /// Log lines that could not be written (closed pipe, panicking callback) and were dropped.
    pub log_lines_dropped: u64,
    /// Memories stored.
    pub node_count: u64,
    /// Undirected honeycomb edges.
    pub edge_count: u64,
    /// Documented estimate of the store's size in bytes (see `Store::memory_estimate_bytes`).
    pub memory_estimate_bytes: u64,
    /// Largest of nodes / max_nodes and estimate / max_memory_mb, in %.
    pub capacity_pct: f64,
    /// The configured node limit.
    pub max_nodes: u64,
    /// The circuit breaker.
    pub circuit_breaker: BreakerSnapshot,
    /// The metabolism.
    pub metabolism: MetabolismReport,
}

impl MetricsReport {
    /// The report as a JSON object text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The same figures in the Prometheus text exposition format (version
    /// 0.0.4, `text/plain; version=0.0.4`). See [`MetricsReport::exposition`].
    pub fn to_prometheus(&self) -> String {
        self.exposition(Exposition::Prometheus)
    }

    /// The same figures in the OpenMetrics text format (1.0.0,
    /// `application/openmetrics-text; version=1.0.0`), ending with `# EOF`.
    pub fn to_openmetrics(&self) -> String {
        self.exposition(Exposition::OpenMetrics)
    }

    /// The figures as a scrape body, by the Prometheus conventions: base units
    /// (seconds, bytes), `_total` counters, latencies as a summary per
    /// operation (quantiles 0.5, 0.95, 0.99 from the latency histogram, with
    /// `_sum` and `_count`), and no derived figures (rates, percentages and
    /// averages are left to the query language). The library only builds the
    /// text; it never opens a socket.
    ///
    /// | family | type | labels |
    /// |---|---|---|
    /// | `ov_memory_calls_total` | counter | `operation` |
    /// | `ov_memory_call_errors_total` | counter | `operation` |
    /// | `ov_memory_errors_total` | counter | `code` |
    /// | `ov_memory_operation_duration_seconds` | summary | `operation`, `quantile` |
    /// | `ov_memory_uptime_seconds` | gauge | |
    /// | `ov_memory_drift_detections_total`, `_loop_preventions_total`, `_redundancy_filters_total`, `_fractal_overflows_total`, `_expired_removed_total`, `_log_lines_dropped_total` | counter | |
    /// | `ov_memory_memories`, `ov_memory_memories_limit`, `ov_memory_edges` | gauge | |
    /// | `ov_memory_namespace_memories` | gauge | `namespace` |
    /// | `ov_memory_memory_estimate_bytes` | gauge | |
    /// | `ov_memory_circuit_breaker_state` | gauge (1 for the current state) | `state` |
    /// | `ov_memory_circuit_breaker_opened_total`, `_rejected_total` | counter | |
    /// | `ov_memory_metabolism_used_tokens`, `_budget_tokens` | gauge | |
    ///
    /// The latency summary is present when monitoring is on and only for
    /// operations that were called.
    ///
    /// Written here rather than with the `prometheus-client` crate: that crate
    /// is built around metric objects in a registry (counters it increments,
    /// histograms it observes into; constant counters and gauges for
    /// collected values), has no summary type and writes the OpenMetrics
    /// text only, while these figures are a snapshot the recorder already
    /// holds (HDR histograms, quantiles to 3 significant digits) and are
    /// wanted in both formats. The tests check both texts with the official
    /// Python client's parsers.
    pub fn exposition(&self, format: Exposition) -> String {
        let om = format == Exposition::OpenMetrics;
        let mut out = String::new();
        // One metric family: HELP, TYPE (UNIT in OpenMetrics), then its samples
        // as (suffix, labels, value). A counter's family name has no `_total`
        // in OpenMetrics, while the 0.0.4 format names the sample itself.
        let mut family = |name: &str, kind: &str, unit: Option<&str>, help: &str, samples: &[(&str, String, f64)]| {
            let total = kind == "counter";
            let head = if total && !om { format!("ov_memory_{name}_total") } else { format!("ov_memory_{name}") };
            let _ = writeln!(out, "# HELP {head} {help}");
            let _ = writeln!(out, "# TYPE {head} {kind}");
            if let (true, Some(u)) = (om, unit) {
                let _ = writeln!(out, "# UNIT {head} {u}");
            }
            for (suffix, labels, v) in samples {
                let suffix = if total { "_total" } else { suffix };
                let _ = writeln!(out, "ov_memory_{name}{suffix}{labels} {}", prom_num(*v));
            }
        };
        let one = |v: f64| vec![("", String::new(), v)];
        let by_op = |f: &dyn Fn(&OpReport) -> u64| -> Vec<(&str, String, f64)> {
            self.operations.iter().map(|(op, r)| ("", format!("{{operation=\"{op}\"}}"), f(r) as f64)).collect()
        };
        family("calls", "counter", None, "Calls by operation.", &by_op(&|r| r.count));
        family("call_errors", "counter", None, "Failed calls by operation.", &by_op(&|r| r.errors));
        let by_code: Vec<_> = ErrorCode::all()[1..]
            .iter()
            .map(|c| {
                let n = self.error_breakdown.get(c.name()).copied().unwrap_or(0);
                ("", format!("{{code=\"{}\"}}", c.name()), n as f64)
            })
            .collect();
        family("errors", "counter", None, "Failed calls by error code.", &by_code);
        let mut latency = Vec::new();
        for (op, r) in self.operations.iter().filter(|(_, r)| r.observed > 0) {
            for (q, v) in [("0.5", r.p50_latency_ms), ("0.95", r.p95_latency_ms), ("0.99", r.p99_latency_ms)] {
                latency.push(("", format!("{{operation=\"{op}\",quantile=\"{q}\"}}"), v / 1000.0));
            }
            let l = format!("{{operation=\"{op}\"}}");
            latency.push(("_sum", l.clone(), r.avg_latency_ms * r.observed as f64 / 1000.0));
            latency.push(("_count", l, r.observed as f64));
        }
        family(
            "operation_duration_seconds",
            "summary",
            Some("seconds"),
            "Call latency by operation (quantiles from the latency histogram).",
            &latency,
        );
        family(
            "uptime_seconds",
            "gauge",
            Some("seconds"),
            "Seconds since the store was built.",
            &one(self.uptime_seconds),
        );
        for (name, help, v) in [
            ("drift_detections", "Memories rejected by the drift guardrail.", self.drift_detections),
            ("loop_preventions", "Memories rejected by the loop guardrail.", self.loop_preventions),
            ("redundancy_filters", "Memories rejected by the redundancy guardrail.", self.redundancy_filters),
            ("fractal_overflows", "Edges moved to overflow layers.", self.fractal_overflows),
            ("expired_removed", "Expired memories removed.", self.expired_removed),
            ("log_lines_dropped", "Log lines that could not be written and were dropped.", self.log_lines_dropped),
            ("circuit_breaker_opened", "Times the circuit breaker opened.", self.circuit_breaker.times_opened),
            ("circuit_breaker_rejected", "Calls rejected by the circuit breaker.", self.circuit_breaker.rejected_calls),
        ] {
            family(name, "counter", None, help, &one(v as f64));
        }
        family("memories", "gauge", None, "Memories stored.", &one(self.node_count as f64));
        family("memories_limit", "gauge", None, "The configured limit on memories.", &one(self.max_nodes as f64));
        family("edges", "gauge", None, "Honeycomb edges.", &one(self.edge_count as f64));
        let per_ns: Vec<_> = self
            .namespaces
            .iter()
            .map(|(ns, n)| ("", format!("{{namespace=\"{}\"}}", prom_label(ns)), *n as f64))
            .collect();
        family("namespace_memories", "gauge", None, "Memories stored per namespace.", &per_ns);
        family(
            "memory_estimate_bytes",
            "gauge",
            Some("bytes"),
            "Estimated size of the store.",
            &one(self.memory_estimate_bytes as f64),
        );
        let states: Vec<_> = ["CLOSED", "OPEN", "HALF_OPEN"]
            .iter()
            .map(|s| ("", format!("{{state=\"{s}\"}}"), f64::from(u8::from(self.circuit_breaker.state.name() == *s))))
            .collect();
        family("circuit_breaker_state", "gauge", None, "1 for the circuit breaker's current state.", &states);
        family(
            "metabolism_used_tokens",
            "gauge",
            None,
            "Tokens charged to the metabolism.",
            &one(self.metabolism.used_tokens as f64),
        );
        family(
            "metabolism_budget_tokens",
            "gauge",
            None,
            "Token budget of the metabolism.",
            &one(self.metabolism.budget_tokens as f64),
        );
        if om {
            out.push_str("# EOF\n");
        }
        out
    }
}

/// The two text formats of [`MetricsReport::exposition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Prometheus,
    /// OpenMetrics text 1.0.0 (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

/// A label value escaped as the exposition format requires (`\\`, `\"`, `\n`).
fn prom_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn prom_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

/// Figures the store knows and the recorder does not.
#[derive(Debug, Clone)]
pub(crate) struct StoreFigures {
    pub log_lines_dropped: u64,
    pub node_count: u64,
    pub edge_count: u64,
    pub memory_estimate_bytes: u64,
    pub capacity_pct: f64,
    pub max_nodes: u64,
    pub breaker: BreakerSnapshot,
    pub metabolism: MetabolismReport,
    pub namespaces: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> StoreFigures {
        StoreFigures {
            log_lines_dropped: 0,
            node_count: 0,
            edge_count: 0,
            memory_estimate_bytes: 0,
            capacity_pct: 0.0,
            max_nodes: 1,
            breaker: crate::breaker::Breaker::new(Default::default()).snapshot(0),
            metabolism: crate::metabolism::Metabolism::new(1).report(),
            namespaces: BTreeMap::new(),
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let r = Recorder::new(true, 0, 60);
        // 1..=1000 ms, one call each: p50 ≈ 500, p95 ≈ 950, p99 ≈ 990, max = 1000.
        for ms in 1..=1000u64 {
            r.record(Op::Retrieve, ms * 1000, None, 0);
        }
        let c = r.report(10_000_000, figures());
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.002 + 0.001;
        assert!(close(c.p50_latency_ms, 500.0), "{}", c.p50_latency_ms);
        assert!(close(c.p95_latency_ms, 950.0), "{}", c.p95_latency_ms);
        assert!(close(c.p99_latency_ms, 990.0), "{}", c.p99_latency_ms);
        assert!(close(c.max_latency_ms, 1000.0), "{}", c.max_latency_ms);
        assert!(close(c.avg_latency_ms, 500.5), "{}", c.avg_latency_ms);
        let op = &c.operations["retrieve"];
        assert_eq!(op.count, 1000);
        assert!(close(op.p95_latency_ms, 950.0));
        assert_eq!(c.operations["add"].count, 0);
        assert_eq!(c.qps, 100.0, "1000 calls in 10 s");
    }

    #[test]
    fn histograms_grow_with_the_latencies_and_stop_at_an_hour() {
        let r = Recorder::new(true, 0, 60);
        let empty = r.heap_bytes();
        assert!(empty < 512 * 1024, "a new recorder holds {empty} bytes");
        r.record(Op::Add, 0, None, 0);
        r.record(Op::Add, 5, None, 0);
        r.record(Op::Add, u64::MAX, None, 0);
        let c = r.report(1, figures());
        let add = &c.operations["add"];
        assert_eq!((add.count, add.observed), (3, 3));
        // Zero counts as 1 µs, anything beyond an hour as an hour (3 digits).
        let hour_ms = MAX_LATENCY_US as f64 / 1000.0;
        assert!((add.max_latency_ms - hour_ms).abs() <= hour_ms * 0.001, "{}", add.max_latency_ms);
        assert!(add.p50_latency_ms > 0.0 && add.p50_latency_ms <= 0.005, "{}", add.p50_latency_ms);
        assert!(r.heap_bytes() > empty, "the add histogram grew");
    }

    #[test]
    fn errors_by_name_and_rate() {
        let r = Recorder::new(true, 0, 60);
        r.record(Op::Add, 10, None, 0);
        r.record(Op::Add, 10, Some(ErrorCode::InvalidData), 0);
        r.record(Op::Get, 10, Some(ErrorCode::NotFound), 0);
        r.record(Op::Get, 10, Some(ErrorCode::NotFound), 0);
        let c = r.report(1, figures());
        assert_eq!(c.error_count, 3);
        assert_eq!(c.error_rate_pct, 75.0);
        assert_eq!(c.error_breakdown["NOT_FOUND"], 2);
        assert_eq!(c.error_breakdown["INVALID_DATA"], 1);
        assert_eq!(c.operations["get"].errors, 2);
    }

    #[test]
    fn window_forgets_old_seconds() {
        let r = Recorder::new(true, 0, 60);
        for _ in 0..10 {
            r.record(Op::Add, 2_000_000, Some(ErrorCode::Timeout), 5_000_000);
        }
        let w = r.window(5_000_000);
        assert_eq!((w.calls, w.engine_errors, w.caller_errors), (10, 10, 0));
        assert_eq!(w.error_rate_pct, 100.0);
        assert_eq!(w.max_latency_ms, 2000.0);
        assert_eq!(r.window(64_999_999).calls, 10, "still inside 60 s");
        assert_eq!(r.window(65_000_000).calls, 0, "gone after 60 s");
        r.record(Op::Add, 1000, None, 65_000_000);
        let w = r.window(65_000_000);
        assert_eq!((w.calls, w.engine_errors, w.avg_latency_ms), (1, 0, 1.0));
        r.record(Op::Get, 1000, Some(ErrorCode::NotFound), 65_000_000);
        let w = r.window(65_000_000);
        assert_eq!((w.calls, w.engine_errors, w.caller_errors), (2, 0, 1));
        assert_eq!((w.error_rate_pct, w.caller_error_rate_pct), (0.0, 50.0));
    }

    #[test]
    fn monitoring_off_keeps_counts_but_no_latency() {
        let r = Recorder::new(false, 0, 60);
        r.record(Op::Add, 5000, Some(ErrorCode::Io), 0);
        let c = r.report(1_000_000, figures());
        assert_eq!((c.queries_processed, c.error_count), (1, 1));
        assert_eq!(c.max_latency_ms, 0.0);
        assert_eq!(r.window(0).calls, 0);
    }
}
