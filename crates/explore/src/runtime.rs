//! The deterministic runtime: model threads are `async fn`s; every visible operation is an
//! `.await` on [`Ctx::step`], which first *registers* the operation (its name, the objects it
//! touches, and when it is enabled) and yields; the scheduler later *grants* it by polling the
//! thread again, and the operation's body runs on the shared world. One step is one poll: no
//! OS thread switch, no unsafe stack switching.
//!
//! The runtime knows nothing about pages: the world type `W` belongs to the model.
//!
//! # What a thread's local state depends on (the history contract)
//!
//! A thread's local state (where its `async fn` is suspended, its live locals, its retry
//! attempt) is never looked at by the explorer. For the stateful search of models that keep
//! it in `async` locals ([`Execution::history`]), it must be a deterministic function of what
//! the thread was handed by the runtime, which the runtime records:
//!
//! * the value each step body returns (`R: Hash`; [`Step::poll`] hashes it and
//!   [`Execution::step`] mixes it into the thread's history, with the operation's name);
//! * the thread's start (its closure, from [`Model::instance`]: the same in every execution);
//! * [`Ctx::with_const`] and [`Ctx::tid`], which only read what never changes in an execution.
//!
//! So a step body must hand information to its thread *only* through its return value: no
//! captured `&mut` locals, `Cell`s or `Rc<RefCell<_>>` written by the body and read by the
//! thread afterwards, no reads of changing world state through `with_const`, no branching on
//! [`StepEnv::tracing`] beyond building notes. Everything else a body changes lives in the
//! world, which the model hashes itself.

use crate::access::{AccessKind, Accesses};
use smallbox::{smallbox, space::S4, SmallBox};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Index of a model thread within one scenario instance.
pub type Tid = usize;

/// How bad a finding is.
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth showing, not a property violation (e.g. a GUP that returned -ENOMEM).
    Observation,
    /// A property is violated.
    Violation,
}

/// Something a step (or the end-of-execution check) reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Stable property name (e.g. `io-on-secure-page`): one report per property.
    pub property: &'static str,
    pub severity: Severity,
    /// What happened, in kernel terms.
    pub message: String,
    /// Whether the execution cannot go on (BUG(), an oops): it ends at this step.
    pub fatal: bool,
}

/// When a registered operation may run.
pub enum Guard<W> {
    /// Always enabled.
    Always,
    /// Enabled while `f(world, arg)` is true (a blocking lock, a wait on a flag).
    When(fn(&W, u64) -> bool, u64),
    /// A retry loop that saw no progress: enabled once another thread wrote one of the
    /// objects this step reads since the current attempt first read or wrote it (see
    /// [`Ctx::attempt_begin`]), or since this thread's previous parked step.
    /// This is how the model states weak fairness: a loop that would spin on unchanged
    /// state is parked instead of unrolled. (Sound under partial-order reduction: every
    /// write it waits for is dependent with the parked step, which reads the object.)
    Changed,
}

impl<W> Clone for Guard<W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W> Copy for Guard<W> {}

/// What a thread asks to do next.
pub struct Op<W> {
    pub name: &'static str,
    pub accesses: Accesses,
    pub guard: Guard<W>,
    /// The step waits for a retry loop's condition (a thread blocked here forever is a
    /// livelock of that loop, not a deadlock).
    pub retry: bool,
}

impl<W> Op<W> {
    pub fn new(name: &'static str, accesses: Accesses) -> Self {
        Op {
            name,
            accesses,
            guard: Guard::Always,
            retry: false,
        }
    }
    pub fn when(mut self, f: fn(&W, u64) -> bool, arg: u64) -> Self {
        self.guard = Guard::When(f, arg);
        self
    }
    pub fn parked(mut self) -> Self {
        self.guard = Guard::Changed;
        self.retry = true;
        self
    }
    /// A retry loop that waits until `f(world, arg)` holds: the retries in between would
    /// fail without changing anything (weak fairness).
    pub fn retry_when(mut self, f: fn(&W, u64) -> bool, arg: u64) -> Self {
        self.guard = Guard::When(f, arg);
        self.retry = true;
        self
    }
}

impl<W> Clone for Pending<W> {
    fn clone(&self) -> Self {
        Pending {
            name: self.name,
            accesses: self.accesses,
            guard: self.guard,
            retry: self.retry,
            frames: self.frames.clone(),
        }
    }
}

pub(crate) struct Pending<W> {
    pub name: &'static str,
    pub accesses: Accesses,
    pub guard: Guard<W>,
    pub retry: bool,
    /// The model call stack at the time of registration (only while tracing).
    pub frames: Vec<&'static str>,
}

/// The environment an operation's body runs in.
pub struct StepEnv<'a, W> {
    pub world: &'a mut W,
    pub tid: Tid,
    findings: &'a mut Vec<Finding>,
    note: Option<&'a mut String>,
}

impl<W> StepEnv<'_, W> {
    /// Reports a finding at this step.
    pub fn report(&mut self, property: &'static str, severity: Severity, message: String) {
        self.findings.push(Finding {
            property,
            severity,
            message,
            fatal: false,
        });
    }
    /// Reports a finding after which the execution cannot continue (BUG, oops).
    pub fn report_fatal(&mut self, property: &'static str, message: String) {
        self.findings.push(Finding {
            property,
            severity: Severity::Violation,
            message,
            fatal: true,
        });
    }
    /// Whether a trace is being recorded (notes are only built then).
    pub fn tracing(&self) -> bool {
        self.note.is_some()
    }
    /// Describes what the step did, for the trace ("refcount 2 -> 0"). The closure only
    /// runs while tracing.
    pub fn note(&mut self, f: impl FnOnce() -> String) {
        if let Some(n) = self.note.as_deref_mut() {
            if !n.is_empty() {
                n.push_str("; ");
            }
            n.push_str(&f());
        }
    }
}

struct ThreadSlot<W> {
    pending: Option<Pending<W>>,
    frames: Vec<&'static str>,
    /// Generation of the current retry-loop attempt.
    attempt: u32,
    /// Name of the operation whose body runs (set by [`Execution::step`]).
    stepping: &'static str,
    /// The registered operation is a [`Machine`] thread's (see [`Execution::resume_moved`]).
    machine: bool,
}

pub(crate) struct Shared<W> {
    world: RefCell<W>,
    slots: RefCell<Vec<ThreadSlot<W>>>,
    tracing: bool,
    findings: RefCell<Vec<Finding>>,
    note: RefCell<String>,
    current: Cell<Tid>,
    /// Per thread, a hash chain (two 64-bit lanes) over the operations it has stepped and
    /// what their bodies returned, with finished calls summarised by their return values
    /// (see [`Execution::history`] and [`Ctx::call`]).
    history: RefCell<Vec<[u64; 2]>>,
    /// Whether step results are recorded for fast-forward restores
    /// ([`Execution::snapshot`]).
    record: Cell<bool>,
    /// Per thread, the value each of its steps returned so far, in order (while recording).
    results: RefCell<Vec<Vec<Value>>>,
    /// While restoring: per thread, how many recorded results its fresh future has been
    /// handed back (its steps complete at once, without running their bodies).
    ffwd: RefCell<Vec<usize>>,
    /// Per thread (while recording), the history after each of its history updates (a step
    /// or a [`Ctx::call`] returning), in order: a fast-forward sets the history from it
    /// instead of hashing the same values again.
    hlog: RefCell<Vec<Vec<[u64; 2]>>>,
    /// While restoring: per thread, how many entries of `hlog` its fresh future has used.
    hpos: RefCell<Vec<usize>>,
    /// Whether a restore is fast-forwarding threads.
    ffwd_on: Cell<bool>,
    /// Whether the thread histories are kept (see [`Execution::set_lean`]).
    history_on: Cell<bool>,
    /// While a restore rewinds [`Machine`] threads: they register anew from the world.
    rewind: Cell<bool>,
    /// Per thread (while recording), the [`Ctx::call`]s it started, in the order they
    /// started: a fast-forward skips a call that returned before the restored state whole
    /// (see [`CallEnd`]).
    clog: RefCell<Vec<Vec<Option<CallEnd>>>>,
    /// Per thread (while recording), how many calls its present future has started.
    cpos: RefCell<Vec<usize>>,
}

/// How a recorded [`Ctx::call`] ended: the thread's position in the logs when it returned,
/// and what it returned. A fast-forward that meets the call again hands back the value and
/// moves the thread to that position without polling the function (its steps and nested
/// calls are passed over, and its effects on the world are in the restored world). Sound
/// under [`Ctx::call`]'s contract: the function's only output to its caller is the value —
/// and the thread's attempt counter, which is restored too.
struct CallEnd {
    /// Step results the thread had recorded.
    results: usize,
    /// History-log entries (the last one is the call's own summary).
    hlog: usize,
    /// Calls the thread had started (this one's nested calls included).
    calls: usize,
    /// The thread's retry-loop attempt generation.
    attempt: u32,
    value: Value,
}

/// A recorded step result or call value, of the type its step or call returns: stored inline
/// up to four words, on the heap beyond, so that recording a small result (a count, a flag, a
/// PTE, a 32-byte page) costs no allocation.
type Value = SmallBox<dyn Any, S4>;

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
    fn update_history<R: Hash>(&self, tid: Tid, base: [u64; 2], name: &'static str, r: &R) {
        if !self.history_on.get() {
            return;
        }
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

fn value_hash<R: Hash>(r: &R) -> [u64; 2] {
    // Step results go into the thread histories: 128-bit, like the stateful search's keys.
    let mut h = crate::hash::Hasher128::new(0x6a09_e667_f3bc_c908, 0xbb67_ae85_84ca_a73b);
    r.hash(&mut h);
    h.lanes()
}

/// A model thread's handle on the runtime.
pub struct Ctx<W> {
    shared: Rc<Shared<W>>,
    tid: Tid,
}

impl<W> Ctx<W> {
    pub fn tid(&self) -> Tid {
        self.tid
    }

    /// A visible operation: registers `op`, yields to the scheduler, and when granted runs
    /// `body` on the world and returns its result.
    ///
    /// The result is hashed into the thread's history ([`Execution::history`]): it must be
    /// the body's only way of handing information to the thread (see the module docs).
    pub fn step<R, F>(&self, op: Op<W>, body: F) -> Step<'_, W, F>
    where
        R: Hash + Clone + 'static,
        F: FnOnce(&mut StepEnv<'_, W>) -> R + Unpin,
    {
        Step {
            ctx: self,
            op: Some(op),
            body: Some(body),
        }
    }

    /// Enters a model function: its name joins the call stack shown in traces until the
    /// returned guard is dropped.
    pub fn enter(&self, function: &'static str) -> Frame<'_, W> {
        if self.shared.tracing {
            self.shared.slots.borrow_mut()[self.tid]
                .frames
                .push(function);
        }
        Frame { ctx: self }
    }

    /// Starts an attempt of a retry loop (a local marker, not a step). In the attempt, the
    /// first step that reads or writes an object records how many writes other threads had
    /// made to it; a later parked step waits for a write after that. The record is taken at
    /// an access that is dependent with every such write, so the search orders the two.
    pub fn attempt_begin(&self) {
        self.shared.slots.borrow_mut()[self.tid].attempt += 1;
    }

    /// Runs a model function whose only output to its caller is its return value, and
    /// summarises it in the thread's history: once `f` returns, the steps it took are
    /// replaced by `name` and the hash of the value. The function's own locals (retry
    /// counters, what it read on the way) are dead after it returns, so two paths on which it
    /// returned the same value leave the caller in the same local state; the stateful search
    /// then sees one state where the full chain saw one per way through the function (a
    /// retry loop that went round once or twice). Sound under the module's contract as long
    /// as `f` hands nothing to the caller but `R`: no `&mut` arguments written, no shared
    /// cells (everything else it changed is in the world, which the key hashes).
    ///
    /// While a restore fast-forwards the thread, a call that returned before the restored
    /// state is not run again: it returns the value it returned then (see [`CallEnd`]).
    pub fn call<R, F>(&self, name: &'static str, f: F) -> Call<'_, W, F>
    where
        R: Hash + Clone + 'static,
        F: Future<Output = R>,
    {
        Call {
            ctx: self,
            name,
            saved: None,
            idx: None,
            inner: f,
        }
    }

    /// Reads the world outside a step. Only for data that never changes during an
    /// execution (configuration, set-up): reading changing state here would hide it from the
    /// explorer — and from the thread's history, which does not record what `f` returns (so
    /// a stateful search would merge states whose threads go on differently).
    pub fn with_const<R>(&self, f: impl FnOnce(&W) -> R) -> R {
        f(&self.shared.world.borrow())
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Ctx::call`]: polls the function's future in place (a future that took
    /// it as an `async fn` argument would hold it twice, and nested calls would multiply
    /// their sizes).
    pub struct Call<'a, W, F> {
        ctx: &'a Ctx<W>,
        name: &'static str,
        saved: Option<[u64; 2]>,
        // Its index in the thread's call log (while recording).
        idx: Option<usize>,
        #[pin]
        inner: F,
    }
}

impl<W, R, F> Future for Call<'_, W, F>
where
    R: Hash + Clone + 'static,
    F: Future<Output = R>,
{
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = self.project();
        let shared = &this.ctx.shared;
        let tid = this.ctx.tid;
        // The history when the function was entered (its first poll runs its code up to
        // its first step).
        let saved = match *this.saved {
            Some(h) => h,
            None => {
                let h = shared.history.borrow()[tid];
                *this.saved = Some(h);
                if shared.record.get() {
                    let idx = {
                        let mut cpos = shared.cpos.borrow_mut();
                        cpos[tid] += 1;
                        cpos[tid] - 1
                    };
                    let mut clog = shared.clog.borrow_mut();
                    if idx < clog[tid].len() {
                        debug_assert!(shared.ffwd_on.get(), "a call met its log outside a restore");
                        if let Some(end) = &clog[tid][idx] {
                            // Returned before the restored state: skip it whole.
                            let r: R = end
                                .value
                                .downcast_ref::<R>()
                                .expect("a fast-forwarded call returned another type than recorded")
                                .clone();
                            shared.ffwd.borrow_mut()[tid] = end.results;
                            shared.hpos.borrow_mut()[tid] = end.hlog;
                            shared.cpos.borrow_mut()[tid] = end.calls;
                            shared.slots.borrow_mut()[tid].attempt = end.attempt;
                            shared.history.borrow_mut()[tid] =
                                shared.hlog.borrow()[tid][end.hlog - 1];
                            return Poll::Ready(r);
                        }
                    } else {
                        clog[tid].push(None);
                    }
                    *this.idx = Some(idx);
                }
                h
            }
        };
        match this.inner.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                shared.update_history(tid, saved, this.name, &r);
                if let Some(idx) = *this.idx {
                    // Recording; a call open at the restored state returns only after the
                    // thread stepped on from there (not while it is fast-forwarded).
                    debug_assert!(
                        !shared.ffwd_on.get()
                            || shared.ffwd.borrow()[tid] == shared.results.borrow()[tid].len()
                    );
                    let end = CallEnd {
                        results: shared.results.borrow()[tid].len(),
                        hlog: shared.hlog.borrow()[tid].len(),
                        calls: shared.cpos.borrow()[tid],
                        attempt: shared.slots.borrow()[tid].attempt,
                        value: smallbox!(r.clone()),
                    };
                    shared.clog.borrow_mut()[tid][idx] = Some(end);
                }
                Poll::Ready(r)
            }
        }
    }
}

/// Call-stack guard returned by [`Ctx::enter`].
pub struct Frame<'a, W> {
    ctx: &'a Ctx<W>,
}

impl<W> Drop for Frame<'_, W> {
    fn drop(&mut self) {
        if self.ctx.shared.tracing {
            if let Ok(mut slots) = self.ctx.shared.slots.try_borrow_mut() {
                slots[self.ctx.tid].frames.pop();
            }
        }
    }
}

/// The future of one visible operation (see [`Ctx::step`]).
pub struct Step<'a, W, F> {
    ctx: &'a Ctx<W>,
    op: Option<Op<W>>,
    body: Option<F>,
}

impl<W, R, F> Future for Step<'_, W, F>
where
    R: Hash + Clone + 'static,
    F: FnOnce(&mut StepEnv<'_, W>) -> R + Unpin,
{
    type Output = R;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let this = self.get_mut();
        let shared = &this.ctx.shared;
        let tid = this.ctx.tid;
        if let Some(op) = this.op.take() {
            if shared.ffwd_on.get() {
                // A restore fast-forwards this thread: the step already ran on the path to
                // the restored state (its effects are in the restored world), so it completes
                // at once with the value it returned then.
                let mut ff = shared.ffwd.borrow_mut();
                let results = shared.results.borrow();
                if let Some(v) = results[tid].get(ff[tid]) {
                    ff[tid] += 1;
                    let r: R = v
                        .downcast_ref::<R>()
                        .expect("a fast-forwarded step returned another type than recorded")
                        .clone();
                    drop((ff, results));
                    let base = shared.history.borrow()[tid];
                    shared.update_history(tid, base, op.name, &r);
                    this.body = None;
                    return Poll::Ready(r);
                }
            }
            shared.register(tid, op, false);
            return Poll::Pending;
        }
        debug_assert_eq!(shared.current.get(), this.ctx.tid);
        let body = this
            .body
            .take()
            .expect("a model step was polled after it completed");
        let r = shared.run_body(tid, body);
        if shared.record.get() {
            shared.results.borrow_mut()[tid].push(smallbox!(r.clone()));
        }
        Poll::Ready(r)
    }
}

impl<W> Shared<W> {
    /// Registers `op` as thread `tid`'s next operation; `machine`: registered by a
    /// [`Machine`] thread (which a restore can rewind instead of restarting).
    fn register(&self, tid: Tid, op: Op<W>, machine: bool) {
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
    fn run_body<R: Hash>(&self, tid: Tid, body: impl FnOnce(&mut StepEnv<'_, W>) -> R) -> R {
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
        self.update_history(tid, base, name, &r);
        r
    }
}

/// A model thread written as a state machine over a resume point that it keeps in the world
/// (a label and the few locals it needs, written by its own steps' bodies): what it does
/// next is a function of that resume point alone. `op` must not read what other threads
/// write: the runtime holds a thread's registered operation until the thread steps, and a
/// rewind registers it again from the restored world, so an `op` that read shared state could
/// register something else at the same state (the key records only a tag of the operation's
/// name, not its accesses or guard). Started with [`machine`]. Such a thread holds no
/// state of its own, so a restore that brings the world back *rewinds* it where it is — it
/// registers the operation the restored world gives — instead of dropping and restarting a
/// future ([`Execution::resume_moved`]), and a step is one call of each method, with no
/// `async` state machine in between. For models whose threads keep their state in `async`
/// locals, write `async fn`s instead (the kernel model does).
pub trait Machine<W>: Unpin + 'static {
    /// The operation thread `tid` registers at the resume point `world` holds for it, or
    /// `None` when it has finished.
    fn op(&self, world: &W, tid: Tid) -> Option<Op<W>>;
    /// Runs the body of the operation `op` returned (the thread's resume point in
    /// `env.world` is the same: only its own steps move it).
    fn run(&self, env: &mut StepEnv<'_, W>);
}

/// A thread that runs `m` (see [`Machine`]).
pub fn machine<W: 'static, M: Machine<W>>(m: M) -> ThreadFn<W> {
    Box::new(move |cx| {
        Box::pin(MachineThread {
            cx,
            m,
            granted: false,
        })
    })
}

/// The future of a [`Machine`] thread.
struct MachineThread<W, M> {
    cx: Ctx<W>,
    m: M,
    /// It registered an operation, and a poll now means that it was granted.
    granted: bool,
}

impl<W: 'static, M: Machine<W> + Unpin> Future for MachineThread<W, M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let shared = &this.cx.shared;
        let tid = this.cx.tid;
        assert!(
            !shared.record.get(),
            "machine threads keep their state in the world: restore them with \
             StateKey::resume, not by fast-forward (Execution::start_recording)"
        );
        if shared.rewind.get() {
            // A restore brought the world back: register what it gives.
            this.granted = false;
        }
        if this.granted {
            debug_assert_eq!(shared.current.get(), tid);
            shared.run_body(tid, |e| this.m.run(e));
            this.granted = false;
        }
        let op = this.m.op(&shared.world.borrow(), tid);
        match op {
            None => Poll::Ready(()),
            Some(op) => {
                shared.register(tid, op, true);
                this.granted = true;
                Poll::Pending
            }
        }
    }
}

/// A model thread before it starts.
pub type ThreadFn<W> = Box<dyn FnOnce(Ctx<W>) -> ThreadFuture>;

/// A started model thread.
pub type ThreadFuture = Pin<Box<dyn Future<Output = ()>>>;

/// One fresh instance of a scenario: the world and its threads.
pub struct Instance<W> {
    pub world: W,
    /// Number of objects the model's accesses name (ids `0..objects`).
    pub objects: usize,
    pub threads: Vec<(String, ThreadFn<W>)>,
}

/// What a model gives the explorer.
pub trait Model {
    type World: 'static;
    /// Builds a fresh instance. Called once per execution: it must be deterministic.
    fn instance(&self) -> Instance<Self::World>;
    /// The threads of a fresh instance without its world (what a restore restarts; the
    /// default builds an instance and drops its world).
    fn threads(&self) -> Vec<(String, ThreadFn<Self::World>)> {
        self.instance().threads
    }
    /// Thread `tid`'s function alone (what a restore restarts for a thread that moved; the
    /// default builds them all and keeps one).
    fn thread(&self, tid: Tid) -> ThreadFn<Self::World> {
        self.threads().swap_remove(tid).1
    }
    /// Checks on the final state of an execution in which every thread finished.
    fn at_end(&self, world: &Self::World, out: &mut Vec<Finding>);
    /// A hash of the final state (used to compare searches).
    fn state_hash(&self, world: &Self::World) -> u64;
}

/// What one step did.
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub tid: Tid,
    pub name: &'static str,
    pub accesses: Accesses,
    pub findings: Vec<Finding>,
    /// Trace-only: the model call stack and what changed.
    pub frames: Vec<&'static str>,
    pub note: String,
    pub finished: bool,
}

/// One execution in progress.
pub struct Execution<W> {
    shared: Rc<Shared<W>>,
    futures: Vec<Option<ThreadFuture>>,
    /// Threads a restore brought back without a future yet (see [`Execution::restore`]):
    /// the function to start it from, fast-forwarded when the thread is next stepped. Its
    /// registered operation, attempt and history are already the restored ones.
    lazy: Vec<Option<ThreadFn<W>>>,
    pub names: Vec<String>,
    /// Writes to each object by threads other than the indexed one: `foreign[t][o]`.
    foreign: Vec<Vec<u32>>,
    /// `foreign` as it was at each thread's last parked step, or at the first read or write
    /// of the object in the thread's current attempt.
    parked_at: Vec<Vec<u32>>,
    /// The attempt generation in which `parked_at[t][o]` was last recorded.
    seen: Vec<Vec<u32>>,
    /// [`Execution::parking_state`] of each thread, kept up to date step by step.
    pbits: Vec<Vec<u64>>,
    /// The attempt each thread's "seen in this attempt" bits in `pbits` are for.
    pbits_attempt: Vec<u32>,
    /// Per thread, a stamp of its position: a fresh one whenever its future moves on (a step)
    /// or is replaced, so that two equal stamps mean the same future at the same point
    /// ([`Execution::resume_moved`]).
    marks: Vec<u64>,
    /// The last stamp handed out.
    last_mark: u64,
    /// Whether the counters behind [`Guard::Changed`] are kept (see [`Execution::set_lean`]).
    parking_on: bool,
}

/// A copy of an execution's state that [`Execution::restore`] brings back without replaying
/// the steps that led to it (see [`Execution::snapshot`]).
pub struct Snapshot<W> {
    /// The world as it was (`None` once [`Execution::restore_owned`] moved it out).
    world: Option<W>,
    /// The parking bookkeeping, flat (four allocations per snapshot with `pending`, not four
    /// per thread):
    /// `foreign`, `parked_at` and `seen` row by row, then `pbits_attempt`.
    counters: Box<[u32]>,
    /// `pbits`, row by row.
    pbits: Box<[u64]>,
    /// Per thread, in four runs of `threads`: how many steps it had taken (its recorded
    /// results); whether it had finished (0/1); how many history updates it had made
    /// (entries of the history log); how many calls it had started (entries of the call log).
    /// Then a fifth run: its attempt.
    counts: Box<[usize]>,
    /// Per thread, its registered operation (restored without running the thread).
    pending: Box<[Option<Pending<W>>]>,
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
    /// The world as it was.
    pub fn world(&self) -> &W {
        self.world
            .as_ref()
            .expect("the world of a snapshot restored by move")
    }
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
            foreign: vec![vec![0; inst.objects]; n],
            parked_at: vec![vec![0; inst.objects]; n],
            seen: vec![vec![0; inst.objects]; n],
            pbits: vec![vec![0; 2 * inst.objects.div_ceil(64)]; n],
            pbits_attempt: vec![0; n],
            marks: (1..=n as u64).collect(),
            last_mark: n as u64,
            parking_on: true,
        };
        for tid in 0..n {
            ex.poll(tid);
            ex.recompute_pbits(tid);
        }
        ex
    }

    /// Stops keeping what a search that keys states by resume points in the world does not
    /// read: the thread histories ([`Execution::history`] stays at zero) and the counters
    /// behind [`Guard::Changed`] (such a search judges parked steps by bits of its own, as
    /// the stateful search does for models without [`crate::search::StateKey::key_includes_history`]).
    /// Each step then costs neither the hash of its result nor the parking bookkeeping.
    /// Afterwards [`Execution::enabled`] must not be asked about a parked step (it panics),
    /// and the execution cannot record ([`Execution::snapshot`] needs both).
    pub fn set_lean(&mut self) {
        assert!(
            !self.shared.record.get(),
            "a recording execution keeps its histories"
        );
        self.shared.history_on.set(false);
        self.parking_on = false;
    }

    /// Recomputes thread `t`'s parking bits from the counters.
    fn recompute_pbits(&mut self, t: Tid) {
        let attempt = self.shared.slots.borrow()[t].attempt;
        let words = self.foreign[t].len().div_ceil(64);
        let bits = &mut self.pbits[t];
        bits.fill(0);
        for (o, ((fo, pa), se)) in self.foreign[t]
            .iter()
            .zip(&self.parked_at[t])
            .zip(&self.seen[t])
            .enumerate()
        {
            bits[o / 64] |= u64::from(fo != pa) << (o % 64);
            bits[words + o / 64] |= u64::from(*se == attempt) << (o % 64);
        }
        self.pbits_attempt[t] = attempt;
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
        for v in self
            .foreign
            .iter_mut()
            .chain(self.parked_at.iter_mut())
            .chain(self.seen.iter_mut())
        {
            assert_eq!(v.len(), objects, "restart with another number of objects");
            v.fill(0);
        }
        for tid in 0..self.futures.len() {
            self.poll(tid);
            self.recompute_pbits(tid);
            self.remark(tid);
        }
    }

    /// What [`Execution::restart`] and [`Execution::resume_moved`] share: each thread in the
    /// bit set `moved` loses its future, registered operation, call frames, attempt and
    /// history (its new future is the caller's to make); the last step's findings and note
    /// are cleared.
    fn drop_threads(&mut self, moved: u64) {
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
            for t in moved {
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
    fn ctx(&self, tid: Tid) -> Ctx<W> {
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

    /// Hands thread `t` a fresh position stamp.
    fn remark(&mut self, t: Tid) {
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
    /// A [`Machine`] thread that has not finished is not restarted but rewound: its future
    /// registers the operation the restored world gives (no allocation, no call of `start`).
    /// No allocation but the new futures. The runtime's parking counters (what
    /// [`Guard::Changed`] steps are judged by in a replayed execution) are left as they
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

    pub fn threads(&self) -> usize {
        self.futures.len()
    }

    fn poll(&mut self, tid: Tid) -> bool {
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
    pub fn next_all(&self, tid: Tid, mut f: impl FnMut(&crate::access::Access) -> bool) -> bool {
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
                    self.parking_on,
                    "a lean execution keeps no parking counters (Execution::set_lean)"
                );
                p.accesses.as_slice().iter().any(|a| {
                    let o = a.obj.0 as usize;
                    self.foreign[tid][o] != self.parked_at[tid][o]
                })
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

    /// [`Execution::enabled_mask`] with the steps that wait for a write ([`Op::parked`])
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
    /// xorshift state `rng` (advanced here); `None` when no thread is enabled.
    pub fn step_random(&mut self, rng: &mut u64) -> Option<StepRecord> {
        let en = self.enabled_mask();
        if en == 0 {
            return None;
        }
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let mut m = en;
        for _ in 0..(*rng % u64::from(en.count_ones())) {
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
        let finished = self.poll(tid);
        self.remark(tid);
        if self.parking_on {
            self.count_parking(tid, &pending);
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

    /// The parking bookkeeping of thread `tid`'s step `pending` (just taken): the counters
    /// and bits behind [`Guard::Changed`] (see [`Execution::parking_state`]).
    fn count_parking(&mut self, tid: Tid, pending: &Pending<W>) {
        let parked = matches!(pending.guard, Guard::Changed);
        let attempt = self.shared.slots.borrow()[tid].attempt;
        if attempt != self.pbits_attempt[tid] {
            self.recompute_pbits(tid);
        }
        let words = self.pbits[tid].len() / 2;
        for a in pending.accesses.as_slice() {
            let o = a.obj.0 as usize;
            let (w, b) = (o / 64, 1u64 << (o % 64));
            let observes = matches!(a.kind, AccessKind::Read | AccessKind::Write);
            if observes && self.seen[tid][o] != attempt {
                self.seen[tid][o] = attempt;
                self.parked_at[tid][o] = self.foreign[tid][o];
                self.pbits[tid][w] &= !b;
                self.pbits[tid][words + w] |= b;
            }
            if a.kind != AccessKind::Read {
                for t in (0..self.foreign.len()).filter(|&t| t != tid) {
                    let f = self.foreign[t][o].wrapping_add(1);
                    self.foreign[t][o] = f;
                    if f != self.parked_at[t][o] {
                        self.pbits[t][w] |= b;
                    } else {
                        self.pbits[t][w] &= !b;
                    }
                }
            }
            if parked {
                self.parked_at[tid][o] = self.foreign[tid][o];
                self.pbits[tid][w] &= !b;
            }
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

    /// A copy of the present state (`world`: a copy of the world, which the caller makes)
    /// that [`Execution::restore`] brings back. Needs [`Execution::start_recording`].
    pub fn snapshot(&self, world: W) -> Snapshot<W> {
        debug_assert!(
            self.shared.record.get(),
            "snapshot without recorded results"
        );
        let results = self.shared.results.borrow();
        let n = self.threads();
        let objects = self.foreign.first().map_or(0, Vec::len);
        let mut counters = Vec::with_capacity(3 * n * objects + n);
        for row in self.foreign.iter().chain(&self.parked_at).chain(&self.seen) {
            counters.extend_from_slice(row);
        }
        counters.extend_from_slice(&self.pbits_attempt);
        let mut pbits = Vec::with_capacity(self.pbits.first().map_or(0, Vec::len) * n);
        for row in &self.pbits {
            pbits.extend_from_slice(row);
        }
        let hlog = self.shared.hlog.borrow();
        let cpos = self.shared.cpos.borrow();
        let slots = self.shared.slots.borrow();
        let mut counts = Vec::with_capacity(5 * n);
        counts.extend(results.iter().map(Vec::len));
        counts.extend((0..n).map(|t| usize::from(self.finished(t))));
        counts.extend(hlog.iter().map(Vec::len));
        counts.extend_from_slice(&cpos);
        counts.extend(slots.iter().map(|s| s.attempt as usize));
        Snapshot {
            world: Some(world),
            counters: counters.into_boxed_slice(),
            pbits: pbits.into_boxed_slice(),
            counts: counts.into_boxed_slice(),
            pending: slots.iter().map(|s| s.pending.clone()).collect(),
        }
    }

    /// Brings back the state of `snap`, taken earlier on the path this execution followed
    /// since: the world (`world`: a copy of [`Snapshot::world`]) and the runtime's
    /// bookkeeping are copied back, and each unfinished thread that moved since restarts
    /// from `thread(tid)` (the model's function for it, as in [`Model::instance`]; see
    /// [`Model::thread`]): its registered operation, attempt and history are set from the
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
        let mut src: &[u32] = &snap.counters;
        for row in self
            .foreign
            .iter_mut()
            .chain(self.parked_at.iter_mut())
            .chain(self.seen.iter_mut())
            .map(Vec::as_mut_slice)
            .chain(std::iter::once(self.pbits_attempt.as_mut_slice()))
        {
            let (head, rest) = src.split_at(row.len());
            row.copy_from_slice(head);
            src = rest;
        }
        let mut src: &[u64] = &snap.pbits;
        for row in self.pbits.iter_mut() {
            let (head, rest) = src.split_at(row.len());
            row.copy_from_slice(head);
            src = rest;
        }
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
            for t in (0..n).filter(|&t| moved[t]) {
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
    fn materialize(&mut self, tid: Tid) {
        let f = self.lazy[tid].take().expect("a thread to materialize");
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
    pub fn parking_words(&self, t: Tid, mut f: impl FnMut(u64)) {
        let finished = self.finished(t);
        debug_assert!(
            finished || self.pbits_attempt[t] == self.shared.slots.borrow()[t].attempt,
            "parking bits of thread {t} are for another attempt"
        );
        for &w in &self.pbits[t] {
            f(if finished { 0 } else { w });
        }
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
