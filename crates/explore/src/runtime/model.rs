//! What a model gives the explorer: a fresh [`Instance`] (world and threads) per execution,
//! and its end-of-execution checks.

use super::{Ctx, Execution, Finding, Tid};
use std::future::Future;
use std::pin::Pin;

/// A model thread before it starts.
pub type ThreadFn<W> = Box<dyn FnOnce(Ctx<W>) -> ThreadFuture>;

/// A started model thread.
pub type ThreadFuture = Pin<Box<dyn Future<Output = ()>>>;

/// One fresh instance of a scenario: the world and its threads.
pub struct Instance<W> {
    /// The shared state, as it is before any thread runs.
    pub world: W,
    /// Number of objects the model's accesses name (ids `0..objects`).
    pub objects: usize,
    /// Each thread's name (shown in traces) and function.
    pub threads: Vec<(String, ThreadFn<W>)>,
}

/// What a model gives the explorer.
pub trait Model {
    /// The shared state the model's threads work on.
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
    /// For the lasso check (a retry loop that can go round forever under weak fairness,
    /// [`Ctx::loop_enter`]): feeds the *whole* world into `h` — everything a step reads, not
    /// up to symmetry — and returns true; false (the default): the model has no lasso check,
    /// and its loops end only at their own bounds.
    fn lasso_world<H: std::hash::Hasher>(&self, world: &Self::World, h: &mut H) -> bool {
        let _ = (world, h);
        false
    }
}

/// What an execution in which no thread is enabled reports at its end: the model's checks
/// ([`Model::at_end`]) when every thread finished, else that it is stuck
/// ([`Execution::blocked_finding`]).
pub(crate) fn end_findings<M: Model>(model: &M, ex: &Execution<M::World>) -> Vec<Finding> {
    let mut out = Vec::new();
    if ex.all_finished() {
        ex.with_world(|w| model.at_end(w, &mut out));
    } else {
        out.push(ex.blocked_finding());
    }
    out
}
