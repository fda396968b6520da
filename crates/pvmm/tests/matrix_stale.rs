//! docs/matrix.md is the output of `pvmm matrix`: this test recomputes every cell (bounded
//! by executions, so the result is deterministic) and fails when the file is stale.

use std::path::Path;
use std::process::Command;

fn without_measured(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with("Measured:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn docs_matrix_is_up_to_date() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let committed = std::fs::read_to_string(repo.join("docs/matrix.md"))
        .expect("docs/matrix.md exists (pvmm matrix --out docs/matrix.md)");
    let out = Command::new(env!("CARGO_BIN_EXE_pvmm"))
        .args(["matrix", "--jobs", "2", "--quiet"])
        .current_dir(&repo)
        .output()
        .expect("pvmm matrix runs");
    let fresh = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)),
        "pvmm matrix failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = (without_measured(&committed), without_measured(&fresh));
    if a != b {
        let first = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(a.lines().count().min(b.lines().count()));
        panic!(
            "docs/matrix.md is stale (first difference at line {}): regenerate with\n  cargo run --release -- matrix --out docs/matrix.md --html docs/matrix.html\ncommitted: {:?}\nfresh:     {:?}",
            first + 1,
            a.lines().nth(first),
            b.lines().nth(first)
        );
    }
}
