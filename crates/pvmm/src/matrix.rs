//! `pvmm matrix`: every I/O path against every kernel preset.

use checker::matrix;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct MatrixArgs {
    /// Presets or releases (columns); default: every preset.
    #[arg(long = "kernel", value_name = "PRESET", value_parser = crate::cli::Declared(crate::cli::preset_names), hide_possible_values = true)]
    kernels: Vec<String>,
    /// Cells checked in parallel.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Write the Markdown document here instead of stdout (the repository keeps
    /// docs/matrix.md); stdout then gets one summary line.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write the matrix as an HTML page here, and next to it (STEM.traces/) a page per
    /// violating cell with its shortest trace drawn.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Stop DPOR after this many executions per cell (deterministic); the stateful search
    /// then finishes the cell (incomplete only if it does not finish either).
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    max_executions: u64,
    /// Safety limit per cell in seconds (time-dependent: prefer --max-executions).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    max_time: u64,
    /// Replay one cell's violation: ROW PRESET PROPERTY (ROW as in the table).
    #[arg(long, num_args = 3, value_names = ["ROW", "PRESET", "PROPERTY"])]
    replay: Option<Vec<String>>,
    /// No progress line.
    #[arg(long, short)]
    quiet: bool,
    /// Output format (json: one document, schema docs/json-schema/pvmm-output.v1.schema.json).
    #[arg(long, value_enum, default_value_t = crate::cli::Format::Text)]
    format: crate::cli::Format,
}

pub fn run(a: MatrixArgs) -> u8 {
    let all: Vec<&str> = kernel::config::PRESETS.iter().map(|p| p.name).collect();
    let mut presets: Vec<&str> = Vec::new();
    for k in &a.kernels {
        if let Err(e) = kernel::vocab::presets::resolve(k) {
            return crate::common::bad(format!("--kernel {k}: {e}"));
        }
        presets.push(k.as_str());
    }
    if presets.is_empty() {
        presets = all;
    }
    let bounds = explore::Bounds {
        max_time: Some(Duration::from_secs(a.max_time)),
        max_executions: Some(a.max_executions),
        ..explore::Bounds::default()
    };
    if let Some(r) = &a.replay {
        return replay(r, &presets, bounds);
    }
    let show = !a.quiet && std::io::stderr().is_terminal();
    let start = Instant::now();
    let progress = |done: usize, total: usize| {
        if show {
            eprint!(
                "\r  {done}/{total} cells, {:.0}s ",
                start.elapsed().as_secs_f64()
            );
        }
    };
    let cells = matrix::compute(&presets, bounds, a.jobs, &progress);
    if show {
        eprint!("\r\x1b[K");
    }
    // Timings stay out of the documents (they differ between runs and machines, and the
    // committed docs/matrix.md is compared with a fresh one by a test): they are in the
    // summary line only.
    let summary = summary_line(&cells, start.elapsed().as_secs_f64(), a.jobs);
    let md = matrix::markdown(&cells, &presets);
    let mut written = Vec::new();
    if let Some(out) = &a.out {
        if let Err(e) = crate::common::write_file(out, &md) {
            return crate::common::bad(e);
        }
        written.push(out.display().to_string());
    }
    if let Some(out) = &a.html {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "matrix.html".to_string());
        let dir = out.parent().unwrap_or(std::path::Path::new(""));
        // Trace pages of an earlier run whose cells are no longer violations would be
        // stale: remove the pages (nothing else) of that directory first.
        if let Ok(old) = std::fs::read_dir(dir.join(report::matrix::traces_dir(&name))) {
            for e in old.flatten() {
                if e.path().extension().is_some_and(|x| x == "html") && e.path().is_file() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let pages = report::matrix::pages(&cells, &presets, &name);
        for p in &pages {
            if let Err(e) = crate::common::write_file(&dir.join(&p.path), &p.text) {
                return crate::common::bad(e);
            }
        }
        written.push(format!(
            "{} (and {} trace pages in {})",
            out.display(),
            pages.len() - 1,
            dir.join(report::matrix::traces_dir(&name)).display()
        ));
    }
    let code = if cells
        .iter()
        .any(|c| c.verdict == checker::Verdict::Incomplete)
    {
        3
    } else {
        0
    };
    match a.format {
        // The document on stdout only when no file was asked for; the summary always, on
        // stdout after written files, on stderr after the document (stdout is the document).
        crate::cli::Format::Text if written.is_empty() => {
            print!("{md}");
            eprintln!("{summary}");
        }
        crate::cli::Format::Text => println!("{}: {summary}", written.join(", ")),
        crate::cli::Format::Json => eprintln!("{summary}"),
    }
    if a.format == crate::cli::Format::Json {
        print!(
            "{}",
            report::json::to_string(&json_doc(&cells, &presets, code))
        );
    }
    code
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
        exit_code: code,
    }
}

fn replay(r: &[String], presets: &[&str], bounds: explore::Bounds) -> u8 {
    let Some((path, via)) = matrix::find_row(&r[0]) else {
        return crate::common::bad(format!("--replay: no row `{}` (see the table)", r[0]));
    };
    if !presets.contains(&r[1].as_str()) {
        if let Err(e) = kernel::vocab::presets::resolve(&r[1]) {
            return crate::common::bad(format!("--replay: {e}"));
        }
    }
    let c = matrix::cell(path, via, &r[1], bounds);
    let Some((_, sched)) = c.schedules.iter().find(|(p, _)| *p == r[2]) else {
        return crate::common::bad(format!(
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
        Err(e) => {
            return crate::common::bad(e);
        }
    };
    let schedule = match explore::parse_schedule(sched) {
        Ok(s) => s,
        Err(e) => {
            return crate::common::bad(e);
        }
    };
    let rep = explore::replay(&sc.model(k), &schedule);
    print!("{}", checker::trace::render(&rep));
    println!("schedule: {sched}");
    1
}
