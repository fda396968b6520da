//! The lasso check: a retry loop that can go round forever is a *proven fair cycle* on the
//! current path, not a loop that went round some number of times.
//!
//! After each step the search computes the state's lasso key ([`Execution::lasso_key`]: the
//! whole world, each thread's registered operation and local state — the loop-relative part
//! of it for a thread in a retry loop — and the parking bits). When the key of the present
//! state equals that of an earlier state of the same execution, the steps between the two
//! form a cycle the system can take again from the present state, and again, for ever. The
//! cycle is *weakly fair* when every thread enabled in every state of it takes a step in it:
//! then the infinite execution "prefix, then the cycle for ever" is one that weak fairness
//! allows, in which the threads that step in the cycle never leave their loops (a thread
//! that left its loop would not come back to the same loop-relative state: its history at
//! the loop's entry would differ) — a `livelock`, reported with the prefix and one turn of
//! the cycle as its trace (replayable: [`crate::replay()`] runs the same check).
//!
//! A cycle that is not fair (a thread enabled throughout never steps in it) is no behaviour
//! weak fairness allows. The execution ends there (counted as pruned) and the threads the
//! cycle ignored are explored from the repeated state (the cycle proviso of partial-order
//! reduction: a reduced search must not postpone an enabled thread around a cycle for
//! ever); the cycle's own threads are explored from its first state, which is the same
//! state.
//!
//! What the check can miss, and why that never turns into `verified`: a cycle whose
//! states differ only in something the key holds but the future does not depend on (a
//! loop-carried value hashed more finely than it matters, a history step that records
//! a value the loop ignores) is not seen as a cycle; the loop then goes round until the
//! model's own bound and the execution is cut ([`crate::RETRY_CUT`]), which makes the
//! result *incomplete*. Keys are 128-bit: a collision (probability about `depth² / 2¹²⁹`
//! per execution) could report a cycle that is not one.

use crate::runtime::{Execution, Finding, Model, Severity, Tid};

/// The lasso key of `ex`'s present state for `model` (`None`: the last step's thread did not
/// pass a loop's head, no thread is in a loop, or a model without the check). Only the states
/// right after a head are keyed ([`Execution::passed_head`]: every cycle has one, and comes
/// back to it one turn later), which keeps the check's cost to one key per round.
pub(crate) fn key<M: Model>(model: &M, ex: &Execution<M::World>) -> Option<u128> {
    if !ex.passed_head() {
        return None;
    }
    ex.lasso_key(|w, h| model.lasso_world(w, h))
}

/// A cycle closed on the current path: `stepped` the threads that step in it, `always` those
/// enabled in every state of it (both ends included). `Ok` when it is weakly fair, else
/// the threads it ignores (enabled throughout, never stepping).
pub(crate) fn judge(stepped: u64, always: u64) -> Result<(), u64> {
    match always & !stepped {
        0 => Ok(()),
        ignored => Err(ignored),
    }
}

/// The `livelock` finding of a fair cycle of `len` steps in which the threads of `stepped`
/// step (each in a retry loop, named by its innermost site).
pub(crate) fn finding<W: 'static>(ex: &Execution<W>, stepped: u64, len: usize) -> Finding {
    let parts: Vec<String> = (0..ex.threads())
        .filter(|&t: &Tid| stepped & (1 << t) != 0)
        .map(|t| match ex.loop_site(t) {
            Some(site) => format!("{} goes round `{site}`", ex.names[t]),
            None => format!("{} (in no loop)", ex.names[t]),
        })
        .collect();
    Finding {
        property: crate::LIVELOCK,
        severity: Severity::Violation,
        message: format!(
            "retry loop never ends: a cycle of {len} step{} returns to the same state and \
             repeats forever under weak fairness (every thread enabled throughout it steps in \
             it): {}",
            if len == 1 { "" } else { "s" },
            parts.join("; ")
        ),
        fatal: false,
    }
}

/// What the state a search (or a replay) arrived at closes.
pub(crate) enum Closed {
    /// No cycle (or no key).
    No,
    /// A weakly fair cycle: the `livelock` finding.
    Fair(Finding),
    /// A cycle that ignores these threads (enabled throughout, never stepping).
    Unfair(u64),
}

/// The lasso check along one path, for a replay and for the stateful search: the key of each
/// state on the path (state `i` is reached by the path's first `i` steps) with the first
/// position each key has, and the enabled threads of each state.
#[derive(Default)]
pub(crate) struct Path {
    first: std::collections::HashMap<u128, usize>,
    keys: Vec<Option<u128>>,
    enabled: Vec<u64>,
}

impl Path {
    /// Forgets the states from position `states` on (the path went back).
    pub(crate) fn truncate(&mut self, states: usize) {
        for i in states..self.keys.len() {
            if let Some(k) = self.keys[i] {
                if self.first.get(&k) == Some(&i) {
                    self.first.remove(&k);
                }
            }
        }
        self.keys.truncate(states);
        self.enabled.truncate(states);
    }

    /// Records the present state of `ex`, reached by `path` (whose earlier states are
    /// recorded: `path.len()` of them), and says what it closes. A repeated key keeps its
    /// first position.
    pub(crate) fn arrive<M: Model>(
        &mut self,
        model: &M,
        ex: &Execution<M::World>,
        path: &[Tid],
    ) -> Closed {
        debug_assert_eq!(self.keys.len(), path.len(), "a lasso path out of step");
        let at = path.len();
        if ex.is_lean() {
            // No histories, no check (and parked steps are the search's to judge).
            self.enabled.push(0);
            self.keys.push(None);
            return Closed::No;
        }
        self.enabled.push(ex.enabled_mask());
        let k = key(model, ex);
        self.keys.push(k);
        let Some(k) = k else {
            return Closed::No;
        };
        let Some(&from) = self.first.get(&k) else {
            self.first.insert(k, at);
            return Closed::No;
        };
        let stepped = path[from..].iter().fold(0u64, |m, &t| m | (1 << t));
        let always = self.enabled[from..].iter().fold(u64::MAX, |m, &e| m & e);
        match judge(stepped, always) {
            Ok(()) => Closed::Fair(finding(ex, stepped, at - from)),
            Err(ignored) => Closed::Unfair(ignored),
        }
    }
}
