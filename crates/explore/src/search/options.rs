//! What a search is asked to do: the strategy, its bounds, and a progress callback.

use super::Stats;
use std::time::Duration;

/// How to explore.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Dynamic partial-order reduction with sleep sets and source sets (see the module
    /// documentation of [`crate::search`]).
    Dpor,
    /// Every interleaving, no reduction.
    Naive,
}

/// Limits of a search. A limit that stops the search makes the result *incomplete*.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Bounds {
    /// Steps in one execution; an execution that reaches it is cut.
    pub max_depth: usize,
    /// Executions (complete, cut or pruned) before the search stops.
    pub max_executions: Option<u64>,
    /// Wall-clock time before the search stops.
    pub max_time: Option<Duration>,
    /// Resident memory of the process, in MiB.
    pub max_memory_mib: Option<u64>,
    /// Preemptions (switches away from a thread that could go on) in one execution.
    pub max_preemptions: Option<u32>,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_depth: 2000,
            max_executions: None,
            max_time: None,
            max_memory_mib: None,
            max_preemptions: None,
        }
    }
}

/// Which bound stopped (or cut) the search.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bound {
    /// [`Bounds::max_depth`] cut an execution.
    MaxDepth(usize),
    /// [`Bounds::max_executions`] stopped the search.
    MaxExecutions(u64),
    /// [`Bounds::max_time`] (in seconds) stopped the search.
    MaxTime(u64),
    /// [`Bounds::max_memory_mib`] stopped the search.
    MaxMemoryMib(u64),
    /// [`Bounds::max_preemptions`] left interleavings out.
    MaxPreemptions(u32),
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::MaxDepth(n) => write!(f, "max-depth={n} steps per execution"),
            Bound::MaxExecutions(n) => write!(f, "max-executions={n}"),
            Bound::MaxTime(s) => write!(f, "max-time={s}s"),
            Bound::MaxMemoryMib(m) => write!(f, "max-memory={m}MiB"),
            Bound::MaxPreemptions(p) => write!(f, "max-preemptions={p}"),
        }
    }
}

/// Progress information handed to a callback during long searches.
pub struct Progress<'a> {
    /// The search's figures so far.
    pub stats: &'a Stats,
    /// The length of the path being explored.
    pub depth: usize,
}

/// Search options.
pub struct Options<'a> {
    /// How the stateless search explores ([`crate::explore`]; the stateful search ignores it).
    pub strategy: Strategy,
    /// When the search stops.
    pub bounds: Bounds,
    /// Called about every 100 ms of search.
    pub progress: Option<&'a mut dyn FnMut(&Progress)>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            strategy: Strategy::Dpor,
            bounds: Bounds::default(),
            progress: None,
        }
    }
}
