//! `checker`: runs scenarios against kernel presets and turns the explorer's outcome into
//! verdicts, traces in kernel terms, and replayable trace files.

#![forbid(unsafe_code)]

pub mod input;
pub mod limits;
pub mod matrix;
pub mod saved;
pub mod scenario;
pub mod text;
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
    /// DPOR (stateless, with sleep sets) for at most `budget` executions; when they do not
    /// finish the check, the stateful search (one job) finishes it from the start, within
    /// what is left of the time limit. Properties DPOR's executions reached keep DPOR's trace
    /// unless the stateful search's is shorter; the others get the stateful search's. A
    /// preemption bound or the scenario's own execution bound makes this plain DPOR.
    Auto { budget: u64 },
}

/// The DPOR executions a default check (`pvmm check`, the matrix) runs before the stateful
/// search takes over ([`Search::Auto`]).
pub const DPOR_BUDGET: u64 = 2_000;

impl std::fmt::Display for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Search::Stateless => f.write_str("stateless"),
            Search::Stateful { jobs } => write!(
                f,
                "stateful ({jobs} job{})",
                if *jobs == 1 { "" } else { "s" }
            ),
            Search::Auto { budget } => write!(f, "stateless ({budget} executions), then stateful"),
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
    /// [`Search::Auto`] when DPOR's budget did not finish the check: what the stateful
    /// search after it did. The outcome then merges both searches: DPOR's executions, the
    /// stateful search's states, bound and properties.
    pub completion: Option<Completion>,
}

/// The stateful search that finished a [`Search::Auto`] check.
#[derive(Clone, Debug)]
pub struct Completion {
    pub stats: explore::Stats,
    /// Properties whose reported trace is the stateful search's (not necessarily the
    /// shortest): DPOR's executions did not reach them, or reached them by a longer trace.
    pub traced: Vec<&'static str>,
}

impl Check {
    /// Whether property `p`'s reported trace comes from a stateful search.
    pub fn stateful_trace(&self, p: &str) -> bool {
        match self.search {
            Search::Stateful { .. } => true,
            _ => self
                .completion
                .as_ref()
                .is_some_and(|c| c.traced.contains(&p)),
        }
    }
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

    /// What this check means for the run's exit code (see [`Status`]).
    pub fn status(&self, sc: &Scenario) -> Status {
        let finished = self.outcome.stopped_by.is_none();
        let found = self.violated();
        let Some(e) = sc.expect.get(&self.preset) else {
            return match self.verdict {
                Verdict::Verified => Status::AsExpected,
                Verdict::Violation => Status::Unexpected,
                Verdict::Incomplete => Status::Incomplete,
            };
        };
        match e.verdict {
            Verdict::Incomplete if self.verdict == Verdict::Incomplete => Status::AsExpected,
            Verdict::Incomplete => Status::Unexpected,
            Verdict::Verified if !found.is_empty() => Status::Unexpected,
            Verdict::Verified if finished => Status::AsExpected,
            Verdict::Verified => Status::Incomplete,
            Verdict::Violation if !found.iter().all(|p| e.properties.contains(p)) => {
                Status::Unexpected
            }
            Verdict::Violation if !finished => Status::Incomplete,
            Verdict::Violation if found == e.properties => Status::AsExpected,
            Verdict::Violation => Status::Unexpected,
        }
    }

    /// The verdict with, for a search that stopped early, the kind of bound that stopped it:
    /// `verified`, `violation`, `incomplete (time)`, `violation, incomplete (interrupted)`.
    pub fn verdict_text(&self) -> String {
        match (&self.outcome.stopped_by, self.verdict) {
            (Some(b), Verdict::Incomplete) => format!("incomplete ({})", b.kind()),
            (Some(b), Verdict::Violation) => format!("violation, incomplete ({})", b.kind()),
            _ => self.verdict.to_string(),
        }
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

/// What one check means for the exit code of the run, decided by [`Check::status`].
///
/// With an expectation (the scenario's `[expect."PRESET"]`): a violated property the
/// expectation does not list is `Unexpected` whether or not the search finished (it is a
/// fact); otherwise a search that did not finish is `Incomplete` — even when it found every
/// expected property, since the rest of the search could find more — and a finished one is
/// `AsExpected` when verdict and properties match, `Unexpected` otherwise. An expectation
/// `incomplete` is met by a search that stopped with no violation. Without an expectation:
/// verified is `AsExpected`, a violation `Unexpected` (finished or not), no violation from a
/// search that did not finish `Incomplete`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Exit code 0.
    AsExpected,
    /// Exit code 3: the search stopped before the end and nothing found contradicts the
    /// expectation.
    Incomplete,
    /// Exit code 1: a violation, or a verdict other than the expected one.
    Unexpected,
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
    let mut completion = None;
    let stateful = |bounds: explore::Bounds,
                    progress: Option<&mut dyn FnMut(&Progress)>,
                    jobs: usize|
     -> Result<Outcome, String> {
        if bounds.max_preemptions.is_some() {
            return Err("the stateful search does not support a preemption bound".into());
        }
        debug_assert!(model.key_includes_history());
        Ok(explore_stateful_parallel(
            &model,
            Options {
                strategy: Strategy::Dpor,
                bounds,
                progress,
            },
            jobs.max(1),
        ))
    };
    let outcome = match opts.search {
        Search::Stateless => explore(
            &model,
            Options {
                strategy: opts.strategy,
                bounds,
                progress: opts.progress,
            },
        ),
        Search::Stateful { jobs } => stateful(bounds, opts.progress, jobs)?,
        Search::Auto { budget } => {
            let plain = bounds.max_preemptions.is_some() || bounds.max_executions.is_some();
            let mut progress = opts.progress;
            let dpor = explore(
                &model,
                Options {
                    strategy: Strategy::Dpor,
                    bounds: explore::Bounds {
                        max_executions: bounds.max_executions.or(Some(budget)),
                        ..bounds.clone()
                    },
                    progress: progress
                        .as_mut()
                        .map(|p| &mut **p as &mut dyn FnMut(&Progress)),
                },
            );
            if plain || dpor.stopped_by != Some(Bound::MaxExecutions(budget)) {
                dpor
            } else {
                let left = bounds.max_time.map(|t| {
                    t.saturating_sub(std::time::Duration::from_secs_f64(dpor.stats.elapsed_secs))
                });
                let st = stateful(
                    explore::Bounds {
                        max_time: left,
                        ..bounds
                    },
                    progress,
                    1,
                )?;
                let (merged, c) = complete(dpor, st);
                completion = Some(c);
                merged
            }
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
        completion,
    })
}

/// Merges a bounded DPOR outcome with the stateful search that finished its check: the
/// stateful search's bound and states, both searches' steps and time, DPOR's executions,
/// and per property the shorter of the two traces (DPOR's on a tie).
fn complete(mut dpor: Outcome, st: Outcome) -> (Outcome, Completion) {
    let mut traced = Vec::new();
    for r in st.reports {
        match dpor.reports.iter_mut().find(|d| d.property == r.property) {
            Some(d) if d.steps <= r.steps => {}
            Some(d) => {
                traced.push(r.property);
                *d = r;
            }
            None => {
                traced.push(r.property);
                dpor.reports.push(r);
            }
        }
    }
    dpor.reports.sort_by(|a, b| a.property.cmp(b.property));
    dpor.stopped_by = st.stopped_by;
    dpor.final_states.extend(st.final_states);
    let (d, s) = (&mut dpor.stats, &st.stats);
    d.steps += s.steps;
    d.elapsed_secs += s.elapsed_secs;
    d.max_depth_seen = d.max_depth_seen.max(s.max_depth_seen);
    d.states = s.states;
    d.transitions = s.transitions;
    d.visited_mib = s.visited_mib;
    d.restores = s.restores;
    d.safe_steps = s.safe_steps;
    d.reruns = s.reruns;
    d.table_entries = s.table_entries;
    (
        dpor,
        Completion {
            stats: st.stats,
            traced,
        },
    )
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
