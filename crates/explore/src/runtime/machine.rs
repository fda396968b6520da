//! Model threads written as state machines over a resume point kept in the world
//! ([`Machine`]), which a restore rewinds in place instead of restarting.

use super::{Ctx, Op, StepEnv, ThreadFn, Tid};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A model thread written as a state machine over a resume point that it keeps in the world
/// (a label and the few locals it needs, written by its own steps' bodies): what it does
/// next is a function of that resume point alone. `op` must not read what other threads
/// write: the runtime holds a thread's registered operation until the thread steps, and a
/// rewind registers it again from the restored world, so an `op` that read shared state could
/// register something else at the same state (the key records only a tag of the operation's
/// name, not its accesses or guard). Started with [`machine`]. Such a thread holds no
/// state of its own, so a restore that brings the world back *rewinds* it where it is — it
/// registers the operation the restored world gives — instead of dropping and restarting a
/// future ([`super::Execution::resume_moved`]), and a step is one call of each method, with no
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
