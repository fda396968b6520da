//! `pvmm matrix`: every I/O path against every kernel preset.

use crate::checkpoint::Saver;
use crate::common::*;
use crate::interrupt;
use checker::matrix;
use checker::text::escape;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct MatrixArgs {
    /// Presets or releases (columns); default: every preset.
    #[arg(long = "kernel", value_name = "PRESET", value_parser = crate::cli::Declared(crate::cli::preset_names), hide_possible_values = true)]
    pub kernels: Vec<String>,
    /// Cells checked in parallel (at most four per CPU).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Write the Markdown document here instead of stdout (the repository keeps
    /// docs/matrix.md); stdout then gets one summary line.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the matrix as an HTML page here, and next to it (STEM.traces/) a page per
    /// violating cell with its shortest trace drawn.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Stop DPOR after this many executions per cell (deterministic); the stateful search
    /// then finishes the cell (incomplete only if it does not finish either).
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    pub max_executions: u64,
    /// Safety limit per cell in seconds (time-dependent: prefer --max-executions) [default:
    /// 600]; 0: none.
    #[arg(long, value_name = "SECS")]
    pub max_time: Option<u64>,
    /// Memory limit per cell: the process's resident memory, in MiB (default: 75% of
    /// MemAvailable, less under a memory cgroup's limit).
    #[arg(long, value_name = "MIB")]
    pub max_memory: Option<u64>,
    /// Write the finished cells to FILE as each finishes (atomically): after an interruption,
    /// --resume FILE computes only the rest. (Not with --pairs: a shard's --out is its own
    /// resumable output.)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, conflicts_with = "pairs")]
    checkpoint: Option<PathBuf>,
    /// Resume the matrix whose checkpoint is FILE (same presets and bounds): its finished cells
    /// are kept, the others computed; the documents are those of an uninterrupted run. Keeps
    /// writing FILE unless --checkpoint names another. (Not with --pairs: run a --shard again
    /// with the same --out to resume it.)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, conflicts_with = "pairs")]
    resume: Option<PathBuf>,
    /// Replay one cell's violation: ROW PRESET PROPERTY (ROW as in the table); with
    /// --pairs, ROW1 ROW2 PRESET PROPERTY.
    #[arg(long, num_args = 3..=4, value_names = ["ROW", "PRESET", "PROPERTY"])]
    pub replay: Option<Vec<String>>,
    #[command(flatten)]
    pub pairs: crate::pairs::PairArgs,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Output format (json: one document, schema docs/json-schema/pvmm-output.v1.schema.json).
    #[arg(long, value_enum, default_value_t = crate::cli::Format::Text)]
    pub format: crate::cli::Format,
}

/// What a resume must match: the matrix the checkpoint was written for.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct RunKey {
    presets: Vec<String>,
    max_executions: u64,
    max_time_secs: Option<u64>,
    max_memory_mib: Option<u64>,
}

pub fn run(a: MatrixArgs) -> u8 {
    if a.pairs.wanted() {
        return crate::pairs::run(a);
    }
    if a.replay.as_ref().is_some_and(|r| r.len() != 3) {
        return crate::common::bad(
            "--replay takes ROW PRESET PROPERTY (ROW1 ROW2 PRESET PROPERTY with --pairs)",
        );
    }
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
    if let Err(e) = check_jobs(a.jobs) {
        return bad(e);
    }
    let limits = checker::limits::machine();
    let interrupt = interrupt::install();
    let max_time = a
        .max_time
        .unwrap_or(checker::limits::DEFAULT_CELL_TIME_SECS);
    let bounds = explore::Bounds {
        max_time: (max_time > 0).then(|| Duration::from_secs(max_time)),
        max_executions: Some(a.max_executions),
        max_memory_mib: a.max_memory.or(limits.max_memory_mib),
        max_address_space_mib: limits.max_address_space_mib,
        interrupt: Some(interrupt.clone()),
        ..explore::Bounds::default()
    };
    if let Some(r) = &a.replay {
        return replay(r, &presets, bounds);
    }
    let key = RunKey {
        presets: presets.iter().map(|p| p.to_string()).collect(),
        max_executions: a.max_executions,
        max_time_secs: a.max_time,
        max_memory_mib: a.max_memory,
    };
    let saver: Saver<RunKey, matrix::Cell> =
        match Saver::open(a.checkpoint.as_deref(), a.resume.as_deref(), "matrix", key) {
            Ok(s) => s,
            Err(e) => return bad(e),
        };
    let known = saver.done().to_vec();
    let saver = Mutex::new(saver);
    let save_error = Mutex::new(None);
    let show = !a.quiet && std::io::stderr().is_terminal();
    let start = Instant::now();
    let on_cell = |c: &matrix::Cell, done: usize, total: usize| {
        if !matrix::interrupted(c) {
            if let Err(e) = saver.lock().expect("checkpoint").push(c.clone()) {
                save_error.lock().expect("error").get_or_insert(e);
            }
        }
        if show {
            eprint!(
                "\r  {done}/{total} cells, {:.0}s ",
                start.elapsed().as_secs_f64()
            );
        }
    };
    let results = matrix::compute_with(&presets, bounds, a.jobs, known, &on_cell);
    if show {
        eprint!("\r\x1b[K");
    }
    if let Some(e) = save_error.into_inner().expect("error") {
        return bad(e);
    }
    let saver = saver.into_inner().expect("checkpoint");
    let rows = matrix::rows();
    let not_run: Vec<(String, String)> = results
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_none())
        .map(|(i, _)| {
            let (path, via) = rows[i / presets.len()];
            (
                matrix::row_name(path, via),
                presets[i % presets.len()].to_string(),
            )
        })
        .collect();
    let cells: Vec<matrix::Cell> = results.into_iter().flatten().collect();
    let interrupted = !not_run.is_empty() || cells.iter().any(matrix::interrupted);
    let code = if interrupted
        || cells
            .iter()
            .any(|c| c.verdict == checker::Verdict::Incomplete)
    {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    };
    if interrupted {
        // No document: a partial table must not replace docs/matrix.md. What was found so
        // far, and what is kept.
        report_interrupted(&cells, &not_run, saver.path(), a.format);
    } else if let Err(e) = write_documents(&a, &cells, &presets, start) {
        return bad(e);
    }
    if a.format == crate::cli::Format::Json {
        let mut doc = json_doc(&cells, &presets, code);
        doc.limits = limits_out(a.max_memory, &limits);
        doc.interrupted = interrupted;
        doc.not_run = not_run
            .iter()
            .map(|(r, p)| report::json::NotRun {
                name: r.clone(),
                preset: p.clone(),
            })
            .collect();
        print!("{}", report::json::to_string(&doc));
    }
    code
}

/// Writes the matrix's documents of a run that finished: `--out` (Markdown), `--html` (the
/// page and its trace pages), the Markdown on stdout when no file was asked for (text), and
/// the summary line.
fn write_documents(
    a: &MatrixArgs,
    cells: &[matrix::Cell],
    presets: &[&str],
    start: Instant,
) -> Result<(), String> {
    // Timings stay out of the documents (they differ between runs and machines, and the
    // committed docs/matrix.md is compared with a fresh one by a test): they are in the
    // summary line only.
    let summary = summary_line(cells, start.elapsed().as_secs_f64(), a.jobs);
    let md = matrix::markdown(cells, presets);
    let mut written = Vec::new();
    if let Some(out) = &a.out {
        write_file(out, &md)?;
        written.push(out.display().to_string());
    }
    if let Some(out) = &a.html {
        let (name, dir) = html_target(out, "matrix.html");
        let pages = report::matrix::pages(cells, presets, &name);
        for p in &pages {
            write_file(&dir.join(&p.path), &p.text)?;
        }
        written.push(format!(
            "{} (and {} trace pages in {})",
            out.display(),
            pages.len() - 1,
            dir.join(report::matrix::traces_dir(&name)).display()
        ));
    }
    match a.format {
        // The document on stdout only when no file was asked for; the summary always, on
        // stdout after written files, on stderr after the document (stdout is the document).
        crate::cli::Format::Text if written.is_empty() => {
            print!("{md}");
            eprintln!("{summary}");
        }
        crate::cli::Format::Text => println!("{}: {summary}", escape(&written.join(", "))),
        crate::cli::Format::Json => eprintln!("{summary}"),
    }
    Ok(())
}

/// After an interruption: the cells finished, the violations found so far, what is kept.
fn report_interrupted(
    cells: &[matrix::Cell],
    not_run: &[(String, String)],
    checkpoint: Option<&std::path::Path>,
    format: crate::cli::Format,
) {
    let finished = cells.iter().filter(|c| !matrix::interrupted(c)).count();
    let stopped: Vec<&matrix::Cell> = cells.iter().filter(|c| matrix::interrupted(c)).collect();
    let mut m = format!(
        "interrupted: {finished} of {} cells finished, {} stopped in their search, {} not run",
        cells.len() + not_run.len(),
        stopped.len(),
        not_run.len()
    );
    match checkpoint {
        Some(f) => m.push_str(&format!(
            "; the finished cells are kept in {} (resume: the same command with --resume {})",
            f.display(),
            f.display()
        )),
        None => m.push_str("; nothing is kept (no --checkpoint)"),
    }
    eprintln!("{}", escape(&m));
    if format == crate::cli::Format::Text {
        println!("matrix incomplete (interrupted): no table written.\nViolations found so far:");
        for c in cells.iter().filter(|c| !c.violations.is_empty()) {
            println!(
                "  {} on {}{}: {}",
                c.via,
                c.preset,
                if matrix::interrupted(c) {
                    " (interrupted)"
                } else {
                    ""
                },
                c.schedules
                    .iter()
                    .map(|(p, s)| format!("{p} (schedule {s})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for c in stopped {
            println!("  {} on {}: incomplete (interrupted)", c.via, c.preset);
        }
    }
}

/// One line: how many cells, by verdict, and how long they took on this machine.
fn summary_line(cells: &[matrix::Cell], secs: f64, jobs: usize) -> String {
    let count = |v: checker::Verdict| cells.iter().filter(|c| c.verdict == v).count();
    format!(
        "{} cells: {} verified, {} violation, {} incomplete; {secs:.1} s with --jobs {jobs} on {} CPUs",
        cells.len(),
        count(checker::Verdict::Verified),
        count(checker::Verdict::Violation),
        count(checker::Verdict::Incomplete),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    )
}

/// The matrix as one JSON document (`kind: matrix`).
pub fn json_doc(cells: &[matrix::Cell], presets: &[&str], code: u8) -> report::json::MatrixDoc {
    use report::json::{Header, MatrixCell, MatrixDoc, PropertySchedule};
    MatrixDoc {
        header: Header::new("matrix"),
        semantics: checker::SEMANTICS.to_string(),
        presets: presets.iter().map(|p| p.to_string()).collect(),
        cells: cells
            .iter()
            .map(|c| MatrixCell {
                // `Cell::via` holds the row's name; the path alone is the own-mm row.
                row: c.via.clone(),
                path: c.path.clone(),
                via: if c.via == c.path {
                    "own mm".to_string()
                } else {
                    "second mapping".to_string()
                },
                preset: c.preset.clone(),
                verdict: c.verdict,
                violations: c.violations.clone(),
                observations: c.observations.clone(),
                executions: c.executions,
                elapsed_secs: c.secs,
                stopped_by: c.stopped_by.clone(),
                stateful_states: c.stateful_states,
                schedules: c
                    .schedules
                    .iter()
                    .map(|(p, s)| PropertySchedule {
                        property: p.clone(),
                        schedule: s.clone(),
                    })
                    .collect(),
            })
            .collect(),
        limits: report::json::LimitsOut {
            max_memory_mib: None,
            max_address_space_mib: None,
            source: String::new(),
        },
        interrupted: false,
        not_run: Vec::new(),
        exit_code: code,
    }
}

fn replay(r: &[String], presets: &[&str], bounds: explore::Bounds) -> u8 {
    let Some((path, via)) = matrix::find_row(&r[0]) else {
        return bad(format!("--replay: no row `{}` (see the table)", r[0]));
    };
    if !presets.contains(&r[1].as_str()) {
        if let Err(e) = kernel::vocab::presets::resolve(&r[1]) {
            return bad(format!("--replay: {e}"));
        }
    }
    let c = matrix::cell(path, via, &r[1], bounds);
    let Some((_, sched)) = c.schedules.iter().find(|(p, _)| *p == r[2]) else {
        return bad(format!(
            "--replay: {} on {} has no violation `{}` (it has: {})",
            r[0],
            r[1],
            r[2],
            if c.violations.is_empty() {
                "none".to_string()
            } else {
                c.violations.join(", ")
            }
        ));
    };
    let sc = matrix::row_scenario(path, via, &[r[1].as_str()]);
    println!("{}", matrix::scenario_text(path, via, &[r[1].as_str()]));
    let k = match sc.kernel(&r[1], &[]) {
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
    // Like `pvmm replay` of a trace file: 0 when the cell's violation happens again.
    if rep.findings().any(|f| f.property == r[2]) {
        EXIT_OK
    } else {
        println!("{} NOT reproduced", r[2]);
        EXIT_VIOLATION
    }
}

/// The page name and directory of `--html OUT` (`default` when OUT names no file), with the
/// trace pages an earlier run left there removed (nothing else): pages of cells that are no
/// longer violations would be stale. The single matrix and the pair matrix.
pub(crate) fn html_target<'a>(
    out: &'a std::path::Path,
    default: &str,
) -> (String, &'a std::path::Path) {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| default.to_string());
    let dir = out.parent().unwrap_or(std::path::Path::new(""));
    if let Ok(old) = std::fs::read_dir(dir.join(report::matrix::traces_dir(&name))) {
        for e in old.flatten() {
            if e.path().extension().is_some_and(|x| x == "html") && e.path().is_file() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    (name, dir)
}
