//! The pair matrix (`pvmm matrix --pairs`) for machines and people: its JSON document
//! (`kind: pair-matrix`) and its HTML page — a heat map per preset, each violating cell
//! linked to a page of its own with the cell's shortest trace drawn — made from the plan and
//! the checks' outcomes only (`checker::pairs::doc::View`), so that a merge of shards and one
//! run write the same bytes. No time appears in them.

use crate::json::{Header, PropertySchedule};
use crate::svg::esc;
use checker::pairs::doc::{View, INTRO, TITLE};
use checker::pairs::{self, Outcome, Unit};
use checker::Verdict;
use serde::Serialize;
use std::fmt::Write as _;

/// `pvmm matrix --pairs --format json`.
#[derive(Serialize, Debug, Clone)]
pub struct PairMatrixDoc {
    #[serde(flatten)]
    pub header: Header,
    pub semantics: String,
    pub presets: Vec<String>,
    /// The rows, numbered from 1 as the tables number them.
    pub rows: Vec<PairRow>,
    /// Pairs whose set-ups differ: not checked.
    pub conflicts: Vec<PairConflict>,
    /// Checks computed (cells equal up to symmetry are one check).
    pub checks: usize,
    /// DPOR's executions and the stateful search's states over every check.
    pub executions: u64,
    pub states: u64,
    /// Each row alone (its matrix cell), row by row, preset by preset.
    pub singles: Vec<SingleCell>,
    /// Each pair that is one scenario, pair by pair, preset by preset.
    pub pairs: Vec<PairCell>,
    /// The pair cells whose result their rows alone do not explain.
    pub interactions: Vec<PairInteraction>,
    pub exit_code: u8,
}

#[derive(Serialize, Debug, Clone)]
pub struct PairRow {
    pub number: usize,
    /// As `--row` and `--replay` take it.
    pub name: String,
    pub path: String,
    pub via: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct PairConflict {
    pub row1: String,
    pub row2: String,
    pub why: String,
}

/// What a cell's check found.
#[derive(Serialize, Debug, Clone)]
pub struct CellOutcome {
    pub verdict: Verdict,
    pub violations: Vec<String>,
    pub observations: Vec<String>,
    pub executions: u64,
    pub stateful_states: Option<u64>,
    pub stopped_by: Option<String>,
    pub schedules: Vec<PropertySchedule>,
}

#[derive(Serialize, Debug, Clone)]
pub struct SingleCell {
    pub row: String,
    pub preset: String,
    #[serde(flatten)]
    pub outcome: CellOutcome,
}

#[derive(Serialize, Debug, Clone)]
pub struct PairCell {
    pub row1: String,
    pub row2: String,
    pub preset: String,
    #[serde(flatten)]
    pub outcome: CellOutcome,
}

#[derive(Serialize, Debug, Clone)]
pub struct PairInteraction {
    pub row1: String,
    pub row2: String,
    pub preset: String,
    /// Violated by the pair, by neither row alone.
    pub new: Vec<String>,
    /// Violated by a row alone, not by the pair.
    pub lost: Vec<String>,
    /// The pair's verdict differs from both rows' verdicts.
    pub verdict_differs: bool,
    /// Per new property: `pvmm matrix --pairs --replay …` and the schedule.
    pub replays: Vec<InteractionReplay>,
}

#[derive(Serialize, Debug, Clone)]
pub struct InteractionReplay {
    pub property: String,
    pub schedule: String,
    pub command: String,
}

fn outcome(o: &Outcome) -> CellOutcome {
    CellOutcome {
        verdict: o.verdict,
        violations: o.violations.clone(),
        observations: o.observations.clone(),
        executions: o.executions,
        stateful_states: o.stateful_states,
        stopped_by: o.stopped_by.clone(),
        schedules: o
            .schedules
            .iter()
            .map(|(p, s)| PropertySchedule {
                property: p.clone(),
                schedule: s.clone(),
            })
            .collect(),
    }
}

/// The JSON document of a view.
pub fn json_doc(v: &View<'_>, results: &[Outcome], exit_code: u8) -> PairMatrixDoc {
    let plan = v.plan;
    let arg = |r: usize| pairs::scenario::row_arg(plan.rows[r]);
    let mut singles = Vec::new();
    let mut cells = Vec::new();
    for (c, o) in plan.cells.iter().zip(&v.outcomes) {
        let preset = plan.presets[c.preset].clone();
        match c.unit {
            Unit::Single(r) => singles.push(SingleCell {
                row: arg(r),
                preset,
                outcome: outcome(o),
            }),
            Unit::Pair(a, b) => cells.push(PairCell {
                row1: arg(a),
                row2: arg(b),
                preset,
                outcome: outcome(o),
            }),
        }
    }
    let (states, executions) = v.totals(results);
    PairMatrixDoc {
        header: Header::new("pair-matrix"),
        semantics: checker::SEMANTICS.to_string(),
        presets: plan.presets.clone(),
        rows: plan
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| PairRow {
                number: i + 1,
                name: arg(i),
                path: r.0.id.to_string(),
                via: pairs::via_text(r.1).to_string(),
            })
            .collect(),
        conflicts: plan
            .conflicts
            .iter()
            .map(|(a, b, why)| PairConflict {
                row1: arg(*a),
                row2: arg(*b),
                why: why.0.clone(),
            })
            .collect(),
        checks: plan.checks.len(),
        executions,
        states,
        singles,
        pairs: cells,
        interactions: v
            .interactions()
            .iter()
            .map(|r| PairInteraction {
                row1: arg(r.a),
                row2: arg(r.b),
                preset: plan.presets[r.preset].clone(),
                new: r.what.new.clone(),
                lost: r.what.lost.clone(),
                verdict_differs: r.what.verdict_differs,
                replays: r
                    .what
                    .new
                    .iter()
                    .map(|p| InteractionReplay {
                        property: p.clone(),
                        schedule: r.pair.schedule(p).unwrap_or("").to_string(),
                        command: v.replay_command(r.a, r.b, r.preset, p),
                    })
                    .collect(),
            })
            .collect(),
        exit_code,
    }
}

/// A page to write: its path relative to the pair page's directory, and its text.
pub use crate::matrix::PageFile;

/// The trace page of a violating cell, relative to the pair page's directory.
pub fn trace_path(v: &View<'_>, unit: Unit, p: usize, dir: &str) -> String {
    format!(
        "{dir}/{}.{}.html",
        v.plan.unit_arg(unit),
        v.plan.presets[p].replace(['/', ' '], "-")
    )
}

/// The pair page and the trace page of every violating cell (single rows' and pairs').
pub fn pages(v: &View<'_>, results: &[Outcome], file_name: &str) -> Vec<PageFile> {
    let dir = crate::matrix::traces_dir(file_name);
    let mut out = vec![PageFile {
        path: file_name.to_string(),
        text: page(v, results, &dir),
    }];
    for (c, o) in v.plan.cells.iter().zip(&v.outcomes) {
        if o.verdict == Verdict::Violation {
            out.push(PageFile {
                path: trace_path(v, c.unit, c.preset, &dir),
                text: trace_page(v, c.unit, c.preset, o, file_name),
            });
        }
    }
    out
}

const CSS: &str = r#"
:root { --ok:#d9f2d9; --bad:#f8d0d0; --new:#c0392b; --inc:#fff2cc; --na:#eceff3; --line:#c8ccd2; --muted:#59636e; }
body { margin: 0; font: 14px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1f2328; background: #fff; }
header.top { background: #1f2a37; color: #fff; padding: 14px 24px; }
header.top h1 { margin: 0 0 6px; font-size: 20px; }
header.top p { margin: 0; color: #d8dee6; font-size: 13px; max-width: 110em; }
header.top code { background: #33404f; color: #fff; }
main { padding: 12px 24px 40px; }
code { background: #eef1f4; padding: 1px 4px; border-radius: 3px; font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 10px 0 14px; font-size: 13px; }
.legend .swatch { display: inline-block; min-width: 22px; padding: 0 4px; border: 1px solid var(--line); text-align: center; margin-right: 4px; }
table.heat { border-collapse: collapse; font-size: 11px; margin-bottom: 18px; }
table.heat th, table.heat td { border: 1px solid var(--line); padding: 0; width: 22px; height: 22px; text-align: center; }
table.heat th.row { text-align: right; padding: 0 6px; width: auto; font-weight: normal; white-space: nowrap; font-family: "DejaVu Sans Mono", monospace; }
table.heat td a { display: block; width: 100%; height: 100%; line-height: 22px; color: #8a0010; text-decoration: none; font-weight: bold; }
table.heat td.alone { border-right: 3px solid #555; }
.ok { background: var(--ok); } .bad { background: var(--bad); } .inc { background: var(--inc); } .na { background: var(--na); }
td.new { background: var(--new); } td.new a { color: #fff; }
table.list { border-collapse: collapse; font-size: 13px; }
table.list td, table.list th { border-bottom: 1px solid #e4e7eb; padding: 4px 8px; text-align: left; vertical-align: top; }
@media print { header.top { background: #fff; color: #000; } header.top p { color: #222; } header.top code { background: #eee; color: #000; } }
"#;

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

/// The pair page: summary, interactions, a heat map per preset, the rows, the conflicts.
pub fn page(v: &View<'_>, results: &[Outcome], traces_dir: &str) -> String {
    let plan = v.plan;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>pvmm pair matrix</title>\n<style>{CSS}</style>\n</head>\n<body>\n<header class=\"top\"><h1>{}</h1><p>{}</p></header>\n<main>\n",
        esc(TITLE),
        inline_code(INTRO)
    );
    let (ok, bad, inc) = v.pair_counts();
    let (states, execs) = v.totals(results);
    let _ = writeln!(
        h,
        "<p id=\"summary\">{} rows; {} pairs checked, {} not one scenario; {} presets; {} pair cells: {ok} verified, {bad} violation, {inc} incomplete; {} checks ({execs} DPOR executions, {states} states).</p>",
        plan.rows.len(),
        plan.pairs.len(),
        plan.conflicts.len(),
        plan.presets.len(),
        ok + bad + inc,
        plan.checks.len()
    );
    h.push_str("<div class=\"legend\"><span><span class=\"swatch ok\">✓</span>verified: every interleaving explored, nothing violated</span><span><span class=\"swatch bad\">✗</span>violation, linked to the cell's shortest trace</span><span><span class=\"swatch\" style=\"background:var(--new)\">✗</span>an interaction: a property neither row violates alone</span><span><span class=\"swatch inc\">…</span>incomplete</span><span><span class=\"swatch na\">−</span>not one scenario (set-ups differ)</span></div>\n");
    // Interactions first.
    let rows = v.interactions();
    let _ = writeln!(
        h,
        "<h2 id=\"interactions\">Interactions ({})</h2>",
        rows.len()
    );
    if !rows.is_empty() {
        h.push_str("<table class=\"list\"><tr><th>pair</th><th>preset</th><th>pair</th><th>alone</th><th>new</th><th>lost</th><th>replay</th></tr>\n");
        for r in &rows {
            let link = trace_path(v, Unit::Pair(r.a, r.b), r.preset, traces_dir);
            let replay = r
                .what
                .new
                .first()
                .map(|p| v.replay_command(r.a, r.b, r.preset, p))
                .unwrap_or_default();
            let _ = writeln!(
                h,
                "<tr data-row1=\"{}\" data-row2=\"{}\" data-preset=\"{}\"><td><code>{}</code> + <code>{}</code></td><td>{}</td><td><a href=\"{}\">{}</a></td><td>{} / {}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&plan.row_name(r.a)),
                esc(&plan.row_name(r.b)),
                esc(&plan.presets[r.preset]),
                esc(&plan.row_name(r.a)),
                esc(&plan.row_name(r.b)),
                esc(&plan.presets[r.preset]),
                esc(&link),
                esc(&View::cell_text(r.pair)),
                esc(&View::cell_text(r.alone_a)),
                esc(&View::cell_text(r.alone_b)),
                esc(&r.what.new.join(", ")),
                esc(&r.what.lost.join(", ")),
                esc(&replay)
            );
        }
        h.push_str("</table>\n");
    }
    let new: std::collections::HashSet<(usize, usize, usize)> = rows
        .iter()
        .filter(|r| !r.what.new.is_empty())
        .map(|r| (r.a, r.b, r.preset))
        .collect();
    for (p, preset) in plan.presets.iter().enumerate() {
        let _ = writeln!(
            h,
            "<h2 id=\"preset-{}\">{}</h2>\n<table class=\"heat\" data-preset=\"{}\"><tr><th></th><th title=\"the row alone\">a</th>",
            esc(preset),
            esc(preset),
            esc(preset)
        );
        for b in 0..plan.rows.len() {
            let _ = write!(h, "<th title=\"{}\">{}</th>", esc(&plan.row_name(b)), b + 1);
        }
        h.push_str("</tr>\n");
        for a in 0..plan.rows.len() {
            let _ = write!(
                h,
                "<tr><th class=\"row\">{} {}</th>",
                esc(&plan.row_name(a)),
                a + 1
            );
            let alone = v.get(Unit::Single(a), p);
            cell(
                &mut h,
                v,
                Unit::Single(a),
                p,
                alone,
                traces_dir,
                " alone",
                false,
            );
            for b in 0..plan.rows.len() {
                if b < a {
                    h.push_str("<td></td>");
                    continue;
                }
                let o = v.get(Unit::Pair(a, b), p);
                cell(
                    &mut h,
                    v,
                    Unit::Pair(a, b),
                    p,
                    o,
                    traces_dir,
                    "",
                    new.contains(&(a, b, p)),
                );
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2 id=\"rows\">Rows</h2>\n<table class=\"list\"><tr><th>#</th><th>row</th><th>what</th><th>kernel functions</th></tr>\n");
    for (i, r) in plan.rows.iter().enumerate() {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            i + 1,
            esc(&plan.row_name(i)),
            esc(r.0.title),
            esc(r.0.kernel)
        );
    }
    h.push_str("</table>\n");
    if !plan.conflicts.is_empty() {
        h.push_str("<h2 id=\"conflicts\">Pairs that are not one scenario</h2>\n<table class=\"list\"><tr><th>pair</th><th>why</th></tr>\n");
        for (a, b, why) in &plan.conflicts {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code> + <code>{}</code></td><td>{}</td></tr>",
                esc(&plan.row_name(*a)),
                esc(&plan.row_name(*b)),
                esc(&why.0)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

#[allow(clippy::too_many_arguments)]
fn cell(
    h: &mut String,
    v: &View<'_>,
    unit: Unit,
    p: usize,
    o: Option<&Outcome>,
    traces_dir: &str,
    extra: &str,
    new: bool,
) {
    let Some(o) = o else {
        let _ = write!(
            h,
            "<td class=\"na{extra}\" title=\"not one scenario\">−</td>"
        );
        return;
    };
    let title = format!("{} on {}: {}", v.plan.unit_arg(unit), v.plan.presets[p], {
        let t = View::cell_text(o);
        match o.stateful_states {
            Some(s) => format!("{t} ({} ex + {s} st)", o.executions),
            None => format!("{t} ({} ex)", o.executions),
        }
    });
    match o.verdict {
        Verdict::Verified => {
            let _ = write!(
                h,
                "<td class=\"ok{extra}\" title=\"{}\">✓</td>",
                esc(&title)
            );
        }
        Verdict::Incomplete => {
            let _ = write!(
                h,
                "<td class=\"inc{extra}\" title=\"{}\">…</td>",
                esc(&title)
            );
        }
        Verdict::Violation => {
            let _ = write!(
                h,
                "<td class=\"{}{extra}\" title=\"{}\"><a href=\"{}\">✗</a></td>",
                if new { "new" } else { "bad" },
                esc(&title),
                esc(&trace_path(v, unit, p, traces_dir))
            );
        }
    }
}

/// The page of one violating cell: its shortest trace drawn, the others listed.
pub fn trace_page(v: &View<'_>, unit: Unit, p: usize, o: &Outcome, pair_file: &str) -> String {
    let plan = v.plan;
    let preset = plan.presets[p].as_str();
    let sc = plan.scenario(unit, &[preset]);
    let replay_cmd = |prop: &str| match unit {
        Unit::Pair(a, b) => v.replay_command(a, b, p, prop),
        Unit::Single(r) => format!(
            "pvmm matrix --replay {} {preset} {prop}",
            pairs::scenario::row_arg(plan.rows[r])
        ),
    };
    let name = plan.unit_arg(unit);
    let subtitle = match unit {
        Unit::Pair(a, b) => format!("{} | {}", plan.rows[a].0.title, plan.rows[b].0.title),
        Unit::Single(r) => plan.rows[r].0.title.to_string(),
    };
    crate::matrix::cell_trace_page(&crate::matrix::CellPage {
        scenario: &sc,
        preset,
        name: &name,
        heading: &format!("pvmm pair matrix: {name} on {preset}"),
        subtitle: &subtitle,
        verdict: o.verdict,
        executions: o.executions,
        stateful_states: o.stateful_states,
        schedules: &o.schedules,
        path: None,
        replay_cmd: &replay_cmd,
        back: (pair_file, "← the pair matrix"),
    })
}
