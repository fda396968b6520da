//! A finished check as a checkpoint file keeps it (`pvmm check --checkpoint`), and back: what
//! the outputs of `pvmm check` need of a [`Check`] (verdict, statistics, the bound that
//! stopped it, every property with its schedule, what the stateful search completed), so
//! that a resumed run prints the same document as one that was never interrupted. Traces
//! are not kept: they are replayed from the schedules, as for a check just run. Not kept
//! either: the final states' hashes (`Outcome::final_states`), which no output shows.

use crate::{Check, Completion, Scenario, Search, Verdict};
use explore::{format_schedule, parse_schedule, Bound, Outcome, PropertyReport, Severity, Stats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// One finished check.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SavedCheck {
    /// The scenario file, as given on the command line.
    pub scenario_path: String,
    /// SHA-256 of the scenario file's bytes: a resume checks it is unchanged.
    pub scenario_sha256: String,
    pub preset: String,
    pub verdict: Verdict,
    pub strategy: explore::Strategy,
    pub stats: Stats,
    pub stopped_by: Option<Bound>,
    pub reports: Vec<SavedReport>,
    pub completion: Option<SavedCompletion>,
    pub bounds: SavedBounds,
    /// Hashes of the final states reached (the JSON output counts them).
    pub final_states: Vec<u64>,
}

/// A property with its trace's schedule.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SavedReport {
    pub property: String,
    pub severity: Severity,
    pub message: String,
    pub schedule: String,
    pub steps: usize,
    pub preemptions: usize,
    pub occurrences: u64,
}

/// What the stateful search did after DPOR's budget ([`Completion`]).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SavedCompletion {
    pub stats: Stats,
    pub traced: Vec<String>,
}

/// The bounds a check ran with.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SavedBounds {
    pub max_depth: usize,
    pub max_executions: Option<u64>,
    pub max_time_secs: Option<u64>,
    pub max_memory_mib: Option<u64>,
    pub max_address_space_mib: Option<u64>,
    pub max_preemptions: Option<u32>,
}

impl From<&explore::Bounds> for SavedBounds {
    fn from(b: &explore::Bounds) -> Self {
        SavedBounds {
            max_depth: b.max_depth,
            max_executions: b.max_executions,
            max_time_secs: b.max_time.map(|t| t.as_secs()),
            max_memory_mib: b.max_memory_mib,
            max_address_space_mib: b.max_address_space_mib,
            max_preemptions: b.max_preemptions,
        }
    }
}

impl SavedBounds {
    pub fn bounds(&self) -> explore::Bounds {
        explore::Bounds {
            max_depth: self.max_depth,
            max_executions: self.max_executions,
            max_time: self.max_time_secs.map(std::time::Duration::from_secs),
            max_memory_mib: self.max_memory_mib,
            max_address_space_mib: self.max_address_space_mib,
            max_preemptions: self.max_preemptions,
            interrupt: None,
        }
    }
}

impl SavedCheck {
    /// The record of check `c` of scenario `sc`, run within `bounds`.
    pub fn of(sc: &Scenario, c: &Check, bounds: &explore::Bounds) -> SavedCheck {
        SavedCheck {
            scenario_path: sc.path.display().to_string(),
            scenario_sha256: sc.hash.clone(),
            preset: c.preset.clone(),
            verdict: c.verdict,
            strategy: c.outcome.strategy,
            stats: c.outcome.stats.clone(),
            stopped_by: c.outcome.stopped_by.clone(),
            reports: c
                .outcome
                .reports
                .iter()
                .map(|r| SavedReport {
                    property: r.property.to_string(),
                    severity: r.severity,
                    message: r.message.clone(),
                    schedule: format_schedule(&r.schedule),
                    steps: r.steps,
                    preemptions: r.preemptions,
                    occurrences: r.occurrences,
                })
                .collect(),
            completion: c.completion.as_ref().map(|d| SavedCompletion {
                stats: d.stats.clone(),
                traced: d.traced.iter().map(|p| p.to_string()).collect(),
            }),
            bounds: SavedBounds::from(bounds),
            final_states: c.outcome.final_states.iter().copied().collect(),
        }
    }

    /// The check back, for scenario `sc` (whose hash must be the recorded one) under the
    /// recorded preset with `overrides`, as found by `search`; with the bounds it ran with.
    pub fn restore(
        &self,
        sc: &Scenario,
        overrides: &[(String, String)],
        search: Search,
    ) -> Result<(Check, explore::Bounds), String> {
        if sc.hash != self.scenario_sha256 {
            return Err(format!(
                "{}: the scenario file changed since the checkpoint was written",
                sc.path.display()
            ));
        }
        let kernel = sc.kernel(&self.preset, overrides)?;
        let mut reports = Vec::new();
        for r in &self.reports {
            reports.push(PropertyReport {
                property: intern(&r.property),
                severity: r.severity,
                message: r.message.clone(),
                schedule: parse_schedule(&r.schedule)?,
                steps: r.steps,
                preemptions: r.preemptions,
                occurrences: r.occurrences,
            });
        }
        let check = Check {
            scenario: sc.name.clone(),
            preset: self.preset.clone(),
            kernel,
            outcome: Outcome {
                strategy: self.strategy,
                stats: self.stats.clone(),
                reports,
                stopped_by: self.stopped_by.clone(),
                final_states: self.final_states.iter().copied().collect(),
            },
            verdict: self.verdict,
            search,
            completion: self.completion.as_ref().map(|d| Completion {
                stats: d.stats.clone(),
                traced: d.traced.iter().map(|p| intern(p)).collect(),
            }),
        };
        Ok((check, self.bounds.bounds()))
    }
}

/// A property name read back from a file, as the `&'static str` reports carry: each
/// distinct name is kept once for the life of the process (a checkpoint is read at most
/// once per run, and its size is bounded: `input::MAX_CHECKPOINT_BYTES`).
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().expect("property names");
    if let Some(n) = names.get(name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(n);
    n
}
