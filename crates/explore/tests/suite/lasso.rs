//! The lasso check (`explore::search` "lasso"): a retry loop that can go round forever is a
//! weakly fair cycle on the path — `livelock`, with a replayable trace of the prefix and one
//! turn —, a loop that only went round its bound without a state repeating cuts the
//! execution (`incomplete`, never a violation), and a cycle that ignores an enabled thread
//! is no livelock. Each with DPOR, naive enumeration and the stateful search.

use explore::search::{explore_stateful, Bound, StateKey};
use explore::{
    replay, Access, Accesses, Ctx, Finding, Instance, Model, ObjId, Op, Options, Outcome, Strategy,
    ThreadFn,
};
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

#[derive(Clone, Hash, Default)]
struct World {
    /// Object 0: whose the page is (the ping-pong), or the writer's count.
    flag: u8,
    /// Object 1: set once by the stopper; in `CountUp`, whose turn it is (0: the writer's).
    stop: u8,
}

const FLAG: ObjId = ObjId(0);
const STOP: ObjId = ObjId(1);

#[derive(Copy, Clone)]
enum Kind {
    /// Two threads each make the flag theirs and then check it is still theirs, retrying
    /// until it is: each can undo the other's set before the other's check, for ever.
    PingPong,
    /// The ping-pong, and a third thread whose one step stops both loops: a cycle without
    /// it ignores a thread enabled throughout.
    PingPongStopped,
    /// A writer counts the flag up to `WRITES`, one write per turn; a reader's loop reads
    /// the flag each round and hands the turn back until it reads `WRITES`: its loop goes
    /// round once per write, each round in a new state (the writer moved on).
    CountUp,
}

const WRITES: u8 = 20;

struct Lasso {
    kind: Kind,
    /// Rounds a loop may go before the execution is cut.
    bound: u32,
}

fn acc(a: &[Access]) -> Accesses {
    Accesses::from_slice(a)
}

/// One ping-pong thread: makes the flag `mine`, then checks it still is (or that the stopper
/// stopped it), round after round.
fn pinger(mine: u8, site: &'static str, bound: u32) -> ThreadFn<World> {
    Box::new(move |cx: Ctx<World>| {
        Box::pin(async move {
            let lp = cx.loop_enter(site);
            loop {
                let round = lp.head(0);
                if round >= bound {
                    cx.step(Op::new("cut", Accesses::new()), move |e| {
                        e.cut_retry(site, round)
                    })
                    .await;
                    return;
                }
                cx.step(Op::new("set", acc(&[Access::write(FLAG)])), move |e| {
                    e.world.flag = mine
                })
                .await;
                let ok = cx
                    .step(
                        Op::new("check", acc(&[Access::read(FLAG), Access::read(STOP)])),
                        move |e| e.world.flag == mine || e.world.stop == 1,
                    )
                    .await;
                if ok {
                    return;
                }
            }
        })
    })
}

fn stopper() -> ThreadFn<World> {
    Box::new(|cx: Ctx<World>| {
        Box::pin(async move {
            cx.step(Op::new("stop", acc(&[Access::write(STOP)])), |e| {
                e.world.stop = 1
            })
            .await;
        })
    })
}

fn writer() -> ThreadFn<World> {
    Box::new(|cx: Ctx<World>| {
        Box::pin(async move {
            for _ in 0..WRITES {
                let turn = acc(&[Access::read(STOP)]);
                cx.step(Op::new("my turn", turn).when(|w, _| w.stop == 0, 0), |_| ())
                    .await;
                let a = acc(&[Access::write(FLAG), Access::write(STOP)]);
                cx.step(Op::new("write", a), |e| {
                    e.world.flag += 1;
                    e.world.stop = 1;
                })
                .await;
            }
        })
    })
}

fn reader(bound: u32) -> ThreadFn<World> {
    Box::new(move |cx: Ctx<World>| {
        Box::pin(async move {
            let lp = cx.loop_enter("reader");
            loop {
                let round = lp.head(0);
                if round >= bound {
                    cx.step(Op::new("cut", Accesses::new()), move |e| {
                        e.cut_retry("reader", round)
                    })
                    .await;
                    return;
                }
                let turn = acc(&[Access::read(STOP)]);
                cx.step(Op::new("my turn", turn).when(|w, _| w.stop == 1, 0), |_| ())
                    .await;
                let a = acc(&[Access::read(FLAG), Access::write(STOP)]);
                let done = cx
                    .step(Op::new("read", a), |e| {
                        e.world.stop = 0;
                        e.world.flag == WRITES
                    })
                    .await;
                if done {
                    return;
                }
            }
        })
    })
}

impl Model for Lasso {
    type World = World;
    fn instance(&self) -> Instance<World> {
        let b = self.bound;
        let threads: Vec<(String, ThreadFn<World>)> = match self.kind {
            Kind::PingPong => vec![
                ("a".into(), pinger(1, "a-loop", b)),
                ("b".into(), pinger(2, "b-loop", b)),
            ],
            Kind::PingPongStopped => vec![
                ("a".into(), pinger(1, "a-loop", b)),
                ("b".into(), pinger(2, "b-loop", b)),
                ("stopper".into(), stopper()),
            ],
            Kind::CountUp => vec![("reader".into(), reader(b)), ("writer".into(), writer())],
        };
        Instance {
            world: World::default(),
            objects: 2,
            threads,
        }
    }
    fn at_end(&self, _: &World, _: &mut Vec<Finding>) {}
    fn state_hash(&self, w: &World) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        w.hash(&mut h);
        h.finish()
    }
    fn lasso_world<H: Hasher>(&self, w: &World, h: &mut H) -> bool {
        w.hash(h);
        true
    }
}

impl StateKey for Lasso {
    fn hash_state<H: Hasher>(&self, w: &World, h: &mut H) {
        w.hash(h);
    }
    fn key_includes_history(&self) -> bool {
        true
    }
}

fn props(o: &Outcome) -> BTreeSet<&'static str> {
    o.reports.iter().map(|r| r.property).collect()
}

/// DPOR, naive enumeration and the stateful search of `m`.
fn all(m: &Lasso) -> [Outcome; 3] {
    let run = |strategy| {
        explore::explore(
            m,
            Options {
                strategy,
                ..Options::default()
            },
        )
    };
    [
        run(Strategy::Dpor),
        run(Strategy::Naive),
        explore_stateful(m, Options::default()),
    ]
}

#[test]
fn a_ping_pong_that_can_go_on_forever_is_a_livelock_with_a_replayable_lasso() {
    let m = Lasso {
        kind: Kind::PingPong,
        bound: 64,
    };
    for o in all(&m) {
        assert_eq!(props(&o), BTreeSet::from(["livelock"]), "{:?}", o.stats);
        // Every execution either ends or closes its cycle: nothing is cut.
        assert!(o.exhaustive(), "{:?}", o.stopped_by);
        let r = &o.reports[0];
        assert!(
            r.message.contains("a-loop") && r.message.contains("b-loop"),
            "{}",
            r.message
        );
        assert!(
            r.message.contains("repeats forever under weak fairness"),
            "{}",
            r.message
        );
        // The trace replays to the same finding at its end: the prefix and one turn.
        let rep = replay(&m, &r.schedule);
        assert!(rep.diverged.is_none());
        let found: Vec<_> = rep.end_findings.iter().map(|f| f.property).collect();
        assert_eq!(found, ["livelock"]);
        // One step less is no lasso.
        let rep = replay(&m, &r.schedule[..r.schedule.len() - 1]);
        assert!(rep.end_findings.is_empty());
    }
    // The shortest turn: a sets, b checks (fails), b sets, a checks (fails) — 4 steps after
    // a prefix of a's set and b's set... the reported cycle has some length >= 4.
    let o = &all(&m)[0];
    assert!(
        o.reports[0].message.contains("cycle of 4 steps"),
        "{}",
        o.reports[0].message
    );
}

#[test]
fn a_loop_that_succeeds_after_twenty_changes_is_verified_with_a_big_bound_and_cut_with_a_small_one()
{
    let big = Lasso {
        kind: Kind::CountUp,
        bound: 64,
    };
    for o in all(&big) {
        assert!(props(&o).is_empty(), "{:?}", props(&o));
        assert!(o.exhaustive(), "{:?}", o.stopped_by);
    }
    let small = Lasso {
        kind: Kind::CountUp,
        bound: 5,
    };
    for o in all(&small) {
        // Not a violation: the loop was cut, and the result says so.
        assert!(props(&o).is_empty(), "{:?}", props(&o));
        match &o.stopped_by {
            Some(Bound::Retries(what)) => {
                assert!(
                    what.contains("retry loop at reader went round 5 times"),
                    "{what}"
                );
                assert!(what.contains("execution(s) cut"), "{what}");
            }
            other => panic!("not cut by the retry bound: {other:?}"),
        }
        assert!(!o.exhaustive());
    }
}

#[test]
fn a_cycle_that_ignores_an_enabled_thread_is_no_livelock() {
    let m = Lasso {
        kind: Kind::PingPongStopped,
        bound: 64,
    };
    for (i, o) in all(&m).into_iter().enumerate() {
        assert!(props(&o).is_empty(), "search {i}: {:?}", o.reports);
        assert!(o.exhaustive(), "search {i}: {:?}", o.stopped_by);
        assert!(o.stats.pruned > 0);
    }
    // Its cycles were closed, not cut: the same model with a bound too small to go round
    // without them is cut.
    let cut = Lasso {
        kind: Kind::PingPongStopped,
        bound: 1,
    };
    assert!(matches!(
        explore::explore(&cut, Options::default()).stopped_by,
        Some(Bound::Retries(_))
    ));
}
