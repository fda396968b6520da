//! Finding the files that matter, parsing them in parallel, widening where chains lead, and the
//! per-file cache (manifest by path/mtime/size, summaries by content hash).
//!
//! [`audit_tree`] runs the steps: `files.rs` scans the tree (what changed, what the prefilter
//! matches, the definition candidates of the rest), `cache.rs` keeps what a later run can
//! reuse, `widen.rs` parses the matched files and the files that define the callees a page
//! reaches, and [`crate::analysis`] finds the chains.

mod cache;
mod files;
mod widen;

pub use cache::default_cache_dir;
pub use files::def_names;

use crate::analysis::{self, Outcome};
use crate::rules::Rules;
use cache::{Cache, Manifest, StoredResult};
use files::{scan_files, widen_keys};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use widen::Widen;

/// Bump when `extract` changes what it records: old cached summaries are then ignored.
const EXTRACT_VERSION: u32 = 10;
/// Widening rounds after the first parse (each follows chains one call further).
pub const MAX_WIDEN_ROUNDS: usize = 4;
/// Files parsed per widening round at most.
pub const MAX_WIDEN_FILES: usize = 600;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{path}: not a directory")]
    NotDir { path: String },
    #[error("{path}: not a kernel source tree (no {missing})")]
    NotKernel { path: String, missing: String },
    #[error("{path}: {err}")]
    Io { path: String, err: std::io::Error },
}

/// Default of `--max-file-size`: larger files are not read (the largest `.c`/`.h` of 6.12,
/// a generated AMD register header, has 24 MB).
pub const MAX_FILE_BYTES: u64 = 32 << 20;

/// A file (or directory) the run did not read or did not understand, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotRead {
    /// Relative to the tree; a directory ends in `/`.
    pub path: String,
    pub reason: String,
}

/// The limits of a run, and whose cache it uses.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Files larger than this are not read (listed as not read).
    pub max_file_bytes: u64,
    /// The root is a patch review's hard-link copy of this tree (crate::patch): the run
    /// keeps its manifest under this tree's name (marked as a patched copy), so that the
    /// next review of the same tree reuses it instead of leaving one per temporary copy.
    /// The second part names the side (`base`, `new`).
    pub patched_copy_of: Option<(std::path::PathBuf, &'static str)>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: MAX_FILE_BYTES,
            patched_copy_of: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanStats {
    /// Files and directories this run could not read (unreadable, non-UTF-8 name, over the
    /// size limit), with the reason: blind spots that make the run incomplete.
    #[serde(default)]
    pub not_read: Vec<NotRead>,
    pub files_total: usize,
    pub bytes_total: u64,
    pub files_matched: usize,
    pub files_parsed: usize,
    pub files_widened: usize,
    pub widen_rounds: usize,
    pub unresolved_callees: usize,
    pub files_read: usize,
    pub summaries_from_cache: usize,
    /// Nothing that the analysis reads changed since a previous run: its result was reused.
    pub result_from_cache: bool,
    pub seconds: f64,
    pub seconds_scan: f64,
    pub seconds_parse: f64,
    pub seconds_analysis: f64,
}

/// Check that `root` looks like a kernel source tree.
pub fn check_tree(root: &Path) -> Result<(), ScanError> {
    let p = root.display().to_string();
    if !root.is_dir() {
        return Err(ScanError::NotDir { path: p });
    }
    for need in ["Makefile", "include/linux"] {
        if !root.join(need).exists() {
            return Err(ScanError::NotKernel {
                path: p,
                missing: need.to_string(),
            });
        }
    }
    Ok(())
}

/// Audit one tree: scan, parse, widen, analyse (with the default [`Limits`]).
pub fn audit_tree(
    root: &Path,
    rules: &Rules,
    rules_text: &str,
    cache_dir: Option<&Path>,
) -> Result<(Outcome, ScanStats), ScanError> {
    audit_tree_with(root, rules, rules_text, cache_dir, &Limits::default())
}

/// Stack of the threads that walk syntax trees: [`crate::extract::MAX_DEPTH`] levels of
/// recursion fit with room to spare.
pub const WALK_STACK: usize = 64 << 20;

/// Audit one tree: scan, parse, widen, analyse. Called outside a rayon pool (a library
/// caller's thread), it runs in a pool of its own whose threads have [`WALK_STACK`].
pub fn audit_tree_with(
    root: &Path,
    rules: &Rules,
    rules_text: &str,
    cache_dir: Option<&Path>,
    limits: &Limits,
) -> Result<(Outcome, ScanStats), ScanError> {
    if rayon::current_thread_index().is_none() {
        let pool = rayon::ThreadPoolBuilder::new()
            .stack_size(WALK_STACK)
            .build()
            .map_err(|e| ScanError::Io {
                path: root.display().to_string(),
                err: std::io::Error::other(e.to_string()),
            })?;
        return pool.install(|| audit_in_pool(root, rules, rules_text, cache_dir, limits));
    }
    audit_in_pool(root, rules, rules_text, cache_dir, limits)
}

fn audit_in_pool(
    root: &Path,
    rules: &Rules,
    rules_text: &str,
    cache_dir: Option<&Path>,
    limits: &Limits,
) -> Result<(Outcome, ScanStats), ScanError> {
    check_tree(root)?;
    let t0 = Instant::now();
    let mut stats = ScanStats::default();
    let cache = cache_dir.and_then(|d| match &limits.patched_copy_of {
        Some((orig, side)) => Cache::new(d, orig, &format!("patched copy: {side}\n{rules_text}")),
        None => Cache::new(d, root, rules_text),
    });
    let old = cache
        .as_ref()
        .map(|c| c.load_manifest())
        .unwrap_or_default();
    let mut manifest = scan_files(root, rules, &old, limits.max_file_bytes, &mut stats)?;
    stats.seconds_scan = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let mut todo: Vec<(String, String)> = manifest
        .entries
        .iter()
        .filter(|(_, e)| e.matched)
        .map(|(p, e)| (p.clone(), e.hash.clone()))
        .collect();
    todo.sort();
    stats.files_matched = todo.len();
    let (widen_key, defs_key) = widen_keys(&manifest);
    // Definition look-ups of the last run stay valid while no unmatched file's definitions changed.
    let old_lookup = if old.defs_key == defs_key {
        old.lookup.clone()
    } else {
        BTreeMap::new()
    };
    // The matched files and the other files' definitions did not change: the last run's
    // widened files are the ones to parse.
    let reuse = !old.widen_key.is_empty() && old.widen_key == widen_key;
    if reuse {
        for p in &old.widened {
            if let Some(e) = manifest.entries.get(p) {
                todo.push((p.clone(), e.hash.clone()));
            }
        }
        stats.files_widened = old.widened.len();
        stats.unresolved_callees = old.unresolved;
        stats.widen_rounds = old.widen_rounds;
    }
    // Content-addressed result: the same parsed contents and rules give the same outcome.
    if let Some(c) = &cache {
        if let Some(r) = c
            .load_result(&widen_key)
            .filter(|r| r.still_valid(root, &manifest))
        {
            stats.reused(&r, t0, t1);
            c.save_manifest(&r.manifest(manifest, &old, widen_key));
            return Ok((r.outcome, stats));
        }
    }
    let mut widen = Widen::new(root, rules, cache.as_ref(), &manifest, old_lookup, t1);
    let round = widen.run(todo, reuse, &mut stats);
    let Widen {
        mut parsed,
        new_hashes,
        lookup,
        failed,
        ..
    } = widen;
    stats.not_read.extend(failed);
    stats.not_read.sort_by(|a, b| a.path.cmp(&b.path));
    if !reuse {
        stats.widen_rounds = round;
    }
    let hashes_added = record_widening(
        &mut manifest,
        &old,
        &parsed,
        &new_hashes,
        reuse,
        &stats,
        (widen_key, defs_key, lookup),
    );
    parsed.sort_by(|a, b| a.path.cmp(&b.path));
    stats.files_parsed = parsed.len();
    stats.seconds_parse = t1.elapsed().as_secs_f64();
    if let Some(c) = &cache {
        if stats.files_read > 0 || !reuse || hashes_added {
            c.save_manifest(&manifest);
        }
    }

    let t2 = Instant::now();
    let outcome = analysis::run(rules, &parsed);
    stats.seconds_analysis = t2.elapsed().as_secs_f64();
    if let Some(c) = &cache {
        let widened: Vec<(String, String)> = new_hashes
            .iter()
            .filter(|(p, _)| manifest.widened.binary_search(p).is_ok())
            .cloned()
            .collect();
        c.save_result(&StoredResult {
            key: manifest.widen_key.clone(),
            widened,
            unresolved: manifest.unresolved,
            widen_rounds: manifest.widen_rounds,
            outcome: outcome.clone(),
            stats: stats.clone(),
        });
    }
    stats.seconds = t0.elapsed().as_secs_f64();
    Ok((outcome, stats))
}

/// Records this run's widening in the manifest: the content hashes of the files parsed that
/// it lacked (true if there were any), the widened files (the last run's when `reuse`), the
/// unresolved callees and rounds (from `stats`), and the keys with the look-ups made
/// (`keys`: widening key, definitions key, look-ups; the last run's look-ups when `reuse`).
fn record_widening(
    manifest: &mut Manifest,
    old: &Manifest,
    parsed: &[analysis::Parsed],
    new_hashes: &[(String, String)],
    reuse: bool,
    stats: &ScanStats,
    keys: (String, String, BTreeMap<String, Vec<String>>),
) -> bool {
    let (widen_key, defs_key, lookup) = keys;
    let mut hashes_added = false;
    for (p, h) in new_hashes {
        if let Some(e) = manifest.entries.get_mut(p) {
            if e.hash.is_empty() {
                e.hash = h.clone();
                hashes_added = true;
            }
        }
    }
    manifest.unresolved = stats.unresolved_callees;
    manifest.widen_rounds = stats.widen_rounds;
    if reuse {
        manifest.widened = old.widened.clone();
    } else {
        let matched: std::collections::HashSet<&str> = manifest
            .entries
            .iter()
            .filter(|(_, e)| e.matched)
            .map(|(p, _)| p.as_str())
            .collect();
        manifest.widened = parsed
            .iter()
            .filter(|p| !matched.contains(p.path.as_str()))
            .map(|p| p.path.clone())
            .collect();
        manifest.widened.sort();
    }
    manifest.widen_key = widen_key;
    if !reuse {
        manifest.defs_key = defs_key;
        manifest.lookup = lookup;
    } else {
        manifest.defs_key = old.defs_key.clone();
        manifest.lookup = old.lookup.clone();
    }
    hashes_added
}

impl ScanStats {
    /// The figures of a run that reused the stored result `r` (`t0`: the run's start, `t1`:
    /// the parse's).
    fn reused(&mut self, r: &StoredResult, t0: Instant, t1: Instant) {
        self.files_parsed = r.stats.files_parsed;
        self.summaries_from_cache = r.stats.files_parsed;
        self.files_widened = r.widened.len();
        self.unresolved_callees = r.unresolved;
        self.widen_rounds = r.widen_rounds;
        self.result_from_cache = true;
        self.seconds_parse = t1.elapsed().as_secs_f64();
        self.seconds = t0.elapsed().as_secs_f64();
    }
}
