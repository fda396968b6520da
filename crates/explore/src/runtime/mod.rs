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
//! * the value each step body returns (`R: Hash`; `Step::poll` hashes it and
//!   [`Execution::step`] mixes it into the thread's history, with the operation's name);
//! * the thread's start (its closure, from [`Model::instance`]: the same in every execution);
//! * [`Ctx::with_const`] and [`Ctx::tid`], which only read what never changes in an execution.
//!
//! So a step body must hand information to its thread *only* through its return value: no
//! captured `&mut` locals, `Cell`s or `Rc<RefCell<_>>` written by the body and read by the
//! thread afterwards, no reads of changing world state through `with_const`, no branching on
//! [`StepEnv::tracing`] beyond building notes. Everything else a body changes lives in the
//! world, which the model hashes itself.
//!
//! # Where the parts are
//!
//! `model.rs`: what a model gives ([`Model`], [`Instance`]); `op.rs`: what a thread asks to do
//! ([`Op`], [`Guard`]) and what a step sees and reports ([`StepEnv`], [`Finding`]); `ctx.rs`:
//! the thread's handle ([`Ctx`]) and the futures of its steps and calls; `machine.rs`: threads
//! written as state machines ([`Machine`]); `shared.rs`: the state the threads and the
//! execution share (registered operations, histories, the logs of recorded results);
//! `execution.rs`: running one execution ([`Execution`]); `parking.rs`: the bookkeeping behind
//! [`Guard::Changed`]; `restore.rs`: bringing back a state without replaying its path
//! ([`Snapshot`], [`Execution::restore`], [`Execution::resume_moved`]).

mod ctx;
mod execution;
mod machine;
mod model;
mod op;
mod parking;
mod restore;
mod shared;

pub use ctx::{Call, Ctx, Frame, Loop, Step};
pub use execution::{Execution, StepRecord};
pub use machine::{machine, Machine};
pub(crate) use model::end_findings;
pub use model::{Instance, Model, ThreadFn, ThreadFuture};
pub(crate) use op::Pending;
pub use op::{Finding, Guard, Op, Severity, StepEnv};
pub use restore::Snapshot;

/// Index of a model thread within one scenario instance.
pub type Tid = usize;
