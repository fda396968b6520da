//! The rules file (rules/audit.toml): sources, hooks, sinks, carriers, ops tables, scenarios.
//! See docs/audit.md for the format.

use serde::Deserialize;
use std::path::Path;

/// The rules shipped with the binary.
pub const BUILTIN: &str = include_str!("../../../rules/audit.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub hooks: Hooks,
    #[serde(default)]
    pub source: Vec<Source>,
    #[serde(default)]
    pub sink: Vec<Sink>,
    #[serde(default)]
    pub transfer: Vec<Transfer>,
    #[serde(default)]
    pub carrier: Vec<Carrier>,
    #[serde(default)]
    pub ops: Vec<Ops>,
    #[serde(default)]
    pub scenario: Vec<Scenario>,
    /// Findings → model paths, for `--check` (crate::model). The first entry that matches.
    #[serde(default)]
    pub model: Vec<ModelEntry>,
    #[serde(default)]
    pub benign: Benign,
    #[serde(default)]
    pub skip_dirs: Vec<String>,
    /// Types a page can travel in (`struct page *`, `struct folio_batch`, ...). Variables of other
    /// declared types (counters, inodes, mappings) never carry the taint.
    pub page_types: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// The accessibility hooks themselves.
    pub direct: Vec<String>,
    /// Callees known to call the hook on every path for the pages they hand back or are given.
    #[serde(default)]
    pub covered: Vec<CoveredCallee>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoveredCallee {
    pub names: Vec<String>,
    pub why: String,
    /// When set, a call is a GUP call site to classify (always "covered").
    #[serde(default)]
    pub gup: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub id: String,
    pub names: Vec<String>,
    /// Argument index that receives the page(s); -1 for the return value.
    pub pages: i32,
    /// Argument index holding FOLL_* flags.
    #[serde(default)]
    pub flags: Option<usize>,
    /// If the flags argument names this, the call pins: the hook runs inside GUP.
    #[serde(default)]
    pub pin_flag: Option<String>,
    /// Classify every call site (GUP family).
    #[serde(default)]
    pub gup: bool,
    pub what: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sink {
    pub id: String,
    /// Direct callees, or `->field` for a call through an ops table.
    pub names: Vec<String>,
    /// Argument index of the page; -1 for any argument.
    pub page: i32,
    /// The function must also name this constant (e.g. MSG_SPLICE_PAGES).
    #[serde(default)]
    pub requires_const: Option<String>,
    /// Where the page goes: `device-dma`, `transport`, `crypto` or `copy` (default: the id).
    /// Part of a finding's stable identity (a renamed sink of the same class is the same path)
    /// and of its rank.
    #[serde(default)]
    pub class: Option<String>,
    pub what: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub names: Vec<String>,
    pub from: usize,
    pub to: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Carrier {
    pub id: String,
    #[serde(rename = "struct")]
    pub struct_name: String,
    pub page_field: String,
    pub ops_field: String,
    /// The op every consumer calls before using the page; the hook belongs there.
    pub check_op: String,
    pub what: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ops {
    #[serde(rename = "struct")]
    pub struct_name: String,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Some hop's callee matches one of these.
    #[serde(default)]
    pub source: Vec<String>,
    /// Some hop's callee matches one of these.
    #[serde(default)]
    pub sink: Vec<String>,
    /// The chain goes through this carrier.
    #[serde(default)]
    pub carrier: Option<String>,
}

/// A finding's shape (source kind, marker, carrier, sink) → the model path it stands for:
/// a matrix row (`checker::matrix::rows()`), optionally with the host thread's operations
/// replaced by an op sequence, or `no_path` (why the model has none). Empty keys match all.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Source rule ids (`gup-foll-get`, `iov-iter-get-pages`, `page-cache-lookup`).
    #[serde(default)]
    pub source: Vec<String>,
    /// The source call (globs).
    #[serde(default)]
    pub source_callee: Vec<String>,
    /// The function that makes the source call (globs).
    #[serde(default)]
    pub source_func: Vec<String>,
    /// Tokens that must all be in the marker (the source site's FOLL_* flags as written, the
    /// sink's required constant).
    #[serde(default)]
    pub marker: Vec<String>,
    /// Tokens that must not be in the marker.
    #[serde(default)]
    pub no_marker: Vec<String>,
    /// The carrier id, or `none` (no carrier); absent: either.
    #[serde(default)]
    pub carrier: Option<String>,
    /// Sink classes (`device-dma`, `transport`, `crypto`, `copy`).
    #[serde(default)]
    pub sink_class: Vec<String>,
    /// The sink call (globs).
    #[serde(default)]
    pub sink: Vec<String>,
    /// The matrix row (`checker::matrix::row_name`).
    #[serde(default)]
    pub row: Option<String>,
    /// The host thread's operations on the row's set-up (scenario syntax, `{mm}` for the mm).
    #[serde(default)]
    pub ops: Option<String>,
    /// Why the model has no path for such findings.
    #[serde(default)]
    pub no_path: Option<String>,
    /// What the path stands for.
    pub what: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benign {
    /// Callees that take a page and never hand it on: the search does not widen into them.
    #[serde(default)]
    pub names: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules file {path}: {err}")]
    Read { path: String, err: std::io::Error },
    /// `PATH:LINE:COL: MESSAGE` (see [`toml_error`]).
    #[error("{0}")]
    Parse(String),
    #[error("rules file {path}: {msg}")]
    Invalid { path: String, msg: String },
}

/// A TOML error as `PATH:LINE:COL: MESSAGE` (the message on one line).
pub fn toml_error(path: &str, text: &str, err: &toml::de::Error) -> String {
    let start = err.span().map(|s| s.start).unwrap_or(0).min(text.len());
    let upto = &text[..start];
    let line = upto.matches('\n').count() + 1;
    let col = upto.len() - upto.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    let msg = err.message().trim().replace('\n', " ");
    format!("{path}:{line}:{col}: {msg}")
}

impl Rules {
    pub fn builtin() -> Result<Rules, RulesError> {
        Self::parse(BUILTIN, "<built-in rules/audit.toml>")
    }

    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|err| RulesError::Read {
            path: path.display().to_string(),
            err,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, path: &str) -> Result<Rules, RulesError> {
        let r: Rules =
            toml::from_str(text).map_err(|err| RulesError::Parse(toml_error(path, text, &err)))?;
        if r.hooks.direct.is_empty() {
            return Err(RulesError::Invalid {
                path: path.to_string(),
                msg: "[hooks] direct must name at least one hook".into(),
            });
        }
        for s in &r.sink {
            if s.names.is_empty() {
                return Err(RulesError::Invalid {
                    path: path.to_string(),
                    msg: format!("sink {} has no names", s.id),
                });
            }
        }
        Ok(r)
    }

    /// Literal strings whose presence makes a file worth parsing.
    pub fn prefilter_patterns(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        let mut add = |n: &str| {
            let lit = n.split('*').find(|p| p.len() >= 4).unwrap_or(n);
            let lit = lit.trim_start_matches("->");
            if !lit.is_empty() {
                v.push(lit.to_string());
            }
        };
        for h in &self.hooks.direct {
            add(h);
        }
        for c in &self.hooks.covered {
            c.names.iter().for_each(|n| add(n));
        }
        for s in &self.source {
            s.names.iter().for_each(|n| add(n));
        }
        for s in &self.sink {
            s.names.iter().for_each(|n| add(n));
            if let Some(c) = &s.requires_const {
                add(c);
            }
        }
        for t in &self.transfer {
            t.names.iter().for_each(|n| add(n));
        }
        for c in &self.carrier {
            add(&c.struct_name);
        }
        // Ops tables are found in the files parsed for other reasons and in widened files; a
        // pattern per ops field (".get", ".release") would select most of the tree.
        v.sort();
        v.dedup();
        v
    }
}

/// Glob with `*` wildcards.
pub fn glob(pat: &str, name: &str) -> bool {
    if !pat.contains('*') {
        return pat == name;
    }
    let parts: Vec<&str> = pat.split('*').collect();
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            if !rest.starts_with(p) {
                return false;
            }
            rest = &rest[p.len()..];
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else if let Some(pos) = rest.find(p) {
            rest = &rest[pos + p.len()..];
        } else {
            return false;
        }
    }
    true
}

pub fn any_glob(pats: &[String], name: &str) -> bool {
    pats.iter().any(|p| glob(p, name))
}
