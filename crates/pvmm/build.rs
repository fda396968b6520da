//! Builds the scenarios into the binary: `scenarios/*.toml` of the repository become
//! `BUILTIN_SCENARIOS` (file name, text), so that an installed `pvmm` (`cargo install`, a
//! release archive) checks them from any directory (`crates/pvmm/src/common.rs`).
//! Cargo reruns this when a scenario changes or one is added or removed.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = String::from(
        "/// The repository's scenarios, built in: (file name, text), by name.\npub const BUILTIN_SCENARIOS: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().expect("file name").to_string_lossy();
        let abs = f.canonicalize().expect("scenario path");
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            abs.display().to_string()
        );
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("builtin_scenarios.rs");
    std::fs::write(dest, out).expect("write builtin_scenarios.rs");
}
