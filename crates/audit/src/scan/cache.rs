//! The per-tree cache: a manifest of the tree's files (by path, mtime and size: what changed
//! since the last run), the per-file summaries (by content hash), and the last analysis
//! result (by the widening key: what the analysis read).

use super::{ScanStats, EXTRACT_VERSION};
use crate::analysis::Outcome;
use crate::extract::FileSummary;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// What the manifest records of one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ManEntry {
    pub(super) mtime: u128,
    pub(super) size: u64,
    /// Its content hash (blake3, hex; empty where a manifest did not record it: it is then
    /// read when needed).
    pub(super) hash: String,
    /// The prefilter matched it: it is parsed.
    pub(super) matched: bool,
    /// Column-0 definition candidates, space-separated (only for files not matched).
    pub(super) defs: String,
}

/// The tree's files as the last run saw them, and what its widening found.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Manifest {
    pub(super) entries: HashMap<String, ManEntry>,
    /// Hash of every (path, content hash) of the tree when `widened` was computed.
    #[serde(default)]
    pub(super) widen_key: String,
    /// Files added by widening in that run: reused while no file's content changed.
    #[serde(default)]
    pub(super) widened: Vec<String>,
    #[serde(default)]
    pub(super) unresolved: usize,
    #[serde(default)]
    pub(super) widen_rounds: usize,
    /// Hash of the definitions of every file not matched, when `lookup` was made.
    #[serde(default)]
    pub(super) defs_key: String,
    /// Callee name → files that define it (empty: none), from the last widening.
    #[serde(default)]
    pub(super) lookup: BTreeMap<String, Vec<String>>,
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

/// The cache of one tree (with one rules file) in a cache directory.
pub(super) struct Cache {
    dir: PathBuf,
    manifest_path: PathBuf,
    /// The rules' hash: a stored result is only valid for the rules it was computed with.
    rules_key: String,
}

impl Cache {
    /// The cache of `root` with the rules `rules_text` in `dir` (created if need be); `None`
    /// when it cannot be used.
    pub(super) fn new(dir: &Path, root: &Path, rules_text: &str) -> Option<Cache> {
        let canon = root.canonicalize().ok()?;
        let key = blake3::hash(
            format!("{}\n{}\n{}", canon.display(), EXTRACT_VERSION, rules_text).as_bytes(),
        )
        .to_hex();
        std::fs::create_dir_all(dir.join("summaries")).ok()?;
        Some(Cache {
            dir: dir.to_path_buf(),
            manifest_path: dir.join(format!("tree-{}.bin", &key.as_str()[..16])),
            rules_key: blake3::hash(rules_text.as_bytes()).to_hex().as_str()[..12].to_string(),
        })
    }

    pub(super) fn load_manifest(&self) -> Manifest {
        std::fs::read(&self.manifest_path)
            .ok()
            .and_then(|b| postcard::from_bytes(&b).ok())
            .unwrap_or_default()
    }

    pub(super) fn save_manifest(&self, m: &Manifest) {
        if let Ok(b) = postcard::to_stdvec(m) {
            let tmp = self.manifest_path.with_extension("tmp");
            if std::fs::write(&tmp, b).is_ok() {
                let _ = std::fs::rename(&tmp, &self.manifest_path);
            }
        }
    }

    fn result_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!(
            "result-{}-{}-v{EXTRACT_VERSION}.{}.json",
            &key[..16.min(key.len())],
            self.rules_key,
            crate::analysis::ANALYSIS_VERSION
        ))
    }

    pub(super) fn load_result(&self, key: &str) -> Option<StoredResult> {
        let b = std::fs::read(self.result_path(key)).ok()?;
        let r: StoredResult = serde_json::from_slice(&b).ok()?;
        (r.key == key).then_some(r)
    }

    pub(super) fn save_result(&self, r: &StoredResult) {
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

    pub(super) fn load_summary(&self, hash: &str) -> Option<FileSummary> {
        let b = std::fs::read(self.summary_path(hash)).ok()?;
        postcard::from_bytes(&b).ok()
    }

    pub(super) fn save_summary(&self, hash: &str, s: &FileSummary) {
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
pub(super) struct StoredResult {
    pub(super) key: String,
    pub(super) widened: Vec<(String, String)>,
    pub(super) unresolved: usize,
    pub(super) widen_rounds: usize,
    pub(super) outcome: Outcome,
    pub(super) stats: ScanStats,
}

impl StoredResult {
    /// Whether every widened file still has the content the result was computed from (a file
    /// whose hash the manifest does not know is read).
    pub(super) fn still_valid(&self, root: &Path, manifest: &Manifest) -> bool {
        self.widened.iter().all(
            |(p, h)| match manifest.entries.get(p).map(|e| e.hash.as_str()) {
                Some("") => std::fs::read(root.join(p))
                    .map(|b| blake3::hash(&b).to_hex().as_str() == h)
                    .unwrap_or(false),
                Some(x) => x == h,
                None => false,
            },
        )
    }

    /// The manifest to save when this result is reused: `m`'s new stat data, the old
    /// run's widening (`old`) as the result records it, under `widen_key`.
    pub(super) fn manifest(&self, m: Manifest, old: &Manifest, widen_key: String) -> Manifest {
        let mut m = manifest_with(m, old, widen_key);
        m.widened = self.widened.iter().map(|(p, _)| p.clone()).collect();
        for (p, h) in &self.widened {
            if let Some(e) = m.entries.get_mut(p) {
                e.hash = h.clone();
            }
        }
        m.unresolved = self.unresolved;
        m.widen_rounds = self.widen_rounds;
        m
    }
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
