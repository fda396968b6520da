//! `pvmm matrix --pairs`: every unordered pair of host paths against the vCPU's import on
//! every preset; `--shard K/N` computes a deterministic part of it into a resumable output,
//! `--merge` makes the documents of the shards' outputs.

use crate::common::{bad, write_file, EXIT_INCOMPLETE, EXIT_OK};
use crate::matrix::{html_target, MatrixArgs};
use checker::pairs::doc::View;
use checker::pairs::{self, shard, Plan};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct PairArgs {
    /// The pair matrix: every unordered pair of rows (two host threads, and a row with
    /// itself) against the vCPU on every preset, with the single rows beside them.
    #[arg(long)]
    pub pairs: bool,
    /// With --pairs: only these rows (as in the table; repeatable; default: every row).
    #[arg(long = "row", value_name = "ROW", requires = "pairs")]
    pub rows: Vec<String>,
    /// With --pairs: compute shard K of N (a deterministic part of the checks, balanced by
    /// estimated cost) into --out (JSON Lines, written as each check finishes; run the same
    /// command again to resume an interrupted shard).
    #[arg(long, value_name = "K/N", requires = "pairs")]
    pub shard: Option<String>,
    /// With --pairs: the documents of the shards' outputs (every shard 1/N … N/N of one
    /// plan: the same --row and --kernel options), byte for byte those of one run.
    #[arg(long, value_name = "SHARD", num_args = 1.., requires = "pairs", conflicts_with = "shard")]
    pub merge: Vec<PathBuf>,
    /// With --pairs: print the scenario of the pair ROW1 ROW2 (a file `pvmm check` takes)
    /// and exit.
    #[arg(long, num_args = 2, value_names = ["ROW1", "ROW2"], requires = "pairs")]
    pub scenario: Option<Vec<String>>,
}

impl PairArgs {
    /// Whether the pair matrix was asked for.
    pub fn wanted(&self) -> bool {
        self.pairs
    }
}

pub fn run(a: MatrixArgs) -> u8 {
    let all: Vec<&str> = kernel::config::PRESETS.iter().map(|p| p.name).collect();
    let mut presets: Vec<&str> = Vec::new();
    for k in &a.kernels {
        if let Err(e) = kernel::vocab::presets::resolve(k) {
            return bad(format!("--kernel {k}: {e}"));
        }
        presets.push(k.as_str());
    }
    if presets.is_empty() {
        presets = all;
    }
    let rows = checker::matrix::rows();
    let mut only = Vec::new();
    for r in &a.pairs.rows {
        match only_row(&rows, r) {
            Some(i) => only.push(i),
            None => return bad(format!("--row {r}: no such row (see `pvmm matrix`)")),
        }
    }
    if let Some(sc) = &a.pairs.scenario {
        let find = |r: &str| only_row(&rows, r);
        let (Some(x), Some(y)) = (find(&sc[0]), find(&sc[1])) else {
            return bad(format!(
                "--scenario {} {}: no such row (see `pvmm matrix`)",
                sc[0], sc[1]
            ));
        };
        return match pairs::pair_text(rows[x], rows[y], &presets) {
            Ok(t) => {
                print!("{t}");
                EXIT_OK
            }
            Err(e) => bad(format!("{} and {} are not one scenario: {e}", sc[0], sc[1])),
        };
    }
    if let Err(e) = crate::common::check_jobs(a.jobs) {
        return bad(e);
    }
    // As the single matrix's cells: the time limit (0: none) and the machine's memory and
    // address-space limits. No interrupt handler: a shard's output holds finished checks
    // only, and an interrupted shard resumes from it.
    let limits = checker::limits::machine();
    let max_time = a
        .max_time
        .unwrap_or(checker::limits::DEFAULT_CELL_TIME_SECS);
    let bounds = explore::Bounds {
        max_time: (max_time > 0).then(|| Duration::from_secs(max_time)),
        max_executions: Some(a.max_executions),
        max_memory_mib: a.max_memory.or(limits.max_memory_mib),
        max_address_space_mib: limits.max_address_space_mib,
        ..explore::Bounds::default()
    };
    if let Some(r) = &a.replay {
        return replay(r, &rows, &presets, bounds);
    }
    let start = Instant::now();
    let plan = Plan::new(&only, &presets, bounds);
    let results = if !a.pairs.merge.is_empty() {
        match shard::merge(&plan, &a.pairs.merge) {
            Ok(r) => r,
            Err(e) => return bad(e),
        }
    } else {
        match compute(&a, &plan, start) {
            Ok(Some(r)) => r,
            Ok(None) => return EXIT_OK,
            Err(e) => return bad(e),
        }
    };
    documents(&a, &plan, &results, start)
}

/// Runs the checks (all, or a shard's into its output); `None` after a shard. The single
/// rows first (every shard checks them: they are what the pairs' costs are estimated from),
/// then the pairs (a shard's share), largest estimate first.
fn compute(
    a: &MatrixArgs,
    plan: &Plan,
    start: Instant,
) -> Result<Option<Vec<pairs::Outcome>>, String> {
    let show = !a.quiet && std::io::stderr().is_terminal();
    let mut results: Vec<Option<pairs::Outcome>> = vec![None; plan.checks.len()];
    let shard = a
        .pairs
        .shard
        .as_deref()
        .map(shard::parse_shard)
        .transpose()?;
    let journal = match shard {
        Some((k, n)) => {
            let out = a.out.as_ref().ok_or(
                "--shard needs --out FILE: the shard's output (resumed from when it exists)",
            )?;
            let (j, done) = shard::Journal::open(out, plan, k, n)?;
            if !done.is_empty() {
                eprintln!(
                    "shard {k}/{n}: resuming {}: {} checks done",
                    out.display(),
                    done.len()
                );
            }
            for l in done {
                results[l.check] = Some(l.outcome);
            }
            Some(Mutex::new(j))
        }
        None => None,
    };
    let results = Mutex::new(results);
    let error = Mutex::new(None);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let run = |todo: &[usize], what: &str| {
        let total = todo.len();
        done.store(0, std::sync::atomic::Ordering::SeqCst);
        pairs::compute(plan, todo, a.jobs, &|i, o, secs| {
            if let Some(j) = &journal {
                let c = &plan.checks[i];
                let line = shard::Line {
                    check: i,
                    unit: plan.unit_arg(c.unit),
                    preset: c.preset.clone(),
                    outcome: o.clone(),
                    secs,
                };
                if let Err(e) = j.lock().expect("journal").push(&line) {
                    error.lock().expect("error").get_or_insert(e);
                }
            }
            results.lock().expect("results")[i] = Some(o.clone());
            let d = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if show {
                eprint!(
                    "\r  {what}: {d}/{total} checks, {:.0}s ",
                    start.elapsed().as_secs_f64()
                );
            }
        });
    };
    let not_done = |all: Vec<usize>| -> Vec<usize> {
        let r = results.lock().expect("results");
        all.into_iter().filter(|&i| r[i].is_none()).collect()
    };
    run(&not_done(plan.single_checks()), "single rows");
    let estimates = plan.estimates(&results.lock().expect("results"));
    let share = match shard {
        Some((k, n)) => shard::assign(plan, n, &estimates).swap_remove(k - 1),
        None => plan.pair_checks(),
    };
    let pairs_todo = plan.largest_first(&not_done(share.clone()), &estimates);
    run(&pairs_todo, "pairs");
    if show {
        eprint!("\r\x1b[K");
    }
    if let Some(e) = error.into_inner().expect("error") {
        return Err(e);
    }
    if let Some((k, n)) = shard {
        eprintln!(
            "shard {k}/{n}: {} single-row and {} pair checks ({} computed now) in {:.1} s with --jobs {}; {} written",
            plan.single_checks().len(),
            share.len(),
            pairs_todo.len(),
            start.elapsed().as_secs_f64(),
            a.jobs,
            a.out.as_ref().map(|o| o.display().to_string()).unwrap_or_default()
        );
        return Ok(None);
    }
    Ok(Some(
        results
            .into_inner()
            .expect("results")
            .into_iter()
            .map(|o| o.expect("every check computed"))
            .collect(),
    ))
}

/// Writes the documents of a finished plan (one run or a merge): Markdown to --out (or
/// stdout), the page to --html, JSON on stdout with --format json.
fn documents(a: &MatrixArgs, plan: &Plan, results: &[pairs::Outcome], start: Instant) -> u8 {
    let view = View::new(plan, results);
    let code = if view
        .outcomes
        .iter()
        .any(|o| o.verdict == checker::Verdict::Incomplete)
    {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    };
    let (ok, viol, inc) = view.pair_counts();
    let (states, _) = view.totals(results);
    let summary = format!(
        "{} pair cells: {ok} verified, {viol} violation, {inc} incomplete; {} interactions; {} checks, {states} states; {} pairs not one scenario; {:.1} s{}",
        ok + viol + inc,
        view.interactions().len(),
        plan.checks.len(),
        plan.conflicts.len(),
        start.elapsed().as_secs_f64(),
        if a.pairs.merge.is_empty() {
            format!(
                " with --jobs {} on {} CPUs",
                a.jobs,
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            )
        } else {
            format!(" (merge of {} shards)", a.pairs.merge.len())
        }
    );
    let md = view.markdown(results);
    let mut written = Vec::new();
    if let Some(out) = &a.out {
        if let Err(e) = write_file(out, &md) {
            return bad(e);
        }
        written.push(out.display().to_string());
    }
    if let Some(out) = &a.html {
        let (name, dir) = html_target(out, "pairs.html");
        let pages = report::pairs::pages(&view, results, &name);
        for p in &pages {
            if let Err(e) = write_file(&dir.join(&p.path), &p.text) {
                return bad(e);
            }
        }
        written.push(format!(
            "{} (and {} trace pages in {})",
            out.display(),
            pages.len() - 1,
            dir.join(report::matrix::traces_dir(&name)).display()
        ));
    }
    match a.format {
        crate::cli::Format::Text if written.is_empty() => {
            print!("{md}");
            eprintln!("{summary}");
        }
        crate::cli::Format::Text => println!("{}: {summary}", written.join(", ")),
        crate::cli::Format::Json => {
            eprintln!("{summary}");
            print!(
                "{}",
                report::json::to_string(&report::pairs::json_doc(&view, results, code))
            );
        }
    }
    code
}

/// `--pairs --replay ROW1 ROW2 PRESET PROPERTY`: computes the pair's cell and replays the
/// property's trace (the scenario, then the steps).
fn replay(r: &[String], rows: &[pairs::Row], presets: &[&str], bounds: explore::Bounds) -> u8 {
    if r.len() != 4 {
        return bad("--pairs --replay takes ROW1 ROW2 PRESET PROPERTY");
    }
    let (Some(x), Some(y)) = (only_row(rows, &r[0]), only_row(rows, &r[1])) else {
        return bad(format!(
            "--replay: no row `{}` (see the table)",
            if only_row(rows, &r[0]).is_none() {
                &r[0]
            } else {
                &r[1]
            }
        ));
    };
    if !presets.contains(&r[2].as_str()) {
        return bad(format!("--replay: unknown preset `{}`", r[2]));
    }
    let (x, y) = (x.min(y), x.max(y));
    let text = match pairs::pair_text(rows[x], rows[y], &[r[2].as_str()]) {
        Ok(t) => t,
        Err(e) => {
            return bad(format!(
                "--replay: {} and {} are not one scenario: {e}",
                r[0], r[1]
            ))
        }
    };
    let plan = Plan::new(&[x, y], &[r[2].as_str()], bounds.clone());
    let (a, b) = (
        plan.find_row(&r[0]).unwrap_or(0),
        plan.find_row(&r[1]).unwrap_or(0),
    );
    let unit = pairs::Unit::Pair(a.min(b), a.max(b));
    let sc = plan.scenario(unit, &[r[2].as_str()]);
    let c = pairs::check_cell(&sc, &r[2], bounds);
    let Some((_, sched)) = c.schedules.iter().find(|(p, _)| *p == r[3]) else {
        return bad(format!(
            "--replay: {} + {} on {} has no violation `{}` (it has: {})",
            r[0],
            r[1],
            r[2],
            r[3],
            if c.violations.is_empty() {
                "none".to_string()
            } else {
                c.violations.join(", ")
            }
        ));
    };
    println!("{text}");
    let k = match sc.kernel(&r[2], &[]) {
        Ok(k) => k,
        Err(e) => return bad(e),
    };
    let schedule = match explore::parse_schedule(sched) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let rep = explore::replay(&sc.model(k), &schedule);
    print!("{}", checker::trace::render(&rep));
    println!("schedule: {sched}");
    1
}

fn only_row(rows: &[pairs::Row], r: &str) -> Option<usize> {
    rows.iter().position(|&(p, v)| {
        let n = checker::matrix::row_name(p, v);
        n == r || n.replace(" (2nd mm)", "-2nd-mm") == r
    })
}
