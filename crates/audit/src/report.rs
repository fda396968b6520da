//! Rendering: text grouped by subsystem, JSON, SARIF 2.1.0.

use crate::analysis::{Coverage, Finding, RulesCheck, Site};
use crate::scan::{NotRead, ScanStats};
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
    /// In a patch review (`--patch`, `--rev`): which side of the change this tree is
    /// (`+ fix.diff`, `@ v6.12`); the files were read from a hard-link copy of `tree` with
    /// the change applied (crate::patch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Where the files were read (`tree`, or the patched copy while the run lasts).
    #[serde(skip)]
    pub root: String,
    pub stats: ScanStats,
    pub coverage: Coverage,
    pub rounds: usize,
    pub converged: bool,
    /// The rules' argument indexes checked against the tree's prototypes.
    pub rules_check: RulesCheck,
    /// The release and the protocol switches, inferred from the tree's code.
    pub inferred: crate::infer::Inference,
    /// Files and directories not read, and parts of parsed files not understood, with why:
    /// the run's blind spots.
    pub not_read: Vec<NotRead>,
    /// The run has blind spots (`not_read`) or its summaries did not converge: its exit code
    /// is 3 unless `--accept-incomplete`.
    pub incomplete: bool,
    /// Findings not suppressed by the baseline.
    pub findings: Vec<Finding>,
    /// (finding, reason) suppressed by the baseline.
    pub suppressed: Vec<(Finding, String)>,
    pub sites: Vec<Site>,
    /// `--check` ran the model checks.
    pub checked: bool,
    /// Every finding (and suppressed finding) → its model path, or why it has none, and its
    /// check (crate::model).
    pub model: BTreeMap<String, crate::model::Link>,
    /// The model checks (with `--check`), each shared by the findings with its scenario.
    pub checks: Vec<crate::model::Check>,
    /// Why the tree has no model kernel (no release, a release the model does not describe).
    pub model_kernel_error: Option<String>,
    /// The findings ranked by sink class and grouped by carrier ([`items`]).
    pub items: Vec<Item>,
}

impl Report {
    /// The check of finding `id`, when it has one.
    pub fn check_of(&self, id: &str) -> Option<&crate::model::Check> {
        let key = self.model.get(id)?.check.as_ref()?;
        self.checks.iter().find(|c| &c.key == key)
    }

    /// `model: …` for finding `id`: its path, the check's verdict, or why it has none.
    pub fn model_line(&self, id: &str) -> String {
        let Some(l) = self.model.get(id) else {
            return "no model path (not mapped)".into();
        };
        let Some(p) = &l.path else {
            return format!("no model path ({})", l.why);
        };
        match self.check_of(id) {
            Some(c) => format!(
                "{p} on {}: {}{}{} [{}]",
                crate::model::short_kernel(c),
                c.verdict_text,
                if c.violated.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.violated.join(", "))
                },
                match (&c.property, c.steps) {
                    (Some(pr), Some(n)) => format!(
                        "; {} trace: {pr} in {n} steps",
                        if c.shortest { "shortest" } else { "a" }
                    ),
                    _ => String::new(),
                },
                c.key
            ),
            None if self.checked => format!(
                "{p} ({}): not checked ({})",
                l.why,
                self.model_kernel_error.as_deref().unwrap_or("no scenario")
            ),
            None => format!("{p}; --check runs it"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub base: Report,
    pub new: Report,
    pub appeared: Vec<Finding>,
    pub disappeared: Vec<Finding>,
    /// (base, new): different ids, the same stable identity (rule, source file and callee,
    /// structs on the way, sink class): functions or sinks renamed, the path reshaped. Not
    /// counted as appeared or disappeared.
    pub updated: Vec<(Finding, Finding)>,
    /// Ids in both trees.
    pub unchanged: Vec<String>,
}

/// Findings that appeared, disappeared, were updated (same stable identity, different id) or
/// are unchanged (same id).
pub fn diff(base: Report, new: Report) -> Diff {
    let unchanged: Vec<String> = new
        .findings
        .iter()
        .filter(|f| base.findings.iter().any(|g| g.id == f.id))
        .map(|f| f.id.clone())
        .collect();
    let mut appeared: Vec<Finding> = new
        .findings
        .iter()
        .filter(|f| !unchanged.contains(&f.id))
        .cloned()
        .collect();
    let mut disappeared: Vec<Finding> = base
        .findings
        .iter()
        .filter(|f| !new.findings.iter().any(|g| g.id == f.id))
        .cloned()
        .collect();
    let mut updated = Vec::new();
    let mut i = 0;
    while i < appeared.len() {
        let k = &appeared[i].identity;
        if let Some(j) = disappeared.iter().position(|d| &d.identity == k) {
            let old = disappeared.remove(j);
            let newf = appeared.remove(i);
            updated.push((old, newf));
        } else {
            i += 1;
        }
    }
    Diff {
        base,
        new,
        appeared,
        disappeared,
        updated,
        unchanged,
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
    match &r.revision {
        Some(rev) => writeln!(o, "pvmm audit: {} {rev}", r.tree),
        None => writeln!(o, "pvmm audit: {}", r.tree),
    }
    .ok();
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
    let _ = writeln!(
        o,
        "  not read or not understood: {}{}",
        r.not_read.len(),
        if r.incomplete {
            " — the run is INCOMPLETE (listed at the end)"
        } else {
            ""
        }
    );
    o.push_str(&inference_text(&r.inferred));
    let rc = &r.rules_check;
    let _ = writeln!(
        o,
        "  rules checked against the tree's prototypes: {} argument indexes, {} ok, {} not in \
         this tree, {} unchecked (ops fields, macros that do not hand the argument on)",
        rc.checks.len(),
        rc.count("ok"),
        rc.count("not-in-tree"),
        rc.count("unchecked")
    );
    o
}

/// The 1-based column of `name` (a callee, `->field` or function name) on line `line` of
/// `file` in `tree`, for `FILE:LINE:COL:` positions in the text output: the analysis keeps
/// lines only, so the column is found again in the source; 1 when it cannot be.
/// The files are read once per process (the text output asks for hundreds of positions in a
/// few dozen files).
fn column(tree: &str, file: &str, line: u32, name: &str) -> usize {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Sources = Mutex<HashMap<std::path::PathBuf, Option<Arc<str>>>>;
    static SOURCES: OnceLock<Sources> = OnceLock::new();
    let needle = name.trim_start_matches("->").trim_end_matches("()");
    let path = std::path::Path::new(tree).join(file);
    let text = {
        let mut m = SOURCES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        m.entry(path)
            .or_insert_with_key(|p| std::fs::read_to_string(p).ok().map(Arc::from))
            .clone()
    };
    text.and_then(|t| {
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

pub fn finding_text(r: &Report, f: &Finding, o: &mut String) {
    let tree = r.root.as_str();
    // The finding's own line is the place the page reaches the sink, as a compiler warning.
    let last = &f.chain[f.chain.len() - 1];
    let _ = writeln!(
        o,
        "{}:{}:{}: warning: [{}] {}  (rule {}{})",
        last.file,
        last.line,
        column(tree, &last.file, last.line, &last.callee),
        f.id,
        f.title,
        f.rule,
        f.scenario
            .as_ref()
            .map(|s| format!(", scenario {s}"))
            .unwrap_or_default()
    );
    let _ = writeln!(o, "      why: {}", f.why);
    let _ = writeln!(o, "      model: {}", r.model_line(&f.id));
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

/// The sink classes, most urgent first: a device that reads the page by DMA, then the
/// network stack, then crypto, then a CPU copy.
pub const SINK_RANK: &[&str] = &["device-dma", "transport", "crypto", "copy"];

/// The rank of a sink class (`SINK_RANK`; other classes after them).
pub fn rank_of(class: &str) -> usize {
    SINK_RANK
        .iter()
        .position(|c| *c == class)
        .unwrap_or(SINK_RANK.len())
}

/// One item of the ranked output: a finding alone, or every finding through one carrier
/// (its producers × its consumers).
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Position in `SINK_RANK` of the item's most urgent sink class.
    pub rank: usize,
    pub sink_class: String,
    pub subsystem: String,
    /// The carrier the item's findings go through (None: a finding alone).
    pub carrier: Option<String>,
    /// `FILE:LINE: FUNC(): CALLEE()`: where the pages are taken (carrier items: the producers).
    pub producers: Vec<String>,
    /// `FILE:LINE: FUNC(): SINK() (CLASS)`: where they reach I/O (carrier items: the consumers).
    pub consumers: Vec<String>,
    pub findings: Vec<String>,
}

fn sink_class_of(r: &Report, f: &Finding) -> String {
    r.model
        .get(&f.id)
        .map(|l| l.shape.sink_class.clone())
        .unwrap_or_else(|| "other".into())
}

/// The findings as ranked items: grouped (one item per carrier: producers × consumers), then
/// sorted by the most urgent sink class, subsystem and place.
pub fn items(r: &Report) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    for f in &r.findings {
        let class = sink_class_of(r, f);
        let first = &f.chain[0];
        let last = &f.chain[f.chain.len() - 1];
        let producer = format!(
            "{}:{}: {}(): {}()",
            first.file, first.line, first.func, first.callee
        );
        let consumer = format!(
            "{}:{}: {}(): {}() ({class})",
            last.file,
            last.line,
            last.func,
            last.callee.trim_start_matches("->")
        );
        let carrier = f.rule.strip_prefix("carrier-").map(String::from);
        let at = carrier
            .as_ref()
            .and_then(|c| out.iter().position(|i| i.carrier.as_ref() == Some(c)));
        match at {
            Some(i) => {
                let it = &mut out[i];
                if rank_of(&class) < it.rank {
                    it.rank = rank_of(&class);
                    it.sink_class = class;
                }
                if !it.producers.contains(&producer) {
                    it.producers.push(producer);
                }
                if !it.consumers.contains(&consumer) {
                    it.consumers.push(consumer);
                }
                it.findings.push(f.id.clone());
            }
            None => out.push(Item {
                rank: rank_of(&class),
                sink_class: class,
                subsystem: f.subsystem.clone(),
                carrier,
                producers: vec![producer],
                consumers: vec![consumer],
                findings: vec![f.id.clone()],
            }),
        }
    }
    // Stable: within a rank, the findings' own order (subsystem, place).
    out.sort_by_key(|i| i.rank);
    out
}

pub fn text(r: &Report) -> String {
    let mut o = header(r);
    let items = &r.items;
    let _ = writeln!(
        o,
        "\nFindings: {} in {} items ({} suppressed by the baseline), ranked by sink class ({})",
        r.findings.len(),
        items.len(),
        r.suppressed.len(),
        SINK_RANK.join(" > ")
    );
    for (n, it) in items.iter().enumerate() {
        match &it.carrier {
            Some(c) => {
                let _ = writeln!(
                    o,
                    "\n== {}. {} · carrier {c}: {} producer(s) × {} consumer(s), {} findings ==",
                    n + 1,
                    it.sink_class,
                    it.producers.len(),
                    it.consumers.len(),
                    it.findings.len()
                );
                for p in &it.producers {
                    let _ = writeln!(o, "  producer {p}");
                }
                for c in &it.consumers {
                    let _ = writeln!(o, "  consumer {c}");
                }
            }
            None => {
                let _ = writeln!(o, "\n== {}. {} · {} ==", n + 1, it.sink_class, it.subsystem);
            }
        }
        for id in &it.findings {
            if let Some(f) = r.findings.iter().find(|f| &f.id == id) {
                finding_text(r, f, &mut o);
            }
        }
    }
    if !r.suppressed.is_empty() {
        let _ = writeln!(o, "\nSuppressed:");
        for (f, why) in &r.suppressed {
            let _ = writeln!(o, "  [{}] {}: {}", f.id, f.title, why);
        }
    }
    checks_text(r, &mut o);
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
    not_read_text(r, &mut o);
    for s in &r.sites {
        let _ = writeln!(
            o,
            "{}:{}:{}: {}() {}{}: {}{}",
            s.file,
            s.line,
            column(&r.root, &s.file, s.line, &s.callee),
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

/// The model's verdicts: counts per verdict over the findings, then each check with its
/// kernel, the findings that share it and the shortest trace.
fn checks_text(r: &Report, o: &mut String) {
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for f in &r.findings {
        let k = match (r.model.get(&f.id), r.check_of(&f.id)) {
            (_, Some(c)) => c.verdict.clone(),
            (Some(l), None) if l.path.is_some() => "not checked".into(),
            _ => "no model path".into(),
        };
        *per.entry(k).or_default() += 1;
    }
    let _ = writeln!(
        o,
        "\nModel: findings per verdict: {}{}",
        if per.is_empty() {
            "none".to_string()
        } else {
            per.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        if r.checked {
            format!("; {} distinct checks", r.checks.len())
        } else {
            " (paths only: --check runs them)".to_string()
        }
    );
    if let Some(e) = &r.model_kernel_error {
        let _ = writeln!(o, "  no model kernel for this tree: {e}");
    }
    for c in &r.checks {
        let _ = writeln!(
            o,
            "\n[{}] {}: {}{} — {} executions{} ({}, {:.2} s); findings {}",
            c.key,
            c.path,
            c.verdict_text,
            if c.violated.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.violated.join(", "))
            },
            c.executions,
            c.states
                .map(|s| format!(" + {s} states"))
                .unwrap_or_default(),
            c.search,
            c.secs,
            c.findings.join(" ")
        );
        if let Some(l) = r.model.values().find(|l| l.check.as_ref() == Some(&c.key)) {
            let _ = writeln!(o, "  stands for: {}", l.why);
        }
        let _ = writeln!(o, "  kernel: {}", c.kernel);
        if let (Some(p), Some(sch)) = (&c.property, &c.schedule) {
            let _ = writeln!(
                o,
                "  {} trace of {p} (schedule {sch}):",
                if c.shortest { "shortest" } else { "a" }
            );
            for l in &c.trace {
                let _ = writeln!(o, "    {l}");
            }
        }
    }
}

/// The release and the switches inferred from the code, as the header shows them.
pub fn inference_text(inf: &crate::infer::Inference) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "  release (from {}): {}{}",
        inf.release_evidence,
        inf.release.as_deref().unwrap_or("unknown"),
        inf.preset_error
            .as_ref()
            .map(|e| format!(" (no model values: {e})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "  switches inferred from the code: {} ({} disagree with the model's values for the \
         release, {} match no known variant; {} switches are not recognised from code)",
        inf.switches.iter().filter(|s| s.value.is_some()).count(),
        inf.disagreements(),
        inf.unknown_variants(),
        inf.not_recognised.len()
    );
    for s in &inf.switches {
        let named: Vec<String> = s
            .named_presets
            .iter()
            .map(|(n, v)| {
                let same = s.value.as_deref() == Some(v.as_str());
                format!("{n} {}", if same { "agrees" } else { v.as_str() })
            })
            .collect();
        let _ = writeln!(
            o,
            "    {} = {}{}{}  [{}]",
            s.switch,
            s.value.as_deref().unwrap_or(&s.status),
            match (&s.preset, s.disagrees) {
                (Some(p), true) => format!("  DISAGREES with the release's model value ({p})"),
                (Some(_), false) if s.value.is_some() => "  (= model)".to_string(),
                _ => String::new(),
            },
            if named.is_empty() {
                String::new()
            } else {
                format!("; preset {}", named.join(", "))
            },
            s.evidence
        );
    }
    for (n, why) in &inf.not_recognised_why {
        let _ = writeln!(o, "    {n}: not decided from code: {why}");
    }
    o
}

/// The files not read, one a line (`PATH: not read: REASON`).
fn not_read_text(r: &Report, o: &mut String) {
    if r.not_read.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nNot read or not understood ({}):", r.not_read.len());
    for n in &r.not_read {
        let _ = writeln!(o, "{}: not read: {}", n.path, n.reason);
    }
}

pub fn diff_text(d: &Diff) -> String {
    let mut o = String::new();
    o.push_str("base ");
    o.push_str(&header(&d.base));
    o.push_str("new  ");
    o.push_str(&header(&d.new));
    let _ = writeln!(
        o,
        "\nFindings: base {}, new {}; appeared {}, disappeared {}, updated {}, unchanged {}",
        d.base.findings.len(),
        d.new.findings.len(),
        d.appeared.len(),
        d.disappeared.len(),
        d.updated.len(),
        d.unchanged.len()
    );
    let _ = writeln!(o, "\nAppeared ({}):", d.appeared.len());
    for f in &d.appeared {
        finding_text(&d.new, f, &mut o);
    }
    let _ = writeln!(o, "\nDisappeared ({}):", d.disappeared.len());
    for f in &d.disappeared {
        finding_text(&d.base, f, &mut o);
    }
    let _ = writeln!(
        o,
        "\nUpdated ({}): the same source site and path shape (rule, source file and callee, \
         structs, sink class); functions or sinks renamed",
        d.updated.len()
    );
    for (a, b) in &d.updated {
        let _ = writeln!(
            o,
            "  [{}] {} ({})\n    now [{}] {}",
            a.id, a.title, a.identity, b.id, b.title
        );
    }
    o
}

/// The rules' help, in the SARIF output (the documentation has no public host).
const HELP_TEXT: &str = "A page reference is taken for I/O (GUP with FOLL_GET, \
    iov_iter_get_pages*, a page-cache lookup) and handed to a device or another context \
    (bio, scatterlist, DMA map, skb fragment, socket splice) with no call to \
    arch_make_page_accessible()/arch_make_folio_accessible() on the way. On s390 Protected \
    Virtualization the page may be secure: the I/O then faults or reads ciphertext. Take the \
    reference with FOLL_PIN (pin_user_pages*, iov_iter_extract_pages), or call the hook. \
    See docs/audit.md of pvmm.";

/// Where the documentation of the rules is: `PVMM_AUDIT_HELP_URI`, else docs/audit.md of the
/// source tree this binary was built from when it is still there (a `file://` URI), else none
/// (the SARIF `help` text stands alone).
fn help_uri() -> Option<String> {
    if let Ok(u) = std::env::var("PVMM_AUDIT_HELP_URI") {
        return Some(u);
    }
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/audit.md");
    let p = p.canonicalize().ok()?;
    Some(format!("file://{}", p.display()))
}

/// One SARIF result per finding of `r`, locations under `root_id`, `baselineState` from `state`.
fn results(
    r: &Report,
    root_id: &str,
    state: &dyn Fn(&Finding) -> Option<&'static str>,
) -> Vec<Value> {
    r.findings
        .iter()
        .map(|f| {
            let mut v = result(f, root_id);
            add_model(r, f, &mut v);
            if let Some(s) = state(f) {
                v["baselineState"] = json!(s);
            }
            v
        })
        .collect()
}

fn loc_in(h: &crate::analysis::Hop, msg: Option<&str>, root_id: &str) -> Value {
    let mut v = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": h.file, "uriBaseId": root_id },
            "region": { "startLine": h.line.max(1) }
        },
        "logicalLocations": [ { "name": h.func, "kind": "function" } ]
    });
    if let Some(m) = msg {
        v["message"] = json!({ "text": m });
    }
    v
}

/// The model's verdict on `f` in its SARIF result: `properties.model`, and with a violation
/// a second `codeFlow` whose locations are the steps of the shortest trace.
fn add_model(r: &Report, f: &Finding, v: &mut Value) {
    let Some(l) = r.model.get(&f.id) else {
        return;
    };
    let c = r.check_of(&f.id);
    v["properties"]["model"] = json!({
        "path": l.path,
        "why": l.why,
        "check": l.check,
        "verdict": c.map(|c| c.verdict.clone()),
        "text": r.model_line(&f.id),
    });
    if let Some(c) = c {
        if !c.trace.is_empty() {
            let locs: Vec<Value> = c
                .trace
                .iter()
                .map(|t| json!({ "location": { "message": { "text": t.trim() } } }))
                .collect();
            if let Some(a) = v["codeFlows"].as_array_mut() {
                a.push(json!({
                    "message": { "text": format!(
                        "model trace [{}] {} on {}: {}",
                        c.key, c.path, crate::model::short_kernel(c), c.verdict_text) },
                    "threadFlows": [ { "locations": locs } ]
                }));
            }
        }
    }
}

/// One finding as a SARIF result, its locations relative to `root_id`.
fn result(f: &Finding, root_id: &str) -> Value {
    let last = &f.chain[f.chain.len() - 1];
    let flow: Vec<Value> = f
        .chain
        .iter()
        .map(|h| json!({ "location": loc_in(h, Some(&h.note), root_id) }))
        .collect();
    let mut props = json!({ "subsystem": f.subsystem, "identity": f.identity });
    if let Some(s) = &f.scenario {
        props["scenario"] = json!(s);
    }
    json!({
        "ruleId": f.rule,
        "level": "warning",
        "message": { "text": format!("{}: {}", f.title, f.why) },
        "locations": [ loc_in(last, None, root_id) ],
        "relatedLocations": [ loc_in(&f.chain[0], Some("source"), root_id) ],
        "codeFlows": [ { "threadFlows": [ { "locations": flow } ] } ],
        "partialFingerprints": { "pvmmAuditId/v1": f.id, "pvmmAuditIdentity/v1": f.identity },
        "properties": props
    })
}

/// The SARIF of a two-tree diff: the new tree's findings with `baselineState` new, unchanged
/// or updated, and the base tree's disappeared findings as `absent` (their locations under
/// `BASEROOT`).
pub fn diff_sarif(d: &Diff) -> Value {
    let mut v = sarif(&d.new);
    let state = |f: &Finding| -> Option<&'static str> {
        Some(if d.unchanged.contains(&f.id) {
            "unchanged"
        } else if d.updated.iter().any(|(_, n)| n.id == f.id) {
            "updated"
        } else {
            "new"
        })
    };
    let mut res = results(&d.new, "SRCROOT", &state);
    for f in &d.disappeared {
        let mut r = result(f, "BASEROOT");
        add_model(&d.base, f, &mut r);
        r["baselineState"] = json!("absent");
        res.push(r);
    }
    v["runs"][0]["results"] = json!(res);
    v["runs"][0]["originalUriBaseIds"]["BASEROOT"] =
        json!({ "uri": format!("file://{}/", d.base.tree.trim_end_matches('/')) });
    // The rules of the absent results too.
    let mut ids: Vec<&str> = d
        .new
        .findings
        .iter()
        .chain(d.disappeared.iter())
        .map(|f| f.rule.as_str())
        .collect();
    ids.sort();
    ids.dedup();
    let have: Vec<String> = v["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for id in ids {
        if !have.iter().any(|h| h == id) {
            if let Some(a) = v["runs"][0]["tool"]["driver"]["rules"].as_array_mut() {
                let mut rv = json!({
                    "id": id,
                    "shortDescription": { "text": format!("Guest page handed to I/O without the accessibility hook ({id})") },
                    "help": { "text": HELP_TEXT }
                });
                if let Some(u) = help_uri() {
                    rv["helpUri"] = json!(u);
                }
                a.push(rv);
            }
        }
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
            let mut v = json!({
                "id": id,
                "shortDescription": { "text": format!("Guest page handed to I/O without the accessibility hook ({id})") },
                "help": { "text": HELP_TEXT }
            });
            if let Some(u) = help_uri() {
                v["helpUri"] = json!(u);
            }
            v
        })
        .collect();
    let results = results(r, "SRCROOT", &|_| None);
    let notes: Vec<Value> = r
        .not_read
        .iter()
        .map(|n| {
            json!({
                "level": "warning",
                "message": { "text": format!("not read: {}", n.reason) },
                "locations": [ { "physicalLocation": {
                    "artifactLocation": { "uri": n.path, "uriBaseId": "SRCROOT" } } } ]
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [ {
            "invocations": [ {
                "executionSuccessful": true,
                "toolExecutionNotifications": notes,
                "properties": { "incomplete": r.incomplete }
            } ],
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

/// The report as a self-contained HTML page: the header and the findings with their model
/// verdicts, then one section per model check (with `--check`) with its trace rendered as
/// `pvmm check --report` renders it.
pub fn html_page(r: &Report) -> String {
    let mut sections = Vec::new();
    for c in &r.checks {
        let mut sec = crate::model::html_section(c);
        for id in &c.findings {
            if let Some(f) = r.findings.iter().find(|f| &f.id == id) {
                let first = &f.chain[0];
                let last = &f.chain[f.chain.len() - 1];
                sec.notes.push(format!(
                    "finding {}: {} ({}:{} → {}:{})",
                    f.id, f.title, first.file, first.line, last.file, last.line
                ));
            }
        }
        sections.push(sec);
    }
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for f in &r.findings {
        let k = match r.check_of(&f.id) {
            Some(c) => c.verdict.clone(),
            None if r.model.get(&f.id).is_some_and(|l| l.path.is_some()) => "not checked".into(),
            None => "no model path".into(),
        };
        *per.entry(k).or_default() += 1;
    }
    let mut sub = format!(
        "{} findings, {} model checks; findings per verdict: {}",
        r.findings.len(),
        r.checks.len(),
        per.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for f in &r.findings {
        if r.check_of(&f.id).is_none() {
            let _ = write!(sub, " · {} {}: {}", f.id, f.title, r.model_line(&f.id));
        }
    }
    report::html::page(&format!("pvmm audit: {}", r.tree), &sub, &sections)
}
