//! The tree's files: which there are, which changed since the last run, which the prefilter
//! matches (those are parsed), and the definition candidates of the others (where widening
//! looks callees up).

use super::cache::{ManEntry, Manifest};
use super::{ScanError, ScanStats};
use crate::rules::Rules;
use aho_corasick::AhoCorasick;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// The manifest of the tree at `root` now: every `.c` and `.h` file (outside the rules'
/// skipped directories) with its stat data, content hash, whether the prefilter matches it
/// and, if not, its definition candidates. A file whose stat data did not change since `old`
/// keeps its old entry without being read. Counts the files and bytes in `stats`.
pub(super) fn scan_files(
    root: &Path,
    rules: &Rules,
    old: &Manifest,
    stats: &mut ScanStats,
) -> Result<Manifest, ScanError> {
    let paths = walk(root, &rules.skip_dirs)?;
    stats.files_total = paths.len();
    let ac = AhoCorasick::new(rules.prefilter_patterns()).map_err(|e| ScanError::Io {
        path: "rules".into(),
        err: std::io::Error::other(e.to_string()),
    })?;
    let entries: Vec<(String, Option<ManEntry>, bool)> = paths
        .par_iter()
        .map(|rel| {
            let (e, read) = entry(root, rel, old, &ac);
            (rel.clone(), e, read)
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
    Ok(manifest)
}

/// The manifest entry of file `rel` (`None` if it cannot be read), and whether it was read
/// (its stat data changed since `old`).
fn entry(root: &Path, rel: &str, old: &Manifest, ac: &AhoCorasick) -> (Option<ManEntry>, bool) {
    let full = root.join(rel);
    let Ok(md) = std::fs::metadata(&full) else {
        return (None, false);
    };
    let mtime = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    if let Some(e) = old.entries.get(rel) {
        if e.mtime == mtime && e.size == md.len() {
            return (Some(e.clone()), false);
        }
    }
    let Ok(bytes) = std::fs::read(&full) else {
        return (None, false);
    };
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let matched = ac.is_match(&bytes);
    let defs = if matched {
        String::new()
    } else {
        def_names(&bytes)
    };
    let e = ManEntry {
        mtime,
        size: md.len(),
        hash,
        matched,
        defs,
    };
    (Some(e), true)
}

/// The `.c` and `.h` files under `root`, relative to it, sorted; hidden directories and, at
/// the top, the directories `skip` names are left out.
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

/// The keys the widening and its look-ups depend on: the widening key (every path with the
/// matched files' contents and the other files' definitions) and the definitions key (the
/// files not matched and their definitions).
pub(super) fn widen_keys(manifest: &Manifest) -> (String, String) {
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
}
