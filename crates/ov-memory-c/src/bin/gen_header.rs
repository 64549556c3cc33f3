//! Writes the C header to stdout: `cargo run -p ov-memory-c --features header --bin gen-header`.
//! The Makefile's `header` target writes it to include/ov_memory.h and
//! `header-check` diffs it against the committed copy.

fn main() {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = match cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gen-header: {e}");
            std::process::exit(1);
        }
    };
    match cbindgen::Builder::new().with_crate(crate_dir).with_config(config).generate() {
        Ok(bindings) => {
            bindings.write(std::io::stdout());
        }
        Err(e) => {
            eprintln!("gen-header: {e}");
            std::process::exit(1);
        }
    }
}
