//! The Python package's type stubs (`bindings/python/ov_memory/_native.pyi`)
//! are written by hand, for their docs; their option dictionaries must still
//! name exactly the keys the engine takes. (The JS packages' types are
//! generated from the engine's types instead: `make types`.)

use ov_memory::frontend::accepted_keys;
use ov_memory::{
    AddOptions, BreakerConfig, Config, ContextOptions, ImportOptions, ListOptions, MemoryUpdate, RetrieveOptions,
    ScopeOptions,
};
use std::collections::{BTreeMap, BTreeSet};

/// The keys of each `class Name(TypedDict, ...)` in a stub file.
fn typed_dicts(stub: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in stub.lines() {
        if let Some(rest) = line.strip_prefix("class ") {
            current = rest.split_once("(TypedDict").map(|(name, _)| name.to_owned());
            if let Some(name) = &current {
                out.insert(name.clone(), BTreeSet::new());
            }
            continue;
        }
        let Some(name) = &current else { continue };
        if !line.starts_with("    ") && !line.trim().is_empty() {
            current = None;
            continue;
        }
        let field = line.trim();
        if field.starts_with('#') || field.starts_with("\"\"\"") {
            continue;
        }
        if let Some((key, _)) = field.split_once(':') {
            if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !key.is_empty() {
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

#[test]
fn the_stub_reader_finds_keys_and_skips_docs() {
    let stub = "class A(TypedDict, total=False):\n    \"\"\"Doc: not a key.\"\"\"\n\n    x_y: int\n    #: comment\n    z: str\n\nclass B:\n    w: int\n";
    let dicts = typed_dicts(stub);
    assert_eq!(dicts.len(), 1);
    assert_eq!(dicts["A"], BTreeSet::from(["x_y".to_owned(), "z".to_owned()]));
}
