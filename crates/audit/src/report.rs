//! Rendering: text grouped by subsystem, JSON, SARIF 2.1.0.

use crate::analysis::{Coverage, Finding, Site};
use crate::scan::ScanStats;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The `$schema` of pvmm's JSON documents (the same as `report::json::SCHEMA_ID`: the audit
/// crate does not depend on the renderer; pvmm's tests check that the two agree and validate
/// the audit's JSON against docs/json-schema).
pub const JSON_SCHEMA_ID: &str = "https://pvmm.invalid/json-schema/pvmm-output.v1.schema.json";
/// Major version of pvmm's JSON output (`report::json::FORMAT`).
pub const JSON_FORMAT: u32 = 1;

/// One `--format json` document: the envelope every pvmm command's JSON has (`$schema`,
/// `format`, `kind`, `pvmm_version`), the body's fields, and the exit code.
#[derive(Debug, Serialize)]
pub struct Document<'a, T: Serialize> {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub format: u32,
    /// `audit` (one tree) or `audit-diff` (two trees).
    pub kind: &'static str,
    pub pvmm_version: &'static str,
    #[serde(flatten)]
    pub body: &'a T,
    pub exit_code: i32,
}

impl<'a, T: Serialize> Document<'a, T> {
    pub fn new(kind: &'static str, body: &'a T, exit_code: i32) -> Self {
        Document {
            schema: JSON_SCHEMA_ID,
            format: JSON_FORMAT,
            kind,
            pvmm_version: env!("CARGO_PKG_VERSION"),
            body,
            exit_code,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tree: String,
    pub stats: ScanStats,
    pub coverage: Coverage,
    pub rounds: usize,
    pub converged: bool,
    /// Findings not suppressed by the baseline.
    pub findings: Vec<Finding>,
    /// (finding, reason) suppressed by the baseline.
    pub suppressed: Vec<(Finding, String)>,
    pub sites: Vec<Site>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub base: Report,
    pub new: Report,
    pub appeared: Vec<Finding>,
    pub disappeared: Vec<Finding>,
    /// (base, new): same rule, subsystem, source callee and sink callee, different functions
    /// (a rename or refactor of the same path). Not counted as appeared or disappeared.
    pub moved: Vec<(Finding, Finding)>,
}

/// Findings that appeared, disappeared, or moved (same kind of path, renamed functions).
pub fn diff(base: Report, new: Report) -> Diff {
    let kind = |f: &Finding| {
        (
            f.rule.clone(),
            f.subsystem.clone(),
            f.chain[0].callee.clone(),
            f.chain[f.chain.len() - 1].callee.clone(),
        )
    };
    let mut appeared: Vec<Finding> = new
        .findings
        .iter()
        .filter(|f| !base.findings.iter().any(|g| g.id == f.id))
        .cloned()
        .collect();
    let mut disappeared: Vec<Finding> = base
        .findings
        .iter()
        .filter(|f| !new.findings.iter().any(|g| g.id == f.id))
        .cloned()
        .collect();
    let mut moved = Vec::new();
    let mut i = 0;
    while i < appeared.len() {
        let k = kind(&appeared[i]);
        if let Some(j) = disappeared.iter().position(|d| kind(d) == k) {
            let old = disappeared.remove(j);
            let newf = appeared.remove(i);
            moved.push((old, newf));
        } else {
            i += 1;
        }
    }
    Diff {
        base,
        new,
        appeared,
        disappeared,
        moved,
    }
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 {
        "n/a".into()
    } else {
        format!("{:.1} %", 100.0 * a as f64 / b as f64)
    }
}

pub fn header(r: &Report) -> String {
    let s = &r.stats;
    let c = &r.coverage;
    let mut o = String::new();
    let _ = writeln!(o, "pvmm audit: {}", r.tree);
    let _ = writeln!(
        o,
        "  scan: {} C files ({:.0} MB), {} name the rules, {} parsed ({} widened in {} rounds, \
         {} callees without a definition), {} summaries from cache",
        s.files_total,
        s.bytes_total as f64 / 1e6,
        s.files_matched,
        s.files_parsed,
        s.files_widened,
        s.widen_rounds,
        s.unresolved_callees,
        s.summaries_from_cache
    );
    let _ = writeln!(
        o,
        "  time: {:.2} s (scan {:.2}, parse {:.2}, analysis {:.2}; {} fixed-point rounds{})",
        s.seconds,
        s.seconds_scan,
        s.seconds_parse,
        s.seconds_analysis,
        r.rounds,
        if r.converged {
            ""
        } else {
            ", NOT converged: round bound reached, summaries may be incomplete"
        }
    );
    let _ = writeln!(
        o,
        "  coverage: files parsed without error {}/{} ({}); functions {}/{} ({}); functions on \
         reported chains {}/{} ({})",
        c.files_clean,
        c.files_parsed,
        pct(c.files_clean, c.files_parsed),
        c.functions_clean,
        c.functions,
        pct(c.functions_clean, c.functions),
        c.chain_functions_clean,
        c.chain_functions,
        pct(c.chain_functions_clean, c.chain_functions)
    );
    o
}

/// The 1-based column of `name` (a callee, `->field` or function name) on line `line` of
/// `file` in `tree`, for `FILE:LINE:COL:` positions in the text output: the analysis keeps
/// lines only, so the column is found again in the source; 1 when it cannot be.
fn column(tree: &str, file: &str, line: u32, name: &str) -> usize {
    let needle = name.trim_start_matches("->").trim_end_matches("()");
    std::fs::read_to_string(std::path::Path::new(tree).join(file))
        .ok()
        .and_then(|t| {
            let l = t.lines().nth((line as usize).checked_sub(1)?)?;
            let at = if needle.is_empty() {
                None
            } else {
                l.find(needle)
            };
            let at = at.unwrap_or_else(|| l.len() - l.trim_start().len());
            Some(l[..at].chars().count() + 1)
        })
        .unwrap_or(1)
}

pub fn finding_text(tree: &str, f: &Finding, o: &mut String) {
    let _ = writeln!(
        o,
        "  [{}] {}  (rule {}{})",
        f.id,
        f.title,
        f.rule,
        f.scenario
            .as_ref()
            .map(|s| format!(", scenario {s}"))
            .unwrap_or_default()
    );
    let _ = writeln!(o, "      why: {}", f.why);
    if !f.partly_parsed.is_empty() {
        let _ = writeln!(
            o,
            "      partly parsed (tree-sitter errors): {}",
            f.partly_parsed.join(", ")
        );
    }
    for (i, h) in f.chain.iter().enumerate() {
        let _ = writeln!(
            o,
            "{}:{}:{}: {}. {}(): {}",
            h.file,
            h.line,
            column(tree, &h.file, h.line, &h.callee),
            i + 1,
            h.func,
            h.note
        );
    }
}

pub fn text(r: &Report) -> String {
    let mut o = header(r);
    let mut groups: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in &r.findings {
        groups.entry(f.subsystem.as_str()).or_default().push(f);
    }
    let _ = writeln!(
        o,
        "\nFindings: {} ({} suppressed by the baseline), in {} subsystems",
        r.findings.len(),
        r.suppressed.len(),
        groups.len()
    );
    for (sub, fs) in &groups {
        let _ = writeln!(o, "\n== {sub} ({}) ==", fs.len());
        for f in fs {
            finding_text(&r.tree, f, &mut o);
        }
    }
    if !r.suppressed.is_empty() {
        let _ = writeln!(o, "\nSuppressed:");
        for (f, why) in &r.suppressed {
            let _ = writeln!(o, "  [{}] {}: {}", f.id, f.title, why);
        }
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &r.sites {
        *counts.entry(s.class.as_str()).or_default() += 1;
    }
    let _ = writeln!(
        o,
        "\nGUP call sites (get_user_pages*, pin_user_pages*, iov_iter_get_pages*, \
         iov_iter_extract_pages): {} — {}",
        r.sites.len(),
        counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for s in &r.sites {
        let _ = writeln!(
            o,
            "{}:{}:{}: {}() {}{}: {}{}",
            s.file,
            s.line,
            column(&r.tree, &s.file, s.line, &s.callee),
            s.func,
            s.callee,
            if s.flags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", s.flags)
            },
            s.class,
            if s.findings.is_empty() {
                format!(" — {}", s.detail)
            } else {
                format!(" {}", s.findings.join(" "))
            }
        );
    }
    o
}

pub fn diff_text(d: &Diff) -> String {
    let mut o = String::new();
    o.push_str("base ");
    o.push_str(&header(&d.base));
    o.push_str("new  ");
    o.push_str(&header(&d.new));
    let _ = writeln!(
        o,
        "\nFindings: base {}, new {}; appeared {}, disappeared {}, moved {}",
        d.base.findings.len(),
        d.new.findings.len(),
        d.appeared.len(),
        d.disappeared.len(),
        d.moved.len()
    );
    let _ = writeln!(o, "\nAppeared ({}):", d.appeared.len());
    for f in &d.appeared {
        finding_text(&d.new.tree, f, &mut o);
    }
    let _ = writeln!(o, "\nDisappeared ({}):", d.disappeared.len());
    for f in &d.disappeared {
        finding_text(&d.base.tree, f, &mut o);
    }
    let _ = writeln!(
        o,
        "\nMoved ({}): same rule, source and sink, functions renamed or refactored",
        d.moved.len()
    );
    for (a, b) in &d.moved {
        let _ = writeln!(
            o,
            "  [{}] {}\n    now [{}] {}",
            a.id, a.title, b.id, b.title
        );
    }
    o
}

fn loc(h: &crate::analysis::Hop, msg: Option<&str>) -> Value {
    let mut v = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": h.file, "uriBaseId": "SRCROOT" },
            "region": { "startLine": h.line.max(1) }
        },
        "logicalLocations": [ { "name": h.func, "kind": "function" } ]
    });
    if let Some(m) = msg {
        v["message"] = json!({ "text": m });
    }
    v
}

pub fn sarif(r: &Report) -> Value {
    let mut rule_ids: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
    rule_ids.sort();
    rule_ids.dedup();
    let rules: Vec<Value> = rule_ids
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "shortDescription": { "text": format!("Guest page handed to I/O without the accessibility hook ({id})") },
                "helpUri": "https://example.invalid/pvmm/docs/audit.md"
            })
        })
        .collect();
    let results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            let last = &f.chain[f.chain.len() - 1];
            let flow: Vec<Value> = f
                .chain
                .iter()
                .map(|h| json!({ "location": loc(h, Some(&h.note)) }))
                .collect();
            let mut props = json!({ "subsystem": f.subsystem });
            if let Some(s) = &f.scenario {
                props["scenario"] = json!(s);
            }
            json!({
                "ruleId": f.rule,
                "level": "warning",
                "message": { "text": format!("{}: {}", f.title, f.why) },
                "locations": [ loc(last, None) ],
                "relatedLocations": [ loc(&f.chain[0], Some("source")) ],
                "codeFlows": [ { "threadFlows": [ { "locations": flow } ] } ],
                "partialFingerprints": { "pvmmAuditId/v1": f.id },
                "properties": props
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [ {
            "tool": { "driver": {
                "name": "pvmm-audit",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/pvmm",
                "rules": rules
            } },
            "originalUriBaseIds": { "SRCROOT": { "uri": format!("file://{}/", r.tree.trim_end_matches('/')) } },
            "results": results,
            "properties": {
                "coverage": r.coverage,
                "stats": r.stats
            }
        } ]
    })
}
