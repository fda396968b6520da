//! What a search found: its statistics, the properties it saw with their traces, and the
//! bound that stopped it (if any).

use super::{Bound, Strategy};
use crate::runtime::{Severity, Tid};
use std::collections::BTreeSet;

/// Search statistics.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Executions that reached an end (all finished, deadlock, fatal finding, or a cut).
    pub executions: u64,
    /// Executions ended because every enabled thread was asleep (redundant, pruned).
    pub pruned: u64,
    /// Steps executed, replays of shared prefixes included.
    pub steps: u64,
    /// The longest execution (stateful search: the longest path).
    pub max_depth_seen: usize,
    /// Wall-clock time of the search.
    pub elapsed_secs: f64,
    /// Stateful search only: distinct states stored in the visited set.
    pub states: u64,
    /// Stateful search only: transitions taken (replays excluded).
    pub transitions: u64,
    /// Stateful search only: memory of the visited set, in MiB.
    pub visited_mib: f64,
    /// Stateful search only: states restored from a snapshot (`StateKey::resume`) instead
    /// of replayed.
    pub restores: u64,
    /// Stateful search only: states expanded by a persistent set smaller than their enabled
    /// threads (one safe step alone, or a closure of threads: see `stateful`, "Safe steps").
    pub safe_steps: u64,
    /// Stateful search only: searches started over because a step was not in the learned
    /// independence table (the figures above are those of the last one).
    pub reruns: u64,
    /// Stateful search only: entries of the learned independence table.
    pub table_entries: u64,
}

impl Stats {
    /// Executions (complete and pruned) per second of search.
    pub fn executions_per_sec(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            (self.executions + self.pruned) as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }
}

/// One violated (or observed) property with its shortest known trace.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PropertyReport {
    /// The property ([`crate::Finding::property`]).
    pub property: &'static str,
    /// Whether it is violated or only observed.
    pub severity: Severity,
    /// What happened on the reported trace, in kernel terms.
    pub message: String,
    /// Thread choices from the initial state; the finding happens at the last step (or at
    /// the end, for end-of-execution findings).
    pub schedule: Vec<Tid>,
    /// The schedule's length.
    pub steps: usize,
    /// The schedule's preemptions (switches away from a thread that could go on).
    pub preemptions: usize,
    /// Executions in which this property was seen.
    pub occurrences: u64,
}

/// Result of a search.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    /// The strategy the search ran.
    pub strategy: Strategy,
    /// Its figures.
    pub stats: Stats,
    /// Properties seen, sorted by name.
    pub reports: Vec<PropertyReport>,
    /// The bound that stopped or cut the search; `None` means exhaustive.
    pub stopped_by: Option<Bound>,
    /// Hashes of final states (of complete executions, deadlocks and fatal ends).
    #[serde(skip)]
    pub final_states: BTreeSet<u64>,
}

impl Outcome {
    /// Whether the search explored everything (no bound stopped or cut it).
    pub fn exhaustive(&self) -> bool {
        self.stopped_by.is_none()
    }
    /// The violated properties (observations left out).
    pub fn violations(&self) -> impl Iterator<Item = &PropertyReport> {
        self.reports
            .iter()
            .filter(|r| r.severity == Severity::Violation)
    }
}
