//! Writes the C header to stdout: `cargo run -p ov-memory-c --features header --bin gen-header`.
//! The Makefile's `header` target writes it to include/ov_memory.h and
//! `header-check` diffs it against the committed copy.
//!
//! The header must compile as C89 as well as C99+ and C++: cbindgen's output
//! is made C89-clean here (its `#endif // cond` lines become `/* cond */`
//! comments, and the last enumerator loses its trailing comma), and the
//! version macros come from this crate's version.

fn main() {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let mut config = match cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gen-header: {e}");
            std::process::exit(1);
        }
    };
    config.after_includes = Some(format!(
        "\n/* The version of this header; ov_memory_version() gives the library's. */\n\
         #define OV_MEMORY_VERSION_MAJOR {}\n#define OV_MEMORY_VERSION_MINOR {}\n\
         #define OV_MEMORY_VERSION_PATCH {}\n#define OV_MEMORY_VERSION \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    ));
    match cbindgen::Builder::new().with_crate(crate_dir).with_config(config).generate() {
        Ok(bindings) => {
            let mut out = Vec::new();
            bindings.write(&mut out);
            let text = String::from_utf8(out).unwrap_or_else(|e| {
                eprintln!("gen-header: the header is not UTF-8: {e}");
                std::process::exit(1);
            });
            print!("{}", c89(&text));
        }
        Err(e) => {
            eprintln!("gen-header: {e}");
            std::process::exit(1);
        }
    }
}

/// `#endif // cond` becomes `#endif /* cond */`; an enumerator followed by
/// the enum's closing `};` loses its trailing comma (C89 allows neither).
fn c89(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len());
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).map(|l| l.trim());
        let endif = line.trim_start().starts_with("#endif");
        let line = match line.split_once("// ").filter(|_| endif) {
            Some((head, cond)) => format!("{}/* {cond} */", head.trim_end().to_owned() + " "),
            None if next == Some("};") && line.trim_start().starts_with("OV_") => {
                line.strip_suffix(',').unwrap_or(line).to_owned()
            }
            None => (*line).to_owned(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}
