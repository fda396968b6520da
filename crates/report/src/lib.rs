//! `report`: how pvmm shows its verdicts to people and machines.
//!
//! * [`svg`]: a trace as a swimlane diagram — one lane per thread with its kernel call stack,
//!   arrows for lock hand-overs and frozen refcounts, the page state as a strip under the
//!   lanes, the violating step marked and explained in one sentence.
//! * [`html`]: self-contained HTML pages (no network fetches) with those diagrams and summary
//!   cards for verified checks.
//! * [`json`]: the versioned JSON output model (`--format json`); its schema is
//!   `docs/json-schema/pvmm-output.v1.schema.json`.
//! * [`matrix`]: the matrix as an HTML page, with a page per violating cell.
//! * [`state`]: the per-step page state, by replaying a schedule on the model.
//!
//! This crate only renders: it never decides a verdict.

#![forbid(unsafe_code)]

pub mod html;
pub mod json;
pub mod matrix;
pub mod state;
pub mod svg;

use checker::{Check, Scenario, Verdict};
use explore::{PropertyReport, Replay, Severity};
use kernel::KernelModel;

/// What each property means, in one clause (for explanations).
pub fn property_text(p: &str) -> &'static str {
    kernel::vocab::properties::by_id(p)
        .map(|s| s.meaning)
        .unwrap_or("the property must hold")
}

/// The step at which `property` is found in `r`, and the one sentence that explains it.
pub fn mark(r: &Replay, property: &str) -> svg::Mark {
    for s in &r.steps {
        if let Some(f) = s.findings.iter().find(|f| f.property == property) {
            let tail: Vec<&str> = s.frames.iter().rev().take(3).rev().copied().collect();
            let wher = if tail.is_empty() {
                String::new()
            } else {
                format!(
                    " in {}{}",
                    if s.frames.len() > 3 { "… › " } else { "" },
                    tail.join(" › ")
                )
            };
            return svg::Mark {
                step: Some(s.index),
                property: property.to_string(),
                sentence: format!(
                    "At step {}, T{} ({}) runs {}{} and breaks {} ({}): {}.",
                    s.index,
                    s.tid,
                    s.thread,
                    s.op,
                    wher,
                    property,
                    property_text(property),
                    f.message.trim_end_matches('.')
                ),
            };
        }
    }
    let msg = r
        .end_findings
        .iter()
        .find(|f| f.property == property)
        .map(|f| f.message.clone())
        .unwrap_or_else(|| "not reproduced by this schedule".to_string());
    svg::Mark {
        step: None,
        property: property.to_string(),
        sentence: format!(
            "At the end of the execution ({} steps), {} fails ({}): {}.",
            r.steps.len(),
            property,
            property_text(property),
            msg.trim_end_matches('.')
        ),
    }
}

/// The first violated property of a replay (for `pvmm replay --svg`), if any.
pub fn first_violation(r: &Replay) -> Option<&'static str> {
    r.findings()
        .find(|f| f.severity == Severity::Violation)
        .map(|f| f.property)
}

/// The swimlane diagram of one replay, `property` marked (when given).
pub fn diagram_svg(model: &KernelModel, r: &Replay, title: &str, property: Option<&str>) -> String {
    let track = state::track(model, r);
    svg::Diagram {
        title: title.to_string(),
        replay: r,
        track: &track,
        mark: property.map(|p| mark(r, p)),
        standalone: true,
    }
    .render()
}

/// A property report with its replayed trace and, for a violation, the trace file written.
pub struct Traced<'a> {
    pub report: &'a PropertyReport,
    pub replay: Replay,
    pub trace_file: Option<String>,
}

/// The trace of a replay for the report page (`property` marked, when given).
#[allow(clippy::too_many_arguments)]
pub fn violation_view(
    model: &KernelModel,
    r: &Replay,
    title: &str,
    property: Option<&str>,
    severity: Severity,
    message: &str,
    schedule: &str,
    shortest: Option<(usize, usize, u64)>,
    replay_command: String,
) -> html::ViolationView {
    let m = property.map(|p| mark(r, p));
    let track = state::track(model, r);
    let d = svg::Diagram {
        title: title.to_string(),
        replay: r,
        track: &track,
        mark: m.clone(),
        standalone: false,
    };
    html::ViolationView {
        property: property.unwrap_or("none").to_string(),
        severity,
        message: message.to_string(),
        sentence: m.as_ref().map(|m| m.sentence.clone()).unwrap_or_else(|| {
            format!(
                "No property is violated along this schedule ({} steps).",
                r.steps.len()
            )
        }),
        marked_step: m.as_ref().and_then(|m| m.step),
        svg: d.render(),
        steps: json::steps(r),
        end_findings: r
            .end_findings
            .iter()
            .map(|f| format!("{}: {}", f.property, f.message))
            .collect(),
        schedule: schedule.to_string(),
        shortest,
        replay_command,
    }
}

/// Whether the check matches the scenario's expectation, as shown in tables: `yes`, `NO`,
/// `unknown` (the search stopped before the end and found nothing that contradicts it), `-`
/// (no expectation).
pub fn expected_text(sc: &Scenario, c: &Check) -> &'static str {
    if !sc.expect.contains_key(&c.preset) {
        return "-";
    }
    match c.status(sc) {
        checker::Status::AsExpected => "yes",
        checker::Status::Unexpected => "NO",
        checker::Status::Incomplete => "unknown",
    }
}

/// The summary card of a check: executions, equivalence classes, time, bounds.
pub fn summary_card(c: &Check, bounds: &explore::Bounds) -> Vec<(String, String)> {
    let o = &c.outcome;
    let s = &o.stats;
    let mut v = vec![
        ("verdict".to_string(), c.verdict_text()),
        ("executions".to_string(), s.executions.to_string()),
        (
            "equivalence classes".to_string(),
            match o.strategy {
                _ if c.completion.is_some() => "n/a (DPOR did not finish)".to_string(),
                // Its "executions" are the end states it reached, each once.
                _ if matches!(c.search, checker::Search::Stateful { .. }) => {
                    "n/a (stateful search)".to_string()
                }
                // Sleep sets: no two explored complete executions are equivalent.
                explore::Strategy::Dpor => s.executions.to_string(),
                explore::Strategy::Naive => "n/a (naive)".to_string(),
                #[allow(unreachable_patterns)]
                _ => "n/a".to_string(),
            },
        ),
        ("pruned (sleep sets)".to_string(), s.pruned.to_string()),
        (
            "distinct final states".to_string(),
            o.final_states.len().to_string(),
        ),
        ("time".to_string(), format!("{:.2}s", s.elapsed_secs)),
    ];
    if let checker::Search::Stateful { jobs } = c.search {
        v.push((
            "stateful search".to_string(),
            format!(
                "{} states, {} transitions ({jobs} job{}); executions: end states reached; \
                 traces not necessarily the shortest",
                s.states,
                s.transitions,
                if jobs == 1 { "" } else { "s" }
            ),
        ));
    }
    if let Some(done) = &c.completion {
        v.push((
            "finished by the stateful search".to_string(),
            format!(
                "{} states, {} transitions, {:.2}s (DPOR's executions did not finish the check)",
                done.stats.states, done.stats.transitions, done.stats.elapsed_secs
            ),
        ));
    }
    v.extend([
        (
            "rate".to_string(),
            format!("{:.0} exec/s", s.executions_per_sec()),
        ),
        (
            "deepest execution".to_string(),
            format!("{} steps", s.max_depth_seen),
        ),
        ("bounds".to_string(), bounds_text(bounds)),
        ("search".to_string(), checker::bound_text(&o.stopped_by)),
    ]);
    if c.verdict == Verdict::Verified {
        v.push((
            "verified".to_string(),
            "every interleaving within the bounds".to_string(),
        ));
    }
    v
}

/// Bounds for humans: `max depth 2000 · max-time 60s · …`.
pub fn bounds_text(b: &explore::Bounds) -> String {
    let mut v = vec![format!("depth {}", b.max_depth)];
    if let Some(n) = b.max_executions {
        v.push(format!("executions {n}"));
    }
    if let Some(t) = b.max_time {
        v.push(format!("time {}s", t.as_secs()));
    }
    if let Some(p) = b.max_preemptions {
        v.push(format!("preemptions {p}"));
    }
    if let Some(m) = b.max_memory_mib {
        v.push(format!("memory {m} MiB"));
    }
    if let Some(m) = b.max_address_space_mib {
        v.push(format!("address space {m} MiB"));
    }
    v.join(" · ")
}

/// The HTML section of one check.
pub fn check_section(
    sc: &Scenario,
    c: &Check,
    bounds: &explore::Bounds,
    traced: &[Traced<'_>],
) -> html::Section {
    let model = sc.model(c.kernel.clone());
    let mut violations = Vec::new();
    let mut observations = Vec::new();
    for t in traced {
        let r = t.report;
        if r.severity == Severity::Observation {
            observations.push(format!("{}: {}", r.property, r.message));
            continue;
        }
        let schedule = explore::format_schedule(&r.schedule);
        let cmd = match &t.trace_file {
            Some(f) => format!("pvmm replay {f}"),
            None => format!(
                "pvmm replay {} --kernel {} --schedule {schedule}",
                sc.path.display(),
                c.preset
            ),
        };
        violations.push(violation_view(
            &model,
            &t.replay,
            &format!("{} on {}: {}", sc.name, c.preset, r.property),
            Some(r.property),
            r.severity,
            &r.message,
            &schedule,
            // A stateful search's trace is not necessarily the shortest: none claimed.
            (!c.stateful_trace(r.property)).then_some((r.steps, r.preemptions, r.occurrences)),
            cmd,
        ));
    }
    html::Section {
        scenario: sc.name.clone(),
        preset: c.preset.clone(),
        verdict: c.verdict.to_string(),
        expected: expected_text(sc, c).to_string(),
        card: summary_card(c, bounds),
        violations,
        observations,
        notes: Vec::new(),
    }
}

/// The JSON result of one check.
pub fn check_result(
    sc: &Scenario,
    c: &Check,
    bounds: &explore::Bounds,
    traced: &[Traced<'_>],
) -> json::CheckResult {
    let o = &c.outcome;
    json::CheckResult {
        scenario: sc.name.clone(),
        scenario_path: sc.path.display().to_string(),
        preset: c.preset.clone(),
        kernel: c.kernel.describe(),
        verdict: c.verdict,
        expected: sc.expect.get(&c.preset).map(|e| json::Expected {
            verdict: e.verdict,
            properties: e.properties.clone(),
        }),
        as_expected: c.matches(sc),
        status: match c.status(sc) {
            checker::Status::AsExpected => "as-expected",
            checker::Status::Unexpected => "unexpected",
            checker::Status::Incomplete => "incomplete",
        },
        strategy: o.strategy,
        search: match (&c.completion, c.search) {
            (Some(_), _) => "stateless, then stateful",
            (None, checker::Search::Stateful { .. }) => "stateful",
            (None, _) => "stateless",
        }
        .to_string(),
        stats: json::StatsOut {
            executions: o.stats.executions,
            pruned: o.stats.pruned,
            steps: o.stats.steps,
            max_depth_seen: o.stats.max_depth_seen,
            elapsed_secs: o.stats.elapsed_secs,
            executions_per_sec: o.stats.executions_per_sec(),
            final_states: o.final_states.len(),
            states: o.stats.states,
            transitions: o.stats.transitions,
        },
        bounds: bounds.into(),
        stopped_by: o.stopped_by.as_ref().map(|b| b.to_string()),
        findings: traced
            .iter()
            .map(|t| json::FindingOut {
                property: t.report.property.to_string(),
                severity: t.report.severity,
                message: t.report.message.clone(),
                schedule: explore::format_schedule(&t.report.schedule),
                steps: t.report.steps,
                preemptions: t.report.preemptions,
                occurrences: t.report.occurrences,
                trace_file: t.trace_file.clone(),
                trace: json::steps(&t.replay),
                end_findings: t
                    .replay
                    .end_findings
                    .iter()
                    .map(json::TraceFindingOut::from)
                    .collect(),
            })
            .collect(),
    }
}
