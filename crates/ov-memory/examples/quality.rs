//! Retrieval quality on the real QA sets (`make quality`).
//!
//! For each set, every truth and distractor goes into one store (file order),
//! once with the data's metadata weights and once with weight 1. Every query is
//! then answered by plain cosine (brute force, f64), by `retrieve()` with the
//! default score (alpha 0.75), and by `context()` at a few token budgets (on a
//! fresh store per query, so no call sees another's bridge set, loop history or
//! metabolism). Printed as Markdown tables.

#[path = "../tests/common/qa.rs"]
mod qa;

use ov_memory::{estimate_tokens, Config, ContextOptions, RetrieveOptions};

const BUDGETS: [usize; 4] = [32, 64, 128, 256];

fn pct(n: usize, d: usize) -> String {
    format!("{:.1}%", 100.0 * n as f64 / d as f64)
}

fn main() {
    println!("| set | weights | ranker | acc@1 | recall@3 |");
    println!("|---|---|---|---:|---:|");
    let mut context_rows = Vec::new();
    for set in ["qa_coding", "qa_adversarial"] {
        let records = qa::load(set);
        let n = records.len();
        for weighted in [true, false] {
            let label = if weighted { "metadata" } else { "equal" };
            let (store, truths) = qa::build(&records, weighted, Config::default());
            let all: Vec<(u64, Vec<f32>, String)> = store
                .ids()
                .into_iter()
                .map(|id| {
                    let m = store.get(id).unwrap();
                    (id, m.embedding, m.text)
                })
                .collect();
            let (mut cos1, mut cos3, mut ret1, mut ret3) = (0, 0, 0, 0);
            let mut top5_hits = 0;
            let mut top5_tokens = 0;
            for (r, &truth) in records.iter().zip(&truths) {
                let mut ranked: Vec<(f64, u64, &str)> =
                    all.iter().map(|(id, e, t)| (qa::cosine(&r.query_embedding, e), *id, t.as_str())).collect();
                ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                cos1 += usize::from(ranked[0].1 == truth);
                cos3 += usize::from(ranked[..3].iter().any(|x| x.1 == truth));
                top5_hits += usize::from(ranked[..5].iter().any(|x| x.1 == truth));
                top5_tokens += ranked[..5].iter().map(|x| estimate_tokens(x.2)).sum::<usize>();
                let hits = store.retrieve(&r.query_embedding, &RetrieveOptions::top_k(3)).unwrap();
                ret1 += usize::from(hits[0].id == truth);
                ret3 += usize::from(hits.iter().any(|h| h.id == truth));
            }
            println!("| {set} ({n}) | {label} | cosine | {} | {} |", pct(cos1, n), pct(cos3, n));
            println!("| {set} ({n}) | {label} | retrieve() | {} | {} |", pct(ret1, n), pct(ret3, n));

            let mut row = format!("| {set} | {label} | {} / {:.0} |", pct(top5_hits, n), top5_tokens as f64 / n as f64);
            for budget in BUDGETS {
                let (mut hit, mut tokens, mut items) = (0, 0, 0);
                for (i, r) in records.iter().enumerate() {
                    let (fresh, fresh_truths) = qa::build(&records, weighted, Config::default());
                    let c = fresh.context(&r.query_embedding, &ContextOptions::max_tokens(budget)).unwrap();
                    hit += usize::from(c.items.iter().any(|it| it.id == fresh_truths[i]));
                    tokens += c.tokens_used;
                    items += c.items.len();
                }
                row +=
                    &format!(" {} / {:.0} / {:.1} |", pct(hit, n), tokens as f64 / n as f64, items as f64 / n as f64);
            }
            context_rows.push(row);
        }
    }
    println!();
    print!("| set | weights | top-5 cosine: truth / tokens |");
    for b in BUDGETS {
        print!(" context({b}): truth / tokens / items |");
    }
    println!();
    println!("|---|---|---:|{}", "---:|".repeat(BUDGETS.len()));
    for row in context_rows {
        println!("{row}");
    }
}
