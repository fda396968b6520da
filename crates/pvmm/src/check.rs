//! `pvmm check`: verdict table, traces, trace files, HTML report, JSON.

use crate::cli::{CheckArgs, Format};
use crate::common::*;
use crate::progress::ProgressLine;
use crate::style::Style;
use checker::trace;
use checker::{bound_text, Check, RunOptions, Scenario, Search, Verdict, SEMANTICS};
use explore::{format_schedule, Severity, Strategy};
use report::Traced;
use std::path::Path;
use std::time::Duration;

pub fn run(a: CheckArgs) -> u8 {
    let mut files = a.scenarios.clone();
    if a.all {
        match scenario_files(&scenarios_dir(None)) {
            Ok(v) => files.extend(v),
            Err(e) => return bad(e),
        }
    }
    if files.is_empty() {
        return bad("name scenario files or use --all (see `pvmm list`)");
    }
    let overrides = match parse_sets(&a.common.sets) {
        Ok(o) => o,
        Err(e) => return bad(e),
    };
    if let Err(e) = check_presets(&a.common.kernels) {
        return bad(e);
    }
    let search = if a.stateful {
        if a.max_preemptions.is_some() {
            return bad(
                "--stateful: no preemption bound (--max-preemptions) in the stateful search",
            );
        }
        if a.jobs == 0 {
            return bad("--jobs: at least 1");
        }
        Search::Stateful { jobs: a.jobs }
    } else if a.naive || a.stateless {
        Search::Stateless
    } else {
        // With --max-executions, --max-preemptions or a scenario's own execution bound
        // this is plain DPOR (see `Search::Auto`).
        Search::Auto {
            budget: checker::DPOR_BUDGET,
        }
    };
    let mut scenarios = Vec::new();
    for f in &files {
        match load_scenario(f) {
            Ok(mut s) => {
                if let Some(n) = a.common.max_spins {
                    s.set_max_spins(n);
                }
                scenarios.push(s)
            }
            Err(e) => return bad(e),
        }
    }
    let json = a.format == Format::Json;
    let text = !json;
    let st = Style::stdout();
    let verbose = a.verbose || scenarios.len() == 1;
    let mut progress = ProgressLine::new(a.quiet);
    if text {
        println!(
            "{} — checking {SEMANTICS}",
            st.bold(&format!("pvmm {}", env!("CARGO_PKG_VERSION")))
        );
        if !overrides.is_empty() {
            println!(
                "switch overrides: {}",
                overrides
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        println!();
        println!(
            "{}",
            st.bold(&format!(
                "{:<34} {:<18} {:<11} {:<9} {:>10} {:>8}  properties",
                "scenario",
                "kernel",
                "verdict",
                "expected",
                if a.stateful { "states" } else { "explored" },
                "time"
            ))
        );
    }
    let mut worst = EXIT_OK;
    let mut finished_stateful = false;
    let mut details = Vec::new();
    let mut results = Vec::new();
    let mut sections = Vec::new();
    for sc in &scenarios {
        let presets = if a.common.kernels.is_empty() {
            sc.presets.clone()
        } else {
            a.common.kernels.clone()
        };
        for preset in presets {
            let mut bounds = sc.bounds.clone();
            if let Some(t) = a.max_time {
                bounds.max_time = Some(Duration::from_secs(t));
            }
            if a.max_executions.is_some() {
                bounds.max_executions = a.max_executions;
            }
            if a.max_preemptions.is_some() {
                bounds.max_preemptions = a.max_preemptions;
            }
            let label = format!("{} {}", sc.name, preset);
            let shown_bounds = bounds.clone();
            let mut cb = |p: &explore::Progress| progress.update(&label, &shown_bounds, p);
            let res = checker::check(
                sc,
                &preset,
                RunOptions {
                    strategy: if a.naive {
                        Strategy::Naive
                    } else {
                        Strategy::Dpor
                    },
                    search,
                    bounds: Some(bounds.clone()),
                    overrides: overrides.clone(),
                    progress: Some(&mut cb),
                },
            );
            progress.clear();
            let c = match res {
                Ok(c) => c,
                Err(e) => return bad(format!("{}: {e}", sc.path.display())),
            };
            let expected = report::expected_text(sc, &c);
            let code = match (c.matches(sc), c.verdict) {
                (Some(true), _) => EXIT_OK,
                (Some(false), _) => EXIT_VIOLATION,
                (None, Verdict::Verified) => EXIT_OK,
                (None, Verdict::Violation) => EXIT_VIOLATION,
                (None, Verdict::Incomplete) => EXIT_INCOMPLETE,
            };
            worst = worse(worst, code);
            let traced = traces(sc, &c, &overrides, &a.trace_dir);
            if text {
                let props: Vec<String> = c
                    .outcome
                    .reports
                    .iter()
                    .map(|r| match r.severity {
                        Severity::Violation => r.property.to_string(),
                        Severity::Observation => format!("({})", r.property),
                    })
                    .collect();
                let exp = format!("{expected:<9}");
                println!(
                    "{:<34} {:<18} {} {} {:>10} {:>7.2}s  {}",
                    sc.name,
                    c.preset,
                    st.verdict(&c.verdict.to_string(), 11),
                    if expected == "NO" { st.red(&exp) } else { exp },
                    match (&c.completion, a.stateful) {
                        (Some(done), _) => {
                            finished_stateful = true;
                            format!("{} st", done.stats.states)
                        }
                        (None, true) => c.outcome.stats.states.to_string(),
                        (None, false) => c.outcome.stats.executions.to_string(),
                    },
                    c.outcome.stats.elapsed_secs,
                    props.join(" ")
                );
                details.push(describe(sc, &c, &traced, verbose || expected == "NO", st));
            }
            if json {
                results.push(report::check_result(sc, &c, &bounds, &traced));
            }
            if a.report.is_some() {
                sections.push(report::check_section(sc, &c, &bounds, &traced));
            }
        }
    }
    if text && finished_stateful {
        println!(
            "\n`st`: states of the stateful search that finished a check DPOR's first {} executions did not (--stateless: DPOR to the end)",
            checker::DPOR_BUDGET
        );
    }
    if text {
        for d in details.into_iter().filter(|d| !d.is_empty()) {
            println!("\n{d}");
        }
    }
    if let Some(path) = &a.report {
        let title = if scenarios.len() == 1 {
            format!("pvmm check: {}", scenarios[0].name)
        } else {
            format!("pvmm check: {} scenarios", scenarios.len())
        };
        let sub = format!(
            "pvmm {} · {SEMANTICS}{}",
            env!("CARGO_PKG_VERSION"),
            if overrides.is_empty() {
                String::new()
            } else {
                format!(
                    " · overrides: {}",
                    overrides
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
        );
        let page = report::html::page(&title, &sub, &sections);
        match write_file(path, &page) {
            Ok(()) => {
                if text {
                    println!("\nreport: {}", path.display());
                }
            }
            Err(e) => return bad(e),
        }
    }
    if json {
        let doc = report::json::CheckDoc {
            header: report::json::Header::new("check"),
            semantics: SEMANTICS.to_string(),
            overrides: overrides
                .iter()
                .map(|(k, v)| report::json::Override {
                    switch: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            results,
            exit_code: worst,
        };
        print!("{}", report::json::to_string(&doc));
    }
    worst
}

/// Replays each reported property once and writes the trace files of violations.
fn traces<'c>(
    sc: &Scenario,
    c: &'c Check,
    overrides: &[(String, String)],
    trace_dir: &Path,
) -> Vec<Traced<'c>> {
    let model = sc.model(c.kernel.clone());
    c.outcome
        .reports
        .iter()
        .map(|r| {
            let rep = explore::replay(&model, &r.schedule);
            let mut trace_file = None;
            if r.severity == Severity::Violation {
                let tf = trace::trace_file(sc, &c.preset, overrides, r.property, &r.schedule, &rep);
                let _ = std::fs::create_dir_all(trace_dir);
                let path = trace_dir.join(format!("{}.{}.{}.json", sc.name, c.preset, r.property));
                trace_file = Some(match trace::write_trace_file(&path, &tf) {
                    Ok(()) => path.display().to_string(),
                    Err(e) => format!("(could not write {}: {e})", path.display()),
                });
            }
            Traced {
                report: r,
                replay: rep,
                trace_file,
            }
        })
        .collect()
}

/// The details of one check: what was checked, each property's shortest trace, the schedule
/// and the trace file.
fn describe(
    sc: &Scenario,
    c: &Check,
    traced: &[Traced<'_>],
    print_traces: bool,
    st: Style,
) -> String {
    if !print_traces {
        return String::new();
    }
    let o = &c.outcome;
    let mut s = String::new();
    for t in traced {
        let r = t.report;
        let stateful = c.stateful_trace(r.property);
        let head = match r.severity {
            Severity::Violation => st.red("VIOLATION"),
            Severity::Observation => st.yellow("observation"),
        };
        s.push_str(&format!(
            "  {head} {}: {}\n  {}: {} steps, {} preemptions (seen in {} {})\n{}  schedule: {}\n",
            r.property,
            r.message,
            if stateful {
                "trace (stateful search: not necessarily the shortest)"
            } else if c.completion.is_some() {
                "shortest trace of DPOR's executions"
            } else {
                "shortest trace"
            },
            r.steps,
            r.preemptions,
            r.occurrences,
            if stateful { "paths" } else { "executions" },
            indent(&trace::render(&t.replay)),
            format_schedule(&r.schedule)
        ));
        if let Some(f) = &t.trace_file {
            s.push_str(&format!("  trace file: {f}  (pvmm replay {f})\n"));
        }
    }
    let stateful_counts = |st: &explore::Stats| {
        let mut s = format!(
            "{} states, {} transitions, {} ends ({} revisits pruned), {} steps",
            st.states, st.transitions, st.executions, st.pruned, st.steps
        );
        if st.table_entries > 0 {
            s.push_str(&format!(
                ", {} safe steps (independence table of {} entries, {} rerun{})",
                st.safe_steps,
                st.table_entries,
                st.reruns,
                if st.reruns == 1 { "" } else { "s" }
            ));
        }
        s
    };
    let transitions_rate = |st: &explore::Stats| {
        if st.elapsed_secs > 0.0 {
            format!(
                "{:.0} transitions/s",
                st.transitions as f64 / st.elapsed_secs
            )
        } else {
            "0 transitions/s".to_string()
        }
    };
    let stateful_method = |jobs: usize| {
        format!(
            "stateful search (visited states: world, thread histories, retry bookkeeping; sleep sets; {jobs} job{}); its traces not necessarily the shortest",
            if jobs == 1 { "" } else { "s" }
        )
    };
    let (counts, rate, method) = match (c.search, &c.completion) {
        (Search::Stateful { jobs }, _) => (
            stateful_counts(&o.stats),
            transitions_rate(&o.stats),
            stateful_method(jobs),
        ),
        (Search::Auto { budget }, Some(done)) => {
            let dpor_secs = (o.stats.elapsed_secs - done.stats.elapsed_secs).max(0.0);
            (
                format!(
                    "DPOR {} executions ({} pruned) in {dpor_secs:.2}s, then {}",
                    o.stats.executions,
                    o.stats.pruned,
                    stateful_counts(&done.stats)
                ),
                transitions_rate(&done.stats),
                format!(
                    "DPOR with sleep sets for {budget} executions, then the {}",
                    stateful_method(1)
                ),
            )
        }
        _ => (
            format!(
                "{} executions ({} pruned), {} steps",
                o.stats.executions, o.stats.pruned, o.stats.steps
            ),
            format!("{:.0} exec/s", o.stats.executions_per_sec()),
            match o.strategy {
                Strategy::Naive => "naive enumeration".to_string(),
                _ => "DPOR with sleep sets".to_string(),
            },
        ),
    };
    let head = format!(
        "== {} on {}: {} — {counts}, {:.2}s, {rate}, {}\n   checked: {SEMANTICS}; {method}\n   bounds: max depth {} steps per execution{}\n",
        sc.name,
        c.preset,
        c.verdict,
        o.stats.elapsed_secs,
        bound_text(&o.stopped_by),
        sc.bounds.max_depth,
        sc.bounds
            .max_preemptions
            .map(|p| format!(", at most {p} preemptions"))
            .unwrap_or_default()
    );
    st.bold(&head) + &s
}

pub fn indent(t: &str) -> String {
    t.lines().map(|l| format!("    {l}\n")).collect()
}
