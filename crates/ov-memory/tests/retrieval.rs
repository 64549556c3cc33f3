//! Graph, scoring, retrieval and context assembly (the behaviour contract–§5).

use ov_memory::{
    AddOptions, Config, ContextOptions, ErrorCode, ManualClock, MetabolicState, RetrieveOptions, Store, Trigger,
};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

#[path = "common/rng.rs"]
mod rng;

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

/// Context options without dates, so token counts are the texts' own.
fn ctx(max_tokens: usize) -> ContextOptions {
    ContextOptions { include_dates: false, ..ContextOptions::max_tokens(max_tokens) }
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
                        prop_assert!(!deleted.contains(&it.hit.id));
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
                for f in [h.score.s, h.score.l, h.score.c, h.score.g, h.score.r, h.score.w] {
                    prop_assert!(f.is_finite() && f >= 0.0, "{:?}", h.score);
                }
                prop_assert!(h.score.p.is_finite() && h.score.rel.is_finite(), "{:?}", h.score);
            }
        }
        if let Ok(r) = s.context(&q, &ContextOptions { alpha: Some(alpha), ..ContextOptions::default() }) {
            prop_assert!(r.items.iter().all(|i| i.hit.score.p.is_finite()));
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
    assert!((h.r - (-3600.0f64 / 2_592_000.0).exp()).abs() < 1e-9, "a is an hour old; tau is 30 days");
    assert_eq!(hits[1].score.r, 1.0, "b is new");
    let cfg = Config::default();
    for hit in &hits {
        let x = hit.score;
        let want = x.rel
            + (1.0 - cfg.alpha)
                * (cfg.graph_weight * x.g + cfg.recency_weight * x.r + cfg.importance_weight * x.w / (1.0 + x.w));
        assert!((x.p - want).abs() < 1e-12, "P is relevance plus the bounded priors: {x:?}");
        assert_eq!(x.l, 0.0, "no query text: no lexical part");
    }
    // Relevance is the query's z-score of the cosine over the store.
    let cos = [1.0f64, 0.9 / (0.82f64).sqrt(), 0.0];
    let mean = cos.iter().sum::<f64>() / 3.0;
    let sd = (cos.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
    assert!((hits[0].score.rel - (1.0 - mean) / sd).abs() < 1e-6);
    assert_eq!(hits[2].score.s, 0.0, "orthogonal: S = 0");
    assert!(hits[2].score.rel < 0.0);
    assert_eq!(hits[2].score.c, 0.0, "c has no edges");
    let json: Value = serde_json::to_value(&hits[0]).unwrap();
    for k in ["S", "L", "C", "G", "R", "W", "rel", "P"] {
        assert!(json["score"][k].is_number(), "{k}");
    }
    assert!(json["created_at"].is_number());
}

/// A read over the whole store takes a faster path through relevance (and
/// through the k-th best relevance, which the top k skips memories by) than
/// a filtered one: with a filter that admits every memory the ranking is the
/// same, score for score, bit for bit, and every top k is the head of the
/// full ranking, relevance ties included.
#[test]
fn the_whole_store_and_a_filter_admitting_all_rank_alike() {
    let (s, clock) = store(16);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || (rng::xorshift(&mut x) % 20_001) as f32 / 10_000.0 - 1.0;
    let meta: Value = serde_json::json!({ "all": true });
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for i in 0..300u32 {
        // The last hundred repeat earlier vectors: relevance ties, which the
        // priors and then the ids decide.
        let v: Vec<f32> =
            if i < 200 { (0..16).map(|_| next()).collect() } else { rows[(i as usize * 7) % 200].clone() };
        rows.push(v.clone());
        let weight = Some(0.5 + f64::from(i % 7));
        s.add(&v, "memory", AddOptions { weight, metadata: Some(meta.clone()), ..AddOptions::default() }).unwrap();
        clock.advance_ms(60_000 * u64::from(i % 5));
    }
    let bits = |h: &ov_memory::Hit| (h.id, [h.score.s, h.score.g, h.score.r, h.score.rel, h.score.p].map(f64::to_bits));
    for alpha in [1.0, 0.75, 0.2] {
        for _ in 0..5 {
            let q: Vec<f32> = (0..16).map(|_| next()).collect();
            let full = RetrieveOptions { alpha: Some(alpha), exact: true, ..RetrieveOptions::top_k(300) };
            let ranked: Vec<_> = s.retrieve(&q, &full).unwrap().iter().map(bits).collect();
            assert_eq!(ranked.len(), 300);
            for k in [1, 10, 25, 300] {
                let all = RetrieveOptions { top_k: k, ..full.clone() };
                let filtered = RetrieveOptions { filter: Some(meta.clone()), ..all.clone() };
                for opts in [&all, &filtered] {
                    let got: Vec<_> = s.retrieve(&q, opts).unwrap().iter().map(bits).collect();
                    assert_eq!(got, ranked[..k], "alpha {alpha}, top {k}, filtered {}", opts.filter.is_some());
                }
            }
        }
    }
}

/// Priors reorder near-ties only: however large the weight, a memory whose
/// relevance is clearly higher stays ahead (the bound is (1 − alpha)·(sum of
/// prior weights) standard deviations).
#[test]
fn priors_never_overtake_clearly_higher_relevance() {
    let (s, _) = store(3);
    let strong = add(&s, &[1.0, 0.0, 0.0], "strong");
    let heavy = s.add(&at_cos(0.2), "heavy", AddOptions { weight: Some(1e300), ..AddOptions::default() }).unwrap();
    for i in 0..20 {
        add(&s, &[0.0, (i as f32).cos(), (i as f32).sin()], "filler");
    }
    let hits = s.retrieve(&[1.0, 0.0, 0.0], &RetrieveOptions::top_k(2)).unwrap();
    let gap = hits[0].score.rel - hits.iter().find(|h| h.id == heavy).map_or(f64::NAN, |h| h.score.rel);
    assert_eq!(hits[0].id, strong, "gap {gap}");
    // Near a tie the weight decides.
    let (s, _) = store(3);
    let light = add(&s, &at_cos(0.9), "light");
    let heavy = s.add(&at_cos(0.9), "heavy", AddOptions { weight: Some(9.0), ..AddOptions::default() }).unwrap();
    add(&s, &[0.0, 0.0, 1.0], "filler");
    let hits = s.retrieve(&[1.0, 0.0, 0.0], &RetrieveOptions::top_k(2)).unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![heavy, light]);
}

/// A query text alone is a lexical query; with an embedding, relevance fuses both.
#[test]
fn text_queries_use_the_lexical_index() {
    let (s, _) = store(3);
    let tea = add(&s, &[0.0, 1.0, 0.0], "Caroline went to the LGBTQ support group on 7 May");
    let other = add(&s, &[1.0, 0.0, 0.0], "Melanie painted a sunrise");
    let text = RetrieveOptions {
        text: Some("When did Caroline go to the support group?".into()),
        ..RetrieveOptions::top_k(2)
    };
    let hits = s.retrieve_query(None, &text).unwrap();
    assert_eq!(hits[0].id, tea);
    assert!(hits[0].score.l > 0.0 && hits[0].score.s == 0.0);
    // The embedding alone points the other way; the fusion weighs both.
    let emb = s.retrieve(&[1.0, 0.0, 0.0], &RetrieveOptions::top_k(2)).unwrap();
    assert_eq!(emb[0].id, other);
    let lexical_heavy = RetrieveOptions { hybrid_weight: Some(0.1), ..text.clone() };
    assert_eq!(s.retrieve(&[1.0, 0.0, 0.0], &lexical_heavy).unwrap()[0].id, tea);
    s.delete(tea).unwrap();
    assert!(s.retrieve_query(None, &text).unwrap().iter().all(|h| h.id != tea), "the index follows deletes");
    // Bad text queries are INVALID_DATA.
    for bad in [
        RetrieveOptions { text: None, ..RetrieveOptions::top_k(1) },
        RetrieveOptions { text: Some("the of and".into()), ..RetrieveOptions::top_k(1) },
    ] {
        assert_eq!(s.retrieve_query(None, &bad).unwrap_err().code(), ErrorCode::InvalidData);
    }
    let bad_weight = RetrieveOptions { hybrid_weight: Some(1.5), ..text };
    assert_eq!(s.retrieve(&[1.0, 0.0, 0.0], &bad_weight).unwrap_err().code(), ErrorCode::InvalidData);
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

// ---------------------------------------------------------------- selection
// (The exact trigger and drift boundaries are unit tests of `trigger_for` and
// `is_drift`; these check the wiring through real stores.)

/// Context with alpha = 1 (relevance alone) and no floor: only triggers select.
fn strict(max_tokens: usize) -> ContextOptions {
    ContextOptions { alpha: Some(1.0), min_items: 0, ..ctx(max_tokens) }
}

/// Context with alpha = 1 whose floor takes the best `n` memories that pass the guardrails.
fn floor(max_tokens: usize, n: usize) -> ContextOptions {
    ContextOptions { alpha: Some(1.0), min_items: n, ..ctx(max_tokens) }
}

/// One memory aligned with the query among `n` orthogonal fillers: its relevance
/// is sqrt(n) standard deviations, the others' are below the mean.
fn outlier_store(n: usize, extra: &[(f32, &str)]) -> (Store, u64, Vec<u64>) {
    let (s, _) = store(3);
    let a = add(&s, &[1.0, 0.0, 0.0], "the aligned memory");
    let more = extra.iter().map(|(c, t)| add(&s, &at_cos(*c), t)).collect();
    for i in 0..n {
        let t = i as f32 * 0.7;
        add(&s, &[0.0, t.cos(), t.sin()], &format!("filler {i}"));
    }
    (s, a, more)
}

#[test]
fn a_clear_outlier_resonates_and_the_rest_stays_out() {
    let (s, a, _) = outlier_store(30, &[]);
    let r = s.context(&[1.0, 0.0, 0.0], &strict(1000)).unwrap();
    assert_eq!(r.items.iter().map(|i| (i.hit.id, i.trigger)).collect::<Vec<_>>(), vec![(a, Trigger::Resonance)]);
    assert!(r.items[0].hit.score.rel >= ov_memory::context::RESONANCE_MIN_REL);
}

#[test]
fn the_floor_takes_the_best_min_items_and_max_items_caps() {
    let (s, a, _) = outlier_store(30, &[]);
    let best: Vec<u64> = s
        .retrieve(&[1.0, 0.0, 0.0], &RetrieveOptions { alpha: Some(0.6), ..RetrieveOptions::top_k(3) })
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    let r = s.context(&[1.0, 0.0, 0.0], &ContextOptions { min_items: 3, ..ctx(1000) }).unwrap();
    assert_eq!(r.items.iter().map(|i| i.hit.id).collect::<Vec<_>>(), best, "the floor is the top 3 by P");
    assert_eq!(r.items[0].hit.id, a);
    assert_eq!(r.items[0].trigger, Trigger::Resonance, "a trigger that fired is reported");
    assert!(r.items[1..].iter().all(|i| i.trigger == Trigger::Floor));
    // max_items caps even when everything triggers (importance weight lifts every P).
    let (s, _) = store(3);
    for i in 0..12 {
        s.add(
            &at_cos(0.5 + i as f32 * 0.01),
            &format!("memory {i}"),
            AddOptions { weight: Some(1e9), ..Default::default() },
        )
        .unwrap();
    }
    let s2 = Store::from_bytes_with(
        &s.to_bytes().unwrap(),
        Some(Config { embedding_dim: 3, importance_weight: 10.0, ..Config::default() }),
        Arc::new(ManualClock::new()),
    )
    .unwrap();
    let r = s2.context(&[1.0, 0.0, 0.0], &ContextOptions { max_items: 5, ..ctx(100_000) }).unwrap();
    assert_eq!(r.items.len(), 5);
    assert!(r.items[3..].iter().all(|i| i.trigger == Trigger::Metabolic), "{:?}", r.items);
    for (min, max) in [(1, 0), (5, 4)] {
        let e = s.context(&[1.0, 0.0, 0.0], &ContextOptions { min_items: min, max_items: max, ..ctx(10) }).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidData);
    }
}

#[test]
fn bridge_fires_for_neighbours_of_the_previous_injection() {
    // b is linked to a and moderately relevant: above the bridge threshold, below resonance.
    let (s, a, more) = outlier_store(30, &[(0.8, "the neighbour")]);
    let b = more[0];
    assert!(s.get(a).unwrap().neighbors.contains(&b));
    let first = s.context(&[1.0, 0.0, 0.0], &strict(1000)).unwrap();
    assert_eq!(first.items.iter().map(|i| i.hit.id).collect::<Vec<_>>(), vec![a], "no bridge set yet");
    let probe =
        s.retrieve(&[1.0, 0.0, 0.0], &RetrieveOptions { alpha: Some(1.0), ..RetrieveOptions::top_k(2) }).unwrap();
    let rel_b = probe.iter().find(|h| h.id == b).unwrap().score.rel;
    assert!((ov_memory::context::BRIDGE_MIN_REL..ov_memory::context::RESONANCE_MIN_REL).contains(&rel_b), "{rel_b}");
    let second = s.context(&[1.0, 0.0, 0.0], &strict(1000)).unwrap();
    let bridged = second.items.iter().find(|i| i.hit.id == b).map(|i| i.trigger);
    assert_eq!(bridged, Some(Trigger::Bridge));
}

/// A chain 0-1-2-…: e_i = b_i + b_{i+1} shares a basis vector only with its
/// neighbours, so edges exist exactly between consecutive memories. A large
/// importance prior lifts every P over the metabolic threshold, so every woken
/// memory triggers and only the walk's depth and the drift guardrail decide.
fn chain(n: usize) -> (Store, Vec<u64>) {
    let dim = n + 1;
    let config = Config { embedding_dim: dim, importance_weight: 10.0, ..Config::default() };
    let s = Store::with_clock(config, Arc::new(ManualClock::new())).unwrap();
    let ids = (0..n)
        .map(|i| {
            let mut v = vec![0.0f32; dim];
            v[i] = 1.0;
            v[i + 1] = 1.0;
            s.add(&v, &format!("link number {i} of the chain"), AddOptions { weight: Some(1e9), ..Default::default() })
                .unwrap()
        })
        .collect();
    (s, ids)
}

/// Alpha 0.3 gives the priors their most say: P ≥ metabolic_min_p(0.3) = 2.5 for every memory.
fn wake(depth: u32) -> ContextOptions {
    ContextOptions { alpha: Some(0.3), candidates: 1, depth, min_items: 0, ..ctx(10_000) }
}

#[test]
fn wake_up_walks_edges_up_to_the_depth_and_drift_rejects_far_weak_memories() {
    let (s, ids) = chain(7);
    for w in ids.windows(2) {
        assert!(s.get(w[0]).unwrap().neighbors.contains(&w[1]));
    }
    let mut q = vec![0.05f32; 8];
    q[0] = 1.0;
    let r = s.context(&q, &wake(2)).unwrap();
    let got: Vec<(u64, u32)> = r.items.iter().map(|i| (i.hit.id, i.hops)).collect();
    assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), vec![0, 1, 2], "depth 2: {got:?}");
    assert_eq!(got[0].0, ids[0], "memory 0 is the candidate");
    assert_eq!(r.guardrails.drift, 0);
    let r = s.context(&q, &wake(6)).unwrap();
    let hops: Vec<u32> = r.items.iter().map(|i| i.hops).collect();
    assert!(hops.contains(&3), "hops = 3 is not drift: {hops:?}");
    assert!(hops.iter().all(|&h| h <= 3), "far and weakly relevant memories are drift: {hops:?}");
    assert_eq!(r.guardrails.drift, 3, "hops 4, 5, 6");
    assert_eq!(s.metrics().drift_detections, 3);
}

#[test]
fn items_carry_their_dates() {
    let (s, _) = store(3);
    s.add(
        &[1.0, 0.0, 0.0],
        "moved to Berlin",
        AddOptions { created_at: Some(1_683_504_000_000), ..Default::default() },
    )
    .unwrap();
    let r = s.context(&[1.0, 0.0, 0.0], &ContextOptions::max_tokens(100)).unwrap();
    assert_eq!(r.context, "[2023-05-08] moved to Berlin");
    assert_eq!(r.items[0].hit.text, "moved to Berlin", "the item keeps its own text");
    assert_eq!(r.tokens_used, "[2023-05-08] moved to Berlin".len().div_ceil(4), "the date is paid for");
    let r = s
        .context(&[1.0, 0.0, 0.0], &ContextOptions { include_dates: false, ..ContextOptions::max_tokens(100) })
        .unwrap();
    assert_eq!(r.context, "moved to Berlin");
}

#[test]
fn loop_guardrail_three_injections_in_ten_seconds() {
    let (s, clock) = store(3);
    let id = add(&s, &[1.0, 0.0, 0.0], "the same memory again and again");
    let q = [1.0, 0.0, 0.0];
    for _ in 0..3 {
        assert_eq!(s.context(&q, &floor(100, 1)).unwrap().items.len(), 1);
        clock.advance_ms(1000);
    }
    // Injected at t = 0, 1, 2 s. At 3 s and at 9.999 s: three in the last 10 s.
    let r = s.context(&q, &floor(100, 1)).unwrap();
    assert!(r.items.is_empty());
    assert_eq!(r.guardrails.loop_, 1);
    clock.advance_ms(6_999);
    assert_eq!(s.context(&q, &floor(100, 1)).unwrap().guardrails.loop_, 1, "t = 9.999 s");
    clock.advance_ms(1);
    let r = s.context(&q, &floor(100, 1)).unwrap();
    assert_eq!(
        r.items.iter().map(|i| i.hit.id).collect::<Vec<_>>(),
        vec![id],
        "t = 10 s: the t = 0 injection aged out"
    );
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
    let r = s.context(&[1.0, 0.0, 0.0], &floor(10_000, 4)).unwrap();
    let got: Vec<u64> = r.items.iter().map(|i| i.hit.id).collect();
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
        let r = s.context(&[1.0, 0.0, 0.0], &floor(10_000, 4)).unwrap();
        assert_eq!(r.guardrails.redundancy, u64::from(redundant), "{} letters", base.len());
        assert_eq!(r.items.iter().any(|i| i.hit.id == b), !redundant);
    }
}

#[test]
fn budget_stops_before_the_memory_that_would_pass_it() {
    let (s, _) = store(3);
    let a = add(&s, &[1.0, 0.0, 0.0], "aaaa aaaa"); // 9 bytes: 3 tokens
    let b = add(&s, &at_cos(0.99), "bbbb bbbb bbbb bbbb"); // 19 bytes: 5 tokens
    add(&s, &at_cos(0.98), "cc"); // 1 token, but comes after b
                                  // The floor takes all three, in P order a, b, c, while they fit.
    let opts = ContextOptions { alpha: Some(1.0), min_items: 3, ..ctx(7) };
    let r = s.context(&[1.0, 0.0, 0.0], &opts).unwrap();
    assert_eq!(r.items.iter().map(|i| i.hit.id).collect::<Vec<_>>(), vec![a], "b would pass 7; stop there");
    assert_eq!(r.tokens_used, 3);
    let r = s.context(&[1.0, 0.0, 0.0], &ContextOptions { max_tokens: 8, ..opts.clone() }).unwrap();
    assert_eq!(r.items.iter().map(|i| i.hit.id).take(2).collect::<Vec<_>>(), vec![a, b], "exactly 8 fits");
    // A caller's counter replaces ceil(bytes/4).
    let words = |t: &str| Ok(t.split_whitespace().count());
    let r = s
        .context_with_counter(Some(&[1.0, 0.0, 0.0]), &ContextOptions { max_tokens: 6, ..opts }, Some(&words))
        .unwrap();
    assert_eq!(r.tokens_used, 2 + 4);
    assert_eq!(r.context, "aaaa aaaa\n\nbbbb bbbb bbbb bbbb");
    // A failing counter fails the call with its error and changes nothing.
    let before = s.metabolism().used_tokens;
    let broken = |_: &str| Err(ov_memory::Error::invalid("token_counter", "the counter failed"));
    let e = s.context_with_counter(Some(&[1.0, 0.0, 0.0]), &floor(100, 3), Some(&broken)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidData);
    assert_eq!(s.metabolism().used_tokens, before);
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
    assert_eq!(item["trigger"], "floor", "a lone memory is not an outlier: the floor takes it");
    assert_eq!(item["hops"], 0);
    assert_eq!(item["metadata"]["k"], 1);
    for k in ["S", "L", "C", "G", "R", "W", "rel", "P"] {
        assert!(item["score"][k].is_number());
    }
    for k in ["drift", "loop", "redundancy"] {
        assert_eq!(v["guardrails"][k], 0);
    }
}
