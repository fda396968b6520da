//! Restores of a model that keeps its threads' resume points in its world
//! ([`explore::Execution::resume_moved`]): a thread that took no step since the state keeps
//! its future (its function is not called again), a thread that moved restarts from its
//! resume point, and either way the execution goes on exactly like one that took the path.

use explore::{Access, Accesses, Ctx, Execution, Instance, ObjId, Op, ThreadFn};
use std::cell::Cell;
use std::rc::Rc;

const STEPS: u8 = 3;

#[derive(Clone, Debug, PartialEq)]
struct World {
    x: i64,
    /// Each thread's resume point: how many of its steps it took.
    pc: [u8; 2],
}

/// Thread `t` from its resume point `pc`: `STEPS - pc` more steps, each adding `t + 1` to
/// `x` and moving the resume point on.
fn thread(t: usize, pc: u8, starts: Rc<Cell<[u32; 2]>>) -> ThreadFn<World> {
    Box::new(move |cx: Ctx<World>| {
        let mut s = starts.get();
        s[t] += 1;
        starts.set(s);
        Box::pin(async move {
            for _ in pc..STEPS {
                let acc = Accesses::from_slice(&[Access::write(ObjId(0))]);
                cx.step(Op::new("add", acc), move |e| {
                    e.world.x = e.world.x * 3 + t as i64 + 1;
                    e.world.pc[t] += 1;
                })
                .await;
            }
        })
    })
}

fn instance_at(w: &World, starts: &Rc<Cell<[u32; 2]>>) -> Instance<World> {
    Instance {
        world: w.clone(),
        objects: 1,
        threads: (0..2)
            .map(|t| (format!("t{t}"), thread(t, w.pc[t], starts.clone())))
            .collect(),
    }
}

fn look(ex: &Execution<World>) -> (World, Vec<Option<&'static str>>) {
    (
        ex.with_world(World::clone),
        (0..2).map(|t| ex.next_op_name(t)).collect(),
    )
}

#[test]
fn unmoved_threads_keep_their_futures() {
    let w0 = World { x: 1, pc: [0; 2] };
    let mut checked = 0;
    // Prefixes to the saved state, and the steps taken after it before the restore.
    for prefix in [vec![], vec![0], vec![1, 0], vec![0, 0, 1]] {
        for after in [vec![0], vec![1], vec![1, 1], vec![0, 1, 0], vec![]] {
            let starts = Rc::new(Cell::new([0; 2]));
            let mut ex = Execution::start(instance_at(&w0, &starts), false);
            for &t in &prefix {
                ex.step(t);
            }
            let saved = look(&ex);
            let marks = ex.marks().to_vec();
            let mut moved = [false; 2];
            for &t in &after {
                if ex.enabled(t) {
                    ex.step(t);
                    moved[t] = true;
                }
            }
            assert_eq!(
                ex.moved_since(&marks),
                u64::from(moved[0]) | (u64::from(moved[1]) << 1)
            );
            let before = starts.get();
            ex.resume_moved(instance_at(&saved.0, &starts), &marks);
            let started = starts.get();
            for t in 0..2 {
                assert_eq!(
                    started[t] - before[t],
                    u32::from(moved[t]),
                    "thread {t} after {prefix:?} then {after:?}: restarted only if it moved"
                );
            }
            assert_eq!(look(&ex), saved, "restored after {prefix:?} then {after:?}");
            // A second restore to the same state, right away: nothing moved, nothing restarts.
            let before = starts.get();
            ex.resume_moved(instance_at(&saved.0, &starts), &marks);
            assert_eq!(starts.get(), before);
            // The restored execution goes on like a replay of the prefix, to the end.
            let fresh = Rc::new(Cell::new([0; 2]));
            let mut again = Execution::start(instance_at(&w0, &fresh), false);
            for &t in &prefix {
                again.step(t);
            }
            while let Some(t) = (0..2).rev().find(|&t| ex.enabled(t)) {
                assert!(again.enabled(t));
                ex.step(t);
                again.step(t);
                assert_eq!(look(&ex), look(&again));
            }
            assert!(ex.all_finished() && again.all_finished());
            checked += 1;
        }
    }
    assert_eq!(checked, 20);
}
