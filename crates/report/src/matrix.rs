//! The matrix as an HTML page (`pvmm matrix --html FILE`): a rendered header, a legend (each
//! verdict's colour, each property abbreviation used), the table, each path's description
//! (title and kernel call chain), and — for each violating cell — a link to a page of its own
//! next to the matrix (`<stem>.traces/<cell>.html`): the report of the cell's shortest trace
//! (swimlane diagram and every step), and the schedule and replay command of each of its
//! other violations.
//!
//! Like every page of this crate, self-contained: inline CSS, no script, nothing fetched.
//! Counts only, no timing: the page is the same on every run.

use crate::html::{self, Section};
use crate::svg::esc;
use checker::matrix::{self, Cell, Via};
use checker::Verdict;
use explore::Severity;
use std::fmt::Write as _;

/// A page to write: its path relative to the matrix page's directory, and its text.
pub struct PageFile {
    pub path: String,
    pub text: String,
}

/// The directory of the trace pages next to the matrix page `file_name` (`matrix.html` →
/// `matrix.traces`).
pub fn traces_dir(file_name: &str) -> String {
    let stem = file_name.strip_suffix(".html").unwrap_or(file_name);
    format!("{stem}.traces")
}

/// The matrix page and the trace page of every violating cell (paths relative to the
/// directory of the matrix page, whose own file name is `file_name`).
pub fn pages(cells: &[Cell], presets: &[&str], file_name: &str) -> Vec<PageFile> {
    let dir = traces_dir(file_name);
    let mut out = vec![PageFile {
        path: file_name.to_string(),
        text: page(cells, presets, &dir),
    }];
    for c in cells.iter().filter(|c| c.verdict == Verdict::Violation) {
        out.push(PageFile {
            path: format!("{dir}/{}.html", matrix::anchor_of(c)),
            text: trace_page(c, file_name),
        });
    }
    out
}

/// Markdown inline code (`…`) as HTML `<code>`; everything else escaped.
fn inline_code(s: &str) -> String {
    let mut o = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(o, "<code>{}</code>", esc(part));
        } else {
            o.push_str(&esc(part));
        }
    }
    o
}

const CSS: &str = r#"
:root { --ok:#d9f2d9; --bad:#f8d0d0; --inc:#fff2cc; --line:#c8ccd2; --muted:#59636e; }
body { margin: 0; font: 14px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1f2328; background: #fff; }
header.top { background: #1f2a37; color: #fff; padding: 14px 24px; }
header.top h1 { margin: 0 0 6px; font-size: 20px; }
header.top p { margin: 0; color: #d8dee6; font-size: 13px; max-width: 110em; }
header.top code { background: #33404f; color: #fff; }
main { padding: 12px 24px 40px; }
code { background: #eef1f4; padding: 1px 4px; border-radius: 3px; font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 10px 0 14px; font-size: 13px; }
.legend .swatch { display: inline-block; min-width: 22px; padding: 0 4px; border: 1px solid var(--line); text-align: center; margin-right: 4px; }
table.matrix { border-collapse: collapse; font-size: 12px; }
table.matrix th, table.matrix td { border: 1px solid var(--line); padding: 3px 5px; text-align: center; vertical-align: top; }
table.matrix th.row { text-align: left; font-weight: normal; min-width: 15em; }
table.matrix th.row a { font-family: "DejaVu Sans Mono", monospace; font-weight: bold; }
table.matrix th.row span { display: block; color: var(--muted); font-size: 11px; }
.ok { background: var(--ok); } .bad { background: var(--bad); } .inc { background: var(--inc); }
td small { display: block; color: #555; font-size: 10px; }
td.bad a { color: #8a0010; font-weight: bold; }
table.paths { border-collapse: collapse; font-size: 13px; }
table.paths td, table.paths th { border-bottom: 1px solid #e4e7eb; padding: 4px 8px; text-align: left; vertical-align: top; }
table.paths td.id { font-family: "DejaVu Sans Mono", monospace; white-space: nowrap; }
@media print { header.top { background: #fff; color: #000; } header.top p { color: #222; } header.top code { background: #eee; color: #000; } }
"#;

/// The matrix page; violating cells link into `traces_dir`.
pub fn page(cells: &[Cell], presets: &[&str], traces_dir: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>pvmm matrix</title>\n<style>{CSS}</style>\n</head>\n<body>\n<header class=\"top\"><h1>{}</h1><p>{}</p></header>\n<main>\n",
        esc(matrix::TITLE),
        inline_code(matrix::INTRO)
    );
    legend(&mut h, cells);
    table(&mut h, cells, presets, traces_dir);
    paths(&mut h);
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

/// Verdict colours, and every property abbreviation the cells use with what it means.
fn legend(h: &mut String, cells: &[Cell]) {
    h.push_str("<div class=\"legend\" id=\"legend\">");
    let _ = write!(
        h,
        "<span><span class=\"swatch ok\">✓</span>verified: every interleaving explored, nothing violated</span><span><span class=\"swatch bad\">✗</span>violation: the properties below, linked to the cell's shortest trace</span><span><span class=\"swatch inc\">…</span>incomplete: a bound stopped the search</span><span><small>N ex</small> DPOR's executions · <small>+ N st</small> states of the stateful search that finished the cell</span>"
    );
    h.push_str("</div>\n<div class=\"legend\" id=\"abbreviations\">");
    let mut props: Vec<&str> = cells
        .iter()
        .flat_map(|c| c.violations.iter().map(String::as_str))
        .collect();
    props.sort_unstable();
    props.dedup();
    for p in props {
        let _ = write!(
            h,
            "<span data-property=\"{}\"><b>{}</b> = <code>{}</code>: {}</span>",
            esc(p),
            esc(matrix::short(p)),
            esc(p),
            esc(crate::property_text(p))
        );
    }
    h.push_str("</div>\n");
}

fn cell_counts(c: &Cell) -> String {
    match c.stateful_states {
        Some(st) => format!("{} ex + {st} st", c.executions),
        None => format!("{} ex", c.executions),
    }
}

fn table(h: &mut String, cells: &[Cell], presets: &[&str], traces_dir: &str) {
    h.push_str("<table class=\"matrix\"><tr><th>path</th>");
    for p in presets {
        let _ = write!(h, "<th>{}</th>", esc(p));
    }
    h.push_str("</tr>\n");
    for (path, via) in matrix::rows() {
        let rn = matrix::row_name(path, via);
        let _ = write!(
            h,
            "<tr><th class=\"row\"><a href=\"#path-{}\">{}</a><span>{}</span></th>",
            row_id(&rn),
            esc(&rn),
            esc(path.title)
        );
        for p in presets {
            let Some(c) = cells.iter().find(|c| c.via == rn && c.preset == *p) else {
                h.push_str("<td></td>");
                continue;
            };
            let (class, text) = match c.verdict {
                Verdict::Verified => ("ok", "✓".to_string()),
                Verdict::Incomplete => (
                    "inc",
                    format!(
                        "… incomplete ({})",
                        esc(c.stopped_by.as_deref().unwrap_or("bound"))
                    ),
                ),
                Verdict::Violation => (
                    "bad",
                    format!(
                        "<a href=\"{}/{}.html\">✗ {}</a>",
                        esc(traces_dir),
                        matrix::anchor_of(c),
                        esc(&c
                            .violations
                            .iter()
                            .map(|s| matrix::short(s))
                            .collect::<Vec<_>>()
                            .join(" "))
                    ),
                ),
            };
            let _ = write!(
                h,
                "<td class=\"{class}\" data-row=\"{}\" data-preset=\"{}\">{text}<small>{}</small></td>",
                esc(&rn),
                esc(p),
                cell_counts(c)
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

fn row_id(row: &str) -> String {
    row.replace(" (2nd mm)", "-2nd-mm")
}

/// Each path: what it is and the kernel functions it goes through.
fn paths(h: &mut String) {
    h.push_str("<h2 id=\"paths\">Paths</h2>\n<table class=\"paths\"><tr><th>path</th><th>what</th><th>kernel functions</th></tr>\n");
    for (path, via) in matrix::rows() {
        let rn = matrix::row_name(path, via);
        let _ = writeln!(
            h,
            "<tr id=\"path-{}\"><td class=\"id\">{}</td><td>{}{}</td><td>{}</td></tr>",
            row_id(&rn),
            esc(&rn),
            esc(path.title),
            match via {
                Via::Own => "",
                Via::Second => ", through a second process's mapping",
            },
            esc(path.kernel)
        );
    }
    h.push_str("</table>\n");
}

/// The page of one violating cell: its shortest trace rendered, the others listed.
pub fn trace_page(c: &Cell, matrix_file: &str) -> String {
    let Some((path, via)) = matrix::find_row(&c.via) else {
        return html::page(&c.via, "no such row", &[]);
    };
    let sc = matrix::row_scenario(path, via, &[c.preset.as_str()]);
    let row_arg = matrix::row_name(path, via).replace(" (2nd mm)", "-2nd-mm");
    let replay_cmd = |prop: &str| format!("pvmm matrix --replay {row_arg} {} {prop}", c.preset);
    cell_trace_page(&CellPage {
        scenario: &sc,
        preset: &c.preset,
        name: &c.via,
        heading: &format!("pvmm matrix: {} on {}", c.via, c.preset),
        subtitle: path.title,
        verdict: c.verdict,
        executions: c.executions,
        stateful_states: c.stateful_states,
        schedules: &c.schedules,
        path: Some(path.kernel),
        replay_cmd: &replay_cmd,
        back: (matrix_file, "← the matrix"),
    })
}

/// What the trace page of a violating cell (of the matrix or of the pair matrix) shows.
pub(crate) struct CellPage<'a> {
    pub scenario: &'a checker::Scenario,
    pub preset: &'a str,
    /// The row (or pair) as the page names it.
    pub name: &'a str,
    pub heading: &'a str,
    /// What the row (or the two rows) stand for.
    pub subtitle: &'a str,
    pub verdict: Verdict,
    pub executions: u64,
    pub stateful_states: Option<u64>,
    /// (property, schedule) of each violation.
    pub schedules: &'a [(String, String)],
    /// The kernel path of a single row (its card's `path` line).
    pub path: Option<&'a str>,
    pub replay_cmd: &'a dyn Fn(&str) -> String,
    /// The page to go back to (relative to the traces directory) and the link's text.
    pub back: (&'a str, &'a str),
}

/// The page of one violating cell: the violation with the fewest steps replayed and drawn
/// (the first property on a tie), the others listed with their schedules and replay commands.
pub(crate) fn cell_trace_page(c: &CellPage<'_>) -> String {
    let steps = |s: &str| s.split('.').filter(|x| !x.is_empty()).count();
    let shortest = c
        .schedules
        .iter()
        .min_by_key(|(_, s)| steps(s))
        .map(|(p, s)| (p.as_str(), s.as_str()));
    let mut violations = Vec::new();
    let mut others = Vec::new();
    if let (Some((prop, sched)), Ok(k)) = (shortest, c.scenario.kernel(c.preset, &[])) {
        let model = c.scenario.model(k);
        let schedule = explore::parse_schedule(sched).unwrap_or_default();
        let r = explore::replay(&model, &schedule);
        let message = r
            .findings()
            .find(|f| f.property == prop)
            .map(|f| f.message.clone())
            .unwrap_or_else(|| "not reproduced by this schedule".to_string());
        violations.push(crate::violation_view(
            &model,
            &r,
            &format!("{} on {}: {prop}", c.name, c.preset),
            Some(prop),
            Severity::Violation,
            &message,
            sched,
            None,
            (c.replay_cmd)(prop),
        ));
        for (q, s) in c.schedules.iter().filter(|(q, _)| q != prop) {
            others.push(format!(
                "also violated: {q} — {} steps, schedule {s} · replay: {}",
                steps(s),
                (c.replay_cmd)(q)
            ));
        }
    }
    let mut card = vec![
        ("verdict".to_string(), c.verdict.to_string()),
        ("executions (DPOR)".to_string(), c.executions.to_string()),
        (
            "states (stateful search)".to_string(),
            c.stateful_states
                .map(|s| s.to_string())
                .unwrap_or_else(|| "— (DPOR finished)".to_string()),
        ),
    ];
    if let Some(k) = c.path {
        card.push(("path".to_string(), k.to_string()));
    }
    let text = html::page(
        c.heading,
        &format!(
            "{} — the trace with the fewest steps of this cell's violations",
            c.subtitle
        ),
        &[Section {
            scenario: c.name.to_string(),
            preset: c.preset.to_string(),
            verdict: c.verdict.to_string(),
            expected: "-".to_string(),
            card,
            violations,
            observations: Vec::new(),
            notes: others,
        }],
    );
    let back = format!(
        "<main>\n<p class=\"back\"><a href=\"../{}\">{}</a></p>",
        esc(c.back.0),
        c.back.1
    );
    text.replacen("<main>", &back, 1)
}
