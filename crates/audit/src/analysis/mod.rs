//! Whole-tree index, interprocedural function summaries (to a fixed point) and findings.
//!
//! Data flow is flow-insensitive within a function: a variable is tainted when an assignment, a
//! transfer call or a callee's summary moves a tainted value into it. Summaries per function and
//! parameter: the parameter reaches the return value or another parameter, reaches a sink,
//! is stored into a carrier (pipe buffer), or gets the hook; and "returns a referenced page" when a
//! source's page leaves the function.

mod engine;
mod fields;
mod findings;
mod index;
pub mod prototypes;

pub use findings::{sink_class, subsystem};
pub use index::{page_callees, Index};
pub use prototypes::{RuleCheck, RulesCheck};

use crate::extract::FileSummary;
use crate::rules::Rules;
use engine::{Engine, Summ};
use findings::{classify, first_use, scenario_of, source_findings, Draft};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Bump when the analysis changes what it finds: stored results of older versions are then
/// not reused.
pub const ANALYSIS_VERSION: u32 = 3;

/// Longest chain kept (hops); recursion cannot grow chains past it.
pub const MAX_CHAIN: usize = 16;
/// Bound on fixed-point rounds.
pub const MAX_ROUNDS: usize = 30;

/// One parsed file.
pub struct Parsed {
    pub path: String,
    pub summary: FileSummary,
}

/// One step of a chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct Hop {
    pub func: String,
    pub file: String,
    pub line: u32,
    /// The callee, field or carrier this hop is about.
    pub callee: String,
    pub note: String,
}

pub type Chain = Vec<Hop>;

/// The classification of one GUP-family call site.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Site {
    pub file: String,
    pub line: u32,
    pub func: String,
    pub callee: String,
    /// The FOLL_* flags argument as written, when the call has one.
    pub flags: String,
    /// covered | finding | returned-to-caller | no-io
    pub class: String,
    pub detail: String,
    pub findings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    /// `PVS-<12 hex>`: what stays when functions or sinks are renamed: the rule, the source's
    /// file and callee, the structs the page is stored in on the way, and the sink's class.
    /// The two-tree diff matches findings whose ids differ by it (`updated`).
    #[serde(default)]
    pub identity: String,
    pub rule: String,
    pub scenario: Option<String>,
    pub subsystem: String,
    pub title: String,
    pub why: String,
    pub chain: Chain,
    /// Functions on the chain whose definition has tree-sitter parse errors (partly understood).
    pub partly_parsed: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Coverage {
    pub files_parsed: usize,
    pub files_clean: usize,
    pub functions: usize,
    pub functions_clean: usize,
    pub chain_functions: usize,
    pub chain_functions_clean: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub sites: Vec<Site>,
    pub coverage: Coverage,
    pub rounds: usize,
    /// The summaries reached a fixed point within MAX_ROUNDS.
    pub converged: bool,
    /// The rules' argument indexes checked against the tree's prototypes.
    #[serde(default)]
    pub rules_check: RulesCheck,
    /// Parts of parsed files not understood (nesting deeper than `extract::MAX_DEPTH`).
    #[serde(default)]
    pub not_understood: Vec<crate::scan::NotRead>,
}

/// Run the analysis over the parsed files.
pub fn run(rules: &Rules, files: &[Parsed]) -> Outcome {
    let trace = std::env::var_os("PVMM_AUDIT_TRACE").is_some();
    let t = std::time::Instant::now();
    let ix = Index::new(rules, files);
    if trace {
        eprintln!("index {:.3}s", t.elapsed().as_secs_f64());
    }
    let (summ, rounds, converged) = fixed_point(&ix);
    if trace {
        eprintln!("fixed point {:.3}s", t.elapsed().as_secs_f64());
    }
    let eng = Engine {
        ix: &ix,
        summ: &summ,
    };
    let consumers = carrier_consumers(&eng);
    let (mut findings, sites) = findings_and_sites(&eng, &consumers);
    let coverage = coverage(&ix, &mut findings);
    Outcome {
        findings,
        sites,
        coverage,
        rounds,
        converged,
        rules_check: prototypes::check(rules, files),
        not_understood: files
            .iter()
            .flat_map(|p| {
                p.summary.too_deep.iter().map(|d| crate::scan::NotRead {
                    path: p.path.clone(),
                    reason: format!(
                        "line {}{}: nesting deeper than {} levels, not understood",
                        d.line,
                        if d.name.is_empty() {
                            String::new()
                        } else {
                            format!(" ({}())", d.name)
                        },
                        crate::extract::MAX_DEPTH
                    ),
                })
            })
            .collect(),
    }
}

/// Every function's summary, computed in rounds until none changes (a function is computed
/// again when one of its callees' summaries changed), at most [`MAX_ROUNDS`] rounds; with the
/// rounds taken and whether they reached the fixed point.
fn fixed_point(ix: &Index) -> (Vec<Summ>, usize, bool) {
    let n = ix.fns.len();
    let mut summ: Vec<Summ> = vec![Summ::default(); n];
    let callers = ix.callers();
    let mut rounds = 0;
    let mut dirty: Vec<usize> = (0..n).collect();
    while !dirty.is_empty() && rounds < MAX_ROUNDS {
        rounds += 1;
        let eng = Engine { ix, summ: &summ };
        let next: Vec<(usize, Summ)> = dirty
            .par_iter()
            .map(|&id| (id, eng.summarise(id)))
            .collect();
        let mut again: BTreeSet<usize> = BTreeSet::new();
        for (id, s) in next {
            if s.key() != summ[id].key() {
                again.extend(callers[id].iter().copied());
                again.insert(id);
            }
            summ[id] = s;
        }
        dirty = again.into_iter().collect();
    }
    let converged = dirty.is_empty();
    (summ, rounds, converged)
}

/// A function that reads the page back out of a carrier and hands it to a sink, without the
/// hook: (the function, the hop that reads the page, the chain to the sink, the carrier's id).
type Consumer = (usize, Hop, Chain, String);

/// The carrier consumers of the tree: functions that read the page out of a carrier and hand
/// it to a sink (one chain per sink callee).
fn carrier_consumers(eng: &Engine) -> Vec<Consumer> {
    let ix = eng.ix;
    let n = ix.fns.len();
    let mut consumers: Vec<Consumer> = Vec::new();
    for carrier in &ix.rules.carrier {
        let found: Vec<Vec<Consumer>> = (0..n)
            .into_par_iter()
            .map(|id| {
                let f = ix.func(id);
                let mut out = Vec::new();
                for (v, ty) in &f.var_types {
                    if ty != &carrier.struct_name {
                        continue;
                    }
                    let pseudo = format!("{v}->{}", carrier.page_field);
                    let Some(line) = first_use(f, &pseudo) else {
                        continue;
                    };
                    let r = eng.analyse(id, std::slice::from_ref(&pseudo));
                    if !r.hooks.is_empty() {
                        continue;
                    }
                    let mut seen = HashSet::new();
                    for ch in r.sinks {
                        let key = ch.last().map(|h| h.callee.clone()).unwrap_or_default();
                        if seen.insert(key) {
                            let read = eng.hop(
                                id,
                                line,
                                &pseudo,
                                format!("reads the page back from the {}", carrier.what),
                            );
                            out.push((id, read, ch, carrier.id.clone()));
                        }
                    }
                }
                out
            })
            .collect();
        consumers.extend(found.into_iter().flatten());
    }
    consumers
}

/// Every function's source sites classified and their findings: of the findings with the
/// same source and sink (found again from every wrapper level) the shortest chain, with the
/// scenario each belongs to; findings sorted by subsystem and place, sites by place.
fn findings_and_sites(eng: &Engine, consumers: &[Consumer]) -> (Vec<Finding>, Vec<Site>) {
    let n = eng.ix.fns.len();
    let mut findings: BTreeMap<String, Finding> = BTreeMap::new();
    let mut sites = Vec::new();
    let per_fn: Vec<(usize, Vec<Draft>, Vec<Finding>)> = (0..n)
        .into_par_iter()
        .map(|id| {
            let (d, f) = source_findings(eng, id, consumers);
            (id, d, f)
        })
        .collect();
    // The struct fields the pages were stored into, followed for all sites at once.
    let keys: BTreeSet<engine::FieldKey> = per_fn
        .iter()
        .flat_map(|(_, ds, _)| ds.iter().flat_map(|d| d.fields.iter().map(|x| x.1.clone())))
        .collect();
    let uses = fields::field_uses(eng, keys);
    let mut all: Vec<Finding> = Vec::new();
    for (id, drafts, fs) in per_fn {
        all.extend(fs);
        for d in drafts {
            let mut via = Vec::new();
            let mut lost = Vec::new();
            let cx = fields::FieldCx {
                eng,
                uses: &uses,
                consumers,
                rule: &d.rule,
            };
            for (store, key) in &d.fields {
                let mut prefix = d.src_chain.clone();
                prefix.extend(store.iter().cloned());
                cx.findings(&prefix, key, fields::MAX_FIELD_DEPTH, &mut via, &mut lost);
            }
            let ids: Vec<String> = via.iter().map(|f| f.id.clone()).collect();
            all.extend(via);
            if let Some(mut site) = d.site.clone() {
                let (class, detail, ids) = classify(&d, &eng.ix.func(id).name, &ids, &lost);
                site.class = class;
                site.detail = detail;
                site.findings = ids;
                sites.push(site);
            }
        }
    }
    // The same source→sink pair is found again from every wrapper level: keep the shortest chain.
    let mut by_ends: BTreeMap<(String, u32, String, u32, String), Finding> = BTreeMap::new();
    {
        for f in all {
            let a = &f.chain[0];
            let b = &f.chain[f.chain.len() - 1];
            let key = (
                a.file.clone(),
                a.line,
                b.file.clone(),
                b.line,
                f.rule.clone(),
            );
            match by_ends.get(&key) {
                Some(g)
                    if g.chain.len() < f.chain.len()
                        || (g.chain.len() == f.chain.len() && g.id <= f.id) => {}
                _ => {
                    by_ends.insert(key, f);
                }
            }
        }
    }
    for f in by_ends.into_values() {
        findings.entry(f.id.clone()).or_insert(f);
    }
    let mut findings: Vec<Finding> = findings.into_values().collect();
    for f in &mut findings {
        f.scenario = scenario_of(eng.ix.rules, f);
        f.identity = findings::identity(eng.ix.rules, f);
    }
    findings.sort_by(|a, b| {
        (&a.subsystem, &a.chain[0].file, a.chain[0].line).cmp(&(
            &b.subsystem,
            &b.chain[0].file,
            b.chain[0].line,
        ))
    });
    sites.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    (findings, sites)
}

/// How much of the tree (and of the findings' chains) tree-sitter parsed without errors;
/// marks each finding's functions that it did not (`partly_parsed`).
fn coverage(ix: &Index, findings: &mut [Finding]) -> Coverage {
    let files = ix.files;
    let n = ix.fns.len();
    let mut cov = Coverage {
        files_parsed: files.len(),
        files_clean: files.iter().filter(|p| p.summary.clean).count(),
        functions: n,
        functions_clean: (0..n).filter(|&i| ix.func(i).clean).count(),
        ..Default::default()
    };
    let mut chain_fns: HashSet<(String, String)> = HashSet::new();
    for f in findings.iter() {
        for h in &f.chain {
            chain_fns.insert((h.file.clone(), h.func.clone()));
        }
    }
    cov.chain_functions = chain_fns.len();
    let clean: HashSet<(&str, &str)> = (0..n)
        .filter(|&i| ix.func(i).clean)
        .map(|i| (ix.file_of(i), ix.func(i).name.as_str()))
        .collect();
    cov.chain_functions_clean = chain_fns
        .iter()
        .filter(|(fi, fu)| clean.contains(&(fi.as_str(), fu.as_str())))
        .count();
    for f in findings.iter_mut() {
        let mut bad: Vec<String> = f
            .chain
            .iter()
            .filter(|h| !clean.contains(&(h.file.as_str(), h.func.as_str())))
            .map(|h| format!("{}:{}()", h.file, h.func))
            .collect();
        bad.dedup();
        f.partly_parsed = bad;
    }
    cov
}
