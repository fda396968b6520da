//! The tree's files: which there are, which changed since the last run, which the prefilter
//! matches (those are parsed), and the definition candidates of the others (where widening
//! looks callees up).

use super::cache::{ManEntry, Manifest};
use super::{NotRead, ScanError, ScanStats};
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
    max_bytes: u64,
    stats: &mut ScanStats,
) -> Result<Manifest, ScanError> {
    let mut not_read = Vec::new();
    let paths = walk(root, &rules.skip_dirs, &mut not_read)?;
    stats.files_total = paths.len();
    let ac = AhoCorasick::new(rules.prefilter_patterns()).map_err(|e| ScanError::Io {
        path: "rules".into(),
        err: std::io::Error::other(e.to_string()),
    })?;
    let entries: Vec<(String, Result<ManEntry, String>, bool)> = paths
        .par_iter()
        .map(|rel| {
            let (e, read) = entry(root, rel, old, &ac, max_bytes);
            (rel.clone(), e, read)
        })
        .collect();
    stats.files_read = entries.iter().filter(|e| e.2).count();
    let mut manifest = Manifest::default();
    for (rel, e, _) in entries {
        match e {
            Ok(e) => {
                stats.bytes_total += e.size;
                manifest.entries.insert(rel, e);
            }
            Err(reason) => not_read.push(NotRead { path: rel, reason }),
        }
    }
    not_read.sort_by(|a, b| a.path.cmp(&b.path));
    stats.not_read = not_read;
    Ok(manifest)
}

/// The manifest entry of file `rel` (or why it was not read), and whether it was read (its
/// stat data changed since `old`). A file over `max_bytes` is not read.
fn entry(
    root: &Path,
    rel: &str,
    old: &Manifest,
    ac: &AhoCorasick,
    max_bytes: u64,
) -> (Result<ManEntry, String>, bool) {
    let full = root.join(rel);
    let md = match std::fs::metadata(&full) {
        Ok(m) => m,
        Err(e) => return (Err(format!("cannot stat: {e}")), false),
    };
    if md.len() > max_bytes {
        return (
            Err(format!(
                "{} bytes, over the size limit of {max_bytes} bytes (--max-file-size)",
                md.len()
            )),
            false,
        );
    }
    let mtime = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    if let Some(e) = old.entries.get(rel) {
        if e.mtime == mtime && e.size == md.len() {
            return (Ok(e.clone()), false);
        }
    }
    let bytes = match std::fs::read(&full) {
        Ok(b) => b,
        Err(e) => return (Err(format!("cannot read: {e}")), false),
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
    (Ok(e), true)
}

/// A file name as the output shows it: itself when it is UTF-8, else with its bytes that are
/// not escaped (`\xff`), so two such names stay apart.
fn shown(name: &std::ffi::OsStr) -> String {
    match name.to_str() {
        Some(s) => s.to_string(),
        None => {
            let d = format!("{name:?}");
            d.trim_matches('"').to_string()
        }
    }
}

/// The `.c` and `.h` files under `root`, relative to it, sorted; hidden directories and, at
/// the top, the directories `skip` names are left out (symbolic links to directories are not
/// followed; links to files are read through). What cannot be walked (a directory
/// that cannot be listed, an entry whose type cannot be read, a name that is not UTF-8) is
/// added to `not_read` with the reason; only `root` itself failing is an error.
fn walk(
    root: &Path,
    skip: &[String],
    not_read: &mut Vec<NotRead>,
) -> Result<Vec<String>, ScanError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rel_s = rel.to_string_lossy().into_owned();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(err) if rel.as_os_str().is_empty() => {
                return Err(ScanError::Io {
                    path: dir.display().to_string(),
                    err,
                })
            }
            Err(err) => {
                not_read.push(NotRead {
                    path: format!("{rel_s}/"),
                    reason: format!("directory cannot be listed: {err}"),
                });
                continue;
            }
        };
        for e in rd {
            let e = match e {
                Ok(e) => e,
                Err(err) => {
                    not_read.push(NotRead {
                        path: format!("{rel_s}/"),
                        reason: format!("an entry of the directory cannot be read: {err}"),
                    });
                    continue;
                }
            };
            let os_name = e.file_name();
            let ft = match e.file_type() {
                Ok(t) => t,
                Err(err) => {
                    not_read.push(NotRead {
                        path: rel.join(shown(&os_name)).to_string_lossy().into_owned(),
                        reason: format!("file type cannot be read: {err}"),
                    });
                    continue;
                }
            };
            let Some(name) = os_name.to_str() else {
                let bytes = os_name.to_string_lossy();
                let c_file = bytes.ends_with(".c") || bytes.ends_with(".h");
                if ft.is_dir() || (ft.is_file() && c_file) {
                    not_read.push(NotRead {
                        path: rel.join(shown(&os_name)).to_string_lossy().into_owned()
                            + if ft.is_dir() { "/" } else { "" },
                        reason: "the name is not UTF-8".to_string(),
                    });
                }
                continue;
            };
            let r = rel.join(name);
            if ft.is_dir() {
                if name.starts_with('.')
                    || (rel.as_os_str().is_empty() && skip.iter().any(|s| s == name))
                {
                    continue;
                }
                stack.push(r);
            } else if name.ends_with(".c") || name.ends_with(".h") {
                if ft.is_file() || ft.is_symlink() {
                    // A symbolic link is read through (a dangling one is listed as not read).
                    out.push(r.to_string_lossy().into_owned());
                } else {
                    not_read.push(NotRead {
                        path: r.to_string_lossy().into_owned(),
                        reason: "not a regular file".to_string(),
                    });
                }
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
