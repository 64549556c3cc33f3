//! The production promises–§9 and §11, tested through the public API.

use ov_memory::{
    AddOptions, BreakerState, Clock, Config, ContextOptions, ErrorCode, HealthStatus, Level, LogSink, ManualClock,
    NewMemory, OVMemoryProduction, RetrieveOptions, Store,
};
use parking_lot::Mutex;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

fn store_with(config: Config) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    (Store::with_clock(config, clock.clone()).unwrap(), clock)
}

fn small(dim: usize) -> Config {
    Config { embedding_dim: dim, ..Config::default() }
}

fn vec_for(i: u64, dim: usize) -> Vec<f32> {
    (0..dim).map(|j| ((i as f32 + 1.0) * (j as f32 + 0.5)).sin()).collect()
}

fn capture_logs(store: &Store) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l2 = lines.clone();
    store.set_log_sink(LogSink::Callback(Arc::new(move |s: &str| l2.lock().push(s.to_owned()))));
    lines
}

/// Everything a rejected call must leave alone: memories, edges, breaker, metabolism.
fn fingerprint(s: &Store) -> Value {
    let m = s.metrics();
    let nodes: Vec<Value> = s
        .ids()
        .into_iter()
        .map(|id| {
            let x = s.get(id).unwrap();
            json!([id, x.text, x.weight, x.metadata, x.neighbors, x.access_count])
        })
        .collect();
    json!({
        "nodes": nodes,
        "edges": s.edge_count(),
        "estimate": s.memory_estimate_bytes(),
        "breaker": [m.circuit_breaker.state.name(), m.circuit_breaker.consecutive_failures, m.circuit_breaker.times_opened],
        "metabolism": m.metabolism.used_tokens,
    })
}

#[derive(Debug, Clone)]
enum BadAdd {
    Length(usize),
    NonFinite(usize, f32),
    Zero,
    Text(String),
    Weight(f64),
    Metadata(Value),
    Timeout,
}

fn bad_add() -> impl Strategy<Value = BadAdd> {
    prop_oneof![
        (0usize..16).prop_filter("not 8", |n| *n != 8).prop_map(BadAdd::Length),
        (0usize..8, prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)])
            .prop_map(|(i, v)| BadAdd::NonFinite(i, v)),
        Just(BadAdd::Zero),
        prop_oneof![Just(String::new()), "[ \t\n\r]{1,8}".prop_map(String::from)].prop_map(BadAdd::Text),
        prop_oneof![Just(0.0), Just(-1.0), Just(f64::NAN), Just(f64::INFINITY), Just(-0.0), Just(f64::NEG_INFINITY)]
            .prop_map(BadAdd::Weight),
        prop_oneof![
            Just(json!([1])),
            Just(json!("s")),
            Just(json!(3)),
            Just(json!(true)),
            Just(json!({"big": "x".repeat(70_000)}))
        ]
        .prop_map(BadAdd::Metadata),
        Just(BadAdd::Timeout),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// invalid input is rejected before anything changes.
    #[test]
    fn rejected_input_changes_nothing(n in 1u64..20, bad in bad_add()) {
        let (s, clock) = store_with(small(8));
        for i in 0..n {
            s.add(&vec_for(i, 8), &format!("memory {i}"), AddOptions::default()).unwrap();
        }
        let before = fingerprint(&s);
        let mut v = vec_for(99, 8);
        let mut text = "fine".to_owned();
        let mut opts = AddOptions::default();
        let mut want = ErrorCode::InvalidData;
        match bad.clone() {
            BadAdd::Length(l) => v.resize(l, 0.1),
            BadAdd::NonFinite(i, x) => v[i] = x,
            BadAdd::Zero => v = vec![0.0; 8],
            BadAdd::Text(t) => text = t,
            BadAdd::Weight(w) => opts.weight = Some(w),
            BadAdd::Metadata(m) => opts.metadata = Some(m),
            BadAdd::Timeout => {
                clock.set_auto_advance_micros(5_000);
                opts.timeout_ms = Some(1);
                want = ErrorCode::Timeout;
            }
        }
        let e = s.add(&v, &text, opts).unwrap_err();
        clock.set_auto_advance_micros(0);
        prop_assert_eq!(e.code(), want, "{:?} {}", bad, e);
        let mut after = fingerprint(&s);
        if want == ErrorCode::Timeout {
            // A timeout counts for the breaker (that is its job); nothing else moved.
            prop_assert_eq!(&after["breaker"][1], &json!(1));
            after["breaker"] = before["breaker"].clone();
        }
        prop_assert_eq!(before, after);
        s.check_integrity().unwrap();
        // The batch path rejects the same way, whole.
        let good = vec_for(7, 8);
        let items = [NewMemory { embedding: &good, text: "ok", weight: None, metadata: None, created_at: None, ..Default::default() },
                     NewMemory { embedding: &good[..4], text: "short", weight: None, metadata: None, created_at: None, ..Default::default() }];
        let e = s.add_batch(&items, None).unwrap_err();
        prop_assert_eq!(e.code(), ErrorCode::InvalidData);
        prop_assert_eq!(&e.context()["index"], &json!(1));
        prop_assert_eq!(s.len() as u64, n);
    }
}

#[test]
fn error_context_names_the_problem() {
    let (s, _) = store_with(small(768));
    let e = s.add(&[0.5; 512], "text", AddOptions::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidData);
    assert_eq!(e.context()["expected"], 768);
    assert_eq!(e.context()["got"], 512);
    assert_eq!(e.code().as_u32(), 1);
    assert!(e.to_string().starts_with("INVALID_DATA: "));
    let e = s.get(42).unwrap_err();
    assert_eq!((e.code(), e.context()["id"].clone()), (ErrorCode::NotFound, json!(42)));
}

#[test]
fn error_codes_are_stable() {
    let names: Vec<(u32, &str, bool)> =
        ErrorCode::all().iter().map(|c| (c.as_u32(), c.name(), c.counts_for_breaker())).collect();
    assert_eq!(
        names,
        vec![
            (0, "OK", false),
            (1, "INVALID_DATA", false),
            (2, "NOT_FOUND", false),
            (3, "RESOURCE_EXHAUSTION", false),
            (4, "TIMEOUT", true),
            (5, "CIRCUIT_OPEN", false),
            (6, "MEMORY_CORRUPTION", true),
            (7, "IO", true),
            (8, "INTERNAL", true),
        ]
    );
    assert_eq!(ErrorCode::from_u32(9), None);
}

#[test]
fn max_memory_mb_is_checked_against_the_estimate() {
    let (s, _) = store_with(Config { embedding_dim: 16, max_memory_mb: Some(0.01), ..Config::default() });
    let limit = (0.01 * 1024.0 * 1024.0) as u64;
    let mut added = 0;
    let err = loop {
        match s.add(&vec_for(added, 16), "a memory of modest size", AddOptions::default()) {
            Ok(_) => added += 1,
            Err(e) => break e,
        }
        assert!(added < 1000, "the limit never tripped");
    };
    assert_eq!(err.code(), ErrorCode::ResourceExhaustion);
    assert!(added > 5, "only {added} fit");
    assert!(s.memory_estimate_bytes() <= limit);
    assert_eq!(s.len() as u64, added);
    let m = s.metrics();
    assert!(m.capacity_pct > 80.0 && m.capacity_pct <= 100.0, "{}", m.capacity_pct);
    assert_eq!(s.health().status, HealthStatus::Warning, "capacity >= 80 % warns");
}

#[test]
fn estimate_follows_the_documented_formula() {
    let (s, _) = store_with(small(4));
    let a = s.add(&[1.0, 0.0, 0.0, 0.0], "abc", AddOptions::default()).unwrap();
    // The row (4·dim) and the index's 8-bit copy (4·⌈dim/4⌉ + 4).
    let row = 4 * 4 + (4 + 4);
    assert_eq!(s.memory_estimate_bytes(), row + 3 + ov_memory::NODE_OVERHEAD_BYTES);
    s.add(&[1.0, 0.1, 0.0, 0.0], "de", AddOptions { metadata: Some(json!({"k": 1})), ..AddOptions::default() })
        .unwrap();
    let meta = r#"{"k":1}"#.len() as u64;
    let nodes = 2 * (row + ov_memory::NODE_OVERHEAD_BYTES) + 3 + 2 + meta;
    assert_eq!(s.memory_estimate_bytes(), nodes + 2 * ov_memory::EDGE_BYTES, "one edge, two ends");
    s.delete(a).unwrap();
    assert_eq!(s.memory_estimate_bytes(), row + ov_memory::NODE_OVERHEAD_BYTES + 2 + meta);
}

#[test]
fn text_and_metadata_limits() {
    let (s, _) =
        store_with(Config { embedding_dim: 2, max_text_chars: 5, max_metadata_bytes: 10, ..Config::default() });
    assert!(s.add(&[1.0, 0.0], "héllo", AddOptions::default()).is_ok(), "5 chars, 6 bytes");
    let e = s.add(&[1.0, 0.0], "héllo!", AddOptions::default()).unwrap_err();
    assert_eq!((e.code(), e.context()["limit"].clone()), (ErrorCode::InvalidData, json!(5)));
    let big = AddOptions { metadata: Some(json!({"a": "123"})), ..AddOptions::default() }; // {"a":"123"}: 11 bytes
    assert_eq!(s.add(&[1.0, 0.0], "x", big).unwrap_err().code(), ErrorCode::InvalidData);
    let ok = AddOptions { metadata: Some(json!({"a": "12"})), ..AddOptions::default() }; // 10 bytes
    assert!(s.add(&[1.0, 0.0], "x", ok).is_ok());
}

#[test]
fn timed_out_add_changes_nothing_and_counts_for_the_breaker() {
    let (s, clock) = store_with(small(8));
    for i in 0..3000 {
        s.add(&vec_for(i, 8), "m", AddOptions::default()).unwrap();
    }
    let before = fingerprint(&s);
    // 1 ms per clock read: the deadline (1 ms) passes at the first check after
    // the start, while the new memory's links are being planned (through the
    // approximate index: 3000 memories are past the exact-planning size).
    clock.set_auto_advance_micros(1_000);
    let e = s.add(&vec_for(5000, 8), "late", AddOptions { timeout_ms: Some(1), ..AddOptions::default() }).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Timeout);
    assert_eq!(e.context()["timeout_ms"], 1);
    clock.set_auto_advance_micros(0);
    let after = fingerprint(&s);
    assert_eq!(before["nodes"], after["nodes"]);
    assert_eq!(before["edges"], after["edges"]);
    assert_eq!(s.metrics().circuit_breaker.consecutive_failures, 1);
    // Ids stay dense: the failed add consumed none.
    assert_eq!(s.add(&vec_for(1, 8), "next", AddOptions::default()).unwrap(), 3001);
}

/// The breaker through the store: counted failures open it, guarded calls are
/// rejected, unguarded ones are not, and it recovers on the manual clock.
#[test]
fn breaker_through_the_store() {
    let (s, clock) = store_with(small(4));
    let logs = capture_logs(&s);
    s.add(&[1.0, 0.0, 0.0, 0.0], "seed", AddOptions::default()).unwrap();
    // Caller errors never count.
    for _ in 0..20 {
        s.add(&[f32::NAN; 4], "bad", AddOptions::default()).unwrap_err();
        s.delete(999).unwrap_err();
    }
    assert_eq!(s.metrics().circuit_breaker.state, BreakerState::Closed);
    assert_eq!(s.metrics().circuit_breaker.consecutive_failures, 0);
    // Five timeouts in a row open it.
    clock.set_auto_advance_micros(3_000);
    for _ in 0..5 {
        let e = s.add(&[0.0, 1.0, 0.0, 0.0], "t", AddOptions { timeout_ms: Some(1), ..AddOptions::default() });
        assert_eq!(e.unwrap_err().code(), ErrorCode::Timeout);
    }
    clock.set_auto_advance_micros(0);
    assert_eq!(s.metrics().circuit_breaker.state, BreakerState::Open);
    let critical: Vec<Value> = logs
        .lock()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["level"] == "CRITICAL")
        .collect();
    assert_eq!(critical.len(), 1, "opening logs CRITICAL once");
    assert_eq!(critical[0]["message"], "circuit breaker opened");
    // Guarded operations are rejected; get, health and metrics are not.
    assert_eq!(s.add(&[0.0, 1.0, 0.0, 0.0], "x", AddOptions::default()).unwrap_err().code(), ErrorCode::CircuitOpen);
    assert_eq!(s.delete(1).unwrap_err().code(), ErrorCode::CircuitOpen);
    assert_eq!(s.get(1).unwrap().text, "seed");
    let h = s.health();
    assert_eq!((h.status, h.circuit_breaker), (HealthStatus::Critical, BreakerState::Open));
    assert_eq!(s.metrics().error_breakdown["CIRCUIT_OPEN"], 2);
    // 30 s later it half-opens; three successes close it.
    clock.advance_ms(29_999);
    assert_eq!(s.add(&[0.0, 1.0, 0.0, 0.0], "x", AddOptions::default()).unwrap_err().code(), ErrorCode::CircuitOpen);
    clock.advance_ms(1);
    assert_eq!(s.health().circuit_breaker, BreakerState::HalfOpen);
    for i in 0..3 {
        s.add(&[0.0, 1.0, i as f32, 0.0], "probe", AddOptions::default()).unwrap();
    }
    assert_eq!(s.metrics().circuit_breaker.state, BreakerState::Closed);
    // Manual reset.
    clock.set_auto_advance_micros(3_000);
    for _ in 0..5 {
        let _ = s.add(&[0.0, 1.0, 0.0, 0.0], "t", AddOptions { timeout_ms: Some(1), ..AddOptions::default() });
    }
    clock.set_auto_advance_micros(0);
    assert_eq!(s.metrics().circuit_breaker.state, BreakerState::Open);
    s.reset_breaker();
    assert!(s.add(&[0.0, 0.0, 1.0, 0.0], "after reset", AddOptions::default()).is_ok());
}

/// A clock that panics on one chosen read, to reach the INTERNAL path.
#[derive(Debug)]
struct PanickingClock {
    inner: ManualClock,
    reads: AtomicU64,
    panic_on: u64,
}

impl Clock for PanickingClock {
    fn monotonic_micros(&self) -> u64 {
        if self.reads.fetch_add(1, Ordering::SeqCst) == self.panic_on {
            panic!("clock failure");
        }
        self.inner.monotonic_micros()
    }
    fn unix_millis(&self) -> i64 {
        self.inner.unix_millis()
    }
}

#[test]
fn a_panic_inside_an_operation_is_internal_and_counted() {
    // Read 0 is the store's start; read 1 the call's start; read 2 the deadline (inside the call).
    let clock = Arc::new(PanickingClock { inner: ManualClock::new(), reads: AtomicU64::new(0), panic_on: 2 });
    let s = Store::with_clock(small(2), clock).unwrap();
    let e = s.add(&[1.0, 0.0], "x", AddOptions::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Internal);
    assert!(e.message().contains("clock failure"));
    assert_eq!(s.len(), 0);
    let m = s.metrics();
    assert_eq!(m.circuit_breaker.consecutive_failures, 1);
    assert_eq!(m.error_breakdown["INTERNAL"], 1);
    assert!(s.add(&[1.0, 0.0], "x", AddOptions::default()).is_ok(), "the store stays usable");
}

#[test]
fn health_recovers_after_the_window() {
    let (s, clock) = store_with(small(2));
    s.add(&[1.0, 0.0], "x", AddOptions::default()).unwrap();
    assert_eq!(s.health().status, HealthStatus::Healthy);
    // Engine trouble (corrupt snapshots count for the breaker): CRITICAL.
    for _ in 0..3 {
        s.load_bytes(b"not a snapshot").unwrap_err();
    }
    let h = s.health();
    assert_eq!(h.status, HealthStatus::Critical, "{:?}", h.reasons);
    assert_eq!(h.error_rate_pct, 75.0);
    assert_eq!(h.caller_error_rate_pct, 0.0);
    assert!(h.reasons[0].contains("error rate"));
    clock.advance_ms(59_000);
    assert_eq!(s.health().status, HealthStatus::Critical, "still inside the window");
    clock.advance_ms(2_000);
    let h = s.health();
    assert_eq!(h.status, HealthStatus::Healthy, "{:?}", h.reasons);
    assert_eq!(h.metrics.error_count, 3, "lifetime figures remain");
    // 1 engine error in 20 calls = 5 % → WARNING.
    for _ in 0..19 {
        s.get(1).unwrap();
    }
    s.load_bytes(b"junk").unwrap_err();
    assert_eq!(s.health().status, HealthStatus::Warning);
}

#[test]
fn caller_errors_never_make_an_outage() {
    let (s, _clock) = store_with(small(2));
    s.add(&[1.0, 0.0], "x", AddOptions::default()).unwrap();
    // One malformed call among three is a client's problem: WARNING, not CRITICAL.
    s.get(404).unwrap_err();
    s.get(1).unwrap();
    let h = s.health();
    assert_eq!(h.status, HealthStatus::Warning, "{:?}", h.reasons);
    assert_eq!(h.error_rate_pct, 0.0);
    assert!((h.caller_error_rate_pct - 33.333).abs() < 1e-9, "{}", h.caller_error_rate_pct);
    for _ in 0..200 {
        s.add(&[0.0, 0.0], "zero vector", AddOptions::default()).unwrap_err();
    }
    assert_eq!(s.health().status, HealthStatus::Warning, "never more than WARNING");
}

#[test]
fn one_slow_first_call_leaves_a_fresh_store_healthy() {
    let (s, clock) = store_with(small(2));
    clock.set_auto_advance_micros(2_000_000); // every clock read moves 2 s: a very slow call
    s.add(&[1.0, 0.0], "x", AddOptions { timeout_ms: Some(3_600_000), ..AddOptions::default() }).unwrap();
    clock.set_auto_advance_micros(0);
    let h = s.health();
    assert_eq!(h.status, HealthStatus::Healthy, "{:?}", h.reasons);
    assert!(h.metrics.avg_latency_ms > 1000.0, "the slow call was recorded: {:?}", h.metrics);
}

#[test]
fn health_json_is_compact_and_complete() {
    let (s, _) = store_with(small(768));
    s.add(&[0.5; 768], "text", AddOptions { weight: Some(0.9), ..AddOptions::default() }).unwrap();
    let text = s.health_json();
    assert!(text.len() < 512, "{} bytes", text.len());
    let v: Value = serde_json::from_str(&text).unwrap();
    for k in ["status", "error_rate_pct", "circuit_breaker", "reasons", "metrics", "timestamp"] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    for k in
        ["queries", "qps", "avg_latency_ms", "p95_latency_ms", "p99_latency_ms", "error_count", "nodes", "capacity_pct"]
    {
        assert!(v["metrics"].get(k).is_some(), "missing metrics.{k}");
    }
    assert_eq!(v["status"], "HEALTHY");
    assert_eq!(v["timestamp"], "2023-11-14T22:13:20.000Z");
}

#[test]
fn metrics_have_every_documented_key_and_prometheus_agrees() {
    let (s, clock) = store_with(small(2));
    clock.set_auto_advance_micros(250); // every call takes a measurable time
    s.add(&[1.0, 0.0], "a", AddOptions::default()).unwrap();
    s.add(&[0.9, 0.1], "b", AddOptions::default()).unwrap();
    s.get(7).unwrap_err();
    clock.set_auto_advance_micros(0);
    let v: Value = serde_json::from_str(&s.metrics_json()).unwrap();
    for k in [
        "queries_processed",
        "qps",
        "avg_latency_ms",
        "p50_latency_ms",
        "p95_latency_ms",
        "p99_latency_ms",
        "max_latency_ms",
        "error_count",
        "error_rate_pct",
        "error_breakdown",
        "uptime_seconds",
        "operations",
        "drift_detections",
        "loop_preventions",
        "redundancy_filters",
        "fractal_overflows",
        "node_count",
        "edge_count",
        "memory_estimate_bytes",
        "capacity_pct",
        "circuit_breaker",
        "metabolism",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["queries_processed"], 3);
    assert_eq!(v["error_count"], 1);
    assert_eq!(v["error_breakdown"]["NOT_FOUND"], 1);
    assert_eq!(v["operations"]["add"]["count"], 2);
    assert_eq!(v["node_count"], 2);
    assert_eq!(v["edge_count"], 1);
    assert_eq!(v["circuit_breaker"]["state"], "CLOSED");
    assert_eq!(v["metabolism"]["state"], "HEALTHY");
    assert!(v["p50_latency_ms"].as_f64().unwrap() > 0.0);
    let error_rate = v["error_rate_pct"].as_f64().unwrap();
    assert!((error_rate - 100.0 / 3.0).abs() < 1e-9);
    let prom = s.prometheus();
    assert!(prom.contains("# TYPE ov_memory_calls_total counter\n"), "{prom}");
    assert!(prom.contains("ov_memory_calls_total{operation=\"add\"} 2\n"), "{prom}");
    assert!(prom.contains("ov_memory_calls_total{operation=\"get\"} 1\n"));
    assert!(prom.contains("ov_memory_errors_total{code=\"NOT_FOUND\"} 1\n"));
    assert!(prom.contains("ov_memory_call_errors_total{operation=\"get\"} 1\n"));
    assert!(prom.contains("ov_memory_memories 2\n"));
    assert!(prom.contains("ov_memory_circuit_breaker_state{state=\"CLOSED\"} 1\n"));
    // Latency in seconds, as a summary (quantiles, _sum, _count) per operation.
    assert!(prom.contains("# TYPE ov_memory_operation_duration_seconds summary\n"));
    let add = &v["operations"]["add"];
    let p50 = add["p50_latency_ms"].as_f64().unwrap() / 1000.0;
    let line = format!("ov_memory_operation_duration_seconds{{operation=\"add\",quantile=\"0.5\"}} {p50}\n");
    assert!(prom.contains(&line), "{line} in {prom}");
    assert!(prom.contains("ov_memory_operation_duration_seconds_count{operation=\"add\"} 2\n"));
    // No derived figures and no milliseconds.
    for gone in ["qps", "_pct", "_ms", "avg"] {
        assert!(!prom.contains(gone), "{gone} in {prom}");
    }
    for line in prom.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(name.starts_with("ov_memory_"), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    // OpenMetrics: the same samples; counter families named without _total, units, # EOF.
    let om = s.openmetrics();
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE ov_memory_calls counter\n"), "{om}");
    assert!(om.contains("# UNIT ov_memory_operation_duration_seconds seconds\n"), "{om}");
    let samples = |t: &str| t.lines().filter(|l| !l.starts_with('#')).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(samples(&om), samples(&prom));
}

#[test]
fn logs_are_json_lines_and_text_stays_below_debug() {
    let (s, _) = store_with(small(2));
    let logs = capture_logs(&s);
    let hostile = "secret \"quoted\" \\ \n\r\t\u{0}\u{7f} </script> 🐢";
    s.add(&[1.0, 0.0], hostile, AddOptions::default()).unwrap();
    s.add(&[2.0, 0.0], hostile, AddOptions::default()).unwrap(); // > 1: WARNING
    {
        let lines = logs.lock();
        assert!(lines.len() >= 3, "{lines:?}");
        for l in lines.iter() {
            let v: Value = serde_json::from_str(l).unwrap();
            assert!(!l.contains("secret"), "text above DEBUG: {l}");
            assert!(["INFO", "WARNING"].contains(&v["level"].as_str().unwrap()));
            assert!(v["timestamp"].is_string() && v["fields"].is_object() && v["message"].is_string());
        }
        assert!(lines.iter().any(|l| l.contains("outside [-1, 1]")));
    }
    logs.lock().clear();
    s.set_log_level(Level::Debug);
    s.add(&[1.0, 1.0], hostile, AddOptions::default()).unwrap();
    let lines = logs.lock();
    let debug: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(debug.iter().any(|v| v["level"] == "DEBUG" && v["fields"]["text"] == hostile));
    s.set_log_level(Level::Critical);
}

/// The child side of the next test: logs through the sink named in the environment.
#[test]
#[ignore = "run by stderr_and_stdout_sinks_write_json_lines"]
fn sink_child() {
    let Some(sink) = std::env::var_os("OV_SINK") else { return };
    let s = Store::new(small(2)).unwrap();
    s.set_log_sink(if sink == "stderr" { LogSink::Stderr } else { LogSink::Stdout });
    s.add(&[1.0, 0.0], "secret text", AddOptions::default()).unwrap();
    s.get(9).unwrap_err();
}

#[test]
fn stderr_and_stdout_sinks_write_json_lines() {
    let exe = std::env::current_exe().unwrap();
    for sink in ["stderr", "stdout"] {
        let out = std::process::Command::new(&exe)
            .args(["--exact", "sink_child", "--ignored", "--nocapture", "--test-threads=1", "-q"])
            .env("OV_SINK", sink)
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(if sink == "stderr" { out.stderr } else { out.stdout }).unwrap();
        let records: Vec<Value> = text
            .lines()
            .filter(|l| l.starts_with("{\"timestamp\""))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(records.iter().any(|r| r["level"] == "INFO" && r["message"] == "memory added"), "{sink}: {text}");
        assert!(records.iter().any(|r| r["level"] == "WARNING" && r["fields"]["code"] == "NOT_FOUND"), "{sink}");
        assert!(!text.contains("secret text"), "text only at DEBUG");
    }
}

/// The child side of the next test: stderr becomes a pipe whose reader is gone.
#[test]
#[ignore = "run by a_closed_log_pipe_never_fails_an_operation"]
fn broken_pipe_child() {
    if std::env::var_os("OV_BROKEN_PIPE").is_none() {
        return;
    }
    let mut fds = [0; 2];
    // SAFETY: plain POSIX calls on descriptors this process owns. Rust ignores
    // SIGPIPE, as servers do, so a write to the closed pipe fails with EPIPE.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        assert!(libc::dup2(fds[1], 2) >= 0);
    }
    let s = Store::new(small(2)).unwrap();
    s.set_log_sink(LogSink::Stderr);
    let a = s.add(&[1.0, 0.0], "first", AddOptions::default()).unwrap();
    let b = s.add(&[0.0, 1.0], "second", AddOptions::default()).unwrap();
    s.get(99).unwrap_err();
    let m = s.metrics();
    println!("CHILD ids={a},{b} count={} dropped={}", s.len(), m.log_lines_dropped);
}

#[test]
fn a_closed_log_pipe_never_fails_an_operation() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", "broken_pipe_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("OV_BROKEN_PIPE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let at = stdout.find("CHILD ").unwrap_or_else(|| panic!("{stdout}"));
    let line = stdout[at..].lines().next().unwrap();
    assert!(line.starts_with("CHILD ids=1,2 count=2 dropped="), "{line}");
    let dropped: u64 = line.rsplit('=').next().unwrap().parse().unwrap();
    assert!(dropped >= 3, "every line was dropped and counted: {line}");
}

/// After `set_log_sink` returns, the old sink never runs again, even while
/// other threads are logging (a C host may free the old callback's data then).
#[test]
fn a_replaced_sink_is_never_called_again() {
    let s = Arc::new(Store::new(Config { embedding_dim: 2, max_nodes: 1_000_000, ..Config::default() }).unwrap());
    let violations = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sink = |retired: Arc<std::sync::atomic::AtomicBool>| {
        let (v, c) = (violations.clone(), calls.clone());
        LogSink::Callback(Arc::new(move |_: &str| {
            c.fetch_add(1, Ordering::Relaxed);
            // Widen the race window: a delivery that started before the swap is still running.
            std::thread::yield_now();
            if retired.load(Ordering::SeqCst) {
                v.fetch_add(1, Ordering::SeqCst);
            }
        }))
    };
    let mut retired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    s.set_log_sink(sink(retired.clone()));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let _ = s.get(t * 1_000_000 + i); // NOT_FOUND: one WARNING line each
                }
            })
        })
        .collect();
    for _ in 0..300 {
        // Let the workers log through the current sink before replacing it.
        let before = calls.load(Ordering::SeqCst);
        while calls.load(Ordering::SeqCst) < before + 2 {
            std::thread::yield_now();
        }
        let next = Arc::new(std::sync::atomic::AtomicBool::new(false));
        s.set_log_sink(sink(next.clone()));
        // The host frees the old callback's data right away: it must never run again.
        retired.store(true, Ordering::SeqCst);
        retired = next;
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    assert!(calls.load(Ordering::Relaxed) > 300, "the callbacks ran");
    assert_eq!(violations.load(Ordering::SeqCst), 0, "an old sink ran after set_log_sink returned");
}

/// A callback may replace the sink from inside itself without deadlocking.
#[test]
fn a_callback_may_replace_its_own_sink() {
    let s = Arc::new(Store::new(small(2)).unwrap());
    let weak = Arc::downgrade(&s);
    let seen = Arc::new(AtomicU64::new(0));
    let seen2 = seen.clone();
    s.set_log_sink(LogSink::Callback(Arc::new(move |_: &str| {
        seen2.fetch_add(1, Ordering::SeqCst);
        if let Some(s) = weak.upgrade() {
            s.set_log_sink(LogSink::None);
        }
    })));
    s.add(&[1.0, 0.0], "x", AddOptions::default()).unwrap();
    s.add(&[0.0, 1.0], "y", AddOptions::default()).unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1, "replaced after the first line");
}

/// Subnormal or huge vectors would get wrong cosines (a vector of 384 × 1e-40
/// scored as a perfect match for half of all queries): rejected up front.
#[test]
fn embeddings_with_unrepresentable_norms_are_rejected() {
    let (s, _) = store_with(small(384));
    let ordinary: Vec<f32> = (0..384).map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0).collect();
    s.add(&ordinary, "ordinary", AddOptions::default()).unwrap();
    let before = fingerprint(&s);
    for (what, v) in [
        ("subnormal", vec![1e-40f32; 384]),
        ("tiny", vec![1e-13f32; 384]),
        ("huge", {
            let mut v = vec![0.0f32; 384];
            v[3] = 3e38;
            v
        }),
        ("large", vec![1e9f32; 384]),
    ] {
        let e = s.add(&v, what, AddOptions::default()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidData, "{what}");
        assert!(e.context().contains_key("norm") && e.context()["min"] == 1e-10, "{what}: {e}");
        let e = s.retrieve(&v, &RetrieveOptions::top_k(1)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidData, "{what} as a query");
    }
    assert_eq!(fingerprint(&s), before, "rejected adds changed nothing");
    // Inside the range, scaled copies score exactly like the original.
    for scale in [1e-9f32, 1e-3, 1e3, 1e8] {
        let v: Vec<f32> = ordinary.iter().map(|x| x * scale).collect();
        let hit = &s.retrieve(&v, &RetrieveOptions { alpha: Some(1.0), ..RetrieveOptions::top_k(1) }).unwrap()[0];
        assert!((hit.score.s - 1.0).abs() < 1e-6, "scale {scale}: S = {}", hit.score.s);
    }
}

#[test]
fn silent_by_default() {
    // No sink: nothing is written anywhere, and nothing is even formatted.
    let (s, _) = store_with(small(2));
    s.add(&[1.0, 0.0], "x", AddOptions::default()).unwrap();
    assert_eq!(s.log_level(), Level::Info);
}

/// no callback runs under an internal lock. The callback calls back into
/// the store (a read and a write); if a lock were held, this would deadlock.
#[test]
fn log_callback_may_call_back_into_the_store() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let s = Arc::new(Store::new(small(2)).unwrap());
        let weak = Arc::downgrade(&s);
        let reentered = Arc::new(AtomicU64::new(0));
        let r2 = reentered.clone();
        s.set_log_sink(LogSink::Callback(Arc::new(move |_line: &str| {
            if let Some(s) = weak.upgrade() {
                if r2.fetch_add(1, Ordering::SeqCst) == 0 {
                    let _ = s.len();
                    let _ = s.metrics();
                    s.add(&[0.0, 1.0], "from the callback", AddOptions::default()).unwrap();
                }
            }
        })));
        s.add(&[1.0, 0.0], "x", AddOptions::default()).unwrap();
        tx.send((s.len(), reentered.load(Ordering::SeqCst))).unwrap();
    });
    let (len, reentered) = rx.recv_timeout(Duration::from_secs(20)).expect("deadlock: callback ran under a lock");
    assert_eq!(len, 2);
    assert!(reentered >= 2);
}

#[test]
fn a_panicking_log_callback_changes_nothing() {
    let (s, _) = store_with(small(2));
    s.set_log_sink(LogSink::Callback(Arc::new(|_: &str| panic!("host bug"))));
    let id = s.add(&[1.0, 0.0], "x", AddOptions::default()).unwrap();
    assert_eq!(s.get(id).unwrap().text, "x");
    assert_eq!(s.metrics().error_count, 0);
}

/// 8 threads of mixed add/get/delete; no update is lost.
#[test]
fn concurrent_mixed_operations_lose_nothing() {
    let s = Arc::new(Store::new(Config { embedding_dim: 16, max_nodes: 100_000, ..Config::default() }).unwrap());
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                let mut deleted = Vec::new();
                for i in 0..300u64 {
                    let id = s.add(&vec_for(t * 1000 + i, 16), &format!("t{t} m{i}"), AddOptions::default()).unwrap();
                    mine.push(id);
                    assert_eq!(s.get(id).unwrap().text, format!("t{t} m{i}"));
                    if i % 3 == 0 {
                        let victim = mine.swap_remove((i as usize * 7) % mine.len());
                        s.delete(victim).unwrap();
                        deleted.push(victim);
                    }
                }
                (mine, deleted)
            })
        })
        .collect();
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    for t in threads {
        let (k, d) = t.join().unwrap();
        kept.extend(k);
        gone.extend(d);
    }
    let mut all: Vec<u64> = kept.iter().chain(&gone).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 8 * 300, "ids are unique");
    assert_eq!(s.len(), kept.len());
    let mut ids = s.ids();
    ids.sort_unstable();
    kept.sort_unstable();
    assert_eq!(ids, kept);
    for id in gone {
        assert_eq!(s.get(id).unwrap_err().code(), ErrorCode::NotFound);
    }
    s.check_integrity().unwrap();
    assert_eq!(s.metrics().operations["add"].count, 2400);
}

#[test]
fn seed_surface_never_panics() {
    let m = OVMemoryProduction::new(768, 10000, true);
    let id = m.add_memory(vec![0.5; 768], "text".to_string(), 0.9, None).unwrap();
    assert_eq!(id, 1);
    assert_eq!(m.get_memory(id).unwrap().weight, 0.9);
    assert_eq!(m.get_health_status().status, HealthStatus::Healthy);
    assert_eq!(m.get_metrics().unwrap().node_count, 1);
    // Invalid construction: no panic, every call reports the error.
    let bad = OVMemoryProduction::new(0, 10, true);
    let e = bad.add_memory(vec![0.5], "text".into(), 1.0, None).unwrap_err();
    assert_eq!((e.code(), e.context()["field"].clone()), (ErrorCode::InvalidData, json!("embedding_dim")));
    let h = bad.get_health_status();
    assert_eq!(h.status, HealthStatus::Critical);
    assert!(h.reasons[0].contains("embedding_dim"));
    assert!(OVMemoryProduction::try_new(768, 0, true).is_err());
    assert!(bad.get_metrics().is_err());
}

/// A clock that parks one chosen thread on its Nth monotonic read — inside a
/// scan, while that thread holds the store's read lock — until released.
#[derive(Debug, Default)]
struct GateClock {
    inner: ManualClock,
    target: parking_lot::Mutex<Option<(std::thread::ThreadId, u32)>>,
    parked: parking_lot::Mutex<bool>,
    open: parking_lot::Mutex<bool>,
    cv: parking_lot::Condvar,
}

impl GateClock {
    fn park_on(&self, read: u32) {
        *self.target.lock() = Some((std::thread::current().id(), read));
    }
    fn wait_parked(&self) {
        let mut p = self.parked.lock();
        while !*p {
            self.cv.wait(&mut p);
        }
    }
    fn release(&self) {
        *self.open.lock() = true;
        self.cv.notify_all();
    }
}

impl Clock for GateClock {
    fn monotonic_micros(&self) -> u64 {
        let park = {
            let mut t = self.target.lock();
            match t.as_mut() {
                Some((id, n)) if *id == std::thread::current().id() => {
                    *n -= 1;
                    if *n == 0 {
                        *t = None;
                        true
                    } else {
                        false
                    }
                }
                _ => false,
            }
        };
        if park {
            *self.parked.lock() = true;
            self.cv.notify_all();
            let mut open = self.open.lock();
            while !*open {
                self.cv.wait(&mut open);
            }
        }
        self.inner.monotonic_micros()
    }
    fn unix_millis(&self) -> i64 {
        self.inner.unix_millis()
    }
}

/// reads run concurrently, writes are exclusive. A retrieve is parked
/// mid-scan (holding the read lock); another read completes meanwhile, a write
/// waits until the scan ends. No timing decides the outcome of the first part.
#[test]
fn reads_share_the_lock_and_writes_wait_for_them() {
    let clock = Arc::new(GateClock::default());
    let s = Arc::new(Store::with_clock(small(2), clock.clone()).unwrap());
    s.add(&[1.0, 0.0], "a", AddOptions::default()).unwrap();
    let (s1, c1) = (s.clone(), clock.clone());
    // Monotonic reads in retrieve: call start (the deadline counts from it), then the check once locked.
    let scanner = std::thread::spawn(move || {
        c1.park_on(2);
        s1.retrieve(&[1.0, 0.0], &ov_memory::RetrieveOptions::top_k(1)).unwrap().len()
    });
    clock.wait_parked();
    // Another reader gets through while the scan holds the read lock.
    let (tx, rx) = mpsc::channel();
    let s2 = s.clone();
    std::thread::spawn(move || tx.send(s2.get(1).map(|m| m.text)).unwrap());
    let got = rx.recv_timeout(Duration::from_secs(20)).expect("a read waited for another read");
    assert_eq!(got.unwrap(), "a");
    // A writer must wait for the scan.
    let (tx, rx) = mpsc::channel();
    let s3 = s.clone();
    std::thread::spawn(move || tx.send(s3.add(&[0.0, 1.0], "b", AddOptions::default())).unwrap());
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "a write ran during a read");
    clock.release();
    assert_eq!(scanner.join().unwrap(), 1);
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).expect("the write never ran").unwrap(), 2);
}

fn long_text(seed: usize, chars: usize) -> String {
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
    let mut t = String::with_capacity(chars + 16);
    let mut i = seed;
    while t.len() < chars {
        t.push_str(words[i % words.len()]);
        t.push(' ');
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    t.truncate(chars);
    t
}

/// The deadline bounds the text work of context too (shingling a million
/// characters), and a timed-out context changes nothing. Every clock read
/// moves the clock 10 ms, so the deadline passes part-way through the text.
#[test]
fn context_deadline_covers_the_text_work() {
    let (s, clock) = store_with(small(2));
    let id = s.add(&[1.0, 0.0], &long_text(1, 1_000_000), AddOptions::default()).unwrap();
    let before = s.get(id).unwrap();
    clock.set_auto_advance_micros(10_000);
    // Reads: call start (the deadline is 85 ms after it), the scope's check once locked,
    // loop snapshot, phase 2, then one per 64 Ki characters: one of those is
    // past the deadline (with no checks in the text work it succeeds).
    let o = ContextOptions { timeout_ms: Some(85), max_tokens: 1_000_000, ..ContextOptions::default() };
    let e = s.context(&[1.0, 0.0], &o).unwrap_err();
    clock.set_auto_advance_micros(0);
    assert_eq!(e.code(), ErrorCode::Timeout, "{e}");
    assert_eq!(s.get(id).unwrap(), before, "not marked accessed");
    assert_eq!(s.metabolism().used_tokens, 0, "not charged");
    // With time enough it succeeds.
    let r = s.context(&[1.0, 0.0], &ContextOptions { max_tokens: 1_000_000, ..ContextOptions::default() }).unwrap();
    assert_eq!(r.items.len(), 1);
}

/// Serialising a large result is inside the deadline too.
#[test]
fn retrieve_json_deadline_covers_serialisation() {
    let (s, clock) = store_with(small(2));
    for i in 0..3 {
        s.add(&[1.0, i as f32 * 0.1], &long_text(i, 200_000), AddOptions::default()).unwrap();
    }
    clock.set_auto_advance_micros(10_000);
    // Reads: call start (the deadline is 55 ms after it), the scope's check once locked,
    // one before each long hit's copy (3), then one before each serialised
    // hit that follows 64 KiB of output: the second of those is past the deadline.
    let o = RetrieveOptions { top_k: 3, timeout_ms: Some(55), ..RetrieveOptions::default() };
    let e = s.retrieve_json(Some(&[1.0, 0.0]), &o).unwrap_err();
    clock.set_auto_advance_micros(0);
    assert_eq!(e.code(), ErrorCode::Timeout, "{e}");
    let json = s.retrieve_json(Some(&[1.0, 0.0]), &RetrieveOptions::top_k(3)).unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v, serde_json::to_value(s.retrieve(&[1.0, 0.0], &RetrieveOptions::top_k(3)).unwrap()).unwrap());
}

/// Context's text work holds no lock: while a context call is parked in it,
/// a write (add) completes.
#[test]
fn context_text_work_does_not_block_writers() {
    let clock = Arc::new(GateClock::default());
    let s = Arc::new(Store::with_clock(small(2), clock.clone()).unwrap());
    s.add(&[1.0, 0.0], &long_text(3, 100_000), AddOptions::default()).unwrap();
    let (s1, c1) = (s.clone(), clock.clone());
    let ctx = std::thread::spawn(move || {
        // Reads: call start (the deadline counts from it), the relevance scan's
        // and the relevance pass's first checks, the top-k scan, scoring, the
        // loop snapshot, then the check that opens the no-lock phase: park there.
        c1.park_on(7);
        s1.context(&[1.0, 0.0], &ContextOptions::max_tokens(1_000_000)).map(|r| r.items.len())
    });
    clock.wait_parked();
    let (tx, rx) = mpsc::channel();
    let s2 = s.clone();
    std::thread::spawn(move || tx.send(s2.add(&[0.0, 1.0], "written meanwhile", AddOptions::default())).unwrap());
    let added = rx.recv_timeout(Duration::from_secs(20)).expect("a write waited for context's text work");
    assert_eq!(added.unwrap(), 2);
    clock.release();
    assert_eq!(ctx.join().unwrap().unwrap(), 1);
}

/// A batch is checked on every core, yet reports as one checked item by item:
/// the first invalid item, and each item's log events in the batch's order.
#[test]
fn a_batch_is_checked_in_order() {
    let (s, _) = store_with(small(8));
    let logs = capture_logs(&s);
    // Item i has 1 + i % 7 values outside [-1, 1]: its warning counts them.
    let rows: Vec<Vec<f32>> = (0..300u64)
        .map(|i| {
            let mut v = vec_for(i, 8);
            for x in v.iter_mut().take(1 + (i % 7) as usize) {
                *x = 1.5;
            }
            v
        })
        .collect();
    let items: Vec<NewMemory<'_>> =
        rows.iter().map(|v| NewMemory { embedding: v, text: "ok", ..NewMemory::default() }).collect();
    s.add_batch(&items, None).unwrap();
    let counts: Vec<u64> = logs
        .lock()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["message"].as_str().is_some_and(|m| m.contains("outside [-1, 1]")))
        .map(|v| v["fields"]["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, (0..300u64).map(|i| 1 + i % 7).collect::<Vec<_>>());
    let before = fingerprint(&s);
    let mut bad = items.clone();
    for i in [150, 37, 299] {
        bad[i].text = " ";
    }
    bad[200].embedding = &rows[0][..4];
    let e = s.add_batch(&bad, None).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidData);
    assert_eq!(e.context()["index"], json!(37), "{e}");
    assert_eq!(fingerprint(&s), before);
}
