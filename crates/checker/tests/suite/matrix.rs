//! The matrix: docs/matrix.md's verdict table is what `pvmm matrix` computes (a test fails
//! when it is stale), and every violating cell replays to its property.

use checker::matrix::{self, rows};
use explore::{parse_schedule, replay};
use kernel::config::PRESETS;
use std::path::Path;

/// The verdict table (every cell's verdict and violated properties). Execution counts and
/// the particular shortest schedules, listed further down, may change with the explorer's
/// internals without any verdict changing, so they are not compared.
fn verdict_table(s: &str) -> String {
    s.lines()
        .take_while(|l| !l.starts_with("## Paths"))
        .filter(|l| !l.starts_with("Measured:"))
        .map(|l| {
            // Drop the trace anchors: their targets are compared through the cells.
            let mut out = String::new();
            let mut rest = l;
            while let Some(i) = rest.find("](#") {
                out.push_str(&rest[..i]);
                let j = rest[i..].find(')').map(|j| i + j + 1).unwrap_or(rest.len());
                rest = &rest[j..];
            }
            out.push_str(rest);
            out.replace('[', "")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn matrix_is_up_to_date_and_every_violation_replays() {
    let presets: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
    let cells = matrix::compute(&presets, matrix::default_bounds(), 2, &|_, _| {});
    assert!(rows().len() >= 20 && presets.len() >= 12);
    assert_eq!(cells.len(), rows().len() * presets.len());

    // Every violation's schedule reproduces its property.
    let mut replayed = 0;
    for (i, (path, via)) in rows().into_iter().enumerate() {
        for (j, preset) in presets.iter().enumerate() {
            let c = &cells[i * presets.len() + j];
            assert_eq!((c.path.as_str(), c.preset.as_str()), (path.id, *preset));
            if c.schedules.is_empty() {
                continue;
            }
            let sc = matrix::row_scenario(path, via, &[preset]);
            let model = sc.model(sc.kernel(preset, &[]).expect("preset"));
            for (prop, sched) in &c.schedules {
                let r = replay(&model, &parse_schedule(sched).expect("schedule"));
                assert!(r.diverged.is_none(), "{} {preset} {prop}", c.via);
                assert!(
                    r.findings().any(|f| f.property == prop.as_str()),
                    "{} on {preset}: the schedule of {prop} does not reproduce it",
                    c.via
                );
                replayed += 1;
            }
        }
    }
    assert!(replayed > 100, "only {replayed} violations replayed");

    // docs/matrix.md is the current output.
    let fresh = matrix::markdown(&cells, &presets, matrix::HEADER);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let committed = std::fs::read_to_string(repo.join("docs/matrix.md"))
        .expect("docs/matrix.md exists (pvmm matrix --out docs/matrix.md)");
    let (a, b) = (verdict_table(&committed), verdict_table(&fresh));
    if a != b {
        let first = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(a.lines().count().min(b.lines().count()));
        panic!(
            "docs/matrix.md is stale (line {}): regenerate with\n  cargo run --release -- matrix --out docs/matrix.md --html docs/matrix.html\ncommitted: {:?}\nfresh:     {:?}",
            first + 1,
            a.lines().nth(first),
            b.lines().nth(first)
        );
    }
}
