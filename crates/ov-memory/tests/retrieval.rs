//! Graph, scoring, retrieval and context assembly (SPEC §2–§5).

use ov_memory::{
    AddOptions, Config, ContextOptions, ErrorCode, ManualClock, MetabolicState, RetrieveOptions, Store, Trigger,
};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

fn store(dim: usize) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    (Store::with_clock(Config { embedding_dim: dim, ..Config::default() }, clock.clone()).unwrap(), clock)
}

fn add(s: &Store, v: &[f32], text: &str) -> u64 {
    s.add(v, text, AddOptions::default()).unwrap()
}

fn at_cos(c: f32) -> [f32; 3] {
    [c, (1.0 - c * c).sqrt(), 0.0]
}

fn ctx(max_tokens: usize) -> ContextOptions {
    ContextOptions::max_tokens(max_tokens)
}

#[derive(Debug, Clone)]
enum Step {
    Add(Vec<f32>),
    Delete(usize),
    Retrieve(Vec<f32>, usize),
    Context(Vec<f32>, usize),
}

fn vector() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-1.0f32..1.0, 6).prop_filter("non-zero", |v| v.iter().any(|x| x.abs() > 1e-3))
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => vector().prop_map(Step::Add),
        2 => any::<usize>().prop_map(Step::Delete),
        1 => (vector(), 1usize..8).prop_map(|(v, k)| Step::Retrieve(v, k)),
        1 => (vector(), 1usize..200).prop_map(|(v, t)| Step::Context(v, t)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// After every step: degree ≤ max, symmetric edges, no self/duplicate/dangling
    /// edge (check_integrity), deleted ids never returned, no memory lost.
    #[test]
    fn random_sequences_keep_every_invariant(steps in prop::collection::vec(step(), 1..120), degree in 1usize..7) {
        let clock = Arc::new(ManualClock::new());
        let s = Store::with_clock(Config { embedding_dim: 6, max_degree: degree, ..Config::default() }, clock.clone()).unwrap();
        let mut live: Vec<u64> = Vec::new();
        let mut deleted: HashSet<u64> = HashSet::new();
        for st in steps {
            clock.advance_ms(7);
            match st {
                Step::Add(v) => live.push(add(&s, &v, "memory")),
                Step::Delete(i) if !live.is_empty() => {
                    let id = live.swap_remove(i % live.len());
                    s.delete(id).unwrap();
                    deleted.insert(id);
                }
                Step::Delete(_) => {}
                Step::Retrieve(q, k) => {
                    let hits = s.retrieve(&q, &RetrieveOptions::top_k(k)).unwrap();
                    prop_assert_eq!(hits.len(), k.min(live.len()));
                    for h in &hits {
                        prop_assert!(!deleted.contains(&h.id));
                        prop_assert!(!h.score.p.is_nan());
                    }
                    for w in hits.windows(2) {
                        prop_assert!(w[0].score.p > w[1].score.p || (w[0].score.p == w[1].score.p && w[0].id < w[1].id));
                    }
                }
                Step::Context(q, t) => {
                    let r = s.context(&q, &ctx(t)).unwrap();
                    prop_assert!(r.tokens_used <= t);
                    for it in &r.items {
                        prop_assert!(!deleted.contains(&it.id));
                    }
                }
            }
            s.check_integrity().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(s.len(), live.len(), "no memory lost");
            let mut ids = s.ids();
            ids.sort_unstable();
            let mut want = live.clone();
            want.sort_unstable();
            prop_assert_eq!(ids, want);
            for id in s.ids() {
                let m = s.get(id).unwrap();
                prop_assert!(m.neighbors.len() <= degree);
                prop_assert!(m.neighbors.iter().all(|n| !deleted.contains(n)));
            }
        }
    }

    /// Scores are never NaN for any valid input.
    #[test]
    fn scores_are_never_nan(
        vs in prop::collection::vec(prop::collection::vec(prop_oneof![-1e30f32..1e30, -1.0f32..1.0, Just(0.0f32), Just(f32::MIN_POSITIVE)], 4), 1..12),
        q in prop::collection::vec(prop_oneof![-1e30f32..1e30, -1.0f32..1.0, Just(f32::MAX)], 4),
        weights in prop::collection::vec(prop_oneof![Just(f64::MIN_POSITIVE), 1e-300f64..1e300, Just(f64::MAX)], 12),
        alpha in prop_oneof![Just(0.0), Just(1.0), 0.0f64..1.0],
        product in any::<bool>(),
    ) {
        let clock = Arc::new(ManualClock::new());
        let scoring = if product { ov_memory::Scoring::Product } else { ov_memory::Scoring::Geometric };
        let s = Store::with_clock(Config { embedding_dim: 4, scoring, ..Config::default() }, clock.clone()).unwrap();
        for (i, v) in vs.iter().enumerate() {
            let _ = s.add(v, "m", AddOptions { weight: Some(weights[i]), ..AddOptions::default() });
            clock.advance_ms(86_400_000);
        }
        if let Ok(hits) = s.retrieve(&q, &RetrieveOptions { top_k: 12, alpha: Some(alpha), ..RetrieveOptions::default() }) {
            for h in hits {
                for f in [h.score.s, h.score.c, h.score.r, h.score.w, h.score.p] {
                    prop_assert!(!f.is_nan() && f >= 0.0, "{:?}", h.score);
                }
            }
        }
        if let Ok(r) = s.context(&q, &ContextOptions { alpha: Some(alpha), ..ContextOptions::default() }) {
            prop_assert!(r.items.iter().all(|i| !i.score.p.is_nan()));
        }
        s.check_integrity().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

#[test]
fn retrieve_validates_its_input() {
    let (s, _) = store(3);
    add(&s, &[1.0, 0.0, 0.0], "a");
    let bad = |q: &[f32], o: RetrieveOptions| s.retrieve(q, &o).unwrap_err().code();
    assert_eq!(bad(&[1.0, 0.0], RetrieveOptions::default()), ErrorCode::InvalidData);
    assert_eq!(bad(&[f32::NAN, 0.0, 0.0], RetrieveOptions::default()), ErrorCode::InvalidData);
    assert_eq!(bad(&[0.0; 3], RetrieveOptions::default()), ErrorCode::InvalidData);
    assert_eq!(bad(&[1.0, 0.0, 0.0], RetrieveOptions::top_k(0)), ErrorCode::InvalidData);
    for a in [-0.1, 1.1, f64::NAN] {
        assert_eq!(
            bad(&[1.0, 0.0, 0.0], RetrieveOptions { alpha: Some(a), ..Default::default() }),
            ErrorCode::InvalidData
        );
    }
    assert_eq!(
        bad(&[1.0, 0.0, 0.0], RetrieveOptions { timeout_ms: Some(0), ..Default::default() }),
        ErrorCode::InvalidData
    );
    // top_k above the number of memories is clamped, above max_top_k served with a warning.
    let lines = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let l2 = lines.clone();
    s.set_log_sink(ov_memory::LogSink::Callback(Arc::new(move |l: &str| l2.lock().push(l.to_owned()))));
    assert_eq!(s.retrieve(&[1.0, 0.0, 0.0], &RetrieveOptions::top_k(1000)).unwrap().len(), 1);
    assert!(lines.lock().is_empty(), "1000 is the maximum itself");
    assert_eq!(s.retrieve(&[1.0, 0.0, 0.0], &RetrieveOptions::top_k(5000)).unwrap().len(), 1);
    let warned: Value = serde_json::from_str(&lines.lock()[0]).unwrap();
    assert_eq!((warned["level"].as_str(), warned["fields"]["top_k"].as_u64()), (Some("WARNING"), Some(5000)));
    s.set_log_sink(ov_memory::LogSink::None);
    let c = |o: ContextOptions| s.context(&[1.0, 0.0, 0.0], &o).unwrap_err().code();
    assert_eq!(c(ctx(0)), ErrorCode::InvalidData);
    assert_eq!(c(ContextOptions { candidates: 0, ..ctx(10) }), ErrorCode::InvalidData);
    assert_eq!(c(ContextOptions { depth: 17, ..ctx(10) }), ErrorCode::InvalidData);
    assert_eq!(c(ContextOptions { alpha: Some(2.0), ..ctx(10) }), ErrorCode::InvalidData);
    assert_eq!(s.metrics().circuit_breaker.consecutive_failures, 0, "caller errors never count");
}

/// A timed-out retrieve or context leaves everything as it was.
#[test]
fn deadlines_during_scans_change_nothing() {
    let (s, clock) = store(4);
    for i in 0..4000 {
        let f = i as f32;
        add(&s, &[f.sin(), f.cos(), (f * 0.3).sin(), 1.0], "memory");
    }
    let before_meta = s.metabolism();
    let before = s.get(1).unwrap();
    clock.set_auto_advance_micros(1_000); // 1 ms per clock read; checks every 1024 memories
    for op in ["retrieve", "context"] {
        let e = if op == "retrieve" {
            s.retrieve(&[1.0, 0.0, 0.0, 1.0], &RetrieveOptions { timeout_ms: Some(2), ..Default::default() })
                .unwrap_err()
        } else {
            s.context(&[1.0, 0.0, 0.0, 1.0], &ContextOptions { timeout_ms: Some(2), ..ctx(1000) }).unwrap_err()
        };
        assert_eq!(e.code(), ErrorCode::Timeout, "{op}");
        assert_eq!(e.context()["operation"], op);
    }
    clock.set_auto_advance_micros(0);
    assert_eq!(s.metabolism(), before_meta);
    let after = s.get(1).unwrap();
    assert_eq!((after.access_count, after.last_accessed), (before.access_count, before.last_accessed));
    assert_eq!(s.metrics().circuit_breaker.consecutive_failures, 2);
    // The next context has no bridge set from the failed one: a normal call works.
    assert!(s.context(&[1.0, 0.0, 0.0, 1.0], &ctx(50)).is_ok());
}

#[test]
fn retrieve_is_exact_top_k_with_breakdown() {
    let (s, clock) = store(3);
    let a = s.add(&[1.0, 0.0, 0.0], "a", AddOptions { weight: Some(2.0), ..AddOptions::default() }).unwrap();
    clock.advance_ms(3_600_000);
    let b = add(&s, &[0.9, 0.1, 0.0], "b");
    let c = add(&s, &[0.0, 0.0, 1.0], "c");
    let hits = s.retrieve(&[1.0, 0.0, 0.0], &RetrieveOptions::top_k(3)).unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![a, b, c]);
    let h = &hits[0].score;
    assert!((h.s - 1.0).abs() < 1e-6);
    assert_eq!(h.w, 2.0);
    assert!((h.r - (-3600.0f64 / 86400.0).exp()).abs() < 1e-9, "a is an hour old");
    assert_eq!(hits[1].score.r, 1.0, "b is new");
    let want = h.s.powf(0.75) * (h.c.max(0.1) * h.r.max(0.1) * h.w).powf(0.25);
    assert!((h.p - want).abs() < 1e-12);
    assert_eq!(hits[2].score.s, 0.0, "orthogonal: S = 0");
    assert_eq!(hits[2].score.p, 0.0);
    assert_eq!(hits[2].score.c, 0.0, "c has no edges");
    let json: Value = serde_json::to_value(&hits[0]).unwrap();
    for k in ["S", "C", "R", "W", "P"] {
        assert!(json["score"][k].is_number());
    }
}

#[test]
fn hubs_follow_the_formula() {
    let (s, _) = store(2);
    assert!(s.hubs().is_empty());
    for i in 0..40 {
        let a = i as f32 * 0.05;
        add(&s, &[a.cos(), a.sin()], "m");
    }
    let hubs = s.hubs();
    assert_eq!(hubs.len(), 2, "floor(0.05 * 40)");
    let mut by_c: Vec<(f64, u64)> = s.ids().into_iter().map(|id| (s.centrality(id).unwrap(), id)).collect();
    by_c.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(hubs, vec![by_c[0].1, by_c[1].1]);
    for id in s.ids() {
        let m = s.get(id).unwrap();
        let c = s.centrality(id).unwrap();
        assert!((0.0..=1.0).contains(&c));
        if m.neighbors.is_empty() {
            assert_eq!(c, 0.0);
        }
    }
}

// ---------------------------------------------------------------- thresholds

/// Context with alpha = 1: P = S, so the metabolic trigger fires only for S = 1.
fn strict(max_tokens: usize) -> ContextOptions {
    ContextOptions { alpha: Some(1.0), ..ctx(max_tokens) }
}

#[test]
fn resonance_fires_from_s_085() {
    for (c, fires) in [(0.851f32, true), (0.849f32, false)] {
        let (s, _) = store(3);
        let id = add(&s, &at_cos(c), "resonant");
        let r = s.context(&[1.0, 0.0, 0.0], &strict(100)).unwrap();
        assert_eq!(r.items.iter().any(|i| i.id == id && i.trigger == Trigger::Resonance), fires, "S = {c}");
    }
}

#[test]
fn bridge_fires_for_neighbours_of_the_previous_injection_from_s_06() {
    for (c, fires) in [(0.601f32, true), (0.599f32, false)] {
        let (s, _) = store(3);
        let a = add(&s, &[1.0, 0.0, 0.0], "anchor");
        let b = add(&s, &at_cos(c), "neighbour");
        assert!(s.get(a).unwrap().neighbors.contains(&b));
        let first = s.context(&[1.0, 0.0, 0.0], &strict(100)).unwrap();
        assert_eq!(first.items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a], "no bridge set yet");
        let second = s.context(&[1.0, 0.0, 0.0], &strict(100)).unwrap();
        let bridged = second.items.iter().find(|i| i.id == b);
        assert_eq!(bridged.map(|i| i.trigger), fires.then_some(Trigger::Bridge), "S = {c}");
    }
}

#[test]
fn metabolic_fires_when_p_reaches_alpha() {
    // One memory, no edges (C' = 0.1), new (R = 1), S = 0.8, alpha 0.6:
    // P = 0.8^0.6 · (0.1·W)^0.4; choose W for P just above and just below 0.6.
    let alpha = 0.6f64;
    let s_val = f64::from(at_cos(0.8)[0]) / f64::from(at_cos(0.8).iter().map(|x| x * x).sum::<f32>().sqrt());
    for (factor, fires) in [(1.001, true), (0.999, false)] {
        let p: f64 = alpha * factor;
        let w = (p / s_val.powf(alpha)).powf(1.0 / (1.0 - alpha)) / 0.1;
        let (s, _) = store(3);
        let id = s.add(&at_cos(0.8), "m", AddOptions { weight: Some(w), ..AddOptions::default() }).unwrap();
        let r = s.context(&[1.0, 0.0, 0.0], &ContextOptions { alpha: Some(alpha), ..ctx(100) }).unwrap();
        let item = r.items.iter().find(|i| i.id == id);
        assert_eq!(item.map(|i| i.trigger), fires.then_some(Trigger::Metabolic), "factor {factor}");
    }
}

/// A chain 0-1-2-…: e_i = b_i + b_{i+1} shares a basis vector only with its
/// neighbours, so edges exist exactly between consecutive memories. Weights
/// let memory 0 be the one candidate while far memories still trigger.
fn chain(n: usize, weights: &[f64]) -> (Store, Vec<u64>) {
    let dim = n + 1;
    let (s, _) = store(dim);
    let ids = (0..n)
        .map(|i| {
            let mut v = vec![0.0f32; dim];
            v[i] = 1.0;
            v[i + 1] = 1.0;
            let w = weights.get(i).copied().unwrap_or(100.0);
            s.add(&v, &format!("link number {i} of the chain"), AddOptions { weight: Some(w), ..Default::default() })
                .unwrap()
        })
        .collect();
    (s, ids)
}

/// alpha 0.3: P = S^0.3 · (C'·R'·W)^0.7, so weight-100 memories with a small S
/// pass the metabolic trigger (P ≥ 0.3) while S < 0.5 makes them drift-prone.
fn wake(depth: u32) -> ContextOptions {
    ContextOptions { alpha: Some(0.3), candidates: 1, depth, ..ctx(10_000) }
}

fn chain_query(dim: usize, extra: &[(usize, f32)]) -> Vec<f32> {
    let mut q = vec![0.05f32; dim];
    q[0] = 1.0;
    for &(i, x) in extra {
        q[i] = x;
    }
    q
}

#[test]
fn wake_up_walks_edges_up_to_the_depth_and_drift_rejects_far_weak_memories() {
    let (s, ids) = chain(7, &[]);
    for w in ids.windows(2) {
        assert!(s.get(w[0]).unwrap().neighbors.contains(&w[1]));
    }
    let q = chain_query(8, &[]);
    let r = s.context(&q, &wake(2)).unwrap();
    let got: Vec<(u64, u32)> = r.items.iter().map(|i| (i.id, i.hops)).collect();
    assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), vec![0, 1, 2], "depth 2: {got:?}");
    assert_eq!(got[0].0, ids[0], "memory 0 is the candidate");
    assert!(r.items.iter().all(|i| i.trigger == Trigger::Metabolic && i.score.s < 0.85));
    assert_eq!(r.guardrails.drift, 0);
    let r = s.context(&q, &wake(6)).unwrap();
    let hops: Vec<u32> = r.items.iter().map(|i| i.hops).collect();
    assert!(r.items.iter().skip(1).all(|i| i.score.s < 0.5));
    assert!(hops.contains(&3), "hops = 3 is not drift: {hops:?}");
    assert!(hops.iter().all(|&h| h <= 3), "hops > 3 with S < 0.5 are drift: {hops:?}");
    assert_eq!(r.guardrails.drift, 3, "hops 4, 5, 6");
    assert_eq!(s.metrics().drift_detections, 3);
}

/// Memory 4 is 4 hops from memory 0 (the one candidate, thanks to its weight).
/// `x` sets how similar memory 4 is to the query; returns S of memory 4 and
/// whether it was injected, plus the drift count.
fn far_memory(x: f32) -> (f64, bool, u64) {
    let (s, ids) = chain(6, &[1000.0]);
    let q = chain_query(7, &[(4, x), (5, x)]);
    let far = ov_cos(&q, &s.get(ids[4]).unwrap().embedding);
    let r = s.context(&q, &wake(6)).unwrap();
    assert_eq!(r.items[0].id, ids[0]);
    let injected = r.items.iter().any(|i| i.id == ids[4] && i.hops == 4);
    (far, injected, r.guardrails.drift)
}

/// The x for which memory 4's S is `target` (bisection; S grows with x).
fn x_for(target: f64) -> f32 {
    let (mut lo, mut hi) = (0.0f32, 2.0f32);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        let (s, _, _) = far_memory(mid);
        if s < target {
            lo = mid
        } else {
            hi = mid
        }
    }
    hi
}

#[test]
fn drift_boundary_is_s_05_at_hops_4() {
    let (s, injected, _) = far_memory(x_for(0.501));
    assert!((0.5..0.502).contains(&s), "{s}");
    assert!(injected, "S = {s} ≥ 0.5: not drift");
    let (s, injected, drift) = far_memory(x_for(0.499));
    assert!((0.497..0.5).contains(&s), "{s}");
    assert!(!injected, "S = {s} < 0.5 at 4 hops: drift");
    assert!(drift >= 1);
}

fn ov_cos(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn loop_guardrail_three_injections_in_ten_seconds() {
    let (s, clock) = store(3);
    let id = add(&s, &[1.0, 0.0, 0.0], "the same memory again and again");
    let q = [1.0, 0.0, 0.0];
    for _ in 0..3 {
        assert_eq!(s.context(&q, &strict(100)).unwrap().items.len(), 1);
        clock.advance_ms(1000);
    }
    // Injected at t = 0, 1, 2 s. At 3 s and at 9.999 s: three in the last 10 s.
    let r = s.context(&q, &strict(100)).unwrap();
    assert!(r.items.is_empty());
    assert_eq!(r.guardrails.loop_, 1);
    clock.advance_ms(6_999);
    assert_eq!(s.context(&q, &strict(100)).unwrap().guardrails.loop_, 1, "t = 9.999 s");
    clock.advance_ms(1);
    let r = s.context(&q, &strict(100)).unwrap();
    assert_eq!(r.items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![id], "t = 10 s: the t = 0 injection aged out");
    assert_eq!(s.metrics().loop_preventions, 2);
    assert_eq!(s.get(id).unwrap().access_count, 4);
}

#[test]
fn redundancy_guardrail_catches_near_duplicates() {
    let (s, _) = store(3);
    let text = "Deploys run every Tuesday at noon from the main branch. ".repeat(8);
    let a = add(&s, &[1.0, 0.0, 0.0], &text);
    let b = add(&s, &at_cos(0.99), &text); // exact duplicate
    let c = add(&s, &at_cos(0.98), &text.to_uppercase()); // same after normalisation
    let d = add(&s, &at_cos(0.97), "Something else entirely, about lunch.");
    let r = s.context(&[1.0, 0.0, 0.0], &strict(10_000)).unwrap();
    let got: Vec<u64> = r.items.iter().map(|i| i.id).collect();
    assert_eq!(got, vec![a, d]);
    assert!(!got.contains(&b) && !got.contains(&c));
    assert_eq!(r.guardrails.redundancy, 2);
    assert_eq!(s.metrics().redundancy_filters, 2);
}

/// Shingles are 4-character windows; a text of n distinct letters has n − 3.
/// Appending one letter adds one shingle: Jaccard (n−3)/(n−2), 0.95 at n = 22.
#[test]
fn redundancy_boundary_is_similarity_095() {
    for (base, redundant) in [("abcdefghijklmnopqrstuv", true), ("abcdefghijklmnopqrstu", false)] {
        let (s, _) = store(3);
        add(&s, &[1.0, 0.0, 0.0], base);
        let b = add(&s, &at_cos(0.99), &format!("{base}w"));
        let r = s.context(&[1.0, 0.0, 0.0], &strict(10_000)).unwrap();
        assert_eq!(r.guardrails.redundancy, u64::from(redundant), "{} letters", base.len());
        assert_eq!(r.items.iter().any(|i| i.id == b), !redundant);
    }
}

#[test]
fn budget_stops_before_the_memory_that_would_pass_it() {
    let (s, _) = store(3);
    let a = add(&s, &[1.0, 0.0, 0.0], "aaaa aaaa"); // 9 bytes: 3 tokens
    let b = add(&s, &at_cos(0.99), "bbbb bbbb bbbb bbbb"); // 19 bytes: 5 tokens
    add(&s, &at_cos(0.98), "cc"); // 1 token, but comes after b
    let opts = strict(7); // all three resonate; P = S orders them a, b, c
    let r = s.context(&[1.0, 0.0, 0.0], &opts).unwrap();
    assert_eq!(r.items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a], "b would pass 7; stop there");
    assert_eq!(r.tokens_used, 3);
    let r = s.context(&[1.0, 0.0, 0.0], &ContextOptions { max_tokens: 8, ..opts.clone() }).unwrap();
    assert_eq!(r.items.iter().map(|i| i.id).take(2).collect::<Vec<_>>(), vec![a, b], "exactly 8 fits");
    // A caller's counter replaces ceil(bytes/4).
    let words = |t: &str| t.split_whitespace().count();
    let r = s
        .context_with_counter(Some(&[1.0, 0.0, 0.0]), &ContextOptions { max_tokens: 6, ..opts }, Some(&words))
        .unwrap();
    assert_eq!(r.tokens_used, 2 + 4);
    assert_eq!(r.context, "aaaa aaaa\n\nbbbb bbbb bbbb bbbb");
}

#[test]
fn context_updates_access_and_charges_the_metabolism_whose_alpha_drives_it() {
    let clock = Arc::new(ManualClock::new());
    let s =
        Store::with_clock(Config { embedding_dim: 3, budget_tokens: 100, ..Config::default() }, clock.clone()).unwrap();
    let id = add(&s, &[1.0, 0.0, 0.0], &"x".repeat(40)); // 10 tokens
    let created = s.get(id).unwrap().created_at;
    clock.advance_ms(5000);
    let states = [
        (MetabolicState::Healthy, 0.60),  // 100 % left before the first call
        (MetabolicState::Healthy, 0.60),  // 90 %
        (MetabolicState::Healthy, 0.60),  // 80 %
        (MetabolicState::Stressed, 0.75), // 70 % is not > 70 %
    ];
    for (i, (state, alpha)) in states.into_iter().enumerate() {
        assert_eq!(s.metabolism().state, state, "call {i}");
        let r = s.context(&[1.0, 0.0, 0.0], &ctx(100)).unwrap();
        assert_eq!(r.alpha, alpha, "call {i}");
        assert_eq!(r.tokens_used, 10);
        clock.advance_ms(20_000); // beyond the loop window
    }
    let m = s.get(id).unwrap();
    assert_eq!(m.access_count, 4);
    assert!(m.last_accessed > created);
    assert_eq!(s.metabolism().used_tokens, 40);
    s.resize_metabolism(1000).unwrap();
    assert_eq!(s.metabolism().state, MetabolicState::Healthy);
    assert_eq!(s.resize_metabolism(0).unwrap_err().code(), ErrorCode::InvalidData);
    s.reset_metabolism();
    assert_eq!(s.metabolism().used_tokens, 0);
}

#[test]
fn context_result_carries_everything() {
    let (s, _) = store(3);
    s.add(
        &[1.0, 0.0, 0.0],
        "a memory",
        AddOptions { metadata: Some(serde_json::json!({"k": 1})), ..Default::default() },
    )
    .unwrap();
    let r = s.context(&[1.0, 0.0, 0.0], &ctx(100)).unwrap();
    let v: Value = serde_json::to_value(&r).unwrap();
    for k in ["context", "tokens_used", "items", "guardrails", "alpha", "metabolism", "considered"] {
        assert!(v.get(k).is_some(), "{k}");
    }
    let item = &v["items"][0];
    assert_eq!(item["trigger"], "resonance");
    assert_eq!(item["hops"], 0);
    assert_eq!(item["metadata"]["k"], 1);
    for k in ["S", "C", "R", "W", "P"] {
        assert!(item["score"][k].is_number());
    }
    for k in ["drift", "loop", "redundancy"] {
        assert_eq!(v["guardrails"][k], 0);
    }
}
