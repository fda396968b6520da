//! `pvmm replay`: one interleaving with its full trace, as text, JSON, SVG or HTML.

use crate::cli::{Format, ReplayArgs};
use crate::common::*;
use checker::text::escape;
use checker::trace::{self, ReplayVerdict, TraceFile};
use explore::{parse_schedule, Replay, Severity};
use report::json::{self, Difference, ReplayDoc, TraceFindingOut};
use std::path::{Path, PathBuf};

/// What was replayed, for the outputs.
struct Replayed {
    sc: checker::Scenario,
    preset: String,
    kernel: kernel::Kernel,
    model: kernel::KernelModel,
    schedule: String,
    replay: Replay,
    trace_file: Option<TraceFile>,
    check: Option<trace::ReplayCheck>,
}

pub fn run(a: ReplayArgs) -> u8 {
    let overrides = match parse_sets(&a.common.sets) {
        Ok(o) => o,
        Err(e) => return bad(e),
    };
    if let Err(e) = check_presets(&a.common.kernels) {
        return bad(e);
    }
    let is_trace = a.input.extension().is_some_and(|e| e == "json");
    let r = if is_trace {
        let (tf, text): (TraceFile, String) = match trace::read_trace(&a.input) {
            Ok(t) => t,
            Err(e) => return bad(e),
        };
        let path = match &a.scenario {
            Some(p) => p.clone(),
            None => match trace::find_scenario(&a.input, &tf) {
                Ok(p) => p,
                // No such file: the scenario built into this binary that the trace names
                // (`scenarios/NAME.toml`, written by a check of a built-in scenario).
                Err(_) if is_builtin_scenario(Path::new(&tf.scenario_path)) => {
                    PathBuf::from(&tf.scenario_path)
                }
                Err(e) => return bad(e),
            },
        };
        let mut sc = match load_scenario(&path) {
            Ok(s) => s,
            Err(e) => return bad(e),
        };
        if let Err(e) = trace::check_trace_against(&a.input, &text, &tf, &sc) {
            return bad(e);
        }
        if let Some(n) = a.common.max_spins.or(tf.max_spins) {
            sc.set_max_spins(n);
        }
        if let Some(n) = a.common.max_retries.or(tf.max_retries) {
            sc.set_max_retries(n);
        }
        let mut ov = tf.overrides.clone();
        ov.extend(overrides);
        let k = match sc.kernel(&tf.preset, &ov) {
            Ok(k) => k,
            Err(e) => return bad(e),
        };
        let model = sc.model(k.clone());
        let rc = match trace::replay_file(&sc, &tf, &model) {
            Ok(r) => r,
            Err(e) => return bad(format!("{}: {e}", a.input.display())),
        };
        Replayed {
            preset: tf.preset.clone(),
            kernel: k,
            model,
            schedule: tf.schedule.clone(),
            replay: rc.replay.clone(),
            sc,
            trace_file: Some(tf),
            check: Some(rc),
        }
    } else {
        let Some(sched) = a.schedule.as_deref() else {
            return bad("replay of a scenario needs --schedule (or give a trace file)");
        };
        let schedule = match parse_schedule(sched) {
            Ok(s) => s,
            Err(e) => return bad(format!("--schedule: {e}")),
        };
        let mut sc = match load_scenario(&a.input) {
            Ok(s) => s,
            Err(e) => return bad(e),
        };
        if let Some(n) = a.common.max_spins {
            sc.set_max_spins(n);
        }
        if let Some(n) = a.common.max_retries {
            sc.set_max_retries(n);
        }
        let preset = a
            .common
            .kernels
            .first()
            .cloned()
            .unwrap_or_else(|| sc.presets[0].clone());
        let k = match sc.kernel(&preset, &overrides) {
            Ok(k) => k,
            Err(e) => return bad(e),
        };
        let model = sc.model(k.clone());
        let replay = explore::replay(&model, &schedule);
        if let Some(e) = trace::schedule_error(&replay) {
            return bad(format!("--schedule: {e}"));
        }
        Replayed {
            sc,
            preset,
            kernel: k,
            model,
            schedule: sched.trim().to_string(),
            replay,
            trace_file: None,
            check: None,
        }
    };
    let code = exit_code(&r);
    if let (None, Some(d)) = (&r.check, &r.replay.diverged) {
        eprintln!(
            "error: --schedule does not fit the scenario: {}",
            escape(&d.to_string())
        );
    }
    let property: Option<String> = match &r.trace_file {
        Some(tf) => Some(tf.property.clone()),
        None => report::first_violation(&r.replay).map(str::to_string),
    };
    let title = format!(
        "{} on {}{}",
        r.sc.name,
        r.preset,
        property
            .as_deref()
            .map(|p| format!(": {p}"))
            .unwrap_or_default()
    );
    if let Some(svg_path) = &a.svg {
        let svg = report::diagram_svg(&r.model, &r.replay, &title, property.as_deref());
        if let Err(e) = write_file(svg_path, &svg) {
            return bad(e);
        }
    }
    if let Some(html_path) = &a.report {
        let page = html_page(&r, &title, property.as_deref(), &a.input);
        if let Err(e) = write_file(html_path, &page) {
            return bad(e);
        }
    }
    match a.format {
        Format::Json => print!("{}", json::to_string(&doc(&r, &a.input, code))),
        Format::Text => text(&r, &a.input),
    }
    code
}

/// 0: the trace file's recording happened again (the same steps and property; the scenario
/// text may have changed), or a schedule ran without a violation; 1: the recording did not
/// happen again (another trace, or not the property), or the schedule reaches a violation;
/// 2: a schedule that does not fit the scenario (a thread finished or blocked at a step).
fn exit_code(r: &Replayed) -> u8 {
    match &r.check {
        Some(rc) => match rc.verdict() {
            ReplayVerdict::Identical | ReplayVerdict::SameStepsScenarioChanged => EXIT_OK,
            ReplayVerdict::ReproducedDifferently | ReplayVerdict::NotReproduced => EXIT_VIOLATION,
        },
        None => {
            if r.replay.diverged.is_some() {
                EXIT_BAD_INPUT
            } else if r
                .replay
                .findings()
                .any(|f| f.severity == Severity::Violation)
            {
                EXIT_VIOLATION
            } else {
                EXIT_OK
            }
        }
    }
}

fn text(r: &Replayed, input: &std::path::Path) {
    match (&r.trace_file, &r.check) {
        (Some(tf), Some(rc)) => {
            println!(
                "replay of {} ({} on {}, property {}), schedule {}",
                escape(&input.display().to_string()),
                escape(&tf.scenario),
                escape(&tf.preset),
                escape(&tf.property),
                escape(&tf.schedule)
            );
            print!("{}", trace::render(&rc.replay));
            if let Some((step, was, now)) = &rc.first_difference {
                println!(
                    "DIFFERS at step {step}:\n  recorded: {}\n  now:      {}",
                    escape(was),
                    escape(now)
                );
            }
            println!("{}", escape(&rc.summary(tf)));
        }
        _ => {
            println!(
                "replay of {} on {}, schedule {}",
                escape(&r.sc.name),
                r.preset,
                r.schedule
            );
            print!("{}", trace::render(&r.replay));
        }
    }
}

fn doc(r: &Replayed, input: &std::path::Path, code: u8) -> ReplayDoc {
    ReplayDoc {
        header: json::Header::new("replay"),
        scenario: r.sc.name.clone(),
        scenario_path: r.sc.path.display().to_string(),
        preset: r.preset.clone(),
        kernel: r.kernel.describe(),
        schedule: r.schedule.clone(),
        trace_file: r.trace_file.as_ref().map(|_| input.display().to_string()),
        property: r.trace_file.as_ref().map(|t| t.property.clone()),
        threads: r.replay.threads.clone(),
        steps: json::steps(&r.replay),
        preemptions: r.replay.preemptions,
        diverged: r.replay.diverged.as_ref().map(|d| d.to_string()),
        end_findings: r
            .replay
            .end_findings
            .iter()
            .map(TraceFindingOut::from)
            .collect(),
        scenario_changed: r.check.as_ref().map(|c| c.scenario_changed),
        first_difference: r.check.as_ref().and_then(|c| {
            c.first_difference
                .as_ref()
                .map(|(step, recorded, now)| Difference {
                    step: *step,
                    recorded: recorded.clone(),
                    now: now.clone(),
                })
        }),
        reproduced: r.check.as_ref().map(|c| c.reproduced),
        exit_code: code,
    }
}

fn html_page(r: &Replayed, title: &str, property: Option<&str>, input: &std::path::Path) -> String {
    let (sev, msg) = match property.and_then(|p| r.replay.findings().find(|f| f.property == p)) {
        Some(f) => (f.severity, f.message.clone()),
        None => (
            Severity::Observation,
            "no violation in this replay".to_string(),
        ),
    };
    let cmd = match &r.trace_file {
        Some(_) => format!("pvmm replay {}", input.display()),
        None => format!(
            "pvmm replay {} --kernel {} --schedule {}",
            r.sc.path.display(),
            r.preset,
            r.schedule
        ),
    };
    let v = report::violation_view(
        &r.model,
        &r.replay,
        title,
        property,
        sev,
        &msg,
        &r.schedule,
        None,
        cmd,
    );
    let mut card = vec![
        ("steps".to_string(), r.replay.steps.len().to_string()),
        ("preemptions".to_string(), r.replay.preemptions.to_string()),
        ("threads".to_string(), r.replay.threads.len().to_string()),
    ];
    if let Some(d) = &r.replay.diverged {
        card.push(("diverged".to_string(), d.to_string()));
    }
    if let Some(rc) = &r.check {
        card.push((
            "recorded trace".to_string(),
            match rc.verdict() {
                ReplayVerdict::Identical => "identical".to_string(),
                ReplayVerdict::SameStepsScenarioChanged => {
                    "same steps, scenario text changed".to_string()
                }
                ReplayVerdict::ReproducedDifferently => "reproduced, trace differs".to_string(),
                ReplayVerdict::NotReproduced => "NOT reproduced".to_string(),
            },
        ));
    }
    let section = report::html::Section {
        scenario: r.sc.name.clone(),
        preset: r.preset.clone(),
        verdict: "replay".to_string(),
        expected: "-".to_string(),
        card,
        violations: vec![v],
        observations: Vec::new(),
        notes: Vec::new(),
    };
    report::html::page(
        &format!("pvmm replay: {title}"),
        &format!(
            "pvmm {} · schedule {}",
            env!("CARGO_PKG_VERSION"),
            r.schedule
        ),
        &[section],
    )
}
