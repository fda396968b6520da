//! The interprocedural engine: per function, where a tainted value goes (flow-insensitive
//! within the function), each function's summary from its callees' summaries, and the sources
//! of referenced pages.

use super::index::{Index, Role};
use super::{Chain, Hop, MAX_CHAIN};
use crate::extract::{Call, Expr, Func};
use std::collections::{BTreeMap, BTreeSet, HashSet};

#[derive(Debug, Clone, Default, PartialEq)]
struct SrcOut {
    ret: bool,
    outs: BTreeSet<usize>,
    chain: Chain,
    rule: String,
}

/// A struct field a page is stored into: (struct type, field name). A page stored into
/// `obj->field` (or an array in it) is read back wherever a variable of that struct type
/// reads that field.
pub(super) type FieldKey = (String, String);

/// At most this many field stores and lost points are kept per parameter.
const MAX_PER_PARAM: usize = 4;

/// What a function does with what its parameters hold (see the module documentation).
#[derive(Debug, Clone, Default)]
pub(super) struct Summ {
    ret_params: BTreeSet<usize>,
    flows: BTreeSet<(usize, usize)>,
    sink: BTreeMap<usize, Chain>,
    carrier: BTreeMap<usize, (Chain, String)>,
    /// Parameter → the struct fields it is stored into (with the chain to the store).
    field: BTreeMap<usize, Vec<(Chain, FieldKey)>>,
    /// Parameter → where the analysis loses it (the hop says why).
    lost: BTreeMap<usize, Vec<Hop>>,
    pub(super) hook: BTreeSet<usize>,
    pub(super) hook_any: bool,
    src_out: Option<SrcOut>,
}

/// What decides whether a summary changed in a fixed-point round.
type SummKey = (
    usize,
    usize,
    Vec<usize>,
    Vec<usize>,
    Vec<(usize, usize)>,
    Vec<(usize, usize)>,
    usize,
    bool,
    bool,
);

impl Summ {
    /// What decides whether the summary changed in a fixed-point round.
    pub(super) fn key(&self) -> SummKey {
        (
            self.ret_params.len(),
            self.flows.len(),
            self.sink.keys().copied().collect(),
            self.carrier.keys().copied().collect(),
            self.field.iter().map(|(k, v)| (*k, v.len())).collect(),
            self.lost.iter().map(|(k, v)| (*k, v.len())).collect(),
            self.hook.len(),
            self.hook_any,
            self.src_out.is_some(),
        )
    }
}

/// Where the values a function's analysis started from go.
#[derive(Default)]
pub(super) struct Reach {
    pub(super) sinks: Vec<Chain>,
    pub(super) carriers: Vec<(Chain, String)>,
    /// Stores into struct fields: the chain ends with the store.
    pub(super) fields: Vec<(Chain, FieldKey)>,
    /// Where the trail is lost (each hop's note says why).
    pub(super) lost: Vec<Hop>,
    pub(super) hooks: Vec<Hop>,
    pub(super) ret: bool,
    pub(super) outs: BTreeSet<usize>,
}

/// The analysis of functions against the index and the current summaries.
pub(super) struct Engine<'a, 'b> {
    pub(super) ix: &'b Index<'a>,
    pub(super) summ: &'b [Summ],
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

    pub(super) fn hop(&self, id: usize, line: u32, callee: &str, note: String) -> Hop {
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

    /// Where the values `seeds` (variables of function `id`) go in it: its sinks and carrier
    /// stores they reach, the hooks they get on every path, whether they leave through the
    /// return value, and which parameters they flow into.
    pub(super) fn analyse(&self, id: usize, seeds: &[String]) -> Reach {
        let f = self.ix.func(id);
        let t = self.taint(id, f, seeds);
        let mut r = Reach::default();
        self.calls_reached(id, f, &t, &mut r);
        self.carrier_stores(id, f, &t, &mut r);
        self.field_stores(id, f, &t, &mut r);
        self.lost_assigns(id, f, &t, &mut r);
        r.ret = self.returns_page(f) && f.returns.iter().any(|e| self.tainted(id, e, &t));
        for (i, p) in f.params.iter().enumerate() {
            if !p.is_empty() && t.contains(p) && self.can_carry(f, p) {
                r.outs.insert(i);
            }
        }
        r
    }

    /// The variables of function `id` (`f`) that hold what `seeds` hold: the seeds, and
    /// (flow-insensitively, to a fixed point) the targets of assignments from tainted
    /// expressions, of transfer calls and of callees whose summaries move a tainted argument
    /// into another.
    fn taint(&self, id: usize, f: &Func, seeds: &[String]) -> HashSet<String> {
        let mut t: HashSet<String> = seeds.iter().cloned().collect();
        for _ in 0..20 {
            let before = t.len();
            for a in &f.assigns {
                if !t.contains(&a.lhs) && self.can_carry(f, &a.lhs) && self.tainted(id, &a.rhs, &t)
                {
                    t.insert(a.lhs.clone());
                }
                // An alias of a page array: `pages = req->pages` makes what is written through
                // `pages` land in `req->pages` too.
                if t.contains(&a.lhs) && self.is_container(f, &a.lhs) && a.rhs.calls.is_empty() {
                    if let Some(target) = alias_target(&a.rhs) {
                        if !t.contains(target) {
                            t.insert(target.to_string());
                        }
                    }
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
        t
    }

    /// The calls of function `id` (`f`) with a tainted argument (`t`): hooks, sinks, and
    /// through their summaries what plain callees (direct or through an ops field) do with it.
    fn calls_reached(&self, id: usize, f: &Func, t: &HashSet<String>, r: &mut Reach) {
        for c in &f.calls {
            let any_arg = (0..c.args.len()).any(|i| self.arg_tainted(id, c, i, t));
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
                        self.arg_tainted(id, c, s.page as usize, t)
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
                        let targets = self.ix.resolve_field(field);
                        if targets.is_empty() {
                            r.lost.push(self.hop(
                                id,
                                c.line,
                                &c.callee,
                                format!(
                                    "passed to ->{field}(), a call through a function pointer \
                                     that no ops initialiser of the rules resolves"
                                ),
                            ));
                        }
                        for (d, var, fi, line) in targets {
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
                            self.callee_effects(id, c, d, head, t, r);
                        }
                    } else {
                        let defs = self.ix.resolve(id, &c.callee);
                        if defs.is_empty() && !c.callee.is_empty() && !self.value_kept(f, c) {
                            r.lost.push(self.hop(
                                id,
                                c.line,
                                &c.callee,
                                format!(
                                    "passed to {}(), whose definition is in no parsed file \
                                     (a macro, or a file the widening did not reach)",
                                    c.callee
                                ),
                            ));
                        }
                        for &d in defs.iter() {
                            let head = self.hop(
                                id,
                                c.line,
                                &c.callee,
                                format!("passes the page to {}()", c.callee),
                            );
                            self.callee_effects(id, c, d, head, t, r);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The stores of a tainted value (`t`) into a carrier in function `id` (`f`).
    fn carrier_stores(&self, id: usize, f: &Func, t: &HashSet<String>, r: &mut Reach) {
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
                if !self.tainted(id, pe, t) {
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
    }

    /// A variable through which pages are written into memory it points to: a page array
    /// (`struct page **`, `struct folio *folios[]`) or a pointer to a container of pages
    /// (`struct bio_vec *`, `struct folio_batch *`).
    fn is_container(&self, f: &Func, v: &str) -> bool {
        let Some(ty) = f.var_types.get(v) else {
            return false;
        };
        let ptr = f.var_ptr.get(v).copied().unwrap_or(0);
        if !self.ix.rules.page_types.iter().any(|p| p == ty) {
            return false;
        }
        if ty == "page" || ty == "folio" {
            ptr >= 2
        } else {
            ptr >= 1
        }
    }

    /// Whether the value of call `c` is assigned to a variable that can carry a page (then the
    /// taint goes on through that variable).
    fn value_kept(&self, f: &Func, c: &Call) -> bool {
        f.assigns.iter().any(|a| {
            a.line == c.line
                && self.can_carry(f, &a.lhs)
                && a.rhs.calls.iter().any(|(n, _)| n == &c.callee)
        }) || f
            .returns
            .iter()
            .any(|e| e.calls.iter().any(|(n, _)| n == &c.callee))
    }

    /// The stores of a tainted value (`t`) into struct fields in function `id` (`f`): an
    /// assignment `x->f = page` (or `x->f[i] = page`, `x.f = page`), a page array handed out
    /// through `x->f`, or a designated initialiser `(struct T){ .f = page }`. A field of a
    /// carrier (the pipe buffer's page) is the carrier's business. A store into `x->f` where
    /// the type of `x` is unknown is a lost point.
    fn field_stores(&self, id: usize, f: &Func, t: &HashSet<String>, r: &mut Reach) {
        let is_carrier = |ty: &str, fld: &str| {
            self.ix
                .rules
                .carrier
                .iter()
                .any(|c| c.struct_name == ty && c.page_field == fld)
        };
        let mut done: HashSet<FieldKey> = HashSet::new();
        let mut names: Vec<&String> = t.iter().filter(|e| e.contains("->")).collect();
        names.sort();
        for e in names {
            let Some((x, fld)) = e.split_once("->") else {
                continue;
            };
            let line = store_line(f, e);
            match f.var_types.get(x) {
                Some(ty) if !ty.is_empty() => {
                    if is_carrier(ty, fld) || self.ix.rules.page_types.iter().any(|p| p == ty) {
                        // A page type's own field (`page->mapping`, `bv->bv_page`) is the page.
                        continue;
                    }
                    let key = (ty.clone(), fld.to_string());
                    if done.insert(key.clone()) {
                        r.fields.push((
                            vec![self.hop(
                                id,
                                line,
                                &format!("{ty}.{fld}"),
                                format!("stores the page in struct {ty}.{fld} ({x}->{fld})"),
                            )],
                            key,
                        ));
                    }
                }
                _ => r.lost.push(self.hop(
                    id,
                    line,
                    e,
                    format!(
                        "stored into {x}->{fld}, and the type of `{x}` is not declared in \
                         {}() (a global, or a macro's result)",
                        f.name
                    ),
                )),
            }
        }
        for s in &f.stores {
            let Some(ty) = s.ty.as_deref().filter(|t| !t.is_empty()) else {
                continue;
            };
            // A page type's initialiser (`struct bio_vec bv = { .bv_page = page }`) taints
            // the variable itself: the page travels with it.
            if self.ix.rules.page_types.iter().any(|p| p == ty) {
                continue;
            }
            for (fld, e) in &s.fields {
                if !self.tainted(id, e, t) || is_carrier(ty, fld) {
                    continue;
                }
                let key = (ty.to_string(), fld.clone());
                if done.insert(key.clone()) {
                    r.fields.push((
                        vec![self.hop(
                            id,
                            s.line,
                            &format!("{ty}.{fld}"),
                            format!("stores the page in struct {ty}.{fld} (initialiser)"),
                        )],
                        key,
                    ));
                }
            }
        }
    }

    /// Assignments of a tainted variable itself (not a call's result) to a variable whose
    /// declared type cannot hold a page (`unsigned long addr = (unsigned long)page`): the
    /// analysis does not follow such a value, so it is a lost point.
    fn lost_assigns(&self, id: usize, f: &Func, t: &HashSet<String>, r: &mut Reach) {
        for a in &f.assigns {
            if self.can_carry(f, &a.lhs) || !a.rhs.roots.iter().any(|x| t.contains(x)) {
                continue;
            }
            if !a.rhs.calls.is_empty() {
                continue;
            }
            let ty = f.var_types.get(&a.lhs).cloned().unwrap_or_default();
            r.lost.push(self.hop(
                id,
                a.line,
                &a.lhs,
                format!(
                    "assigned to `{}` of type {ty}, a type the analysis does not follow",
                    a.lhs
                ),
            ));
        }
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
        for (&i, v) in &s.field {
            if self.arg_tainted(id, c, i, t) {
                for (chain, key) in v {
                    if chain.len() < MAX_CHAIN {
                        let mut ch = vec![head.clone()];
                        ch.extend(chain.iter().cloned());
                        r.fields.push((ch, key.clone()));
                    }
                }
            }
        }
        for (&i, v) in &s.lost {
            if self.arg_tainted(id, c, i, t) {
                r.lost.extend(v.iter().cloned());
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
    pub(super) fn sources(&self, id: usize) -> Vec<SourceSite> {
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

    pub(super) fn summarise(&self, id: usize) -> Summ {
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
            let mut fields = r.fields;
            fields.sort_by(|a, b| (a.0.len(), &a.1).cmp(&(b.0.len(), &b.1)));
            fields.dedup_by(|a, b| a.1 == b.1);
            fields.truncate(MAX_PER_PARAM);
            if !fields.is_empty() {
                s.field.insert(i, fields);
            }
            let mut lost = r.lost;
            let mut seen = HashSet::new();
            lost.retain(|h| seen.insert((h.file.clone(), h.line, h.note.clone())));
            lost.truncate(MAX_PER_PARAM);
            if !lost.is_empty() {
                s.lost.insert(i, lost);
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

/// The line where `e` (`x->f`) gets its value in `f`: an assignment to it, else a call that
/// takes it, else the function's first line.
fn store_line(f: &Func, e: &str) -> u32 {
    f.assigns
        .iter()
        .filter(|a| a.lhs == e)
        .map(|a| a.line)
        .min()
        .or_else(|| {
            f.calls
                .iter()
                .filter(|c| c.args.iter().any(|a| a.roots.iter().any(|r| r == e)))
                .map(|c| c.line)
                .min()
        })
        .unwrap_or(f.line)
}

/// What an alias assignment's right-hand side names: `req->pages` or `pages` (a single
/// root, or a root and its `->` field).
fn alias_target(rhs: &Expr) -> Option<&str> {
    let fields: Vec<&String> = rhs.roots.iter().filter(|r| r.contains("->")).collect();
    match (fields.len(), rhs.roots.len()) {
        (1, 2) => {
            let base = fields[0].split("->").next().unwrap_or("");
            rhs.roots
                .iter()
                .any(|r| r == base)
                .then_some(fields[0].as_str())
        }
        (0, 1) => Some(rhs.roots[0].as_str()),
        _ => None,
    }
}

/// A call that hands the function a referenced page.
pub(super) struct SourceSite {
    pub(super) call: Call,
    pub(super) seeds: Vec<String>,
    pub(super) ret_here: bool,
    pub(super) chain: Chain,
    pub(super) rule: String,
    pub(super) pinned: bool,
    pub(super) gup: bool,
}
