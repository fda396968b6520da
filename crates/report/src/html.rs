//! Self-contained HTML reports: one page, inline CSS, inline SVG, a few lines of inline script
//! (hover highlights a step in both the diagram and the step table — a convenience: nothing is
//! shown only on hover — and a self-check that records script errors in the page). No fonts,
//! images, styles or scripts are fetched from anywhere. The diagram is as wide as the page
//! (its timeline folded into bands, see [`crate::svg`]) and nothing scrolls: a screenshot or a
//! print shows every step.

use crate::json::StepOut;
use crate::svg::esc;
use std::fmt::Write as _;

/// One violation (or observation) with its diagram.
#[derive(Clone, Debug)]
pub struct ViolationView {
    pub property: String,
    pub severity: explore::Severity,
    pub message: String,
    /// One sentence: what breaks the property, at which step.
    pub sentence: String,
    /// The marked step (None: at the end of the execution).
    pub marked_step: Option<usize>,
    pub svg: String,
    pub steps: Vec<StepOut>,
    pub end_findings: Vec<String>,
    pub schedule: String,
    pub shortest: Option<(usize, usize, u64)>,
    /// How to replay it (`pvmm replay …`).
    pub replay_command: String,
}

/// One scenario under one preset (or one replay).
#[derive(Clone, Debug)]
pub struct Section {
    pub scenario: String,
    pub preset: String,
    /// `verified`, `violation`, `incomplete`, or `replay`.
    pub verdict: String,
    /// `yes`, `NO` or `-`.
    pub expected: String,
    /// Summary card: label and value.
    pub card: Vec<(String, String)>,
    pub violations: Vec<ViolationView>,
    /// Observations (not violations), one line each.
    pub observations: Vec<String>,
    /// Other lines shown under the card (e.g. a matrix cell's other violations).
    pub notes: Vec<String>,
}

const CSS: &str = r#"
:root { --ok:#1d7a3a; --bad:#b00020; --warn:#a86400; --ink:#1f2328; --muted:#59636e; --line:#d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: var(--ink); background: #f4f5f7; }
header.top { background: #1f2a37; color: #fff; padding: 14px 24px; }
header.top h1 { margin: 0; font-size: 19px; }
header.top p { margin: 4px 0 0; color: #c9d1d9; font-size: 12px; }
main { padding: 16px 24px 40px; }
table.overview { border-collapse: collapse; background: #fff; margin-bottom: 18px; }
table.overview th, table.overview td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; font-size: 13px; }
section.check { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 0 0 22px; padding: 14px 18px; }
section.check h2 { margin: 0 0 8px; font-size: 17px; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 12px; font-weight: bold; color: #fff; vertical-align: 2px; }
.badge.b-verified { background: var(--ok); } .badge.b-violation { background: var(--bad); }
.badge.b-incomplete { background: var(--warn); } .badge.b-replay { background: #3b5b8c; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 120px; background: #fafbfc; }
.card .k { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 15px; font-weight: bold; }
.violation { margin-top: 14px; border-top: 1px dashed var(--line); padding-top: 10px; }
.violation h3 { margin: 0 0 6px; font-size: 15px; color: var(--bad); }
.violation.observation h3 { color: var(--warn); }
p.sentence { background: #fdecee; border-left: 4px solid var(--bad); padding: 8px 12px; margin: 6px 0 10px; font-size: 14px; }
.diagram { border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.diagram svg { display: block; max-width: 100%; height: auto; }
.legend { font-size: 12px; color: var(--muted); margin: 6px 0 0; display: flex; flex-wrap: wrap; gap: 16px; align-items: center; }
.legend i { display: inline-block; width: 26px; height: 0; border-top: 2px solid; vertical-align: middle; margin-right: 4px; }
.legend b { display: inline-block; width: 20px; height: 10px; vertical-align: middle; margin-right: 4px; border: 1px solid; }
h4 { margin: 12px 0 4px; font-size: 13px; }
@media print {
  body { background: #fff; }
  header.top { background: #fff; color: #000; border-bottom: 2px solid #000; }
  header.top p { color: #333; }
  section.check { border: none; padding: 0; }
  .diagram { break-inside: auto; }
  table.steps tr { break-inside: avoid; }
}
table.steps { border-collapse: collapse; width: 100%; font: 12px/1.35 "DejaVu Sans Mono", "Liberation Mono", monospace; }
table.steps td, table.steps th { border-bottom: 1px solid #eaeef2; padding: 2px 6px; vertical-align: top; text-align: left; }
table.steps tr.marked td { background: #fbd5d9; font-weight: bold; }
table.steps tr.hl td, .diagram g.hl rect { outline: 2px solid #f0b400; }
.diagram g.op.hl rect { stroke: #f0b400 !important; stroke-width: 3 !important; }
code { background: #eef1f4; padding: 1px 4px; border-radius: 3px; font-size: 12px; }
.muted { color: var(--muted); }
"#;

const LEGEND: &str = r##"<div class="legend"><span><i style="border-color:#7b3fb5"></i>lock hand-over</span><span><i style="border-color:#1769aa;border-top-style:dashed"></i>step on a frozen refcount</span><span><b style="background:#d8ecfb;border-color:#7fb6e0"></b>refcount frozen (page_ref_freeze)</span><span><b style="background:#fff1b8;border-color:#e0c060"></b>refcount changed</span><span><b style="background:#f2b8b8;border-color:#c08080"></b>secure (UV)</span><span><b style="background:#f8d0d0;border-color:#c00000"></b>violating step</span><span style="color:#e08a00">&#9660;</span><span>preemption</span><span>flags: L:Tn PG_locked by Tn · WB PG_writeback · A1 PG_arch_1</span><span>UV state: secure = guest-owned, a host access faults; non-secure = host-accessible</span><span>every step in full: the table under the diagram</span></div>"##;

/// Catches script errors before anything else runs, and checks the page after load: the
/// results are attributes on <html> (read by the browser test).
const HEAD_SCRIPT: &str = r#"
window.__pvmmErrors = [];
window.addEventListener('error', function (e) { window.__pvmmErrors.push(String(e.message)); });
(function () { var ce = console.error; console.error = function () { window.__pvmmErrors.push(Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); }; })();
"#;

const BODY_SCRIPT: &str = r#"
(function () {
  function link(step, on) {
    document.querySelectorAll('[data-step="' + step + '"]').forEach(function (el) { el.classList.toggle('hl', on); });
  }
  document.querySelectorAll('g.op[data-step], tr[data-step]').forEach(function (el) {
    el.addEventListener('mouseenter', function () { link(el.getAttribute('data-step'), true); });
    el.addEventListener('mouseleave', function () { link(el.getAttribute('data-step'), false); });
  });
  var root = document.documentElement;
  root.setAttribute('data-lanes', String(document.querySelectorAll('svg.pvmm-trace g.lane').length));
  root.setAttribute('data-marked', String(document.querySelectorAll('svg.pvmm-trace g.violation-mark').length));
  root.setAttribute('data-console-errors', String(window.__pvmmErrors.length));
  root.setAttribute('data-selfcheck', window.__pvmmErrors.length === 0 ? 'ok' : 'errors: ' + window.__pvmmErrors.join(' | '));
})();
"#;

/// Renders the whole page.
pub fn page(title: &str, subtitle: &str, sections: &[Section]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<script>{HEAD_SCRIPT}</script>\n<style>{CSS}</style>\n</head>\n<body>\n<header class=\"top\"><h1>{}</h1><p>{}</p></header>\n<main>\n",
        esc(title),
        esc(title),
        esc(subtitle)
    );
    if sections.len() > 1 {
        o.push_str("<table class=\"overview\"><tr><th>scenario</th><th>kernel</th><th>verdict</th><th>expected</th><th>properties</th></tr>\n");
        for (i, s) in sections.iter().enumerate() {
            let props: Vec<&str> = s.violations.iter().map(|v| v.property.as_str()).collect();
            let _ = writeln!(
                o,
                "<tr><td><a href=\"#c{i}\">{}</a></td><td>{}</td><td><span class=\"badge b-{}\">{}</span></td><td{}>{}</td><td>{}</td></tr>",
                esc(&s.scenario),
                esc(&s.preset),
                esc(&s.verdict),
                esc(&s.verdict),
                if s.expected == "NO" { " style=\"color:#b00020;font-weight:bold\"" } else { "" },
                esc(&s.expected),
                esc(&props.join(" "))
            );
        }
        o.push_str("</table>\n");
    }
    for (i, s) in sections.iter().enumerate() {
        let _ = write!(
            o,
            "<section class=\"check\" id=\"c{i}\" data-verdict=\"{}\"><h2>{} on {} <span class=\"badge b-{}\">{}</span>",
            esc(&s.verdict),
            esc(&s.scenario),
            esc(&s.preset),
            esc(&s.verdict),
            esc(&s.verdict)
        );
        if s.expected != "-" {
            let _ = write!(
                o,
                " <span class=\"muted\" style=\"font-size:13px\">as expected: {}</span>",
                esc(&s.expected)
            );
        }
        o.push_str("</h2>\n<div class=\"cards\">");
        for (k, v) in &s.card {
            let _ = write!(
                o,
                "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div></div>",
                esc(k),
                esc(v)
            );
        }
        o.push_str("</div>\n");
        for n in &s.notes {
            let _ = writeln!(o, "<p class=\"note\">{}</p>", esc(n));
        }
        for ob in &s.observations {
            let _ = writeln!(o, "<p class=\"muted\">observation: {}</p>", esc(ob));
        }
        for v in &s.violations {
            violation(&mut o, v);
        }
        o.push_str("</section>\n");
    }
    let _ = write!(
        o,
        "</main>\n<script>{BODY_SCRIPT}</script>\n</body>\n</html>\n"
    );
    o
}

fn violation(o: &mut String, v: &ViolationView) {
    let obs = v.severity == explore::Severity::Observation;
    let _ = write!(
        o,
        "<div class=\"violation{}\" data-property=\"{}\"><h3>{} {}</h3>",
        if obs { " observation" } else { "" },
        esc(&v.property),
        if obs { "observation" } else { "VIOLATION" },
        esc(&v.property)
    );
    let _ = write!(o, "<p class=\"sentence\">{}</p>", esc(&v.sentence));
    if let Some((steps, pre, occ)) = v.shortest {
        let _ = write!(
            o,
            "<p class=\"muted\">shortest trace: {steps} steps, {pre} preemptions (seen in {occ} executions) · schedule <code>{}</code> · replay: <code>{}</code></p>",
            esc(&v.schedule),
            esc(&v.replay_command)
        );
    } else {
        let _ = write!(
            o,
            "<p class=\"muted\">schedule <code>{}</code> · replay: <code>{}</code></p>",
            esc(&v.schedule),
            esc(&v.replay_command)
        );
    }
    let _ = write!(o, "<div class=\"diagram\">{}</div>", v.svg);
    o.push_str(LEGEND);
    o.push_str("<h4>Steps</h4><table class=\"steps\"><tr><th>#</th><th>thread</th><th>call stack › operation</th><th>what changed</th></tr>\n");
    for s in &v.steps {
        let marked = v.marked_step == Some(s.index);
        let mut op = String::new();
        if !s.frames.is_empty() {
            op.push_str(&s.frames.join(" › "));
            op.push_str(" › ");
        }
        let _ = write!(
            o,
            "<tr data-step=\"{}\"{}><td>{}</td><td>T{} {}</td><td>{}<b>{}</b>{}</td><td>{}",
            s.index,
            if marked { " class=\"marked\"" } else { "" },
            s.index,
            s.tid,
            esc(&s.thread),
            esc(&op),
            esc(&s.op),
            if s.preempted { " (preemption)" } else { "" },
            esc(&s.note)
        );
        for f in &s.findings {
            let _ = write!(o, "<br>!! {}: {}", esc(&f.property), esc(&f.message));
        }
        o.push_str("</td></tr>\n");
    }
    for f in &v.end_findings {
        let _ = writeln!(
            o,
            "<tr class=\"{}\"><td>end</td><td></td><td colspan=\"2\">!! {}</td></tr>",
            if v.marked_step.is_none() {
                "marked"
            } else {
                ""
            },
            esc(f)
        );
    }
    o.push_str("</table></div>\n");
}
