//! The stateful search (visited set + sleep sets, states keyed by the world, each thread's
//! history of step results and the runtime's retry-loop bookkeeping) on the kernel model,
//! against the stateless DPOR: on every built-in scenario, the benchmark scenarios and the
//! small fixtures, under their presets and several more, the same properties (violations and
//! observations), the same verdict and the same final states wherever DPOR is exhaustive
//! within its budget — and every violation the stateful search reports replays to it.

use checker::{check, load, RunOptions, Scenario, Search, Verdict};
use explore::{replay, Bounds, Severity};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

use crate::common;
use common::toml_files;

fn load_all(dir: &Path) -> Vec<Scenario> {
    toml_files(dir)
        .iter()
        .map(|p| load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Presets tried on every scenario besides its own: one per import flow and fault-handler
/// generation.
const EXTRA_PRESETS: &[&str] = &["v5.7", "v5.16", "v6.4", "v6.12", "v6.14", "v6.15", "v7.1"];

fn presets(sc: &Scenario) -> Vec<String> {
    let mut v = sc.presets.clone();
    for p in EXTRA_PRESETS {
        if !v.iter().any(|x| x == p) {
            v.push(p.to_string());
        }
    }
    v
}

/// Properties whose finding ends an execution (`report_fatal`: the `BUG()` of the 0x3d
/// handler; a retry loop's cut, which is no property, shows as the bound that stopped). Such a step declares no accesses, so it commutes with every step of the
/// other threads and the world it leaves depends on how far they got: DPOR and the stateful
/// search each keep one representative of those ends, not necessarily the same one. Final
/// states are compared where no execution ended that way.
const FATAL: &[&str] = &["bug"];

fn comparable_final_states(a: &checker::Check, b: &checker::Check) -> bool {
    [a, b].iter().all(|c| {
        c.outcome
            .reports
            .iter()
            .all(|r| !FATAL.contains(&r.property))
            && !matches!(c.outcome.stopped_by, Some(explore::Bound::Retries(_)))
    })
}

fn props(c: &checker::Check) -> BTreeSet<(String, Severity)> {
    c.outcome
        .reports
        .iter()
        .map(|r| (r.property.to_string(), r.severity))
        .collect()
}

fn stateful(sc: &Scenario, preset: &str, jobs: usize) -> checker::Check {
    check(
        sc,
        preset,
        RunOptions {
            search: Search::Stateful { jobs },
            ..RunOptions::default()
        },
    )
    .expect("stateful search runs")
}

/// The stateful search of `model` (of scenario `sc`, within its bounds) with `sopts`.
fn stateful_with(
    sc: &Scenario,
    model: &kernel::KernelModel,
    sopts: explore::search::StatefulOptions,
) -> explore::search::StatefulOutcome {
    explore::search::explore_stateful_with(
        model,
        explore::Options {
            bounds: sc.bounds.clone(),
            ..explore::Options::default()
        },
        sopts,
    )
}

/// Every violation the search reports replays, along its schedule, to that property: at the
/// schedule's last step, or in the end-of-execution check right after it.
fn assert_violations_replay(sc: &Scenario, preset: &str, c: &checker::Check) {
    let model = sc.model(c.kernel.clone());
    for r in c.outcome.violations() {
        let rep = replay(&model, &r.schedule);
        assert!(
            rep.diverged.is_none(),
            "{} {preset} {}: the schedule does not replay: {:?}",
            sc.name,
            r.property,
            rep.diverged
        );
        assert_eq!(
            rep.steps.len(),
            r.steps,
            "{} {preset} {}",
            sc.name,
            r.property
        );
        let at_last = rep
            .steps
            .last()
            .is_some_and(|s| s.findings.iter().any(|f| f.property == r.property));
        let at_end = rep.end_findings.iter().any(|f| f.property == r.property);
        assert!(
            at_last || at_end,
            "{} {preset}: schedule of {} does not reproduce it",
            sc.name,
            r.property
        );
    }
}

#[test]
fn stateful_search_agrees_with_dpor_and_its_violations_replay() {
    let start = Instant::now();
    let mut scs: Vec<(Scenario, u64)> = Vec::new();
    // DPOR's budget per check: 20,000 executions finish 321 of the 332 checks that 200,000
    // finish, at a seventh of the time (measured with `pvmm check --stateless`, 2026-12-07);
    // a check DPOR does not finish is still compared (what DPOR found, the stateful search
    // found).
    scs.extend(
        load_all(&root().join("crates/checker/tests/naive"))
            .into_iter()
            .map(|s| (s, 20_000)),
    );
    scs.extend(
        load_all(&root().join("scenarios"))
            .into_iter()
            .map(|s| (s, 20_000)),
    );
    // The three-thread benchmark variants: DPOR finishes d1 but not d3 within a test's time.
    scs.extend(
        load_all(&root().join("bench/scenarios"))
            .into_iter()
            .map(|s| (s, 20_000)),
    );
    let (mut compared, mut partial, mut replayed, mut final_compared) = (0, 0, 0, 0);
    for (sc, budget) in &scs {
        if sc.name.ends_with("-4t") {
            // The 4-thread variant (10⁵–10⁶ states): measured in bench/, too long here.
            continue;
        }
        let three_threads = sc.name.ends_with("-3t");
        let ps = if three_threads {
            sc.presets.clone()
        } else {
            presets(sc)
        };
        // Presets whose switches are equal give the same model: checked once.
        let mut kernels: Vec<kernel::Kernel> = Vec::new();
        for preset in &ps {
            let k = sc.kernel(preset, &[]).expect("preset resolves");
            if kernels.contains(&k) {
                continue;
            }
            kernels.push(k);
            if three_threads && sc.name.starts_with("d3") && preset.contains("splice-patch") {
                // Too long for the test suite (a debug build): measured in bench/.
                continue;
            }
            let dpor = check(
                sc,
                preset,
                RunOptions {
                    search: Search::Stateless,
                    bounds: Some(Bounds {
                        max_executions: Some(*budget),
                        ..sc.bounds.clone()
                    }),
                    ..RunOptions::default()
                },
            )
            .expect("dpor runs");
            let st = stateful(sc, preset, 1);
            assert!(
                st.outcome.exhaustive(),
                "{} on {preset}: the stateful search stopped: {:?}",
                sc.name,
                st.outcome.stopped_by
            );
            assert!(st.outcome.stats.states > 0);
            assert_violations_replay(sc, preset, &st);
            replayed += st.outcome.violations().count();
            if dpor.outcome.exhaustive() {
                assert_eq!(
                    props(&st),
                    props(&dpor),
                    "{} on {preset}: properties differ (stateful vs DPOR)",
                    sc.name
                );
                assert_eq!(st.verdict, dpor.verdict, "{} on {preset}", sc.name);
                if comparable_final_states(&st, &dpor) {
                    assert_eq!(
                        st.outcome.final_states, dpor.outcome.final_states,
                        "{} on {preset}: final states differ (stateful vs DPOR)",
                        sc.name
                    );
                    final_compared += 1;
                }
                if let Some(true) = dpor.matches(sc) {
                    assert_eq!(st.matches(sc), Some(true), "{} on {preset}", sc.name);
                }
                compared += 1;
            } else {
                // DPOR stopped early: whatever it found, the exhaustive stateful search found.
                assert!(
                    props(&dpor).is_subset(&props(&st)),
                    "{} on {preset}: DPOR found {:?}, the stateful search {:?}",
                    sc.name,
                    props(&dpor),
                    props(&st)
                );
                if comparable_final_states(&st, &dpor) {
                    assert!(dpor
                        .outcome
                        .final_states
                        .is_subset(&st.outcome.final_states));
                }
                if dpor.verdict == Verdict::Violation {
                    assert_eq!(st.verdict, Verdict::Violation);
                }
                partial += 1;
            }
        }
    }
    assert!(compared >= 100, "only {compared} pairs compared");
    assert!(
        final_compared >= 80,
        "only {final_compared} final-state sets compared"
    );
    assert!(replayed >= 50, "only {replayed} violations replayed");
    eprintln!(
        "{compared} scenario/preset pairs compared ({final_compared} with their final states), {partial} against a partial DPOR, {replayed} violations replayed, {:.1}s",
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn two_jobs_give_the_result_of_one() {
    let scs = [
        "bench/scenarios/d1-second-mapping-3t.toml",
        "bench/scenarios/d3-sendfile-3t.toml",
        "scenarios/d4-reference-then-import.toml",
        "crates/checker/tests/naive/import-vs-lookup.toml",
    ];
    for f in scs {
        let sc = load(&root().join(f)).expect("loads");
        for preset in &sc.presets {
            if preset.contains("splice-patch") {
                continue;
            }
            let one = stateful(&sc, preset, 1);
            let two = stateful(&sc, preset, 2);
            assert!(one.outcome.exhaustive() && two.outcome.exhaustive());
            assert_eq!(props(&one), props(&two), "{} on {preset}", sc.name);
            assert_eq!(one.verdict, two.verdict, "{} on {preset}", sc.name);
            assert_eq!(
                one.outcome.final_states, two.outcome.final_states,
                "{} on {preset}",
                sc.name
            );
            assert_violations_replay(&sc, preset, &two);
            // Without safe steps (persistent sets), the search visits every reachable state
            // (sleep sets prune transitions only): the same number with any number of workers.
            // With them, which states are left out depends on the sleep sets a state is
            // reached with, and so on the order: only the results above must agree.
            let model = sc.model(sc.kernel(preset, &[]).expect("preset"));
            let run = |jobs: usize| {
                explore::search::explore_stateful_with(
                    &model,
                    explore::Options {
                        bounds: sc.bounds.clone(),
                        ..explore::Options::default()
                    },
                    explore::search::StatefulOptions {
                        jobs,
                        safe_steps: false,
                        ..explore::search::StatefulOptions::default()
                    },
                )
                .outcome
            };
            let (a, b) = (run(1), run(2));
            assert!(a.exhaustive() && b.exhaustive());
            assert_eq!(a.stats.states, b.stats.states, "{} on {preset}", sc.name);
            assert_eq!(a.final_states, b.final_states, "{} on {preset}", sc.name);
            assert!(
                one.outcome.stats.states <= a.stats.states,
                "{} on {preset}",
                sc.name
            );
        }
    }
}

#[test]
fn the_stateful_search_refuses_a_preemption_bound() {
    let sc = load(&root().join("scenarios/d3-sendfile.toml")).expect("loads");
    let r = check(
        &sc,
        "v5.7",
        RunOptions {
            search: Search::Stateful { jobs: 1 },
            bounds: Some(Bounds {
                max_preemptions: Some(2),
                ..Bounds::default()
            }),
            ..RunOptions::default()
        },
    );
    assert!(r.is_err());
}

#[test]
fn stateful_search_agrees_with_dpor_on_the_matrix() {
    // Every I/O path of the matrix (each a host thread against the importing vCPU) under
    // every preset (the matrix finishes with the stateful search the cells DPOR does not
    // within 2,000 executions, so this is also the check behind those cells). DPOR gets a
    // small budget: cells it exhausts are compared in full, the others by inclusion. The
    // stateful search exhausts every cell but violations cut at --max-retries (see below).
    let start = Instant::now();
    let budget = Bounds {
        max_executions: Some(300),
        ..checker::matrix::default_bounds()
    };
    let (mut compared, mut partial, mut replayed, mut final_compared) = (0, 0, 0, 0);
    let mut cut = 0;
    for (path, via) in checker::matrix::rows() {
        for preset in kernel::config::PRESETS.iter().map(|p| p.name) {
            let sc = checker::matrix::row_scenario(path, via, &[preset]);
            let dpor = check(
                &sc,
                preset,
                RunOptions {
                    search: Search::Stateless,
                    bounds: Some(budget.clone()),
                    ..RunOptions::default()
                },
            )
            .expect("dpor runs");
            let st = stateful(&sc, preset, 1);
            assert_violations_replay(&sc, preset, &st);
            replayed += st.outcome.violations().count();
            if !st.outcome.exhaustive() {
                // The one way a matrix cell's search may stop: executions cut at
                // `--max-retries` rounds of a retry loop whose state never repeats — after a
                // violation has corrupted a reference count (a get on a frozen count erased
                // by the unfreeze, then a put each round: the count drifts and the lasso
                // never closes). Such a cell is a violation, never verified, and what it found
                // is part of what DPOR finds when DPOR finishes.
                assert!(
                    matches!(
                        st.outcome.stopped_by,
                        Some(explore::search::Bound::Retries(_))
                    ) && st.verdict == Verdict::Violation,
                    "{} on {preset}: the stateful search stopped: {:?}",
                    sc.name,
                    st.outcome.stopped_by
                );
                if dpor.outcome.exhaustive() {
                    assert!(
                        props(&st).is_subset(&props(&dpor)),
                        "{} on {preset}",
                        sc.name
                    );
                }
                eprintln!("{} on {preset}: violation, cut at --max-retries", sc.name);
                cut += 1;
                continue;
            }
            if !dpor.outcome.exhaustive() {
                assert!(
                    props(&dpor).is_subset(&props(&st)),
                    "{} on {preset}",
                    sc.name
                );
                partial += 1;
                continue;
            }
            assert_eq!(props(&st), props(&dpor), "{} on {preset}", sc.name);
            assert_eq!(st.verdict, dpor.verdict, "{} on {preset}", sc.name);
            if comparable_final_states(&st, &dpor) {
                assert_eq!(
                    st.outcome.final_states, dpor.outcome.final_states,
                    "{} on {preset}: final states differ",
                    sc.name
                );
                final_compared += 1;
            }
            compared += 1;
        }
    }
    eprintln!(
        "matrix: {compared} cells compared ({final_compared} with their final states), {partial} against a partial DPOR, {cut} violations cut at --max-retries, {replayed} violations replayed, {:.1}s",
        start.elapsed().as_secs_f64()
    );
    assert!(compared >= 280, "only {compared} cells compared");
}

#[test]
fn sleep_sets_visit_every_state_a_plain_visited_set_search_visits() {
    // With history keys, independent steps in either order must reach one key (same world,
    // same results, same parking summary): then sleep sets lose no state.
    use explore::search::StatefulOptions;
    let cases = [
        ("scenarios/d4-reference-then-import.toml", "v5.7"),
        ("scenarios/d1-second-mapping-foll-pin.toml", "v5.15"),
        ("bench/scenarios/d1-second-mapping-3t.toml", "v5.7"),
        (
            "crates/checker/tests/naive/import-vs-lru-drain.toml",
            "v6.4",
        ),
        (
            "crates/checker/tests/naive/user-access-vs-zap.toml",
            "v6.12",
        ),
    ];
    for (f, preset) in cases {
        let sc = load(&root().join(f)).expect("loads");
        let model = sc.model(sc.kernel(preset, &[]).expect("preset"));
        let run = |sleep_sets: bool, safe_steps: bool| {
            stateful_with(
                &sc,
                &model,
                StatefulOptions {
                    sleep_sets,
                    keep_keys: true,
                    safe_steps,
                    ..StatefulOptions::default()
                },
            )
        };
        let (plain, reduced) = (run(false, false), run(true, false));
        assert!(plain.outcome.exhaustive() && reduced.outcome.exhaustive());
        assert_eq!(plain.keys, reduced.keys, "{} on {preset}", sc.name);
        assert!(reduced.outcome.stats.transitions <= plain.outcome.stats.transitions);
        let names = |o: &explore::Outcome| -> BTreeSet<&str> {
            o.reports.iter().map(|r| r.property).collect()
        };
        assert_eq!(names(&plain.outcome), names(&reduced.outcome));
        // Safe steps (persistent sets) leave states out, never add one, and keep every
        // property and final state.
        let safe = run(true, true);
        assert!(safe.outcome.exhaustive());
        assert!(safe.keys.is_subset(&plain.keys), "{} on {preset}", sc.name);
        assert_eq!(names(&plain.outcome), names(&safe.outcome));
        // (A fatal finding ends an execution wherever the others are: of those ends, a
        // reduced search reaches some; the ends of complete executions it reaches all.)
        assert!(
            safe.outcome
                .final_states
                .is_subset(&plain.outcome.final_states),
            "{} on {preset}",
            sc.name
        );
    }
}

/// `Search::Auto` (the default of `pvmm check` and the matrix): where DPOR finishes within
/// its budget the result is DPOR's, unchanged; where it does not, the stateful search
/// finishes the check with the stateful search's verdict and properties, and every trace it
/// reports (DPOR's or the stateful search's) replays to its property.
#[test]
fn auto_is_dpor_within_its_budget_and_the_stateful_search_beyond() {
    let auto = |sc: &Scenario, preset: &str| {
        check(
            sc,
            preset,
            RunOptions {
                search: Search::Auto {
                    budget: checker::DPOR_BUDGET,
                },
                ..RunOptions::default()
            },
        )
        .expect("check runs")
    };
    // Within the budget: DPOR's result.
    let sc = load(&root().join("scenarios/d3-sendfile.toml")).expect("scenario");
    let a = auto(&sc, "v5.7");
    let d = check(
        &sc,
        "v5.7",
        RunOptions {
            search: Search::Stateless,
            ..RunOptions::default()
        },
    )
    .expect("check runs");
    assert!(d.outcome.exhaustive() && d.outcome.stats.executions < checker::DPOR_BUDGET);
    assert!(a.completion.is_none());
    assert_eq!(a.outcome.stats.executions, d.outcome.stats.executions);
    assert_eq!(props(&a), props(&d));
    let sched = |c: &checker::Check| -> Vec<Vec<usize>> {
        c.outcome
            .reports
            .iter()
            .map(|r| r.schedule.clone())
            .collect()
    };
    assert_eq!(sched(&a), sched(&d));
    // Beyond it: the 3-thread sendfile, which DPOR does not finish in minutes.
    let sc = load(&root().join("bench/scenarios/d3-sendfile-3t.toml")).expect("scenario");
    for preset in &sc.presets {
        let a = auto(&sc, preset);
        let st = stateful(&sc, preset, 1);
        let done = a
            .completion
            .as_ref()
            .expect("the stateful search finished it");
        assert!(a.outcome.exhaustive(), "{preset}");
        assert_eq!(
            a.outcome.stats.executions + a.outcome.stats.pruned,
            checker::DPOR_BUDGET
        );
        assert_eq!(done.stats.states, st.outcome.stats.states, "{preset}");
        assert_eq!(a.verdict, st.verdict, "{preset}");
        assert_eq!(props(&a), props(&st), "{preset}");
        for r in &a.outcome.reports {
            let from_st = st.outcome.reports.iter().find(|s| s.property == r.property);
            assert!(
                from_st.is_some_and(|s| r.steps <= s.steps),
                "{preset} {}",
                r.property
            );
        }
        assert_violations_replay(&sc, preset, &a);
    }
}

/// Symmetry reduction on the kernel model: threads with equal operations form a group
/// (`KernelModel::new`), and the stateful search keys states up to a permutation of its
/// members (the world without their identities, `World::hash_except_members`, and each
/// member's own part, `World::hash_member`: held references, page lock, PTE locks). On every
/// scenario with such threads — the fixtures in `tests/symmetric` (GUP pins with the hook,
/// writebacks, vCPUs) and the benchmark's second-mapping case — under its presets and the
/// extra ones, the search with symmetry finds the properties, verdict and final states (the
/// model's final-state hash is itself symmetric) of the search without it, with one and two
/// workers, in no more states (fewer in all), and its violations replay.
#[test]
fn symmetry_reduction_keeps_properties_verdicts_and_final_states() {
    use explore::search::StatefulOptions;
    let mut scs = load_all(&root().join("crates/checker/tests/symmetric"));
    scs.extend(load_all(&root().join("scenarios")));
    scs.extend(load_all(&root().join("crates/checker/tests/naive")));
    scs.extend(load_all(&root().join("bench/scenarios")));
    let (mut compared, mut with_sym, mut without) = (0, 0u64, 0u64);
    for sc in &scs {
        if sc.name.ends_with("-4t") {
            continue;
        }
        for preset in &presets(sc) {
            let kernel = sc.kernel(preset, &[]).expect("preset");
            let model = sc.model(kernel.clone());
            if model.groups().is_empty() {
                continue;
            }
            let run = |symmetry: bool, jobs: usize| {
                stateful_with(
                    sc,
                    &model,
                    StatefulOptions {
                        symmetry,
                        jobs,
                        ..StatefulOptions::default()
                    },
                )
                .outcome
            };
            let plain = run(false, 1);
            assert!(plain.exhaustive(), "{} on {preset}", sc.name);
            let names = |o: &explore::Outcome| -> BTreeSet<(&str, Severity)> {
                o.reports.iter().map(|r| (r.property, r.severity)).collect()
            };
            let fatal =
                |o: &explore::Outcome| o.reports.iter().any(|r| FATAL.contains(&r.property));
            for jobs in [1, 2] {
                let sym = run(true, jobs);
                assert!(sym.exhaustive(), "{} on {preset}", sc.name);
                assert_eq!(
                    names(&sym),
                    names(&plain),
                    "{} on {preset}, {jobs} jobs",
                    sc.name
                );
                if !fatal(&sym) && !fatal(&plain) {
                    assert_eq!(
                        sym.final_states, plain.final_states,
                        "{} on {preset}, {jobs} jobs",
                        sc.name
                    );
                }
                for r in sym.violations() {
                    let rep = replay(&model, &r.schedule);
                    assert!(
                        rep.diverged.is_none(),
                        "{} on {preset}: {}",
                        sc.name,
                        r.property
                    );
                }
                if jobs == 1 {
                    assert!(
                        sym.stats.states <= plain.stats.states,
                        "{} on {preset}",
                        sc.name
                    );
                    with_sym += sym.stats.states;
                    without += plain.stats.states;
                }
            }
            compared += 1;
        }
    }
    eprintln!(
        "symmetry: {compared} scenario/preset pairs, {with_sym} states with it, {without} without"
    );
    assert!(
        compared >= 30,
        "only {compared} pairs with a symmetry group"
    );
    assert!(
        with_sym < without,
        "{with_sym} states with symmetry, {without} without"
    );
}
