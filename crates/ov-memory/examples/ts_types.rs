//! Prints the TypeScript declarations of the engine's JSON types (options in,
//! results out) for `bindings/shared/gen-types.mjs`, which turns them into
//! `bindings/shared/types.ts`: `make types` writes that file, and
//! `make types-check` (part of `make test`) fails when it is out of date.
//!
//! Output: a JSON array of `{ "name", "options", "docs", "decl" }`, one per
//! type, in the order they appear in the file; a type that flattens another
//! (ts-rs writes the other's fields inline) names it in `extends`. `options`
//! marks the types a caller passes in. Every key of an options struct may be
//! left out (the engine fills in its default), which this program checks by
//! parsing `{}` as each of them; such a struct also lists the `keys` it
//! accepts (both spellings), so that the generator can check that every key
//! it declares (in camelCase) is one.
//!
//! ```text
//! cargo run -q -p ov-memory --features ts --example ts_types
//! ```

use ov_memory::{
    BreakerConfig, BreakerSnapshot, BreakerState, Config, ContextItem, ContextOptions, ContextResult, GuardrailCounts,
    HealthReport, HealthStatus, HealthSummary, Hit, ImportOptions, ImportReport, Level, ListOptions, Memory,
    MemoryUpdate, MetabolicState, MetabolismReport, MetricsReport, Namespaces, OpReport, Page, Precision,
    RetrieveOptions, ScopeOptions, Score, Scoring, Trigger,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use ts_rs::TS;

/// One type's entry; `options` types must parse from `{}`.
fn entry<T: TS>(options: bool) -> Value {
    json!({ "name": T::name(), "options": options, "docs": T::docs(), "decl": T::decl() })
}

/// A result type that flattens `B` (`#[serde(flatten)]`): its entry names
/// `B` in `extends`, and the generator declares it as extending `B` (it checks
/// that the inline fields are `B`'s, as declared there).
fn extending<T: TS, B: TS>() -> Value {
    let mut e = entry::<T>(false);
    e["extends"] = json!(B::name());
    e
}

/// An options type: checked to take every key as optional, with the keys it
/// accepts (each spelling), which gen-types.mjs checks the declared keys against.
fn options<T: TS + DeserializeOwned>() -> Value {
    if let Err(e) = serde_json::from_str::<T>("{}") {
        panic!("{} does not parse from {{}}: {e}", T::name());
    }
    let mut e = entry::<T>(true);
    e["keys"] = json!(ov_memory::frontend::accepted_keys::<T>());
    e
}

fn main() {
    let types = vec![
        // What a caller passes in.
        options::<Config>(),
        options::<BreakerConfig>(),
        entry::<Scoring>(false),
        entry::<Precision>(false),
        entry::<Level>(false),
        entry::<Namespaces>(true),
        options::<RetrieveOptions>(),
        options::<ContextOptions>(),
        options::<MemoryUpdate>(),
        options::<ListOptions>(),
        options::<ScopeOptions>(),
        options::<ImportOptions>(),
        // What the engine returns.
        entry::<Memory>(false),
        entry::<Page>(false),
        entry::<ImportReport>(false),
        entry::<Score>(false),
        entry::<Hit>(false),
        entry::<Trigger>(false),
        extending::<ContextItem, Hit>(),
        entry::<GuardrailCounts>(false),
        entry::<MetabolicState>(false),
        entry::<MetabolismReport>(false),
        entry::<ContextResult>(false),
        entry::<BreakerState>(false),
        entry::<BreakerSnapshot>(false),
        entry::<HealthStatus>(false),
        entry::<HealthSummary>(false),
        entry::<HealthReport>(false),
        entry::<OpReport>(false),
        entry::<MetricsReport>(false),
    ];
    println!("{}", Value::Array(types));
}
