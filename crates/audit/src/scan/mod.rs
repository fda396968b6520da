//! Finding the files that matter, parsing them in parallel, widening where chains lead, and the
//! per-file cache (manifest by path/mtime/size, summaries by content hash).

use crate::analysis::{self, Outcome, Parsed};
use crate::extract::{self, FileSummary};
use crate::rules::Rules;
use aho_corasick::AhoCorasick;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

/// Bump when `extract` changes what it records: old cached summaries are then ignored.
const EXTRACT_VERSION: u32 = 9;
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

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanStats {
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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ManEntry {
    mtime: u128,
    size: u64,
    hash: String,
    matched: bool,
    /// Column-0 definition candidates, space-separated (only for files not matched).
    defs: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    entries: HashMap<String, ManEntry>,
    /// Hash of every (path, content hash) of the tree when `widened` was computed.
    #[serde(default)]
    widen_key: String,
    /// Files added by widening in that run: reused while no file's content changed.
    #[serde(default)]
    widened: Vec<String>,
    #[serde(default)]
    unresolved: usize,
    #[serde(default)]
    widen_rounds: usize,
    /// Hash of the definitions of every file not matched, when `lookup` was made.
    #[serde(default)]
    defs_key: String,
    /// Callee name → files that define it (empty: none), from the last widening.
    #[serde(default)]
    lookup: BTreeMap<String, Vec<String>>,
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

fn walk(root: &Path, skip: &[String]) -> Result<Vec<String>, ScanError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rd = std::fs::read_dir(&dir).map_err(|err| ScanError::Io {
            path: dir.display().to_string(),
            err,
        })?;
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let ft = match e.file_type() {
                Ok(t) => t,
                Err(_) => continue,
            };
            let r = rel.join(&*name);
            if ft.is_dir() {
                if name.starts_with('.')
                    || (rel.as_os_str().is_empty() && skip.iter().any(|s| s == &*name))
                {
                    continue;
                }
                stack.push(r);
            } else if ft.is_file() && (name.ends_with(".c") || name.ends_with(".h")) {
                out.push(r.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Identifiers before the first `(` on lines that start in column 0 and do not end in `;`:
/// cheap candidates for function definitions.
pub fn def_names(src: &[u8]) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut start = 0;
    let n = src.len();
    while start < n {
        let end = memchr::memchr(b'\n', &src[start..]).map_or(n, |k| start + k);
        let line = &src[start..end];
        start = end + 1;
        let Some(&c0) = line.first() else { continue };
        if !(c0.is_ascii_alphabetic() || c0 == b'_') || line.trim_ascii_end().ends_with(b";") {
            continue;
        }
        let Some(p) = memchr::memchr(b'(', line) else {
            continue;
        };
        let mut e = p;
        while e > 0 && line[e - 1] == b' ' {
            e -= 1;
        }
        let mut s = e;
        while s > 0 && (line[s - 1].is_ascii_alphanumeric() || line[s - 1] == b'_') {
            s -= 1;
        }
        if e - s >= 3 {
            if let Ok(name) = std::str::from_utf8(&line[s..e]) {
                names.push(name);
            }
        }
    }
    names.sort_unstable();
    names.dedup();
    names.join(" ")
}

/// Where the cache for `root` lives, or None without a cache.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PVMM_AUDIT_CACHE") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(p).join("pvmm-audit"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("pvmm-audit"))
}

struct Cache {
    dir: PathBuf,
    manifest_path: PathBuf,
}

impl Cache {
    fn new(dir: &Path, root: &Path, rules_text: &str) -> Option<Cache> {
        let canon = root.canonicalize().ok()?;
        let key = blake3::hash(
            format!("{}\n{}\n{}", canon.display(), EXTRACT_VERSION, rules_text).as_bytes(),
        )
        .to_hex();
        std::fs::create_dir_all(dir.join("summaries")).ok()?;
        Some(Cache {
            dir: dir.to_path_buf(),
            manifest_path: dir.join(format!("tree-{}.bin", &key.as_str()[..16])),
        })
    }

    fn load_manifest(&self) -> Manifest {
        std::fs::read(&self.manifest_path)
            .ok()
            .and_then(|b| postcard::from_bytes(&b).ok())
            .unwrap_or_default()
    }

    fn save_manifest(&self, m: &Manifest) {
        if let Ok(b) = postcard::to_stdvec(m) {
            let tmp = self.manifest_path.with_extension("tmp");
            if std::fs::write(&tmp, b).is_ok() {
                let _ = std::fs::rename(&tmp, &self.manifest_path);
            }
        }
    }

    fn result_path(&self, key: &str) -> PathBuf {
        self.dir
            .join(format!("result-{}.json", &key[..16.min(key.len())]))
    }

    fn load_result(&self, key: &str) -> Option<StoredResult> {
        let b = std::fs::read(self.result_path(key)).ok()?;
        let r: StoredResult = serde_json::from_slice(&b).ok()?;
        (r.key == key).then_some(r)
    }

    fn save_result(&self, r: &StoredResult) {
        let key = &r.key;
        if let Ok(b) = serde_json::to_vec(r) {
            let p = self.result_path(key);
            let tmp = p.with_extension("tmp");
            if std::fs::write(&tmp, b).is_ok() {
                let _ = std::fs::rename(&tmp, &p);
            }
        }
    }

    fn summary_path(&self, hash: &str) -> PathBuf {
        self.dir
            .join("summaries")
            .join(format!("{hash}-v{EXTRACT_VERSION}.bin"))
    }

    fn load_summary(&self, hash: &str) -> Option<FileSummary> {
        let b = std::fs::read(self.summary_path(hash)).ok()?;
        postcard::from_bytes(&b).ok()
    }

    fn save_summary(&self, hash: &str, s: &FileSummary) {
        if let Ok(b) = postcard::to_stdvec(s) {
            let p = self.summary_path(hash);
            let tmp = p.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, b).is_ok() {
                let _ = std::fs::rename(&tmp, &p);
            }
        }
    }
}

/// An analysis result with what it was computed from: the widening key (matched contents,
/// other files' definitions) and the content hash of every widened file.
#[derive(Serialize, Deserialize)]
struct StoredResult {
    key: String,
    widened: Vec<(String, String)>,
    unresolved: usize,
    widen_rounds: usize,
    outcome: Outcome,
    stats: ScanStats,
}

/// The manifest to save when the result was reused: new stat data, the old widening.
fn manifest_with(mut m: Manifest, old: &Manifest, widen_key: String) -> Manifest {
    m.widened = old.widened.clone();
    m.unresolved = old.unresolved;
    m.widen_rounds = old.widen_rounds;
    m.widen_key = widen_key;
    m.defs_key = old.defs_key.clone();
    m.lookup = old.lookup.clone();
    m
}

/// Audit one tree: scan, parse, widen, analyse.
pub fn audit_tree(
    root: &Path,
    rules: &Rules,
    rules_text: &str,
    cache_dir: Option<&Path>,
) -> Result<(Outcome, ScanStats), ScanError> {
    check_tree(root)?;
    let t0 = Instant::now();
    let mut stats = ScanStats::default();
    let cache = cache_dir.and_then(|d| Cache::new(d, root, rules_text));
    let old = cache
        .as_ref()
        .map(|c| c.load_manifest())
        .unwrap_or_default();

    let paths = walk(root, &rules.skip_dirs)?;
    stats.files_total = paths.len();
    let ac = AhoCorasick::new(rules.prefilter_patterns()).map_err(|e| ScanError::Io {
        path: "rules".into(),
        err: std::io::Error::other(e.to_string()),
    })?;

    let entries: Vec<(String, Option<ManEntry>, bool)> = paths
        .par_iter()
        .map(|rel| {
            let full = root.join(rel);
            let Ok(md) = std::fs::metadata(&full) else {
                return (rel.clone(), None, false);
            };
            let mtime = md
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            if let Some(e) = old.entries.get(rel) {
                if e.mtime == mtime && e.size == md.len() {
                    return (rel.clone(), Some(e.clone()), false);
                }
            }
            let Ok(bytes) = std::fs::read(&full) else {
                return (rel.clone(), None, false);
            };
            let hash = blake3::hash(&bytes).to_hex().to_string();
            let matched = ac.is_match(&bytes);
            let defs = if matched {
                String::new()
            } else {
                def_names(&bytes)
            };
            (
                rel.clone(),
                Some(ManEntry {
                    mtime,
                    size: md.len(),
                    hash,
                    matched,
                    defs,
                }),
                true,
            )
        })
        .collect();
    stats.files_read = entries.iter().filter(|e| e.2).count();
    let mut manifest = Manifest::default();
    for (rel, e, _) in &entries {
        if let Some(e) = e {
            stats.bytes_total += e.size;
            manifest.entries.insert(rel.clone(), e.clone());
        }
    }
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
    let mut parsed: Vec<Parsed> = Vec::new();
    let mut have: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut def_index: Option<HashMap<&str, Vec<&str>>> = None;
    let (widen_key, defs_key) = {
        let mut keys: Vec<(&String, &ManEntry)> = manifest.entries.iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut h = blake3::Hasher::new();
        let mut d = blake3::Hasher::new();
        // Widening depends on the matched files' contents and the other files' definitions.
        for (p, e) in keys {
            h.update(p.as_bytes());
            if e.matched {
                h.update(e.hash.as_bytes());
            } else {
                h.update(e.defs.as_bytes());
                d.update(p.as_bytes());
                d.update(e.defs.as_bytes());
                d.update(b"\n");
            }
            h.update(b"\n");
        }
        (
            h.finalize().to_hex().to_string(),
            d.finalize().to_hex().to_string(),
        )
    };
    // Definition look-ups of the last run stay valid while no unmatched file's definitions changed.
    let old_lookup = if old.defs_key == defs_key {
        old.lookup.clone()
    } else {
        BTreeMap::new()
    };
    let mut lookup: BTreeMap<String, Vec<String>> = BTreeMap::new();
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
        if let Some(r) = c.load_result(&widen_key) {
            let same = r.widened.iter().all(|(p, h)| {
                match manifest.entries.get(p).map(|e| e.hash.as_str()) {
                    Some("") => std::fs::read(root.join(p))
                        .map(|b| blake3::hash(&b).to_hex().as_str() == h)
                        .unwrap_or(false),
                    Some(x) => x == h,
                    None => false,
                }
            });
            if same {
                stats.files_parsed = r.stats.files_parsed;
                stats.summaries_from_cache = r.stats.files_parsed;
                stats.files_widened = r.widened.len();
                stats.unresolved_callees = r.unresolved;
                stats.widen_rounds = r.widen_rounds;
                stats.result_from_cache = true;
                stats.seconds_parse = t1.elapsed().as_secs_f64();
                stats.seconds = t0.elapsed().as_secs_f64();
                let mut m = manifest_with(manifest, &old, widen_key);
                m.widened = r.widened.iter().map(|(p, _)| p.clone()).collect();
                for (p, h) in &r.widened {
                    if let Some(e) = m.entries.get_mut(p) {
                        e.hash = h.clone();
                    }
                }
                m.unresolved = r.unresolved;
                m.widen_rounds = r.widen_rounds;
                c.save_manifest(&m);
                return Ok((r.outcome, stats));
            }
        }
    }
    let mut round = 0;
    let mut new_hashes: Vec<(String, String)> = Vec::new();
    let mut seen = 0;
    let mut defined: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut pending: BTreeSet<String> = BTreeSet::new();
    loop {
        let results: Vec<(Parsed, bool, String)> = todo
            .par_iter()
            .filter_map(|(rel, hash)| {
                let mut bytes = None;
                let hash = if hash.is_empty() {
                    let b = std::fs::read(root.join(rel)).ok()?;
                    let h = blake3::hash(&b).to_hex().to_string();
                    bytes = Some(b);
                    h
                } else {
                    hash.clone()
                };
                if let Some(c) = &cache {
                    if let Some(s) = c.load_summary(&hash) {
                        return Some((
                            Parsed {
                                path: rel.clone(),
                                summary: s,
                            },
                            true,
                            hash,
                        ));
                    }
                }
                let bytes = match bytes {
                    Some(b) => b,
                    None => std::fs::read(root.join(rel)).ok()?,
                };
                let s = extract::summarise(&bytes).unwrap_or_default();
                if let Some(c) = &cache {
                    c.save_summary(&hash, &s);
                }
                Some((
                    Parsed {
                        path: rel.clone(),
                        summary: s,
                    },
                    false,
                    hash,
                ))
            })
            .collect();
        if std::env::var_os("PVMM_AUDIT_TRACE").is_some() {
            eprintln!(
                "round {round}: {} files loaded at {:.2}s",
                results.len(),
                t1.elapsed().as_secs_f64()
            );
        }
        for (p, hit, hash) in results {
            if hit {
                stats.summaries_from_cache += 1;
            }
            // Remember the hash of a widened file so the next run need not read it.
            new_hashes.push((p.path.clone(), hash));
            have.insert(p.path.clone());
            parsed.push(p);
        }
        if reuse || round >= MAX_WIDEN_ROUNDS {
            break;
        }
        // Widen: definitions of callees that receive a page and are not parsed yet.
        for p in &parsed[seen..] {
            for f in &p.summary.funcs {
                defined.insert(f.name.clone());
            }
            pending.extend(analysis::page_callees(rules, &p.summary));
        }
        seen = parsed.len();
        let wanted: Vec<&String> = pending.iter().filter(|n| !defined.contains(*n)).collect();
        let mut next: BTreeSet<String> = BTreeSet::new();
        let mut unresolved = 0;
        let mut unknown = Vec::new();
        for w in &wanted {
            match old_lookup.get(w.as_str()) {
                Some(files) => {
                    lookup.insert(w.to_string(), files.clone());
                    if files.is_empty() {
                        unresolved += 1;
                    }
                    for f in files.iter().take(3) {
                        if !have.contains(f) {
                            next.insert(f.clone());
                        }
                    }
                }
                None => unknown.push(*w),
            }
        }
        if !unknown.is_empty() {
            let di = def_index.get_or_insert_with(|| {
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
            });
            if std::env::var_os("PVMM_AUDIT_TRACE").is_some() {
                eprintln!(
                    "round {round}: wanted {} at {:.2}s",
                    wanted.len(),
                    t1.elapsed().as_secs_f64()
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
                    if !have.contains(f) {
                        next.insert(f.clone());
                    }
                }
                lookup.insert(w.to_string(), files);
            }
        }
        stats.unresolved_callees = unresolved;
        if next.is_empty() {
            break;
        }
        round += 1;
        todo = next
            .into_iter()
            .take(MAX_WIDEN_FILES)
            .filter_map(|p| {
                manifest
                    .entries
                    .get(&p)
                    .map(|e| (p.clone(), e.hash.clone()))
            })
            .collect();
        stats.files_widened += todo.len();
    }
    drop(def_index);
    let mut hashes_added = false;
    for (p, h) in &new_hashes {
        if let Some(e) = manifest.entries.get_mut(p) {
            if e.hash.is_empty() {
                e.hash = h.clone();
                hashes_added = true;
            }
        }
    }
    if !reuse {
        stats.widen_rounds = round;
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
