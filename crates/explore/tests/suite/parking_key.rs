//! The history-keyed stateful search keeps a thread's parking bits in the key only for the
//! objects its parked retries wait on (from the learned table, checked as the search goes).
//! Here two paths meet in states that differ only in such a bit: merging them would lose
//! either a livelock or a final state. The search must find both, whether the table was
//! seeded by random walks or learned from nothing by starting over. And where the bit is of
//! an object nobody waits on, the states must merge. Last, the table's checks: learned from
//! nothing on random programs, and after a depth cut.

use crate::common;

use common::naive_within;
use common::prog::{random_prog, Mix};
use explore::search::{explore_stateful_with, StateKey, StatefulOptions};
use explore::{Access, Accesses, Ctx, Finding, Instance, Model, ObjId, Op, Options, ThreadFn};
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

#[derive(Clone, Hash)]
struct World {
    /// Object 0.
    x: u8,
    /// Object 1.
    y: u8,
}

/// A thread's name and its code.
type Thread = (&'static str, fn() -> ThreadFn<World>);

/// A history-keyed model of two threads over [`World`].
struct Two {
    threads: [Thread; 2],
}

impl Model for Two {
    type World = World;
    fn instance(&self) -> Instance<World> {
        Instance {
            world: World { x: 0, y: 0 },
            objects: 2,
            threads: self
                .threads
                .iter()
                .map(|&(name, f)| (name.to_string(), f()))
                .collect(),
        }
    }
    fn at_end(&self, _: &World, _: &mut Vec<Finding>) {}
    fn state_hash(&self, w: &World) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        w.hash(&mut h);
        h.finish()
    }
}

impl StateKey for Two {
    fn hash_state<H: Hasher>(&self, w: &World, h: &mut H) {
        w.hash(h);
    }
    fn key_includes_history(&self) -> bool {
        true
    }
}

/// Thread 0 (the waiter): an attempt reads `x` (the step returns nothing: the thread's
/// history does not show what it saw), then a parked retry waits for a write to `x` since
/// that read, then it writes `y`. Thread 1: writes `x` once. If the write comes after the
/// read, the wait ends; if before, the waiter waits forever (a livelock). Both orders meet in
/// the same world, with the same histories and registered operations: only the waiter's
/// "written since" bit of `x` tells them apart.
const WAIT_FOR_WRITE: Two = Two {
    threads: [("waiter", waiter), ("bumper", bumper)],
};

fn waiter() -> ThreadFn<World> {
    Box::new(|cx: Ctx<World>| {
        Box::pin(async move {
            cx.attempt_begin();
            let x = Accesses::from_slice(&[Access::read(ObjId(0))]);
            cx.step(Op::new("look", x), |_| ()).await;
            cx.step(Op::new("wait", x).parked(), |_| ()).await;
            let y = Accesses::from_slice(&[Access::write(ObjId(1))]);
            cx.step(Op::new("done", y), |e| e.world.y = 1).await;
        })
    })
}

fn bumper() -> ThreadFn<World> {
    Box::new(|cx: Ctx<World>| {
        Box::pin(async move {
            let x = Accesses::from_slice(&[Access::write(ObjId(0))]);
            cx.step(Op::new("bump", x), |e| e.world.x = 1).await;
        })
    })
}

fn props(o: &explore::Outcome) -> BTreeSet<&'static str> {
    o.reports.iter().map(|r| r.property).collect()
}

#[test]
fn a_bit_that_decides_a_wait_stays_in_the_key() {
    let run = |safe_steps: bool, seed_table: bool| {
        explore_stateful_with(
            &WAIT_FOR_WRITE,
            Options::default(),
            StatefulOptions {
                safe_steps,
                seed_table,
                keep_keys: true,
                ..StatefulOptions::default()
            },
        )
    };
    // Without safe steps the key holds every bit: the reference.
    let full = run(false, true);
    assert!(full.outcome.exhaustive());
    assert_eq!(props(&full.outcome), BTreeSet::from(["livelock"]));
    // The ends: the wait ended (y written), and the livelock (nothing can move, y not).
    assert_eq!(full.outcome.final_states.len(), 2);
    for seed_table in [true, false] {
        let s = run(true, seed_table);
        let ctx = format!("seeded table: {seed_table}");
        assert!(s.outcome.exhaustive(), "{ctx}");
        assert_eq!(props(&s.outcome), props(&full.outcome), "{ctx}");
        assert_eq!(s.outcome.final_states, full.outcome.final_states, "{ctx}");
        assert!(s.keys.is_subset(&full.keys), "{ctx}");
        // The table: the waiter reads x and writes y, the bumper writes x, and the waiter's
        // parked retry is on x — learned by the walks or, from nothing, by starting over.
        assert_eq!(s.outcome.stats.table_entries, 4, "{ctx}");
    }
}

/// Thread 0 reads `x` in an attempt (learning nothing it keeps: the step returns nothing),
/// then reads `y`; thread 1 writes `x`, then `y`. Nobody parks: whether thread 1's write came
/// before or after thread 0's read shows only in thread 0's parking bit of `x`, which no
/// step of it ever looks at.
const NOBODY_WAITS: Two = Two {
    threads: [("reader", reader), ("writer", writer)],
};

fn reader() -> ThreadFn<World> {
    Box::new(|cx: Ctx<World>| {
        Box::pin(async move {
            cx.attempt_begin();
            let x = Accesses::from_slice(&[Access::read(ObjId(0))]);
            cx.step(Op::new("look", x), |_| ()).await;
            let y = Accesses::from_slice(&[Access::read(ObjId(1))]);
            cx.step(Op::new("look-y", y), |e| e.world.y).await;
        })
    })
}

fn writer() -> ThreadFn<World> {
    Box::new(|cx: Ctx<World>| {
        Box::pin(async move {
            let x = Accesses::from_slice(&[Access::write(ObjId(0))]);
            cx.step(Op::new("bump", x), |e| e.world.x = 1).await;
            let y = Accesses::from_slice(&[Access::write(ObjId(1))]);
            cx.step(Op::new("bump-y", y), |e| e.world.y = 1).await;
        })
    })
}

#[test]
fn a_bit_nobody_waits_on_merges_states() {
    let run = |all_parking_bits: bool| {
        explore_stateful_with(
            &NOBODY_WAITS,
            Options::default(),
            StatefulOptions {
                all_parking_bits,
                keep_keys: true,
                ..StatefulOptions::default()
            },
        )
    };
    let (all, cut) = (run(true), run(false));
    assert!(all.outcome.exhaustive() && cut.outcome.exhaustive());
    assert!(
        cut.outcome.stats.states < all.outcome.stats.states,
        "{} states with the bit in the key, {} without",
        all.outcome.stats.states,
        cut.outcome.stats.states
    );
    assert_eq!(cut.outcome.final_states, all.outcome.final_states);
    assert_eq!(props(&cut.outcome), props(&all.outcome));
    assert!(cut.keys.is_subset(&all.keys));
}

/// On random programs (parked waits, CAS retry loops with attempts, fatal findings), a table
/// learned only by starting over gives what naive enumeration gives.
#[test]
fn a_table_learned_from_nothing_gives_the_naive_results() {
    let (mut compared, mut reruns) = (0, 0u64);
    for seed in 1..=120 {
        let mix = if seed % 2 == 1 {
            Mix::Extended
        } else {
            Mix::Basic
        };
        let p = random_prog(seed, 4, 5, mix);
        let Some(n) = naive_within(&p, 20_000) else {
            continue;
        };
        let s = explore_stateful_with(
            &p,
            Options::default(),
            StatefulOptions {
                seed_table: false,
                ..StatefulOptions::default()
            },
        );
        assert!(s.outcome.exhaustive(), "seed {seed}");
        assert_eq!(props(&s.outcome), props(&n), "seed {seed}");
        if mix == Mix::Basic {
            assert_eq!(s.outcome.final_states, n.final_states, "seed {seed}");
        } else {
            assert!(
                s.outcome.final_states.is_subset(&n.final_states),
                "seed {seed}"
            );
        }
        reruns += s.outcome.stats.reruns;
        compared += 1;
    }
    eprintln!("{compared} programs, {reruns} reruns");
    assert!(compared >= 60, "only {compared} programs small enough");
    assert!(
        reruns >= compared as u64,
        "every search starts from an empty table"
    );
}

/// A search that met the depth bound and then stopped to learn starts over like any other:
/// its outcome would name the depth bound but miss the states the stop left out. With the
/// bound at one step, the table learned from nothing must give what the seeded one gives.
#[test]
fn a_search_halted_to_learn_after_a_depth_cut_starts_over() {
    let run = |seed_table: bool| {
        explore_stateful_with(
            &WAIT_FOR_WRITE,
            Options {
                bounds: explore::Bounds {
                    max_depth: 1,
                    ..explore::Bounds::default()
                },
                ..Options::default()
            },
            StatefulOptions {
                seed_table,
                ..StatefulOptions::default()
            },
        )
    };
    let (seeded, learned) = (run(true), run(false));
    for o in [&seeded.outcome, &learned.outcome] {
        assert!(
            matches!(o.stopped_by, Some(explore::Bound::MaxDepth(1))),
            "{:?}",
            o.stopped_by
        );
    }
    assert!(learned.outcome.stats.reruns >= 1);
    assert_eq!(learned.outcome.stats.states, seeded.outcome.stats.states);
    assert_eq!(props(&learned.outcome), props(&seeded.outcome));
}
