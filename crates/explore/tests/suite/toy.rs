//! The explorer against small hand-made and randomly generated programs: the reduced
//! search must find exactly the final states and properties that naive enumeration finds.

use crate::common;

use common::naive_within;
use common::prog::{random_prog, Ins, Mix, Prog};
use explore::{explore, replay, Options, Strategy};

fn both(p: &Prog) -> (explore::Outcome, explore::Outcome) {
    let d = explore(p, Options::default());
    let n = explore(
        p,
        Options {
            strategy: Strategy::Naive,
            ..Options::default()
        },
    );
    (d, n)
}

fn props(o: &explore::Outcome) -> Vec<&'static str> {
    o.reports.iter().map(|r| r.property).collect()
}

#[test]
fn lost_update_is_found_and_replays() {
    use Ins::*;
    let p = Prog {
        nvars: 2,
        nlocks: 1,
        threads: vec![
            vec![Read(0), Write(0, 1)],
            vec![Read(0), Write(0, 1)],
            vec![Check(0, 1)],
        ],
    };
    let (d, n) = both(&p);
    assert_eq!(d.final_states, n.final_states);
    assert_eq!(props(&d), props(&n));
    assert!(
        d.stats.executions < n.stats.executions,
        "{} vs {}",
        d.stats.executions,
        n.stats.executions
    );
    let r = d
        .reports
        .iter()
        .find(|r| r.property == "bad-value")
        .expect("check fires");
    let rep = replay(&p, &r.schedule);
    assert!(rep.diverged.is_none());
    assert_eq!(rep.steps.last().unwrap().findings[0].property, "bad-value");
    // shortest: one write after a read of 0, then the check
    assert_eq!(r.steps, 3, "{:?}", r.schedule);
}

#[test]
fn deadlock_and_lock_order() {
    use Ins::*;
    let p = Prog {
        nvars: 1,
        nlocks: 2,
        threads: vec![
            vec![Lock(0), Lock(1), Unlock(1), Unlock(0)],
            vec![Lock(1), Lock(0), Unlock(0), Unlock(1)],
        ],
    };
    let (d, n) = both(&p);
    assert!(props(&d).contains(&"deadlock"));
    assert_eq!(props(&d), props(&n));
    assert_eq!(d.final_states, n.final_states);
}

#[test]
fn parked_retry_is_fair_and_livelock_is_found() {
    use Ins::*;
    let ok = Prog {
        nvars: 1,
        nlocks: 0,
        threads: vec![vec![AwaitNonZero(0)], vec![Add(0, 1)]],
    };
    let (d, n) = both(&ok);
    assert!(d.reports.is_empty(), "{:?}", d.reports);
    assert_eq!(d.final_states, n.final_states);
    let stuck = Prog {
        nvars: 1,
        nlocks: 0,
        threads: vec![vec![AwaitNonZero(0)], vec![Add(0, 0)]],
    };
    let (d, _) = both(&stuck);
    assert_eq!(props(&d), vec!["livelock"]);
}

#[test]
fn reduced_equals_naive_on_random_programs() {
    let mut reduced = 0u64;
    let mut naive = 0u64;
    for seed in 1..=400 {
        let p = random_prog(seed, 3, 4, Mix::Basic);
        let (d, n) = both(&p);
        assert!(d.exhaustive() && n.exhaustive());
        assert_eq!(
            d.final_states, n.final_states,
            "seed {seed}: {:?}",
            p.threads
        );
        assert_eq!(props(&d), props(&n), "seed {seed}: {:?}", p.threads);
        reduced += d.stats.executions + d.stats.pruned;
        naive += n.stats.executions;
    }
    assert!(
        reduced < naive,
        "reduction explored {reduced} vs naive {naive}"
    );
}

#[test]
fn fatal_step_does_not_hide_other_threads() {
    use Ins::*;
    // T0 hits BUG() at once (a step that touches nothing); T1's check is independent of it
    // but only runs if T1 goes first: the execution ends at the BUG.
    let p = Prog {
        nvars: 1,
        nlocks: 0,
        threads: vec![vec![BugIfLocal(0)], vec![Check(0, 0)]],
    };
    let (d, n) = both(&p);
    assert_eq!(props(&n), vec!["bad-value", "bug"]);
    assert_eq!(props(&d), props(&n));
    assert_eq!(d.final_states, n.final_states);
}

/// Properties whose finding ends the execution in the random programs.
const FATAL: &[&str] = &["fatal-value", "bug", "retry-bound"];

#[test]
fn reduced_equals_naive_on_random_programs_with_fatal_findings_and_attempts() {
    let mut compared = 0;
    let mut final_compared = 0;
    for (threads, len, seeds) in [(3, 4, 300), (4, 5, 200)] {
        for seed in 1..=seeds {
            let p = random_prog(seed, threads, len, Mix::Extended);
            let Some(n) = naive_within(&p, 20_000) else {
                continue;
            };
            let d = explore(&p, Options::default());
            let ctx = format!("{threads} threads, seed {seed}: {:?}", p.threads);
            assert!(d.exhaustive());
            assert_eq!(props(&d), props(&n), "{ctx}");
            // The world a fatal end leaves depends on how far the other threads got, and the
            // reduced search keeps only some of those ends (see `explore`): final states are
            // compared where no execution ended that way.
            assert!(d.final_states.is_subset(&n.final_states), "{ctx}");
            if !props(&n).iter().any(|p| FATAL.contains(p)) {
                assert_eq!(d.final_states, n.final_states, "{ctx}");
                final_compared += 1;
            }
            compared += 1;
        }
    }
    eprintln!("{compared} programs compared ({final_compared} without fatal ends)");
    assert!(
        compared >= 390 && final_compared >= 240,
        "only {compared} programs small enough ({final_compared} without fatal ends)"
    );
}

/// [`Prog`] restored by fast-forward ([`explore::Execution::restore`]) instead of replay,
/// and, when `group` is not empty, with those threads (which run the same code) declared a
/// symmetry group: the history-keyed search with safe steps and symmetry reduction (the
/// kernel model's configuration when a scenario has identical threads).
struct Ff<'a> {
    p: &'a Prog,
    group: Vec<usize>,
}

impl explore::Model for Ff<'_> {
    type World = common::prog::World;
    fn instance(&self) -> explore::Instance<Self::World> {
        self.p.instance()
    }
    fn at_end(&self, w: &Self::World, out: &mut Vec<explore::Finding>) {
        self.p.at_end(w, out)
    }
    /// Up to a permutation of the group (as the search with symmetry sees final states).
    fn state_hash(&self, w: &Self::World) -> u64 {
        use std::hash::{Hash, Hasher};
        if self.group.is_empty() {
            return self.p.state_hash(w);
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let (mut group, mut rest) = (Vec::new(), Vec::new());
        for (t, &o) in w.outs.iter().enumerate() {
            if self.group.contains(&t) {
                group.push(o);
            } else {
                rest.push(o);
            }
        }
        group.sort_unstable();
        (&w.vars, &w.locks, rest, group).hash(&mut h);
        h.finish()
    }
}

impl explore::search::StateKey for Ff<'_> {
    fn hash_state<H: std::hash::Hasher>(&self, w: &Self::World, h: &mut H) {
        self.p.hash_state(w, h)
    }
    fn key_includes_history(&self) -> bool {
        true
    }
    fn snapshot(&self, w: &Self::World) -> Option<Self::World> {
        Some(w.clone())
    }
    fn fast_forward(&self) -> bool {
        true
    }
    fn symmetry(&self) -> Vec<Vec<explore::Tid>> {
        [self.group.clone()]
            .into_iter()
            .filter(|g| !g.is_empty())
            .collect()
    }
    fn hash_shared<H: std::hash::Hasher>(&self, w: &Self::World, h: &mut H) {
        use std::hash::Hash;
        (&w.vars, &w.locks).hash(h);
        for t in (0..w.outs.len()).filter(|t| !self.group.contains(t)) {
            w.outs[t].hash(h);
        }
    }
    fn hash_thread<H: std::hash::Hasher>(&self, w: &Self::World, t: explore::Tid, h: &mut H) {
        h.write_i64(w.outs[t]);
    }
}

/// The history-keyed stateful search restores states by fast-forwarding fresh thread futures
/// through their recorded step results (and the search checks every restored key on its
/// first 4096 restores): it must visit exactly the states the same search visits when it
/// restores by replaying the path, and find what naive enumeration finds — on random
/// programs with locks, parked waits, CAS retry loops (summarised by `Ctx::call`) and fatal
/// findings, with one and two workers.
#[test]
fn fast_forward_restores_equal_replay_and_naive() {
    use explore::search::{explore_stateful_with, StatefulOptions};
    let (mut restores, mut states, mut safe, mut reruns, mut fewer) = (0u64, 0u64, 0, 0, 0);
    let mut compared = 0;
    for seed in 1..=300 {
        // Odd seeds: with fatal findings and CAS loops, whose truncated ends a sleep-set
        // search does not all reach (their findings it does); even seeds: without, where the
        // final states must agree too.
        let mix = if seed % 2 == 1 {
            Mix::Extended
        } else {
            Mix::Basic
        };
        let p = random_prog(seed, 4, 5, mix);
        let Some(n) = naive_within(&p, 20_000) else {
            continue; // too large to enumerate here
        };
        compared += 1;
        let by_replay = explore_stateful_with(&p, Options::default(), StatefulOptions::default());
        // Without safe steps (persistent sets from the learned independence table): at least
        // as many states, the same findings.
        let plain = explore_stateful_with(
            &p,
            Options::default(),
            StatefulOptions {
                safe_steps: false,
                ..StatefulOptions::default()
            },
        );
        assert!(plain.outcome.stats.states >= by_replay.outcome.stats.states);
        assert_eq!(props(&plain.outcome), props(&n), "seed {seed}");
        fewer += u64::from(plain.outcome.stats.states > by_replay.outcome.stats.states);
        safe += by_replay.outcome.stats.safe_steps;
        reruns += by_replay.outcome.stats.reruns;
        for jobs in [1, 2] {
            let ff = explore_stateful_with(
                &Ff {
                    p: &p,
                    group: Vec::new(),
                },
                Options::default(),
                StatefulOptions {
                    jobs,
                    ..StatefulOptions::default()
                },
            );
            let (f, r) = (&ff.outcome, &by_replay.outcome);
            // One worker takes the same order as the search by replay: the same states. Two
            // take another order, and which states safe steps leave out depends on the sleep
            // sets a state is reached with: only the results must agree (and the ends of
            // fatal findings are a subset, as for any reduced search).
            if jobs == 1 {
                assert_eq!(f.stats.states, r.stats.states, "seed {seed}");
                assert_eq!(f.final_states, r.final_states, "seed {seed}");
            }
            if mix == Mix::Basic {
                assert_eq!(f.final_states, n.final_states, "seed {seed}, {jobs} jobs");
            } else {
                assert!(f.final_states.is_subset(&n.final_states), "seed {seed}");
            }
            assert_eq!(props(f), props(&n), "seed {seed}, {jobs} jobs");
            if jobs == 1 {
                assert_eq!(f.stats.transitions, r.stats.transitions, "seed {seed}");
                restores += f.stats.restores;
                states += f.stats.states;
            }
        }
    }
    eprintln!(
        "{compared} programs: {states} states, {restores} restores by fast-forward, {safe} safe \
         steps, {reruns} reruns, {fewer} programs with fewer states thanks to safe steps"
    );
    assert!(compared >= 150, "only {compared} programs small enough");
    assert!(restores > 500, "the test restored little: {restores}");
    assert!(
        safe > 1000 && fewer > 30,
        "safe steps were hardly used: {safe}, {fewer}"
    );
}

/// A memory limit the process is already over stops both searches, which then name it as
/// the bound that made them incomplete; a limit it is far from changes nothing. (A search
/// reads the resident set on its 16th look — after 4,096 arrivals in the stateful search,
/// 16 steps in DPOR — so a stopped search has gone that far first, and the stateful search
/// is tried on a program with more states than that.)
#[test]
fn memory_limit_stops_the_search_and_is_named() {
    use explore::search::{explore_stateful_with, StatefulOptions};
    use explore::{Bound, Bounds};
    use Ins::*;
    // `threads` threads writing one variable four times each, each write its own value:
    // every interleaving is its own class.
    let writers = |threads: i8| Prog {
        nvars: 1,
        nlocks: 0,
        threads: (0..threads)
            .map(|t| (0..4).map(|i| Write(0, t * 8 + i)).collect())
            .collect(),
    };
    let limited = |mib| Options {
        bounds: Bounds {
            max_memory_mib: Some(mib),
            ..Bounds::default()
        },
        ..Options::default()
    };
    let big = writers(5);
    for jobs in [1, 2] {
        let sopts = StatefulOptions {
            jobs,
            ..StatefulOptions::default()
        };
        let stopped = explore_stateful_with(&big, limited(1), sopts).outcome;
        assert_eq!(
            stopped.stopped_by,
            Some(Bound::MaxMemoryMib(1)),
            "jobs {jobs}"
        );
        let full = explore_stateful_with(&big, limited(1 << 30), sopts).outcome;
        assert_eq!(full.stopped_by, None, "jobs {jobs}");
        assert!(
            full.stats.states > 3 * 4096 && stopped.stats.states < full.stats.states,
            "jobs {jobs}: {} of {} states",
            stopped.stats.states,
            full.stats.states
        );
    }
    // Three writers for DPOR: 34,650 executions.
    let p = writers(3);
    let stopped = explore(&p, limited(1));
    assert_eq!(stopped.stopped_by, Some(Bound::MaxMemoryMib(1)));
    let full = explore(&p, limited(1 << 30));
    assert_eq!(full.stopped_by, None);
    assert!(stopped.stats.executions < full.stats.executions);
}

/// Symmetry reduction on a history-keyed model with safe steps (persistent sets from the
/// learned table, which `Seen::symmetrize` makes the same for every member of a group): on
/// random programs whose first 2–3 threads run the same code, the search finds the
/// properties and the final states (up to permuting the group) that naive enumeration finds,
/// with one and two workers, with no more states than without symmetry (fewer on a third of
/// the programs at least, a quarter fewer in all), and every violation's schedule replays.
#[test]
fn symmetry_with_history_keys_and_safe_steps_equals_naive() {
    use explore::search::{explore_stateful_with, StatefulOptions};
    let (mut compared, mut fewer, mut with_sym, mut without) = (0, 0, 0u64, 0u64);
    for seed in 1..=300 {
        let mix = if seed % 2 == 1 {
            Mix::Extended
        } else {
            Mix::Basic
        };
        let mut p = random_prog(seed, 3, 4, mix);
        let copies = 2 + (seed % 2) as usize;
        let code = p.threads[0].clone();
        for t in 1..copies {
            if t < p.threads.len() {
                p.threads[t] = code.clone();
            } else {
                p.threads.push(code.clone());
            }
        }
        let m = Ff {
            p: &p,
            group: (0..copies).collect(),
        };
        let Some(n) = naive_within(&m, 20_000) else {
            continue;
        };
        compared += 1;
        let run = |symmetry: bool, jobs: usize, seed_table: bool| {
            explore_stateful_with(
                &m,
                Options::default(),
                StatefulOptions {
                    jobs,
                    symmetry,
                    seed_table,
                    ..StatefulOptions::default()
                },
            )
            .outcome
        };
        let plain = run(false, 1, true);
        // Without seeding walks the table is learned by the search alone, and one member
        // often has entries the others lack (then `Seen::symmetrize` is what keeps the
        // choice of safe steps the same in states equal up to the permutation).
        for (jobs, seeded) in [(1, true), (2, true), (1, false), (2, false)] {
            let s = run(true, jobs, seeded);
            assert!(s.exhaustive(), "seed {seed}");
            assert_eq!(props(&s), props(&n), "seed {seed}, {jobs} jobs");
            if mix == Mix::Basic {
                assert_eq!(s.final_states, n.final_states, "seed {seed}, {jobs} jobs");
            } else {
                assert!(s.final_states.is_subset(&n.final_states), "seed {seed}");
            }
            for r in s.violations() {
                let rep = replay(&m, &r.schedule);
                assert!(rep.diverged.is_none(), "seed {seed}: {:?}", rep.diverged);
            }
            if jobs == 1 && seeded {
                assert!(s.stats.states <= plain.stats.states, "seed {seed}");
                fewer += usize::from(s.stats.states < plain.stats.states);
                with_sym += s.stats.states;
                without += plain.stats.states;
            }
        }
    }
    eprintln!(
        "{compared} programs: {with_sym} states with symmetry, {without} without, fewer on {fewer}"
    );
    assert!(compared >= 150, "only {compared} programs small enough");
    assert!(
        fewer * 3 > compared && with_sym * 4 < without * 3,
        "symmetry reduced {fewer} of {compared} programs, {with_sym} states of {without}"
    );
}
