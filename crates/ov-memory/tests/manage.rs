//! Managing memories: namespaces (isolation, property-tested against a store
//! that holds only the namespace's memories), filters, update and upsert,
//! expiry on the injected clock, JSON Lines export/import, batch queries, and
//! snapshot format 2 with version-1 files still loading.

use ov_memory::{
    AddOptions, BatchQuery, Clock, Config, ContextOptions, ErrorCode, ImportOptions, ListOptions, ManualClock,
    MemoryUpdate, Namespaces, RetrieveOptions, ScopeOptions, Store,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

#[path = "common/rng.rs"]
mod rng;
use rng::xorshift;

fn store(dim: usize) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let s =
        Store::with_clock(Config { embedding_dim: dim, max_degree: 3, ..Config::default() }, clock.clone()).unwrap();
    (s, clock)
}

fn in_ns(ns: &str) -> AddOptions {
    AddOptions { namespace: Some(ns.into()), ..AddOptions::default() }
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

// ---------------------------------------------------------------- isolation, property-tested

const WORDS: [&str; 8] = ["tea", "chess", "river", "piano", "garden", "train", "letter", "storm"];

#[derive(Debug, Clone)]
enum Step {
    Add { ns: usize, v: Vec<f32>, word: usize, n: i64, tag: bool, key: Option<u8>, spoof: usize, ttl: bool },
    Update { pick: usize, v: Option<Vec<f32>>, word: Option<usize>, n: Option<i64> },
    Delete { pick: usize },
    Advance { ms: u64 },
}

fn vector() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-1.0f32..1.0, 4).prop_filter("non-zero", |v| v.iter().any(|x| x.abs() > 1e-3))
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0usize..10, vector(), 0usize..8, 0i64..10, any::<bool>(), prop::option::weighted(0.3, 0u8..3), 0usize..10, prop::bool::weighted(0.1))
            .prop_map(|(ns, v, word, n, tag, key, spoof, ttl)| Step::Add { ns, v, word, n, tag, key, spoof, ttl }),
        2 => (any::<usize>(), prop::option::of(vector()), prop::option::of(0usize..8), prop::option::of(0i64..10))
            .prop_map(|(pick, v, word, n)| Step::Update { pick, v, word, n }),
        1 => any::<usize>().prop_map(|pick| Step::Delete { pick }),
        1 => (1u64..120_000).prop_map(|ms| Step::Advance { ms }),
    ]
}

fn ns_name(i: usize) -> String {
    format!("user-{i}")
}

/// Applies a step; errors are allowed only where the step may be invalid.
fn apply(s: &Store, clock: &ManualClock, st: &Step, counter: &mut usize) {
    *counter += 1;
    match st {
        Step::Add { ns, v, word, n, tag, key, spoof, ttl } => {
            // Metadata that tries to look like another namespace's memory.
            let meta =
                json!({ "n": n, "tag": if *tag { "a" } else { "b" }, "namespace": ns_name(*spoof), "id": *spoof });
            let opts = AddOptions {
                namespace: Some(ns_name(*ns)),
                metadata: Some(meta),
                key: key.map(|k| format!("k{k}")),
                ttl_ms: ttl.then_some(60_000),
                ..AddOptions::default()
            };
            s.add(v, &format!("note {} number {counter}", WORDS[*word]), opts).unwrap();
        }
        Step::Update { pick, v, word, n } => {
            let ids = s.ids();
            if ids.is_empty() {
                return;
            }
            let id = ids[pick % ids.len()];
            let patch = MemoryUpdate {
                embedding: v.clone(),
                text: word.map(|w| format!("changed to {} at {counter}", WORDS[w])),
                metadata: n.map(|n| Some(json!({ "n": n, "tag": "a" }))),
                ..MemoryUpdate::default()
            };
            match s.update(id, &patch) {
                Ok(()) => {}
                // Nothing to change, or the memory had expired.
                Err(e) => assert!(matches!(e.code(), ErrorCode::InvalidData | ErrorCode::NotFound), "{e}"),
            }
        }
        Step::Delete { pick } => {
            let ids = s.ids();
            if !ids.is_empty() {
                let _ = s.delete(ids[pick % ids.len()]);
            }
        }
        Step::Advance { ms } => clock.advance_ms(*ms),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random adds, upserts, updates, deletes and expiries across 10
    /// namespaces: every read returns only its namespace's memories that pass
    /// its filter, and exactly the top k that a store holding only those
    /// memories returns.
    #[test]
    fn namespaces_are_isolated_and_filtered_top_k_is_exact(steps in prop::collection::vec(step(), 1..90)) {
        let (s, clock) = store(4);
        let mut counter = 0;
        for st in &steps {
            apply(&s, &clock, st, &mut counter);
        }
        s.check_integrity().unwrap();
        let now = clock.unix_millis();
        let filters = [None, Some(json!({ "n": { "$gte": 5 } })), Some(json!({ "tag": "a" })),
                       Some(json!({ "namespace": "user-3" })), Some(json!({ "$or": [{ "n": 1 }, { "id": 7 }] }))];
        let query = [0.5f32, -0.2, 0.7, 0.1];
        for ns in 0..10 {
            let name = ns_name(ns);
            for filter in &filters {
                // The memories in scope, through export (which the reference imports).
                let scope = ScopeOptions { namespace: Some(Namespaces::One(name.clone())), filter: filter.clone() };
                let jsonl = s.export_jsonl(&scope).unwrap();
                let expected_ids: Vec<u64> = jsonl.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_u64().unwrap()).collect();
                prop_assert_eq!(s.count(&scope).unwrap(), expected_ids.len());
                let listed = s.list(&ListOptions { namespace: scope.namespace.clone(), filter: filter.clone(), limit: 10_000, ..ListOptions::default() }).unwrap();
                prop_assert_eq!(listed.memories.iter().map(|m| m.id).collect::<Vec<_>>(), expected_ids.clone());
                for m in &listed.memories {
                    prop_assert_eq!(&m.namespace, &name);
                }

                let reference = Store::with_clock(
                    Config { embedding_dim: 4, max_degree: 3, ..Config::default() },
                    Arc::new({ let c = ManualClock::new(); c.set_unix_millis(now); c }),
                ).unwrap();
                reference.import_jsonl(&jsonl, &ImportOptions::default()).unwrap();

                let opts = RetrieveOptions {
                    top_k: 4, now: Some(now), text: Some("tea piano storm".into()),
                    namespace: Some(Namespaces::One(name.clone())), filter: filter.clone(), ..RetrieveOptions::default()
                };
                let hits = s.retrieve(&query, &opts).unwrap();
                let want = reference.retrieve(&query, &RetrieveOptions { filter: None, ..opts.clone() }).unwrap();
                prop_assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), want.iter().map(|h| h.id).collect::<Vec<_>>());
                for (h, w) in hits.iter().zip(&want) {
                    prop_assert_eq!(&h.namespace, &name);
                    prop_assert!(expected_ids.contains(&h.id));
                    prop_assert!((h.score.p - w.score.p).abs() < 1e-9, "{} vs {}", h.score.p, w.score.p);
                    prop_assert!((h.score.l - w.score.l).abs() < 1e-12);
                }

                let c = s.context(&query, &ContextOptions {
                    now: Some(now), namespace: Some(Namespaces::One(name.clone())), filter: filter.clone(),
                    ..ContextOptions::default()
                }).unwrap();
                for item in &c.items {
                    prop_assert!(expected_ids.contains(&item.hit.id), "context item {} is outside its scope", item.hit.id);
                    prop_assert_eq!(&item.hit.namespace, &name);
                }
            }
        }
        // Per-namespace counts in the metrics match what each namespace holds.
        let m = s.metrics();
        let total: u64 = m.namespaces.values().sum();
        prop_assert_eq!(total, s.len() as u64);
    }
}

#[test]
fn edges_never_cross_namespaces() {
    let (s, _) = store(2);
    for i in 0..40 {
        let ns = if i % 2 == 0 { "a" } else { "b" };
        s.add(&[1.0, i as f32 * 0.01], "same direction everywhere", in_ns(ns)).unwrap();
    }
    s.check_integrity().unwrap(); // includes "edge crosses namespaces"
    for id in s.ids() {
        let m = s.get(id).unwrap();
        for n in m.neighbors {
            assert_eq!(s.get(n).unwrap().namespace, m.namespace);
        }
    }
    assert_eq!(s.hubs_in("a").len(), 1);
    assert!(s.hubs_in("a").iter().all(|&id| s.get(id).unwrap().namespace == "a"));
    assert!(s.hubs().is_empty(), "the default namespace is empty");
}

// ---------------------------------------------------------------- update and upsert

#[test]
fn update_keeps_identity_and_follows_text_and_embedding() {
    let (s, clock) = store(3);
    let a = s.add(&[1.0, 0.0, 0.0], "the cat sleeps", AddOptions::default()).unwrap();
    let b = s.add(&[0.9, 0.1, 0.0], "the dog barks", AddOptions::default()).unwrap();
    let c = s.add(&[0.0, 1.0, 0.0], "a storm is coming", AddOptions::default()).unwrap();
    let created = s.get(a).unwrap().created_at;
    clock.advance_ms(5_000);
    let _ = s.context(&[1.0, 0.0, 0.0], &ContextOptions::default()).unwrap();
    let accessed = s.get(a).unwrap().access_count;
    assert!(accessed > 0);

    // Text: the lexical index follows.
    s.update(a, &MemoryUpdate { text: Some("the lion roars".into()), ..Default::default() }).unwrap();
    let by_text = |t: &str| {
        s.retrieve_query(None, &RetrieveOptions { text: Some(t.into()), top_k: 1, ..Default::default() }).unwrap()[0].id
    };
    assert_eq!(by_text("lion"), a);
    let cat =
        s.retrieve_query(None, &RetrieveOptions { text: Some("cat".into()), top_k: 3, ..Default::default() }).unwrap();
    assert!(cat.iter().all(|h| h.score.l == 0.0), "the old word is gone from the index");
    // Embedding: re-linked, identity kept.
    assert!(s.get(a).unwrap().neighbors.contains(&b));
    s.update(a, &MemoryUpdate { embedding: Some(vec![0.0, 0.9, 0.1]), ..Default::default() }).unwrap();
    s.check_integrity().unwrap();
    let m = s.get(a).unwrap();
    assert_eq!((m.id, m.created_at, m.access_count, m.text.as_str()), (a, created, accessed, "the lion roars"));
    assert!(m.neighbors.contains(&c), "{:?}", m.neighbors);
    assert!(!s.get(b).unwrap().neighbors.is_empty() || s.len() < 3, "the old neighbour is re-linked");
    // Weight, metadata, expiry in place.
    s.update(a, &MemoryUpdate { weight: Some(3.0), metadata: Some(Some(json!({"k": 1}))), ..Default::default() })
        .unwrap();
    assert_eq!(s.get(a).unwrap().metadata, Some(json!({"k": 1})));
    s.update(a, &MemoryUpdate { metadata: Some(None), ttl_ms: Some(1000), ..Default::default() }).unwrap();
    let m = s.get(a).unwrap();
    assert_eq!((m.weight, m.metadata.clone()), (3.0, None));
    assert_eq!(m.expires_at, Some(clock.unix_millis() + 1000));
    s.update(a, &MemoryUpdate { expires_at: Some(None), ..Default::default() }).unwrap();
    assert_eq!(s.get(a).unwrap().expires_at, None);
}

#[test]
fn a_rejected_update_changes_nothing() {
    let (s, clock) = store(3);
    let a = s.add(&[1.0, 0.0, 0.0], "first", AddOptions { key: Some("k".into()), ..Default::default() }).unwrap();
    s.add(&[0.9, 0.1, 0.0], "second", AddOptions::default()).unwrap();
    let before = s.export_jsonl(&ScopeOptions::default()).unwrap();
    let edges = s.edge_count();
    let bad = [
        MemoryUpdate::default(),
        MemoryUpdate { text: Some(String::new()), ..Default::default() },
        MemoryUpdate { embedding: Some(vec![0.0; 3]), ..Default::default() },
        MemoryUpdate { embedding: Some(vec![1.0; 4]), ..Default::default() },
        MemoryUpdate { weight: Some(f64::NAN), ..Default::default() },
        MemoryUpdate { metadata: Some(Some(json!([1]))), ..Default::default() },
        MemoryUpdate { expires_at: Some(Some(clock.unix_millis())), ..Default::default() },
        MemoryUpdate { expires_at: Some(None), ttl_ms: Some(5), ..Default::default() },
        // A valid text with an invalid embedding: nothing at all changes.
        MemoryUpdate { text: Some("new".into()), embedding: Some(vec![f32::NAN, 0.0, 0.0]), ..Default::default() },
    ];
    for (i, p) in bad.iter().enumerate() {
        assert_eq!(s.update(a, p).unwrap_err().code(), ErrorCode::InvalidData, "case {i}");
    }
    assert_eq!(
        s.update(99, &MemoryUpdate { text: Some("x".into()), ..Default::default() }).unwrap_err().code(),
        ErrorCode::NotFound
    );
    // A deadline that fires while re-linking changes nothing either.
    clock.set_auto_advance_micros(2_000_000);
    let slow = MemoryUpdate { embedding: Some(vec![0.0, 1.0, 0.0]), timeout_ms: Some(1), ..Default::default() };
    assert_eq!(s.update(a, &slow).unwrap_err().code(), ErrorCode::Timeout);
    clock.set_auto_advance_micros(0);
    assert_eq!(s.export_jsonl(&ScopeOptions::default()).unwrap(), before);
    assert_eq!(s.edge_count(), edges);
    s.check_integrity().unwrap();
}

#[test]
fn upsert_by_key_replaces_in_place_within_its_namespace() {
    let (s, clock) = store(2);
    let opts =
        |ns: &str, key: &str| AddOptions { namespace: Some(ns.into()), key: Some(key.into()), ..Default::default() };
    let a = s.add(&[1.0, 0.0], "likes tea", opts("u1", "drink")).unwrap();
    let b = s.add(&[1.0, 0.1], "likes coffee", opts("u2", "drink")).unwrap();
    assert_ne!(a, b, "the same key in another namespace is another memory");
    let created = s.get(a).unwrap().created_at;
    clock.advance_ms(1000);
    assert_eq!(s.add(&[0.0, 1.0], "now likes water", opts("u1", "drink")).unwrap(), a);
    let m = s.get(a).unwrap();
    assert_eq!((m.text.as_str(), m.created_at, m.key.as_deref()), ("now likes water", created, Some("drink")));
    assert_eq!(s.len(), 2);
    // Given created_at wins; batches upsert too, and reject a key twice in one batch.
    let e = [1.0f32, 0.0, 0.0, 1.0];
    let items = |k2: &str| {
        vec![
            ov_memory::NewMemory {
                embedding: &e[..2],
                text: "x",
                namespace: Some("u1".into()),
                key: Some("drink".into()),
                ..Default::default()
            },
            ov_memory::NewMemory {
                embedding: &e[2..],
                text: "y",
                namespace: Some("u1".into()),
                key: Some(k2.into()),
                ..Default::default()
            },
        ]
    };
    assert_eq!(s.add_batch(&items("drink"), None).unwrap_err().code(), ErrorCode::InvalidData);
    let ids = s.add_batch(&items("food"), None).unwrap();
    assert_eq!(ids[0], a);
    assert_eq!(s.count(&ScopeOptions { namespace: Some("u1".into()), filter: None }).unwrap(), 2);
    s.check_integrity().unwrap();
}

// ---------------------------------------------------------------- expiry

#[test]
fn expired_memories_are_never_returned_and_removed_on_the_next_write() {
    let (s, clock) = store(2);
    let keep = s.add(&[1.0, 0.0], "stays", AddOptions::default()).unwrap();
    let gone = s.add(&[1.0, 0.1], "expires soon", AddOptions { ttl_ms: Some(1000), ..Default::default() }).unwrap();
    let at = s
        .add(
            &[1.0, 0.2],
            "expires later",
            AddOptions { expires_at: Some(clock.unix_millis() + 5000), ..Default::default() },
        )
        .unwrap();
    let ids = |s: &Store| {
        s.retrieve(&[1.0, 0.0], &RetrieveOptions::top_k(10)).unwrap().into_iter().map(|h| h.id).collect::<Vec<_>>()
    };
    assert_eq!(ids(&s).len(), 3);
    clock.advance_ms(1000);
    assert_eq!(ids(&s), vec![keep, at]);
    assert!(s.get(gone).is_err() && !s.contains(gone));
    assert_eq!(s.count(&ScopeOptions::default()).unwrap(), 2);
    assert_eq!(s.get_many(&[gone, keep]).unwrap().iter().map(Option::is_some).collect::<Vec<_>>(), [false, true]);
    assert_eq!(s.len(), 3, "still held until a write");
    assert!(s.export_jsonl(&ScopeOptions::default()).unwrap().lines().count() == 2);
    // As-of reads do not resurrect it: expiry follows the store's clock.
    let past = RetrieveOptions { now: Some(0), ..RetrieveOptions::top_k(10) };
    assert!(s.retrieve(&[1.0, 0.0], &past).unwrap().iter().all(|h| h.id != gone));
    s.add(&[0.0, 1.0], "a write", AddOptions::default()).unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(s.metrics().expired_removed, 1);
    clock.advance_ms(4000);
    assert_eq!(s.sweep().unwrap(), 1);
    assert_eq!(s.sweep().unwrap(), 0);
    assert_eq!(s.metrics().expired_removed, 2);
    assert!(s.prometheus().contains("ov_memory_expired_removed_total 2"));
    s.check_integrity().unwrap();
    // The key of an expired memory is free again.
    let k = s
        .add(&[1.0, 1.0], "keyed", AddOptions { key: Some("k".into()), ttl_ms: Some(10), ..Default::default() })
        .unwrap();
    clock.advance_ms(10);
    assert_ne!(
        s.add(&[1.0, 1.0], "keyed again", AddOptions { key: Some("k".into()), ..Default::default() }).unwrap(),
        k
    );
}

// ---------------------------------------------------------------- listing, export, import

#[test]
fn list_pages_through_every_memory_in_id_order() {
    let (s, _) = store(2);
    for i in 0..25 {
        let ns = if i % 5 == 0 { "other" } else { "" };
        let meta = json!({ "i": i });
        s.add(
            &[1.0, i as f32],
            "m",
            AddOptions { namespace: Some(ns.into()), metadata: Some(meta), ..Default::default() },
        )
        .unwrap();
    }
    s.delete(7).unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.list(&ListOptions { after_id: after, limit: 6, ..Default::default() }).unwrap();
        seen.extend(page.memories.iter().map(|m| m.id));
        match page.next_after_id {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let want: Vec<u64> = (1..=25).filter(|i| (i - 1) % 5 != 0 && *i != 7).collect();
    assert_eq!(seen, want);
    assert_eq!(s.delete_many(&[2, 2, 3, 999]).unwrap(), 2);
    assert_eq!(s.delete_namespace("other").unwrap(), 5);
    assert_eq!(s.namespaces().get("other"), None);
    assert_eq!(s.namespaces()[""], 17);
    s.add(&[1.0, 0.0], "m", in_ns("a \"quoted\" \\ name")).unwrap();
    let prom = s.prometheus();
    assert!(prom.contains("ov_memory_namespace_memories{namespace=\"\"} 17"), "{prom}");
    assert!(prom.contains(r#"ov_memory_namespace_memories{namespace="a \"quoted\" \\ name"} 1"#), "{prom}");
}

#[test]
fn export_then_import_gives_the_same_results() {
    let (s, clock) = store(8);
    let mut x = 7u64;
    for i in 0..60 {
        let v: Vec<f32> = (0..8).map(|_| (xorshift(&mut x) % 2000) as f32 / 1000.0 - 1.0).collect();
        let opts = AddOptions {
            namespace: Some(format!("n{}", i % 3)),
            metadata: (i % 2 == 0).then(|| json!({ "i": i, "nested": { "s": "ü\u{1F600}\"" } })),
            key: (i % 7 == 0).then(|| format!("key{i}")),
            weight: Some(0.5 + (i % 4) as f64),
            created_at: Some(clock.unix_millis() - i * 3_600_000),
            expires_at: (i % 11 == 0).then(|| clock.unix_millis() + 1_000_000),
            ..Default::default()
        };
        s.add(&v, &format!("memory {i} about {}", WORDS[i as usize % 8]), opts).unwrap();
    }
    let _ = s.context(&[0.1; 8], &ContextOptions { namespace: Some("n1".into()), ..Default::default() }).unwrap();
    let text = s.export_jsonl(&ScopeOptions::default()).unwrap();
    let (t, clock2) = store(8);
    clock2.set_unix_millis(clock.unix_millis());
    assert_eq!(t.import_jsonl(&text, &ImportOptions::default()).unwrap().imported, 60);
    assert_eq!(t.export_jsonl(&ScopeOptions::default()).unwrap(), text, "every field survives, floats exactly");
    for ns in ["n0", "n1", "n2"] {
        let o = RetrieveOptions {
            top_k: 10,
            text: Some("memory tea".into()),
            namespace: Some(ns.into()),
            now: Some(clock.unix_millis()),
            ..Default::default()
        };
        let a = s.retrieve(&[0.3; 8], &o).unwrap();
        let b = t.retrieve(&[0.3; 8], &o).unwrap();
        assert_eq!(
            a.iter().map(|h| (h.id, h.score.p.to_bits())).collect::<Vec<_>>(),
            b.iter().map(|h| (h.id, h.score.p.to_bits())).collect::<Vec<_>>()
        );
    }
    // New ids on request; the ids of a used range are refused.
    assert_eq!(t.import_jsonl(&text, &ImportOptions::default()).unwrap_err().code(), ErrorCode::InvalidData);
    let (u, _) = store(8);
    u.add(&[1.0; 8], "first", AddOptions::default()).unwrap();
    let part = s.export_jsonl(&ScopeOptions { namespace: Some("n2".into()), filter: None }).unwrap();
    let r = u.import_jsonl(&part, &ImportOptions { keep_ids: false, ..Default::default() }).unwrap();
    assert_eq!(r.imported, 20);
    assert_eq!(u.ids(), (1..=21).collect::<Vec<u64>>());
    u.check_integrity().unwrap();
}

#[test]
fn retrieve_many_equals_one_retrieve_per_query() {
    let (s, _) = store(4);
    for i in 0..200u32 {
        let v = [(i as f32).sin(), (i as f32 * 0.7).cos(), (i % 7) as f32 * 0.1, 0.3];
        let meta = json!({ "even": i % 2 == 0, "fifth": i % 5 == 0 });
        s.add(
            &v,
            &format!("item {} {}", WORDS[i as usize % 8], i),
            AddOptions { metadata: Some(meta), ..Default::default() },
        )
        .unwrap();
    }
    // 19 queries: two full blocks of a shared scan and a part block.
    let qs: Vec<[f32; 4]> = (0..19).map(|i| [(i as f32).cos(), 0.2, (i as f32).sin(), 0.1]).collect();
    let texts = ["tea", "river storm", "piano"];
    let queries: Vec<BatchQuery<'_>> = qs
        .iter()
        .enumerate()
        .map(|(i, q)| BatchQuery {
            embedding: (i % 4 != 3).then_some(&q[..]),
            text: (i % 2 == 0 || i % 4 == 3).then(|| texts[i % 3]),
        })
        .collect();
    // Every memory in scope, half of them (scanned whole) and a fifth (scanned row by row).
    for filter in [None, Some(json!({ "even": true })), Some(json!({ "fifth": true }))] {
        let opts = RetrieveOptions { top_k: 7, filter, ..Default::default() };
        let many = s.retrieve_many(&queries, &opts).unwrap();
        assert_eq!(many.len(), queries.len());
        for (q, hits) in queries.iter().zip(&many) {
            let one = s
                .retrieve_query(q.embedding, &RetrieveOptions { text: q.text.map(str::to_owned), ..opts.clone() })
                .unwrap();
            assert_eq!(hits, &one);
        }
    }
    let opts = RetrieveOptions { top_k: 7, ..Default::default() };
    let bad = [BatchQuery { embedding: None, text: None }];
    let e = s.retrieve_many(&bad, &opts).unwrap_err();
    assert_eq!((e.code(), e.context()["index"].clone()), (ErrorCode::InvalidData, json!(0)));
}

// ---------------------------------------------------------------- snapshots

#[test]
fn version_1_snapshots_still_load() {
    let bytes = std::fs::read(data("snapshot_v1.ovm")).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 1, "the fixture is a version-1 file");
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(data("snapshot_v1.expected.json")).unwrap()).unwrap();
    let s = Store::from_bytes(&bytes).unwrap();
    s.check_integrity().unwrap();
    assert_eq!(s.edge_count() as u64, want["edge_count"].as_u64().unwrap());
    for m in want["memories"].as_array().unwrap() {
        let got = serde_json::to_value(s.get(m["id"].as_u64().unwrap()).unwrap()).unwrap();
        for (k, v) in m.as_object().unwrap() {
            if k == "embedding" {
                // Compared as f32: the expected file went through decimal text.
                let f =
                    |x: &Value| x.as_array().unwrap().iter().map(|y| y.as_f64().unwrap() as f32).collect::<Vec<_>>();
                assert_eq!(f(&got[k]), f(v), "memory {} embedding", m["id"]);
            } else {
                assert_eq!(&got[k], v, "memory {} field {k}", m["id"]);
            }
        }
        assert_eq!(
            (got["namespace"].as_str(), got["key"].is_null(), got["expires_at"].is_null()),
            (Some(""), true, true)
        );
    }
    let q: Vec<f32> = want["query"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    let o = RetrieveOptions::from_json(&want["retrieve_options"].to_string()).unwrap();
    let hits = serde_json::to_value(s.retrieve(&q, &o).unwrap()).unwrap();
    for (h, w) in hits.as_array().unwrap().iter().zip(want["hits"].as_array().unwrap()) {
        assert_eq!(h["id"], w["id"]);
        for part in ["S", "L", "C", "G", "R", "W", "rel", "P"] {
            let (a, b) = (h["score"][part].as_f64().unwrap(), w["score"][part].as_f64().unwrap());
            // Within f32 rounding: the dot product's summation order has
            // changed since the fixture was written (relevance is kept in f32).
            assert!((a - b).abs() < 1e-6 * b.abs().max(1.0), "{part}: {a} vs {b}");
        }
    }
    // Saved again, it is a version-2 file with the same content; the next id continues.
    let again = s.to_bytes().unwrap();
    assert_eq!(u32::from_le_bytes(again[8..12].try_into().unwrap()), ov_memory::snapshot::VERSION);
    assert_eq!(s.add(&[0.1; 8], "new", AddOptions::default()).unwrap(), want["next_id"].as_u64().unwrap());
}

#[test]
fn version_2_snapshots_carry_namespaces_keys_and_expiry() {
    let (s, clock) = store(2);
    s.add(
        &[1.0, 0.0],
        "a",
        AddOptions {
            namespace: Some("u\u{e9}".into()),
            key: Some("k".into()),
            ttl_ms: Some(9000),
            ..Default::default()
        },
    )
    .unwrap();
    s.add(&[1.0, 0.1], "b", in_ns("u\u{e9}")).unwrap();
    s.add(&[0.0, 1.0], "c", AddOptions::default()).unwrap();
    let bytes = s.to_bytes().unwrap();
    let t = Store::from_bytes_with(&bytes, None, clock.clone()).unwrap();
    assert_eq!(t.export_jsonl(&ScopeOptions::default()).unwrap(), s.export_jsonl(&ScopeOptions::default()).unwrap());
    assert_eq!(t.namespaces(), s.namespaces());
    // The key index is restored: an upsert replaces in place.
    assert_eq!(
        t.add(
            &[0.5, 0.5],
            "a2",
            AddOptions { namespace: Some("u\u{e9}".into()), key: Some("k".into()), ..Default::default() }
        )
        .unwrap(),
        1
    );
    clock.advance_ms(9000);
    assert_eq!(
        t.count(&ScopeOptions { namespace: Some("u\u{e9}".into()), filter: None }).unwrap(),
        2,
        "the upsert cleared the expiry"
    );
    assert_eq!(s.count(&ScopeOptions { namespace: Some("u\u{e9}".into()), filter: None }).unwrap(), 1);
    t.check_integrity().unwrap();
}

#[test]
fn filters_reject_bad_clauses_with_their_path() {
    let (s, _) = store(2);
    s.add(&[1.0, 0.0], "a", AddOptions::default()).unwrap();
    let o = RetrieveOptions {
        filter: Some(json!({ "$and": [{ "a": 1 }, { "b": { "$regex": "x" } }] })),
        ..Default::default()
    };
    let e = s.retrieve(&[1.0, 0.0], &o).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidData);
    assert_eq!(e.context()["path"], json!("filter.$and[1].b.$regex"));
    assert_eq!(s.metrics().error_breakdown["INVALID_DATA"], 1);
}

/// Filters run on metadata columns kept in step with inserts, deletes (which
/// move the last memory into the hole) and metadata updates; they must agree
/// with the filter evaluated on each memory's metadata, for every JSON type.
#[test]
fn filter_columns_agree_with_the_metadata_after_every_change() {
    let (s, _) = store(2);
    let values = [
        json!(1),
        json!(1.0),
        json!(2.5),
        json!(-3),
        json!(9_007_199_254_740_993u64),
        json!(9_007_199_254_740_992.0),
        json!("tea"),
        json!("Tea"),
        json!("tee"),
        json!(""),
        json!(null),
        json!(true),
        json!(false),
        json!([1, 2]),
        json!({ "x": 1 }),
    ];
    let filters = [
        json!({ "v": 1 }),
        json!({ "v": 9_007_199_254_740_993u64 }),
        json!({ "v": 9_007_199_254_740_992u64 }),
        json!({ "v": "tea" }),
        json!({ "v": "coffee" }),
        json!({ "v": null }),
        json!({ "v": [1, 2] }),
        json!({ "v": { "x": 1 } }),
        json!({ "v": { "$ne": 1 } }),
        json!({ "v": { "$in": [true, "tee", 2.5] } }),
        json!({ "v": { "$nin": ["tea", null] } }),
        json!({ "v": { "$gt": 1 } }),
        json!({ "v": { "$lte": "tea" } }),
        json!({ "v": { "$gte": 9_007_199_254_740_992.0 } }),
        json!({ "v": { "$exists": false } }),
        json!({ "v.x": 1 }),
        json!({ "$or": [{ "v": { "$lt": 0 } }, { "w": "a" }] }),
        json!({ "$not": { "w": { "$in": ["a", "b"] } } }),
    ];
    let mut x = 99u64;
    let mut rnd = |n: u64| xorshift(&mut x) % n;
    let check = |s: &Store, round: usize| {
        let all: Vec<ov_memory::Memory> = s.get_many(&s.ids()).unwrap().into_iter().flatten().collect();
        for f in &filters {
            let want = all
                .iter()
                .filter(|m| ov_memory::Filter::new(f).unwrap().matches(m.metadata.as_ref().and_then(Value::as_object)))
                .count();
            let got = s.count(&ScopeOptions { namespace: None, filter: Some(f.clone()) }).unwrap();
            assert_eq!(got, want, "round {round}, filter {f}");
        }
    };
    for round in 0..60 {
        match rnd(4) {
            0 | 1 => {
                let mut meta = serde_json::Map::new();
                if rnd(5) > 0 {
                    meta.insert("v".into(), values[rnd(values.len() as u64) as usize].clone());
                }
                if rnd(2) == 0 {
                    meta.insert("w".into(), json!(["a", "b", "c"][rnd(3) as usize]));
                }
                let m = (!meta.is_empty() || rnd(2) == 0).then_some(Value::Object(meta));
                s.add(&[1.0, rnd(10) as f32], "m", AddOptions { metadata: m, ..Default::default() }).unwrap();
            }
            2 => {
                let ids = s.ids();
                if !ids.is_empty() {
                    s.delete(ids[rnd(ids.len() as u64) as usize]).unwrap();
                }
            }
            _ => {
                let ids = s.ids();
                if !ids.is_empty() {
                    let v = values[rnd(values.len() as u64) as usize].clone();
                    let meta = if rnd(4) == 0 { None } else { Some(json!({ "v": v })) };
                    let id = ids[rnd(ids.len() as u64) as usize];
                    s.update(id, &MemoryUpdate { metadata: Some(meta), ..Default::default() }).unwrap();
                }
            }
        }
        // Columns exist from the first filtered read on; later changes must keep them right.
        check(&s, round);
    }
}

/// A batch's links are planned in parallel, yet the honeycomb is the one that
/// the same memories added one by one build.
#[test]
fn a_parallel_batch_builds_the_same_honeycomb_as_single_adds() {
    let (one, _) = store(6);
    let (many, _) = store(6);
    let mut x = 5u64;
    let mut flat = Vec::new();
    for _ in 0..300 {
        for _ in 0..6 {
            flat.push((xorshift(&mut x) % 2000) as f32 / 1000.0 - 0.9);
        }
    }
    let texts: Vec<String> = (0..300).map(|i| format!("memory {i}")).collect();
    for (i, t) in texts.iter().enumerate() {
        one.add(&flat[i * 6..(i + 1) * 6], t, in_ns(if i % 4 == 0 { "b" } else { "a" })).unwrap();
    }
    let items: Vec<ov_memory::NewMemory<'_>> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| ov_memory::NewMemory {
            embedding: &flat[i * 6..(i + 1) * 6],
            text: t,
            namespace: Some(if i % 4 == 0 { "b" } else { "a" }.into()),
            ..Default::default()
        })
        .collect();
    many.add_batch(&items, None).unwrap();
    many.check_integrity().unwrap();
    for id in one.ids() {
        assert_eq!(one.get(id).unwrap().neighbors, many.get(id).unwrap().neighbors, "memory {id}");
    }
    assert_eq!(one.edge_count(), many.edge_count());
}
