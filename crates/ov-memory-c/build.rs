//! Gives the shared library a SONAME on Linux, `libov_memory.so.MAJOR`: programs
//! record it and keep loading a compatible library after an upgrade
//! (`make install` puts `libov_memory.so.MAJOR.MINOR.PATCH` in place with the
//! `libov_memory.so.MAJOR` and `libov_memory.so` links).

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".to_owned());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libov_memory.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
