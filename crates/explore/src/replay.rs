//! Replaying one interleaving from a schedule: the thread chosen at each step.
//!
//! A schedule is written as thread indices joined by dots (`0.0.1.1.0.2`). Replay records a
//! full trace (call stacks and state changes) and says plainly where a schedule no longer
//! fits the model (a thread that does not exist, has finished, or is blocked at that step).

use crate::runtime::{Execution, Finding, Model, Tid};
use std::fmt;

/// Parses `0.0.1.2` into thread indices.
pub fn parse_schedule(s: &str) -> Result<Vec<Tid>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split('.')
        .enumerate()
        .map(|(i, part)| {
            part.trim()
                .parse::<Tid>()
                .map_err(|_| format!("schedule element {} is `{part}`, not a thread index", i + 1))
        })
        .collect()
}

/// Formats thread indices as `0.0.1.2`.
pub fn format_schedule(s: &[Tid]) -> String {
    s.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// One step of a replayed trace.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceStep {
    /// The step's position in the schedule, from 1.
    pub index: usize,
    /// The thread that stepped.
    pub tid: Tid,
    /// Its name.
    pub thread: String,
    /// Model call stack, outermost first.
    pub frames: Vec<&'static str>,
    /// The operation's name.
    pub op: &'static str,
    /// What changed ("refcount 2 -> 0").
    pub note: String,
    /// The step preempted the thread before it, which could have gone on.
    pub preempted: bool,
    /// What the step reported.
    pub findings: Vec<TraceFinding>,
}

/// A finding as shown in a trace.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceFinding {
    /// The property ([`Finding::property`]).
    pub property: &'static str,
    /// How bad it is.
    pub severity: crate::runtime::Severity,
    /// What happened, in kernel terms.
    pub message: String,
}

impl From<&Finding> for TraceFinding {
    fn from(f: &Finding) -> Self {
        TraceFinding {
            property: f.property,
            severity: f.severity,
            message: f.message.clone(),
        }
    }
}

/// Why a replay stopped before the end of its schedule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Divergence {
    /// The schedule names a thread the model does not have.
    NoSuchThread {
        /// The schedule's step (from 1).
        step: usize,
        /// The thread it names.
        tid: Tid,
    },
    /// The schedule steps a thread that has finished.
    Finished {
        /// The schedule's step (from 1).
        step: usize,
        /// The thread's name.
        thread: String,
    },
    /// The schedule steps a thread whose next operation is not enabled.
    Blocked {
        /// The schedule's step (from 1).
        step: usize,
        /// The thread's name.
        thread: String,
        /// The operation it waits in.
        op: &'static str,
    },
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Divergence::NoSuchThread { step, tid } => {
                write!(f, "step {step}: the scenario has no thread {tid}")
            }
            Divergence::Finished { step, thread } => {
                write!(f, "step {step}: thread {thread} has already finished")
            }
            Divergence::Blocked { step, thread, op } => {
                write!(f, "step {step}: thread {thread} is blocked in `{op}`")
            }
        }
    }
}

/// A replayed execution.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Replay {
    /// The steps taken, in order.
    pub steps: Vec<TraceStep>,
    /// Where the schedule stopped fitting the model, if it did.
    pub diverged: Option<Divergence>,
    /// Findings of the end-of-execution check or of a blocked end (when the schedule ran
    /// every thread to its end or to a block).
    pub end_findings: Vec<TraceFinding>,
    /// The threads' names.
    pub threads: Vec<String>,
    /// Switches away from a thread that could have gone on.
    pub preemptions: usize,
}

impl Replay {
    /// Every finding, in order.
    pub fn findings(&self) -> impl Iterator<Item = &TraceFinding> {
        self.steps
            .iter()
            .flat_map(|s| s.findings.iter())
            .chain(self.end_findings.iter())
    }
}

/// Replays `schedule` with tracing on. A fatal finding ends the replay.
pub fn replay<M: Model>(model: &M, schedule: &[Tid]) -> Replay {
    let mut ex = Execution::start(model.instance(), true);
    let threads = ex.names.clone();
    let mut steps = Vec::with_capacity(schedule.len());
    let mut diverged = None;
    let mut preemptions = 0;
    let mut fatal = false;
    // The lasso check, as the searches run it: a schedule that ends where a fair cycle
    // closes ends in a `livelock`.
    use crate::search::lasso::{Closed, Path};
    let mut lasso = Path::default();
    let mut livelock = None;
    lasso.arrive(model, &ex, &[]);
    for (i, &t) in schedule.iter().enumerate() {
        let step = i + 1;
        if t >= ex.threads() {
            diverged = Some(Divergence::NoSuchThread { step, tid: t });
            break;
        }
        if ex.finished(t) {
            diverged = Some(Divergence::Finished {
                step,
                thread: threads[t].clone(),
            });
            break;
        }
        if !ex.enabled(t) {
            diverged = Some(Divergence::Blocked {
                step,
                thread: threads[t].clone(),
                op: ex.next_op(t).map(|o| o.0).unwrap_or("?"),
            });
            break;
        }
        let preempted = i > 0 && schedule[i - 1] != t && ex.enabled(schedule[i - 1]);
        preemptions += usize::from(preempted);
        let rec = ex.step(t);
        fatal = rec.findings.iter().any(|f| f.fatal);
        steps.push(TraceStep {
            index: step,
            tid: t,
            thread: threads[t].clone(),
            frames: rec.frames,
            op: rec.name,
            note: rec.note,
            preempted,
            findings: rec.findings.iter().map(TraceFinding::from).collect(),
        });
        if fatal {
            break;
        }
        // Only where the schedule ends: a schedule that goes on past a fair cycle (a
        // reordered trace of another finding) is replayed to its end.
        livelock = match lasso.arrive(model, &ex, &schedule[..step]) {
            Closed::Fair(f) => Some(f),
            _ => None,
        };
    }
    let mut end_findings = Vec::new();
    if let Some(f) = livelock.filter(|_| diverged.is_none() && !fatal && !schedule.is_empty()) {
        end_findings.push(TraceFinding::from(&f));
    } else if diverged.is_none() && !fatal && (0..ex.threads()).all(|t| !ex.enabled(t)) {
        end_findings = crate::runtime::end_findings(model, &ex)
            .iter()
            .map(TraceFinding::from)
            .collect();
    }
    Replay {
        steps,
        diverged,
        end_findings,
        threads,
        preemptions,
    }
}

/// Number of preemptions of a schedule, if it fits the model.
pub fn preemptions<M: Model>(model: &M, schedule: &[Tid]) -> Option<usize> {
    let mut ex = Execution::start(model.instance(), false);
    let mut n = 0;
    for (i, &t) in schedule.iter().enumerate() {
        if t >= ex.threads() || !ex.enabled(t) {
            return None;
        }
        if i > 0 && schedule[i - 1] != t && ex.enabled(schedule[i - 1]) {
            n += 1;
        }
        if ex.step(t).findings.iter().any(|f| f.fatal) {
            break;
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_round_trip() {
        let s = parse_schedule("0.0.1.12").unwrap();
        assert_eq!(s, vec![0, 0, 1, 12]);
        assert_eq!(format_schedule(&s), "0.0.1.12");
        assert!(parse_schedule("0.x").unwrap_err().contains("`x`"));
        assert!(parse_schedule("").unwrap().is_empty());
    }
}
