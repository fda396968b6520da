//! The best trace of each property a search meets: candidates offered as findings occur (the
//! fewest steps, then the fewest preemptions), shortened to the causal past of the violating
//! step and confirmed by replay.

use super::PropertyReport;
use crate::access::{kinds_causal, AccessKind, Accesses};
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
    // The last position of each thread: a switch away from `s[i - 1]` at `i` counts when
    // that thread steps again at `i` or later.
    let mut last: Vec<usize> = Vec::new();
    for (i, &t) in s.iter().enumerate() {
        if last.len() <= t {
            last.resize(t + 1, 0);
        }
        last[t] = i;
    }
    (1..s.len())
        .filter(|&i| s[i] != s[i - 1] && last[s[i - 1]] >= i)
        .count()
}

/// The kinds of access that later kept events make of one object: enough to tell whether an
/// earlier access is causally before any of them ([`kinds_causal`] against each).
#[derive(Copy, Clone, Default)]
struct Later {
    /// One bit per kind other than a store of a constant ([`Later::bit`]).
    kinds: u8,
    /// The constant of a store, when exactly one constant is stored.
    set: Option<u16>,
    /// Stores of two or more different constants.
    sets: bool,
}

impl Later {
    fn bit(k: AccessKind) -> u8 {
        match k {
            AccessKind::Read => 1,
            AccessKind::Write => 2,
            AccessKind::Add => 4,
            AccessKind::IncUnlessZero => 8,
            AccessKind::Acquire => 16,
            AccessKind::Release => 32,
            AccessKind::Set(_) => 0,
        }
    }

    fn add(&mut self, k: AccessKind) {
        match k {
            AccessKind::Set(v) => match self.set {
                Some(w) if w != v => self.sets = true,
                _ => self.set = Some(v),
            },
            k => self.kinds |= Self::bit(k),
        }
    }

    /// Whether an access of kind `k` is causally before one of these ([`kinds_causal`]).
    fn after(&self, k: AccessKind) -> bool {
        let any_set = self.set.is_some();
        match k {
            // A store commutes only with a store of the same constant.
            AccessKind::Set(v) => self.kinds != 0 || self.sets || self.set.is_some_and(|w| w != v),
            // Reads commute with reads, adds with adds, increments-unless-zero with each
            // other; everything else orders.
            AccessKind::Read | AccessKind::Add | AccessKind::IncUnlessZero => {
                any_set || self.kinds & !Self::bit(k) != 0
            }
            AccessKind::Write | AccessKind::Acquire | AccessKind::Release => {
                any_set || self.kinds != 0
            }
        }
    }
}

/// Offers the findings of step `rec`, the last of the path's `n` steps (`event(j)`: the
/// thread and accesses of step `j`) and of `schedule`, with the trace of its causal past.
pub(super) fn record_findings<'a>(
    n: usize,
    event: impl Fn(usize) -> (Tid, &'a Accesses),
    schedule: &[Tid],
    rec: &StepRecord,
    cands: &mut BTreeMap<&'static str, Candidate>,
) {
    // The causal past of the step: the events it depends on, transitively (a release
    // orders a later acquire here). Running only those reaches the same step. An event is
    // kept when a later kept event is of its thread or one of its accesses is causally
    // before one of a later kept event's: one pass backwards, with the threads and the
    // per-object kinds of the events kept so far.
    let last = n - 1;
    // The trace holds at least the step's own thread's steps (program order): where every
    // finding already has a shorter trace, this one cannot be better — count the
    // occurrences and leave the causal past uncomputed.
    let own = event(last).0;
    let at_least = (0..n).filter(|&j| event(j).0 == own).count();
    if rec.findings.iter().all(|f| {
        cands
            .get(f.property)
            .is_some_and(|c| c.report.steps < at_least)
    }) {
        for f in &rec.findings {
            if let Some(c) = cands.get_mut(f.property) {
                c.report.occurrences += 1;
            }
        }
        return;
    }
    let mut keep = vec![false; n];
    let mut threads: u128 = 0;
    let mut later: Vec<Later> = Vec::new();
    let note = |acc: &Accesses, later: &mut Vec<Later>| {
        for a in acc.as_slice() {
            let o = a.obj.0 as usize;
            if later.len() <= o {
                later.resize(o + 1, Later::default());
            }
            later[o].add(a.kind);
        }
    };
    for j in (0..n).rev() {
        let (t, acc) = event(j);
        keep[j] = j == last
            || threads & (1 << t) != 0
            || acc
                .as_slice()
                .iter()
                .any(|a| later.get(a.obj.0 as usize).is_some_and(|l| l.after(a.kind)));
        if keep[j] {
            threads |= 1 << t;
            note(acc, &mut later);
        }
    }
    let closure = linearize(n, &event, &keep);
    for f in &rec.findings {
        offer_found(cands, f, &closure, schedule, false);
    }
}

/// Orders the kept events respecting program order and causal order, staying on one thread
/// as long as it can (fewer preemptions): of the events whose predecessors (the thread's
/// previous kept event, and every earlier kept event causally before it) are placed, the
/// next one of the thread placed last, else the earliest.
fn linearize<'a>(
    n: usize,
    event: &impl Fn(usize) -> (Tid, &'a Accesses),
    keep: &[bool],
) -> Vec<Tid> {
    let idx: Vec<usize> = (0..n).filter(|&i| keep[i]).collect();
    let m = idx.len();
    // Successors of each kept event and how many predecessors each waits for. Per object,
    // the kept events that touched it so far and how: a predecessor is any of them with a
    // kind causally before this event's kind.
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); m];
    let mut waits = vec![0usize; m];
    let mut by_obj: Vec<Vec<(usize, AccessKind)>> = Vec::new();
    let mut last_of_thread: Vec<Option<usize>> = Vec::new();
    let mut stamp = vec![usize::MAX; m];
    for (a, &i) in idx.iter().enumerate() {
        let (t, acc) = event(i);
        if last_of_thread.len() <= t {
            last_of_thread.resize(t + 1, None);
        }
        let mut pred = |b: usize, succ: &mut Vec<Vec<usize>>, waits: &mut Vec<usize>| {
            if stamp[b] != a {
                stamp[b] = a;
                succ[b].push(a);
                waits[a] += 1;
            }
        };
        if let Some(b) = last_of_thread[t] {
            pred(b, &mut succ, &mut waits);
        }
        for x in acc.as_slice() {
            let o = x.obj.0 as usize;
            if by_obj.len() <= o {
                by_obj.resize(o + 1, Vec::new());
            }
            for &(b, k) in &by_obj[o] {
                if kinds_causal(k, x.kind) {
                    pred(b, &mut succ, &mut waits);
                }
            }
        }
        for x in acc.as_slice() {
            by_obj[x.obj.0 as usize].push((a, x.kind));
        }
        last_of_thread[t] = Some(a);
    }
    // The ready events per thread, earliest first.
    let threads = last_of_thread.len();
    let mut ready: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); threads];
    for a in (0..m).filter(|&a| waits[a] == 0) {
        ready[event(idx[a]).0].insert(a);
    }
    let mut out = Vec::with_capacity(m);
    let mut cur: Option<Tid> = None;
    while out.len() < m {
        let pick = cur
            .and_then(|t| ready[t].first().copied())
            .or_else(|| ready.iter().filter_map(|r| r.first().copied()).min())
            .expect("a causal order always has a ready event");
        let t = event(idx[pick]).0;
        ready[t].remove(&pick);
        for &s in &succ[pick] {
            waits[s] -= 1;
            if waits[s] == 0 {
                ready[event(idx[s]).0].insert(s);
            }
        }
        cur = Some(t);
        out.push(t);
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

/// [`offer`] of finding `f` with the trace `trace`, found on the execution `full` — the
/// report and the copies made only when the trace is better than the one kept (otherwise
/// only the occurrence is counted, as `offer` would).
pub(super) fn offer_found(
    cands: &mut BTreeMap<&'static str, Candidate>,
    f: &Finding,
    trace: &[Tid],
    full: &[Tid],
    at_end: bool,
) {
    if f.property == crate::RETRY_CUT {
        // Not a property: the search counts the cut (its result is incomplete).
        return;
    }
    if let Some(c) = cands.get_mut(f.property) {
        let steps = trace.len();
        if steps > c.report.steps
            || (steps == c.report.steps && switch_count(trace) >= c.report.preemptions)
        {
            c.report.occurrences += 1;
            return;
        }
    }
    offer(cands, report_of(f, trace), full.to_vec(), at_end);
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
        offer_found(cands, f, schedule, schedule, true);
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
