//! Findings: each source's page followed to sinks and carriers, carrier consumers, the stable
//! finding ids, subsystems and the scenarios findings belong to.

use super::engine::{Engine, FieldKey};
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

/// A source call site analysed in its function, before the struct fields its page was
/// stored into are followed (they are followed for all sites at once: [`super::fields`]).
pub(super) struct Draft {
    pub(super) site: Option<Site>,
    /// `Some(class, detail)` when decided without the fields: covered, returned-to-caller
    /// (a wrapper); `None` to decide after the fields.
    pub(super) decided: Option<(String, String)>,
    pub(super) src_chain: Chain,
    pub(super) rule: String,
    /// Findings through sinks and carriers already made.
    pub(super) ids: Vec<String>,
    /// The page reached a sink or a carrier, but every carrier's check op calls the hook.
    pub(super) carrier_covered: bool,
    pub(super) returned: bool,
    pub(super) fields: Vec<(Chain, FieldKey)>,
    pub(super) lost: Vec<Hop>,
}

pub(super) fn source_findings(
    eng: &Engine,
    id: usize,
    consumers: &[Consumer],
) -> (Vec<Draft>, Vec<Finding>) {
    let ix = eng.ix;
    let f = ix.func(id);
    let file = ix.file_of(id);
    let mut drafts = Vec::new();
    let mut findings = Vec::new();
    let wrapper = ix.role(&f.name) != Role::Plain;
    for site in eng.sources(id) {
        let mut d = Draft {
            site: None,
            decided: None,
            src_chain: site.chain.clone(),
            rule: site.rule.clone(),
            ids: Vec::new(),
            carrier_covered: false,
            returned: false,
            fields: Vec::new(),
            lost: Vec::new(),
        };
        if site.pinned {
            d.decided = Some(("covered".to_string(), site.chain[0].note.clone()));
        } else if wrapper {
            d.decided = Some((
                "returned-to-caller".to_string(),
                format!(
                    "inside {}(), itself a source: classified at its call sites",
                    f.name
                ),
            ));
        } else {
            let r = eng.analyse(id, &site.seeds);
            if let Some(h) = r.hooks.first() {
                d.decided = Some((
                    "covered".to_string(),
                    format!("{}:{} {}", h.file, h.line, h.note),
                ));
            } else {
                let mut seen = HashSet::new();
                for sink in &r.sinks {
                    let mut chain = site.chain.clone();
                    chain.extend(sink.iter().cloned());
                    let key = chain.last().map(|h| h.callee.clone()).unwrap_or_default();
                    if !seen.insert(key) {
                        continue;
                    }
                    let fnd = make_finding(&site.rule, chain, sink_why(eng, &site.chain, sink));
                    d.ids.push(fnd.id.clone());
                    findings.push(fnd);
                }
                let mut carrier_ids = 0;
                for (cchain, ops) in &r.carriers {
                    for fnd in carrier_findings(eng, &site.chain, cchain, ops, consumers) {
                        d.ids.push(fnd.id.clone());
                        findings.push(fnd);
                        carrier_ids += 1;
                    }
                }
                d.carrier_covered = !r.carriers.is_empty() && carrier_ids == 0;
                d.returned = r.ret || site.ret_here || !r.outs.is_empty();
                d.fields = r.fields;
                d.lost = r.lost;
            }
        }
        if site.gup {
            let flags = site
                .call
                .args
                .iter()
                .find(|a| a.text.contains("FOLL_") || a.text.contains("gup_flags"))
                .map(|a| a.text.clone())
                .unwrap_or_default();
            d.site = Some(Site {
                file: file.to_string(),
                line: site.call.line,
                func: f.name.clone(),
                callee: site.call.callee.clone(),
                flags,
                class: String::new(),
                detail: String::new(),
                findings: Vec::new(),
            });
        }
        drafts.push(d);
    }
    (drafts, findings)
}

/// Why a chain that reaches a sink is a finding.
pub(super) fn sink_why(eng: &Engine, src: &Chain, sink: &Chain) -> String {
    format!(
        "{}() takes the reference without the accessibility hook, and no function on the \
         chain calls {} or a hook-covered callee on every path before the page reaches {}()",
        src[0].callee,
        eng.ix.rules.hooks.direct.join("/"),
        sink.last().map(|h| h.callee.as_str()).unwrap_or("")
    )
}

/// The class of a draft once its fields were followed (`field_ids`: the findings through
/// them; `field_lost`: where their trail is lost).
pub(super) fn classify(
    d: &Draft,
    f_name: &str,
    field_ids: &[String],
    field_lost: &[Hop],
) -> (String, String, Vec<String>) {
    if let Some((c, detail)) = &d.decided {
        return (c.clone(), detail.clone(), Vec::new());
    }
    let mut ids = d.ids.clone();
    ids.extend(field_ids.iter().cloned());
    if !ids.is_empty() {
        return ("finding".into(), format!("{} finding(s)", ids.len()), ids);
    }
    if d.carrier_covered {
        return (
            "covered".into(),
            "carrier check op calls the hook".into(),
            ids,
        );
    }
    if d.returned {
        return (
            "returned-to-caller".into(),
            format!("{f_name}() returns the referenced page; followed at its call sites"),
            ids,
        );
    }
    // In the order found: the site's own function first, then its callees, then the fields.
    let mut seen = HashSet::new();
    let lost: Vec<&Hop> = d
        .lost
        .iter()
        .chain(field_lost.iter())
        .filter(|h| seen.insert((h.file.as_str(), h.line, h.note.as_str())))
        .collect();
    if let Some(h) = lost.first() {
        let more = if lost.len() > 1 {
            format!(" (+{} more)", lost.len() - 1)
        } else {
            String::new()
        };
        return (
            "lost".into(),
            format!("lost at {}:{} ({}){more}", h.file, h.line, h.note),
            ids,
        );
    }
    (
        "no-io".into(),
        "established: every use of the page stays in parsed functions, reaches no sink, \
         carrier or struct field, and leaves through no unknown callee"
            .into(),
        ids,
    )
}

pub(super) fn carrier_findings(
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

pub(super) fn make_finding(rule: &str, chain: Chain, why: String) -> Finding {
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
        identity: String::new(),
        rule: rule.to_string(),
        scenario: None,
        subsystem: subsystem(&first.file),
        title,
        why,
        chain,
        partly_parsed: Vec::new(),
    }
}

/// The sink class of a chain's last hop (`class` of the sink rule, else its id; `carrier` for
/// a chain that ends elsewhere).
pub fn sink_class(rules: &Rules, callee: &str) -> String {
    rules
        .sink
        .iter()
        .find(|s| any_glob(&s.names, callee))
        .map(|s| s.class.clone().unwrap_or_else(|| s.id.clone()))
        .unwrap_or_else(|| "other".to_string())
}

/// A finding's stable identity (see [`Finding::identity`]).
pub(super) fn identity(rules: &Rules, f: &Finding) -> String {
    let first = &f.chain[0];
    let last = &f.chain[f.chain.len() - 1];
    let mut key = format!("{}|{}|{}", f.rule, first.file, first.callee);
    for h in &f.chain {
        if h.note.starts_with("stores the page in") {
            key.push('|');
            key.push_str(&h.callee);
        }
    }
    key.push('|');
    key.push_str(&sink_class(rules, &last.callee));
    let hash = blake3::hash(key.as_bytes()).to_hex();
    format!("PVS-{}", &hash.as_str()[..12])
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
