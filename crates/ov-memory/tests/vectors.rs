//! Runs the shared test vectors in tests/vectors/*.json against the core.
//! The C, Node and wasm runners read the same files; see tests/vectors/README.md.

use ov_memory::{AddOptions, Config, Store};
use serde_json::{json, Value};
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
                serde_json::json!({ "ids": r.items.iter().map(|i| i.hit.id).collect::<Vec<_>>(), "context": r.context })
            })
        }
        "add_with" => {
            let e = floats(&step["embedding"]);
            let opts = AddOptions::from_json(&step["options"].to_string())?;
            store.add(&e, step["text"].as_str().unwrap(), opts).map(|id| json!({ "id": id }))
        }
        "add_batch_with" => {
            let rows: Vec<Vec<f32>> = step["embeddings"].as_array().unwrap().iter().map(floats).collect();
            let flat: Vec<f32> = rows.concat();
            let texts: Vec<&str> = step["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
            let extra = ov_memory::frontend::BatchExtra::extra_from_json(
                Some(&step["options"].to_string()),
                &ov_memory::frontend::JS_BATCH_ARGUMENTS,
            )?;
            store
                .add_batch_flat::<&str, &str>(&flat, &texts, None, None, None, None, &extra)
                .map(|ids| json!({ "ids": ids }))
        }
        "update" => {
            let e = step.get("embedding").map(floats);
            store
                .update_with(step["id"].as_u64().unwrap(), e.as_deref(), Some(&step["patch"].to_string()))
                .map(|()| json!({}))
        }
        "list" => {
            let page: Value = serde_json::from_str(&store.list_with_json(&step["options"].to_string())?).unwrap();
            let ids: Vec<Value> = page["memories"].as_array().unwrap().iter().map(|m| m["id"].clone()).collect();
            Ok(json!({ "ids": ids, "next_after_id": page["next_after_id"] }))
        }
        "count_with" => store.count_with_json(&step["options"].to_string()).map(|n| json!({ "count": n })),
        "get_many" => {
            let ids: Vec<u64> = step["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            let all: Value = serde_json::from_str(&store.get_many_json(&ids)?).unwrap();
            Ok(many_fields(&all))
        }
        "delete_many" => {
            let ids: Vec<u64> = step["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            store.delete_many(&ids).map(|n| json!({ "deleted": n }))
        }
        "delete_namespace" => {
            store.delete_namespace(step["namespace"].as_str().unwrap()).map(|n| json!({ "deleted": n }))
        }
        "sweep" => store.sweep().map(|n| json!({ "removed": n })),
        "namespaces" => Ok(json!({ "namespaces": serde_json::from_str::<Value>(&store.namespaces_json()).unwrap() })),
        "export" => {
            let text = store.export_with_json(&step["options"].to_string())?;
            let ids: Vec<Value> =
                text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].clone()).collect();
            Ok(json!({ "ids": ids }))
        }
        "import" => {
            let r = store.import_with_json(step["jsonl"].as_str().unwrap(), &step["options"].to_string())?;
            Ok(serde_json::from_str(&r).unwrap())
        }
        "retrieve_many" => {
            let qs = step["queries"].as_array().unwrap();
            let embs: Vec<Option<Vec<f32>>> = qs.iter().map(|q| q.get("embedding").map(floats)).collect();
            let queries: Vec<ov_memory::BatchQuery<'_>> = qs
                .iter()
                .zip(&embs)
                .map(|(q, e)| ov_memory::BatchQuery {
                    embedding: e.as_deref(),
                    text: q.get("text").and_then(Value::as_str),
                })
                .collect();
            let opts = ov_memory::RetrieveOptions::from_json(&step["options"].to_string())?;
            store.retrieve_many(&queries, &opts).map(|all| {
                json!({ "ids": all.iter().map(|h| h.iter().map(|x| x.id).collect::<Vec<_>>()).collect::<Vec<_>>() })
            })
        }
        other => panic!("unknown op {other}"),
    }
}

/// The fields of a `get_many` answer the vectors compare, one array per field (null for a missing memory).
fn many_fields(all: &Value) -> Value {
    let col = |k: &str| -> Vec<Value> {
        all.as_array().unwrap().iter().map(|m| if m.is_null() { Value::Null } else { m[k].clone() }).collect()
    };
    json!({ "ids": col("id"), "texts": col("text"), "namespaces": col("namespace"), "keys": col("key"),
            "weights": col("weight"), "expires_at": col("expires_at") })
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
