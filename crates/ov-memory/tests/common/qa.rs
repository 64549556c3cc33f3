//! Loader for the QA sets in tests/data (shared by the QA tests and `make quality`).
#![allow(dead_code)] // each user takes what it needs

use ov_memory::{AddOptions, Config, Store};
use serde_json::Value;
use std::path::PathBuf;

/// One memory of a QA record.
#[derive(Debug, Clone)]
pub struct QaMemory {
    pub text: String,
    pub weight: f64,
    pub embedding: Vec<f32>,
    pub truth: bool,
}

/// One question with its truth and distractors.
#[derive(Debug, Clone)]
pub struct QaRecord {
    pub id: String,
    pub query: String,
    pub query_embedding: Vec<f32>,
    pub memories: Vec<QaMemory>, // the truth first, then the distractors
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

fn memory(v: &Value, truth: bool) -> QaMemory {
    QaMemory {
        text: v["text"].as_str().unwrap().to_owned(),
        weight: v["metadata"]["weight"].as_f64().unwrap(),
        embedding: floats(&v["embedding"]),
        truth,
    }
}

/// Reads `tests/data/<name>.jsonl`.
pub fn load(name: &str) -> Vec<QaRecord> {
    let text = std::fs::read_to_string(data_dir().join(format!("{name}.jsonl"))).expect("QA set");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let mut memories = vec![memory(&v["truth"], true)];
            memories.extend(v["distractors"].as_array().unwrap().iter().map(|d| memory(d, false)));
            QaRecord {
                id: v["id"].as_str().unwrap().to_owned(),
                query: v["query"].as_str().unwrap().to_owned(),
                query_embedding: floats(&v["query_embedding"]),
                memories,
            }
        })
        .collect()
}

/// A store holding every memory of every record, in file order (truth, then
/// distractors), with the data's weights or with weight 1. Returns the store and,
/// per record, the id of its truth.
pub fn build(records: &[QaRecord], weighted: bool, config: Config) -> (Store, Vec<u64>) {
    let store = Store::new(Config { embedding_dim: 384, ..config }).unwrap();
    let truths = records.iter().map(|r| insert(&store, r, weighted)).collect();
    (store, truths)
}

/// Adds one record's memories; returns the truth's id.
pub fn insert(store: &Store, r: &QaRecord, weighted: bool) -> u64 {
    let mut truth = 0;
    for m in &r.memories {
        let opts = AddOptions { weight: Some(if weighted { m.weight } else { 1.0 }), ..AddOptions::default() };
        let id = store.add(&m.embedding, &m.text, opts).unwrap();
        if m.truth {
            truth = id;
        }
    }
    truth
}

/// Cosine similarity in f64, independent of the engine.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
