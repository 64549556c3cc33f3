use ov_memory::{AddOptions, Config, RetrieveOptions, Store};
use std::time::Instant;
const DIM: usize = 384;
fn main() {
    let bytes = std::fs::read("tests/data/corpus/corpus_fortunes.f32").unwrap();
    let v: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let qb = std::fs::read("tests/data/corpus/corpus_queries.f32").unwrap();
    let q: Vec<f32> = qb.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let n = v.len() / DIM;
    let mode = std::env::args().nth(1).unwrap_or_default();
    let s = Store::new(Config { embedding_dim: DIM, max_nodes: 20_000, ..Config::default() }).unwrap();
    let t = Instant::now();
    if mode == "batch" {
        let items: Vec<ov_memory::NewMemory> = (0..n)
            .map(|i| ov_memory::NewMemory { embedding: &v[i * DIM..(i + 1) * DIM], text: "x", ..Default::default() })
            .collect();
        s.add_batch(&items, Some(600_000)).unwrap();
    } else {
        for i in 0..n {
            s.add(&v[i * DIM..(i + 1) * DIM], "x", AddOptions::default()).unwrap();
        }
    }
    eprintln!("ingest {:.2} s", t.elapsed().as_secs_f64());
    let o = RetrieveOptions { top_k: 10, alpha: Some(1.0), ef: Some(64), ..Default::default() };
    let t = Instant::now();
    let nq = q.len() / DIM;
    for _ in 0..100 {
        for i in 0..nq {
            s.retrieve(&q[i * DIM..(i + 1) * DIM], &o).unwrap();
        }
    }
    eprintln!("approx ef64 {:.3} ms/query", t.elapsed().as_secs_f64() * 1000.0 / (100 * nq) as f64);
}
