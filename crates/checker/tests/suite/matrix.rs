//! The matrix: docs/matrix.md is what `pvmm matrix` computes — verdicts, execution and state
//! counts, schedules: the whole document (a test fails when it is stale; it holds no timing,
//! and every count is deterministic: DPOR stops at an execution budget, and the stateful
//! search that finishes a cell runs on one worker with a fixed walk seed, whatever `--jobs`
//! says about cells in parallel) — and every violating cell replays to its property.

use checker::matrix::{self, rows};
use explore::{parse_schedule, replay};
use kernel::config::PRESETS;
use std::path::Path;

#[test]
fn matrix_is_up_to_date_and_every_violation_replays() {
    let presets: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
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
    let fresh = matrix::markdown(&cells, &presets);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let committed = std::fs::read_to_string(repo.join("docs/matrix.md"))
        .expect("docs/matrix.md exists (pvmm matrix --out docs/matrix.md)");
    if committed != fresh {
        let first = committed
            .lines()
            .zip(fresh.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(committed.lines().count().min(fresh.lines().count()));
        panic!(
            "docs/matrix.md is stale (line {}): regenerate with\n  cargo run --release -- matrix --jobs 2 --out docs/matrix.md\ncommitted: {:?}\nfresh:     {:?}",
            first + 1,
            committed.lines().nth(first),
            fresh.lines().nth(first)
        );
    }
}

#[test]
fn matrix_counts_do_not_depend_on_the_cells_in_parallel() {
    // One preset's column computed one cell at a time and two at a time: equal counts and
    // schedules (the staleness test above relies on it). On v6.14-rc1 DPOR does not finish
    // several cells, so that the stateful search's counts are compared too.
    let key = |jobs: usize| {
        matrix::compute(&["v6.14-rc1"], matrix::default_bounds(), jobs, &|_, _| {})
            .into_iter()
            .map(|c| {
                (
                    c.via,
                    c.verdict,
                    c.executions,
                    c.stateful_states,
                    c.schedules,
                )
            })
            .collect::<Vec<_>>()
    };
    let one = key(1);
    assert!(
        one.iter().filter(|c| c.3.is_some()).count() >= 3,
        "too few cells needed the stateful search: {one:?}"
    );
    assert_eq!(one, key(2));
}
