//! Retrieval and context on the real QA sets (all-MiniLM-L6-v2 embeddings).

#[path = "common/qa.rs"]
mod qa;

use ov_memory::{Config, ContextOptions, RetrieveOptions, Store};
use serde_json::{json, Value};

/// With alpha = 1 and equal weights, retrieve ranks exactly as cosine does.
#[test]
fn alpha_one_with_equal_weights_ranks_as_cosine() {
    for set in ["qa_coding", "qa_adversarial"] {
        let records = qa::load(set);
        let (store, _) = qa::build(&records, false, Config::default());
        let all: Vec<(u64, Vec<f32>)> =
            store.ids().into_iter().map(|id| (id, store.get(id).unwrap().embedding)).collect();
        for r in &records {
            let opts = RetrieveOptions { top_k: all.len(), alpha: Some(1.0), ..RetrieveOptions::default() };
            let got: Vec<u64> = store.retrieve(&r.query_embedding, &opts).unwrap().iter().map(|h| h.id).collect();
            let mut want: Vec<(f64, u64)> =
                all.iter().map(|(id, e)| (qa::cosine(&r.query_embedding, e).max(0.0), *id)).collect();
            want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            // Compare the rankings wherever the f64 cosines are not within f32 noise of a tie.
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                if g != &w.1 {
                    let gap = (want[i].0 - want.iter().find(|x| x.1 == *g).unwrap().0).abs();
                    assert!(gap < 1e-6, "{set} {}: rank {i}: got {g}, cosine says {} (gap {gap})", r.id, w.1);
                }
            }
        }
    }
}

/// Runs the scenario that tests/c/test_qa.c runs too, so both front-ends are
/// seen to give the same ids: one store with every coding memory (weighted),
/// retrieve top-3 for each query; and, on a fresh store per query, a context of
/// 96 tokens.
pub fn coding_scenario() -> Value {
    let records = qa::load("qa_coding");
    let (store, truths) = qa::build(&records, true, Config::default());
    let mut out = Vec::new();
    for (r, truth) in records.iter().zip(&truths) {
        let retrieve: Vec<u64> =
            store.retrieve(&r.query_embedding, &RetrieveOptions::top_k(3)).unwrap().iter().map(|h| h.id).collect();
        let fresh = Store::new(Config { embedding_dim: 384, ..Config::default() }).unwrap();
        for rec in &records {
            qa::insert(&fresh, rec, true);
        }
        let ctx = fresh.context(&r.query_embedding, &ContextOptions::max_tokens(96)).unwrap();
        let context: Vec<u64> = ctx.items.iter().map(|i| i.hit.id).collect();
        out.push(json!({ "id": r.id, "truth": truth, "retrieve": retrieve, "context": context }));
    }
    json!({
        "description": "Expected ids for the coding QA set: store every memory (truth then distractors, in file order, \
                        with their metadata weights, 384-d); retrieve top_k 3 with default options; context with \
                        max_tokens 96 on a fresh store per query. Checked by crates/ov-memory/tests/qa.rs and \
                        tests/c/test_qa.c. Regenerate with OV_UPDATE_EXPECTED=1 cargo test --test qa.",
        "queries": out,
    })
}

#[test]
fn coding_set_ids_match_the_shared_expectations() {
    let path = qa::data_dir().join("../qa/coding_expected.json");
    let got = coding_scenario();
    if std::env::var_os("OV_UPDATE_EXPECTED").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(got["queries"], want["queries"]);
    let queries = want["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 53);
    // Context injects only what a trigger lets in; on this set that is the truth
    // for about half the questions (see `make quality`).
    let with_truth = queries.iter().filter(|q| q["context"].as_array().unwrap().contains(&q["truth"])).count();
    assert!(with_truth >= 20, "{with_truth}");
}
