//! Exhaustive exploration of a model's interleavings.
//!
//! The stateless search, [`explore`] (`dpor.rs`), runs two strategies on one depth-first
//! driver:
//! * [`Strategy::Dpor`]: dynamic partial-order reduction after Flanagan and Godefroid
//!   (POPL 2005) with sleep sets, vector-clock happens-before, and the source-set choice of
//!   one thread per race (Abdulla et al., JACM 2017). The race analysis runs at every state
//!   for every thread that has a next operation, enabled or not — that is what keeps the
//!   search sound with blocking operations (locks, waits, parked retry loops).
//! * [`Strategy::Naive`]: every interleaving, no reduction. Used by the tests to check the
//!   reduction, and available from the command line.
//!
//! Each execution re-runs the model from a fresh instance and replays the prefix it shares
//! with the previous one. The stateful search ([`stateful`]) remembers states instead; the
//! class counts ([`classes`]) measure how far a reduction is from optimal.
//!
//! What the searches share: what they are asked to do (`options.rs`), what they report
//! (`outcome.rs`), the limits that stop them (`limits.rs`), and how they keep the best trace
//! of each property (`traces.rs`).

pub mod classes;
mod dpor;
pub(crate) mod lasso;
mod limits;
mod options;
mod outcome;
pub mod stateful;
mod traces;

pub use dpor::explore;
pub use limits::{memory_mib, peak_rss_mib, rss_mib, MemoryMib};
pub use options::{Bound, Bounds, Options, Progress, Strategy};
pub use outcome::{Outcome, PropertyReport, Stats};
pub use stateful::{
    explore_stateful, explore_stateful_parallel, explore_stateful_with, StateKey, StatefulOptions,
    StatefulOutcome,
};

use crate::access::Accesses;

/// The threads of `asleep` still asleep after a step with accesses `taken`: those whose next
/// operation (`next[t]`; `None`: finished) is independent of it (Godefroid 1996, ch. 5: a
/// dependent step wakes a sleeping thread).
fn sleep_after(asleep: u64, next: &[Option<Accesses>], taken: &Accesses) -> u64 {
    let (mut rest, mut out) = (asleep, 0u64);
    while rest != 0 {
        let q = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        if matches!(&next[q], Some(a) if !a.dependent(taken)) {
            out |= 1 << q;
        }
    }
    out
}
