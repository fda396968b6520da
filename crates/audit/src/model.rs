//! `--check`: each finding checked by the model.
//!
//! A finding is mapped to a model path by the `[[model]]` entries of the rules (source kind,
//! marker, carrier, sink → a matrix row of `checker::matrix::rows()`, optionally with the host
//! thread's operations replaced by an op sequence); the first entry that matches wins. The path
//! is checked with the checker's default search (DPOR for `checker::DPOR_BUDGET` executions,
//! then the stateful search, as `pvmm check`) on the kernel inferred from the tree: the
//! Makefile's release, with every switch the code decides set to the inferred value
//! (`crate::infer`) and every other switch at the release's value from its history
//! (`Kernel::at`), listed as such. Findings with the same scenario text (path + kernel) share
//! one check. A finding that no entry maps, or whose entry says the model has no such path,
//! has "no model path (why)".
//!
//! Abstraction (stated where it is made): the model path stands for the finding's *kind* of
//! path (how the reference is taken, what carries it, what kind of sink reads it), not for the
//! driver's own code: a vhost-scsi `sg_set_page` and an RDS `sg_set_page` after
//! `iov_iter_get_pages2` are both "GUP fast with FOLL_GET, then device DMA" in the model.

use crate::analysis::{Finding, Site};
use crate::infer::Inference;
use crate::rules::{any_glob, glob, ModelEntry, Rules};
use checker::matrix::{self, Path_, Via};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The kernel a tree's findings are checked on.
#[derive(Debug, Clone, Serialize)]
pub struct ModelKernel {
    /// The Makefile's release (the scenario's `presets`).
    pub release: String,
    /// Switches set from the tree's code: (switch, value, evidence).
    pub inferred: Vec<(String, String, String)>,
    /// Switches the code did not decide: (switch, the release's value from its history).
    pub from_history: Vec<(String, String)>,
}

impl ModelKernel {
    /// The kernel of the tree: release + inferred switches; an error says why there is none
    /// (no release in the Makefile, a release the model does not describe).
    pub fn of(inf: &Inference) -> Result<ModelKernel, String> {
        let release = inf
            .release
            .clone()
            .ok_or_else(|| format!("the tree's release is unknown ({})", inf.release_evidence))?;
        let k = kernel::vocab::presets::resolve(&release)
            .map_err(|e| format!("release {release}: {e}"))?;
        let mut inferred = Vec::new();
        let mut from_history = Vec::new();
        for s in kernel::vocab::SWITCHES {
            let name = s.name();
            match inf
                .switches
                .iter()
                .find(|x| x.switch == name && x.value.is_some())
            {
                Some(x) => inferred.push((
                    name.to_string(),
                    x.value.clone().unwrap_or_default(),
                    x.evidence.clone(),
                )),
                None => {
                    from_history.push((name.to_string(), k.get(name).unwrap_or("?").to_string()))
                }
            }
        }
        Ok(ModelKernel {
            release,
            inferred,
            from_history,
        })
    }

    /// One line: `6.12.118 + 12 switches from the code (…), 13 from the release's history`.
    pub fn describe(&self) -> String {
        format!(
            "{} with {} switches from the tree's code ({}) and {} at the release's value from its history",
            self.release,
            self.inferred.len(),
            self.inferred
                .iter()
                .map(|(s, v, _)| format!("{s}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.from_history.len()
        )
    }
}

/// What a finding is, for the mapping: its source kind, marker, carrier and sink.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Shape {
    /// The source rule (`gup-foll-get`, `iov-iter-get-pages`, `page-cache-lookup`).
    pub source: String,
    /// The source call (`get_user_pages_fast`).
    pub source_callee: String,
    /// The function that makes it.
    pub source_func: String,
    /// The source site's FOLL_* flags as written and the sink's required constant.
    pub marker: String,
    /// The carrier id (`pipe-buffer`), or none.
    pub carrier: Option<String>,
    /// The sink call (`sg_set_page`, `->sendpage`).
    pub sink: String,
    /// The sink's class (`device-dma`, `transport`, `crypto`, `copy`).
    pub sink_class: String,
}

/// The shape of `f` (sites give the source site's flags).
pub fn shape(rules: &Rules, f: &Finding, sites: &[Site]) -> Shape {
    let first = &f.chain[0];
    let last = &f.chain[f.chain.len() - 1];
    let source = rules
        .source
        .iter()
        .find(|s| any_glob(&s.names, &first.callee))
        .map(|s| s.id.clone())
        .unwrap_or_else(|| f.rule.clone());
    let mut marker: Vec<String> = sites
        .iter()
        .filter(|s| s.file == first.file && s.line == first.line && !s.flags.is_empty())
        .map(|s| s.flags.clone())
        .collect();
    if let Some(c) = rules
        .sink
        .iter()
        .find(|s| any_glob(&s.names, &last.callee))
        .and_then(|s| s.requires_const.clone())
    {
        marker.push(c);
    }
    Shape {
        source,
        source_callee: first.callee.clone(),
        source_func: first.func.clone(),
        marker: marker.join(" "),
        carrier: f.rule.strip_prefix("carrier-").map(String::from),
        sink: last.callee.clone(),
        sink_class: crate::analysis::sink_class(rules, &last.callee),
    }
}

fn entry_matches(e: &ModelEntry, s: &Shape) -> bool {
    (e.source.is_empty() || e.source.contains(&s.source))
        && (e.source_callee.is_empty() || any_glob(&e.source_callee, &s.source_callee))
        && (e.source_func.is_empty() || any_glob(&e.source_func, &s.source_func))
        && e.marker.iter().all(|m| s.marker.contains(m.as_str()))
        && e.no_marker.iter().all(|m| !s.marker.contains(m.as_str()))
        && match e.carrier.as_deref() {
            None => true,
            Some("none") => s.carrier.is_none(),
            Some(c) => s.carrier.as_deref() == Some(c),
        }
        && (e.sink_class.is_empty() || e.sink_class.contains(&s.sink_class))
        && (e.sink.is_empty() || e.sink.iter().any(|p| glob(p, &s.sink)))
}

/// How a finding relates to the model.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub shape: Shape,
    /// `[[model]] #N`: the entry that matched.
    pub entry: Option<usize>,
    /// `row sendfile` or `row gup-fast-get-io, host ops […]`; None: no model path.
    pub path: Option<String>,
    /// What the path stands for (the entry's `what`), or why there is no model path.
    pub why: String,
    /// The check ([`Check::key`]) this finding shares.
    pub check: Option<String>,
}

/// A matrix row and the host thread's ops that replace the row's (None: the row's own).
type RowOps = (String, Option<String>);

/// The model path of a shape: the matrix row and the host ops (None: the row's own).
fn path_of(rules: &Rules, s: &Shape) -> (Option<usize>, Result<RowOps, String>) {
    let Some((i, e)) = rules
        .model
        .iter()
        .enumerate()
        .find(|(_, e)| entry_matches(e, s))
    else {
        return (
            None,
            Err(format!(
                "no [[model]] entry maps source {} ({}), marker `{}`, carrier {}, sink {} ({})",
                s.source,
                s.source_callee,
                s.marker,
                s.carrier.as_deref().unwrap_or("none"),
                s.sink,
                s.sink_class
            )),
        );
    };
    match (&e.row, &e.no_path) {
        (Some(r), _) => (Some(i), Ok((r.clone(), e.ops.clone()))),
        (None, Some(why)) => (Some(i), Err(why.clone())),
        (None, None) => (Some(i), Err("entry names no row".into())),
    }
}

fn row(name: &str) -> Option<(&'static Path_, Via)> {
    matrix::find_row(name)
}

/// The scenario text of a model path on a kernel: the row's scenario (its set-up and vCPU),
/// the host thread's ops replaced when the entry gives them, `presets = [release]` and a
/// `[set]` table of the inferred switches.
pub fn scenario_text(row_name: &str, ops: Option<&str>, k: &ModelKernel) -> Result<String, String> {
    let (p, via) = row(row_name).ok_or_else(|| format!("no matrix row `{row_name}`"))?;
    let mut t = matrix::scenario_text(p, via, &[k.release.as_str()]);
    if let Some(ops) = ops {
        let mm = match via {
            Via::Own => "qemu",
            Via::Second => "mm2",
        };
        let own = format!("ops = [{}]", p.ops.replace("{mm}", mm));
        let at = t
            .rfind(&own)
            .ok_or_else(|| format!("row `{row_name}`: host thread not found"))?;
        t.replace_range(
            at..at + own.len(),
            &format!("ops = [{}]", ops.replace("{mm}", mm)),
        );
    }
    if !k.inferred.is_empty() {
        t.push_str("\n# The switches the tree's code decides (pvmm audit --switches).\n[set]\n");
        for (s, v, _) in &k.inferred {
            let _ = writeln!(t, "{s} = {v:?}");
        }
    }
    Ok(t)
}

/// Checks every `[[model]]` entry: a row that exists, ops that parse on the row's set-up.
pub fn validate(rules: &Rules, rules_name: &str) -> Result<(), String> {
    let probe = ModelKernel {
        release: kernel::vocab::PRESETS[0].name.to_string(),
        inferred: Vec::new(),
        from_history: Vec::new(),
    };
    for (i, e) in rules.model.iter().enumerate() {
        let at = format!("rules {rules_name}: [[model]] #{i}");
        match (&e.row, &e.no_path) {
            (Some(_), Some(_)) => return Err(format!("{at}: `row` and `no_path` both given")),
            (None, None) => {
                return Err(format!(
                    "{at}: give `row` (a matrix row) or `no_path` (why the model has none)"
                ))
            }
            (None, Some(_)) if e.ops.is_some() => {
                return Err(format!("{at}: `ops` needs a `row` (its set-up)"))
            }
            _ => {}
        }
        if let Some(r) = &e.row {
            if row(r).is_none() {
                return Err(format!(
                    "{at}: row `{r}` is not a matrix row ({})",
                    matrix::rows()
                        .iter()
                        .map(|(p, v)| matrix::row_name(p, *v))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let text =
                scenario_text(r, e.ops.as_deref(), &probe).map_err(|m| format!("{at}: {m}"))?;
            checker::parse(Path::new("model.toml"), &text)
                .map_err(|err| format!("{at}: the path does not parse as a scenario: {err}"))?;
        }
    }
    Ok(())
}

/// One check of a model path, shared by the findings that map to it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `MC-<10 hex>`: a hash of the scenario text (path + kernel).
    pub key: String,
    pub path: String,
    pub release: String,
    pub kernel: String,
    /// verified | violation | incomplete
    pub verdict: String,
    /// With the bound that stopped an incomplete search.
    pub verdict_text: String,
    pub violated: Vec<String>,
    pub executions: u64,
    /// The check's time in seconds (both searches).
    pub secs: f64,
    /// States of the stateful search that finished the check (None: DPOR alone).
    pub states: Option<u64>,
    pub search: String,
    /// The shortest violation: its property, schedule, steps, and the trace one line a step.
    pub property: Option<String>,
    pub schedule: Option<String>,
    pub steps: Option<usize>,
    /// Whether `steps` is the shortest (a stateful search's trace is not necessarily).
    pub shortest: bool,
    pub trace: Vec<String>,
    pub findings: Vec<String>,
    #[serde(skip)]
    pub scenario: String,
    /// The check as `pvmm check --report` renders it (trace diagrams).
    #[serde(skip)]
    pub html: Option<report::html::Section>,
}

/// `6.12.118 (+12 inferred switches)`.
pub fn short_kernel(c: &Check) -> String {
    c.release.clone()
}

/// The HTML section of a check (a placeholder-free section when the check could not run).
pub fn html_section(c: &Check) -> report::html::Section {
    c.html.clone().unwrap_or_else(|| report::html::Section {
        scenario: c.path.clone(),
        preset: c.release.clone(),
        verdict: c.verdict.clone(),
        expected: "-".into(),
        card: vec![("verdict".into(), c.verdict_text.clone())],
        violations: Vec::new(),
        observations: Vec::new(),
        notes: Vec::new(),
    })
}

/// Options of the checks.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// DPOR's execution budget before the stateful search (default `checker::DPOR_BUDGET`).
    pub budget: Option<u64>,
    /// Bound on the whole check's executions (plain DPOR, no stateful search): for tests.
    pub max_executions: Option<u64>,
    /// Wall-clock bound of one check in seconds (a safety net: a stopped check is incomplete).
    pub max_time_secs: Option<u64>,
}

fn run_check(text: &str, key: &str, path: &str, k: &ModelKernel, o: &CheckOptions) -> Check {
    let mut c = Check {
        key: key.to_string(),
        path: path.to_string(),
        release: k.release.clone(),
        kernel: k.describe(),
        verdict: "incomplete".into(),
        verdict_text: String::new(),
        violated: Vec::new(),
        executions: 0,
        secs: 0.0,
        states: None,
        search: String::new(),
        property: None,
        schedule: None,
        steps: None,
        shortest: false,
        trace: Vec::new(),
        findings: Vec::new(),
        scenario: text.to_string(),
        html: None,
    };
    let sc = match checker::parse(Path::new(&format!("{key}.toml")), text) {
        Ok(sc) => sc,
        Err(e) => {
            c.verdict_text = format!("incomplete (the scenario does not parse: {e})");
            return c;
        }
    };
    let mut bounds = sc.bounds.clone();
    bounds.max_executions = o.max_executions;
    if let Some(t) = o.max_time_secs {
        bounds.max_time = Some(std::time::Duration::from_secs(t));
    }
    let opts = checker::RunOptions {
        search: checker::Search::Auto {
            budget: o.budget.unwrap_or(checker::DPOR_BUDGET),
        },
        bounds: Some(bounds.clone()),
        ..checker::RunOptions::default()
    };
    let ch = match checker::check(&sc, &k.release, opts) {
        Ok(ch) => ch,
        Err(e) => {
            c.verdict_text = format!("incomplete (the check could not run: {e})");
            return c;
        }
    };
    c.verdict = ch.verdict.to_string();
    c.verdict_text = ch.verdict_text();
    c.violated = ch.violated();
    c.executions = ch.outcome.stats.executions;
    c.secs = ch.outcome.stats.elapsed_secs;
    c.states = ch.completion.as_ref().map(|s| s.stats.states);
    c.search = match &ch.completion {
        Some(_) => "stateless, then stateful".into(),
        None => "stateless".into(),
    };
    let model = sc.model(ch.kernel.clone());
    let traced: Vec<report::Traced<'_>> = ch
        .outcome
        .reports
        .iter()
        .map(|r| report::Traced {
            report: r,
            replay: explore::replay(&model, &r.schedule),
            trace_file: None,
        })
        .collect();
    c.html = Some(report::check_section(&sc, &ch, &bounds, &traced));
    if let Some(r) = ch
        .outcome
        .violations()
        .min_by_key(|r| (r.steps, r.property))
    {
        let rep = explore::replay(&model, &r.schedule);
        c.property = Some(r.property.to_string());
        c.schedule = Some(explore::format_schedule(&r.schedule));
        c.steps = Some(r.steps);
        c.shortest = !ch.stateful_trace(r.property);
        c.trace = checker::trace::render(&rep)
            .lines()
            .map(String::from)
            .collect();
    }
    c
}

/// The links of `findings` to the model and the checks they share (None when `checks` is
/// false: the links alone).
pub fn check_findings(
    rules: &Rules,
    findings: &[Finding],
    sites: &[Site],
    inf: &Inference,
    run_checks: bool,
    o: &CheckOptions,
) -> (BTreeMap<String, Link>, Vec<Check>, Option<String>) {
    let kernel = ModelKernel::of(inf);
    let mut links = BTreeMap::new();
    let mut by_text: BTreeMap<String, Check> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for f in findings {
        let s = shape(rules, f, sites);
        let (entry, p) = path_of(rules, &s);
        let mut link = Link {
            shape: s,
            entry,
            path: None,
            why: String::new(),
            check: None,
        };
        match p {
            Err(why) => link.why = why,
            Ok((r, ops)) => {
                let e = &rules.model[entry.unwrap_or(0)];
                link.why = e.what.clone();
                let label = match &ops {
                    Some(o) => format!("row {r} with host ops [{o}]"),
                    None => format!("row {r}"),
                };
                link.path = Some(label.clone());
                if let (true, Ok(k)) = (run_checks, &kernel) {
                    match scenario_text(&r, ops.as_deref(), k) {
                        Ok(text) => {
                            let key = format!(
                                "MC-{}",
                                &blake3::hash(text.as_bytes()).to_hex().as_str()[..10]
                            );
                            if !by_text.contains_key(&text) {
                                by_text.insert(text.clone(), run_check(&text, &key, &label, k, o));
                                order.push(text.clone());
                            }
                            if let Some(c) = by_text.get_mut(&text) {
                                c.findings.push(f.id.clone());
                            }
                            link.check = Some(key);
                        }
                        Err(e) => link.why = format!("{} (no scenario: {e})", link.why),
                    }
                }
            }
        }
        links.insert(f.id.clone(), link);
    }
    let checks = order.iter().filter_map(|t| by_text.remove(t)).collect();
    (links, checks, kernel.err())
}

/// The scenario file of one finding: the model path's scenario on the tree's kernel, with
/// comments naming the finding, its chain, and the switches taken from the release's history.
pub fn emit_scenario(
    rules: &Rules,
    f: &Finding,
    sites: &[Site],
    inf: &Inference,
) -> Result<String, String> {
    let s = shape(rules, f, sites);
    let (entry, p) = path_of(rules, &s);
    let (r, ops) = p.map_err(|why| format!("finding {} has no model path ({why})", f.id))?;
    let k = ModelKernel::of(inf).map_err(|e| format!("finding {}: no model kernel: {e}", f.id))?;
    let body = scenario_text(&r, ops.as_deref(), &k)?;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# pvmm audit finding {} ({}): {}",
        f.id, f.identity, f.title
    );
    let _ = writeln!(t, "# rule {}: {}", f.rule, f.why);
    t.push_str("# chain:\n");
    for (i, h) in f.chain.iter().enumerate() {
        let _ = writeln!(
            t,
            "#   {}. {}:{}: {}(): {}",
            i + 1,
            h.file,
            h.line,
            h.func,
            h.note
        );
    }
    let _ = writeln!(
        t,
        "# model path: [[model]] #{} → row {}{} ({})",
        entry.unwrap_or(0),
        r,
        ops.as_deref()
            .map(|o| format!(", host ops [{o}]"))
            .unwrap_or_default(),
        rules.model[entry.unwrap_or(0)].what
    );
    let _ = writeln!(t, "# kernel: release {} (Makefile)", k.release);
    for (s, v, ev) in &k.inferred {
        let _ = writeln!(t, "#   {s} = {v}  from the code: {ev}");
    }
    for (s, v) in &k.from_history {
        let _ = writeln!(
            t,
            "#   {s} = {v}  not decided by the code: the release's value from its history"
        );
    }
    let _ = writeln!(t, "# check: pvmm check THIS-FILE\n");
    t.push_str(&body);
    Ok(t)
}
