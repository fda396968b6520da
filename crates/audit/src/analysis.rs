//! Whole-tree index, interprocedural function summaries (to a fixed point) and findings.
//!
//! Data flow is flow-insensitive within a function: a variable is tainted when an assignment, a
//! transfer call or a callee's summary moves a tainted value into it. Summaries per function and
//! parameter: the parameter reaches the return value or another parameter, reaches a sink,
//! is stored into a carrier (pipe buffer), or gets the hook; and "returns a referenced page" when a
//! source's page leaves the function.

use crate::extract::{Call, Expr, FileSummary, Func};
use crate::rules::{any_glob, glob, Rules};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Hook,
    Covered(usize),
    Source(usize),
    Sink(usize),
    Transfer(usize),
    Benign,
    Plain,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct SrcOut {
    ret: bool,
    outs: BTreeSet<usize>,
    chain: Chain,
    rule: String,
}

#[derive(Debug, Clone, Default)]
struct Summ {
    ret_params: BTreeSet<usize>,
    flows: BTreeSet<(usize, usize)>,
    sink: BTreeMap<usize, Chain>,
    carrier: BTreeMap<usize, (Chain, String)>,
    hook: BTreeSet<usize>,
    hook_any: bool,
    src_out: Option<SrcOut>,
}

impl Summ {
    fn key(&self) -> (usize, usize, Vec<usize>, Vec<usize>, usize, bool, bool) {
        (
            self.ret_params.len(),
            self.flows.len(),
            self.sink.keys().copied().collect(),
            self.carrier.keys().copied().collect(),
            self.hook.len(),
            self.hook_any,
            self.src_out.is_some(),
        )
    }
}

#[derive(Default)]
struct Reach {
    sinks: Vec<Chain>,
    carriers: Vec<(Chain, String)>,
    hooks: Vec<Hop>,
    ret: bool,
    outs: BTreeSet<usize>,
}

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
}

pub struct Index<'a> {
    rules: &'a Rules,
    files: &'a [Parsed],
    fns: Vec<(usize, usize)>,
    by_name: HashMap<&'a str, Vec<usize>>,
    /// ops field → (target function name, ops table variable, file, line)
    ops_field: HashMap<&'a str, Vec<(&'a str, &'a str, usize, u32)>>,
    /// ops table variable → (field, target, file, line)
    ops_var: HashMap<&'a str, Vec<(&'a str, &'a str, usize, u32)>>,
    roles: HashMap<&'a str, Role>,
}

impl<'a> Index<'a> {
    pub fn new(rules: &'a Rules, files: &'a [Parsed]) -> Index<'a> {
        let mut fns = Vec::new();
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut ops_field: HashMap<&str, Vec<_>> = HashMap::new();
        let mut ops_var: HashMap<&str, Vec<_>> = HashMap::new();
        // (struct, field) pairs to resolve; a field of an unnamed initialiser matches any struct.
        let pairs: HashSet<(&str, &str)> = rules
            .ops
            .iter()
            .flat_map(|o| {
                o.fields
                    .iter()
                    .map(|f| (o.struct_name.as_str(), f.as_str()))
            })
            .collect();
        let ops_fields: HashSet<&str> = pairs
            .iter()
            .map(|p| p.1)
            .chain(rules.carrier.iter().map(|c| c.check_op.as_str()))
            .collect();
        for (fi, p) in files.iter().enumerate() {
            for (k, f) in p.summary.funcs.iter().enumerate() {
                by_name.entry(f.name.as_str()).or_default().push(fns.len());
                fns.push((fi, k));
            }
            for o in &p.summary.ops {
                if !ops_fields.contains(o.field.as_str()) {
                    continue;
                }
                if let Some(t) = &o.ty {
                    let check = rules.carrier.iter().any(|c| c.check_op == o.field);
                    if !check && !pairs.contains(&(t.as_str(), o.field.as_str())) {
                        continue;
                    }
                }
                let var = o.var.as_deref().unwrap_or("");
                ops_field.entry(o.field.as_str()).or_default().push((
                    o.target.as_str(),
                    var,
                    fi,
                    o.line,
                ));
                if !var.is_empty() {
                    ops_var.entry(var).or_default().push((
                        o.field.as_str(),
                        o.target.as_str(),
                        fi,
                        o.line,
                    ));
                }
            }
        }
        // Every callee name once, then the rule roles in parallel (glob matching per name).
        let mut names: HashSet<&str> = HashSet::new();
        for p in files {
            for f in &p.summary.funcs {
                for c in &f.calls {
                    names.insert(c.callee.as_str());
                }
                let exprs = f
                    .calls
                    .iter()
                    .flat_map(|c| c.args.iter())
                    .chain(f.assigns.iter().map(|a| &a.rhs))
                    .chain(f.returns.iter());
                for e in exprs {
                    for (n, _) in &e.calls {
                        names.insert(n.as_str());
                    }
                }
            }
        }
        let names: Vec<&str> = names.into_iter().collect();
        let roles: HashMap<&str, Role> = names
            .par_iter()
            .map(|n| (*n, role_of(rules, n)))
            .filter(|(_, r)| *r != Role::Plain)
            .collect();
        Index {
            rules,
            files,
            fns,
            by_name,
            ops_field,
            ops_var,
            roles,
        }
    }

    fn func(&self, id: usize) -> &'a Func {
        let (fi, k) = self.fns[id];
        &self.files[fi].summary.funcs[k]
    }

    fn file_of(&self, id: usize) -> &'a str {
        &self.files[self.fns[id].0].path
    }

    fn role(&self, name: &str) -> Role {
        self.roles.get(name).copied().unwrap_or(Role::Plain)
    }

    /// Definitions a direct call may reach: the same file's first, else all.
    fn resolve(&self, from: usize, name: &str) -> Cow<'_, [usize]> {
        let Some(ids) = self.by_name.get(name) else {
            return Cow::Borrowed(&[]);
        };
        // Most names have one definition: no allocation on the hot path.
        if ids.len() == 1 {
            return Cow::Borrowed(&ids[..]);
        }
        let fi = self.fns[from].0;
        let same: Vec<usize> = ids
            .iter()
            .copied()
            .filter(|&i| self.fns[i].0 == fi)
            .collect();
        if !same.is_empty() {
            return Cow::Owned(same);
        }
        Cow::Borrowed(&ids[..ids.len().min(8)])
    }

    /// Targets of a call through an ops field: (function id, ops table, file, line).
    fn resolve_field(&self, field: &str) -> Vec<(usize, &'a str, usize, u32)> {
        let mut out = Vec::new();
        if let Some(v) = self.ops_field.get(field) {
            for &(target, var, fi, line) in v {
                if let Some(ids) = self.by_name.get(target) {
                    let same: Vec<usize> = ids
                        .iter()
                        .copied()
                        .filter(|&i| self.fns[i].0 == fi)
                        .collect();
                    let pick = if same.is_empty() { ids.clone() } else { same };
                    for id in pick.into_iter().take(4) {
                        out.push((id, var, fi, line));
                    }
                }
            }
        }
        out
    }

    /// For each function, the functions whose calls may reach it (direct or through an ops field).
    fn callers(&self) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); self.fns.len()];
        for id in 0..self.fns.len() {
            let f = self.func(id);
            let mut names: BTreeSet<&str> = BTreeSet::new();
            for c in &f.calls {
                names.insert(c.callee.as_str());
            }
            for e in f
                .assigns
                .iter()
                .map(|a| &a.rhs)
                .chain(f.returns.iter())
                .chain(f.calls.iter().flat_map(|c| c.args.iter()))
            {
                for (n, _) in &e.calls {
                    names.insert(n.as_str());
                }
            }
            for n in names {
                let targets: Vec<usize> = match n.strip_prefix("->") {
                    Some(field) => self.resolve_field(field).into_iter().map(|t| t.0).collect(),
                    None => self.resolve(id, n).into_owned(),
                };
                for d in targets {
                    out[d].push(id);
                }
            }
        }
        for v in &mut out {
            v.sort_unstable();
            v.dedup();
        }
        out
    }
}

/// Callees of `fs` that receive a page-typed argument and are not rule functions: where a chain
/// may lead when they are defined in a file not parsed yet.
pub fn page_callees(rules: &Rules, fs: &FileSummary) -> Vec<String> {
    let mut out = Vec::new();
    for f in &fs.funcs {
        let pagey: HashSet<&str> = f
            .var_types
            .iter()
            .filter(|(_, t)| {
                matches!(t.as_str(), "page" | "folio" | "bio_vec" | "folio_batch")
                    || rules.carrier.iter().any(|c| &c.struct_name == *t)
            })
            .map(|(v, _)| v.as_str())
            .collect();
        if pagey.is_empty() {
            continue;
        }
        for c in &f.calls {
            if c.callee.is_empty() || c.callee.starts_with("->") {
                continue;
            }
            if c.args
                .iter()
                .any(|a| a.roots.iter().any(|r| pagey.contains(r.as_str())))
            {
                out.push(c.callee.clone());
            }
        }
    }
    out.sort();
    out.dedup();
    out.retain(|n| role_of(rules, n) == Role::Plain);
    out
}

fn role_of(rules: &Rules, name: &str) -> Role {
    if rules.hooks.direct.iter().any(|h| h == name) {
        return Role::Hook;
    }
    for (i, c) in rules.hooks.covered.iter().enumerate() {
        if any_glob(&c.names, name) {
            return Role::Covered(i);
        }
    }
    for (i, s) in rules.source.iter().enumerate() {
        if any_glob(&s.names, name) {
            return Role::Source(i);
        }
    }
    for (i, s) in rules.sink.iter().enumerate() {
        if any_glob(&s.names, name) {
            return Role::Sink(i);
        }
    }
    for (i, t) in rules.transfer.iter().enumerate() {
        if any_glob(&t.names, name) {
            return Role::Transfer(i);
        }
    }
    if any_glob(&rules.benign.names, name) {
        return Role::Benign;
    }
    Role::Plain
}

struct Engine<'a, 'b> {
    ix: &'b Index<'a>,
    summ: &'b [Summ],
}

impl Engine<'_, '_> {
    /// A variable can hold a page unless its declared type says otherwise.
    fn can_carry(&self, f: &Func, v: &str) -> bool {
        match f.var_types.get(v) {
            Some(t) => self.ix.rules.page_types.iter().any(|p| p == t),
            None => true,
        }
    }

    fn add_roots(&self, f: &Func, t: &mut HashSet<String>, a: &Expr) {
        for r in &a.roots {
            if r.contains("->") || self.can_carry(f, r) {
                t.insert(r.clone());
            }
        }
    }

    fn returns_page(&self, f: &Func) -> bool {
        f.ret_type.is_empty() || self.ix.rules.page_types.iter().any(|p| p == &f.ret_type)
    }

    fn hop(&self, id: usize, line: u32, callee: &str, note: String) -> Hop {
        Hop {
            func: self.ix.func(id).name.clone(),
            file: self.ix.file_of(id).to_string(),
            line,
            callee: callee.to_string(),
            note,
        }
    }

    fn passes(&self, from: usize, callee: &str) -> bool {
        match self.ix.role(callee) {
            Role::Plain => {
                let defs = self.ix.resolve(from, callee);
                defs.is_empty() || defs.iter().any(|&d| !self.summ[d].ret_params.is_empty())
            }
            _ => false,
        }
    }

    fn tainted(&self, from: usize, e: &Expr, t: &HashSet<String>) -> bool {
        e.roots.iter().any(|r| t.contains(r))
            || e.calls
                .iter()
                .any(|(c, args)| args.iter().any(|a| t.contains(a)) && self.passes(from, c))
    }

    fn arg_tainted(&self, from: usize, c: &Call, i: usize, t: &HashSet<String>) -> bool {
        c.args.get(i).is_some_and(|a| self.tainted(from, a, t))
    }

    fn analyse(&self, id: usize, seeds: &[String]) -> Reach {
        let f = self.ix.func(id);
        let mut t: HashSet<String> = seeds.iter().cloned().collect();
        for _ in 0..20 {
            let before = t.len();
            for a in &f.assigns {
                if !t.contains(&a.lhs) && self.can_carry(f, &a.lhs) && self.tainted(id, &a.rhs, &t)
                {
                    t.insert(a.lhs.clone());
                }
            }
            for c in &f.calls {
                match self.ix.role(&c.callee) {
                    Role::Transfer(k) => {
                        let tr = &self.ix.rules.transfer[k];
                        if self.arg_tainted(id, c, tr.from, &t) {
                            if let Some(a) = c.args.get(tr.to) {
                                self.add_roots(f, &mut t, a);
                            }
                        }
                    }
                    Role::Plain if !c.callee.starts_with("->") => {
                        for &d in self.ix.resolve(id, &c.callee).iter() {
                            for &(i, j) in &self.summ[d].flows {
                                if self.arg_tainted(id, c, i, &t) {
                                    if let Some(a) = c.args.get(j) {
                                        self.add_roots(f, &mut t, a);
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            if t.len() == before {
                break;
            }
        }
        let mut r = Reach::default();
        for c in &f.calls {
            let any_arg = (0..c.args.len()).any(|i| self.arg_tainted(id, c, i, &t));
            if !any_arg {
                continue;
            }
            match self.ix.role(&c.callee) {
                // "On every path": a hook inside an `if` branch does not cover the page.
                Role::Hook | Role::Covered(_) if c.conditional => {}
                Role::Hook => r.hooks.push(self.hop(
                    id,
                    c.line,
                    &c.callee,
                    format!("calls the hook {}()", c.callee),
                )),
                Role::Covered(k) => r.hooks.push(self.hop(
                    id,
                    c.line,
                    &c.callee,
                    format!(
                        "calls {}(), covered: {}",
                        c.callee, self.ix.rules.hooks.covered[k].why
                    ),
                )),
                Role::Sink(k) => {
                    let s = &self.ix.rules.sink[k];
                    if let Some(need) = &s.requires_const {
                        if !f.consts.iter().any(|x| x == need) {
                            continue;
                        }
                    }
                    let hit = if s.page < 0 {
                        true
                    } else {
                        self.arg_tainted(id, c, s.page as usize, &t)
                    };
                    if hit {
                        r.sinks.push(vec![self.hop(
                            id,
                            c.line,
                            &c.callee,
                            format!("sink {}(): {}", c.callee, s.what),
                        )]);
                    }
                }
                Role::Plain => {
                    if let Some(field) = c.callee.strip_prefix("->") {
                        for (d, var, fi, line) in self.ix.resolve_field(field) {
                            let head = self.hop(
                                id,
                                c.line,
                                &c.callee,
                                format!(
                                    "calls ->{field}, resolved to {} via {} ({}:{})",
                                    self.ix.func(d).name,
                                    if var.is_empty() {
                                        "an ops initialiser"
                                    } else {
                                        var
                                    },
                                    self.ix.files[fi].path,
                                    line
                                ),
                            );
                            self.callee_effects(id, c, d, head, &t, &mut r);
                        }
                    } else {
                        for &d in self.ix.resolve(id, &c.callee).iter() {
                            let head = self.hop(
                                id,
                                c.line,
                                &c.callee,
                                format!("passes the page to {}()", c.callee),
                            );
                            self.callee_effects(id, c, d, head, &t, &mut r);
                        }
                    }
                }
                _ => {}
            }
        }
        // Carrier stores: `(struct pipe_buffer){ .page = page, .ops = &ops }` or field stores.
        for carrier in &self.ix.rules.carrier {
            for s in &f.stores {
                let is_carrier = s.ty.as_deref() == Some(carrier.struct_name.as_str())
                    || f.var_types.get(&s.base) == Some(&carrier.struct_name);
                if !is_carrier {
                    continue;
                }
                let Some((_, pe)) = s.fields.iter().find(|(n, _)| n == &carrier.page_field) else {
                    continue;
                };
                if !self.tainted(id, pe, &t) {
                    continue;
                }
                let ops = s
                    .fields
                    .iter()
                    .find(|(n, _)| n == &carrier.ops_field)
                    .or_else(|| {
                        f.stores
                            .iter()
                            .filter(|o| o.base == s.base)
                            .flat_map(|o| o.fields.iter())
                            .find(|(n, _)| n == &carrier.ops_field)
                    })
                    .and_then(|(_, e)| e.roots.first().cloned());
                let Some(ops) = ops else { continue };
                r.carriers.push((
                    vec![self.hop(
                        id,
                        s.line,
                        &carrier.id,
                        format!("stores the page in a {} with ops {}", carrier.what, ops),
                    )],
                    ops,
                ));
            }
        }
        r.ret = self.returns_page(f) && f.returns.iter().any(|e| self.tainted(id, e, &t));
        for (i, p) in f.params.iter().enumerate() {
            if !p.is_empty() && t.contains(p) && self.can_carry(f, p) {
                r.outs.insert(i);
            }
        }
        r
    }

    fn callee_effects(
        &self,
        id: usize,
        c: &Call,
        d: usize,
        head: Hop,
        t: &HashSet<String>,
        r: &mut Reach,
    ) {
        let s = &self.summ[d];
        for (&i, chain) in &s.sink {
            if self.arg_tainted(id, c, i, t) && chain.len() < MAX_CHAIN {
                let mut ch = vec![head.clone()];
                ch.extend(chain.iter().cloned());
                r.sinks.push(ch);
            }
        }
        for (&i, (chain, ops)) in &s.carrier {
            if self.arg_tainted(id, c, i, t) && chain.len() < MAX_CHAIN {
                let mut ch = vec![head.clone()];
                ch.extend(chain.iter().cloned());
                r.carriers.push((ch, ops.clone()));
            }
        }
        for &i in &s.hook {
            if !c.conditional && self.arg_tainted(id, c, i, t) {
                let mut h = head.clone();
                h.note = format!(
                    "{}; the hook is called in {}()",
                    h.note,
                    self.ix.func(d).name
                );
                r.hooks.push(h);
            }
        }
    }

    /// Seeds and a first hop for each source call in `id` (rule sources and calls to functions
    /// that return a referenced page).
    fn sources(&self, id: usize) -> Vec<SourceSite> {
        let f = self.ix.func(id);
        let mut out = Vec::new();
        for c in &f.calls {
            let (pages, rule, what, pinned, gup) = match self.ix.role(&c.callee) {
                Role::Source(k) => {
                    let s = &self.ix.rules.source[k];
                    let pinned = match (s.flags, &s.pin_flag) {
                        (Some(fl), Some(pin)) => c
                            .args
                            .get(fl)
                            .is_some_and(|a| a.text.contains(pin.as_str())),
                        _ => false,
                    };
                    (s.pages, s.id.clone(), s.what.clone(), pinned, s.gup)
                }
                Role::Plain if !c.callee.starts_with("->") => {
                    let Some((d, so)) = self
                        .ix
                        .resolve(id, &c.callee)
                        .iter()
                        .copied()
                        .find_map(|d| self.summ[d].src_out.as_ref().map(|s| (d, s)))
                    else {
                        continue;
                    };
                    let _ = d;
                    let mut seeds = Vec::new();
                    for &j in &so.outs {
                        if let Some(a) = c.args.get(j) {
                            seeds.extend(
                                a.roots
                                    .iter()
                                    .filter(|r| r.contains("->") || self.can_carry(f, r))
                                    .cloned(),
                            );
                        }
                    }
                    let mut ret_here = false;
                    if so.ret {
                        self.seed_return(f, c, &mut seeds, &mut ret_here);
                    }
                    let mut chain = so.chain.clone();
                    chain.push(self.hop(
                        id,
                        c.line,
                        &c.callee,
                        format!("gets the referenced page from {}()", c.callee),
                    ));
                    out.push(SourceSite {
                        call: c.clone(),
                        seeds,
                        ret_here,
                        chain,
                        rule: so.rule.clone(),
                        pinned: false,
                        gup: false,
                    });
                    continue;
                }
                Role::Covered(k) if self.ix.rules.hooks.covered[k].gup => {
                    out.push(SourceSite {
                        call: c.clone(),
                        seeds: Vec::new(),
                        ret_here: false,
                        chain: vec![self.hop(
                            id,
                            c.line,
                            &c.callee,
                            self.ix.rules.hooks.covered[k].why.clone(),
                        )],
                        rule: String::new(),
                        pinned: true,
                        gup: true,
                    });
                    continue;
                }
                _ => continue,
            };
            let mut seeds = Vec::new();
            let mut ret_here = false;
            if pages >= 0 {
                if let Some(a) = c.args.get(pages as usize) {
                    seeds.extend(
                        a.roots
                            .iter()
                            .filter(|r| r.contains("->") || self.can_carry(f, r))
                            .cloned(),
                    );
                }
            } else {
                self.seed_return(f, c, &mut seeds, &mut ret_here);
            }
            let flags = c
                .args
                .iter()
                .find(|a| a.text.contains("FOLL_"))
                .map(|a| format!(" (flags: {})", a.text))
                .unwrap_or_default();
            out.push(SourceSite {
                call: c.clone(),
                seeds,
                ret_here,
                chain: vec![self.hop(
                    id,
                    c.line,
                    &c.callee,
                    format!("source {}(){}: {}", c.callee, flags, what),
                )],
                rule,
                pinned,
                gup,
            });
        }
        out
    }

    fn seed_return(&self, f: &Func, c: &Call, seeds: &mut Vec<String>, ret_here: &mut bool) {
        for a in &f.assigns {
            if a.line == c.line && a.rhs.calls.iter().any(|(n, _)| n == &c.callee) {
                seeds.push(a.lhs.clone());
            }
        }
        if seeds.is_empty()
            && f.returns
                .iter()
                .any(|e| e.calls.iter().any(|(n, _)| n == &c.callee))
        {
            *ret_here = true;
        }
    }

    fn summarise(&self, id: usize) -> Summ {
        let f = self.ix.func(id);
        let mut s = Summ {
            hook_any: f
                .calls
                .iter()
                .any(|c| matches!(self.ix.role(&c.callee), Role::Hook | Role::Covered(_))),
            ..Default::default()
        };
        for (i, p) in f.params.iter().enumerate() {
            if p.is_empty() || !self.can_carry(f, p) {
                continue;
            }
            let r = self.analyse(id, std::slice::from_ref(p));
            if r.ret {
                s.ret_params.insert(i);
            }
            for &j in &r.outs {
                if j != i {
                    s.flows.insert((i, j));
                }
            }
            if !r.hooks.is_empty() {
                s.hook.insert(i);
            }
            if let Some(ch) = r.sinks.into_iter().min_by_key(|c| c.len()) {
                s.sink.insert(i, ch);
            }
            if let Some(ch) = r.carriers.into_iter().min_by_key(|c| c.0.len()) {
                s.carrier.insert(i, ch);
            }
        }
        // "Returns a referenced page": a source's page leaves through the return or a parameter.
        // Rule sources are taken at their own call sites, not through their implementation.
        if self.ix.role(&f.name) == Role::Plain {
            for site in self.sources(id) {
                if site.pinned || site.chain.len() >= MAX_CHAIN {
                    continue;
                }
                let r = self.analyse(id, &site.seeds);
                if !r.hooks.is_empty() {
                    continue;
                }
                if r.ret || site.ret_here || !r.outs.is_empty() {
                    s.src_out = Some(SrcOut {
                        ret: r.ret || site.ret_here,
                        outs: r.outs,
                        chain: site.chain,
                        rule: site.rule,
                    });
                    break;
                }
            }
        }
        s
    }
}

struct SourceSite {
    call: Call,
    seeds: Vec<String>,
    ret_here: bool,
    chain: Chain,
    rule: String,
    pinned: bool,
    gup: bool,
}

/// Run the analysis over the parsed files.
pub fn run(rules: &Rules, files: &[Parsed]) -> Outcome {
    let trace = std::env::var_os("PVMM_AUDIT_TRACE").is_some();
    let t = std::time::Instant::now();
    let ix = Index::new(rules, files);
    if trace {
        eprintln!("index {:.3}s", t.elapsed().as_secs_f64());
    }
    let n = ix.fns.len();
    let mut summ: Vec<Summ> = vec![Summ::default(); n];
    let callers = ix.callers();
    let mut rounds = 0;
    let mut dirty: Vec<usize> = (0..n).collect();
    while !dirty.is_empty() && rounds < MAX_ROUNDS {
        rounds += 1;
        let eng = Engine {
            ix: &ix,
            summ: &summ,
        };
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
    if trace {
        eprintln!("fixed point {:.3}s", t.elapsed().as_secs_f64());
    }
    let eng = Engine {
        ix: &ix,
        summ: &summ,
    };

    // Carrier consumers: functions that read the page out of a carrier and hand it to a sink.
    let mut consumers: Vec<(usize, Hop, Chain, String)> = Vec::new();
    for carrier in &rules.carrier {
        let found: Vec<Vec<(usize, Hop, Chain, String)>> = (0..n)
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

    let mut findings: BTreeMap<String, Finding> = BTreeMap::new();
    let mut sites = Vec::new();
    let per_fn: Vec<(Vec<Site>, Vec<Finding>)> = (0..n)
        .into_par_iter()
        .map(|id| source_findings(&eng, id, &consumers))
        .collect();
    // The same source→sink pair is found again from every wrapper level: keep the shortest chain.
    let mut by_ends: BTreeMap<(String, u32, String, u32, String), Finding> = BTreeMap::new();
    for (s, fs) in per_fn {
        sites.extend(s);
        for f in fs {
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
        f.scenario = scenario_of(rules, f);
    }
    findings.sort_by(|a, b| {
        (&a.subsystem, &a.chain[0].file, a.chain[0].line).cmp(&(
            &b.subsystem,
            &b.chain[0].file,
            b.chain[0].line,
        ))
    });
    sites.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));

    let mut cov = Coverage {
        files_parsed: files.len(),
        files_clean: files.iter().filter(|p| p.summary.clean).count(),
        functions: n,
        functions_clean: (0..n).filter(|&i| ix.func(i).clean).count(),
        ..Default::default()
    };
    let mut chain_fns: HashSet<(String, String)> = HashSet::new();
    for f in &findings {
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
    for f in &mut findings {
        let mut bad: Vec<String> = f
            .chain
            .iter()
            .filter(|h| !clean.contains(&(h.file.as_str(), h.func.as_str())))
            .map(|h| format!("{}:{}()", h.file, h.func))
            .collect();
        bad.dedup();
        f.partly_parsed = bad;
    }
    Outcome {
        findings,
        sites,
        coverage: cov,
        rounds,
        converged,
    }
}

fn first_use(f: &Func, pseudo: &str) -> Option<u32> {
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

fn source_findings(
    eng: &Engine,
    id: usize,
    consumers: &[(usize, Hop, Chain, String)],
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
                        "{}() takes the reference without the accessibility hook, and no function on the chain calls {} or a hook-covered callee on every path before the page reaches {}()",
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
    consumers: &[(usize, Hop, Chain, String)],
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
                "ops table {ops} has no .{} (or it was not found): nothing makes the page accessible before a consumer uses it",
                carrier.check_op
            )
        } else {
            format!(
                "the {} holds the page under ops {ops}; every consumer calls .{} before use, and {} does not call {}",
                carrier.what,
                carrier.check_op,
                check_hops.iter().map(|h| h.func.as_str()).collect::<Vec<_>>().join(", "),
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

fn scenario_of(rules: &Rules, f: &Finding) -> Option<String> {
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
