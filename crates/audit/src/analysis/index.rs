//! The whole-tree index: every function by name, the operation tables (which function an
//! ops field or table variable names), and each callee's role under the rules.

use super::Parsed;
use crate::extract::{FileSummary, Func};
use crate::rules::{any_glob, Rules};
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

/// What the rules make of a function name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Role {
    Hook,
    Covered(usize),
    Source(usize),
    Sink(usize),
    Transfer(usize),
    Benign,
    Plain,
}

/// Every parsed function, by id (its position in the tree's files) and by name, the operation
/// tables, and the roles of the callee names.
pub struct Index<'a> {
    pub(super) rules: &'a Rules,
    pub(super) files: &'a [Parsed],
    /// Function id → (file, position in the file's summary).
    pub(super) fns: Vec<(usize, usize)>,
    pub(super) by_name: HashMap<&'a str, Vec<usize>>,
    /// ops field → (target function name, ops table variable, file, line)
    ops_field: HashMap<&'a str, Vec<(&'a str, &'a str, usize, u32)>>,
    /// ops table variable → (field, target, file, line)
    pub(super) ops_var: HashMap<&'a str, Vec<(&'a str, &'a str, usize, u32)>>,
    roles: HashMap<&'a str, Role>,
}

impl<'a> Index<'a> {
    /// The index of `files` under `rules`.
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

    pub(super) fn func(&self, id: usize) -> &'a Func {
        let (fi, k) = self.fns[id];
        &self.files[fi].summary.funcs[k]
    }

    pub(super) fn file_of(&self, id: usize) -> &'a str {
        &self.files[self.fns[id].0].path
    }

    pub(super) fn role(&self, name: &str) -> Role {
        self.roles.get(name).copied().unwrap_or(Role::Plain)
    }

    /// Definitions a direct call may reach: the same file's first, else all.
    pub(super) fn resolve(&self, from: usize, name: &str) -> Cow<'_, [usize]> {
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
    pub(super) fn resolve_field(&self, field: &str) -> Vec<(usize, &'a str, usize, u32)> {
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
    pub(super) fn callers(&self) -> Vec<Vec<usize>> {
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

/// The role of `name` under the rules (the first rule that matches, hooks first).
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
