//! Bringing back a state an execution passed through without replaying its path: a
//! [`Snapshot`] restored by fast-forwarding fresh thread futures ([`Execution::restore`]), and
//! a state whose resume points are in the world restored by rewinding and restarting the threads
//! that moved ([`Execution::resume_moved`]).

use super::shared::LoopFrame;
use super::{Ctx, Execution, Pending, ThreadFn, ThreadFuture, Tid};

/// A copy of an execution's state that [`Execution::restore`] brings back without replaying
/// the steps that led to it (see [`Execution::snapshot`]).
pub struct Snapshot<W> {
    /// The world as it was (`None` once [`Execution::restore_owned`] moved it out).
    world: Option<W>,
    /// The parking bits and each thread's attempt (see `Parking::save_into`).
    parking: Vec<u64>,
    /// Per thread, in four runs of `threads`: how many steps it had taken (its recorded
    /// results); whether it had finished (0/1); how many history updates it had made
    /// (entries of the history log); how many calls it had started (entries of the call log).
    /// Then a fifth run: its attempt.
    counts: Vec<usize>,
    /// Per thread, its registered operation (restored without running the thread).
    pending: Vec<Option<Pending<W>>>,
    /// Per thread, the retry loops it was in (for the lasso key of a restored state whose
    /// threads are not started yet; a fast-forward rebuilds the same).
    loops: Vec<Vec<LoopFrame>>,
}

impl<W> Snapshot<W> {
    fn threads(&self) -> usize {
        self.counts.len() / 5
    }
    fn attempt(&self, t: Tid) -> u32 {
        self.counts[4 * self.threads() + t] as u32
    }
    /// Steps thread `t` had taken, and whether it had finished.
    fn taken(&self, t: Tid) -> (usize, bool) {
        (self.counts[t], self.counts[self.threads() + t] != 0)
    }
    fn hlen(&self, t: Tid) -> usize {
        self.counts[2 * self.threads() + t]
    }
    fn clen(&self, t: Tid) -> usize {
        self.counts[3 * self.threads() + t]
    }
    /// Takes the world out of a snapshot no longer needed (`None` if a restore moved it
    /// out): for the caller to recycle it.
    pub fn take_world(&mut self) -> Option<W> {
        self.world.take()
    }

    /// The world as it was.
    pub fn world(&self) -> &W {
        self.world
            .as_ref()
            .expect("the world of a snapshot restored by move")
    }
}

impl<W: 'static> Execution<W> {
    /// Hands thread `t` a fresh position stamp.
    pub(super) fn remark(&mut self, t: Tid) {
        self.last_mark += 1;
        self.marks[t] = self.last_mark;
    }

    /// Each thread's position stamp: equal stamps, now and when they were read, mean the
    /// thread's future did not move in between (see [`Execution::resume_moved`]).
    pub fn marks(&self) -> &[u64] {
        &self.marks
    }

    /// The threads (a bit set) whose position stamps differ from `marks`: they moved since
    /// `marks` was read.
    pub fn moved_since(&self, marks: &[u64]) -> u64 {
        (0..self.futures.len())
            .filter(|&t| self.marks[t] != marks[t])
            .fold(0, |m, t| m | (1 << t))
    }

    /// Brings back a state this execution passed through when `marks` was read
    /// ([`Execution::marks`]) — a stateful search's restore of a model that keeps its
    /// threads' resume points in its world. `set_world` writes that state's world (kept by
    /// the caller) over the present one; a thread whose stamp is still the one in `marks`
    /// took no step since: it keeps its future and its registered operation; each of the
    /// others gets a new future from `start(world, tid, ctx)` — the thread restarted at the
    /// resume point the restored world records for it — polled up to its first operation.
    /// A [`super::Machine`] thread that has not finished is not restarted but rewound: its future
    /// registers the operation the restored world gives (no allocation, no call of `start`).
    /// No allocation but the new futures. The runtime's parking counters (what
    /// [`super::Guard::Changed`] steps are judged by in a replayed execution) are left as they
    /// were: they describe no path of a resumed execution (nor do `restart`'s zeroes), and a
    /// search that resumes judges parked steps by bits of its own. Not for recording
    /// executions (their logs follow the futures).
    pub fn resume_moved(
        &mut self,
        marks: &[u64],
        set_world: impl FnOnce(&mut W),
        mut start: impl FnMut(&W, Tid, Ctx<W>) -> ThreadFuture,
    ) {
        let n = self.futures.len();
        assert_eq!(marks.len(), n, "resume with another number of stamps");
        assert!(
            !self.shared.record.get() && !self.shared.tracing,
            "resume_moved of a recording or traced execution"
        );
        let moved = self.moved_since(marks);
        // Machine threads that have not finished are rewound in place; the others restart.
        let rewound = {
            let slots = self.shared.slots.borrow();
            (0..n)
                .filter(|&t| moved & (1 << t) != 0 && slots[t].machine && self.futures[t].is_some())
                .fold(0u64, |m, t| m | (1 << t))
        };
        self.drop_threads(moved & !rewound);
        set_world(&mut self.shared.world.borrow_mut());
        self.shared.rewind.set(true);
        let mut rest = rewound;
        while rest != 0 {
            let tid = rest.trailing_zeros() as Tid;
            rest &= rest - 1;
            self.shared.slots.borrow_mut()[tid].pending = None;
            self.poll(tid);
            self.marks[tid] = marks[tid];
        }
        self.shared.rewind.set(false);
        let mut rest = moved & !rewound;
        while rest != 0 {
            let tid = rest.trailing_zeros() as Tid;
            rest &= rest - 1;
            let fut = start(&self.shared.world.borrow(), tid, self.ctx(tid));
            self.futures[tid] = Some(fut);
            self.poll(tid);
            self.marks[tid] = marks[tid];
        }
    }

    /// A copy of the present state (`world`: a copy of the world, which the caller makes)
    /// that [`Execution::restore`] brings back. Needs [`Execution::start_recording`].
    pub fn snapshot(&self, world: W) -> Snapshot<W> {
        self.snapshot_reusing(world, None)
    }

    /// [`Execution::snapshot`] into the allocations of `spare`, a snapshot no longer needed
    /// (its world, if it still has one, is dropped): a search that keeps a few spares takes
    /// its snapshots without allocating.
    pub fn snapshot_reusing(&self, world: W, spare: Option<Snapshot<W>>) -> Snapshot<W> {
        debug_assert!(
            self.shared.record.get(),
            "snapshot without recorded results"
        );
        let mut snap = spare.unwrap_or(Snapshot {
            world: None,
            parking: Vec::new(),
            counts: Vec::new(),
            pending: Vec::new(),
            loops: Vec::new(),
        });
        let results = self.shared.results.borrow();
        let n = self.threads();
        self.parking.save_into(&mut snap.parking);
        let hlog = self.shared.hlog.borrow();
        let cpos = self.shared.cpos.borrow();
        let slots = self.shared.slots.borrow();
        let counts = &mut snap.counts;
        counts.clear();
        counts.extend(results.iter().map(Vec::len));
        counts.extend((0..n).map(|t| usize::from(self.finished(t))));
        counts.extend(hlog.iter().map(Vec::len));
        counts.extend_from_slice(&cpos);
        counts.extend(slots.iter().map(|s| s.attempt as usize));
        snap.pending.clear();
        snap.pending.extend(slots.iter().map(|s| s.pending.clone()));
        let loops = self.shared.loops.borrow();
        snap.loops.resize_with(n, Vec::new);
        for (to, from) in snap.loops.iter_mut().zip(loops.iter()) {
            to.clone_from(from);
        }
        snap.world = Some(world);
        snap
    }

    /// Brings back the state of `snap`, taken earlier on the path this execution followed
    /// since: the world (`world`: a copy of [`Snapshot::world`]) and the runtime's
    /// bookkeeping are copied back, and each unfinished thread that moved since restarts
    /// from `thread(tid)` (the model's function for it, as in [`super::Model::instance`]; see
    /// [`super::Model::thread`]): its registered operation, attempt and history are set from the
    /// snapshot at once, and its future is started when it is next stepped, fast-forwarded
    /// there (`materialize`: its steps up to the snapshot complete at once with the values
    /// they returned then, without running their bodies, so its code reaches the same point
    /// with the same locals, history and attempt — module contract: a thread's code depends
    /// only on what its steps returned). Runs no thread code; a moved thread costs one poll
    /// when (if) it is stepped, no step bodies.
    ///
    /// Returns the world the execution had (for the caller to recycle).
    pub fn restore(
        &mut self,
        snap: &Snapshot<W>,
        world: W,
        mut thread: impl FnMut(Tid) -> ThreadFn<W>,
    ) -> W {
        assert!(!self.shared.tracing, "restore of a traced execution");
        let n = self.futures.len();
        // A thread that took no step since the snapshot is where it was then (its future,
        // registered operation, attempt and history are untouched): it keeps its future.
        let moved: Vec<bool> = {
            let results = self.shared.results.borrow();
            (0..n)
                .map(|t| {
                    let (taken, finished) = snap.taken(t);
                    assert!(
                        results[t].len() >= taken,
                        "restore of a snapshot not on this execution's path"
                    );
                    results[t].len() != taken || self.finished(t) != finished
                })
                .collect()
        };
        for t in (0..n).filter(|&t| moved[t]) {
            self.futures[t] = None;
            self.lazy[t] = None;
        }
        let old = std::mem::replace(&mut *self.shared.world.borrow_mut(), world);
        self.parking.load(&snap.parking);
        if !moved.contains(&true) {
            return old;
        }
        {
            let mut results = self.shared.results.borrow_mut();
            let mut slots = self.shared.slots.borrow_mut();
            let mut history = self.shared.history.borrow_mut();
            let mut ff = self.shared.ffwd.borrow_mut();
            let mut hlog = self.shared.hlog.borrow_mut();
            let mut hpos = self.shared.hpos.borrow_mut();
            let mut clog = self.shared.clog.borrow_mut();
            let mut cpos = self.shared.cpos.borrow_mut();
            let mut loops = self.shared.loops.borrow_mut();
            for t in (0..n).filter(|&t| moved[t]) {
                loops[t].clone_from(&snap.loops[t]);
                results[t].truncate(snap.taken(t).0);
                hlog[t].truncate(snap.hlen(t));
                // Calls started after the state are gone; calls open at it (they returned
                // after more steps) are open again.
                clog[t].truncate(snap.clen(t));
                for c in clog[t].iter_mut() {
                    if c.as_ref().is_some_and(|e| e.results > snap.taken(t).0) {
                        *c = None;
                    }
                }
                // The thread is back at the snapshot's point without running it: its
                // registered operation, attempt and history are the snapshot's; its future
                // is made when it is next stepped (`materialize`).
                cpos[t] = snap.clen(t);
                slots[t].pending = snap.pending[t].clone();
                slots[t].attempt = snap.attempt(t);
                history[t] = hlog[t].last().copied().unwrap_or([0; 2]);
                ff[t] = 0;
                hpos[t] = 0;
            }
        }
        for tid in (0..n).filter(|&t| moved[t]) {
            self.remark(tid);
            if !snap.taken(tid).1 {
                self.lazy[tid] = Some(thread(tid));
            }
        }
        old
    }

    /// Starts now the futures a restore left to be started when their threads are stepped
    /// (what a restore cost before it left them: one poll per moved thread).
    pub fn materialize_all(&mut self) {
        for t in 0..self.lazy.len() {
            if self.lazy[t].is_some() {
                self.materialize(t);
            }
        }
    }

    /// Starts the future of a thread a restore brought back (see [`Execution::restore`]) and
    /// fast-forwards it: its steps up to the restored point complete at once with the values
    /// they returned then, without running their bodies, so its code reaches the same point
    /// with the same locals, history and attempt (module contract: a thread's code depends
    /// only on what its steps returned). One poll, no step bodies. Done only when the thread
    /// is stepped: a search often goes back again before that (the state after another
    /// thread's step was visited already), and then the poll is saved.
    pub(super) fn materialize(&mut self, tid: Tid) {
        let f = self.lazy[tid].take().expect("a thread to materialize");
        let loops = std::mem::take(&mut self.shared.loops.borrow_mut()[tid]);
        let (name, attempt, history) = {
            let slots = self.shared.slots.borrow();
            let p = slots[tid].pending.as_ref().map(|p| p.name);
            (p, slots[tid].attempt, self.shared.history.borrow()[tid])
        };
        {
            let mut slots = self.shared.slots.borrow_mut();
            slots[tid].pending = None;
            slots[tid].attempt = 0;
            self.shared.history.borrow_mut()[tid] = [0; 2];
            self.shared.cpos.borrow_mut()[tid] = 0;
            self.shared.ffwd.borrow_mut()[tid] = 0;
            self.shared.hpos.borrow_mut()[tid] = 0;
        }
        self.futures[tid] = Some(f(self.ctx(tid)));
        self.shared.ffwd_on.set(true);
        self.poll(tid);
        self.shared.ffwd_on.set(false);
        assert_eq!(
            self.shared.slots.borrow()[tid]
                .pending
                .as_ref()
                .map(|p| p.name),
            name,
            "fast-forward of thread {tid} reached another operation than the restored one \
             (thread code that depends on something besides what its steps returned?)"
        );
        assert_eq!(
            self.shared.slots.borrow()[tid].attempt,
            attempt,
            "fast-forward of thread {tid} reached another attempt than the restored one"
        );
        assert_eq!(
            self.shared.history.borrow()[tid],
            history,
            "fast-forward of thread {tid} reached another history than the restored one"
        );
        {
            // The loop frames the restore set (the snapshot's), up to their ids.
            let again = &self.shared.loops.borrow()[tid];
            let same = |a: &super::shared::LoopFrame, b: &super::shared::LoopFrame| {
                (a.site, a.entry, a.carried, a.rel, a.heads)
                    == (b.site, b.entry, b.carried, b.rel, b.heads)
            };
            assert!(
                again.len() == loops.len() && again.iter().zip(&loops).all(|(a, b)| same(a, b)),
                "fast-forward of thread {tid} reached other retry loops than the restored ones"
            );
        }
        assert_eq!(
            self.shared.ffwd.borrow()[tid],
            self.shared.results.borrow()[tid].len(),
            "fast-forward of thread {tid} did not use every recorded result"
        );
        assert_eq!(
            self.shared.hpos.borrow()[tid],
            self.shared.hlog.borrow()[tid].len(),
            "fast-forward of thread {tid} did not make every recorded history update"
        );
        assert_eq!(
            self.shared.cpos.borrow()[tid],
            self.shared.clog.borrow()[tid].len(),
            "fast-forward of thread {tid} did not start every recorded call"
        );
    }

    /// [`Execution::restore`] of a snapshot that is not needed again: its world is moved in
    /// (the snapshot keeps the rest, and cannot be restored again). Returns the world the
    /// execution had.
    pub fn restore_owned(
        &mut self,
        snap: &mut Snapshot<W>,
        thread: impl FnMut(Tid) -> ThreadFn<W>,
    ) -> W {
        let world = snap.world.take().expect("a snapshot restored twice");
        self.restore(snap, world, thread)
    }
}
