//! Findings: each source's page followed to sinks and carriers, carrier consumers, the stable
//! finding ids, subsystems and the scenarios findings belong to.

use super::engine::Engine;
use super::index::Role;
use super::{Chain, Consumer, Finding, Hop, Site};
use crate::extract::{Expr, Func};
use crate::rules::{any_glob, glob, Rules};
use std::collections::HashSet;

pub(super) fn first_use(f: &Func, pseudo: &str) -> Option<u32> {
    let p = pseudo.to_string();
    let in_expr = |e: &Expr| e.roots.contains(&p) || e.calls.iter().any(|(_, a)| a.contains(&p));
    let a = f.assigns.iter().filter(|a| in_expr(&a.rhs)).map(|a| a.line);
    let c = f
        .calls
        .iter()
        .filter(|c| c.args.iter().any(in_expr))
        .map(|c| c.line);
    a.chain(c).min()
}

pub(super) fn source_findings(
    eng: &Engine,
    id: usize,
    consumers: &[Consumer],
) -> (Vec<Site>, Vec<Finding>) {
    let ix = eng.ix;
    let f = ix.func(id);
    let file = ix.file_of(id);
    let mut sites = Vec::new();
    let mut findings = Vec::new();
    let wrapper = ix.role(&f.name) != Role::Plain;
    for site in eng.sources(id) {
        let mut ids = Vec::new();
        let (class, detail) = if site.pinned {
            ("covered".to_string(), site.chain[0].note.clone())
        } else if wrapper {
            (
                "returned-to-caller".to_string(),
                format!(
                    "inside {}(), itself a source: classified at its call sites",
                    f.name
                ),
            )
        } else {
            let r = eng.analyse(id, &site.seeds);
            if let Some(h) = r.hooks.first() {
                (
                    "covered".to_string(),
                    format!("{}:{} {}", h.file, h.line, h.note),
                )
            } else if !r.sinks.is_empty() || !r.carriers.is_empty() {
                let mut seen = HashSet::new();
                for sink in &r.sinks {
                    let mut chain = site.chain.clone();
                    chain.extend(sink.iter().cloned());
                    let key = chain.last().map(|h| h.callee.clone()).unwrap_or_default();
                    if !seen.insert(key) {
                        continue;
                    }
                    let why = format!(
                        "{}() takes the reference without the accessibility hook, and no \
                         function on the chain calls {} or a hook-covered callee on every \
                         path before the page reaches {}()",
                        chain[0].callee,
                        ix.rules.hooks.direct.join("/"),
                        chain.last().map(|h| h.callee.as_str()).unwrap_or("")
                    );
                    let fnd = make_finding(&site.rule, chain, why);
                    ids.push(fnd.id.clone());
                    findings.push(fnd);
                }
                for (cchain, ops) in &r.carriers {
                    for fnd in carrier_findings(eng, &site.chain, cchain, ops, consumers) {
                        ids.push(fnd.id.clone());
                        findings.push(fnd);
                    }
                }
                if ids.is_empty() {
                    (
                        "covered".to_string(),
                        "carrier check op calls the hook".to_string(),
                    )
                } else {
                    ("finding".to_string(), format!("{} finding(s)", ids.len()))
                }
            } else if r.ret || site.ret_here || !r.outs.is_empty() {
                (
                    "returned-to-caller".to_string(),
                    format!(
                        "{}() returns the referenced page; followed at its call sites",
                        f.name
                    ),
                )
            } else {
                (
                    "no-io".to_string(),
                    "the page never reaches a sink or carrier".to_string(),
                )
            }
        };
        if site.gup {
            let flags = site
                .call
                .args
                .iter()
                .find(|a| a.text.contains("FOLL_") || a.text.contains("gup_flags"))
                .map(|a| a.text.clone())
                .unwrap_or_default();
            sites.push(Site {
                file: file.to_string(),
                line: site.call.line,
                func: f.name.clone(),
                callee: site.call.callee.clone(),
                flags,
                class,
                detail,
                findings: ids,
            });
        }
    }
    (sites, findings)
}

fn carrier_findings(
    eng: &Engine,
    src: &Chain,
    store: &Chain,
    ops: &str,
    consumers: &[Consumer],
) -> Vec<Finding> {
    let ix = eng.ix;
    let mut out = Vec::new();
    for carrier in &ix.rules.carrier {
        let checks: Vec<(&str, usize, u32)> = ix
            .ops_var
            .get(ops)
            .map(|v| {
                v.iter()
                    .filter(|(f, ..)| *f == carrier.check_op)
                    .map(|&(_, t, fi, l)| (t, fi, l))
                    .collect()
            })
            .unwrap_or_default();
        let mut check_hops = Vec::new();
        let mut covered = false;
        for (target, fi, line) in &checks {
            let defs: Vec<usize> = ix
                .by_name
                .get(target)
                .map(|v| v.iter().copied().filter(|&d| ix.fns[d].0 == *fi).collect())
                .unwrap_or_default();
            for d in defs {
                if eng.summ[d].hook_any || !eng.summ[d].hook.is_empty() {
                    covered = true;
                }
                let df = ix.func(d);
                check_hops.push(Hop {
                    func: df.name.clone(),
                    file: ix.file_of(d).to_string(),
                    line: df.line,
                    callee: format!("->{}", carrier.check_op),
                    note: format!(
                        "{ops}.{} = {} ({}:{}) does not call the hook",
                        carrier.check_op, df.name, ix.files[*fi].path, line
                    ),
                });
            }
        }
        if covered {
            continue;
        }
        let why = if check_hops.is_empty() {
            format!(
                "ops table {ops} has no .{} (or it was not found): nothing makes the page \
                 accessible before a consumer uses it",
                carrier.check_op
            )
        } else {
            format!(
                "the {} holds the page under ops {ops}; every consumer calls .{} before use, \
                 and {} does not call {}",
                carrier.what,
                carrier.check_op,
                check_hops
                    .iter()
                    .map(|h| h.func.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                ix.rules.hooks.direct.join("/")
            )
        };
        for (_, read, sink, cid) in consumers {
            if cid != &carrier.id {
                continue;
            }
            let mut chain = src.clone();
            chain.extend(store.iter().cloned());
            chain.extend(check_hops.iter().take(1).cloned());
            chain.push(read.clone());
            chain.extend(sink.iter().cloned());
            out.push(make_finding(
                &format!("carrier-{}", carrier.id),
                chain,
                why.clone(),
            ));
        }
    }
    out
}

fn make_finding(rule: &str, chain: Chain, why: String) -> Finding {
    let first = &chain[0];
    let last = &chain[chain.len() - 1];
    // Stable across line moves: rule, source function and callee, every function on the chain,
    // sink callee.
    let mut key = format!("{rule}|{}|{}|{}", first.file, first.func, first.callee);
    for h in &chain[1..] {
        key.push('|');
        key.push_str(&h.func);
    }
    key.push('|');
    key.push_str(&last.callee);
    let hash = blake3::hash(key.as_bytes()).to_hex();
    let id = format!("PVA-{}", &hash.as_str()[..12]);
    let title = format!(
        "{}() in {} → {}() in {}",
        first.callee,
        first.func,
        last.callee.trim_start_matches("->"),
        last.func
    );
    Finding {
        id,
        rule: rule.to_string(),
        scenario: None,
        subsystem: subsystem(&first.file),
        title,
        why,
        chain,
        partly_parsed: Vec::new(),
    }
}

/// `block`, `fs/fuse`, `net/core`, `drivers/infiniband/core`...
pub fn subsystem(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    let depth = match parts.first().copied() {
        Some("drivers") | Some("arch") => 3,
        Some("fs") | Some("net") | Some("sound") => 2,
        _ => 1,
    };
    let n = depth.min(parts.len().saturating_sub(1)).max(1);
    parts[..n.min(parts.len())].join("/")
}

pub(super) fn scenario_of(rules: &Rules, f: &Finding) -> Option<String> {
    for s in &rules.scenario {
        if let Some(c) = &s.carrier {
            if f.rule != format!("carrier-{c}") {
                continue;
            }
        } else if f.rule.starts_with("carrier-") {
            continue;
        }
        let src_ok = s.source.is_empty() || f.chain.iter().any(|h| any_glob(&s.source, &h.callee));
        let last = &f.chain[f.chain.len() - 1];
        let sink_ok = s.sink.is_empty() || s.sink.iter().any(|p| glob(p, &last.callee));
        if src_ok && sink_ok {
            return Some(s.name.clone());
        }
    }
    None
}
