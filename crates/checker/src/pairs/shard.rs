//! Shards of the pair matrix: a deterministic split of the checks by estimated cost, the
//! shard's output (a journal of finished checks, appended as each finishes, so that an
//! interrupted shard resumes from what it wrote), and the merge of the outputs.
//!
//! A shard's output is JSON Lines: a header (the plan's fingerprint, the shard `K/N`, the
//! presets and rows), then one line per finished check (its index, its outcome, the seconds
//! it took). Each line is written whole by one `write` and flushed to the disk before the
//! next check's line; a line cut by a crash (no newline at its end) is dropped on resume and
//! its check computed again. The merge reads the outputs of the shards `1/N … N/N` of one plan
//! and hands the checks' outcomes to the documents, which depend on nothing else: the merge
//! and one run of the whole plan write the same bytes.

use super::{Outcome, Plan, Unit};
use explore::Execution;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Steps each thread takes alone in each row's single scenario, per preset: the inputs of
/// the cost estimate.
pub struct Steps {
    /// `[row][preset]`: (the vCPU's steps, the host thread's steps).
    steps: Vec<Vec<(u64, u64)>>,
}

impl Steps {
    /// Runs each row's scenario twice per preset — the host thread first to its end, then
    /// the vCPU; the vCPU first, then the host — and keeps the longer run of each thread.
    pub fn of(rows: &[super::Row], presets: &[&str]) -> Steps {
        let steps = rows
            .iter()
            .map(|&(path, via)| {
                let sc = crate::matrix::row_scenario(path, via, presets);
                presets
                    .iter()
                    .map(|p| {
                        let k = sc.kernel(p, &[]).expect("matrix presets exist");
                        let model = sc.model(k);
                        let a = solo_steps(&model, &[1, 0]);
                        let b = solo_steps(&model, &[0, 1]);
                        (a[0].max(b[0]), a[1].max(b[1]))
                    })
                    .collect()
            })
            .collect();
        Steps { steps }
    }

    /// The estimated cost of a check (relative units, deterministic). A check is DPOR's
    /// executions — up to the budget, each as long as the threads' steps together — and,
    /// where they do not finish, the stateful search, whose states grow with the product of
    /// the threads' lengths. Calibrated on a full run (docs/pairs.md): the pairs' times
    /// follow the product, the single rows' are small beside them.
    pub fn estimate(&self, unit: Unit, preset: usize) -> u64 {
        match unit {
            Unit::Single(r) => {
                let (v, h) = self.steps[r][preset];
                (v + 1) * (h + 1)
            }
            Unit::Pair(a, b) => {
                let (va, ha) = self.steps[a][preset];
                let (vb, hb) = self.steps[b][preset];
                (va.max(vb) + 1) * (ha + 1) * (hb + 1)
            }
        }
    }
}

/// Runs the threads one after the other in `order` (each until it finishes or blocks) and
/// counts each thread's steps.
fn solo_steps<M: explore::Model>(model: &M, order: &[usize]) -> Vec<u64> {
    let mut ex = Execution::start(model.instance(), false);
    let mut steps = vec![0u64; ex.threads()];
    // A bound on each thread's run: the model's own depth bound.
    let bound = explore::Bounds::default().max_depth;
    for &t in order {
        let mut n = 0;
        while t < ex.threads() && !ex.finished(t) && ex.enabled(t) && n < bound {
            let rec = ex.step(t);
            n += 1;
            steps[t] += 1;
            if rec.findings.iter().any(|f| f.fatal) {
                return steps;
            }
        }
    }
    steps
}

/// Shard `k` of `n` (from 1): which checks it computes. The checks are dealt out by
/// estimated cost, largest first, each to the shard with the least estimated work so far
/// (ties: the lower shard; equal estimates: plan order) — the same split on every machine.
pub fn assign(plan: &Plan, n: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..plan.checks.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(plan.checks[i].estimate), i));
    let mut load = vec![0u128; n.max(1)];
    let mut out = vec![Vec::new(); n.max(1)];
    for i in order {
        let s = (0..load.len())
            .min_by_key(|&s| (load[s], s))
            .expect("at least one shard");
        load[s] += u128::from(plan.checks[i].estimate);
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
    /// The checks this shard computes (indices into the plan's checks).
    pub checks: Vec<usize>,
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
        checks: assign(plan, n)[k - 1].clone(),
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

/// Reads a shard output. A last line without its newline (cut by a crash) is left out.
pub fn read(path: &Path) -> Result<Read, String> {
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
        if !header.checks.contains(&line.check) {
            return Err(format!(
                "{}:{}:1: error: field `check`: {} is not one of this shard's checks",
                path.display(),
                i + 1,
                line.check
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
            let r = read(path)?;
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
/// plan once, every check of each shard finished.
pub fn merge(plan: &Plan, files: &[PathBuf]) -> Result<Vec<Outcome>, String> {
    let want = plan.fingerprint();
    let mut results: Vec<Option<Outcome>> = vec![None; plan.checks.len()];
    let mut seen: Vec<Option<PathBuf>> = Vec::new();
    let mut n = None;
    for f in files {
        let r = read(f)?;
        if r.header.fingerprint != want {
            return Err(format!(
                "{}: a shard of another plan (other rows, presets, bounds or pvmm version: plan {}, this one {})",
                f.display(),
                &r.header.fingerprint[..12.min(r.header.fingerprint.len())],
                &want[..12]
            ));
        }
        if *n.get_or_insert(r.header.of) != r.header.of {
            return Err(format!(
                "{}: shard {}/{}, but another output is of {} shards",
                f.display(),
                r.header.shard,
                r.header.of,
                n.unwrap_or(0)
            ));
        }
        if seen.len() < r.header.of {
            seen.resize(r.header.of, None);
        }
        if let Some(other) = &seen[r.header.shard - 1] {
            return Err(format!(
                "{}: shard {}/{} is also {}",
                f.display(),
                r.header.shard,
                r.header.of,
                other.display()
            ));
        }
        seen[r.header.shard - 1] = Some(f.clone());
        let expected = assign(plan, r.header.of)[r.header.shard - 1].clone();
        if expected != r.header.checks {
            return Err(format!(
                "{}: its header's checks are not shard {}/{}'s",
                f.display(),
                r.header.shard,
                r.header.of
            ));
        }
        for l in r.lines {
            results[l.check] = Some(l.outcome);
        }
        let missing = expected.iter().filter(|&&i| results[i].is_none()).count();
        if missing > 0 {
            return Err(format!(
                "{}: shard {}/{} has not finished: {missing} of its {} checks missing (run it again with the same --out to resume)",
                f.display(),
                r.header.shard,
                r.header.of,
                expected.len()
            ));
        }
    }
    let n = n.ok_or("--merge: no shard outputs given")?;
    let absent: Vec<String> = (1..=n)
        .filter(|k| seen.get(k - 1).is_none_or(|s| s.is_none()))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !absent.is_empty() {
        return Err(format!("--merge: missing shard(s) {}", absent.join(", ")));
    }
    Ok(results
        .into_iter()
        .map(|o| o.expect("every shard's checks are there"))
        .collect())
}
