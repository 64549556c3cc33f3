// The seed's Rust example (tests/seed-examples/example.rs, a byte-for-byte copy of
// the original usage examples' example), compiled against the core as it stands.
include!("../../../tests/seed-examples/example.rs");
