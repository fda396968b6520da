//! What a search is asked to do: the strategy, its bounds, and a progress callback.

use super::Stats;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// How to explore.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Address space (virtual size) of the process, in MiB: what `RLIMIT_AS` limits. Past
    /// that limit an allocation fails and the process aborts, so a search must stop before.
    pub max_address_space_mib: Option<u64>,
    /// Preemptions (switches away from a thread that could go on) in one execution.
    pub max_preemptions: Option<u32>,
    /// Set from outside (e.g. by a SIGINT handler) to stop the search at its next step
    /// boundary; the outcome is then stopped by [`Bound::Interrupted`].
    #[serde(skip)]
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_depth: 2000,
            max_executions: None,
            max_time: None,
            max_memory_mib: None,
            max_address_space_mib: None,
            max_preemptions: None,
            interrupt: None,
        }
    }
}

/// Which bound stopped (or cut) the search.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The address space limit (MiB, [`Bounds::max_address_space_mib`]), or, where none was
    /// set, the address space at which the allocator refused a block the search needed.
    MaxAddressSpaceMib(u64),
    /// [`Bounds::max_preemptions`] left interleavings out.
    MaxPreemptions(u32),
    /// [`Bounds::interrupt`] was set (SIGINT, SIGTERM).
    Interrupted,
    /// A model's retry loop went round its bound of times without the lasso check seeing a
    /// state repeat (a [`crate::RETRY_CUT`] finding): the execution was cut there. What the
    /// finding said (the loop and the bound).
    Retries(String),
}

impl Bound {
    /// The kind of bound, one word: `depth`, `executions`, `time`, `memory`, `preemptions`,
    /// `interrupted` or `retries` (as in `incomplete (memory)`).
    pub fn kind(&self) -> &'static str {
        match self {
            Bound::MaxDepth(_) => "depth",
            Bound::MaxExecutions(_) => "executions",
            Bound::MaxTime(_) => "time",
            Bound::MaxMemoryMib(_) | Bound::MaxAddressSpaceMib(_) => "memory",
            Bound::MaxPreemptions(_) => "preemptions",
            Bound::Interrupted => "interrupted",
            Bound::Retries(_) => "retries",
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::MaxDepth(n) => write!(f, "max-depth={n} steps per execution"),
            Bound::MaxExecutions(n) => write!(f, "max-executions={n}"),
            Bound::MaxTime(s) => write!(f, "max-time={s}s"),
            Bound::MaxMemoryMib(m) => write!(f, "max-memory={m}MiB (resident)"),
            Bound::MaxAddressSpaceMib(m) => write!(f, "max-memory={m}MiB (address space)"),
            Bound::MaxPreemptions(p) => write!(f, "max-preemptions={p}"),
            Bound::Interrupted => f.write_str("interrupted (SIGINT/SIGTERM)"),
            Bound::Retries(what) => write!(f, "{what}; raise --max-retries"),
        }
    }
}

/// Progress information handed to a callback during long searches.
pub struct Progress<'a> {
    /// The search's figures so far.
    pub stats: &'a Stats,
    /// The length of the path being explored.
    pub depth: usize,
    /// The violated properties found so far, sorted (by the stateful search's first worker
    /// alone when it runs several).
    pub found: &'a [&'static str],
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
