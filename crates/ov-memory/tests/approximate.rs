//! The approximate index: recall against the exact scan on fixed seeds,
//! through inserts, batches, deletes, embedding updates and snapshots; the
//! structure is checked after every change (`check_integrity` covers it).

use ov_memory::{AddOptions, Config, ErrorCode, MemoryUpdate, NewMemory, RetrieveOptions, Store};
use serde_json::json;

const DIM: usize = 24;

/// splitmix64: a fixed, portable stream of numbers.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// `n` vectors around `clusters` random centres (noise 0.35 per component).
fn clustered(seed: u64, n: usize, clusters: usize) -> Vec<Vec<f32>> {
    let mut r = Rng(seed);
    let centres: Vec<Vec<f32>> = (0..clusters).map(|_| (0..DIM).map(|_| r.unit()).collect()).collect();
    (0..n)
        .map(|_| {
            let c = &centres[(r.next() % clusters as u64) as usize];
            c.iter().map(|x| x + 0.35 * r.unit()).collect()
        })
        .collect()
}

fn store(exact_limit: usize) -> Store {
    Store::new(Config { embedding_dim: DIM, max_nodes: 100_000, exact_limit, ..Config::default() }).unwrap()
}

fn ids(s: &Store, q: &[f32], options: &RetrieveOptions) -> Vec<u64> {
    s.retrieve(q, options).unwrap().iter().map(|h| h.id).collect()
}

/// Mean recall@10 of approximate retrieval against the exact scan of the same store.
fn recall(s: &Store, queries: &[Vec<f32>], filter: Option<serde_json::Value>) -> f64 {
    recall_at(s, queries, filter, None)
}

/// [`recall`] with the approximate reads at `ef` (`None`: the default).
fn recall_at(s: &Store, queries: &[Vec<f32>], filter: Option<serde_json::Value>, ef: Option<usize>) -> f64 {
    let approx =
        RetrieveOptions { top_k: 10, alpha: Some(1.0), filter: filter.clone(), ef, ..RetrieveOptions::default() };
    let exact = RetrieveOptions { exact: true, ..approx.clone() };
    let mut found = 0usize;
    let mut total = 0usize;
    for q in queries {
        let want = ids(s, q, &exact);
        let got = ids(s, q, &approx);
        found += want.iter().filter(|id| got.contains(id)).count();
        total += want.len();
    }
    found as f64 / total.max(1) as f64
}

#[test]
fn approximate_retrieval_finds_the_exact_top_ten() {
    let data = clustered(1, 4000, 60);
    let s = store(0);
    for (i, v) in data.iter().enumerate() {
        let meta = json!({ "half": i % 2 });
        s.add(v, &format!("m{i}"), AddOptions { metadata: Some(meta), ..AddOptions::default() }).unwrap();
    }
    s.check_integrity().unwrap();
    let queries = clustered(2, 100, 60);
    let r = recall(&s, &queries, None);
    assert!(r >= 0.95, "recall@10 {r}");
    // A filter that half the memories pass is searched inside the index.
    let r = recall(&s, &queries, Some(json!({ "half": 1 })));
    assert!(r >= 0.95, "filtered recall@10 {r}");
    // A store below its exact limit answers exactly (the same as `exact: true`).
    let small = store(10_000);
    for (i, v) in data.iter().take(500).enumerate() {
        small.add(v, &format!("m{i}"), AddOptions::default()).unwrap();
    }
    assert_eq!(recall(&small, &queries, None), 1.0);
}

#[test]
fn scores_of_approximate_hits_are_the_exact_parts() {
    let data = clustered(3, 2000, 30);
    let s = store(0);
    for (i, v) in data.iter().enumerate() {
        s.add(v, &format!("m{i}"), AddOptions::default()).unwrap();
    }
    let q = &clustered(4, 1, 30)[0];
    let o = RetrieveOptions { top_k: 10, alpha: Some(1.0), ..RetrieveOptions::default() };
    let approx = s.retrieve(q, &o).unwrap();
    let exact = s.retrieve(q, &RetrieveOptions { exact: true, ..o }).unwrap();
    for h in &approx {
        // The cosine is the same number; relevance is standardised with statistics
        // estimated from a sample, so it is close, not equal.
        let e = exact.iter().find(|x| x.id == h.id).expect("an approximate hit outside the exact top 10");
        assert_eq!(h.score.s.to_bits(), e.score.s.to_bits());
        assert!((h.score.rel - e.score.rel).abs() < 0.25, "{} vs {}", h.score.rel, e.score.rel);
    }
    // The ranking by cosine is the same.
    let order: Vec<u64> = approx.iter().map(|h| h.id).collect();
    let mut by_s = approx.clone();
    by_s.sort_by(|a, b| b.score.s.total_cmp(&a.score.s).then(a.id.cmp(&b.id)));
    assert_eq!(order, by_s.iter().map(|h| h.id).collect::<Vec<_>>());
}

#[test]
fn deletes_and_updates_keep_the_index_sound_and_its_recall() {
    let data = clustered(5, 3000, 50);
    let s = store(0);
    let mut live: Vec<u64> = Vec::new();
    let mut r = Rng(6);
    for (i, v) in data.iter().enumerate() {
        live.push(s.add(v, &format!("m{i}"), AddOptions::default()).unwrap());
        // Every third step removes or moves a random memory.
        if i % 3 == 2 {
            let pick = (r.next() % live.len() as u64) as usize;
            if r.next().is_multiple_of(2) {
                s.delete(live.swap_remove(pick)).unwrap();
            } else {
                let moved = clustered(1000 + i as u64, 1, 50).remove(0);
                let patch = MemoryUpdate { embedding: Some(moved), ..MemoryUpdate::default() };
                s.update(live[pick], &patch).unwrap();
            }
        }
        if i % 250 == 0 {
            s.check_integrity().unwrap();
        }
    }
    s.check_integrity().unwrap();
    assert_eq!(s.len(), live.len());
    let rec = recall(&s, &clustered(7, 100, 50), None);
    assert!(rec >= 0.93, "recall@10 after churn {rec}");
    // Deleting down to nothing and starting again.
    for id in live.drain(..) {
        s.delete(id).unwrap();
    }
    s.check_integrity().unwrap();
    for (i, v) in data.iter().take(300).enumerate() {
        s.add(v, &format!("again{i}"), AddOptions::default()).unwrap();
    }
    s.check_integrity().unwrap();
    assert!(recall(&s, &clustered(8, 50, 50), None) >= 0.95);
}

#[test]
fn batches_are_planned_in_chunks_with_the_same_recall() {
    let data = clustered(9, 3000, 40);
    let items: Vec<NewMemory<'_>> =
        data.iter().map(|v| NewMemory { embedding: v, text: "batch", ..NewMemory::default() }).collect();
    let s = store(0);
    s.add_batch(&items, None).unwrap();
    s.check_integrity().unwrap();
    let rec = recall(&s, &clustered(10, 100, 40), None);
    assert!(rec >= 0.95, "recall@10 after one batch {rec}");
    // Links planned through the index: most are those an exact scan picks.
    let exact = store(usize::MAX);
    exact.add_batch(&items, None).unwrap();
    let (mut same, mut total) = (0usize, 0usize);
    for id in exact.ids() {
        let want = exact.get(id).unwrap().neighbors;
        let got = s.get(id).unwrap().neighbors;
        same += want.iter().filter(|n| got.contains(n)).count();
        total += want.len();
    }
    let share = same as f64 / total as f64;
    assert!(share >= 0.9, "{share} of the exact honeycomb's edges");
}

#[test]
fn a_chunked_batch_that_times_out_changes_nothing() {
    let clock = std::sync::Arc::new(ov_memory::clock::ManualClock::new());
    let s = Store::with_clock(
        Config { embedding_dim: DIM, max_nodes: 100_000, exact_limit: 0, ..Config::default() },
        clock.clone(),
    )
    .unwrap();
    let data = clustered(11, 1200, 20);
    for (i, v) in data.iter().take(200).enumerate() {
        s.add(v, &format!("m{i}"), AddOptions::default()).unwrap();
    }
    let before = s.to_bytes().unwrap();
    let items: Vec<NewMemory<'_>> =
        data[200..].iter().map(|v| NewMemory { embedding: v, text: "late", ..NewMemory::default() }).collect();
    // Every clock read moves 1 ms: the deadline passes in a later chunk.
    clock.set_auto_advance_micros(1_000);
    let e = s.add_batch(&items, Some(400)).unwrap_err();
    clock.set_auto_advance_micros(0);
    assert_eq!(e.code(), ErrorCode::Timeout);
    s.check_integrity().unwrap();
    assert_eq!(s.to_bytes().unwrap(), before);
}

#[test]
fn snapshots_keep_the_index() {
    let data = clustered(12, 1500, 25);
    let s = store(0);
    for (i, v) in data.iter().enumerate() {
        s.add(v, &format!("m{i}"), AddOptions { namespace: Some(format!("n{}", i % 3)), ..AddOptions::default() })
            .unwrap();
    }
    for id in (1..400).step_by(7) {
        s.delete(id).unwrap();
    }
    let bytes = s.to_bytes().unwrap();
    let t = Store::from_bytes_with(&bytes, Some(s.config().clone()), ov_memory::clock::default_clock()).unwrap();
    t.check_integrity().unwrap();
    let again = t.to_bytes().unwrap();
    let first = again.iter().zip(&bytes).position(|(a, b)| a != b);
    assert_eq!((again.len(), first), (bytes.len(), None), "a loaded index saves to the same bytes");
    for q in clustered(13, 20, 25) {
        for ns in ["n0", "n1", "n2"] {
            let o = RetrieveOptions {
                top_k: 10,
                now: Some(1_900_000_000_000),
                namespace: Some(ov_memory::Namespaces::One(ns.into())),
                ..RetrieveOptions::default()
            };
            assert_eq!(s.retrieve(&q, &o).unwrap(), t.retrieve(&q, &o).unwrap());
        }
    }
}

#[test]
fn random_adds_batches_and_deletes_keep_every_structure_sound() {
    // Small stores (exact planning) and past the exact-planning size alike.
    for (seed, limit) in [(21u64, 10_000usize), (22, 0)] {
        let s = store(limit);
        let mut r = Rng(seed);
        let mut live: Vec<u64> = Vec::new();
        for step in 0..1500 {
            match r.next() % 6 {
                0 | 1 => {
                    let v = clustered(r.next(), 1, 5).remove(0);
                    live.push(s.add(&v, "a", AddOptions::default()).unwrap());
                }
                2 => {
                    let vs = clustered(r.next(), 1 + (r.next() % 5) as usize, 5);
                    let items: Vec<NewMemory<'_>> =
                        vs.iter().map(|v| NewMemory { embedding: v, text: "b", ..NewMemory::default() }).collect();
                    live.extend(s.add_batch(&items, None).unwrap());
                }
                _ if !live.is_empty() => {
                    let pick = (r.next() % live.len() as u64) as usize;
                    s.delete(live.swap_remove(pick)).unwrap();
                }
                _ => {}
            }
            s.check_integrity().unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
        }
    }
}

#[test]
fn activation_computed_per_hit_equals_a_pass_from_the_sources() {
    // G is computed up front only when it can change the order (a graph prior
    // and alpha below 1); otherwise per memory scored, from its own links. The
    // two must agree number for number, exact and approximate alike.
    for limit in [10_000usize, 0] {
        let data = clustered(31, 600, 8);
        let make = |graph_weight: f64| {
            let s = Store::new(Config {
                embedding_dim: DIM,
                max_nodes: 1000,
                exact_limit: limit,
                graph_weight,
                ..Config::default()
            })
            .unwrap();
            for (i, v) in data.iter().enumerate() {
                s.add(v, &format!("m{i}"), AddOptions { created_at: Some(1_600_000_000_000), ..AddOptions::default() })
                    .unwrap();
            }
            s
        };
        let (lazy, eager) = (make(0.0), make(1.0));
        for q in clustered(32, 10, 8) {
            let o = RetrieveOptions {
                top_k: 600,
                alpha: Some(0.5),
                ef: Some(600),
                now: Some(1_700_000_000_000),
                ..RetrieveOptions::default()
            };
            let g = |s: &Store| {
                let mut v: Vec<(u64, u64)> =
                    s.retrieve(&q, &o).unwrap().iter().map(|h| (h.id, h.score.g.to_bits())).collect();
                v.sort_unstable();
                v
            };
            let (a, b) = (g(&lazy), g(&eager));
            assert_eq!(a, b, "exact_limit {limit}");
            assert!(a.iter().filter(|x| x.1 != 0).count() > 10, "activation reached few memories");
        }
    }
}

/// `ef_construction` decides how many candidates an insert examines: it
/// changes the index that is built (recall at a small `ef` follows it), a
/// snapshot keeps it, and a store opened from the snapshot goes on building
/// with it. The default is left out of the configuration's JSON.
#[test]
fn ef_construction_is_used_and_kept() {
    let data = clustered(21, 1200, 30);
    // One clock that stands still: the stores differ only in what their settings built.
    let clock = std::sync::Arc::new(ov_memory::clock::ManualClock::new());
    let build = |ef_construction: usize, data: &[Vec<f32>]| {
        let config =
            Config { embedding_dim: DIM, max_nodes: 100_000, exact_limit: 0, ef_construction, ..Config::default() };
        let s = Store::with_clock(config, clock.clone()).unwrap();
        for (i, v) in data.iter().enumerate() {
            s.add(v, &format!("m{i}"), AddOptions::default()).unwrap();
        }
        s.check_integrity().unwrap();
        s
    };
    let narrow = build(2, &data[..1000]);
    let default = build(Config::default().ef_construction, &data[..1000]);
    assert!(narrow.to_bytes().unwrap() != default.to_bytes().unwrap());
    let queries = clustered(22, 100, 30);
    let (low, high) = (recall_at(&narrow, &queries, None, Some(10)), recall_at(&default, &queries, None, Some(10)));
    assert!(high > low, "recall at ef 10: ef_construction 2 {low}, the default {high}");
    assert!(!default.config().to_json().contains("ef_construction"));
    assert!(narrow.config().to_json().contains(r#""ef_construction":2"#));
    // Opened from its snapshot, the narrow store adds the next memories as the
    // original does (the same approximate answers); opened with the default
    // instead, it does not.
    let bytes = narrow.to_bytes().unwrap();
    let reopened = Store::from_bytes_with(&bytes, None, clock.clone()).unwrap();
    assert_eq!(reopened.config().ef_construction, 2);
    let widened = Store::from_bytes_with(
        &bytes,
        Some(Config { ef_construction: Config::default().ef_construction, ..narrow.config().clone() }),
        clock.clone(),
    )
    .unwrap();
    for (i, v) in data[1000..].iter().enumerate() {
        for s in [&narrow, &reopened, &widened] {
            s.add(v, &format!("late{i}"), AddOptions::default()).unwrap();
        }
    }
    let answers = |s: &Store| {
        let o = RetrieveOptions { top_k: 10, alpha: Some(1.0), ef: Some(10), ..RetrieveOptions::default() };
        clustered(23, 100, 30).iter().map(|q| ids(s, q, &o)).collect::<Vec<_>>()
    };
    assert_eq!(answers(&reopened), answers(&narrow));
    assert_ne!(answers(&widened), answers(&narrow));
}
