//! The `pvmm` command line: parses arguments and prints; all logic lives in the library
//! crates (`explore`, `kernel`, `checker`).

use checker::trace::{self, TraceFile};
use checker::{bound_text, Check, RunOptions, Scenario, Verdict, SEMANTICS};
use clap::{Args, Parser, Subcommand};
use explore::{format_schedule, parse_schedule, Strategy};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit codes.
const EXIT_OK: u8 = 0;
const EXIT_VIOLATION: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;
const EXIT_INCOMPLETE: u8 = 3;

#[derive(Parser)]
#[command(
    name = "pvmm",
    version,
    about = "Exhaustive checker for the s390 Protected Virtualization host protocol",
    long_about = "Explores every interleaving of a scenario's kernel threads (DPOR with sleep sets) \
against a faithful model of the host kernel, version by version, and prints a verdict: \
verified, violation (with the shortest trace and a replayable schedule) or incomplete.\n\n\
Exit codes: 0 all as expected / verified, 1 violation or unexpected verdict, 2 bad input, 3 incomplete."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check scenarios against kernel presets.
    ///
    /// Example: pvmm check --all
    /// Example: pvmm check scenarios/d3-sendfile.toml --kernel v5.7
    Check(CheckArgs),
    /// Replay one interleaving with its full trace, from a schedule or a trace file.
    ///
    /// Example: pvmm replay scenarios/d3-sendfile.toml --kernel v5.7 --schedule 0.0.1.1
    /// Example: pvmm replay target/pvmm-traces/d3-sendfile.v5.7.io-on-secure-page.json
    Replay(ReplayArgs),
    /// List the built-in scenarios, the kernel presets and the switches.
    List(ListArgs),
}

#[derive(Args)]
struct Common {
    /// Kernel preset(s) to check (default: the scenario's `presets`).
    #[arg(long = "kernel", value_name = "PRESET")]
    kernels: Vec<String>,
    /// Override a switch of the preset, e.g. --set splice_confirm_hook=true.
    #[arg(long = "set", value_name = "SWITCH=VALUE")]
    sets: Vec<String>,
}

#[derive(Args)]
struct CheckArgs {
    /// Scenario files.
    scenarios: Vec<PathBuf>,
    /// Check every scenario in the scenarios directory.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    common: Common,
    /// Explore every interleaving without reduction (slow; for cross-checking).
    #[arg(long)]
    naive: bool,
    /// Stop each check after this many seconds (the result is then incomplete).
    #[arg(long, value_name = "SECS")]
    max_time: Option<u64>,
    /// Stop each check after this many executions.
    #[arg(long, value_name = "N")]
    max_executions: Option<u64>,
    /// Bound the preemptions per execution (the result is then incomplete).
    #[arg(long, value_name = "N")]
    max_preemptions: Option<u32>,
    /// Where to write trace files of violations.
    #[arg(long, value_name = "DIR", default_value = "target/pvmm-traces")]
    trace_dir: PathBuf,
    /// Print the traces of every violation (default when checking a single scenario).
    #[arg(long, short)]
    verbose: bool,
    /// No progress line.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct ReplayArgs {
    /// A scenario file (with --schedule) or a trace file (.json).
    input: PathBuf,
    /// The schedule: thread index per step, dot-separated (e.g. 0.0.1.1.0.2).
    #[arg(long)]
    schedule: Option<String>,
    /// For a trace file: the scenario file, if it moved.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct ListArgs {
    /// Scenarios directory (default: ./scenarios, or the repository's).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Check(a) => cmd_check(a),
        Cmd::Replay(a) => cmd_replay(a),
        Cmd::List(a) => cmd_list(a),
    };
    ExitCode::from(code)
}

/// The scenarios directory: $PVMM_SCENARIOS, ./scenarios, or the repository's.
fn scenarios_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(d) = explicit {
        return d.to_path_buf();
    }
    if let Ok(d) = std::env::var("PVMM_SCENARIOS") {
        return PathBuf::from(d);
    }
    let local = PathBuf::from("scenarios");
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: cannot read scenarios directory: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

fn parse_sets(sets: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for s in sets {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("--set {s}: expected SWITCH=VALUE"))?;
        let mut probe = kernel::config::preset("v5.7").expect("preset exists");
        probe
            .set(k.trim(), v.trim())
            .map_err(|e| format!("--set {s}: {e}"))?;
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

fn bad(msg: impl std::fmt::Display) -> u8 {
    eprintln!("error: {msg}");
    EXIT_BAD_INPUT
}

fn cmd_check(a: CheckArgs) -> u8 {
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
    for k in &a.common.kernels {
        if kernel::config::preset(k).is_none() {
            return bad(format!(
                "--kernel {k}: unknown kernel preset (known: {})",
                checker::scenario::preset_names()
            ));
        }
    }
    let mut scenarios = Vec::new();
    for f in &files {
        match checker::load(f) {
            Ok(s) => scenarios.push(s),
            Err(e) => return bad(e),
        }
    }
    let verbose = a.verbose || scenarios.len() == 1;
    let show_progress = !a.quiet && std::io::stderr().is_terminal();
    println!("pvmm {} — checking {SEMANTICS}", env!("CARGO_PKG_VERSION"));
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
        "{:<34} {:<18} {:<11} {:<9} {:>10} {:>8}  properties",
        "scenario", "kernel", "verdict", "expected", "executions", "time"
    );
    let mut worst = EXIT_OK;
    let mut details = Vec::new();
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
            let mut progress = |p: &explore::Progress| {
                if show_progress && p.stats.elapsed_secs > 1.0 {
                    eprint!(
                        "\r  {} {}: {} executions, {:.0}/s, depth {}, {:.1}s ",
                        sc.name,
                        preset,
                        p.stats.executions,
                        p.stats.executions_per_sec(),
                        p.depth,
                        p.stats.elapsed_secs
                    );
                }
            };
            let res = checker::check(
                sc,
                &preset,
                RunOptions {
                    strategy: if a.naive {
                        Strategy::Naive
                    } else {
                        Strategy::Dpor
                    },
                    bounds: Some(bounds),
                    overrides: overrides.clone(),
                    progress: Some(&mut progress),
                },
            );
            if show_progress {
                eprint!("\r\x1b[K");
            }
            let c = match res {
                Ok(c) => c,
                Err(e) => return bad(format!("{}: {e}", sc.path.display())),
            };
            let expected = match c.matches(sc) {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            let props: Vec<String> = c
                .outcome
                .reports
                .iter()
                .map(|r| match r.severity {
                    explore::Severity::Violation => r.property.to_string(),
                    explore::Severity::Observation => format!("({})", r.property),
                })
                .collect();
            println!(
                "{:<34} {:<18} {:<11} {:<9} {:>10} {:>7.2}s  {}",
                sc.name,
                c.preset,
                c.verdict.to_string(),
                expected,
                c.outcome.stats.executions,
                c.outcome.stats.elapsed_secs,
                props.join(" ")
            );
            let code = match (c.matches(sc), c.verdict) {
                (Some(true), _) => EXIT_OK,
                (Some(false), _) => EXIT_VIOLATION,
                (None, Verdict::Verified) => EXIT_OK,
                (None, Verdict::Violation) => EXIT_VIOLATION,
                (None, Verdict::Incomplete) => EXIT_INCOMPLETE,
            };
            worst = worse(worst, code);
            details.push(describe(
                sc,
                &c,
                &overrides,
                &a.trace_dir,
                verbose || expected == "NO",
            ));
        }
    }
    for d in details.into_iter().filter(|d| !d.is_empty()) {
        println!("\n{d}");
    }
    worst
}

fn worse(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        EXIT_OK => 0,
        EXIT_INCOMPLETE => 1,
        EXIT_VIOLATION => 2,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// The details of one check: what was checked, each property's shortest trace, the schedule
/// and the trace file.
fn describe(
    sc: &Scenario,
    c: &Check,
    overrides: &[(String, String)],
    trace_dir: &Path,
    print_traces: bool,
) -> String {
    let o = &c.outcome;
    let mut s = String::new();
    let mut files = Vec::new();
    let model = sc.model(c.kernel.clone());
    for r in &o.reports {
        let rep = explore::replay(&model, &r.schedule);
        if r.severity == explore::Severity::Violation {
            let tf = trace::trace_file(sc, &c.preset, overrides, r.property, &r.schedule, &rep);
            let _ = std::fs::create_dir_all(trace_dir);
            let path = trace_dir.join(format!("{}.{}.{}.json", sc.name, c.preset, r.property));
            match trace::write_trace_file(&path, &tf) {
                Ok(()) => files.push(path.display().to_string()),
                Err(e) => files.push(format!("(could not write {}: {e})", path.display())),
            }
        }
        if print_traces {
            s.push_str(&format!(
                "  {} {}: {}\n  shortest trace: {} steps, {} preemptions (seen in {} executions)\n{}  schedule: {}\n",
                match r.severity {
                    explore::Severity::Violation => "VIOLATION",
                    explore::Severity::Observation => "observation",
                },
                r.property,
                r.message,
                r.steps,
                r.preemptions,
                r.occurrences,
                indent(&trace::render(&rep)),
                format_schedule(&r.schedule)
            ));
            if let Some(f) = files
                .last()
                .filter(|_| r.severity == explore::Severity::Violation)
            {
                s.push_str(&format!("  trace file: {f}  (pvmm replay {f})\n"));
            }
        }
    }
    if !print_traces {
        return String::new();
    }
    let head = format!(
        "== {} on {}: {} — {} executions ({} pruned), {} steps, {:.2}s, {:.0} exec/s, {}\n   checked: {SEMANTICS}; {}\n   bounds: max depth {} steps per execution{}\n",
        sc.name,
        c.preset,
        c.verdict,
        o.stats.executions,
        o.stats.pruned,
        o.stats.steps,
        o.stats.elapsed_secs,
        o.stats.executions_per_sec(),
        bound_text(&o.stopped_by),
        match o.strategy {
            Strategy::Dpor => "DPOR with sleep sets",
            Strategy::Naive => "naive enumeration",
        },
        sc.bounds.max_depth,
        sc.bounds
            .max_preemptions
            .map(|p| format!(", at most {p} preemptions"))
            .unwrap_or_default()
    );
    head + &s
}

fn indent(t: &str) -> String {
    t.lines().map(|l| format!("    {l}\n")).collect()
}

fn cmd_replay(a: ReplayArgs) -> u8 {
    let overrides = match parse_sets(&a.common.sets) {
        Ok(o) => o,
        Err(e) => return bad(e),
    };
    let is_trace = a.input.extension().is_some_and(|e| e == "json");
    if is_trace {
        let tf: TraceFile = match trace::read_trace_file(&a.input) {
            Ok(t) => t,
            Err(e) => return bad(e),
        };
        let path = a
            .scenario
            .clone()
            .unwrap_or_else(|| PathBuf::from(&tf.scenario_path));
        let sc = match checker::load(&path) {
            Ok(s) => s,
            Err(e) => return bad(e),
        };
        let mut ov = tf.overrides.clone();
        ov.extend(overrides);
        let k = match sc.kernel(&tf.preset, &ov) {
            Ok(k) => k,
            Err(e) => return bad(e),
        };
        let model = sc.model(k);
        let rc = match trace::replay_file(&sc, &tf, &model) {
            Ok(r) => r,
            Err(e) => return bad(format!("{}: {e}", a.input.display())),
        };
        println!(
            "replay of {} ({} on {}, property {}), schedule {}",
            a.input.display(),
            tf.scenario,
            tf.preset,
            tf.property,
            tf.schedule
        );
        if rc.scenario_changed {
            println!(
                "note: the scenario file changed since this trace was written (sha256 differs)"
            );
        }
        print!("{}", trace::render(&rc.replay));
        if let Some((step, was, now)) = &rc.first_difference {
            println!("DIVERGED at step {step}:\n  recorded: {was}\n  now:      {now}");
        }
        if rc.identical() {
            println!(
                "identical to the recorded trace; {} reproduced",
                tf.property
            );
            EXIT_VIOLATION
        } else if rc.reproduced {
            println!(
                "{} reproduced, but the trace differs from the recording",
                tf.property
            );
            EXIT_VIOLATION
        } else {
            println!(
                "{} NOT reproduced: the scenario or the model changed",
                tf.property
            );
            EXIT_BAD_INPUT
        }
    } else {
        let Some(sched) = a.schedule.as_deref() else {
            return bad("replay of a scenario needs --schedule (or give a trace file)");
        };
        let schedule = match parse_schedule(sched) {
            Ok(s) => s,
            Err(e) => return bad(format!("--schedule: {e}")),
        };
        let sc = match checker::load(&a.input) {
            Ok(s) => s,
            Err(e) => return bad(e),
        };
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
        let model = sc.model(k);
        let r = explore::replay(&model, &schedule);
        println!("replay of {} on {preset}, schedule {sched}", sc.name);
        print!("{}", trace::render(&r));
        if r.diverged.is_some() {
            return EXIT_BAD_INPUT;
        }
        if r.findings()
            .any(|f| f.severity == explore::Severity::Violation)
        {
            EXIT_VIOLATION
        } else {
            EXIT_OK
        }
    }
}

fn cmd_list(a: ListArgs) -> u8 {
    let dir = scenarios_dir(a.dir.as_deref());
    println!("scenarios ({}):", dir.display());
    match scenario_files(&dir) {
        Ok(files) => {
            for f in files {
                match checker::load(&f) {
                    Ok(s) => println!(
                        "  {:<34} [{}] {}",
                        s.name,
                        s.presets.join(", "),
                        s.description.lines().next().unwrap_or("")
                    ),
                    Err(e) => println!("  {e}"),
                }
            }
        }
        Err(e) => return bad(e),
    }
    println!("\nkernel presets:");
    for (p, d) in kernel::config::PRESETS {
        println!("  {p:<20} {d}");
    }
    println!("\nswitches (--set SWITCH=VALUE, or [set] in a scenario):");
    for (s, v) in kernel::config::SWITCHES {
        println!("  {s:<32} {v}");
    }
    EXIT_OK
}
