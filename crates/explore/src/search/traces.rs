//! The best trace of each property a search meets: candidates offered as findings occur (the
//! fewest steps, then the fewest preemptions), shortened to the causal past of the violating
//! step and confirmed by replay.

use super::PropertyReport;
use crate::access::Accesses;
use crate::runtime::{end_findings, Execution, Finding, Model, Severity, StepRecord, Tid};
use std::collections::{BTreeMap, BTreeSet};

/// The best trace of one property so far.
pub(super) struct Candidate {
    /// The property's report, with the trace offered (shortened, not yet confirmed).
    pub(super) report: PropertyReport,
    /// The whole schedule of the execution the trace came from (the fallback when the
    /// shortened one does not reproduce the finding).
    pub(super) full: Vec<Tid>,
    /// The finding came from the end-of-execution check (its trace is a whole execution).
    pub(super) at_end: bool,
}

/// Whether `a`'s trace is better than `b`'s: fewer steps, then fewer preemptions.
fn better(a: &PropertyReport, b: &PropertyReport) -> bool {
    (a.steps, a.preemptions) < (b.steps, b.preemptions)
}

/// Counts switches away from a thread that still has steps later in the schedule: a cheap
/// stand-in for preemptions until a candidate is replayed.
fn switch_count(s: &[Tid]) -> usize {
    let mut n = 0;
    for i in 1..s.len() {
        if s[i] != s[i - 1] && s[i..].contains(&s[i - 1]) {
            n += 1;
        }
    }
    n
}

/// Offers the findings of step `rec`, the last of `events` (the path's steps: thread and
/// accesses) and of `schedule`, with the trace of its causal past.
pub(super) fn record_findings(
    events: &[(Tid, Accesses)],
    schedule: &[Tid],
    rec: &StepRecord,
    cands: &mut BTreeMap<&'static str, Candidate>,
) {
    // The causal past of the step: the events it depends on, transitively (a release
    // orders a later acquire here). Running only those reaches the same step.
    let n = events.len() - 1;
    let mut keep = vec![false; n + 1];
    keep[n] = true;
    for j in (0..n).rev() {
        keep[j] = (j + 1..=n).any(|k| {
            keep[k] && (events[k].0 == events[j].0 || events[j].1.causally_before(&events[k].1))
        });
    }
    let closure = linearize(events, &keep);
    for f in &rec.findings {
        offer(cands, report_of(f, &closure), schedule.to_vec(), false);
    }
}

/// Orders the kept events respecting program order and causal order, staying on one thread
/// as long as it can (fewer preemptions).
fn linearize(events: &[(Tid, Accesses)], keep: &[bool]) -> Vec<Tid> {
    let idx: Vec<usize> = (0..events.len()).filter(|&i| keep[i]).collect();
    let mut placed = vec![false; idx.len()];
    let mut out = Vec::with_capacity(idx.len());
    let ready = |a: usize, placed: &[bool]| {
        (0..a).all(|b| {
            placed[b]
                || !(events[idx[b]].0 == events[idx[a]].0
                    || events[idx[b]].1.causally_before(&events[idx[a]].1))
        })
    };
    let mut cur: Option<Tid> = None;
    while out.len() < idx.len() {
        let pick = (0..idx.len())
            .filter(|&a| !placed[a] && ready(a, &placed))
            .min_by_key(|&a| (Some(events[idx[a]].0) != cur, a))
            .expect("a causal order always has a ready event");
        placed[pick] = true;
        cur = Some(events[idx[pick]].0);
        out.push(events[idx[pick]].0);
    }
    out
}

/// Offers a property's `report` found on the execution `full`: counted as one more
/// occurrence, and kept when its trace is better than the one kept so far.
pub(super) fn offer(
    cands: &mut BTreeMap<&'static str, Candidate>,
    report: PropertyReport,
    full: Vec<Tid>,
    at_end: bool,
) {
    match cands.get_mut(report.property) {
        Some(c) => {
            c.report.occurrences += 1;
            if better(&report, &c.report) {
                let occ = c.report.occurrences;
                c.report = report;
                c.report.occurrences = occ;
                c.full = full;
                c.at_end = at_end;
            }
        }
        None => {
            cands.insert(
                report.property,
                Candidate {
                    report,
                    full,
                    at_end,
                },
            );
        }
    }
}

/// An execution on `schedule` reached a state with no enabled thread: records its final
/// state (marked when threads are stuck) and offers what its end reports
/// ([`end_findings`]).
pub(super) fn end_of_execution<M: Model>(
    model: &M,
    ex: &Execution<M::World>,
    schedule: &[Tid],
    cands: &mut BTreeMap<&'static str, Candidate>,
    final_states: &mut BTreeSet<u64>,
) {
    let h = ex.with_world(|w| model.state_hash(w));
    final_states.insert(if ex.all_finished() { h } else { h ^ 0xdead });
    for f in &end_findings(model, ex) {
        offer(cands, report_of(f, schedule), schedule.to_vec(), true);
    }
}

/// The report of finding `f` met on `schedule` (one occurrence).
pub(super) fn report_of(f: &Finding, schedule: &[Tid]) -> PropertyReport {
    PropertyReport {
        property: f.property,
        severity: f.severity,
        message: f.message.clone(),
        steps: schedule.len(),
        preemptions: switch_count(schedule),
        schedule: schedule.to_vec(),
        occurrences: 1,
    }
}

/// Confirms a candidate's (reordered) schedule by replaying it; falls back to the full
/// schedule of the execution it came from when the reordering does not reproduce it.
pub(super) fn finalize<M: Model>(model: &M, c: Candidate) -> PropertyReport {
    let mut r = c.report;
    if !c.at_end {
        if let Some(pre) = reproduces(model, &r.schedule, r.property) {
            r.preemptions = pre;
            return r;
        }
        let n = c.full.len();
        r.schedule = c.full;
        r.steps = n;
    }
    if let Some(pre) = crate::replay::preemptions(model, &r.schedule) {
        r.preemptions = pre;
    }
    r
}

/// Replays `schedule`; returns its preemption count if its last step reports `property`.
fn reproduces<M: Model>(model: &M, schedule: &[Tid], property: &str) -> Option<usize> {
    let mut ex = Execution::start(model.instance(), false);
    let mut pre = 0;
    for (i, &t) in schedule.iter().enumerate() {
        if t >= ex.threads() || !ex.enabled(t) {
            return None;
        }
        if i > 0 {
            let p = schedule[i - 1];
            if p != t && ex.enabled(p) {
                pre += 1;
            }
        }
        let rec = ex.step(t);
        if i + 1 == schedule.len() {
            return rec
                .findings
                .iter()
                .any(|f| f.property == property)
                .then_some(pre);
        }
        if rec.findings.iter().any(|f| f.fatal) {
            return None;
        }
    }
    None
}

/// The violated properties among the candidates, sorted (for progress).
pub(super) fn violated(cands: &BTreeMap<&'static str, Candidate>) -> Vec<&'static str> {
    cands
        .values()
        .filter(|c| c.report.severity == Severity::Violation)
        .map(|c| c.report.property)
        .collect()
}
