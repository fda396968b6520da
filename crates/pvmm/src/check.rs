//! `pvmm check`: verdict table, traces, trace files, HTML report, JSON.

use crate::checkpoint::Saver;
use crate::cli::{CheckArgs, Format};
use crate::common::*;
use crate::interrupt;
use crate::progress::ProgressLine;
use crate::style::Style;
use checker::saved::SavedCheck;
use checker::text::escape;
use checker::trace;
use checker::{bound_text, Check, RunOptions, Scenario, Search, SEMANTICS};
use explore::{format_schedule, Bound, Severity, Strategy};
use report::Traced;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where trace files go unless `--trace-dir` says otherwise.
pub const DEFAULT_TRACE_DIR: &str = "target/pvmm-traces";

pub fn run(a: CheckArgs) -> u8 {
    let plan = match Plan::of(&a) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let interrupt = interrupt::install();
    let limits = checker::limits::machine();
    let json = a.format == Format::Json;
    let text = !json;
    let st = Style::stdout();
    if text {
        print_header(&a, &plan.overrides, &limits, st);
    }
    let mut run = Run {
        worst: if plan.input_errors.is_empty() {
            EXIT_OK
        } else {
            EXIT_BAD_INPUT
        },
        ..Run::default()
    };
    let mut saved = match Saver::open(
        a.checkpoint.as_deref(),
        a.resume.as_deref(),
        "check",
        plan.key(&a),
    ) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let verbose = a.verbose || plan.scenarios.len() == 1;
    let mut progress = ProgressLine::new(a.quiet, a.progress);
    for (k, (i, preset)) in plan.checks.iter().enumerate() {
        let sc = &plan.scenarios[*i];
        if run.interrupted || interrupt::requested(&interrupt) {
            run.interrupted = true;
            run.not_run.extend(
                plan.checks[k..]
                    .iter()
                    .map(|(i, p)| (plan.scenarios[*i].name.clone(), p.clone())),
            );
            break;
        }
        let restored = match saved.find(|r: &SavedCheck| {
            r.scenario_path == sc.path.display().to_string() && &r.preset == preset
        }) {
            Some(r) => match r.restore(sc, &plan.overrides, plan.search) {
                Ok(cb) => Some(cb),
                Err(e) => return bad(format!("--resume: {e}")),
            },
            None => None,
        };
        let (c, bounds) = match restored {
            Some(cb) => cb,
            None => {
                let bounds = bounds_of(&a, sc, &limits, &interrupt);
                let c = match check_one(&a, &plan, sc, preset, &bounds, &mut progress) {
                    Ok(c) => c,
                    Err(e) => return bad(e),
                };
                if c.outcome.stopped_by == Some(Bound::Interrupted) {
                    run.interrupted = true;
                } else if let Err(e) = saved.push(SavedCheck::of(sc, &c, &bounds)) {
                    return bad(e);
                }
                (c, bounds)
            }
        };
        if !run.interrupted {
            run.finished += 1;
        }
        run.worst = worse(run.worst, status_code(c.status(sc)));
        let traced = traces(
            sc,
            &c,
            &plan.overrides,
            &plan.trace_dir,
            &mut run.trace_errors,
        );
        if text {
            let expected = report::expected_text(sc, &c);
            print_row(&a, sc, &c, expected, st, &mut run.finished_stateful);
            run.details.push(describe(
                sc,
                &c,
                &bounds,
                &traced,
                verbose || expected == "NO" || run.interrupted,
                st,
            ));
        }
        if json {
            run.results
                .push(report::check_result(sc, &c, &bounds, &traced));
        }
        if a.report.is_some() {
            run.sections
                .push(report::check_section(sc, &c, &bounds, &traced));
        }
    }
    if run.interrupted {
        run.worst = worse(run.worst, EXIT_INCOMPLETE);
    }
    if text {
        if run.finished_stateful {
            println!(
                "\n`st`: states of the stateful search that finished a check DPOR's first {} executions did not (--stateless: DPOR to the end)",
                checker::DPOR_BUDGET
            );
        }
        for d in std::mem::take(&mut run.details)
            .into_iter()
            .filter(|d| !d.is_empty())
        {
            println!("\n{d}");
        }
    }
    if run.interrupted {
        report_interruption(&run, plan.checks.len(), saved.path());
    }
    if let Some(path) = &a.report {
        if let Err(e) = write_report(path, &plan, &run.sections, text) {
            return bad(e);
        }
    }
    if !run.trace_errors.is_empty() {
        for e in &run.trace_errors {
            bad(e);
        }
        run.worst = EXIT_BAD_INPUT;
    }
    let worst = run.worst;
    if json {
        print!(
            "{}",
            report::json::to_string(&json_doc(&a, &plan, run, &limits))
        );
    }
    worst
}

/// What `pvmm check` was asked to do: the scenarios read (and the files that are not valid
/// scenarios, reported and skipped), every (scenario, preset) check in the order they run
/// and print, the search, the switch overrides and where trace files go.
struct Plan {
    scenarios: Vec<Scenario>,
    input_errors: Vec<checker::ScenarioError>,
    checks: Vec<(usize, String)>,
    search: Search,
    overrides: Vec<(String, String)>,
    trace_dir: PathBuf,
}

impl Plan {
    /// Reads the command line and the scenario files; `Err` is the exit code of bad input
    /// (already reported). A file that is not a valid scenario is reported (exit 2) and the
    /// others are still checked: one bad file in a directory does not hide every other result.
    fn of(a: &CheckArgs) -> Result<Plan, u8> {
        let mut files = a.scenarios.clone();
        if a.all {
            files.extend(scenario_files(&scenarios_dir(None)).map_err(bad)?);
        }
        if files.is_empty() {
            return Err(bad("name scenario files or use --all (see `pvmm list`)"));
        }
        let overrides = parse_sets(&a.common.sets).map_err(bad)?;
        check_presets(&a.common.kernels).map_err(bad)?;
        let search = search_of(a)?;
        let mut scenarios = Vec::new();
        let mut input_errors = Vec::new();
        for f in &files {
            match load_scenario(f) {
                // `--max-spins` is the model's bound (its builder's), not the search's: set
                // here so that a check resumed from a checkpoint is matched against it too.
                Ok(mut s) => {
                    if let Some(n) = a.common.max_spins {
                        s.set_max_spins(n);
                    }
                    if let Some(n) = a.common.max_retries {
                        s.set_max_retries(n);
                    }
                    scenarios.push(s)
                }
                Err(e) => {
                    bad(&e);
                    input_errors.push(e);
                }
            }
        }
        let trace_dir = match &a.trace_dir {
            Some(d) => {
                prepare_dir(d, "--trace-dir").map_err(bad)?;
                d.clone()
            }
            None => PathBuf::from(DEFAULT_TRACE_DIR),
        };
        let checks = scenarios
            .iter()
            .enumerate()
            .flat_map(|(i, sc)| {
                let presets = if a.common.kernels.is_empty() {
                    sc.presets.clone()
                } else {
                    a.common.kernels.clone()
                };
                presets.into_iter().map(move |p| (i, p))
            })
            .collect();
        Ok(Plan {
            scenarios,
            input_errors,
            checks,
            search,
            overrides,
            trace_dir,
        })
    }

    /// What a checkpoint was written for (a resume must match it).
    fn key(&self, a: &CheckArgs) -> RunKey {
        RunKey {
            scenarios: self
                .scenarios
                .iter()
                .map(|s| (s.path.display().to_string(), s.hash.clone()))
                .collect(),
            kernels: a.common.kernels.clone(),
            overrides: self.overrides.clone(),
            search: format!("{}{}", self.search, if a.naive { " (naive)" } else { "" }),
            max_executions: a.max_executions,
            max_preemptions: a.max_preemptions,
            max_time_secs: a.max_time,
            max_memory_mib: a.max_memory,
            max_spins: a.common.max_spins,
            max_retries: a.common.max_retries,
        }
    }

    /// The switch overrides as `k=v` words.
    fn overrides_text(&self) -> String {
        overrides_text(&self.overrides)
    }
}

fn overrides_text(overrides: &[(String, String)]) -> String {
    overrides
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The search the options ask for (`Err`: the exit code of a contradiction, reported).
fn search_of(a: &CheckArgs) -> Result<Search, u8> {
    Ok(if a.stateful {
        if a.max_preemptions.is_some() {
            return Err(bad(
                "--stateful: no preemption bound (--max-preemptions) in the stateful search",
            ));
        }
        check_jobs(a.jobs).map_err(bad)?;
        Search::Stateful { jobs: a.jobs }
    } else if a.naive || a.stateless {
        Search::Stateless
    } else {
        // With --max-executions, --max-preemptions or a scenario's own execution bound
        // this is plain DPOR (see `Search::Auto`).
        Search::Auto {
            budget: checker::DPOR_BUDGET,
        }
    })
}

/// What the run has produced so far.
#[derive(Default)]
struct Run {
    worst: u8,
    finished_stateful: bool,
    details: Vec<String>,
    results: Vec<report::json::CheckResult>,
    sections: Vec<report::html::Section>,
    trace_errors: Vec<String>,
    not_run: Vec<(String, String)>,
    interrupted: bool,
    finished: usize,
}

/// The lines above the verdict table: version, overrides, bounds, the column heads.
fn print_header(
    a: &CheckArgs,
    overrides: &[(String, String)],
    limits: &checker::limits::MachineLimits,
    st: Style,
) {
    println!(
        "{} — checking {SEMANTICS}",
        st.bold(&format!("pvmm {}", env!("CARGO_PKG_VERSION")))
    );
    if !overrides.is_empty() {
        println!("switch overrides: {}", overrides_text(overrides));
    }
    println!("{}", limits_line(a.max_time, a.max_memory, limits, "check"));
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

/// One check's bounds: the scenario's, then the command line's, the machine's memory and
/// the interrupt flag.
fn bounds_of(
    a: &CheckArgs,
    sc: &Scenario,
    limits: &checker::limits::MachineLimits,
    interrupt: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> explore::Bounds {
    let mut bounds = sc.bounds.clone();
    match a.max_time {
        Some(0) => bounds.max_time = None,
        Some(t) => bounds.max_time = Some(Duration::from_secs(t)),
        None if bounds.max_time.is_none() => {
            bounds.max_time = Some(Duration::from_secs(checker::limits::DEFAULT_MAX_TIME_SECS))
        }
        None => {}
    }
    bounds.max_memory_mib = a.max_memory.or(limits.max_memory_mib);
    bounds.max_address_space_mib = limits.max_address_space_mib;
    if a.max_executions.is_some() {
        bounds.max_executions = a.max_executions;
    }
    if a.max_preemptions.is_some() {
        bounds.max_preemptions = a.max_preemptions;
    }
    bounds.interrupt = Some(interrupt.clone());
    bounds
}

/// Runs one check with a progress line.
fn check_one(
    a: &CheckArgs,
    plan: &Plan,
    sc: &Scenario,
    preset: &str,
    bounds: &explore::Bounds,
    progress: &mut ProgressLine,
) -> Result<Check, String> {
    let label = format!("{} {}", escape(&sc.name), preset);
    let mut cb = |p: &explore::Progress| progress.update(&label, bounds, p);
    let res = checker::check(
        sc,
        preset,
        RunOptions {
            strategy: if a.naive {
                Strategy::Naive
            } else {
                Strategy::Dpor
            },
            search: plan.search,
            bounds: Some(bounds.clone()),
            overrides: plan.overrides.clone(),
            progress: Some(&mut cb),
        },
    );
    progress.clear();
    res.map_err(|e| format!("{}: {e}", sc.path.display()))
}

/// One line of the verdict table.
fn print_row(
    a: &CheckArgs,
    sc: &Scenario,
    c: &Check,
    expected: &str,
    st: Style,
    finished_stateful: &mut bool,
) {
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
        escape(&sc.name),
        c.preset,
        st.verdict(&c.verdict_text(), 11),
        if expected == "NO" { st.red(&exp) } else { exp },
        match (&c.completion, a.stateful) {
            (Some(done), _) => {
                *finished_stateful = true;
                format!("{} st", done.stats.states)
            }
            (None, true) => c.outcome.stats.states.to_string(),
            (None, false) => c.outcome.stats.executions.to_string(),
        },
        c.outcome.stats.elapsed_secs,
        props.join(" ")
    );
}

/// On stderr as well as in the document: whoever pressed Ctrl-C sees what is kept.
fn report_interruption(run: &Run, planned: usize, checkpoint: Option<&Path>) {
    let mut m = format!(
        "interrupted: {} of {} checks finished{}",
        run.finished,
        planned,
        if run.not_run.is_empty() {
            String::new()
        } else {
            format!(
                "; not run: {}",
                run.not_run
                    .iter()
                    .map(|(n, p)| format!("{} {p}", escape(n)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    if let Some(f) = checkpoint {
        m.push_str(&format!(
            "; the finished checks are kept in {} (resume: the same command with --resume {})",
            f.display(),
            f.display()
        ));
    }
    eprintln!("{}", escape(&m));
}

/// `--report FILE`: the HTML page of every check's section.
fn write_report(
    path: &Path,
    plan: &Plan,
    sections: &[report::html::Section],
    text: bool,
) -> Result<(), String> {
    let title = if plan.scenarios.len() == 1 {
        format!("pvmm check: {}", plan.scenarios[0].name)
    } else {
        format!("pvmm check: {} scenarios", plan.scenarios.len())
    };
    let sub = format!(
        "pvmm {} · {SEMANTICS}{}",
        env!("CARGO_PKG_VERSION"),
        if plan.overrides.is_empty() {
            String::new()
        } else {
            format!(" · overrides: {}", plan.overrides_text())
        }
    );
    let page = report::html::page(&title, &sub, sections);
    write_file(path, &page)?;
    if text {
        println!("\nreport: {}", escape(&path.display().to_string()));
    }
    Ok(())
}

/// `--format json`: the check document.
fn json_doc(
    a: &CheckArgs,
    plan: &Plan,
    run: Run,
    limits: &checker::limits::MachineLimits,
) -> report::json::CheckDoc {
    report::json::CheckDoc {
        header: report::json::Header::new("check"),
        semantics: SEMANTICS.to_string(),
        overrides: plan
            .overrides
            .iter()
            .map(|(k, v)| report::json::Override {
                switch: k.clone(),
                value: v.clone(),
            })
            .collect(),
        results: run.results,
        limits: limits_out(a.max_memory, limits),
        interrupted: run.interrupted,
        not_run: run
            .not_run
            .iter()
            .map(|(n, p)| report::json::NotRun {
                name: n.clone(),
                preset: p.clone(),
            })
            .collect(),
        input_errors: plan
            .input_errors
            .iter()
            .map(|e| report::json::InputError {
                file: e.file.display().to_string(),
                line: e.line,
                column: e.column,
                message: e.message.clone(),
            })
            .collect(),
        exit_code: run.worst,
    }
}

/// What a resume must match: the run the checkpoint was written for.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct RunKey {
    /// Each scenario file as given, with its SHA-256.
    scenarios: Vec<(String, String)>,
    kernels: Vec<String>,
    overrides: Vec<(String, String)>,
    search: String,
    max_executions: Option<u64>,
    max_preemptions: Option<u32>,
    max_time_secs: Option<u64>,
    max_memory_mib: Option<u64>,
    /// `--max-spins`: the bounded-waiting bound changes the model, so a resume must give the
    /// same one (left out when not given, as in checkpoints written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_spins: Option<u32>,
    /// `--max-retries`: the retry bound changes where executions are cut (left out when not
    /// given, as in checkpoints written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_retries: Option<u32>,
}

/// Replays each reported property once and writes the trace files of violations; a trace
/// file that cannot be written is an error (collected in `errors`: the run ends with exit 2).
fn traces<'c>(
    sc: &Scenario,
    c: &'c Check,
    overrides: &[(String, String)],
    trace_dir: &Path,
    errors: &mut Vec<String>,
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
                let path = trace_dir.join(format!(
                    "{}.{}.{}.json",
                    file_name_part(&sc.name),
                    file_name_part(&c.preset),
                    r.property
                ));
                let written = prepare_dir(trace_dir, "--trace-dir")
                    .and_then(|()| trace::write_trace_file(&path, &tf));
                trace_file = match written {
                    Ok(()) => Some(path.display().to_string()),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                };
            }
            Traced {
                report: r,
                replay: rep,
                trace_file,
            }
        })
        .collect()
}

/// A name as part of a file name: letters, digits, `.`, `_`, `+` and `-` kept, anything else
/// (a `/`, a control character) as `_`, no leading dot.
fn file_name_part(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match s.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None => s,
    }
}

/// The details of one check: what was checked, each property's shortest trace, the schedule
/// and the trace file.
fn describe(
    sc: &Scenario,
    c: &Check,
    bounds: &explore::Bounds,
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
            escape(&r.message),
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
            let f = escape(f);
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
        "== {} on {}: {} — {counts}, {:.2}s, {rate}, {}\n   checked: {SEMANTICS}; {method}\n   bounds: {}\n",
        escape(&sc.name),
        c.preset,
        c.verdict_text(),
        o.stats.elapsed_secs,
        bound_text(&o.stopped_by),
        bounds_text(bounds),
    );
    st.bold(&head) + &s
}

pub fn indent(t: &str) -> String {
    t.lines().map(|l| format!("    {l}\n")).collect()
}
