//! Runs the shared test vectors in tests/vectors/*.json against the core.
//! The C, Node and wasm runners read the same files; see tests/vectors/README.md.

use ov_memory::{AddOptions, Config, Store};
use serde_json::Value;
use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

/// Numbers, or the strings "NaN", "Infinity", "-Infinity" (JSON has no literal for them).
fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => panic!("bad number {other}"),
        },
        other => panic!("bad number {other}"),
    }
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| num(x) as f32).collect()
}

fn expect_error(name: &str, step: usize, result: Result<Value, ov_memory::Error>, expect: &Value) -> Option<Value> {
    match (result, expect.get("error").and_then(Value::as_str)) {
        (Ok(v), None) => Some(v),
        (Err(e), Some(code)) => {
            assert_eq!(e.code().name(), code, "{name} step {step}: {e}");
            None
        }
        (Ok(v), Some(code)) => panic!("{name} step {step}: expected {code}, got {v}"),
        (Err(e), None) => panic!("{name} step {step}: unexpected error {e}"),
    }
}

/// Runs one step; returns the step's observable result as JSON.
pub fn run_step(store: &Store, step: &Value) -> Result<Value, ov_memory::Error> {
    let op = step["op"].as_str().expect("op");
    match op {
        "add" => {
            let e = floats(&step["embedding"]);
            let opts = AddOptions {
                weight: step.get("weight").map(num),
                metadata: step.get("metadata").cloned(),
                created_at: step.get("created_at").and_then(Value::as_i64),
                ..AddOptions::default()
            };
            store.add(&e, step["text"].as_str().unwrap(), opts).map(|id| serde_json::json!({ "id": id }))
        }
        "get" => store.get(step["id"].as_u64().unwrap()).map(|m| {
            serde_json::json!({ "text": m.text, "weight": m.weight, "metadata": m.metadata, "embedding": m.embedding,
                                "created_at": m.created_at })
        }),
        "delete" => store.delete(step["id"].as_u64().unwrap()).map(|_| serde_json::json!({})),
        "count" => Ok(serde_json::json!({ "count": store.len() })),
        "retrieve" => {
            let e = step["embedding"].as_array().map(|_| floats(&step["embedding"]));
            let opts = ov_memory::RetrieveOptions::from_json(&step["options"].to_string())?;
            store
                .retrieve_query(e.as_deref(), &opts)
                .map(|hits| serde_json::json!({ "ids": hits.iter().map(|h| h.id).collect::<Vec<_>>() }))
        }
        "context" => {
            let e = step["embedding"].as_array().map(|_| floats(&step["embedding"]));
            let opts = ov_memory::ContextOptions::from_json(&step["options"].to_string())?;
            store.context_query(e.as_deref(), &opts).map(|r| {
                serde_json::json!({ "ids": r.items.iter().map(|i| i.id).collect::<Vec<_>>(), "context": r.context })
            })
        }
        other => panic!("unknown op {other}"),
    }
}

fn check_fields(name: &str, i: usize, got: &Value, expect: &Value) {
    for (k, want) in expect.as_object().unwrap() {
        let have = &got[k];
        match (k.as_str(), want) {
            ("embedding", Value::Array(w)) => {
                let h = have.as_array().unwrap();
                assert_eq!(h.len(), w.len());
                for (a, b) in h.iter().zip(w) {
                    assert!((num(a) - num(b)).abs() < 1e-6, "{name} step {i}: {k}");
                }
            }
            ("weight", _) => assert!((num(have) - num(want)).abs() < 1e-12, "{name} step {i}: weight"),
            _ => assert_eq!(have, want, "{name} step {i}: {k}"),
        }
    }
}

#[test]
fn shared_vectors() {
    let mut files: Vec<_> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "vectors missing: {files:?}");
    let mut steps_run = 0;
    for path in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = doc["name"].as_str().unwrap().to_owned();
        if let Some(cases) = doc.get("cases") {
            for (i, case) in cases.as_array().unwrap().iter().enumerate() {
                let r = Config::from_json(&case["config"].to_string()).and_then(Store::new).map(|_| Value::Null);
                expect_error(&name, i, r, &case["expect"]);
                steps_run += 1;
            }
            continue;
        }
        let store = Store::new(Config::from_json(&doc["config"].to_string()).unwrap()).unwrap();
        for (i, step) in doc["steps"].as_array().unwrap().iter().enumerate() {
            let expect = &step["expect"];
            if let Some(got) = expect_error(&name, i, run_step(&store, step), expect) {
                check_fields(&name, i, &got, expect);
            }
            store.check_integrity().unwrap();
            steps_run += 1;
        }
    }
    assert!(steps_run > 40, "only {steps_run} steps ran");
}
