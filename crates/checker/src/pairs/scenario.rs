//! A pair cell's scenario: two matrix rows' scenarios merged into one with both host threads.
//!
//! The merge works on the rows' scenario texts ([`matrix::scenario_text`]), not on the rows'
//! fields, so that it holds for whatever a row's set-up becomes: every table other than the
//! threads and pipes (files, mms, mappings, guest frames, switches, bounds, …) must be the
//! same in both rows — the two paths then act on one machine — and a pair whose set-ups
//! differ (file-backed against anonymous guest memory, a frame the guest shared against one
//! it did not, a read-only second mapping) is not one scenario: it is listed, with the first
//! difference, and not checked. Threads other than the host thread (the vCPU) must be equal
//! in both, or one's operations a prefix of the other's (a row that adds a read-back after the
//! write): the pair takes the longer. Each host thread keeps its own pipes (the second's are
//! renamed): a pipe is a file descriptor of the task that splices, never shared between two
//! paths.

use crate::matrix::{self, Path_, Via};
use kernel::vocab::ops::Kind;
use std::fmt::Write as _;
use toml::{Table, Value};

/// The name of the host thread in a matrix row's scenario.
const HOST: &str = "host";

/// A row of the matrix: its path and variant.
pub type Row = (&'static Path_, Via);

/// The row's name as a scenario or thread name (`gup-slow-get-io-2nd-mm`).
pub fn row_arg(row: Row) -> String {
    matrix::row_name(row.0, row.1).replace(" (2nd mm)", "-2nd-mm")
}

/// Why two rows cannot be one scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict(pub String);

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The two host threads' names: the rows' names, with `/1` and `/2` for a pair of one row.
pub fn host_names(a: Row, b: Row) -> (String, String) {
    let (na, nb) = (row_arg(a), row_arg(b));
    if na == nb {
        (format!("{na}/1"), format!("{nb}/2"))
    } else {
        (na, nb)
    }
}

/// The scenario of the pair (vCPU, host thread of `a`, host thread of `b`) under `presets`,
/// or why there is none.
pub fn pair_text(a: Row, b: Row, presets: &[&str]) -> Result<String, Conflict> {
    let (na, nb) = host_names(a, b);
    let description = format!("{} | {}", a.0.title, b.0.title);
    merge(a, b, presets, &description, &na, &nb)
}

/// The text that decides whether two pair cells are one check: the pair's scenario with
/// neutral names (`host1`, `host2`), its host threads in a canonical order, and no
/// description. Returns the text and whether the canonical order swapped the hosts (a
/// schedule of the cell then maps thread 1 to 2 and 2 to 1).
pub fn canonical_text(a: Row, b: Row) -> Result<(String, bool), Conflict> {
    let ops = |r: Row| host_ops(&parse_row(r, &["v5.7"]));
    let swap = ops(b) < ops(a);
    let (first, second) = if swap { (b, a) } else { (a, b) };
    Ok((merge(first, second, &["v5.7"], "", "host1", "host2")?, swap))
}

/// The text that decides whether two single-row cells are one check.
pub fn canonical_single(r: Row) -> String {
    emit(&parse_row(r, &["v5.7"]), &[])
}

fn parse_row(r: Row, presets: &[&str]) -> Table {
    let text = matrix::scenario_text(r.0, r.1, presets);
    text.parse::<Table>()
        .unwrap_or_else(|e| panic!("matrix row {} does not parse: {e}", row_arg(r)))
}

fn threads(t: &Table) -> Vec<Table> {
    match t.get("thread") {
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_table().cloned()).collect(),
        _ => Vec::new(),
    }
}

fn name_of(t: &Table) -> &str {
    t.get("name").and_then(Value::as_str).unwrap_or("")
}

fn host_ops(t: &Table) -> String {
    threads(t)
        .iter()
        .find(|th| name_of(th) == HOST)
        .and_then(|th| th.get("ops"))
        .map(|v| v.to_string())
        .unwrap_or_default()
}

fn merge(
    a: Row,
    b: Row,
    presets: &[&str],
    description: &str,
    na: &str,
    nb: &str,
) -> Result<String, Conflict> {
    let (ta, tb) = (parse_row(a, presets), parse_row(b, presets));
    let mut out = Table::new();
    out.insert("description".into(), Value::String(description.into()));
    // Everything but the threads, pipes and description: one machine for both paths.
    let keys: std::collections::BTreeSet<&String> = ta.keys().chain(tb.keys()).collect();
    for k in keys {
        if matches!(k.as_str(), "thread" | "pipe" | "description") {
            continue;
        }
        match (ta.get(k), tb.get(k)) {
            (Some(x), Some(y)) if x == y => {
                out.insert(k.clone(), x.clone());
            }
            (x, y) => {
                return Err(Conflict(format!(
                    "the set-ups differ in `{k}`: {}",
                    difference(x, y, &row_arg(a), &row_arg(b))
                )))
            }
        }
    }
    // The threads: the vCPU (and any other shared thread) once, then the two hosts.
    let (tha, thb) = (threads(&ta), threads(&tb));
    let mut merged: Vec<Table> = Vec::new();
    for t in tha.iter().filter(|t| name_of(t) != HOST) {
        let Some(u) = thb.iter().find(|u| name_of(u) == name_of(t)) else {
            return Err(Conflict(format!(
                "thread `{}` is only in {}",
                name_of(t),
                row_arg(a)
            )));
        };
        merged.push(longer_ops(t, u).ok_or_else(|| {
            Conflict(format!(
                "thread `{}` does different things in {} and {}",
                name_of(t),
                row_arg(a),
                row_arg(b)
            ))
        })?);
    }
    if let Some(u) = thb
        .iter()
        .find(|u| name_of(u) != HOST && !tha.iter().any(|t| name_of(t) == name_of(u)))
    {
        return Err(Conflict(format!(
            "thread `{}` is only in {}",
            name_of(u),
            row_arg(b)
        )));
    }
    let host = |ts: &[Table]| {
        ts.iter()
            .find(|t| name_of(t) == HOST)
            .cloned()
            .expect("a matrix row has a host thread")
    };
    let mut ha = host(&tha);
    ha.insert("name".into(), Value::String(na.into()));
    let mut hb = host(&thb);
    hb.insert("name".into(), Value::String(nb.into()));
    // The second host's pipes, renamed.
    let mut pipes: Vec<Value> = match ta.get("pipe") {
        Some(Value::Array(p)) => p.clone(),
        _ => Vec::new(),
    };
    for p in rename_pipes(&mut hb) {
        let mut t = Table::new();
        t.insert("name".into(), Value::String(p));
        pipes.push(Value::Table(t));
    }
    if !pipes.is_empty() {
        out.insert("pipe".into(), Value::Array(pipes));
    }
    merged.push(ha);
    merged.push(hb);
    out.insert(
        "thread".into(),
        Value::Array(merged.into_iter().map(Value::Table).collect()),
    );
    Ok(emit(&out, presets))
}

/// `t` or `u`, whichever's operations extend the other's (equal otherwise).
fn longer_ops(t: &Table, u: &Table) -> Option<Table> {
    let ops = |t: &Table| match t.get("ops") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let (ot, ou) = (ops(t), ops(u));
    let rest_equal = |x: &Table, y: &Table| {
        x.iter()
            .filter(|(k, _)| k.as_str() != "ops")
            .all(|(k, v)| y.get(k) == Some(v))
            && x.len() == y.len()
    };
    if !rest_equal(t, u) {
        return None;
    }
    if ot.len() >= ou.len() && ot[..ou.len()] == ou[..] {
        Some(t.clone())
    } else if ou.len() > ot.len() && ou[..ot.len()] == ot[..] {
        Some(u.clone())
    } else {
        None
    }
}

/// Renames every pipe the thread's operations name (fields of kind pipe, as the operations
/// declare them) to `NAME2`; returns the new names, in order of first use.
fn rename_pipes(thread: &mut Table) -> Vec<String> {
    let mut renamed = Vec::new();
    if let Some(Value::Array(ops)) = thread.get_mut("ops") {
        for op in ops.iter_mut().filter_map(Value::as_table_mut) {
            let Some(spec) = op
                .get("op")
                .and_then(Value::as_str)
                .and_then(kernel::vocab::ops::op_spec)
            else {
                continue;
            };
            for f in spec.fields.iter().filter(|f| f.kind == Kind::Pipe) {
                if let Some(Value::String(p)) = op.get_mut(f.name) {
                    *p = format!("{p}2");
                    if !renamed.contains(p) {
                        renamed.push(p.clone());
                    }
                }
            }
        }
    }
    renamed
}

/// The first difference between two values of a set-up table, for a reader.
fn difference(x: Option<&Value>, y: Option<&Value>, na: &str, nb: &str) -> String {
    match (x, y) {
        (Some(Value::Array(xa)), Some(Value::Array(ya))) if xa.len() == ya.len() => {
            for (i, (u, v)) in xa.iter().zip(ya).enumerate() {
                if u == v {
                    continue;
                }
                if let (Value::Table(ut), Value::Table(vt)) = (u, v) {
                    let keys: std::collections::BTreeSet<&String> =
                        ut.keys().chain(vt.keys()).collect();
                    for k in keys {
                        if ut.get(k) != vt.get(k) {
                            let show = |v: Option<&Value>| {
                                v.map_or("(not set)".to_string(), |v| format!("{k} = {v}"))
                            };
                            return format!(
                                "entry {}: {} in {na}, {} in {nb}",
                                i + 1,
                                show(ut.get(k)),
                                show(vt.get(k))
                            );
                        }
                    }
                }
                return format!("entry {}: {u} in {na}, {v} in {nb}", i + 1);
            }
            String::new()
        }
        _ => {
            let show = |v: Option<&Value>| v.map_or("(not set)".to_string(), |v| v.to_string());
            format!("{} in {na}, {} in {nb}", show(x), show(y))
        }
    }
}

/// The order of a scenario's tables in the text (as `matrix::scenario_text` writes them).
const ORDER: &[&str] = &["file", "mm", "map", "guest", "pipe", "thread"];

/// Writes a merged scenario: `description` and `presets` first, then each array of tables
/// in the matrix's order (others after, by name), every table's `name` or `op` first.
fn emit(t: &Table, presets: &[&str]) -> String {
    let mut s = String::new();
    if let Some(d) = t.get("description") {
        let _ = writeln!(s, "description = {d}");
    }
    if !presets.is_empty() {
        let _ = writeln!(
            s,
            "presets = [{}]",
            presets
                .iter()
                .map(|p| Value::String(p.to_string()).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut keys: Vec<&String> = t
        .keys()
        .filter(|k| !matches!(k.as_str(), "description" | "presets"))
        .collect();
    keys.sort_by_key(|k| {
        (
            ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()),
            k.as_str(),
        )
    });
    for k in keys {
        match &t[k.as_str()] {
            Value::Array(a) if a.iter().all(Value::is_table) => {
                for v in a {
                    let _ = write!(s, "\n[[{k}]]\n");
                    emit_table(&mut s, v.as_table().expect("checked"));
                }
            }
            Value::Table(tt) => {
                let _ = write!(s, "\n[{k}]\n");
                emit_table(&mut s, tt);
            }
            v => {
                let _ = writeln!(s, "{k} = {v}");
            }
        }
    }
    s
}

fn emit_table(s: &mut String, t: &Table) {
    for (k, v) in first_keys(t) {
        if let Value::Array(a) = v {
            if a.iter().all(Value::is_table) && !a.is_empty() {
                let items: Vec<String> = a
                    .iter()
                    .map(|x| inline(x.as_table().expect("checked")))
                    .collect();
                let _ = writeln!(s, "{k} = [{}]", items.join(", "));
                continue;
            }
        }
        let _ = writeln!(s, "{k} = {v}");
    }
}

/// `{ op = "gup", mm = "qemu", … }`: `op` (or `name`) first, the rest by name.
fn inline(t: &Table) -> String {
    let parts: Vec<String> = first_keys(t)
        .map(|(k, v)| match v {
            Value::Table(tt) => format!("{k} = {}", inline(tt)),
            v => format!("{k} = {v}"),
        })
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

fn first_keys(t: &Table) -> impl Iterator<Item = (&String, &Value)> {
    let lead = |k: &str| matches!(k, "name" | "op");
    t.iter()
        .filter(move |(k, _)| lead(k))
        .chain(t.iter().filter(move |(k, _)| !lead(k)))
}
