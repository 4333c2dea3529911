//! Translates the Wasm GC programs the kernel runs (`wasm/examples/{binary_trees,rings}.wat`) to
//! `.wasm` in `OUT_DIR`, and hands the bare-metal kernel its linker script. Link arguments live
//! here rather than in `.cargo/config.toml`, because a RUSTFLAGS environment variable would
//! replace config rustflags and config is looked up from the current directory, not from
//! `--manifest-path`.

use std::env;
use std::path::PathBuf;

/// Writes `OUT_DIR/NAME.wasm` from `wasm/examples/NAME.wat`.
fn translate_program(name: &str) {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let source = dir.join("../../wasm/examples").join(format!("{name}.wat"));
    println!("cargo:rerun-if-changed={}", source.display());
    let binary = wat::parse_file(&source).unwrap_or_else(|error| panic!("{}: {error}", source.display()));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join(format!("{name}.wasm"));
    std::fs::write(&out, binary).unwrap_or_else(|error| panic!("{}: {error}", out.display()));
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    translate_program("binary_trees");
    translate_program("rings");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "none" {
        // WASI (and any hosted build) links the usual way.
        return;
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let script = match arch.as_str() {
        "aarch64" => "aarch64.ld",
        "riscv32" | "riscv64" => "riscv.ld",
        "arm" => "cortex-m.ld",
        "x86_64" => "x86_64.ld",
        other => panic!("no linker script for bare-metal architecture {other}"),
    };
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let path = dir.join("link").join(script);
    println!("cargo:rerun-if-changed={}", path.display());
    println!("cargo:rustc-link-arg-bins=-T{}", path.display());
    if arch == "x86_64" {
        // x86_64-unknown-none compiles position-independent code and links a static PIE whose
        // RELATIVE relocations nobody would apply: link a plain executable at its address instead.
        println!("cargo:rustc-link-arg-bins=--no-pie");
    }
}
