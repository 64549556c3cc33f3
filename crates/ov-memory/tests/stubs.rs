//! The Python package's type stubs (`bindings/python/ov_memory/_native.pyi`)
//! are written by hand, for their docs; their option dictionaries must still
//! name exactly the keys the engine takes, and their result dictionaries the
//! keys of the engine's JSON. (The JS packages' types are
//! generated from the engine's types instead: `make types`.)

use ov_memory::frontend::accepted_keys;
use ov_memory::{
    AddOptions, BreakerConfig, Config, ContextOptions, ImportOptions, ListOptions, MemoryUpdate, RetrieveOptions,
    ScopeOptions, Store,
};
use std::collections::{BTreeMap, BTreeSet};

/// The keys of each TypedDict in a stub file: `class Name(TypedDict, ...)`,
/// `class Name(Base)` for a TypedDict base (its keys and the class's own), and
/// `Name = TypedDict("Name", {"key": type, ...})` (on one line or several).
fn typed_dicts(stub: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut functional = false;
    for line in stub.lines() {
        if let Some(rest) = line.strip_prefix("class ") {
            current = rest.split_once('(').and_then(|(name, base)| {
                let base = base.split([',', ')']).next().unwrap_or("");
                let keys = if base == "TypedDict" { BTreeSet::new() } else { out.get(base)?.clone() };
                out.insert(name.to_owned(), keys);
                Some(name.to_owned())
            });
            functional = false;
            continue;
        }
        if let Some((name, _)) = line.split_once(" = TypedDict(") {
            out.insert(name.to_owned(), BTreeSet::new());
            current = Some(name.to_owned());
            functional = true;
        }
        let Some(name) = &current else { continue };
        if functional {
            // `"key": type` pairs, quoted keys only (the first string is the type's name).
            for (i, part) in line.split('"').enumerate() {
                let after = line.split('"').nth(i + 1).unwrap_or("");
                if i % 2 == 1 && after.trim_start().starts_with(':') {
                    out.get_mut(name).expect("inserted above").insert(part.to_owned());
                }
            }
            if line.starts_with(')') || line.trim_end().ends_with("})") {
                current = None;
            }
            continue;
        }
        if !line.starts_with("    ") && !line.trim().is_empty() {
            current = None;
            continue;
        }
        let field = line.trim();
        if field.starts_with('#') || field.starts_with("\"\"\"") {
            continue;
        }
        if let Some((key, _)) = field.split_once(':') {
            if key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') && !key.is_empty() {
                out.get_mut(name).expect("inserted above").insert(key.to_owned());
            }
        }
    }
    out
}

/// The snake_case keys a type takes (Python's spelling; the camelCase aliases are for JS).
fn snake_keys<T: serde::de::DeserializeOwned>() -> BTreeSet<String> {
    accepted_keys::<T>().iter().filter(|k| !k.chars().any(|c| c.is_ascii_uppercase())).map(|k| k.to_string()).collect()
}

#[test]
fn the_python_stubs_name_the_keys_the_engine_takes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bindings/python/ov_memory/_native.pyi");
    let stub = std::fs::read_to_string(&path).expect("the Python stubs");
    let dicts = typed_dicts(&stub);
    let pairs: [(&str, BTreeSet<String>); 9] = [
        ("Config", snake_keys::<Config>()),
        ("BreakerOptions", snake_keys::<BreakerConfig>()),
        ("AddOptions", snake_keys::<AddOptions>()),
        ("UpdateOptions", snake_keys::<MemoryUpdate>()),
        ("RetrieveOptions", snake_keys::<RetrieveOptions>()),
        ("ContextOptions", snake_keys::<ContextOptions>()),
        ("ListOptions", snake_keys::<ListOptions>()),
        ("ScopeOptions", snake_keys::<ScopeOptions>()),
        ("ImportOptions", snake_keys::<ImportOptions>()),
    ];
    for (name, engine) in pairs {
        assert!(engine.len() >= 2, "{name}: the engine's keys were not found ({engine:?})");
        let stub = dicts.get(name).unwrap_or_else(|| panic!("{name} is not in {}", path.display()));
        assert_eq!(stub, &engine, "{name}: the stub's keys (left) against the engine's (right)");
    }
}

/// A result as JSON.
fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("serialisable")
}

/// The keys of a JSON object (panics on anything else).
fn object_keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

#[test]
fn the_python_stubs_name_the_keys_of_the_engines_results() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bindings/python/ov_memory/_native.pyi");
    let dicts = typed_dicts(&std::fs::read_to_string(&path).expect("the Python stubs"));
    let store = Store::new(Config { embedding_dim: 2, ..Config::default() }).unwrap();
    let a = store.add(&[1.0, 0.0], "the user prefers green tea", AddOptions::default()).unwrap();
    store.add(&[0.9, 0.1], "the user drinks tea every morning", AddOptions::default()).unwrap();
    let hits = store.retrieve(&[1.0, 0.0], &RetrieveOptions::default()).unwrap();
    let context = store.context(&[1.0, 0.0], &ContextOptions::default()).unwrap();
    let exported = store.export_jsonl(&ScopeOptions::default()).unwrap();
    let other = Store::new(Config { embedding_dim: 2, ..Config::default() }).unwrap();
    let results: [(&str, serde_json::Value); 11] = [
        ("Hit", json(&hits[0])),
        ("Score", json(&hits[0].score)),
        ("Memory", json(&store.get(a).unwrap())),
        ("Page", json(&store.list(&ListOptions::default()).unwrap())),
        ("ImportReport", json(&other.import_jsonl(&exported, &ImportOptions::default()).unwrap())),
        ("ContextItem", json(&context.items[0])),
        ("Guardrails", json(&context.guardrails)),
        ("MetabolismReport", json(&context.metabolism)),
        ("ContextResult", json(&context)),
        ("HealthSummary", json(&store.health().metrics)),
        ("HealthReport", json(&store.health())),
    ];
    for (name, value) in results {
        let stub = dicts.get(name).unwrap_or_else(|| panic!("{name} is not in {}", path.display()));
        assert_eq!(stub, &object_keys(&value), "{name}: the stub's keys (left) against the engine's JSON (right)");
    }
}

#[test]
fn the_stub_reader_finds_keys_and_skips_docs() {
    let stub = "class A(TypedDict, total=False):\n    \"\"\"Doc: not a key.\"\"\"\n\n    x_y: int\n    #: comment\n    z: str\n    p95_ms: float\n\nclass B:\n    w: int\n\nclass C(A):\n    c: int\n\nD = TypedDict(\"D\", {\"S\": float, \"loop\": int})\nE = TypedDict(\n    \"E\",\n    {\n        # a comment: \"not\"\n        \"P\": float,\n    },\n)\nclass F(TypedDict):\n    f: int\n";
    let dicts = typed_dicts(stub);
    let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(dicts.keys().map(String::as_str).collect::<Vec<_>>(), ["A", "C", "D", "E", "F"]);
    assert_eq!(dicts["A"], set(&["x_y", "z", "p95_ms"]));
    assert_eq!(dicts["C"], set(&["x_y", "z", "p95_ms", "c"]));
    assert_eq!(dicts["D"], set(&["S", "loop"]));
    assert_eq!(dicts["E"], set(&["P"]));
    assert_eq!(dicts["F"], set(&["f"]));
}
