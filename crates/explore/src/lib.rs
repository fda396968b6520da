//! `explore`: a deterministic interleaving explorer for model threads written as `async fn`.
//!
//! It knows nothing about pages. A model supplies a world and threads ([`Model`]); each
//! visible operation of a thread is a [`Ctx::step`] that declares what it touches
//! ([`Access`]), so that the explorer can tell which steps commute. [`explore`] then runs
//! every interleaving up to that equivalence ([`Strategy::Dpor`]) or every interleaving
//! outright ([`Strategy::Naive`]); [`replay()`] re-runs one schedule with a full trace.

#![deny(missing_docs)]
// The one exception, the visited set's zeroed table, is allowed where it is
// (`search::stateful::visited`).
#![deny(unsafe_code)]

pub mod access;
pub mod hash;
pub mod replay;
mod rng;
pub mod runtime;
pub mod search;

pub use access::{Access, AccessKind, Accesses, ObjId};
pub use replay::{
    format_schedule, parse_schedule, replay, Divergence, Replay, TraceFinding, TraceStep,
};
pub use runtime::{
    machine, Ctx, Execution, Finding, Frame, Guard, Instance, Loop, Machine, Model, Op, Severity,
    StepEnv, ThreadFn, ThreadFuture, Tid,
};
/// The property the explorer reports when every unfinished thread is blocked.
pub const DEADLOCK: &str = "deadlock";
/// The property the explorer reports when every unfinished thread is parked in a retry
/// that nothing left can change (weak fairness).
pub const LIVELOCK: &str = "livelock";
/// The property of the finding a model reports when one of its retry loops went round its
/// bound of times without the lasso check seeing a state repeat ([`Ctx::loop_enter`]): not
/// a violation — the execution is cut there and the search's result is incomplete
/// ([`search::Bound::Retries`]).
pub const RETRY_CUT: &str = "retry-cut";

pub use search::{
    explore, memory_mib, peak_rss_mib, rss_mib, Bound, Bounds, MemoryMib, Options, Outcome,
    Progress, PropertyReport, Stats, Strategy,
};
