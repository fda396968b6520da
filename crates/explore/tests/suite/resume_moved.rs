//! Restores of a model that keeps its threads' resume points in its world
//! ([`explore::Execution::resume_moved`]): a thread that took no step since the state keeps
//! its future (its function is not called again), a thread that moved restarts from its
//! resume point — or, written as a [`explore::Machine`], is rewound where it is without a
//! restart unless it had finished — and either way the execution goes on exactly like one
//! that took the path.

use explore::{
    machine, Access, Accesses, Ctx, Execution, Instance, Machine, ObjId, Op, StepEnv, ThreadFn,
    ThreadFuture,
};
use std::cell::Cell;
use std::rc::Rc;

const STEPS: u8 = 3;

#[derive(Clone, Debug, PartialEq)]
struct World {
    x: i64,
    /// Each thread's resume point: how many of its steps it took.
    pc: [u8; 2],
}

/// What a step of thread `t` does to the world.
fn add(w: &mut World, t: usize) {
    w.x = w.x * 3 + t as i64 + 1;
    w.pc[t] += 1;
}

fn add_op() -> Op<World> {
    Op::new("add", Accesses::from_slice(&[Access::write(ObjId(0))]))
}

/// Thread `t` as a machine: `STEPS - pc` more steps, each adding `t + 1` to `x` and moving
/// the resume point on.
struct Adder;

impl Machine<World> for Adder {
    fn op(&self, w: &World, t: usize) -> Option<Op<World>> {
        (w.pc[t] < STEPS).then(add_op)
    }
    fn run(&self, e: &mut StepEnv<'_, World>) {
        add(e.world, e.tid);
    }
}

/// How the threads are written.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Async,
    Machine,
}

/// Thread `t` from its resume point `pc`, counting its starts in `starts`.
fn thread(kind: Kind, t: usize, pc: u8, starts: Rc<Cell<[u32; 2]>>) -> ThreadFn<World> {
    Box::new(move |cx: Ctx<World>| {
        let mut s = starts.get();
        s[t] += 1;
        starts.set(s);
        match kind {
            Kind::Async => Box::pin(async move {
                for _ in pc..STEPS {
                    cx.step(add_op(), move |e| add(e.world, t)).await;
                }
            }) as ThreadFuture,
            Kind::Machine => machine(Adder)(cx),
        }
    })
}

fn instance_at(kind: Kind, w: &World, starts: &Rc<Cell<[u32; 2]>>) -> Instance<World> {
    Instance {
        world: w.clone(),
        objects: 1,
        threads: (0..2)
            .map(|t| (format!("t{t}"), thread(kind, t, w.pc[t], starts.clone())))
            .collect(),
    }
}

fn look(ex: &Execution<World>) -> (World, Vec<Option<&'static str>>) {
    (
        ex.with_world(World::clone),
        (0..2).map(|t| ex.next_op_name(t)).collect(),
    )
}

/// Restores `saved` (a world) on `ex` at `marks`, starting moved threads from their resume
/// points.
fn resume(
    ex: &mut Execution<World>,
    kind: Kind,
    saved: &World,
    marks: &[u64],
    starts: &Rc<Cell<[u32; 2]>>,
) {
    ex.resume_moved(
        marks,
        |w| *w = saved.clone(),
        |w, t, cx| thread(kind, t, w.pc[t], starts.clone())(cx),
    );
}

#[test]
fn unmoved_threads_keep_their_futures_and_machines_rewind() {
    let w0 = World { x: 1, pc: [0; 2] };
    let mut checked = 0;
    for kind in [Kind::Async, Kind::Machine] {
        // Prefixes to the saved state, and the steps taken after it before the restore.
        for prefix in [vec![], vec![0], vec![1, 0], vec![0, 0, 1]] {
            for after in [
                vec![0],
                vec![1],
                vec![1, 1],
                vec![0, 1, 0],
                vec![0, 0, 0, 0],
                vec![],
            ] {
                let starts = Rc::new(Cell::new([0; 2]));
                let mut ex = Execution::start(instance_at(kind, &w0, &starts), false);
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
                let finished = [ex.finished(0), ex.finished(1)];
                let before = starts.get();
                resume(&mut ex, kind, &saved.0, &marks, &starts);
                let started = starts.get();
                for t in 0..2 {
                    // An async thread that moved restarts; a machine only if it had finished
                    // (it has no future left to rewind).
                    let restarts = moved[t] && (kind == Kind::Async || finished[t]);
                    assert_eq!(
                        started[t] - before[t],
                        u32::from(restarts),
                        "{kind:?} thread {t} after {prefix:?} then {after:?}"
                    );
                }
                assert_eq!(
                    look(&ex),
                    saved,
                    "{kind:?}: restored after {prefix:?} then {after:?}"
                );
                // A second restore to the same state, right away: nothing moved, nothing
                // restarts.
                let before = starts.get();
                resume(&mut ex, kind, &saved.0, &marks, &starts);
                assert_eq!(starts.get(), before);
                // The restored execution goes on like a replay of the prefix, to the end.
                let fresh = Rc::new(Cell::new([0; 2]));
                let mut again = Execution::start(instance_at(kind, &w0, &fresh), false);
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
    }
    assert_eq!(checked, 48);
}
