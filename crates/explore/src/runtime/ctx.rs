//! A model thread's handle on the runtime ([`Ctx`]) and the futures its operations are:
//! [`Step`] (one visible operation), [`Call`] (a model function summarised by its value) and
//! the call-stack guard [`Frame`].

use super::shared::{CallEnd, LoopFrame, RelMark, Shared};
use super::{Op, StepEnv, Tid};
use smallbox::smallbox;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A model thread's handle on the runtime.
pub struct Ctx<W> {
    pub(super) shared: Rc<Shared<W>>,
    pub(super) tid: Tid,
}

impl<W> Ctx<W> {
    /// The thread's index in its instance.
    pub fn tid(&self) -> Tid {
        self.tid
    }

    /// A visible operation: registers `op`, yields to the scheduler, and when granted runs
    /// `body` on the world and returns its result.
    ///
    /// The result is hashed into the thread's history ([`super::Execution::history`]): it must be
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

    /// Enters a retry loop at `site` (a local marker, not a step): until the returned guard
    /// is dropped, the thread is in the loop, and each round starts with
    /// [`Loop::head`]. For the lasso check ([`super::Execution::lasso_key`]) the thread's local
    /// state is then its history when it entered, the site, what the loop carries from round
    /// to round (as of the latest head) and the chain of its steps since the latest head —
    /// not its whole history, which grows with every round, so that a loop that goes round
    /// with nothing changed shows as a repeated state. The loop's head must be in the
    /// function that entered it, outside any [`Ctx::call`] that outlives a round.
    pub fn loop_enter(&self, site: &'static str) -> Loop<'_, W> {
        let id = self.shared.loop_ids.get() + 1;
        self.shared.loop_ids.set(id);
        let entry = self.shared.history.borrow()[self.tid];
        self.shared.loops.borrow_mut()[self.tid].push(LoopFrame {
            id,
            site,
            entry,
            carried: 0,
            rel: [0; 2],
            heads: 0,
        });
        Loop { ctx: self, id }
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
    /// state is not run again: it returns the value it returned then (see `CallEnd`).
    pub fn call<R, F>(&self, name: &'static str, f: F) -> Call<'_, W, F>
    where
        R: Hash + Clone + 'static,
        F: Future<Output = R>,
    {
        Call {
            ctx: self,
            name,
            saved: None,
            mark: None,
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
        // The thread's place in its innermost loop when the call started.
        mark: Option<RelMark>,
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
                *this.mark = shared.rel_mark(tid);
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
                            if shared.history_on.get() {
                                shared.update_rel(tid, this.name, &r, *this.mark);
                            }
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
                shared.update_history(tid, saved, this.name, &r, *this.mark);
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

/// A retry loop the thread is in (see [`Ctx::loop_enter`]); dropping it leaves the loop.
pub struct Loop<'a, W> {
    ctx: &'a Ctx<W>,
    id: u64,
}

impl<W> Loop<'_, W> {
    /// The head of a round: `carried` is a hash of everything the loop carries from one
    /// round to the next *besides* a round counter (partial progress, a position, what an
    /// earlier round read) — two rounds that start with equal `carried` and equal world go on
    /// alike. Returns how many rounds went before this one (0 at the first head).
    pub fn head(&self, carried: u64) -> u32 {
        let mut loops = self.ctx.shared.loops.borrow_mut();
        let f = loops[self.ctx.tid]
            .iter_mut()
            .rev()
            .find(|f| f.id == self.id)
            .expect("the head of a loop the thread is in");
        f.carried = carried;
        f.rel = [0; 2];
        f.heads += 1;
        self.ctx.shared.headed.set(true);
        f.heads - 1
    }
}

impl<W> Drop for Loop<'_, W> {
    fn drop(&mut self) {
        if let Ok(mut loops) = self.ctx.shared.loops.try_borrow_mut() {
            let l = &mut loops[self.ctx.tid];
            if l.last().is_some_and(|f| f.id == self.id) {
                l.pop();
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
                    shared.update_history(tid, base, op.name, &r, None);
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
