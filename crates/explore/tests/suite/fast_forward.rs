//! Fast-forward restores ([`explore::Execution::restore`]) at the level of one execution: a
//! `Ctx::call` that returned before the restored state is skipped whole (its function is not
//! polled again), a call that was open there runs again from its start, and either way the
//! thread reaches the same point with the same history, attempt and registered operation as
//! the execution that took the path.

use explore::{Access, Accesses, Ctx, Execution, Instance, ObjId, Op, ThreadFn};
use std::cell::Cell;
use std::rc::Rc;

#[derive(Clone)]
struct World {
    x: i64,
}

fn acc(o: u32, write: bool) -> Accesses {
    Accesses::from_slice(&[if write {
        Access::write(ObjId(o))
    } else {
        Access::read(ObjId(o))
    }])
}

async fn read(cx: &Ctx<World>) -> i64 {
    cx.step(Op::new("read", acc(0, false)), |e| e.world.x).await
}

async fn add(cx: &Ctx<World>, d: i64) {
    cx.step(Op::new("add", acc(0, true)), move |e| e.world.x += d)
        .await
}

/// Thread 0: `inner` (a call: two reads and an attempt, returns their sum), then `outer` (a
/// call around two adds), then a read. `polls` counts the polls of `inner`'s function.
fn thread0(polls: Rc<Cell<u32>>) -> ThreadFn<World> {
    Box::new(move |cx: Ctx<World>| {
        Box::pin(async move {
            let p = polls.clone();
            let s = cx
                .call("inner", async {
                    p.set(p.get() + 1);
                    cx.attempt_begin();
                    let a = read(&cx).await;
                    p.set(p.get() + 1);
                    let b = read(&cx).await;
                    p.set(p.get() + 1);
                    a + b
                })
                .await;
            cx.call("outer", async {
                add(&cx, s + 1).await;
                add(&cx, 1).await;
            })
            .await;
            read(&cx).await;
        })
    })
}

fn thread1() -> ThreadFn<World> {
    Box::new(|cx: Ctx<World>| {
        Box::pin(async move {
            add(&cx, 10).await;
            add(&cx, 10).await;
        })
    })
}

fn threads(polls: &Rc<Cell<u32>>) -> Vec<(String, ThreadFn<World>)> {
    vec![
        ("t0".to_string(), thread0(polls.clone())),
        ("t1".to_string(), thread1()),
    ]
}

fn instance(polls: &Rc<Cell<u32>>) -> Instance<World> {
    Instance {
        world: World { x: 1 },
        objects: 1,
        threads: threads(polls),
    }
}

/// What a state looks like from outside: histories, registered operations, the world.
fn look(ex: &Execution<World>) -> (Vec<u128>, Vec<Option<&'static str>>, i64) {
    (
        (0..ex.threads()).map(|t| ex.history(t)).collect(),
        (0..ex.threads()).map(|t| ex.next_op_name(t)).collect(),
        ex.with_world(|w| w.x),
    )
}

/// Replays `path` on a fresh recording execution; returns it and `inner`'s poll count.
fn replayed(path: &[usize]) -> (Execution<World>, u32) {
    let polls = Rc::new(Cell::new(0));
    let mut ex = Execution::start_recording(instance(&polls));
    for &t in path {
        ex.step(t);
    }
    let n = polls.get();
    (ex, n)
}

#[test]
fn a_call_that_returned_is_skipped_and_an_open_one_runs_again() {
    // Thread 0 steps 0: inner's first poll; after 1 read: inner open; after 2 reads: inner
    // returned; after 3 (one add): outer open; after 4: outer returned.
    let mut checked = 0;
    for snap_at in 0..=4usize {
        for more in 1..=3usize {
            // Snapshot after thread 0 took `snap_at` steps (thread 1 one step in between),
            // go on with both threads, restore, compare with a replay of the prefix.
            let mut prefix: Vec<usize> = vec![0; snap_at];
            prefix.insert(snap_at.min(1), 1);
            let polls = Rc::new(Cell::new(0));
            let mut ex = Execution::start_recording(instance(&polls));
            for &t in &prefix {
                ex.step(t);
            }
            let snap = ex.snapshot(ex.with_world(World::clone));
            let at_snapshot = look(&ex);
            for _ in 0..more {
                let Some(t) = (0..2).find(|&t| ex.enabled(t)) else {
                    break;
                };
                ex.step(t);
            }
            assert_ne!(look(&ex), at_snapshot, "the execution moved on");
            let before = polls.get();
            let world = snap.world().clone();
            ex.restore(&snap, world, |t| threads(&polls).swap_remove(t).1);
            // The restore itself runs no thread code: a moved thread's future is started
            // (and fast-forwarded) when it is next stepped.
            assert_eq!(polls.get(), before, "the restore polled a thread");
            let at_restore = look(&ex);
            ex.materialize_all();
            assert_eq!(
                look(&ex),
                at_restore,
                "starting the futures changed the state"
            );
            let (again, _) = replayed(&prefix);
            assert_eq!(look(&ex), look(&again), "snapshot after {prefix:?}");
            assert_eq!(look(&ex), at_snapshot);
            // `inner` returned after thread 0's second step: then the restore does not poll
            // its function at all; before, it runs again up to where the thread stood.
            let repolled = polls.get() - before;
            if snap_at >= 2 {
                assert_eq!(
                    repolled, 0,
                    "inner returned before the snapshot, yet was polled"
                );
            } else {
                assert_eq!(repolled, 1 + snap_at as u32, "inner open at the snapshot");
            }
            // And the restored execution goes on like the replayed one, to the end.
            let mut a = ex;
            let mut b = again;
            while let Some(t) = (0..2).find(|&t| a.enabled(t)) {
                assert!(b.enabled(t));
                a.step(t);
                b.step(t);
                assert_eq!(look(&a), look(&b));
            }
            assert!(a.all_finished() && b.all_finished());
            checked += 1;
        }
    }
    assert_eq!(checked, 15);
}

/// Restores through threads that were not started again yet: a snapshot taken while a
/// restored thread still waits for its first step (and another one already stepped), and a
/// restore of an older snapshot while threads wait so. Every interleaving of the two threads,
/// every pair of cut points: each restored state looks like a replay of its prefix, and goes
/// on like it to the end.
#[test]
fn snapshots_and_restores_of_threads_not_started_again() {
    // Every schedule of thread 0's five steps and thread 1's two.
    let mut schedules = Vec::new();
    for a in 0..7 {
        for b in a + 1..7 {
            schedules.push(
                (0..7)
                    .map(|i| usize::from(i == a || i == b))
                    .collect::<Vec<_>>(),
            );
        }
    }
    let goes_on_like_a_replay = |ex: &mut Execution<World>, s: &[usize], from: usize| {
        let (mut b, _) = replayed(&s[..from]);
        assert_eq!(look(ex), look(&b), "restored at {:?}", &s[..from]);
        for &t in &s[from..] {
            assert!(ex.enabled(t) && b.enabled(t), "{s:?}: thread {t} enabled");
            ex.step(t);
            b.step(t);
            assert_eq!(look(ex), look(&b), "{s:?}");
        }
        assert!(ex.all_finished() && b.all_finished());
    };
    let mut checked = 0;
    for s in &schedules {
        for i in 0..=s.len() {
            for j in i..=s.len() {
                let polls = Rc::new(Cell::new(0));
                let restore =
                    |ex: &mut Execution<World>, snap: &explore::runtime::Snapshot<World>| {
                        let before = polls.get();
                        ex.restore(snap, snap.world().clone(), |t| {
                            threads(&polls).swap_remove(t).1
                        });
                        assert_eq!(polls.get(), before, "the restore polled a thread");
                    };
                let mut ex = Execution::start_recording(instance(&polls));
                for &t in &s[..i] {
                    ex.step(t);
                }
                let snap_i = ex.snapshot(ex.with_world(World::clone));
                for &t in &s[i..j] {
                    ex.step(t);
                }
                let snap_j = ex.snapshot(ex.with_world(World::clone));
                for &t in &s[j..] {
                    ex.step(t);
                }
                // Back to j: both threads moved since (unless j is the end), none started.
                restore(&mut ex, &snap_j);
                // One step starts one thread again; the other (if it moved) still waits.
                let k = (j + 1).min(s.len());
                if j < s.len() {
                    ex.step(s[j]);
                }
                let snap_k = ex.snapshot(ex.with_world(World::clone));
                // Back to the older i with a thread still waiting, then on to the end.
                restore(&mut ex, &snap_i);
                goes_on_like_a_replay(&mut ex, s, i);
                // And to k, snapshotted while a thread waited.
                restore(&mut ex, &snap_k);
                goes_on_like_a_replay(&mut ex, s, k);
                checked += 1;
            }
        }
    }
    assert_eq!(schedules.len(), 21);
    assert_eq!(checked, 21 * 36);
}
