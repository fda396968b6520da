//! One execution in progress ([`Execution`]): starting and restarting an instance, what each
//! thread's registered operation is and whether it is enabled, and stepping a thread.

use super::parking::Parking;
use super::shared::{Shared, ThreadSlot};
use super::{Ctx, Finding, Guard, Instance, Pending, Severity, ThreadFn, ThreadFuture, Tid};
use crate::access::{Access, Accesses};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// What one step did.
#[derive(Clone, Debug)]
pub struct StepRecord {
    /// The thread that stepped.
    pub tid: Tid,
    /// The operation's name ([`super::Op::name`]).
    pub name: &'static str,
    /// What the operation declared it touches.
    pub accesses: Accesses,
    /// What the step reported.
    pub findings: Vec<Finding>,
    /// Trace-only: the model call stack at the operation's registration.
    pub frames: Vec<&'static str>,
    /// Trace-only: what the step changed ([`super::StepEnv::note`]).
    pub note: String,
    /// Whether the thread finished with this step.
    pub finished: bool,
}

/// One execution in progress.
pub struct Execution<W> {
    pub(super) shared: Rc<Shared<W>>,
    pub(super) futures: Vec<Option<ThreadFuture>>,
    /// Threads a restore brought back without a future yet (see [`Execution::restore`]):
    /// the function to start it from, fast-forwarded when the thread is next stepped. Its
    /// registered operation, attempt and history are already the restored ones.
    pub(super) lazy: Vec<Option<ThreadFn<W>>>,
    /// The threads' names, as the instance gave them.
    pub names: Vec<String>,
    /// The bookkeeping behind [`Guard::Changed`].
    pub(super) parking: Parking,
    /// Per thread, a stamp of its position: a fresh one whenever its future moves on (a step)
    /// or is replaced, so that two equal stamps mean the same future at the same point
    /// ([`Execution::resume_moved`]).
    pub(super) marks: Vec<u64>,
    /// The last stamp handed out.
    pub(super) last_mark: u64,
}

impl<W: 'static> Execution<W> {
    /// Starts an instance: every thread runs up to its first visible operation.
    pub fn start(inst: Instance<W>, tracing: bool) -> Self {
        Self::start_with(inst, tracing, false)
    }

    /// Starts an instance that records every step's result and call (also on later
    /// [`Execution::restart`]s), so that [`Execution::snapshot`] can be restored by
    /// fast-forwarding fresh thread futures.
    pub fn start_recording(inst: Instance<W>) -> Self {
        Self::start_with(inst, false, true)
    }

    fn start_with(inst: Instance<W>, tracing: bool, record: bool) -> Self {
        let n = inst.threads.len();
        let shared = Rc::new(Shared {
            world: RefCell::new(inst.world),
            slots: RefCell::new(
                (0..n)
                    .map(|_| ThreadSlot {
                        pending: None,
                        frames: Vec::new(),
                        attempt: 0,
                        stepping: "",
                        machine: false,
                    })
                    .collect(),
            ),
            tracing,
            findings: RefCell::new(Vec::new()),
            note: RefCell::new(String::new()),
            current: Cell::new(0),
            history: RefCell::new(vec![[0; 2]; n]),
            record: Cell::new(record),
            results: RefCell::new((0..n).map(|_| Vec::new()).collect()),
            ffwd: RefCell::new(vec![0; n]),
            hlog: RefCell::new((0..n).map(|_| Vec::new()).collect()),
            hpos: RefCell::new(vec![0; n]),
            ffwd_on: Cell::new(false),
            history_on: Cell::new(true),
            rewind: Cell::new(false),
            clog: RefCell::new((0..n).map(|_| Vec::new()).collect()),
            cpos: RefCell::new(vec![0; n]),
            loops: RefCell::new((0..n).map(|_| Vec::new()).collect()),
            loop_ids: Cell::new(0),
            headed: Cell::new(false),
        });
        let mut names = Vec::with_capacity(n);
        let mut futures = Vec::with_capacity(n);
        for (tid, (name, f)) in inst.threads.into_iter().enumerate() {
            names.push(name);
            futures.push(Some(f(Ctx {
                shared: shared.clone(),
                tid,
            })));
        }
        let mut ex = Execution {
            shared,
            futures,
            lazy: (0..n).map(|_| None).collect(),
            names,
            parking: Parking::new(n, inst.objects),
            marks: (1..=n as u64).collect(),
            last_mark: n as u64,
        };
        for tid in 0..n {
            ex.poll(tid);
            ex.recompute_parking(tid);
        }
        ex
    }

    /// Stops keeping what a search that keys states by resume points in the world does not
    /// read: the thread histories ([`Execution::history`] stays at zero) and the counters
    /// behind [`Guard::Changed`] (such a search judges parked steps by bits of its own, as
    /// the stateful search does for models without
    /// [`crate::search::StateKey::key_includes_history`]).
    /// Each step then costs neither the hash of its result nor the parking bookkeeping.
    /// Afterwards [`Execution::enabled`] must not be asked about a parked step (it panics),
    /// and the execution cannot record ([`Execution::snapshot`] needs both).
    pub fn set_lean(&mut self) {
        assert!(
            !self.shared.record.get(),
            "a recording execution keeps its histories"
        );
        self.shared.history_on.set(false);
        self.parking.on = false;
    }

    /// Recomputes thread `t`'s parking bits from the counters, for its present attempt.
    pub(super) fn recompute_parking(&mut self, t: Tid) {
        let attempt = self.shared.slots.borrow()[t].attempt;
        self.parking.recompute(t, attempt);
    }

    /// Restarts this execution from another instance of the same model (same threads, same
    /// objects), reusing its allocations — what a stateful search's restore costs: the new
    /// thread futures and one poll each. Equivalent to `Execution::start(inst, tracing)`.
    pub fn restart(&mut self, inst: Instance<W>) {
        let objects = self.replace_threads(inst);
        for r in self.shared.results.borrow_mut().iter_mut() {
            r.clear();
        }
        for r in self.shared.hlog.borrow_mut().iter_mut() {
            r.clear();
        }
        for r in self.shared.clog.borrow_mut().iter_mut() {
            r.clear();
        }
        self.shared.cpos.borrow_mut().fill(0);
        self.parking.clear(objects);
        for tid in 0..self.futures.len() {
            self.poll(tid);
            self.recompute_parking(tid);
            self.remark(tid);
        }
    }

    /// What [`Execution::restart`] and [`Execution::resume_moved`] share: each thread in the
    /// bit set `moved` loses its future, registered operation, call frames, attempt and
    /// history (its new future is the caller's to make); the last step's findings and note
    /// are cleared.
    pub(super) fn drop_threads(&mut self, moved: u64) {
        let n = self.futures.len();
        let moved = (0..n).filter(move |&t| moved & (1 << t) != 0);
        // Drop the old futures first: their frame guards reach into `shared`.
        for t in moved.clone() {
            self.futures[t] = None;
            self.lazy[t] = None;
        }
        {
            let mut slots = self.shared.slots.borrow_mut();
            let mut history = self.shared.history.borrow_mut();
            let mut loops = self.shared.loops.borrow_mut();
            for t in moved {
                loops[t].clear();
                slots[t].pending = None;
                slots[t].frames.clear();
                slots[t].attempt = 0;
                history[t] = [0; 2];
            }
        }
        self.shared.findings.borrow_mut().clear();
        self.shared.note.borrow_mut().clear();
        self.shared.current.set(0);
    }

    /// A model thread's handle for thread `tid` of this execution.
    pub(super) fn ctx(&self, tid: Tid) -> Ctx<W> {
        Ctx {
            shared: self.shared.clone(),
            tid,
        }
    }

    /// Every thread restarts from `inst` (its world and new futures, not yet polled).
    /// Returns `inst.objects`.
    fn replace_threads(&mut self, inst: Instance<W>) -> usize {
        let n = self.futures.len();
        assert_eq!(
            inst.threads.len(),
            n,
            "restart with another number of threads"
        );
        self.drop_threads(if n == 64 { u64::MAX } else { (1 << n) - 1 });
        *self.shared.world.borrow_mut() = inst.world;
        for (tid, (name, f)) in inst.threads.into_iter().enumerate() {
            self.names[tid] = name;
            self.futures[tid] = Some(f(self.ctx(tid)));
        }
        inst.objects
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.futures.len()
    }

    /// Polls thread `tid`'s future once: it runs its granted operation (if any) and its local
    /// code up to its next operation, which it registers. True when it finished.
    pub(super) fn poll(&mut self, tid: Tid) -> bool {
        self.shared.current.set(tid);
        let Some(fut) = self.futures[tid].as_mut() else {
            return true;
        };
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(()) => {
                self.futures[tid] = None;
                self.shared.slots.borrow_mut()[tid].pending = None;
                true
            }
            Poll::Pending => {
                assert!(
                    self.shared.slots.borrow()[tid].pending.is_some(),
                    "model thread {} awaited something that is not a model step",
                    self.names[tid]
                );
                false
            }
        }
    }

    /// Whether the thread has finished.
    pub fn finished(&self, tid: Tid) -> bool {
        self.futures[tid].is_none() && self.lazy[tid].is_none()
    }

    /// Whether every thread has finished.
    pub fn all_finished(&self) -> bool {
        (0..self.futures.len()).all(|t| self.finished(t))
    }

    /// The accesses of the thread's next operation, if it has one.
    pub fn next_accesses(&self, tid: Tid) -> Option<Accesses> {
        self.shared.slots.borrow()[tid]
            .pending
            .as_ref()
            .map(|p| p.accesses)
    }

    /// Name and call stack of the thread's next operation.
    pub fn next_op(&self, tid: Tid) -> Option<(&'static str, Vec<&'static str>)> {
        self.shared.slots.borrow()[tid]
            .pending
            .as_ref()
            .map(|p| (p.name, p.frames.clone()))
    }

    /// The name of the thread's next operation, if it has one.
    pub fn next_op_name(&self, tid: Tid) -> Option<&'static str> {
        self.shared.slots.borrow()[tid]
            .pending
            .as_ref()
            .map(|p| p.name)
    }

    /// Whether every access of the thread's next operation satisfies `f` (false if it has
    /// none registered), looked at in place.
    pub fn next_all(&self, tid: Tid, mut f: impl FnMut(&Access) -> bool) -> bool {
        self.shared.slots.borrow()[tid]
            .pending
            .as_ref()
            .is_some_and(|p| p.accesses.as_slice().iter().all(&mut f))
    }

    /// Whether the next operations of threads `a` and `b` are dependent (`None` if one of
    /// them has finished), compared in place.
    pub fn next_dependent(&self, a: Tid, b: Tid) -> Option<bool> {
        let slots = self.shared.slots.borrow();
        let (pa, pb) = (slots[a].pending.as_ref()?, slots[b].pending.as_ref()?);
        Some(pa.accesses.dependent(&pb.accesses))
    }

    /// Whether the thread's next operation waits for a write ([`Guard::Changed`]): its
    /// enabledness reads the thread's parking bits of the objects it accesses.
    pub fn waits_for_change(&self, tid: Tid) -> bool {
        self.shared.slots.borrow()[tid]
            .pending
            .as_ref()
            .is_some_and(|p| matches!(p.guard, Guard::Changed))
    }

    /// Whether the thread's next operation is a parked retry loop.
    pub fn is_parked(&self, tid: Tid) -> bool {
        self.shared.slots.borrow()[tid]
            .pending
            .as_ref()
            .is_some_and(|p| p.retry)
    }

    /// Whether the thread can take a step now.
    pub fn enabled(&self, tid: Tid) -> bool {
        let slots = self.shared.slots.borrow();
        let Some(p) = slots[tid].pending.as_ref() else {
            return false;
        };
        self.guard_holds(tid, p, &self.shared.world.borrow())
    }

    /// Whether thread `tid`'s registered operation `p` may run on `world`.
    fn guard_holds(&self, tid: Tid, p: &Pending<W>, world: &W) -> bool {
        match p.guard {
            Guard::Always => true,
            Guard::When(f, arg) => f(world, arg),
            Guard::Changed => {
                assert!(
                    self.parking.on,
                    "a lean execution keeps no parking counters (Execution::set_lean)"
                );
                self.parking.written_since(tid, &p.accesses)
            }
        }
    }

    /// The threads (a bit set) whose registered operation satisfies `f(tid, op, world)`.
    fn mask_where(&self, mut f: impl FnMut(Tid, &Pending<W>, &W) -> bool) -> u64 {
        let slots = self.shared.slots.borrow();
        let world = self.shared.world.borrow();
        let mut m = 0u64;
        for (t, s) in slots.iter().enumerate() {
            if let Some(p) = &s.pending {
                if f(t, p, &world) {
                    m |= 1 << t;
                }
            }
        }
        m
    }

    /// Bit mask of the enabled threads (at most 64 threads).
    pub fn enabled_mask(&self) -> u64 {
        self.mask_where(|t, p, w| self.guard_holds(t, p, w))
    }

    /// [`Execution::enabled_mask`] with the steps that wait for a write ([`super::Op::parked`])
    /// judged by `parked(tid, accesses)` instead of by the runtime's counters — for a search
    /// that keeps parking bits of its own (see [`Execution::set_lean`]).
    pub fn enabled_mask_parked_by(&self, mut parked: impl FnMut(Tid, &Accesses) -> bool) -> u64 {
        self.mask_where(|t, p, w| {
            if matches!(p.guard, Guard::Changed) {
                parked(t, &p.accesses)
            } else {
                self.guard_holds(t, p, w)
            }
        })
    }

    /// The threads in the bit set `set` whose registered operations are independent of thread
    /// `t`'s ([`Execution::next_dependent`] false); none if `t` has finished.
    pub fn independent_of(&self, t: Tid, set: u64) -> u64 {
        let slots = self.shared.slots.borrow();
        let Some(pt) = slots[t].pending.as_ref() else {
            return 0;
        };
        let (mut rest, mut out) = (set, 0u64);
        while rest != 0 {
            let q = rest.trailing_zeros() as Tid;
            rest &= rest - 1;
            if slots[q]
                .pending
                .as_ref()
                .is_some_and(|pq| !pt.accesses.dependent(&pq.accesses))
            {
                out |= 1 << q;
            }
        }
        out
    }

    /// One step of a random walk: steps a thread picked among the enabled ones with the
    /// xorshift state `rng` (advanced here, xorshift64); `None` when no thread
    /// is enabled.
    pub fn step_random(&mut self, rng: &mut u64) -> Option<StepRecord> {
        let en = self.enabled_mask();
        if en == 0 {
            return None;
        }
        let r = crate::rng::xorshift(rng);
        let mut m = en;
        for _ in 0..(r % u64::from(en.count_ones())) {
            m &= m - 1;
        }
        Some(self.step(m.trailing_zeros() as usize))
    }

    /// Runs the thread's registered operation and its local code up to its next one.
    /// The caller must only step an enabled thread.
    pub fn step(&mut self, tid: Tid) -> StepRecord {
        if self.lazy[tid].is_some() {
            self.materialize(tid);
        }
        let pending = self.shared.slots.borrow_mut()[tid]
            .pending
            .take()
            .expect("stepped a thread with no registered operation");
        self.shared.findings.borrow_mut().clear();
        self.shared.note.borrow_mut().clear();
        self.shared.slots.borrow_mut()[tid].stepping = pending.name;
        self.shared.headed.set(false);
        let finished = self.poll(tid);
        self.remark(tid);
        if self.parking.on {
            let parked = matches!(pending.guard, Guard::Changed);
            let attempt = self.shared.slots.borrow()[tid].attempt;
            self.parking.count(tid, &pending.accesses, parked, attempt);
        }
        StepRecord {
            tid,
            name: pending.name,
            accesses: pending.accesses,
            findings: std::mem::take(&mut *self.shared.findings.borrow_mut()),
            frames: pending.frames,
            note: std::mem::take(&mut *self.shared.note.borrow_mut()),
            finished,
        }
    }

    /// A 128-bit hash chain over the operations the thread has stepped, in order, and the
    /// values their bodies returned. Under the contract of the module docs (a thread's code is
    /// a deterministic function of what its steps returned) two equal histories mean the same
    /// local state: stateful search keys of models that keep thread state in `async` locals
    /// include it (see `search::StateKey::key_includes_history`). Chains never converge: two
    /// paths whose thread saw different results stay apart even when its locals agree again.
    pub fn history(&self, tid: Tid) -> u128 {
        let [a, b] = self.shared.history.borrow()[tid];
        ((a as u128) << 64) | b as u128
    }

    /// A path-independent summary of thread `t`'s part of the bookkeeping behind
    /// [`Guard::Changed`]: everything the enabledness of its present and future parked steps
    /// depends on besides its own code. Two bit sets over the objects, one after the other,
    /// each `objects.div_ceil(64)` words:
    /// * bit `o` of the first: another thread wrote object `o` since `t`'s baseline for it
    ///   (`foreign != parked_at`: a parked step of `t` that reads `o` is enabled);
    /// * bit `o` of the second: `t` already read or wrote `o` in its current attempt (its next
    ///   read or write of `o` takes no new baseline).
    ///
    /// Both evolve deterministically with the steps: a write (or add, acquire, release) sets
    /// the first bit of every other thread; a thread's first read or write of `o` in an attempt
    /// clears its first bit and sets its second; its parked step clears the first bit of the
    /// objects the step reads; [`Ctx::attempt_begin`] clears its second bits. The counters
    /// behind them differ between paths that converge; these bits do not. A finished thread's
    /// bits are all zero (it has no future).
    pub fn parking_state(&self, t: Tid) -> Vec<u64> {
        let mut out = Vec::new();
        self.parking_words(t, |w| out.push(w));
        out
    }

    /// [`Execution::parking_state`] word by word, without building it.
    pub fn parking_words(&self, t: Tid, f: impl FnMut(u64)) {
        let finished = self.finished(t);
        debug_assert!(
            finished || self.parking.attempt_of(t) == self.shared.slots.borrow()[t].attempt,
            "parking bits of thread {t} are for another attempt"
        );
        self.parking.words(t, finished, f);
    }

    /// The finding of an execution that ended with unfinished threads, none enabled: a
    /// `livelock` when every one of them is a parked retry (it waits for a change nobody can
    /// make), else a `deadlock`.
    pub(crate) fn blocked_finding(&self) -> Finding {
        let mut parts = Vec::new();
        let mut all_parked = true;
        for t in 0..self.threads() {
            if self.finished(t) {
                continue;
            }
            let parked = self.is_parked(t);
            all_parked &= parked;
            let what = self.next_op(t).map(|(n, _)| n).unwrap_or("?");
            parts.push(format!(
                "{} {} `{}`",
                self.names[t],
                if parked {
                    "retries with nothing left to change in"
                } else {
                    "blocked in"
                },
                what
            ));
        }
        if all_parked {
            Finding {
                property: "livelock",
                severity: Severity::Violation,
                message: format!(
                    "retry loop can never make progress (weak fairness assumed: a retry waits \
                     for a change to what it read): {}",
                    parts.join("; ")
                ),
                fatal: false,
            }
        } else {
            Finding {
                property: "deadlock",
                severity: Severity::Violation,
                message: format!("every unfinished thread is blocked: {}", parts.join("; ")),
                fatal: false,
            }
        }
    }

    /// Whether the execution keeps no histories ([`Execution::set_lean`]): it has no lasso
    /// check, and parked steps are judged by the search.
    pub fn is_lean(&self) -> bool {
        !self.shared.history_on.get()
    }

    /// Whether the thread of the last step passed a retry loop's head ([`super::Loop::head`])
    /// after it, before registering its next operation. Every cycle of states contains such
    /// a state (each thread that steps in a cycle comes back to the same place since its
    /// latest head, so it passes a head in the cycle), so the lasso check keys only these.
    pub fn passed_head(&self) -> bool {
        self.shared.headed.get()
    }

    /// Whether thread `t` is in a retry loop ([`Ctx::loop_enter`]), and the innermost one's site.
    pub fn loop_site(&self, t: Tid) -> Option<&'static str> {
        if self.finished(t) {
            return None;
        }
        self.shared.loops.borrow()[t].last().map(|f| f.site)
    }

    /// The lasso check's key of the present state: `world` feeds the whole world into the
    /// hasher (false: the model has no lasso check); then per thread whether it finished, the
    /// name of its registered operation, and its local state — in a retry loop, the loop's
    /// part (its history when it entered the loop, the site, what the loop carries and the
    /// chain since the latest head: see [`Ctx::loop_enter`]), else its whole history —, and
    /// its parking bits ([`Execution::parking_state`]). `None` when no unfinished thread is in
    /// a loop: such a state lies on no cycle (a thread that steps in a cycle must come back
    /// to the same local state, which only a loop's part of it can).
    ///
    /// Two states with equal keys have the same future up to the loops' round counters
    /// (the module contract: a thread's code depends only on what its steps returned, and a
    /// loop's round depends on no more than what it carries and what it did since its head).
    pub fn lasso_key(
        &self,
        world: impl FnOnce(&W, &mut crate::hash::Hasher128) -> bool,
    ) -> Option<u128> {
        use std::hash::Hasher;
        if !self.shared.history_on.get()
            || !(0..self.threads()).any(|t| self.loop_site(t).is_some())
        {
            return None;
        }
        let mut h = crate::hash::Hasher128::new(0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344);
        if !world(&self.shared.world.borrow(), &mut h) {
            return None;
        }
        let slots = self.shared.slots.borrow();
        let loops = self.shared.loops.borrow();
        let history = self.shared.history.borrow();
        for t in 0..self.threads() {
            let finished = self.finished(t);
            h.write_u8(u8::from(finished));
            if finished {
                continue;
            }
            let name = slots[t].pending.as_ref().map_or("", |p| p.name);
            h.write_u64(name.as_ptr() as u64 ^ ((name.len() as u64) << 48));
            match loops[t].last() {
                Some(f) => {
                    h.write_u8(1);
                    for w in [f.entry[0], f.entry[1], f.carried, f.rel[0], f.rel[1]] {
                        h.write_u64(w);
                    }
                    h.write_u64(f.site.as_ptr() as u64 ^ ((f.site.len() as u64) << 48));
                }
                None => {
                    h.write_u8(0);
                    h.write_u64(history[t][0]);
                    h.write_u64(history[t][1]);
                }
            }
            if self.parking.on {
                self.parking_words(t, |w| h.write_u64(w));
            }
        }
        Some(h.finish128())
    }

    /// Runs `f` on the world (final checks, hashing).
    pub fn with_world<R>(&self, f: impl FnOnce(&W) -> R) -> R {
        f(&self.shared.world.borrow())
    }
}

impl<W> Drop for Execution<W> {
    fn drop(&mut self) {
        // Drop unfinished thread futures first: their frame guards reach into `shared`.
        for f in self.futures.iter_mut() {
            *f = None;
        }
    }
}
