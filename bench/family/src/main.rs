//! `pvmm-bench`: runs one benchmark case with pvmm's explorer and prints one JSON line.
//!
//! ```text
//! pvmm-bench family N K [--bug] [--mode stateful|dpor|naive] [--symmetry] [--jobs J] [--limit SECS]
//! pvmm-bench classes N K [--bug] [--sleep] [--naive] [--no-dpor] [--limit SECS]   # classes vs DPOR
//! pvmm-bench scenario FILE PRESET [--mode dpor|stateful] [--jobs J] [--limit SECS] [--classes]
//! ```

use explore::search::classes::count_classes;
use explore::search::{explore_stateful_with, StatefulOptions};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use explore::{explore, Bounds, Options, Outcome, Strategy};
use family::Family;
use serde_json::json;
use std::time::Duration;

fn flag(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

fn opt(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn bounds(limit: Option<f64>) -> Bounds {
    Bounds {
        max_depth: 100_000,
        max_time: limit.map(Duration::from_secs_f64),
        max_memory_mib: Some(20_000),
        ..Bounds::default()
    }
}

fn verdict(o: &Outcome) -> &'static str {
    if o.violations().next().is_some() {
        "violation"
    } else if o.exhaustive() {
        "verified"
    } else {
        "incomplete"
    }
}

fn report(case: &str, mode: &str, jobs: usize, o: &Outcome) -> serde_json::Value {
    let props: Vec<&str> = o.violations().map(|r| r.property).collect();
    let s = &o.stats;
    json!({
        "tool": "pvmm",
        "case": case,
        "mode": mode,
        "jobs": jobs,
        "symmetry": flag(&std::env::args().collect::<Vec<_>>(), "--symmetry"),
        "verdict": verdict(o),
        "exhaustive": o.exhaustive(),
        "stopped_by": o.stopped_by.as_ref().map(|b| b.to_string()),
        "properties": props,
        "executions": s.executions,
        "pruned": s.pruned,
        "states": s.states,
        "transitions": s.transitions,
        "steps": s.steps,
        "restores": s.restores,
        "safe_steps": s.safe_steps,
        "reruns": s.reruns,
        "table_entries": s.table_entries,
        "secs": s.elapsed_secs,
        "steps_per_sec": if s.elapsed_secs > 0.0 { s.steps as f64 / s.elapsed_secs } else { 0.0 },
        "visited_mib": s.visited_mib,
        "peak_rss_mib": explore::peak_rss_mib(),
        "final_states": o.final_states.len(),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let limit = opt(&args, "--limit").map(|s| s.parse::<f64>().expect("--limit SECS"));
    let jobs: usize = opt(&args, "--jobs").map_or(1, |s| s.parse().expect("--jobs N"));
    match args.first().map(String::as_str) {
        Some("family") => {
            let n: usize = args[1].parse().expect("N");
            let k: usize = args[2].parse().expect("K");
            let bug = flag(&args, "--bug");
            let mode = opt(&args, "--mode").unwrap_or_else(|| "stateful".into());
            let m = Family { n, k, bug };
            let case = format!("F({n},{k}){}", if bug { "-bug" } else { "" });
            let o = match mode.as_str() {
                "stateful" => {
                    explore_stateful_with(
                        &m,
                        Options {
                            strategy: Strategy::Dpor,
                            bounds: bounds(limit),
                            progress: None,
                        },
                        StatefulOptions {
                            jobs,
                            symmetry: flag(&args, "--symmetry"),
                            ..StatefulOptions::default()
                        },
                    )
                    .outcome
                }
                "dpor" | "naive" => explore(
                    &m,
                    Options {
                        strategy: if mode == "dpor" {
                            Strategy::Dpor
                        } else {
                            Strategy::Naive
                        },
                        bounds: bounds(limit),
                        progress: None,
                    },
                ),
                other => panic!("unknown mode {other}"),
            };
            println!("{}", report(&case, &mode, jobs, &o));
        }
        Some("classes") => {
            let n: usize = args[1].parse().expect("N");
            let k: usize = args[2].parse().expect("K");
            let bug = flag(&args, "--bug");
            let m = Family { n, k, bug };
            let case = format!("F({n},{k}){}", if bug { "-bug" } else { "" });
            classes_line(&case, &m, limit);
        }
        #[cfg(feature = "kernel-cases")]
        Some("scenario") => {
            let file = &args[1];
            let preset = &args[2];
            let sc = checker::load(std::path::Path::new(file)).expect("scenario");
            let kernel = sc.kernel(preset, &[]).expect("preset");
            let model = sc.model(kernel);
            let case = format!("{} [{preset}]", sc.name);
            if flag(&args, "--classes") {
                classes_line(&case, &model, limit);
                return;
            }
            let mode = opt(&args, "--mode").unwrap_or_else(|| "dpor".into());
            let o = match mode.as_str() {
                // The kernel model keys states by thread histories (see explore's search/stateful/mod.rs).
                "stateful" => explore::search::explore_stateful_parallel(
                    &model,
                    Options {
                        strategy: Strategy::Dpor,
                        bounds: bounds(limit),
                        progress: None,
                    },
                    jobs,
                ),
                "dpor" => explore(
                    &model,
                    Options {
                        strategy: Strategy::Dpor,
                        bounds: bounds(limit),
                        progress: None,
                    },
                ),
                other => panic!("unknown mode {other} (scenario: dpor or stateful)"),
            };
            let jobs = if mode == "stateful" { jobs } else { 1 };
            let mut line = report(&case, &mode, jobs, &o);
            // The stateful search keys states up to a permutation of each group of threads
            // with equal operations (`KernelModel::new`); DPOR does not use them.
            if mode == "stateful" {
                let groups: Vec<Vec<&str>> = model
                    .groups()
                    .iter()
                    .map(|g| g.iter().map(|&t| model.threads[t].0.as_str()).collect())
                    .collect();
                line["symmetry"] = json!(!groups.is_empty());
                line["groups"] = json!(groups);
            }
            println!("{line}");
        }
        _ => {
            eprintln!("usage: pvmm-bench family N K [--bug] [--mode stateful|dpor|naive] [--symmetry] [--jobs J] [--limit S]\n       pvmm-bench classes N K [--bug] [--limit S]\n       pvmm-bench scenario FILE PRESET [--mode dpor|stateful] [--jobs J] [--limit S] [--classes]");
            std::process::exit(2);
        }
    }
}

/// Mazurkiewicz classes against the stateless DPOR's explored executions (complete ones plus
/// sleep-set-blocked ones): optimal DPOR explores exactly one per class. Classes are counted by
/// the sleep-set search memoised over (state, sleep set) pairs (`count_classes_memo`); with
/// `--sleep` also by the plain sleep-set search (`count_classes_sleep`: one complete execution
/// per class), with `--naive` also by naive enumeration with a canonical form (`count_classes`,
/// the definition; interleavings grow much faster than classes). `--no-dpor`: the counts only.
/// `--limit` applies to each count and to the DPOR separately.
fn classes_line<M: explore::search::StateKey>(case: &str, m: &M, limit: Option<f64>) {
    use explore::search::classes::{count_classes_memo, count_classes_sleep, ClassCount};
    let args: Vec<String> = std::env::args().collect();
    let lim = limit.map(Duration::from_secs_f64);
    let timed = |f: &dyn Fn() -> ClassCount| {
        let t = std::time::Instant::now();
        let c = f();
        (c, t.elapsed().as_secs_f64())
    };
    let (c, classes_secs) = timed(&|| count_classes_memo(m, lim));
    let sleep = flag(&args, "--sleep").then(|| timed(&|| count_classes_sleep(m, lim)));
    let naive = flag(&args, "--naive").then(|| timed(&|| count_classes(m, lim)));
    // Every count that completed gives the same number.
    let agree = [&sleep, &naive]
        .into_iter()
        .flatten()
        .filter(|(o, _)| o.complete && c.complete)
        .all(|(o, _)| o.classes == c.classes);
    let d = (!flag(&args, "--no-dpor")).then(|| {
        explore(
            m,
            Options {
                strategy: Strategy::Dpor,
                bounds: bounds(limit),
                progress: None,
            },
        )
    });
    let explored = d.as_ref().map(|d| d.stats.executions + d.stats.pruned);
    let ratio = d
        .as_ref()
        .filter(|d| c.complete && d.exhaustive() && c.classes > 0)
        .map(|d| (d.stats.executions + d.stats.pruned) as f64 / c.classes as f64);
    println!(
        "{}",
        json!({
            "case": case,
            "classes": c.classes,
            "complete": c.complete,
            "classes_secs": classes_secs,
            "memo_states": c.memo_states,
            "sleep_classes": sleep.as_ref().map(|(s, _)| s.classes),
            "sleep_complete": sleep.as_ref().map(|(s, _)| s.complete),
            "sleep_blocked": sleep.as_ref().map(|(s, _)| s.sleep_blocked),
            "sleep_secs": sleep.as_ref().map(|(_, t)| *t),
            "naive_executions": naive.as_ref().map(|(n, _)| n.executions),
            "naive_classes": naive.as_ref().map(|(n, _)| n.classes),
            "naive_complete": naive.as_ref().map(|(n, _)| n.complete),
            "naive_secs": naive.as_ref().map(|(_, t)| *t),
            "counts_agree": agree,
            "dpor_executions": d.as_ref().map(|d| d.stats.executions),
            "dpor_sleep_blocked": d.as_ref().map(|d| d.stats.pruned),
            "dpor_explored": explored,
            "dpor_exhaustive": d.as_ref().map(|d| d.exhaustive()),
            "dpor_secs": d.as_ref().map(|d| d.stats.elapsed_secs),
            "ratio": ratio,
        })
    );
}
