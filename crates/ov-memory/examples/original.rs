// The original Rust usage example (tests/original-examples/example.rs, byte for
// byte), compiled against the core as it stands.
include!("../../../tests/original-examples/example.rs");
