//! Shards of the pair matrix: a deterministic split of the pair checks by estimated cost,
//! the shard's output (a journal of finished checks, appended as each finishes, so that an
//! interrupted shard resumes from what it wrote), and the merge of the outputs.
//!
//! Every shard first checks the single rows (the cheap two-thread cells: their counts are
//! the estimates the pairs are dealt by, [`Plan::estimates`]), then its share of the pairs:
//! dealt largest estimate first, each to the shard with the least estimated work so far.
//! A shard's output is JSON Lines: a header (the plan's fingerprint, the shard `K/N`, the
//! presets and rows), then one line per finished check (its index, its outcome, the seconds
//! it took). Each line is written whole by one `write` and synced to the disk before the
//! next check's line; a line cut by a crash (no newline at its end) is dropped on resume
//! and its check computed again. The merge reads the outputs of the shards `1/N … N/N` of
//! one plan — their single rows must agree (the checks are deterministic), each holds
//! exactly its share of the pairs — and hands the checks' outcomes to the documents, which
//! depend on nothing else: the merge and one run of the whole plan write the same bytes.

use super::{Outcome, Plan};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The pair checks of each of `n` shards (indices into the plan's checks), from the
/// estimates ([`Plan::estimates`]): largest first (plan order among equals), each to the
/// shard with the least estimated work so far (the lower shard among equals) — the same
/// split on every machine.
pub fn assign(plan: &Plan, n: usize, estimates: &[u64]) -> Vec<Vec<usize>> {
    let order = plan.largest_first(&plan.pair_checks(), estimates);
    let mut load = vec![0u128; n.max(1)];
    let mut out = vec![Vec::new(); n.max(1)];
    for i in order {
        let s = (0..load.len())
            .min_by_key(|&s| (load[s], s))
            .expect("at least one shard");
        // Every check costs something (a pair of rows DPOR finished at once is not free).
        load[s] += u128::from(estimates[i].max(1));
        out[s].push(i);
    }
    out
}

/// `K/N` parsed (1 ≤ K ≤ N).
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard {s}: expected K/N with 1 ≤ K ≤ N (e.g. 2/4)");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let k: usize = k.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The first line of a shard's output.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// `pvmm-pair-shard`.
    pub format: String,
    pub pvmm_version: String,
    /// [`Plan::fingerprint`]: only outputs of one plan merge.
    pub fingerprint: String,
    pub shard: usize,
    pub of: usize,
    pub presets: Vec<String>,
    /// The rows, by name.
    pub rows: Vec<String>,
}

/// The `format` of a shard output's header.
pub const FORMAT: &str = "pvmm-pair-shard";

/// One finished check in a shard's output.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Line {
    /// Index into the plan's checks.
    pub check: usize,
    /// The check, for a reader: `ROW` or `ROW1+ROW2`.
    pub unit: String,
    pub preset: String,
    pub outcome: Outcome,
    /// Wall-clock seconds the check took (not part of any document).
    pub secs: f64,
}

/// The header of shard `k` of `n` of a plan.
pub fn header(plan: &Plan, k: usize, n: usize) -> Header {
    Header {
        format: FORMAT.to_string(),
        pvmm_version: env!("CARGO_PKG_VERSION").to_string(),
        fingerprint: plan.fingerprint(),
        shard: k,
        of: n,
        presets: plan.presets.clone(),
        rows: (0..plan.rows.len()).map(|r| plan.row_name(r)).collect(),
    }
}

/// A shard's output file, open for appending finished checks.
pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
}

/// What a shard's output holds: its header and the checks it finished.
pub struct Read {
    pub header: Header,
    pub lines: Vec<Line>,
    /// Bytes of whole lines (a cut last line starts here).
    pub valid_len: u64,
}

/// Reads a shard output of `plan`. A last line without its newline (cut by a crash) is left
/// out.
pub fn read(path: &Path, plan: &Plan) -> Result<Read, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let whole = text.rfind('\n').map_or(0, |i| i + 1);
    let mut lines = text[..whole].lines().enumerate();
    let (_, first) = lines
        .next()
        .ok_or_else(|| format!("{}:1:1: error: empty shard output", path.display()))?;
    let header: Header = serde_json::from_str(first).map_err(|e| {
        format!(
            "{}:1:{}: error: not a shard output's header: {e}",
            path.display(),
            e.column()
        )
    })?;
    if header.format != FORMAT {
        return Err(format!(
            "{}:1:1: error: field `format`: `{}`, expected `{FORMAT}`",
            path.display(),
            header.format
        ));
    }
    let mut out = Vec::new();
    for (i, l) in lines {
        let line: Line = serde_json::from_str(l).map_err(|e| {
            format!(
                "{}:{}:{}: error: not a finished check: {e}",
                path.display(),
                i + 1,
                e.column()
            )
        })?;
        if line.check >= plan.checks.len() {
            return Err(format!(
                "{}:{}:1: error: field `check`: {} is not a check of this plan (it has {})",
                path.display(),
                i + 1,
                line.check,
                plan.checks.len()
            ));
        }
        out.push(line);
    }
    Ok(Read {
        header,
        lines: out,
        valid_len: whole as u64,
    })
}

impl Journal {
    /// Opens shard `k/n`'s output at `path`: a new file with the header, or — when `path`
    /// holds this shard's output of this plan — that file, whose finished checks are
    /// returned (a cut last line is truncated away). An output of another plan or shard is
    /// an error: nothing is overwritten.
    pub fn open(
        path: &Path,
        plan: &Plan,
        k: usize,
        n: usize,
    ) -> Result<(Journal, Vec<Line>), String> {
        let want = header(plan, k, n);
        let mut done = Vec::new();
        let file = if path.exists() {
            let r = read(path, plan)?;
            if r.header != want {
                return Err(format!(
                    "{}: holds {} (shard {}/{}, plan {}); this run is shard {k}/{n} of plan {}: give another --out or remove the file",
                    path.display(),
                    r.header.format,
                    r.header.shard,
                    r.header.of,
                    &r.header.fingerprint[..12.min(r.header.fingerprint.len())],
                    &want.fingerprint[..12]
                ));
            }
            let f = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            f.set_len(r.valid_len)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            done = r.lines;
            f
        } else {
            if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
            }
            // The header goes to a temporary file renamed into place: a crash leaves either
            // no output or one with its header.
            let tmp = path.with_extension("tmp");
            let mut f =
                std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            let line = serde_json::to_string(&want).expect("a header serialises") + "\n";
            f.write_all(line.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
        };
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
            },
            done,
        ))
    }

    /// Appends a finished check: one line, one `write`, on the disk before this returns.
    pub fn push(&mut self, line: &Line) -> Result<(), String> {
        let text = serde_json::to_string(line).expect("a line serialises") + "\n";
        self.file
            .write_all(text.as_bytes())
            .and_then(|_| self.file.sync_data())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// The checks' outcomes of a plan from its shards' outputs: every shard `1/N … N/N` of this
/// plan once, each with the single rows (equal in every shard) and exactly its share of the
/// pairs, all finished.
pub fn merge(plan: &Plan, files: &[PathBuf]) -> Result<Vec<Outcome>, String> {
    let want = plan.fingerprint();
    let mut results: Vec<Option<Outcome>> = vec![None; plan.checks.len()];
    // Per shard: its file and the pair checks it holds.
    let mut shards: Vec<Option<(PathBuf, Vec<usize>)>> = Vec::new();
    let mut n = None;
    let singles = plan.single_checks();
    for f in files {
        let r = read(f, plan)?;
        if r.header.fingerprint != want {
            return Err(format!(
                "{}: a shard of another plan (other rows, presets, bounds or pvmm version: plan {}, this one {})",
                f.display(),
                &r.header.fingerprint[..12.min(r.header.fingerprint.len())],
                &want[..12]
            ));
        }
        let of = *n.get_or_insert(r.header.of);
        if of != r.header.of {
            return Err(format!(
                "{}: shard {}/{}, but another output is of {of} shards",
                f.display(),
                r.header.shard,
                r.header.of
            ));
        }
        if shards.len() < of {
            shards.resize(of, None);
        }
        if let Some((other, _)) = &shards[r.header.shard - 1] {
            return Err(format!(
                "{}: shard {}/{} is also {}",
                f.display(),
                r.header.shard,
                of,
                other.display()
            ));
        }
        let mut pairs = Vec::new();
        for l in r.lines {
            match &results[l.check] {
                Some(o) if *o != l.outcome => {
                    return Err(format!(
                        "{}: check {} ({} on {}) has another outcome than in another shard's output (not the same pvmm?)",
                        f.display(),
                        l.check,
                        l.unit,
                        l.preset
                    ))
                }
                _ => results[l.check] = Some(l.outcome),
            }
            if !singles.contains(&l.check) {
                pairs.push(l.check);
            }
        }
        let missing = singles.iter().filter(|&&i| results[i].is_none()).count();
        if missing > 0 {
            return Err(format!(
                "{}: shard {}/{of} has not finished its single rows ({missing} missing; run it again with the same --out to resume)",
                f.display(),
                r.header.shard
            ));
        }
        shards[r.header.shard - 1] = Some((f.clone(), pairs));
    }
    let n = n.ok_or("--merge: no shard outputs given")?;
    let absent: Vec<String> = (1..=n)
        .filter(|k| shards.get(k - 1).is_none_or(|s| s.is_none()))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !absent.is_empty() {
        return Err(format!("--merge: missing shard(s) {}", absent.join(", ")));
    }
    let estimates = plan.estimates(&results);
    let share = assign(plan, n, &estimates);
    for (k, s) in shards.iter().enumerate() {
        let (f, held) = s.as_ref().expect("every shard is there");
        let mut held = held.clone();
        held.sort_unstable();
        let mut want = share[k].clone();
        want.sort_unstable();
        if held != want {
            let extra = held.iter().filter(|i| !want.contains(i)).count();
            let missing = want.iter().filter(|i| !held.contains(i)).count();
            return Err(format!(
                "{}: shard {}/{n} holds {} pair checks, {missing} of its share missing{}",
                f.display(),
                k + 1,
                held.len(),
                if extra > 0 {
                    format!(" and {extra} not of its share")
                } else {
                    " (run it again with the same --out to resume)".to_string()
                }
            ));
        }
    }
    Ok(results
        .into_iter()
        .map(|o| o.expect("every check is in a shard"))
        .collect())
}
