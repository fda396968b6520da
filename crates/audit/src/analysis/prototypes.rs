//! The rules checked against the audited tree: every argument index a rule gives (a source's
//! `pages` and `flags`, a sink's `page`, a transfer's `from` and `to`) is compared with the
//! prototype of each function the rule names, as the tree's own headers (or, for a function
//! declared nowhere in `include/`, its definition) declare it. A rule whose page argument is
//! not a page-typed parameter there is a mismatch: the run stops with an error naming the rule
//! (`pvmm audit` exits 2), since every finding through that rule would be wrong.
//!
//! A function-like macro (`#define dma_map_page(d, p, o, s, r) dma_map_page_attrs(d, p, o, s,
//! r, 0)`) is followed to the function its body calls when the argument is handed on
//! unchanged. A name defined nowhere in the parsed files is "not in this tree" (kernel
//! releases add and remove helpers); a name reached only through an ops field (`->sendpage`)
//! has no prototype to check.

use super::Parsed;
use crate::extract::{Macro, Proto};
use crate::rules::{glob, Rules};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The check of one (rule entry, name, argument) triple.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RuleCheck {
    /// `[[sink]] #4 (bio)`: the table, its position in the rules file (1-based) and its id.
    pub rule: String,
    pub name: String,
    /// `pages`, `flags`, `page`, `from`, `to`.
    pub what: String,
    pub index: i32,
    /// `ok`, `mismatch`, `not-in-tree`, `unchecked`.
    pub status: String,
    /// The prototype(s) it was checked against, `file:line name(params)`, or why not.
    pub detail: String,
}

/// All the checks of one run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RulesCheck {
    pub checks: Vec<RuleCheck>,
}

impl RulesCheck {
    pub fn mismatches(&self) -> impl Iterator<Item = &RuleCheck> {
        self.checks.iter().filter(|c| c.status == "mismatch")
    }
    pub fn count(&self, status: &str) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// What an argument must be.
#[derive(Clone, Copy, PartialEq)]
enum Want {
    /// Receives the pages: `struct page **`, `struct folio_batch *`, `struct bio_vec *`...
    PagesOut,
    /// Holds the page: a pointer to a page type.
    Page,
    /// FOLL_* flags: an integer parameter.
    Flags,
    /// Any parameter (it must exist).
    Any,
}

struct Protos<'a> {
    protos: HashMap<&'a str, Vec<(&'a str, &'a Proto)>>,
    macros: HashMap<&'a str, Vec<(&'a str, &'a Macro)>>,
}

impl<'a> Protos<'a> {
    fn new(files: &'a [Parsed]) -> Self {
        let mut protos: HashMap<&str, Vec<_>> = HashMap::new();
        let mut macros: HashMap<&str, Vec<_>> = HashMap::new();
        for f in files {
            for p in &f.summary.protos {
                protos
                    .entry(p.name.as_str())
                    .or_default()
                    .push((f.path.as_str(), p));
            }
            for m in &f.summary.macros {
                macros
                    .entry(m.name.as_str())
                    .or_default()
                    .push((f.path.as_str(), m));
            }
        }
        Protos { protos, macros }
    }

    /// The prototypes that define `name` for the tree: those under `include/` when there are
    /// any (a driver's local function of the same name does not redefine the API), else all.
    fn of(&self, name: &str) -> Vec<(&'a str, &'a Proto)> {
        let all = self.protos.get(name).cloned().unwrap_or_default();
        let inc: Vec<_> = all
            .iter()
            .copied()
            .filter(|(f, _)| f.starts_with("include/"))
            .collect();
        if inc.is_empty() {
            all
        } else {
            inc
        }
    }

    fn names_matching(&self, pat: &str) -> Vec<&'a str> {
        let mut v: Vec<&str> = self
            .protos
            .keys()
            .chain(self.macros.keys())
            .copied()
            .filter(|n| glob(pat, n))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

fn fits(rules: &Rules, p: &crate::extract::Param, want: Want) -> bool {
    let page = rules.page_types.iter().any(|t| t == &p.ty);
    match want {
        Want::Any => true,
        Want::Page => page && p.ptr >= 1,
        // A page array (`struct page **`) or a container of pages passed by pointer.
        Want::PagesOut => page && (p.ptr >= 2 || (p.ptr >= 1 && p.ty != "page" && p.ty != "folio")),
        Want::Flags => {
            p.ptr == 0
                && (p.name.contains("flag")
                    || matches!(
                        p.ty.as_str(),
                        "int" | "unsigned int" | "unsigned" | "unsigned long" | "gup_flags_t"
                    ))
        }
    }
}

fn show(file: &str, p: &Proto) -> String {
    let ps: Vec<String> = p
        .params
        .iter()
        .map(|a| {
            let t = if a.ty.is_empty() { "?" } else { a.ty.as_str() };
            format!("{t} {}{}", "*".repeat(a.ptr as usize), a.name)
                .trim_end()
                .to_string()
        })
        .collect();
    format!("{file}:{} {}({})", p.line, p.name, ps.join(", "))
}

/// The check of argument `index` of `name` against the tree's prototypes (following macros
/// `depth` levels at most): (status, detail).
fn check_name(
    rules: &Rules,
    px: &Protos,
    name: &str,
    index: usize,
    want: Want,
    depth: usize,
) -> (&'static str, String) {
    let protos = px.of(name);
    if protos.is_empty() {
        if let Some(ms) = px.macros.get(name) {
            let (file, m) = ms[0];
            if depth == 0 {
                return (
                    "unchecked",
                    format!("{file}:{} macro {name}: nested too deeply", m.line),
                );
            }
            let Some(p) = m.params.get(index) else {
                return (
                    "mismatch",
                    format!(
                        "{file}:{} macro {name}({}) has no argument {index}",
                        m.line,
                        m.params.join(", ")
                    ),
                );
            };
            return match forwarded(&m.body, p) {
                Some((callee, j)) => {
                    let (st, d) = check_name(rules, px, &callee, j, want, depth - 1);
                    (
                        st,
                        format!(
                            "{file}:{} macro {name}({}) hands `{p}` to {callee}() argument {j}; {d}",
                            m.line,
                            m.params.join(", ")
                        ),
                    )
                }
                None => (
                    "unchecked",
                    format!(
                        "{file}:{} macro {name}({}): its body does not hand `{p}` to a call",
                        m.line,
                        m.params.join(", ")
                    ),
                ),
            };
        }
        return (
            "not-in-tree",
            format!("no prototype or macro {name} in the parsed files"),
        );
    }
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for (file, p) in &protos {
        let ok = p.params.get(index).is_some_and(|a| fits(rules, a, want));
        if ok {
            good.push(show(file, p));
        } else {
            let fitting: Vec<String> = p
                .params
                .iter()
                .enumerate()
                .filter(|(_, a)| fits(rules, a, want))
                .map(|(i, _)| i.to_string())
                .collect();
            bad.push(format!(
                "{} (argument {index} is {}; {} here: {})",
                show(file, p),
                p.params
                    .get(index)
                    .map(|a| format!("`{} {}{}`", a.ty, "*".repeat(a.ptr as usize), a.name))
                    .unwrap_or_else(|| "missing".into()),
                match want {
                    Want::Flags => "flags",
                    _ => "page-typed arguments",
                },
                if fitting.is_empty() {
                    "none".to_string()
                } else {
                    fitting.join(", ")
                }
            ));
        }
    }
    if bad.is_empty() {
        ("ok", good.join("; "))
    } else {
        ("mismatch", bad.join("; "))
    }
}

/// The call a macro body makes with parameter `p` as a whole argument: (callee, argument index).
fn forwarded(body: &str, p: &str) -> Option<(String, usize)> {
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() || b[i] == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let name = &body[s..i];
            let mut k = i;
            while k < b.len() && b[k] == b' ' {
                k += 1;
            }
            if k < b.len() && b[k] == b'(' {
                // Split the arguments at depth 1.
                let mut depth = 0usize;
                let mut args = Vec::new();
                let mut start = k + 1;
                for q in k..b.len() {
                    match b[q] {
                        b'(' | b'[' | b'{' => depth += 1,
                        b')' | b']' | b'}' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                args.push(body[start..q].trim());
                                break;
                            }
                        }
                        b',' if depth == 1 => {
                            args.push(body[start..q].trim());
                            start = q + 1;
                        }
                        _ => {}
                    }
                }
                let bare = |a: &str| a.trim_matches(|c| c == '(' || c == ')' || c == ' ') == p;
                if let Some(j) = args.iter().position(|a| bare(a)) {
                    return Some((name.to_string(), j));
                }
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Every argument index of the rules checked against the prototypes of `files`.
pub fn check(rules: &Rules, files: &[Parsed]) -> RulesCheck {
    let px = Protos::new(files);
    let mut out = RulesCheck::default();
    let mut one = |rule: String, names: &[String], what: &str, index: i32, want: Want| {
        for pat in names {
            if pat.starts_with("->") {
                out.checks.push(RuleCheck {
                    rule: rule.clone(),
                    name: pat.clone(),
                    what: what.into(),
                    index,
                    status: "unchecked".into(),
                    detail: "a call through an ops field: no prototype".into(),
                });
                continue;
            }
            let names: Vec<String> = if pat.contains('*') {
                px.names_matching(pat)
                    .into_iter()
                    .map(String::from)
                    .collect()
            } else {
                vec![pat.clone()]
            };
            for name in names {
                let (status, detail) = if index < 0 {
                    ("ok", "any argument (-1): nothing to check".to_string())
                } else {
                    check_name(rules, &px, &name, index as usize, want, 3)
                };
                out.checks.push(RuleCheck {
                    rule: rule.clone(),
                    name,
                    what: what.into(),
                    index,
                    status: status.into(),
                    detail,
                });
            }
        }
    };
    for (i, s) in rules.source.iter().enumerate() {
        let r = format!("[[source]] #{} ({})", i + 1, s.id);
        if s.pages >= 0 {
            one(r.clone(), &s.names, "pages", s.pages, Want::PagesOut);
        }
        if let Some(f) = s.flags {
            one(r, &s.names, "flags", f as i32, Want::Flags);
        }
    }
    for (i, s) in rules.sink.iter().enumerate() {
        let r = format!("[[sink]] #{} ({})", i + 1, s.id);
        one(r, &s.names, "page", s.page, Want::Page);
    }
    for (i, t) in rules.transfer.iter().enumerate() {
        let r = format!("[[transfer]] #{}", i + 1);
        one(r.clone(), &t.names, "from", t.from as i32, Want::Page);
        one(r, &t.names, "to", t.to as i32, Want::Any);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::forwarded;

    #[test]
    fn macro_forwarding() {
        assert_eq!(
            forwarded("dma_map_page_attrs(d, p, o, s, r, 0)", "p"),
            Some(("dma_map_page_attrs".into(), 1))
        );
        assert_eq!(forwarded("foo((p) + 1, x)", "p"), None);
        assert_eq!(forwarded("foo(x, (p))", "p"), Some(("foo".into(), 1)));
    }
}
