//! A worker's live execution and what the search tracks beside it: the "written since" bits
//! of models keyed by resume points, the open states of its path ([`Frame`], [`Stack`]) and
//! the copies they are restored from ([`Saved`]).

use super::StateKey;
use crate::access::AccessKind;
use crate::runtime::{Execution, Instance, Snapshot, StepRecord, Tid};
use std::cell::RefCell;

/// One open state on a worker's path.
pub(super) struct Frame {
    /// Path length at this state.
    pub(super) depth: usize,
    /// Its children (thread, and the sleep set of the child) are `Stack::kids[kids..kids +
    /// len]`; those from `next` on are still to explore.
    pub(super) kids: usize,
    pub(super) len: usize,
    pub(super) next: usize,
    /// Where this frame's words start in `Stack::words` (a [`Saved::Resume`]'s parking bits
    /// and position stamps).
    pub(super) words: usize,
}

/// What the open frames of a worker's path keep besides themselves, in stacks that grow and
/// shrink with the path (frames are pushed and popped in order): no allocation per state
/// once they have grown to the search's depth, and a frame itself is a few words (its
/// snapshot, with a copy of the world in it, is written once in place; `saved` moves the
/// snapshots only when it grows).
pub(super) struct Stack<W> {
    /// The open frames' children: (thread, the child's sleep set).
    pub(super) kids: Vec<(Tid, u64)>,
    /// The open frames' words (see [`Frame::words`]).
    pub(super) words: Vec<u64>,
    /// Per frame, a copy of its state to restore it from, with its key (for the check).
    pub(super) saved: Vec<Option<(Saved<W>, u128)>>,
}

impl<W> Stack<W> {
    pub(super) fn new() -> Self {
        Stack {
            kids: Vec::new(),
            words: Vec::new(),
            saved: Vec::new(),
        }
    }

    pub(super) fn clear(&mut self) {
        self.kids.clear();
        self.words.clear();
        self.saved.clear();
    }

    /// Drops what the frame popped kept; a snapshot's world and a snapshot's allocations go
    /// to `live`'s spares.
    pub(super) fn pop(&mut self, f: &Frame, live: &Live<W>) {
        self.kids.truncate(f.kids);
        self.words.truncate(f.words);
        match self.saved.pop() {
            Some(Some((Saved::Resume(w), _))) => live.recycle(w),
            Some(Some((Saved::Exec(s), _))) => live.recycle_snapshot(s),
            _ => {}
        }
    }
}

/// How a frame's state is restored without replaying its path.
pub(super) enum Saved<W> {
    /// [`StateKey::resume`]: a copy of the world (resume points in it); the parking bits and
    /// the threads' position stamps (threads that did not move since keep their futures)
    /// follow each other in the frame's words.
    Resume(W),
    /// [`StateKey::fast_forward`]: the execution's snapshot.
    Exec(Snapshot<W>),
}

/// A worker's live execution and the explorer-side state it tracks.
pub(super) struct Live<W: 'static> {
    /// The execution.
    pub(super) ex: Execution<W>,
    /// Per thread, per object: written since the thread last accessed it (`words` 64-bit
    /// words per thread).
    pub(super) changed: Vec<u64>,
    pub(super) words: usize,
    /// The model's objects.
    pub(super) objects: usize,
    /// A history-keyed model ([`StateKey::key_includes_history`]), always replayed from its
    /// start: parked steps are judged, and keyed, by the runtime's own bookkeeping
    /// ([`Execution::parking_state`]), which also follows attempts and `retry_when`.
    pub(super) by_runtime: bool,
    /// Worlds of snapshots the search no longer needs, for the next ones to be copied into
    /// ([`StateKey::snapshot_into`]): the world's copy then reuses their allocations.
    spare: RefCell<Vec<W>>,
    /// Snapshots the search no longer needs (without their worlds), for the next ones to
    /// be taken into ([`Execution::snapshot_reusing`]).
    spare_snaps: RefCell<Vec<Snapshot<W>>>,
}

/// How many spare worlds a worker keeps.
const SPARE_WORLDS: usize = 64;

impl<W: 'static> Live<W> {
    /// A fresh instance of `model`, started (recording step results for fast-forward
    /// restores if the model restores that way).
    pub(super) fn start<M: StateKey<World = W>>(model: &M) -> Self {
        let inst = model.instance();
        let objects = inst.objects;
        let words = objects.div_ceil(64).max(1);
        let mut ex = if model.fast_forward() {
            Execution::start_recording(inst)
        } else {
            Execution::start(inst, false)
        };
        let n = ex.threads();
        assert!(n <= 64, "at most 64 model threads");
        let by_runtime = model.key_includes_history();
        if !by_runtime && !model.fast_forward() {
            // Keyed by the world's resume points, parked steps judged by `changed`: the
            // runtime's histories and parking counters would be read by nobody.
            ex.set_lean();
        }
        Live {
            ex,
            changed: vec![0; n * words],
            words,
            objects,
            by_runtime,
            spare: RefCell::new(Vec::new()),
            spare_snaps: RefCell::new(Vec::new()),
        }
    }

    /// A snapshot copy of `world` ([`StateKey::snapshot`]), copied into a spare world if
    /// there is one.
    pub(super) fn copy_world<M: StateKey<World = W>>(&self, model: &M, world: &W) -> Option<W> {
        let spare = self.spare.borrow_mut().pop();
        match spare {
            Some(mut into) => model.snapshot_into(world, &mut into).then_some(into),
            None => model.snapshot(world),
        }
    }

    /// Keeps a world no longer needed for a later [`Live::copy_world`].
    pub(super) fn recycle(&self, world: W) {
        let mut spare = self.spare.borrow_mut();
        if spare.len() < SPARE_WORLDS {
            spare.push(world);
        }
    }

    /// Keeps a snapshot no longer needed for a later [`Live::snapshot`] (its world, if a
    /// restore did not move it out, for a later [`Live::copy_world`]).
    pub(super) fn recycle_snapshot(&self, mut snap: Snapshot<W>) {
        if let Some(w) = snap.take_world() {
            self.recycle(w);
        }
        let mut spare = self.spare_snaps.borrow_mut();
        if spare.len() < SPARE_WORLDS {
            spare.push(snap);
        }
    }

    /// A snapshot of the execution with the world copy `world`
    /// ([`Execution::snapshot_reusing`] a spare one).
    pub(super) fn snapshot(&self, world: W) -> Snapshot<W> {
        let spare = self.spare_snaps.borrow_mut().pop();
        self.ex.snapshot_reusing(world, spare)
    }

    /// Restarts from a fresh instance of the same model, reusing the allocations
    /// ([`Execution::restart`]).
    pub(super) fn restart(&mut self, inst: Instance<W>) {
        self.ex.restart(inst);
        self.changed.fill(0);
    }

    /// Restores a resumed state from its world `saved` and `words` (its parking bits, then
    /// the threads' position stamps): the world is copied in place, threads that moved since
    /// restart at their resume points ([`Execution::resume_moved`], [`StateKey::resume_thread`]).
    pub(super) fn resume_moved<M: StateKey<World = W>>(
        &mut self,
        model: &M,
        saved: &W,
        words: &[u64],
    ) {
        let (changed, marks) = words.split_at(self.changed.len());
        self.ex.resume_moved(
            &marks[..self.ex.threads()],
            |w| {
                let copied = model.snapshot_into(saved, w);
                assert!(copied, "StateKey::snapshot_into of a model that resumes");
            },
            |w, t, cx| model.resume_thread(w, t, cx),
        );
        self.changed.copy_from_slice(changed);
    }

    /// The threads that can step. Without the runtime's bookkeeping (`by_runtime` false), a
    /// parked retry is judged by the bits kept here (not by the runtime's counters, which a
    /// lean or resumed execution does not keep); they follow the runtime's rule exactly, so
    /// in a replayed execution both agree.
    pub(super) fn enabled_mask(&self) -> u64 {
        if self.by_runtime {
            return self.ex.enabled_mask();
        }
        self.ex.enabled_mask_parked_by(|t, acc| {
            acc.as_slice().iter().any(|a| {
                let o = a.obj.0 as usize;
                self.changed[t * self.words + o / 64] & (1 << (o % 64)) != 0
            })
        })
    }

    /// Steps `tid`, keeping the "written since" bits in step with the runtime's rule: a
    /// write sets the bit of every other thread; a parked step clears the stepping thread's
    /// bits of the objects it reads.
    pub(super) fn step(&mut self, tid: Tid) -> StepRecord {
        let parked = self.ex.waits_for_change(tid);
        let rec = self.ex.step(tid);
        let n = self.ex.threads();
        for a in rec.accesses.as_slice() {
            let o = a.obj.0 as usize;
            // The bits of objects at or past the declared count are not in the key: a model
            // that declares too few objects would be judged by bits the key leaves out.
            assert!(
                o < self.objects,
                "{}: object id {o} at or past the model's {} declared objects",
                rec.name,
                self.objects
            );
            let (w, b) = (o / 64, 1u64 << (o % 64));
            if a.kind != AccessKind::Read {
                for t in (0..n).filter(|&t| t != tid) {
                    self.changed[t * self.words + w] |= b;
                }
            }
            if parked {
                self.changed[tid * self.words + w] &= !b;
            }
        }
        rec
    }
}
