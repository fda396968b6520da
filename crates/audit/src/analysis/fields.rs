//! Pages carried through struct fields: a page stored into `obj->field` (or an array in it)
//! in one function is read back, in any function, by a variable of the same struct type
//! reading the same field. The key is (struct type, field name): field-sensitive, and
//! insensitive to which object (every `struct nfs_page` is one abstract object per field).
//!
//! Abstractions, stated where they are made:
//! * the readers are searched in the parsed files only (the files naming the rules and the
//!   widened ones); a reader in another file is not seen, so a stored page whose readers
//!   reach no sink is a *lost* site, never `no-io`;
//! * a nested field `x->a.b` is keyed by the outer field (`T.a`);
//! * a reader that hands the page back to its callers (return value or out-parameter) is a
//!   lost point: its callers are not followed from the field;
//! * fields are followed through at most [`MAX_FIELD_DEPTH`] stores (page → `T.f` → reader
//!   → `U.g` → reader → sink).

use super::engine::{Engine, FieldKey};
use super::findings::{carrier_findings, first_use, make_finding, sink_why};
use super::{Chain, Consumer, Finding, Hop};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Stores followed one after the other at most.
pub const MAX_FIELD_DEPTH: usize = 3;

/// What the readers of one field do with the page.
#[derive(Default)]
pub(super) struct FieldUse {
    /// Functions that read the field (by a variable of the struct type).
    pub(super) readers: usize,
    /// Readers that call the hook on the page.
    pub(super) hooked: usize,
    /// (the read, the chain from it to a sink).
    pub(super) sinks: Vec<(Hop, Chain)>,
    /// (the read, the chain to a carrier store, the carrier's ops table).
    pub(super) carriers: Vec<(Hop, Chain, String)>,
    /// (the read, the chain to the next store, the next field).
    pub(super) next: Vec<(Hop, Chain, FieldKey)>,
    /// Where the readers lose the page.
    pub(super) lost: Vec<Hop>,
}

/// Every field in `keys` (and the fields their readers store the page into, to
/// [`MAX_FIELD_DEPTH`]) with what its readers do.
pub(super) fn field_uses(eng: &Engine, keys: BTreeSet<FieldKey>) -> HashMap<FieldKey, FieldUse> {
    let mut out: HashMap<FieldKey, FieldUse> = HashMap::new();
    let mut todo: BTreeSet<FieldKey> = keys;
    for _ in 0..MAX_FIELD_DEPTH {
        todo.retain(|k| !out.contains_key(k));
        if todo.is_empty() {
            break;
        }
        let readers = readers_of(eng, &todo);
        let uses: Vec<(FieldKey, FieldUse)> = todo
            .par_iter()
            .map(|k| {
                let rs = readers.get(k).map(|v| v.as_slice()).unwrap_or(&[]);
                (k.clone(), field_use(eng, k, rs))
            })
            .collect();
        let mut next = BTreeSet::new();
        for (k, u) in uses {
            for (_, _, k2) in &u.next {
                next.insert(k2.clone());
            }
            out.insert(k, u);
        }
        todo = next;
    }
    out
}

/// The functions (and variables) that read each field of `keys`.
fn readers_of(eng: &Engine, keys: &BTreeSet<FieldKey>) -> HashMap<FieldKey, Vec<(usize, String)>> {
    let ix = eng.ix;
    let names: HashSet<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let found: Vec<Vec<(FieldKey, usize, String)>> = (0..ix.fns.len())
        .into_par_iter()
        .map(|id| {
            let f = ix.func(id);
            let mut out = Vec::new();
            let mut seen: HashSet<&str> = HashSet::new();
            let exprs = f
                .assigns
                .iter()
                .map(|a| &a.rhs)
                .chain(f.returns.iter())
                .chain(f.calls.iter().flat_map(|c| c.args.iter()))
                .chain(f.stores.iter().flat_map(|s| s.fields.iter().map(|x| &x.1)));
            for e in exprs {
                let roots = e
                    .roots
                    .iter()
                    .chain(e.calls.iter().flat_map(|(_, a)| a.iter()));
                for r in roots {
                    let Some((v, fld)) = r.split_once("->") else {
                        continue;
                    };
                    if !names.contains(fld) || !seen.insert(r.as_str()) {
                        continue;
                    }
                    if let Some(ty) = f.var_types.get(v) {
                        let key = (ty.clone(), fld.to_string());
                        if keys.contains(&key) {
                            out.push((key, id, v.to_string()));
                        }
                    }
                }
            }
            out
        })
        .collect();
    let mut m: HashMap<FieldKey, Vec<(usize, String)>> = HashMap::new();
    for (k, id, v) in found.into_iter().flatten() {
        m.entry(k).or_default().push((id, v));
    }
    m
}

fn field_use(eng: &Engine, key: &FieldKey, readers: &[(usize, String)]) -> FieldUse {
    let (ty, fld) = key;
    let mut u = FieldUse {
        readers: readers.len(),
        ..Default::default()
    };
    for (id, v) in readers {
        let f = eng.ix.func(*id);
        let pseudo = format!("{v}->{fld}");
        let line = first_use(f, &pseudo).unwrap_or(f.line);
        let read = eng.hop(
            *id,
            line,
            &pseudo,
            format!("reads the page back from struct {ty}.{fld} ({pseudo})"),
        );
        let r = eng.analyse(*id, std::slice::from_ref(&pseudo));
        if !r.hooks.is_empty() {
            u.hooked += 1;
            continue;
        }
        let mut seen = HashSet::new();
        for ch in r.sinks {
            let last = ch.last().map(|h| h.callee.clone()).unwrap_or_default();
            if seen.insert(last) {
                u.sinks.push((read.clone(), ch));
            }
        }
        for (ch, ops) in r.carriers {
            u.carriers.push((read.clone(), ch, ops));
        }
        for (ch, k2) in r.fields {
            if &k2 != key {
                u.next.push((read.clone(), ch, k2));
            }
        }
        u.lost.extend(r.lost);
        if r.ret || !r.outs.is_empty() {
            let mut h = read.clone();
            h.note = format!(
                "read back from struct {ty}.{fld} and handed to the callers of {}(), which \
                 are not followed from the field",
                f.name
            );
            u.lost.push(h);
        }
    }
    u
}

/// What following a stored page needs: the engine, every field's use, the carrier consumers,
/// and the rule of the source.
pub(super) struct FieldCx<'x> {
    pub(super) eng: &'x Engine<'x, 'x>,
    pub(super) uses: &'x HashMap<FieldKey, FieldUse>,
    pub(super) consumers: &'x [Consumer],
    pub(super) rule: &'x str,
}

impl FieldCx<'_> {
    /// The findings of a page that `prefix` (source … store) put into `key` (`out`), and
    /// where its trail is lost when it reaches no sink (`lost`).
    pub(super) fn findings(
        &self,
        prefix: &Chain,
        key: &FieldKey,
        depth: usize,
        out: &mut Vec<Finding>,
        lost: &mut Vec<Hop>,
    ) {
        let eng = self.eng;
        let Some(u) = self.uses.get(key) else {
            if let Some(store) = prefix.last() {
                let mut h = store.clone();
                h.note = format!(
                    "stored into struct {}.{}; not followed further (more than \
                     {MAX_FIELD_DEPTH} stores in a row)",
                    key.0, key.1
                );
                lost.push(h);
            }
            return;
        };
        let before = out.len();
        for (read, sink) in &u.sinks {
            let mut chain = prefix.clone();
            chain.push(read.clone());
            chain.extend(sink.iter().cloned());
            let why = format!(
                "{}; the page travels through struct {}.{}",
                sink_why(eng, prefix, sink),
                key.0,
                key.1
            );
            out.push(make_finding(self.rule, chain, why));
        }
        for (read, cchain, ops) in &u.carriers {
            let mut src = prefix.clone();
            src.push(read.clone());
            out.extend(carrier_findings(eng, &src, cchain, ops, self.consumers));
        }
        if depth > 1 {
            for (read, store, k2) in &u.next {
                if prefix.len() + store.len() + 1 >= super::MAX_CHAIN {
                    continue;
                }
                let mut p = prefix.clone();
                p.push(read.clone());
                p.extend(store.iter().cloned());
                self.findings(&p, k2, depth - 1, out, lost);
            }
        }
        if out.len() == before {
            lost.extend(u.lost.iter().cloned());
            if let Some(store) = prefix.last() {
                let mut h = store.clone();
                h.note = format!(
                    "stored into struct {}.{}: {} reader(s) of that field in the parsed \
                     files{} hand it to no sink; readers in files not parsed are not searched",
                    key.0,
                    key.1,
                    u.readers,
                    if u.hooked > 0 {
                        format!(" ({} call the hook)", u.hooked)
                    } else {
                        String::new()
                    }
                );
                lost.push(h);
            }
        }
    }
}
