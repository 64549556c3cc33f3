//! OV-Memory demo (Rust). The same scenario, line for line, as the C, Node,
//! Python, Java and browser demos: a real conversation (LoCoMo conv-26) stored
//! as an agent's memory, its questions asked of the engine and of plain cosine
//! similarity, a context within a token budget, and the health line.
//!
//! `cargo run --release -p ov-memory --example demo [examples/data/conversation.tsv]`
//! (from the repository root).

use ov_memory::{Config, ContextOptions, Hit, NewMemory, RetrieveOptions, Store};
use std::collections::HashMap;

const TOP: usize = 3;
const CONTEXT_TOKENS: usize = 120;
const DAY_MS: i64 = 86_400_000;

struct Question {
    shown: bool,
    text: String,
    answer: String,
    evidence: Vec<String>,
}

/// `x` with 3 decimals, rounded the same way in every language's demo.
fn fmt3(x: f64) -> String {
    let k = (x.abs() * 1000.0 + 0.5).floor() as u64;
    format!("{}{}.{:03}", if x < 0.0 && k > 0 { "-" } else { "" }, k / 1000, k % 1000)
}

/// At most `n` characters (code points), with an ellipsis when cut.
fn clip(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_owned()
    } else {
        text.chars().take(n - 1).chain(['…']).collect()
    }
}

fn day(ms: i64) -> String {
    ov_memory::log::rfc3339_millis(ms)[..10].to_owned()
}

fn read_f32(path: &str, rows: usize) -> Result<(Vec<f32>, usize), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    let v: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let dim = v.len() / rows;
    Ok((v, dim))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tsv = std::env::args().nth(1).unwrap_or_else(|| "examples/data/conversation.tsv".to_owned());
    let (mut created, mut turn, mut texts, mut questions, mut files) = (vec![], vec![], vec![], vec![], vec![]);
    for line in std::fs::read_to_string(&tsv)?.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "V" => files = vec![f[1].to_owned(), f[2].to_owned()],
            "M" => {
                created.push(f[1].parse::<i64>()?);
                turn.push(f[2].to_owned());
                texts.push(f[3].to_owned());
            }
            "Q" => questions.push(Question {
                shown: f[1] == "1",
                text: f[2].to_owned(),
                answer: f[3].to_owned(),
                evidence: f[4].split(',').map(str::to_owned).collect(),
            }),
            _ => {}
        }
    }
    let n = texts.len();
    let (vectors, dim) = read_f32(&files[0], n)?;
    let (qvectors, _) = read_f32(&files[1], questions.len())?;

    println!("OV-Memory demo: a long conversation as an agent's memory");
    println!();
    println!("Data: LoCoMo conversation conv-26 (CC BY-NC 4.0, non-commercial use only), {n} turns between");
    println!(
        "Caroline and Melanie from {} to {}. Each turn is one memory with its real date",
        day(created[0]),
        day(created[n - 1])
    );
    println!("and its all-MiniLM-L6-v2 embedding.");
    println!();

    let store = Store::new(Config { embedding_dim: dim, max_nodes: 1000, ..Config::default() })?;
    let items: Vec<NewMemory<'_>> = (0..n)
        .map(|i| NewMemory {
            embedding: &vectors[i * dim..(i + 1) * dim],
            text: &texts[i],
            metadata: Some(serde_json::json!({ "turn": turn[i] })),
            created_at: Some(created[i]),
            ..NewMemory::default()
        })
        .collect();
    let ids = store.add_batch(&items, None)?;
    let by_id: HashMap<u64, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let now = created[n - 1] + DAY_MS; // "today" is the day after the last session
    println!("Stored {} memories; the honeycomb links them with {} edges.", store.len(), store.metrics().edge_count);
    println!();
    println!("For each question: the engine's top 3 (the question's embedding and its words) and plain");
    println!("cosine's top 3 (the embedding alone). score: the engine's score, how far the match stands");
    println!("above the other memories plus small bounded priors (importance, recency, links); cos: cosine");
    println!("similarity; *: the turn the dataset names as the evidence for its answer.");

    let show = |label: &str, hits: &[Hit], name: &str, value: fn(&Hit) -> f64, evidence: &[String]| {
        for (k, h) in hits.iter().enumerate() {
            let i = by_id[&h.id];
            let mark = if evidence.contains(&turn[i]) { '*' } else { ' ' };
            println!(
                "    {:<6} {}. {mark} {:<6} {}  {name} {}  {}",
                if k == 0 { label } else { "" },
                k + 1,
                turn[i],
                day(created[i]),
                fmt3(value(h)),
                clip(&texts[i], 44)
            );
        }
    };
    let (mut found_engine, mut found_cosine) = (0, 0);
    for (q, question) in questions.iter().enumerate() {
        let qv = &qvectors[q * dim..(q + 1) * dim];
        let engine = store.retrieve(
            qv,
            &RetrieveOptions { text: Some(question.text.clone()), top_k: TOP, now: Some(now), ..Default::default() },
        )?;
        let cosine = store
            .retrieve(qv, &RetrieveOptions { top_k: TOP, alpha: Some(1.0), now: Some(now), ..Default::default() })?;
        let found = |hits: &[Hit]| hits.iter().any(|h| question.evidence.contains(&turn[by_id[&h.id]]));
        found_engine += usize::from(found(&engine));
        found_cosine += usize::from(found(&cosine));
        if question.shown {
            println!();
            println!("Q: {}", question.text);
            println!("   the dataset's answer: {} (evidence: {})", question.answer, question.evidence.join(", "));
            show("engine", &engine, "score", |h| h.score.p, &question.evidence);
            show("cosine", &cosine, "cos", |h| h.score.s, &question.evidence);
        }
    }
    println!();
    println!(
        "All {} questions of the conversation: the evidence is in the top 3 for {found_engine} (engine)",
        questions.len()
    );
    println!("and for {found_cosine} (plain cosine).");

    let asked = questions.iter().position(|q| q.shown && q.evidence.len() > 1).ok_or("no question to ask")?;
    let q = &questions[asked];
    let ctx = store.context(
        &qvectors[asked * dim..(asked + 1) * dim],
        &ContextOptions {
            text: Some(q.text.clone()),
            max_tokens: CONTEXT_TOKENS,
            now: Some(now),
            ..ContextOptions::default()
        },
    )?;
    println!();
    println!("The context an agent would send for \"{}\" within {CONTEXT_TOKENS} tokens:", q.text);
    println!(
        "{} memories, {} tokens (the best matches and their honeycomb neighbours, each with its date):",
        ctx.items.len(),
        ctx.tokens_used
    );
    for item in &ctx.items {
        let i = by_id[&item.hit.id];
        let mark = if q.evidence.contains(&turn[i]) { '*' } else { ' ' };
        println!("    {mark} {:<6} {}  {}", turn[i], day(created[i]), clip(&texts[i], 64));
    }

    let health = serde_json::to_value(store.health())?;
    let metrics = store.metrics();
    println!();
    println!(
        "Health: {}, circuit breaker {}, {} errors in {} calls.",
        health["status"].as_str().unwrap_or("?"),
        health["circuit_breaker"].as_str().unwrap_or("?"),
        metrics.error_count,
        metrics.queries_processed
    );
    Ok(())
}
