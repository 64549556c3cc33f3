//! Retrieval quality on real agent memory (`make quality`).
//!
//! Data sets: `qa_coding` and `qa_adversarial` (each question has one truth;
//! all of a set's memories share one store), and every `convNN.json` of a
//! LoCoMo-style directory (default `tests/data/locomo`, or `QUALITY_DATA`):
//! one store per conversation, memories added with their `created_at_ms` (and
//! `weight`, if given), queried as of the conversation's last timestamp plus a
//! day; a question's truths are its evidence turns.
//!
//! Rankers, per question: `cosine` (exact, f64), `bm25` (the core's lexical
//! index alone), `fusion` (the baseline: textbook BM25 and cosine,
//! z-standardised, equal weights, computed here), `relevance` (the core's
//! relevance alone: alpha 1), `retrieve`
//! (defaults: embedding + text, data weights, timestamps), `retrieve_equal`
//! (equal weights, every memory created at the same instant), and `context`
//! (defaults; also at 256 and 512 tokens), each context call on a fresh copy
//! of the store so no question sees another's history.
//!
//! Figures (percent; tokens and items are means): acc@1, R@5 and R@10 (share
//! of truths in the top k), hit@10 (any truth in the top 10), MRR, and for
//! context `hit` (any truth in the context), `tokens`, `items`; for the top-k
//! rankers `tokens` is what their top 5 would cost. Printed as Markdown; with
//! `QUALITY_JSON=<file>` also written as
//! `{"<set>": {"<ranker>": {"acc@1", "R@5", "R@10", "hit@10", "MRR", "hit", "tokens", "items"}}}`.
//! Sets in the Markdown: `qa_coding`, `qa_adversarial`, `locomo` (all its
//! questions) and `locomo/<category>`; in the JSON the LoCoMo-style directory's
//! are `all` and `<category>`. The ablation table switches each prior off in turn.

#[path = "../tests/common/qa.rs"]
mod qa;

use ov_memory::{estimate_tokens, AddOptions, Config, ContextOptions, ManualClock, Precision, RetrieveOptions, Store};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

struct Mem {
    text: String,
    embedding: Vec<f32>,
    created_at: Option<i64>,
    weight: f64,
}

struct Question {
    text: String,
    embedding: Vec<f32>,
    truths: Vec<usize>,
    category: String,
}

struct Set {
    name: String,
    stores: Vec<(Vec<Mem>, Vec<Question>)>,
}

fn read_f32(path: &Path, dim: usize) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect::<Vec<_>>()
        .chunks_exact(dim)
        .map(<[f32]>::to_vec)
        .collect()
}

fn locomo(dir: &Path) -> Set {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.to_string_lossy().contains(".queries"))
        .collect();
    names.sort();
    let mut stores = Vec::new();
    for path in names {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let stem = path.with_extension("");
        let mv = read_f32(&PathBuf::from(format!("{}.memories.f32", stem.display())), 384);
        let qv = read_f32(&PathBuf::from(format!("{}.queries.f32", stem.display())), 384);
        let mems: Vec<Mem> = v["memories"]
            .as_array()
            .unwrap()
            .iter()
            .zip(mv)
            .map(|(m, e)| Mem {
                text: m["text"].as_str().unwrap().to_owned(),
                embedding: e,
                created_at: m["created_at_ms"].as_i64(),
                weight: m["weight"].as_f64().unwrap_or(1.0),
            })
            .collect();
        let index: BTreeMap<&str, usize> = v["memories"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, m)| (m["dia_id"].as_str().unwrap(), i))
            .collect();
        let qs = v["queries"]
            .as_array()
            .unwrap()
            .iter()
            .zip(qv)
            .map(|(q, e)| Question {
                text: q["question"].as_str().unwrap().to_owned(),
                embedding: e,
                truths: q["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|x| index.get(x.as_str()?).copied())
                    .collect(),
                category: q["category"].as_str().unwrap_or("all").to_owned(),
            })
            .filter(|q| !q.truths.is_empty())
            .collect();
        stores.push((mems, qs));
    }
    Set { name: "locomo".into(), stores }
}

fn qa_set(name: &str) -> Set {
    let records = qa::load(name);
    let mut mems = Vec::new();
    let mut qs = Vec::new();
    for r in &records {
        let mut truths = Vec::new();
        for m in &r.memories {
            if m.truth {
                truths.push(mems.len());
            }
            mems.push(Mem { text: m.text.clone(), embedding: m.embedding.clone(), created_at: None, weight: m.weight });
        }
        qs.push(Question {
            text: r.query.clone(),
            embedding: r.query_embedding.clone(),
            truths,
            category: name.into(),
        });
    }
    Set { name: name.into(), stores: vec![(mems, qs)] }
}

#[derive(Default, Clone)]
struct Acc {
    n: f64,
    acc1: f64,
    r5: f64,
    r10: f64,
    hit10: f64,
    mrr: f64,
    hit: f64,
    hit3: f64,
    tokens: f64,
    items: f64,
}

impl Acc {
    fn ranked(&mut self, order: &[usize], truths: &[usize], texts: &[String]) {
        let share = |k: usize| {
            truths.iter().filter(|t| order.iter().take(k).any(|o| o == *t)).count() as f64 / truths.len() as f64
        };
        self.n += 1.0;
        self.acc1 += f64::from(order.first().is_some_and(|o| truths.contains(o)));
        self.r5 += share(5);
        self.r10 += share(10);
        self.hit10 += f64::from(share(10) > 0.0);
        self.mrr += order.iter().position(|o| truths.contains(o)).map_or(0.0, |p| 1.0 / (p + 1) as f64);
        self.hit += f64::from(share(5) > 0.0);
        self.hit3 += f64::from(share(3) > 0.0);
        self.tokens += order.iter().take(5).map(|&o| estimate_tokens(&texts[o]) as f64).sum::<f64>();
        self.items += order.len().min(5) as f64;
    }
    fn context(&mut self, items: &[usize], truths: &[usize], tokens: usize) {
        self.n += 1.0;
        self.hit += f64::from(items.iter().any(|i| truths.contains(i)));
        self.tokens += tokens as f64;
        self.items += items.len() as f64;
    }
    fn json(&self) -> Value {
        let p = |x: f64| (1000.0 * x / self.n.max(1.0)).round() / 10.0;
        let m = |x: f64| (10.0 * x / self.n.max(1.0)).round() / 10.0;
        json!({ "acc@1": p(self.acc1), "R@5": p(self.r5), "R@10": p(self.r10), "hit@10": p(self.hit10),
                "MRR": p(self.mrr), "hit": p(self.hit), "hit@3": p(self.hit3), "tokens": m(self.tokens), "items": m(self.items), "n": self.n })
    }
}

type Table = BTreeMap<String, BTreeMap<String, Acc>>;

fn build(mems: &[Mem], equal: bool, config: &Config, clock: Arc<ManualClock>) -> (Store, Vec<u64>) {
    let store = Store::with_clock(config.clone(), clock).unwrap();
    let mut ids = Vec::new();
    for m in mems {
        let opts = AddOptions {
            weight: Some(if equal { 1.0 } else { m.weight }),
            created_at: if equal { None } else { m.created_at },
            timeout_ms: Some(3_600_000),
            ..AddOptions::default()
        };
        ids.push(store.add(&m.embedding, &m.text, opts).unwrap());
    }
    (store, ids)
}

fn order_of(hits: &[ov_memory::Hit], ids: &[u64]) -> Vec<usize> {
    hits.iter().filter_map(|h| ids.iter().position(|&i| i == h.id)).collect()
}

fn record(table: &mut Table, set: &str, cat: &str, ranker: &str, f: impl Fn(&mut Acc)) {
    for key in [set.to_owned(), format!("{set}/{cat}")] {
        if key.ends_with(&format!("/{set}")) {
            continue;
        }
        f(table.entry(key).or_default().entry(ranker.into()).or_default());
    }
}

/// The store configuration: defaults, except what `QUALITY_CONFIG` (a JSON
/// object of settings, e.g. `{"graph_weight": 4}`) overrides, for tuning runs.
/// The baseline the issue tracker measured against: textbook BM25 (k1 1.5,
/// b 0.75, the core's tokens) and cosine, each standardised over the store,
/// averaged with equal weights. Computed here, outside the engine.
struct PlainFusion {
    docs: Vec<BTreeMap<String, f64>>,
    lens: Vec<f64>,
    df: BTreeMap<String, f64>,
}

impl PlainFusion {
    fn new(texts: &[String]) -> PlainFusion {
        let mut docs = Vec::new();
        let mut lens = Vec::new();
        let mut df: BTreeMap<String, f64> = BTreeMap::new();
        for t in texts {
            let mut tf: BTreeMap<String, f64> = BTreeMap::new();
            let mut n = 0.0;
            for w in ov_memory::lexical::tokens(t) {
                *tf.entry(w).or_insert(0.0) += 1.0;
                n += 1.0;
            }
            for k in tf.keys() {
                *df.entry(k.clone()).or_insert(0.0) += 1.0;
            }
            docs.push(tf);
            lens.push(n);
        }
        PlainFusion { docs, lens, df }
    }

    fn order(&self, query: &str, cos: &[f64], k: usize) -> Vec<usize> {
        let n = self.docs.len() as f64;
        let avg = self.lens.iter().sum::<f64>() / n.max(1.0);
        let mut terms: Vec<String> = ov_memory::lexical::tokens(query).collect();
        terms.sort();
        terms.dedup();
        let bm: Vec<f64> = self
            .docs
            .iter()
            .zip(&self.lens)
            .map(|(d, &len)| {
                terms
                    .iter()
                    .filter_map(|t| {
                        let tf = *d.get(t)?;
                        let df = self.df[t];
                        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                        Some(idf * tf * 2.5 / (tf + 1.5 * (0.25 + 0.75 * len / avg)))
                    })
                    .sum()
            })
            .collect();
        let z = |x: &[f64]| {
            let m = x.iter().sum::<f64>() / x.len() as f64;
            let sd = (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
            x.iter().map(|v| if sd > 0.0 { (v - m) / sd } else { 0.0 }).collect::<Vec<_>>()
        };
        let (zc, zb) = (z(cos), z(&bm));
        let mut idx: Vec<usize> = (0..cos.len()).collect();
        idx.sort_by(|&a, &b| (0.5 * (zc[b] + zb[b])).total_cmp(&(0.5 * (zc[a] + zb[a]))).then(a.cmp(&b)));
        idx.truncate(k);
        idx
    }
}

fn base_config(n: usize) -> Config {
    let mut v = serde_json::to_value(Config::default()).unwrap();
    if let Ok(extra) = std::env::var("QUALITY_CONFIG") {
        let extra: Value = serde_json::from_str(&extra).expect("QUALITY_CONFIG is a JSON object");
        for (k, x) in extra.as_object().expect("QUALITY_CONFIG is a JSON object") {
            v[k] = x.clone();
        }
    }
    let c: Config = serde_json::from_value(v).expect("QUALITY_CONFIG holds valid settings");
    Config { embedding_dim: 384, max_nodes: n.max(1) + 10, timeout_ms: 3_600_000, ..c }
}

fn evaluate(set: &Set, table: &mut Table, ablation: &mut BTreeMap<String, Acc>) {
    for (mems, qs) in &set.stores {
        let texts: Vec<String> = mems.iter().map(|m| m.text.clone()).collect();
        let plain = PlainFusion::new(&texts);
        let last = mems.iter().filter_map(|m| m.created_at).max();
        let now = last.map(|t| t + 86_400_000);
        let clock = Arc::new(ManualClock::new());
        if let Some(t) = now {
            clock.set_unix_millis(t);
        }
        let config = base_config(mems.len());
        let (store, ids) = build(mems, false, &config, clock.clone());
        let (equal, equal_ids) = build(mems, true, &config, Arc::new(ManualClock::new()));
        let snapshot = store.to_bytes().unwrap();
        // Ablation stores: each prior switched off (same memories, same timestamps).
        let variants: Vec<(&str, Config)> = vec![
            ("relevance only (alpha 1)", Config { alpha: 1.0, ..config.clone() }),
            ("defaults without recency", Config { recency_weight: 0.0, ..config.clone() }),
            ("defaults without importance", Config { importance_weight: 0.0, ..config.clone() }),
            ("defaults with graph weight 2", Config { graph_weight: 2.0, ..config.clone() }),
            ("defaults", config.clone()),
        ];
        let mut ablated: Vec<(&str, Store)> = variants
            .into_iter()
            .map(|(name, c)| (name, Store::from_bytes_with(&snapshot, Some(c), clock.clone()).unwrap()))
            .collect();
        // Compact vectors: the same memories in the same order (so the same ids), stored smaller.
        for (name, p) in [("defaults, f16 vectors", Precision::F16), ("defaults, i8 vectors", Precision::I8)] {
            let (s, same) = build(mems, false, &Config { vector_precision: p, ..config.clone() }, clock.clone());
            assert_eq!(same, ids);
            ablated.push((name, s));
        }
        let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let all = mems.len();
        for q in qs {
            let cat = q.category.as_str();
            let qn = norm(&q.embedding);
            let mut cos: Vec<(f64, usize)> = mems
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let d: f64 = m.embedding.iter().zip(&q.embedding).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
                    (d / (norm(&m.embedding) * qn), i)
                })
                .collect();
            let by_index: Vec<f64> = {
                let mut v = vec![0.0; cos.len()];
                for &(c, i) in &cos {
                    v[i] = c;
                }
                v
            };
            let plain_order = plain.order(&q.text, &by_index, 10);
            record(table, &set.name, cat, "fusion", |a| a.ranked(&plain_order, &q.truths, &texts));
            cos.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let cos_order: Vec<usize> = cos.iter().take(10).map(|x| x.1).collect();
            record(table, &set.name, cat, "cosine", |a| a.ranked(&cos_order, &q.truths, &texts));
            let opts = |alpha: Option<f64>, text: bool| RetrieveOptions {
                top_k: 10.min(all),
                alpha,
                now,
                text: text.then(|| q.text.clone()),
                ..RetrieveOptions::default()
            };
            let bm = store.retrieve_query(None, &opts(Some(1.0), true)).unwrap_or_default();
            record(table, &set.name, cat, "bm25", |a| a.ranked(&order_of(&bm, &ids), &q.truths, &texts));
            let fu = store.retrieve(&q.embedding, &opts(Some(1.0), true)).unwrap();
            record(table, &set.name, cat, "relevance", |a| a.ranked(&order_of(&fu, &ids), &q.truths, &texts));
            let re = store.retrieve(&q.embedding, &opts(None, true)).unwrap();
            record(table, &set.name, cat, "retrieve", |a| a.ranked(&order_of(&re, &ids), &q.truths, &texts));
            let eq_opts = RetrieveOptions { now: None, ..opts(None, true) };
            let eq = equal.retrieve(&q.embedding, &eq_opts).unwrap();
            record(table, &set.name, cat, "retrieve_equal", |a| {
                a.ranked(&order_of(&eq, &equal_ids), &q.truths, &texts)
            });
            for (name, s) in &ablated {
                let h = s.retrieve(&q.embedding, &opts(None, true)).unwrap();
                ablation.entry(format!("{}|{name}", set.name)).or_default().ranked(
                    &order_of(&h, &ids),
                    &q.truths,
                    &texts,
                );
            }
            for (ranker, budget) in [("context", None), ("context@256", Some(256)), ("context@512", Some(512))] {
                let fresh = Store::from_bytes_with(&snapshot, Some(config.clone()), clock.clone()).unwrap();
                let co = ContextOptions {
                    now,
                    text: Some(q.text.clone()),
                    max_tokens: budget.unwrap_or(ContextOptions::default().max_tokens),
                    ..ContextOptions::default()
                };
                let r = fresh.context(&q.embedding, &co).unwrap();
                let items: Vec<usize> =
                    r.items.iter().filter_map(|it| ids.iter().position(|&i| i == it.hit.id)).collect();
                record(table, &set.name, cat, ranker, |a| a.context(&items, &q.truths, r.tokens_used));
            }
        }
    }
}

fn main() {
    let data = std::env::var("QUALITY_DATA")
        .ok()
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| qa::data_dir().join("locomo"));
    let mut table = Table::new();
    let mut ablation = BTreeMap::new();
    let mut sets = vec![qa_set("qa_coding"), qa_set("qa_adversarial")];
    sets.push(locomo(&data));
    for set in &sets {
        evaluate(set, &mut table, &mut ablation);
    }
    let rankers = ["cosine", "bm25", "fusion", "relevance", "retrieve", "retrieve_equal"];
    println!("#### Ranking (percent)\n");
    println!("| set | questions | ranker | acc@1 | R@5 | R@10 | hit@10 | MRR |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    for (set, by) in &table {
        for r in rankers {
            if let Some(a) = by.get(r) {
                let j = a.json();
                println!(
                    "| {set} | {} | {r} | {} | {} | {} | {} | {} |",
                    j["n"], j["acc@1"], j["R@5"], j["R@10"], j["hit@10"], j["MRR"]
                );
            }
        }
    }
    println!("\n#### Context (hit: a truth is in it; tokens and items: means)\n");
    println!("| set | ranker | hit | top 3 hit | tokens | items |");
    println!("|---|---|---:|---:|---:|---:|");
    for (set, by) in &table {
        if set.contains('/') && !set.starts_with("locomo/") {
            continue;
        }
        for r in ["cosine", "relevance", "context", "context@256", "context@512"] {
            if let Some(a) = by.get(r) {
                let j = a.json();
                let label = if r.starts_with("context") { r.to_owned() } else { format!("top 5 by {r}") };
                let hit3 = if r.starts_with("context") { "".to_owned() } else { j["hit@3"].to_string() };
                println!("| {set} | {label} | {} | {hit3} | {} | {} |", j["hit"], j["tokens"], j["items"]);
            }
        }
    }
    println!("\n#### Ablation: retrieve() with each prior switched off\n");
    println!("| set | variant | acc@1 | R@10 | MRR |");
    println!("|---|---|---:|---:|---:|");
    for (key, a) in &ablation {
        let (set, name) = key.split_once('|').unwrap();
        let j = a.json();
        println!("| {set} | {name} | {} | {} | {} |", j["acc@1"], j["R@10"], j["MRR"]);
    }
    if let Some(path) = std::env::var("QUALITY_JSON").ok().filter(|p| !p.is_empty()) {
        let mut out = Map::new();
        for (set, by) in &table {
            let mut m = Map::new();
            for (r, a) in by {
                m.insert(r.clone(), a.json());
            }
            let key = match set.strip_prefix("locomo") {
                Some("") => "all".to_owned(),
                Some(cat) => cat.trim_start_matches('/').to_owned(),
                None => set.clone(),
            };
            out.insert(key, Value::Object(m));
        }
        std::fs::write(&path, serde_json::to_string_pretty(&Value::Object(out)).unwrap()).unwrap();
        eprintln!("quality: figures written to {path}");
    }
}
