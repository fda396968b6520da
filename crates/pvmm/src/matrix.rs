//! `pvmm matrix`: every I/O path against every kernel preset.

use checker::matrix;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct MatrixArgs {
    /// Presets (columns); default: all.
    #[arg(long = "kernel", value_name = "PRESET", value_parser = crate::cli::Declared(crate::cli::preset_names), hide_possible_values = true)]
    kernels: Vec<String>,
    /// Cells checked in parallel.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Write the Markdown table here (the repository keeps docs/matrix.md).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write a self-contained HTML page here.
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
        match all.iter().find(|p| **p == k.as_str()) {
            Some(p) => presets.push(*p),
            None => {
                eprintln!(
                    "error: --kernel {k}: unknown kernel preset (known: {})",
                    all.join(", ")
                );
                return 2;
            }
        }
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
    let measured = format!(
        "\nMeasured: {} cells in {:.1} s with --jobs {} on {} CPUs.\n",
        cells.len(),
        start.elapsed().as_secs_f64(),
        a.jobs,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let md = format!(
        "{}{measured}",
        matrix::markdown(&cells, &presets, matrix::HEADER)
    );
    if a.format == crate::cli::Format::Text {
        print!("{md}");
    }
    if let Some(out) = &a.out {
        if let Err(e) = std::fs::write(out, &md) {
            eprintln!("error: {}: {e}", out.display());
            return 2;
        }
    }
    if let Some(out) = &a.html {
        let page = matrix::html(&cells, &presets, &format!("{}{measured}", matrix::HEADER));
        if let Err(e) = std::fs::write(out, page) {
            eprintln!("error: {}: {e}", out.display());
            return 2;
        }
    }
    let code = if cells
        .iter()
        .any(|c| c.verdict == checker::Verdict::Incomplete)
    {
        3
    } else {
        0
    };
    if a.format == crate::cli::Format::Json {
        print!(
            "{}",
            report::json::to_string(&json_doc(&cells, &presets, code))
        );
    }
    code
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
        eprintln!("error: --replay: no row `{}` (see the table)", r[0]);
        return 2;
    };
    if !presets.contains(&r[1].as_str()) {
        eprintln!("error: --replay: unknown preset `{}`", r[1]);
        return 2;
    }
    let c = matrix::cell(path, via, &r[1], bounds);
    let Some((_, sched)) = c.schedules.iter().find(|(p, _)| *p == r[2]) else {
        eprintln!(
            "error: --replay: {} on {} has no violation `{}` (it has: {})",
            r[0],
            r[1],
            r[2],
            if c.violations.is_empty() {
                "none".to_string()
            } else {
                c.violations.join(", ")
            }
        );
        return 2;
    };
    let sc = matrix::row_scenario(path, via, &[r[1].as_str()]);
    println!("{}", matrix::scenario_text(path, via, &[r[1].as_str()]));
    let k = match sc.kernel(&r[1], &[]) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let schedule = match explore::parse_schedule(sched) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let rep = explore::replay(&sc.model(k), &schedule);
    print!("{}", checker::trace::render(&rep));
    println!("schedule: {sched}");
    1
}
