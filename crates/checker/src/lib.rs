//! `checker`: runs scenarios against kernel presets and turns the explorer's outcome into
//! verdicts, traces in kernel terms, and replayable trace files.

pub mod matrix;
pub mod scenario;
pub mod trace;

pub use scenario::{load, parse, Scenario, ScenarioError};

use explore::search::{explore_stateful_parallel, StateKey};
use explore::{explore, Bound, Options, Outcome, Progress, Severity, Strategy};
use kernel::Kernel;

/// The verdict of one check.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every interleaving within the bounds explored; no property violated.
    Verified,
    /// A property is violated (shortest trace reported).
    Violation,
    /// A bound stopped the search before the end and nothing was violated so far.
    Incomplete,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Verified => "verified",
            Verdict::Violation => "violation",
            Verdict::Incomplete => "incomplete",
        })
    }
}

/// What the checker assumes; printed with every result.
pub const SEMANTICS: &str = "sequentially consistent interleavings of the modelled operations; \
liveness under weak fairness (a retry loop that saw no change waits for one)";

/// Which search a check runs.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Search {
    /// Stateless: every execution from the initial state, DPOR or naive enumeration (the
    /// run's [`Strategy`]); reported traces are the shortest.
    #[default]
    Stateless,
    /// Stateful (`explore::search::explore_stateful`): a visited set over whole states with
    /// sleep sets, on `jobs` worker threads. States that different interleavings reach are
    /// explored once. Reported traces replay but are not necessarily the shortest; the
    /// strategy is ignored, and a preemption bound is not supported.
    Stateful { jobs: usize },
}

impl std::fmt::Display for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Search::Stateless => f.write_str("stateless"),
            Search::Stateful { jobs } => write!(
                f,
                "stateful ({jobs} job{})",
                if *jobs == 1 { "" } else { "s" }
            ),
        }
    }
}

/// One scenario checked under one kernel configuration.
pub struct Check {
    pub scenario: String,
    pub preset: String,
    pub kernel: Kernel,
    pub outcome: Outcome,
    pub verdict: Verdict,
    /// The search that produced the outcome.
    pub search: Search,
}

impl Check {
    /// Violated property names, sorted.
    pub fn violated(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .outcome
            .violations()
            .map(|r| r.property.to_string())
            .collect();
        v.sort();
        v
    }

    /// Whether the result matches the scenario's expectation for this preset (None: no
    /// expectation recorded).
    pub fn matches(&self, sc: &Scenario) -> Option<bool> {
        let e = sc.expect.get(&self.preset)?;
        Some(
            e.verdict == self.verdict
                && (self.verdict != Verdict::Violation || e.properties == self.violated()),
        )
    }
}

/// Options for one check.
pub struct RunOptions<'a> {
    pub strategy: Strategy,
    pub search: Search,
    pub bounds: Option<explore::Bounds>,
    pub overrides: Vec<(String, String)>,
    pub progress: Option<&'a mut dyn FnMut(&Progress)>,
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions {
            strategy: Strategy::Dpor,
            search: Search::Stateless,
            bounds: None,
            overrides: Vec::new(),
            progress: None,
        }
    }
}

/// Checks a scenario under one preset.
pub fn check(sc: &Scenario, preset: &str, opts: RunOptions<'_>) -> Result<Check, String> {
    let kernel = sc.kernel(preset, &opts.overrides)?;
    let model = sc.model(kernel.clone());
    let bounds = opts.bounds.unwrap_or_else(|| sc.bounds.clone());
    let outcome = match opts.search {
        Search::Stateless => explore(
            &model,
            Options {
                strategy: opts.strategy,
                bounds,
                progress: opts.progress,
            },
        ),
        Search::Stateful { jobs } => {
            if bounds.max_preemptions.is_some() {
                return Err("the stateful search does not support a preemption bound".into());
            }
            debug_assert!(model.key_includes_history());
            explore_stateful_parallel(
                &model,
                Options {
                    strategy: Strategy::Dpor,
                    bounds,
                    progress: opts.progress,
                },
                jobs.max(1),
            )
        }
    };
    let verdict = verdict_of(&outcome);
    Ok(Check {
        scenario: sc.name.clone(),
        preset: preset.to_string(),
        kernel,
        outcome,
        verdict,
        search: opts.search,
    })
}

/// Verdict of an outcome: a violation wins; otherwise exhaustive → verified; a search that
/// explored nothing is never verified.
pub fn verdict_of(o: &Outcome) -> Verdict {
    if o.reports.iter().any(|r| r.severity == Severity::Violation) {
        Verdict::Violation
    } else if o.exhaustive() && o.stats.executions > 0 {
        Verdict::Verified
    } else {
        Verdict::Incomplete
    }
}

/// Describes a bound for humans.
pub fn bound_text(b: &Option<Bound>) -> String {
    match b {
        None => "exhaustive".into(),
        Some(b) => format!("stopped by {b}"),
    }
}
