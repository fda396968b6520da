//! Review mode for a patch (issue 28 item 6): the two trees a unified diff, or two git
//! revisions, yield, so that `pvmm audit` can audit both and diff their findings.
//!
//! A tree is never written to. The patched tree is a *hard-link copy* of it in a temporary
//! directory (every directory made anew, every file a hard link, a symlink copied as a
//! symlink, `.git` left out), and a file the patch changes is unlinked there before its new
//! text is written, so the original's inode is never touched. Where a hard link cannot be
//! made (the temporary directory is on another file system) the file is copied instead.
//!
//! The diff is split into its files here (git's extended headers, renames, creations,
//! deletions, binary changes and mail trailers are understood; a hunk's lines are counted by
//! its header, so a removed line that starts with `-- ` is not a new file); each file's
//! hunks are parsed and applied by the `diffy` crate, without fuzz: a hunk whose context is
//! not in the file is an error naming the diff's line, the file and the hunk.
//!
//! Two revisions `A..B` of a git repository: `git diff A` (the work tree against `A`) applied
//! in reverse to a hard-link copy of the work tree gives `A`, the same with `B` gives `B`.
//! Files git does not track are in both trees alike, so they add no difference.

use std::path::{Path, PathBuf};

/// The two trees of a patch review, alive as long as this value.
pub struct PatchedTrees {
    /// The tree before the change (the given tree itself for a diff).
    pub base: PathBuf,
    /// The tree after it.
    pub new: PathBuf,
    /// What each tree is, for the report's header (`TREE`, `TREE + fix.diff`, `TREE @ A`).
    pub base_label: String,
    pub new_label: String,
    /// Files the change touches, counted by kind (for the report's header).
    pub summary: String,
    /// Changes that could not be applied and do not matter to the audit (binary files that
    /// are not C sources), each with why; printed on stderr.
    pub notes: Vec<String>,
    _dirs: Vec<tempfile::TempDir>,
}

/// One file's change in a diff.
#[derive(Debug, Clone)]
struct FileChange {
    /// Line (1-based) of the diff where the file's change starts.
    line: usize,
    /// Path before (None: the file is created) and after (None: deleted), stripped.
    old: Option<String>,
    new: Option<String>,
    /// The `--- / +++ / @@` part, as `diffy` parses it (empty: no hunks).
    hunks: String,
    /// A binary change git does not spell out.
    binary: bool,
}

/// Strip `n` leading components (`patch -pN`); `/dev/null` is no file.
fn strip(path: &str, n: usize) -> Option<String> {
    let p = path.trim_end_matches(['\r', '\n']);
    let p = p.split('\t').next().unwrap_or(p);
    let p = p.trim_matches('"');
    if p == "/dev/null" {
        return None;
    }
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    Some(parts[n.min(parts.len().saturating_sub(1))..].join("/"))
}

fn hunk_counts(header: &str) -> Option<(usize, usize)> {
    let rest = header.strip_prefix("@@ -")?;
    let (ranges, _) = rest.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let len = |r: &str| -> Option<usize> {
        match r.split_once(',') {
            Some((_, l)) => l.parse().ok(),
            None => r.parse::<usize>().ok().map(|_| 1),
        }
    };
    Some((len(old)?, len(new)?))
}

/// Split a unified diff into its files.
fn split(diff: &str, name: &str, strip_n: usize) -> Result<Vec<FileChange>, String> {
    let lines: Vec<&str> = diff.split_inclusive('\n').collect();
    let mut out: Vec<FileChange> = Vec::new();
    // A `diff --git` header whose file has not yet had its `---` line.
    let mut pending: Option<FileChange> = None;
    let mut i = 0;
    let err = |at: usize, msg: String| format!("{name}:{}:1: {msg}", at + 1);
    while i < lines.len() {
        let l = lines[i];
        if let Some(rest) = l.strip_prefix("diff --git ") {
            out.extend(pending.take());
            // `a/X b/X`: the halves are equal in length unless renamed (then the rename
            // lines name them).
            let rest = rest.trim_end();
            let half = rest.len() / 2;
            let (a, b) = if rest.len() % 2 == 1 && rest.as_bytes()[half] == b' ' {
                (&rest[..half], &rest[half + 1..])
            } else {
                rest.split_once(" b/")
                    .map(|(a, _)| (a, &rest[a.len() + 1..]))
                    .unwrap_or((rest, rest))
            };
            pending = Some(FileChange {
                line: i + 1,
                old: strip(a, strip_n),
                new: strip(b, strip_n),
                hunks: String::new(),
                binary: false,
            });
            i += 1;
            continue;
        }
        if let Some(p) = pending.as_mut() {
            if l.starts_with("new file mode") {
                p.old = None;
            } else if l.starts_with("deleted file mode") {
                p.new = None;
            } else if let Some(f) = l.strip_prefix("rename from ") {
                p.old = strip(&format!("a/{}", f.trim_end()), strip_n);
            } else if let Some(t) = l.strip_prefix("rename to ") {
                p.new = strip(&format!("b/{}", t.trim_end()), strip_n);
            } else if l.starts_with("Binary files ") || l.starts_with("GIT binary patch") {
                p.binary = true;
            }
        }
        let next_is_new = lines.get(i + 1).is_some_and(|n| n.starts_with("+++ "));
        if l.starts_with("--- ") && next_is_new {
            let start = i;
            let mut fc = pending.take().unwrap_or(FileChange {
                line: i + 1,
                old: None,
                new: None,
                hunks: String::new(),
                binary: false,
            });
            fc.old = strip(&l[4..], strip_n);
            fc.new = strip(&lines[i + 1][4..], strip_n);
            let mut text = String::new();
            text.push_str(l);
            text.push_str(lines[i + 1]);
            i += 2;
            while i < lines.len() && lines[i].starts_with("@@ ") {
                let (mut old_left, mut new_left) = hunk_counts(lines[i])
                    .ok_or_else(|| err(i, "malformed hunk header".to_string()))?;
                text.push_str(lines[i]);
                i += 1;
                while old_left > 0 || new_left > 0 {
                    let Some(h) = lines.get(i) else {
                        return Err(err(i, "the diff ends inside a hunk".to_string()));
                    };
                    match h.as_bytes().first() {
                        Some(b' ') | Some(b'\n') => {
                            old_left = old_left.checked_sub(1).ok_or_else(|| {
                                err(i, "more context lines than the hunk header says".into())
                            })?;
                            new_left = new_left.checked_sub(1).ok_or_else(|| {
                                err(i, "more context lines than the hunk header says".into())
                            })?;
                        }
                        Some(b'-') => {
                            old_left = old_left.checked_sub(1).ok_or_else(|| {
                                err(i, "more removed lines than the hunk header says".into())
                            })?;
                        }
                        Some(b'+') => {
                            new_left = new_left.checked_sub(1).ok_or_else(|| {
                                err(i, "more added lines than the hunk header says".into())
                            })?;
                        }
                        Some(b'\\') => {}
                        _ => {
                            return Err(err(
                                i,
                                "a line that is not part of a hunk inside one (the hunk \
                                 header counts more lines)"
                                    .to_string(),
                            ))
                        }
                    }
                    text.push_str(h);
                    i += 1;
                }
                // "\ No newline at end of file" after the hunk's last line.
                while i < lines.len() && lines[i].starts_with('\\') {
                    text.push_str(lines[i]);
                    i += 1;
                }
            }
            if fc.old.is_none() && fc.new.is_none() {
                return Err(err(
                    start,
                    "both sides of the file are /dev/null".to_string(),
                ));
            }
            fc.hunks = text;
            out.push(fc);
            continue;
        }
        i += 1;
    }
    out.extend(pending.take());
    Ok(out)
}

/// Whether the audit reads a file of this name (a binary change to it cannot be skipped).
fn audit_reads(path: &str) -> bool {
    path.ends_with(".c")
        || path.ends_with(".h")
        || path.rsplit('/').next() == Some("Makefile")
        || path == "Makefile"
}

/// A hard-link copy of `from` in `to` (which exists), `.git` left out.
fn link_tree(from: &Path, to: &Path) -> Result<(), String> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = from.join(&rel);
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: cannot read the directory: {e}", dir.display()))?;
        for ent in rd {
            let ent = ent.map_err(|e| format!("{}: {e}", dir.display()))?;
            let name = ent.file_name();
            if rel.as_os_str().is_empty() && name == ".git" {
                continue;
            }
            let r = rel.join(&name);
            let src = from.join(&r);
            let dst = to.join(&r);
            let ft = ent
                .file_type()
                .map_err(|e| format!("{}: {e}", src.display()))?;
            if ft.is_dir() {
                std::fs::create_dir(&dst).map_err(|e| format!("{}: {e}", dst.display()))?;
                stack.push(r);
            } else if ft.is_symlink() {
                let target =
                    std::fs::read_link(&src).map_err(|e| format!("{}: {e}", src.display()))?;
                std::os::unix::fs::symlink(target, &dst)
                    .map_err(|e| format!("{}: {e}", dst.display()))?;
            } else if std::fs::hard_link(&src, &dst).is_err() {
                std::fs::copy(&src, &dst)
                    .map_err(|e| format!("cannot copy {}: {e}", src.display()))?;
            }
        }
    }
    Ok(())
}

/// Apply `changes` (reversed when `reverse`) to the hard-link copy `root`. Binary changes to
/// files the audit does not read are skipped with a note.
fn apply(
    root: &Path,
    changes: &[FileChange],
    reverse: bool,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    for c in changes {
        let (old, new) = match reverse {
            false => (c.old.clone(), c.new.clone()),
            true => (c.new.clone(), c.old.clone()),
        };
        let at = format!("{name}:{}:1", c.line);
        let shown = new.clone().or_else(|| old.clone()).unwrap_or_default();
        if c.binary {
            if audit_reads(&shown) {
                return Err(format!(
                    "{at}: {shown}: a binary change to a file the audit reads cannot be applied"
                ));
            }
            notes.push(format!(
                "{at}: {shown}: binary change skipped (not a C source)"
            ));
            continue;
        }
        let old_text = match &old {
            Some(p) => Some(
                std::fs::read(root.join(p))
                    .map_err(|e| format!("{at}: {p}: the patch changes it, but: {e}"))?,
            ),
            None => None,
        };
        if let Some(p) = &old {
            // Unlink before writing: the hard link's other name (the user's tree) keeps
            // its text.
            std::fs::remove_file(root.join(p)).map_err(|e| format!("{at}: {p}: {e}"))?;
        }
        let Some(np) = new else { continue };
        let dst = root.join(&np);
        if old.as_deref() != Some(np.as_str()) && dst.exists() {
            return Err(format!(
                "{at}: {np}: the patch creates it, but it exists already"
            ));
        }
        let base = old_text.unwrap_or_default();
        let text = if c.hunks.is_empty() {
            base
        } else {
            let p = diffy::Patch::from_bytes(c.hunks.as_bytes())
                .map_err(|e| format!("{at}: {np}: {e}"))?;
            let p = if reverse { p.reverse() } else { p };
            diffy::apply_bytes(&base, &p).map_err(|e| {
                format!("{at}: {np}: {e}: its context is not in the file (no fuzz is applied)")
            })?
        };
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{at}: {np}: {e}"))?;
        }
        std::fs::write(&dst, text).map_err(|e| format!("{at}: {np}: {e}"))?;
    }
    Ok(())
}

fn summary(changes: &[FileChange]) -> String {
    let (mut m, mut a, mut d, mut r, mut b) = (0, 0, 0, 0, 0);
    for c in changes {
        match (&c.old, &c.new) {
            _ if c.binary => b += 1,
            (None, _) => a += 1,
            (_, None) => d += 1,
            (Some(o), Some(n)) if o != n => r += 1,
            _ => m += 1,
        }
    }
    let mut parts = vec![format!("{m} modified")];
    for (n, what) in [(a, "added"), (d, "deleted"), (r, "renamed"), (b, "binary")] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    format!("{} files: {}", changes.len(), parts.join(", "))
}

fn temp() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("pvmm-audit-patch-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary directory: {e}"))
}

/// The trees of `tree` before and after the unified diff `diff_path` (`-`: standard input),
/// paths stripped of `strip_n` leading components as `patch -pN`.
pub fn from_diff(tree: &Path, diff_path: &Path, strip_n: usize) -> Result<PatchedTrees, String> {
    let name = diff_path.display().to_string();
    let bytes = if name == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
            .map_err(|e| format!("-: cannot read the patch: {e}"))?;
        b
    } else {
        std::fs::read(diff_path).map_err(|e| format!("{name}:0:0: cannot read: {e}"))?
    };
    let text = String::from_utf8_lossy(&bytes);
    let changes = split(&text, &name, strip_n)?;
    if changes.is_empty() {
        return Err(format!(
            "{name}:1:1: not a unified diff: no `--- / +++` file header"
        ));
    }
    let dir = temp()?;
    link_tree(tree, dir.path())?;
    let mut notes = Vec::new();
    apply(dir.path(), &changes, false, &name, &mut notes)?;
    let shown = tree
        .canonicalize()
        .unwrap_or_else(|_| tree.to_path_buf())
        .display()
        .to_string();
    Ok(PatchedTrees {
        base: tree.to_path_buf(),
        new: dir.path().to_path_buf(),
        base_label: shown.clone(),
        new_label: format!("{shown} + {name}"),
        summary: summary(&changes),
        notes,
        _dirs: vec![dir],
    })
}

/// `git diff REVS...` in the work tree `tree`, with the a/ b/ prefixes and no renames (a
/// rename is a deletion and a creation, which the split reads as such).
fn git_diff(tree: &Path, revs: &[&str]) -> Result<String, String> {
    let shown = revs.join(" ");
    if let Some(r) = revs.iter().find(|r| r.starts_with('-')) {
        return Err(format!("--rev: `{r}` is not a revision"));
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(tree)
        .args([
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "--src-prefix=a/",
            "--dst-prefix=b/",
        ])
        .args(revs)
        .arg("--")
        .output()
        .map_err(|e| format!("--rev needs git: cannot run it: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "--rev {shown}: git diff failed in {}: {}",
            tree.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The trees of revisions `a` and `b` of the git repository whose work tree is `tree`.
pub fn from_revs(tree: &Path, a: &str, b: &str) -> Result<PatchedTrees, String> {
    let mut dirs = Vec::new();
    let mut notes = Vec::new();
    let mut roots = Vec::new();
    for rev in [a, b] {
        let name = format!("git diff {rev}");
        let changes = split(&git_diff(tree, &[rev])?, &name, 1)?;
        let dir = temp()?;
        link_tree(tree, dir.path())?;
        apply(dir.path(), &changes, true, &name, &mut notes)?;
        roots.push(dir.path().to_path_buf());
        dirs.push(dir);
    }
    // The change between the two revisions, for the header.
    let between = split(&git_diff(tree, &[a, b])?, "git diff", 1)?;
    let shown = tree
        .canonicalize()
        .unwrap_or_else(|_| tree.to_path_buf())
        .display()
        .to_string();
    Ok(PatchedTrees {
        base: roots[0].clone(),
        new: roots[1].clone(),
        base_label: format!("{shown} @ {a}"),
        new_label: format!("{shown} @ {b}"),
        summary: summary(&between),
        notes,
        _dirs: dirs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_line_that_looks_like_a_header_stays_in_its_hunk() {
        let d = "diff --git a/x.c b/x.c\nindex 1..2 100644\n--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,2 @@\n a\n--- b\n+++ c\n";
        // The hunk says 3 old and 2 new lines: " a", "--- b" (removed), "+++ c" (added) and
        // one more context line is missing, so the diff ends inside the hunk.
        assert!(split(d, "p", 1).unwrap_err().contains("ends inside a hunk"));
        let d = "--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @@\n a\n--- b\n+++ c\n-- \n2.35.3\n";
        let c = split(d, "p", 1).expect("split");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].old.as_deref(), Some("x.c"));
        assert!(c[0].hunks.ends_with("+++ c\n"));
    }

    #[test]
    fn git_headers_name_creations_deletions_renames_and_binaries() {
        let d = "diff --git a/n.c b/n.c\nnew file mode 100644\n--- /dev/null\n+++ b/n.c\n@@ -0,0 +1 @@\n+x\n\
diff --git a/o.c b/o.c\ndeleted file mode 100644\n--- a/o.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-y\n\
diff --git a/r.c b/s.c\nsimilarity index 100%\nrename from r.c\nrename to s.c\n\
diff --git a/i.png b/i.png\nBinary files a/i.png and b/i.png differ\n";
        let c = split(d, "p", 1).expect("split");
        let got: Vec<(Option<&str>, Option<&str>, bool)> = c
            .iter()
            .map(|c| (c.old.as_deref(), c.new.as_deref(), c.binary))
            .collect();
        assert_eq!(
            got,
            vec![
                (None, Some("n.c"), false),
                (Some("o.c"), None, false),
                (Some("r.c"), Some("s.c"), false),
                (Some("i.png"), Some("i.png"), true),
            ]
        );
    }
}
