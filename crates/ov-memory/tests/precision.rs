//! Compact vectors (`vector_precision` f16 and i8): ranking on real
//! embeddings against full precision, the size estimate, batches against
//! single adds, the approximate index, snapshots and their checks.

#[path = "common/qa.rs"]
mod qa;
#[path = "common/rng.rs"]
mod rng;

use ov_memory::{
    AddOptions, BatchQuery, Config, ErrorCode, ManualClock, MemoryUpdate, NewMemory, Precision, RetrieveOptions, Store,
};
use std::sync::Arc;

const PRECISIONS: [Precision; 3] = [Precision::F32, Precision::F16, Precision::I8];

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// The first `n` rows of the real corpus (all-MiniLM-L6-v2, 384 dimensions)
/// and the corpus's queries.
fn corpus(n: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let dir = qa::data_dir().join("corpus");
    let rows = floats(&std::fs::read(dir.join("corpus_fortunes.f32")).unwrap());
    let queries = floats(&std::fs::read(dir.join("corpus_queries.f32")).unwrap());
    let split = |v: Vec<f32>| v.chunks_exact(384).map(<[f32]>::to_vec).collect::<Vec<_>>();
    let mut rows = split(rows);
    rows.truncate(n);
    (rows, split(queries))
}

fn store(p: Precision, dim: usize, exact_limit: usize) -> Store {
    let config =
        Config { embedding_dim: dim, max_nodes: 100_000, vector_precision: p, exact_limit, ..Config::default() };
    Store::with_clock(config, Arc::new(ManualClock::new())).unwrap()
}

fn top(s: &Store, q: &[f32], k: usize, exact: bool) -> Vec<u64> {
    let o = RetrieveOptions { top_k: k, alpha: Some(1.0), exact, ..RetrieveOptions::default() };
    s.retrieve(q, &o).unwrap().iter().map(|h| h.id).collect()
}

/// Mean overlap of two lists of top-k ids, query by query.
fn overlap(a: &[Vec<u64>], b: &[Vec<u64>]) -> f64 {
    let found: usize = a.iter().zip(b).map(|(x, y)| x.iter().filter(|id| y.contains(id)).count()).sum();
    found as f64 / a.iter().map(Vec::len).sum::<usize>().max(1) as f64
}

/// On 2 000 real embeddings the exact top 10 of a compact store is nearly
/// that of full precision, and the size estimate shrinks by exactly the
/// bytes the rows save.
#[test]
fn compact_stores_rank_like_full_precision_on_real_embeddings() {
    let (rows, queries) = corpus(2000);
    let items: Vec<NewMemory> =
        rows.iter().map(|v| NewMemory { embedding: v, text: "fortune", ..NewMemory::default() }).collect();
    let stores: Vec<Store> = PRECISIONS
        .iter()
        .map(|&p| {
            let s = store(p, 384, 10_000);
            s.add_batch(&items, None).unwrap();
            s.check_integrity().unwrap();
            s
        })
        .collect();
    let tops: Vec<Vec<Vec<u64>>> =
        stores.iter().map(|s| queries.iter().map(|q| top(s, q, 10, true)).collect()).collect();
    let (f16, i8) = (overlap(&tops[0], &tops[1]), overlap(&tops[0], &tops[2]));
    assert!(f16 >= 0.99, "f16 keeps {f16} of the top 10");
    assert!(i8 >= 0.98, "i8 keeps {i8} of the top 10");
    // The size estimate counts the stored row (edges aside: one memory has none).
    let one: Vec<u64> = PRECISIONS
        .iter()
        .map(|&p| {
            let s = store(p, 384, 10_000);
            s.add(&rows[0], "fortune", AddOptions::default()).unwrap();
            s.memory_estimate_bytes()
        })
        .collect();
    // (At full precision the index keeps an 8-bit copy of the row too.)
    assert_eq!(one[0] - one[1], (4 * 384 + (384 + 4) - (2 * 384 + 4)) as u64);
    assert_eq!(one[0] - one[2], (4 * 384 + (384 + 4) - (384 + 4)) as u64);
    assert_eq!(Precision::F16.row_bytes(384), 2 * 384 + 4);
    assert_eq!(Precision::I8.row_bytes(384), 384 + 4);
    // What get returns is the stored vector: within the precision of the original.
    for (s, (p, tol)) in
        stores.iter().zip([(Precision::F32, 0.0), (Precision::F16, 1.0 / 2048.0), (Precision::I8, 1.0 / 254.0)])
    {
        for id in [1u64, 777, 2000] {
            let v = &rows[id as usize - 1];
            let m = v.iter().fold(0f32, |m, x| m.max(x.abs()));
            let got = s.get(id).unwrap().embedding;
            assert!(got.iter().zip(v).all(|(a, b)| (a - b).abs() <= m * tol * 1.001 + 1e-7), "{p:?} id {id}");
        }
    }
}

/// Exact reads in a batch (their query vectors compared with the rows in
/// blocks, two at a time) return what one read per query returns, score for
/// score, at every precision: 21 real queries, so blocks end on a pair and
/// on a lone query. (300 memories: enough rows for the kernels' whole
/// blocks, few enough that the debug build links them quickly.)
#[test]
fn batched_exact_reads_are_single_reads_at_every_precision() {
    let (rows, queries) = corpus(300);
    let items: Vec<NewMemory> =
        rows.iter().map(|v| NewMemory { embedding: v, text: "fortune", ..NewMemory::default() }).collect();
    let batch: Vec<BatchQuery<'_>> =
        queries[..21].iter().map(|q| BatchQuery { embedding: Some(q), text: None }).collect();
    for p in PRECISIONS {
        let s = store(p, 384, 10_000);
        s.add_batch(&items, None).unwrap();
        for alpha in [None, Some(1.0)] {
            let o = RetrieveOptions { top_k: 10, alpha, exact: true, ..RetrieveOptions::default() };
            let many = s.retrieve_many(&batch, &o).unwrap();
            assert_eq!(many.len(), batch.len());
            for (q, hits) in batch.iter().zip(&many) {
                assert_eq!(hits, &s.retrieve_query(q.embedding, &o).unwrap(), "{p:?}");
            }
        }
    }
}

/// A store at precision `p` holding `clustered(seed, n, dim)`, added one by one.
fn filled(p: Precision, seed: u64, n: usize, dim: usize, exact_limit: usize) -> Store {
    let s = store(p, dim, exact_limit);
    for (i, v) in clustered(seed, n, dim).iter().enumerate() {
        s.add(v, &format!("memory {i}"), AddOptions::default()).unwrap();
    }
    s
}

/// `n` vectors of `dim` around a few centres.
fn clustered(seed: u64, n: usize, dim: usize) -> Vec<Vec<f32>> {
    let mut x = seed;
    let mut unit = move || (rng::xorshift(&mut x) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
    let centres: Vec<Vec<f32>> = (0..12).map(|_| (0..dim).map(|_| unit()).collect()).collect();
    (0..n).map(|i| centres[i % 12].iter().map(|c| c + 0.4 * unit()).collect()).collect()
}

/// Exact top-10 hits at alpha 1 (ids and score bits): they depend on the stored rows only.
fn exact_hits(s: &Store, queries: &[Vec<f32>]) -> Vec<Vec<(u64, u64)>> {
    let o = RetrieveOptions { top_k: 10, alpha: Some(1.0), exact: true, ..RetrieveOptions::default() };
    queries.iter().map(|q| s.retrieve(q, &o).unwrap().iter().map(|h| (h.id, h.score.p.to_bits())).collect()).collect()
}

/// A compact store on its approximate index from the first memory: a batch
/// stores the rows single adds store (the exact ranking, which reads only
/// the rows, is bit for bit the same); after deletes and embedding updates
/// the structure holds and the index finds what the exact scan of the same
/// store finds.
#[test]
fn a_compact_batch_stores_its_adds_rows_and_the_index_finds_what_the_scan_finds() {
    let data = clustered(5, 600, 48);
    let queries = clustered(99, 40, 48);
    for p in [Precision::F16, Precision::I8] {
        let (batched, single) = (store(p, 48, 0), store(p, 48, 0));
        let items: Vec<NewMemory> =
            data.iter().map(|v| NewMemory { embedding: v, text: "m", ..NewMemory::default() }).collect();
        for chunk in items.chunks(150) {
            batched.add_batch(chunk, None).unwrap();
        }
        for v in &data {
            single.add(v, "m", AddOptions::default()).unwrap();
        }
        assert_eq!(exact_hits(&batched, &queries), exact_hits(&single, &queries), "{p:?}");
        single.check_integrity().unwrap();
        let s = batched;
        let mut x = 17u64;
        for _ in 0..60 {
            let id = rng::xorshift(&mut x) % 600 + 1;
            if s.get(id).is_ok() {
                s.delete(id).unwrap();
            }
        }
        for id in (2..600).step_by(37) {
            if s.get(id).is_ok() {
                let e = data[(id as usize * 7) % 600].iter().map(|v| -v).collect::<Vec<f32>>();
                s.update(id, &MemoryUpdate { embedding: Some(e), ..MemoryUpdate::default() }).unwrap();
            }
        }
        s.check_integrity().unwrap();
        let exact: Vec<Vec<u64>> = queries.iter().map(|q| top(&s, q, 10, true)).collect();
        let approx: Vec<Vec<u64>> = queries.iter().map(|q| top(&s, q, 10, false)).collect();
        let r = overlap(&exact, &approx);
        assert!(r >= 0.9, "{p:?}: recall@10 {r}");
    }
}

/// The bytes of section `kind` of a snapshot (its payload range).
fn section(bytes: &[u8], kind: u32) -> std::ops::Range<usize> {
    let mut at = 16;
    loop {
        let k = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let len = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap()) as usize;
        if k == kind {
            return at + 16..at + 16 + len;
        }
        at += 16 + len;
    }
}

/// A compact snapshot reads back to the same store (bytes, hits and their
/// scores, embeddings); a store of another precision refuses it and keeps
/// what it had; a row whose scale is not a positive number is corruption.
#[test]
fn compact_snapshots_round_trip_and_are_checked() {
    let data = clustered(3, 120, 20);
    for p in [Precision::F16, Precision::I8] {
        let s = filled(p, 3, 120, 20, 10_000);
        let bytes = s.to_bytes().unwrap();
        let t = Store::from_bytes_with(&bytes, Some(s.config().clone()), Arc::new(ManualClock::new())).unwrap();
        assert!(t.to_bytes().unwrap() == bytes, "{p:?}: the bytes read back differ");
        assert_eq!(t.config().vector_precision, p);
        let opts = RetrieveOptions { top_k: 8, ..RetrieveOptions::default() };
        for q in clustered(8, 10, 20) {
            let (a, b) = (s.retrieve(&q, &opts).unwrap(), t.retrieve(&q, &opts).unwrap());
            let key = |h: &ov_memory::Hit| (h.id, h.score.p.to_bits());
            assert_eq!(a.iter().map(key).collect::<Vec<_>>(), b.iter().map(key).collect::<Vec<_>>(), "{p:?}");
        }
        assert_eq!(s.get(77).unwrap().embedding, t.get(77).unwrap().embedding);

        // Another precision (or full precision) cannot take it.
        for other in PRECISIONS.into_iter().filter(|&o| o != p) {
            let o = store(other, 20, 10_000);
            o.add(&data[0], "kept", AddOptions::default()).unwrap();
            let e = o.load_bytes(&bytes).unwrap_err();
            assert_eq!(e.code(), ErrorCode::MemoryCorruption, "{p:?} into {other:?}: {e}");
            assert!(e.message().contains("vector_precision"), "{e}");
            assert_eq!(o.len(), 1);
            assert_eq!(o.get(1).unwrap().text, "kept");
        }

        // The last memory's row ends the memories section: its last 4 bytes are its scale.
        for bad in [0.0f32, -1.0, f32::NAN, f32::INFINITY] {
            let mut b = bytes.clone();
            let r = section(&b, 3);
            b[r.end - 4..r.end].copy_from_slice(&bad.to_le_bytes());
            let crc = crc32fast::hash(&b[r.clone()]);
            b[r.start - 4..r.start].copy_from_slice(&crc.to_le_bytes());
            let Err(e) = Store::from_bytes(&b) else { panic!("{p:?}: scale {bad} was accepted") };
            assert_eq!(e.code(), ErrorCode::MemoryCorruption, "{p:?} scale {bad}");
            assert!(e.message().contains("scale"), "{e}");
        }
    }
}

/// Exporting a compact store and importing the lines into another store of
/// the same precision stores the same codes: the second export is the first,
/// line for line (what a compact vector decodes to encodes back to itself).
#[test]
fn a_compact_export_imports_to_the_same_vectors() {
    for p in [Precision::F16, Precision::I8] {
        let s = filled(p, 21, 200, 40, 10_000);
        let first = s.export_jsonl(&ov_memory::ScopeOptions::default()).unwrap();
        let t = store(p, 40, 10_000);
        t.import_jsonl(&first, &ov_memory::ImportOptions::default()).unwrap();
        let second = t.export_jsonl(&ov_memory::ScopeOptions::default()).unwrap();
        assert_eq!(first.lines().count(), 200);
        for (a, b) in first.lines().zip(second.lines()) {
            assert_eq!(a, b, "{p:?}");
        }
    }
}

/// Every byte of a compact snapshot's memories section flipped, with the
/// checksum made right again: the loader answers MEMORY_CORRUPTION or a store
/// that holds together and answers reads; it never panics.
#[test]
fn edited_compact_rows_load_safely_or_are_corruption() {
    for p in [Precision::F16, Precision::I8] {
        let s = filled(p, 4, 12, 8, 0);
        let bytes = s.to_bytes().unwrap();
        let r = section(&bytes, 3);
        let (mut refused, mut loaded) = (0, 0);
        for i in r.clone() {
            for mask in [0x01u8, 0xFF] {
                let mut b = bytes.clone();
                b[i] ^= mask;
                let crc = crc32fast::hash(&b[r.clone()]);
                b[r.start - 4..r.start].copy_from_slice(&crc.to_le_bytes());
                match Store::from_bytes(&b) {
                    Err(e) => {
                        assert_eq!(e.code(), ErrorCode::MemoryCorruption, "{p:?} byte {i}: {e}");
                        refused += 1;
                    }
                    Ok(t) => {
                        t.check_integrity().unwrap();
                        let o = RetrieveOptions { top_k: 5, ..RetrieveOptions::default() };
                        assert!(t.retrieve(&[0.5; 8], &o).is_ok());
                        loaded += 1;
                    }
                }
            }
        }
        assert!(refused > 100 && loaded > 100, "{p:?}: {refused} refused, {loaded} loaded");
    }
}
