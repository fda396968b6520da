//! The state a model thread's [`Ctx`] and the [`Execution`] share: the world, each thread's
//! registered operation, and the logs a fast-forward restore reads (step results, histories,
//! calls).

use super::{Finding, Op, Pending, StepEnv, Tid};
use smallbox::{space::S4, SmallBox};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::hash::Hash;

/// The runtime's part of one thread: its registered operation and call stack.
pub(super) struct ThreadSlot<W> {
    pub(super) pending: Option<Pending<W>>,
    pub(super) frames: Vec<&'static str>,
    /// Generation of the current retry-loop attempt.
    pub(super) attempt: u32,
    /// Name of the operation whose body runs (set by [`super::Execution::step`]).
    pub(super) stepping: &'static str,
    /// The registered operation is a [`super::Machine`] thread's (see
    /// [`super::Execution::resume_moved`]).
    pub(super) machine: bool,
}

/// What an execution and its threads' [`Ctx`](super::Ctx)s share.
pub(super) struct Shared<W> {
    pub(super) world: RefCell<W>,
    pub(super) slots: RefCell<Vec<ThreadSlot<W>>>,
    pub(super) tracing: bool,
    pub(super) findings: RefCell<Vec<Finding>>,
    pub(super) note: RefCell<String>,
    pub(super) current: Cell<Tid>,
    /// Per thread, a hash chain (two 64-bit lanes) over the operations it has stepped and
    /// what their bodies returned, with finished calls summarised by their return values
    /// (see [`super::Execution::history`] and [`super::Ctx::call`]).
    pub(super) history: RefCell<Vec<[u64; 2]>>,
    /// Whether step results are recorded for fast-forward restores
    /// ([`super::Execution::snapshot`]).
    pub(super) record: Cell<bool>,
    /// Per thread, the value each of its steps returned so far, in order (while recording).
    pub(super) results: RefCell<Vec<Vec<Value>>>,
    /// While restoring: per thread, how many recorded results its fresh future has been
    /// handed back (its steps complete at once, without running their bodies).
    pub(super) ffwd: RefCell<Vec<usize>>,
    /// Per thread (while recording), the history after each of its history updates (a step
    /// or a [`super::Ctx::call`] returning), in order: a fast-forward sets the history from it
    /// instead of hashing the same values again.
    pub(super) hlog: RefCell<Vec<Vec<[u64; 2]>>>,
    /// While restoring: per thread, how many entries of `hlog` its fresh future has used.
    pub(super) hpos: RefCell<Vec<usize>>,
    /// Whether a restore is fast-forwarding threads.
    pub(super) ffwd_on: Cell<bool>,
    /// Whether the thread histories are kept (see [`super::Execution::set_lean`]).
    pub(super) history_on: Cell<bool>,
    /// While a restore rewinds [`super::Machine`] threads: they register anew from the world.
    pub(super) rewind: Cell<bool>,
    /// Per thread (while recording), the [`super::Ctx::call`]s it started, in the order they
    /// started: a fast-forward skips a call that returned before the restored state whole
    /// (see [`CallEnd`]).
    pub(super) clog: RefCell<Vec<Vec<Option<CallEnd>>>>,
    /// Per thread (while recording), how many calls its present future has started.
    pub(super) cpos: RefCell<Vec<usize>>,
    /// Per thread, the retry loops it is in, innermost last (see [`super::Ctx::loop_enter`]).
    pub(super) loops: RefCell<Vec<Vec<LoopFrame>>>,
    /// The last loop-frame id handed out.
    pub(super) loop_ids: Cell<u64>,
    /// Whether the thread that stepped last passed a loop's head after the step (see
    /// [`super::Execution::passed_head`]).
    pub(super) headed: Cell<bool>,
}

/// A retry loop a thread is in ([`super::Ctx::loop_enter`]): what the lasso check
/// ([`super::Execution::lasso_key`]) takes for the thread's local state instead of its whole
/// history, which grows with every round.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(super) struct LoopFrame {
    /// Tells the frame from one entered later at the same depth.
    pub(super) id: u64,
    /// The loop, as messages name it (the kernel function).
    pub(super) site: &'static str,
    /// The thread's history when it entered the loop.
    pub(super) entry: [u64; 2],
    /// The hash of what the loop carries from round to round, as of its latest head.
    pub(super) carried: u64,
    /// The history chain since the latest head (from zero at each head).
    pub(super) rel: [u64; 2],
    /// Heads passed so far.
    pub(super) heads: u32,
}

/// Where a thread stood in its innermost loop when a [`super::Ctx::call`] started: the frame
/// and its heads, with the chain since the head then (a call that returns in the same round
/// is summarised into that chain as into the history).
#[derive(Copy, Clone)]
pub(super) struct RelMark {
    id: u64,
    heads: u32,
    rel: [u64; 2],
}

/// How a recorded [`super::Ctx::call`] ended: the thread's position in the logs when it returned,
/// and what it returned. A fast-forward that meets the call again hands back the value and
/// moves the thread to that position without polling the function (its steps and nested
/// calls are passed over, and its effects on the world are in the restored world). Sound
/// under [`super::Ctx::call`]'s contract: the function's only output to its caller is the value —
/// and the thread's attempt counter, which is restored too.
pub(super) struct CallEnd {
    /// Step results the thread had recorded.
    pub(super) results: usize,
    /// History-log entries (the last one is the call's own summary).
    pub(super) hlog: usize,
    /// Calls the thread had started (this one's nested calls included).
    pub(super) calls: usize,
    /// The thread's retry-loop attempt generation.
    pub(super) attempt: u32,
    pub(super) value: Value,
}

/// A recorded step result or call value, of the type its step or call returns: stored inline
/// up to four words, on the heap beyond, so that recording a small result (a count, a flag, a
/// PTE, a 32-byte page) costs no allocation.
pub(super) type Value = SmallBox<dyn Any, S4>;

/// Two lanes of a history chain mixed with `name` and the hash of a value.
fn mix(h: &mut [u64; 2], name: &'static str, value: [u64; 2]) {
    let name = (name.as_ptr() as u64) ^ ((name.len() as u64) << 48);
    for (lane, (k, r)) in h.iter_mut().zip([
        (0x9e37_79b9_7f4a_7c15u64, value[0]),
        (0xc2b2_ae3d_27d4_eb4f, value[1]),
    ]) {
        *lane = (lane.rotate_left(7) ^ name).wrapping_mul(k);
        *lane = (lane.rotate_left(13) ^ r).wrapping_mul(k);
    }
}

impl<W> Shared<W> {
    /// Updates thread `tid`'s history after a step or a call returned `r`: from `base`,
    /// mixed with `name` and the hash of `r` — or, while a restore fast-forwards the thread
    /// through updates it already made on the path, the value they had then (the same
    /// chain: the contract makes the thread's code take the same updates in the same order).
    pub(super) fn update_history<R: Hash>(
        &self,
        tid: Tid,
        base: [u64; 2],
        name: &'static str,
        r: &R,
        mark: Option<RelMark>,
    ) {
        if !self.history_on.get() {
            return;
        }
        self.update_rel(tid, name, r, mark);
        if self.ffwd_on.get() {
            let mut pos = self.hpos.borrow_mut();
            if let Some(&h) = self.hlog.borrow()[tid].get(pos[tid]) {
                pos[tid] += 1;
                debug_assert_eq!(h, {
                    let mut x = base;
                    mix(&mut x, name, value_hash(r));
                    x
                });
                self.history.borrow_mut()[tid] = h;
                return;
            }
        }
        let mut h = base;
        mix(&mut h, name, value_hash(r));
        self.history.borrow_mut()[tid] = h;
        if self.record.get() {
            self.hlog.borrow_mut()[tid].push(h);
        }
    }
}

impl<W> Shared<W> {
    /// Thread `tid`'s place in its innermost loop, for a call starting now.
    pub(super) fn rel_mark(&self, tid: Tid) -> Option<RelMark> {
        self.loops.borrow()[tid].last().map(|f| RelMark {
            id: f.id,
            heads: f.heads,
            rel: f.rel,
        })
    }

    /// Chains a step's or a returning call's `name` and result into the chain since the
    /// head of thread `tid`'s innermost loop (a call: from where it started, when that was in
    /// the same round of the same loop).
    pub(super) fn update_rel<R: Hash>(
        &self,
        tid: Tid,
        name: &'static str,
        r: &R,
        mark: Option<RelMark>,
    ) {
        let mut loops = self.loops.borrow_mut();
        let Some(top) = loops[tid].last_mut() else {
            return;
        };
        let mut base = top.rel;
        if let Some(m) = mark {
            if m.id == top.id && m.heads == top.heads {
                base = m.rel;
            }
        }
        mix(&mut base, name, value_hash(r));
        top.rel = base;
    }
}

fn value_hash<R: Hash>(r: &R) -> [u64; 2] {
    // Step results go into the thread histories: 128-bit, like the stateful search's keys.
    let mut h = crate::hash::Hasher128::new(0x6a09_e667_f3bc_c908, 0xbb67_ae85_84ca_a73b);
    r.hash(&mut h);
    h.lanes()
}

impl<W> Shared<W> {
    /// Registers `op` as thread `tid`'s next operation; `machine`: registered by a
    /// [`super::Machine`] thread (which a restore can rewind instead of restarting).
    pub(super) fn register(&self, tid: Tid, op: Op<W>, machine: bool) {
        let mut slots = self.slots.borrow_mut();
        let slot = &mut slots[tid];
        let frames = if self.tracing {
            slot.frames.clone()
        } else {
            Vec::new()
        };
        slot.pending = Some(Pending {
            name: op.name,
            accesses: op.accesses,
            guard: op.guard,
            retry: op.retry,
            frames,
        });
        slot.machine = machine;
    }

    /// Runs the body of thread `tid`'s operation being stepped on the world, and chains its
    /// result into the thread's history.
    #[inline]
    pub(super) fn run_body<R: Hash>(
        &self,
        tid: Tid,
        body: impl FnOnce(&mut StepEnv<'_, W>) -> R,
    ) -> R {
        let mut world = self.world.borrow_mut();
        let mut findings = self.findings.borrow_mut();
        let mut note = self.note.borrow_mut();
        let mut env = StepEnv {
            world: &mut *world,
            tid,
            findings: &mut findings,
            note: if self.tracing { Some(&mut note) } else { None },
        };
        let r = body(&mut env);
        drop((world, findings, note));
        let name = self.slots.borrow()[tid].stepping;
        let base = self.history.borrow()[tid];
        self.update_history(tid, base, name, &r, None);
        r
    }
}
