//! Parsing the matched files and widening: each round parses the files that define the
//! callees a page reaches and that are not parsed yet, up to [`MAX_WIDEN_ROUNDS`] rounds of
//! at most [`MAX_WIDEN_FILES`] files.

use super::cache::{Cache, Manifest};
use super::{NotRead, ScanStats, MAX_WIDEN_FILES, MAX_WIDEN_ROUNDS};
use crate::analysis::{self, Parsed};
use crate::extract;
use crate::rules::Rules;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// The parse-and-widen rounds of one run.
pub(super) struct Widen<'a> {
    root: &'a Path,
    rules: &'a Rules,
    cache: Option<&'a Cache>,
    manifest: &'a Manifest,
    /// The files parsed so far (with their summaries).
    pub(super) parsed: Vec<Parsed>,
    /// Their paths.
    have: HashSet<String>,
    /// The content hash of every file parsed, for the manifest (a widened file's hash lets
    /// the next run skip reading it).
    pub(super) new_hashes: Vec<(String, String)>,
    /// `parsed[..seen]` have had their callees collected.
    seen: usize,
    /// The functions the parsed files define.
    defined: HashSet<String>,
    /// The callees that receive a page, from every parsed file.
    pending: BTreeSet<String>,
    /// Definition look-ups of the last run, still valid (no unmatched file's definitions
    /// changed since).
    old_lookup: BTreeMap<String, Vec<String>>,
    /// This run's look-ups: callee → the files (at most 3) that define it (empty: none).
    pub(super) lookup: BTreeMap<String, Vec<String>>,
    /// Definition candidate → files, over the files not matched (built when first needed).
    def_index: Option<HashMap<&'a str, Vec<&'a str>>>,
    /// When the parse started (for the trace).
    t1: Instant,
    /// Files to parse that could not be read.
    pub(super) failed: Vec<NotRead>,
}

impl<'a> Widen<'a> {
    /// Rounds over the tree `manifest` describes; `old_lookup`: the last run's look-ups
    /// that are still valid.
    pub(super) fn new(
        root: &'a Path,
        rules: &'a Rules,
        cache: Option<&'a Cache>,
        manifest: &'a Manifest,
        old_lookup: BTreeMap<String, Vec<String>>,
        t1: Instant,
    ) -> Self {
        Widen {
            root,
            rules,
            cache,
            manifest,
            parsed: Vec::new(),
            have: HashSet::new(),
            new_hashes: Vec::new(),
            seen: 0,
            defined: HashSet::new(),
            pending: BTreeSet::new(),
            old_lookup,
            lookup: BTreeMap::new(),
            def_index: None,
            t1,
            failed: Vec::new(),
        }
    }

    /// Parses `todo` (path, content hash; empty: not known) and widens round by round, unless
    /// `reuse` (the last run's widened files are in `todo`: one round). Returns the rounds of
    /// widening taken.
    pub(super) fn run(
        &mut self,
        mut todo: Vec<(String, String)>,
        reuse: bool,
        stats: &mut ScanStats,
    ) -> usize {
        let mut round = 0;
        loop {
            self.load(&todo, round, stats);
            if reuse || round >= MAX_WIDEN_ROUNDS {
                break;
            }
            let (next, unresolved) = self.next_files(round);
            stats.unresolved_callees = unresolved;
            if next.is_empty() {
                break;
            }
            round += 1;
            todo = next
                .into_iter()
                .take(MAX_WIDEN_FILES)
                .filter_map(|p| {
                    self.manifest
                        .entries
                        .get(&p)
                        .map(|e| (p.clone(), e.hash.clone()))
                })
                .collect();
            stats.files_widened += todo.len();
        }
        round
    }

    /// Parses the files of `todo` in parallel (a summary in the cache is used instead of
    /// parsing) and adds them to the parsed files.
    fn load(&mut self, todo: &[(String, String)], round: usize, stats: &mut ScanStats) {
        let all: Vec<Result<(Parsed, bool, String), NotRead>> = todo
            .par_iter()
            .map(|(rel, hash)| self.summary(rel, hash))
            .collect();
        let mut results = Vec::with_capacity(all.len());
        for r in all {
            match r {
                Ok(x) => results.push(x),
                Err(n) => self.failed.push(n),
            }
        }
        if std::env::var_os("PVMM_AUDIT_TRACE").is_some() {
            eprintln!(
                "round {round}: {} files loaded at {:.2}s",
                results.len(),
                self.t1.elapsed().as_secs_f64()
            );
        }
        for (p, hit, hash) in results {
            if hit {
                stats.summaries_from_cache += 1;
            }
            // Remember the hash of a widened file so the next run need not read it.
            self.new_hashes.push((p.path.clone(), hash));
            self.have.insert(p.path.clone());
            self.parsed.push(p);
        }
    }

    /// File `rel`'s summary (`hash`: its content hash; empty: not known, the file is read),
    /// whether it came from the cache, and its content hash; why not if it cannot be read.
    fn summary(&self, rel: &str, hash: &str) -> Result<(Parsed, bool, String), NotRead> {
        let fail = |e: std::io::Error| NotRead {
            path: rel.to_string(),
            reason: format!("cannot read: {e}"),
        };
        let mut bytes = None;
        let hash = if hash.is_empty() {
            let b = std::fs::read(self.root.join(rel)).map_err(fail)?;
            let h = blake3::hash(&b).to_hex().to_string();
            bytes = Some(b);
            h
        } else {
            hash.to_string()
        };
        let parsed = |summary| Parsed {
            path: rel.to_string(),
            summary,
        };
        if let Some(s) = self.cache.and_then(|c| c.load_summary(&hash)) {
            return Ok((parsed(s), true, hash));
        }
        let bytes = match bytes {
            Some(b) => b,
            None => std::fs::read(self.root.join(rel)).map_err(fail)?,
        };
        let Some(s) = extract::summarise(&bytes) else {
            return Err(NotRead {
                path: rel.to_string(),
                reason: "tree-sitter could not parse it at all".into(),
            });
        };
        if let Some(c) = self.cache {
            c.save_summary(&hash, &s);
        }
        Ok((parsed(s), false, hash))
    }

    /// The files to parse next: those (at most 3 per callee) that define the callees a page
    /// reaches in the files parsed so far and that no parsed file defines, looked up in the
    /// last run's look-ups or in the definition candidates of the files not matched. Also
    /// returns how many such callees have no definition anywhere.
    fn next_files(&mut self, round: usize) -> (BTreeSet<String>, usize) {
        for p in &self.parsed[self.seen..] {
            for f in &p.summary.funcs {
                self.defined.insert(f.name.clone());
            }
            self.pending
                .extend(analysis::page_callees(self.rules, &p.summary));
        }
        self.seen = self.parsed.len();
        let wanted: Vec<&String> = self
            .pending
            .iter()
            .filter(|n| !self.defined.contains(*n))
            .collect();
        let mut next: BTreeSet<String> = BTreeSet::new();
        let mut unresolved = 0;
        let mut unknown = Vec::new();
        for w in &wanted {
            match self.old_lookup.get(w.as_str()) {
                Some(files) => {
                    self.lookup.insert(w.to_string(), files.clone());
                    if files.is_empty() {
                        unresolved += 1;
                    }
                    for f in files.iter().take(3) {
                        if !self.have.contains(f) {
                            next.insert(f.clone());
                        }
                    }
                }
                None => unknown.push(*w),
            }
        }
        if !unknown.is_empty() {
            let manifest = self.manifest;
            let di = self.def_index.get_or_insert_with(|| def_index(manifest));
            if std::env::var_os("PVMM_AUDIT_TRACE").is_some() {
                eprintln!(
                    "round {round}: wanted {} at {:.2}s",
                    wanted.len(),
                    self.t1.elapsed().as_secs_f64()
                );
            }
            for w in unknown {
                let files: Vec<String> = di
                    .get(w.as_str())
                    .map(|v| v.iter().take(3).map(|f| f.to_string()).collect())
                    .unwrap_or_default();
                if files.is_empty() {
                    unresolved += 1;
                }
                for f in &files {
                    if !self.have.contains(f) {
                        next.insert(f.clone());
                    }
                }
                self.lookup.insert(w.to_string(), files);
            }
        }
        (next, unresolved)
    }
}

/// Definition candidate → the files not matched that have it, sorted.
fn def_index(manifest: &Manifest) -> HashMap<&str, Vec<&str>> {
    let mut m: HashMap<&str, Vec<&str>> = HashMap::new();
    for (p, e) in &manifest.entries {
        if e.matched {
            continue;
        }
        for n in e.defs.split(' ') {
            if !n.is_empty() {
                m.entry(n).or_default().push(p.as_str());
            }
        }
    }
    for v in m.values_mut() {
        v.sort_unstable();
    }
    m
}
